//! Plugging in your own policies: an exclusion and a snapshot policy of your
//! own run exactly like the built-ins.
//!
//! Run with `cargo run --example custom_policy`.

use mailsim::policy::{
    EventKind, ExcludeAny, ExcludeGlob, ExclusionPolicy, NightInfo, Prepared, ServerControl,
    SnapshotPolicy, SnapshotSession,
};
use mailsim::{ConflictBehavior, Outcome, Scenario, Verdict, VolumePath};

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

/// A snapshot policy of one's own: hold the server's writes for an instant,
/// take a point-in-time clone, let it go on, and hand the clone to the backup.
#[derive(Debug, Default)]
struct QuiesceAndClone;

/// What the policy tracks during one night: how many clones it took.
#[derive(Debug, Default)]
struct QuiesceNight {
    clones: u32,
}

impl SnapshotPolicy for QuiesceAndClone {
    fn name(&self) -> &str {
        "quiesce and clone"
    }

    fn begin_night(&self, _night: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(QuiesceNight::default())
    }
}

impl SnapshotSession for QuiesceNight {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        server.pause("quiescing for a clone");
        let content = server.clone_image();
        server.resume();
        self.clones += 1;
        server.log(
            EventKind::Note {
                text: format!("clones {path} (clone {} tonight)", self.clones),
            },
            Some(path),
        );
        Ok(Prepared::Image {
            content: content?,
            taken_at: server.now(),
        })
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

    // The snapshot policy, even against a server that tolerates the backup.
    let report = Scenario::kb98097()
        .seed(1)
        .conflict_behavior(ConflictBehavior::Tolerate)
        .snapshot(QuiesceAndClone)
        .run()?;
    let copy = report
        .mail_data_archived()
        .next()
        .expect("Mail Data archived");
    println!(
        "own snapshot policy: {} ({} {}, downtime {:?})",
        report.outcome(),
        copy.path,
        match copy.verdict {
            Verdict::Consistent { generation, .. } =>
                format!("consistent at generation {generation}"),
            Verdict::Torn => "torn".to_owned(),
            other => format!("{other:?}"),
        },
        report.metrics().server_downtime
    );
    assert_eq!(report.outcome(), Outcome::Clean);
    Ok(())
}
