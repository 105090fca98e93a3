//! Plugging in your own policy: an exclusion of your own runs exactly like a
//! built-in.
//!
//! Run with `cargo run --example custom_policy`.

use mailsim::policy::{ExcludeAny, ExcludeGlob, ExclusionPolicy};
use mailsim::{ConflictBehavior, Outcome, Scenario, VolumePath};

/// Skips every file that belongs to the mail server: its extension, its data
/// file and its preferences — anything on Server HD whose name mentions Mail,
/// except the Microsoft Mail client application.
#[derive(Debug)]
struct SkipMailServerFiles;

impl ExclusionPolicy for SkipMailServerFiles {
    fn excludes(&self, path: &VolumePath) -> bool {
        path.volume() == "Server HD"
            && path.name().contains("Mail")
            && !path.components().iter().any(|c| c == "Applications")
    }
}

fn main() -> Result<(), mailsim::Error> {
    let report = Scenario::kb98097()
        .seed(1)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(SkipMailServerFiles)
        .run()?;
    println!(
        "own policy: {} ({} files excluded, downtime {:?})",
        report.outcome(),
        report.metrics().files_excluded,
        report.metrics().server_downtime
    );
    assert_eq!(report.outcome(), Outcome::Clean);

    // Combined with a built-in: also skip the scanned images.
    let report = Scenario::kb98097()
        .seed(1)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(
            ExcludeAny::new()
                .with(SkipMailServerFiles)
                .with(ExcludeGlob::new("*:Scans:*")),
        )
        .run()?;
    println!(
        "combined: {} ({} files excluded, {} bytes archived)",
        report.outcome(),
        report.metrics().files_excluded,
        report.metrics().bytes_archived
    );
    assert_eq!(report.outcome(), Outcome::Clean);
    Ok(())
}
