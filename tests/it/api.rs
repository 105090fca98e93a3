//! The public surface downstream code relies on.

use mailsim::policy::{
    Entry, EntryKind, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing,
    ExclusionPolicy, LiveRead,
};
use mailsim::{
    ConflictBehavior, Error, OpenFilePolicy, Outcome, Report, Scenario, SimTime, TimeOfDay,
    VolumePath,
};

fn send_sync<T: Send + Sync>() {}

#[test]
fn scenario_report_and_error_are_send_and_sync() {
    send_sync::<Scenario>();
    send_sync::<Report>();
    send_sync::<Error>();
}

#[test]
fn design_example_runs() -> Result<(), Error> {
    let report: Report = Scenario::kb98097()
        .seed(7)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .snapshot(LiveRead)
        .open_files(OpenFilePolicy::IgnoreLocks)
        .run()?;
    assert_eq!(report.outcome(), Outcome::Clean);
    assert_eq!(report.metrics().server_downtime, std::time::Duration::ZERO);
    assert_eq!(report.metrics().recovery_point_age, None);
    assert!(!report.timeline().is_empty());
    assert!(report.to_json().contains("\"schema\""));
    Ok(())
}

#[test]
fn outcomes_are_ordered_by_severity() {
    assert!(Outcome::Clean < Outcome::GracefulShutdown);
    assert!(Outcome::GracefulShutdown < Outcome::Hang);
    assert!(Outcome::Hang < Outcome::Corrupted);
}

#[test]
fn volume_paths_display_mac_style() {
    let p = VolumePath::new("Server HD", ["System Folder", "Extensions"]);
    assert_eq!(p.to_string(), "Server HD:System Folder:Extensions");
}

/// A user's own exclusion plugs in like a built-in.
#[derive(Debug)]
struct SkipEverythingNamedMail;

impl ExclusionPolicy for SkipEverythingNamedMail {
    fn excludes(&self, path: &VolumePath) -> bool {
        path.name().contains("Mail")
    }
}

#[test]
fn a_users_own_exclusion_plugs_in() {
    let r = Scenario::kb98097()
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(SkipEverythingNamedMail)
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    // Microsoft Mail, MS Mail Backup, Microsoft Mail Data, Microsoft Mail
    // Server, Mail Server Prefs.
    assert_eq!(r.metrics().files_excluded, 5);
    let _ = (
        ExcludeNothing,
        ExcludeFolder::new("x"),
        ExcludeGlob::new("*"),
    );
}

#[test]
fn invalid_settings_are_errors_not_panics() {
    let e = Scenario::kb98097().nights(0).run().unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidScenario {
                field: "nights",
                ..
            }
        ),
        "{e}"
    );
    let e = Scenario::kb98097().kb_conflict(1.5).run().unwrap_err();
    assert!(e.to_string().contains("shutdown_probability"), "{e}");
    let e = Scenario::kb98097().kb_conflict(f64::NAN).run().unwrap_err();
    assert!(e.to_string().contains("shutdown_probability"), "{e}");
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn scenarios_are_clone_and_debug() {
    let s = Scenario::kb98097().seed(3);
    let t = s.clone();
    assert_eq!(format!("{s:?}"), format!("{t:?}"));
    assert_eq!(s.run().unwrap().to_json(), t.run().unwrap().to_json());
}

/// Skips every file over 1 MB: a size-based exclusion, which sees what the
/// backup knows of each entry.
#[derive(Debug)]
struct SkipFilesOver1Mb;

impl ExclusionPolicy for SkipFilesOver1Mb {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }

    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        entry.kind() == EntryKind::File && entry.len_bytes() > 1 << 20
    }
}

#[test]
fn a_size_based_exclusion_keeps_the_backup_off_mail_data() {
    let without = Scenario::kb98097().run().unwrap();
    assert_ne!(without.outcome(), Outcome::Clean, "the KB's night");
    let big = without
        .archive()
        .iter()
        .filter(|a| a.len_bytes > 1 << 20)
        .count() as u64;
    assert!(without.mail_data_archived().any(|a| a.len_bytes > 1 << 20));

    let r = Scenario::kb98097()
        .exclusion(SkipFilesOver1Mb)
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    assert_eq!(r.mail_data_archived().count(), 0, "Mail Data not archived");
    assert_eq!(r.metrics().recovery_point_age, None);
    // Every file over 1 MB, Mail Data among them, and nothing else.
    assert_eq!(r.metrics().files_excluded, big);
    assert_eq!(big, 10);
    assert!(r.archive().iter().all(|a| a.len_bytes <= 1 << 20));
    assert_eq!(
        r.metrics().files_archived,
        without.metrics().files_archived - big
    );

    // Combined with a path-only policy, each keeps its say.
    let both = ExcludeAny::new()
        .with(SkipFilesOver1Mb)
        .with(ExcludeFolder::new("Documents"));
    let r = Scenario::kb98097().exclusion(both).run().unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    // Documents holds six files, three of them over 1 MB.
    assert_eq!(r.metrics().files_excluded, big + 3);
}

/// An incremental backup: skips files not modified since a moment.
#[derive(Debug)]
struct OnlyModifiedSince(SimTime);

impl ExclusionPolicy for OnlyModifiedSince {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }

    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        entry.kind() == EntryKind::File && entry.modified() < self.0
    }
}

#[test]
fn a_modified_time_based_exclusion_archives_only_what_changed_tonight() {
    let night_begins = SimTime::at(0, TimeOfDay::hm(22, 0));
    let r = Scenario::kb98097()
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(OnlyModifiedSince(night_begins))
        .run()
        .unwrap();
    // Only the live file changed tonight: the backup opens it, and the
    // server shuts down.
    assert_eq!(r.outcome(), Outcome::GracefulShutdown);
    assert_eq!(r.metrics().files_archived, 1);
    assert_eq!(r.mail_data_archived().count(), 1);
    assert_eq!(r.metrics().files_excluded, 28);
}

#[test]
fn the_age_of_a_file_the_night_never_writes_counts_from_the_night_s_start() {
    use mailsim::Verdict;
    use mailsim::event::EventKind;
    use std::time::Duration;
    let r = Scenario::kb98097().seed(7).run().unwrap();
    let at = |want: fn(&EventKind) -> bool| {
        r.timeline()
            .iter()
            .find(|e| want(&e.kind))
            .map(|e| e.time)
            .expect("in the timeline")
    };
    let begins = at(|k| matches!(k, EventKind::NightBegins { .. }));
    let finished = at(|k| matches!(k, EventKind::BackupFinished { .. }));
    assert_eq!(begins, SimTime::at(0, TimeOfDay::hm(22, 0)));
    let system = r
        .archive()
        .iter()
        .find(|a| a.path.to_string() == "Server HD:System Folder:System")
        .expect("archived");
    let Verdict::Consistent {
        generation,
        age,
        stale,
    } = system.verdict
    else {
        panic!("{:?}", system.verdict)
    };
    assert_eq!((generation, stale), (0, false));
    assert_eq!(age, finished.saturating_since(begins));
    // 01:25:50.69, the end of the backup, less 22:00: not the 25 h since
    // the preset's files were made at midnight.
    assert_eq!(age, Duration::from_micros(12_350_691_434));
    for a in r.archive().iter().filter(|a| !a.mail_data) {
        assert!(matches!(a.verdict, Verdict::Consistent { age: same, .. } if same == age));
    }
}
