//! A narrated walk through KB Q98097: the problem, its three outcomes, and
//! every remedy with what it costs.
//!
//! Run with `cargo run --example kb98097`.

use mailsim::policy::{
    CopyOnWrite, ExcludeFile, ExcludeFolder, FreezeThaw, OnlineCopy, ScheduledCopy, StopServer,
};
use mailsim::report::EventKind;
use mailsim::time::human_duration;
use mailsim::{ConflictBehavior, OpenFilePolicy, Outcome, Report, Scenario};

fn kb(seed: u64) -> Scenario {
    Scenario::kb98097().seed(seed)
}

/// The events around the moment Retrospect Remote reaches Mail Data.
fn excerpt(r: &Report) {
    let tl = r.timeline();
    let at = tl
        .iter()
        .position(|e| matches!(e.kind, EventKind::ForeignAccess { .. }))
        .or_else(|| {
            tl.iter().position(|e| {
                e.path
                    .as_ref()
                    .is_some_and(|p| p.name() == "Microsoft Mail Data")
                    && e.actor != mailsim::report::Actor::MailServer
            })
        });
    if let Some(i) = at {
        for e in &tl[i.saturating_sub(1)..(i + 3).min(tl.len())] {
            println!("    {e}");
        }
    }
}

fn cost(r: &Report) -> String {
    let m = r.metrics();
    format!(
        "planned downtime {}, unplanned downtime {}, Mail Data in the archive: {}",
        human_duration(m.planned_downtime),
        human_duration(m.unplanned_downtime),
        match m.recovery_point_age {
            Some(age) => format!("yes, {} min old", age.as_secs() / 60),
            None => "no".to_owned(),
        }
    )
}

fn main() -> Result<(), mailsim::Error> {
    println!("The problem. Microsoft Mail keeps \"Microsoft Mail Data\" open while it runs.");
    println!("At 01:00 Retrospect Remote backs up the server's disk and opens it too.\n");

    let r = kb(7).conflict_behavior(ConflictBehavior::Shutdown).run()?;
    println!(
        "1. Usually Mail shuts the server down to prevent corruption ({}):",
        r.outcome()
    );
    excerpt(&r);
    println!("   Cost: {}\n", cost(&r));
    assert_eq!(r.outcome(), Outcome::GracefulShutdown);

    let r = kb(7).conflict_behavior(ConflictBehavior::Hang).run()?;
    println!(
        "2. Sometimes it stops answering, still holding the file ({}):",
        r.outcome()
    );
    excerpt(&r);
    if let Some(chain) = r.hang_chain() {
        for link in chain {
            println!("    why: {link}");
        }
    }
    println!("   Cost: {}\n", cost(&r));

    // What the shutdown prevents: a server that goes on writing while the
    // backup copies tears the copy.
    let torn = (0..20)
        .map(|s| kb(s).conflict_behavior(ConflictBehavior::Tolerate).run())
        .find(|r| r.as_ref().is_ok_and(|r| r.outcome() == Outcome::Corrupted))
        .expect("some night tears the copy")?;
    println!(
        "3. Were it to keep serving, the copy would be torn ({}):",
        torn.outcome()
    );
    excerpt(&torn);
    println!();

    println!("The remedies, on the same night:");
    let remedies: Vec<(&str, Scenario)> = vec![
        (
            "exclude System Folder (KB remedy 1)",
            kb(7).exclusion(ExcludeFolder::new("System Folder")),
        ),
        (
            "exclude Extensions (KB remedy 1)",
            kb(7).exclusion(ExcludeFolder::new("Extensions")),
        ),
        (
            "exclude Microsoft Mail Data (KB remedy 2)",
            kb(7).exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        (
            "stop the server during the backup (KB remedy 3)",
            kb(7).snapshot(StopServer::default()),
        ),
        (
            "MS Mail Backup at midnight, Mail Data excluded (KB remedy 4)",
            kb(7)
                .snapshot(ScheduledCopy::default())
                .exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        (
            "MS Mail Backup without the exclusion",
            kb(7).snapshot(ScheduledCopy::default()),
        ),
        (
            "a lock-aware backup (respect locks)",
            kb(7).open_files(OpenFilePolicy::respect_locks()),
        ),
        ("copy-on-write snapshot", kb(7).snapshot(CopyOnWrite)),
        ("freeze/thaw (VSS)", kb(7).snapshot(FreezeThaw::default())),
        (
            "online copy (SQLite's backup API)",
            kb(7).snapshot(OnlineCopy::default()),
        ),
    ];
    for (name, scenario) in remedies {
        let r = scenario.run()?;
        println!("- {name}: {}; {}", r.outcome(), cost(&r));
    }
    Ok(())
}
