//! The public surface downstream code relies on.

use mailsim::policy::{
    ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing, ExclusionPolicy, LiveRead,
};
use mailsim::{ConflictBehavior, Error, OpenFilePolicy, Outcome, Report, Scenario, VolumePath};

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
