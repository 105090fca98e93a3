//! Every kind of fault, injected: the invariants hold, the fault shows on
//! the timeline, nothing panics.

use mailsim::invariants;
use mailsim::policy::{ExcludeFile, ScheduledCopy};
use mailsim::report::EventKind;
use mailsim::sim::{Fault, UnsyncedWrites};
use mailsim::{ConflictBehavior, Outcome, Report, Scenario};

fn kb(seed: u64) -> Scenario {
    Scenario::kb98097()
        .seed(seed)
        .conflict_behavior(ConflictBehavior::Shutdown)
}

fn has(r: &Report, f: impl Fn(&EventKind) -> bool) -> bool {
    r.timeline().iter().any(|e| f(&e.kind))
}

fn holds(r: &Report) {
    if let Err(v) = invariants::check(r) {
        panic!("{v}: {:?}", v.event_in(r));
    }
    assert_eq!(r.metrics().messages_lost, 0);
}

#[test]
fn a_server_crash_at_any_sync_loses_nothing_whatever_the_unsynced_writes_become() {
    for unsynced in [
        UnsyncedWrites::Keep,
        UnsyncedWrites::Drop,
        UnsyncedWrites::Garble,
    ] {
        // Syncs early and late in the night: deliveries, flag updates and
        // their second syncs, and (with heavy deletion) compactions.
        for at_sync in [1, 2, 3, 4, 7, 20, 51, 120, 301] {
            let r = kb(3)
                .fault(Fault::ServerCrash { at_sync, unsynced })
                .run()
                .unwrap_or_else(|e| panic!("{unsynced:?} at {at_sync}: {e}"));
            holds(&r);
            assert!(
                r.outcome() >= Outcome::Crashed,
                "{unsynced:?} at {at_sync}: {:?}",
                r.outcome()
            );
            assert!(has(&r, |k| matches!(k, EventKind::Crashed { .. })));
            // The administrator restarted it and it recovered from its file.
            assert!(has(&r, |k| matches!(k, EventKind::Restarted { .. })));
        }
    }
}

#[test]
fn a_crash_during_the_backup_is_judged_by_the_files_state() {
    // Crash while the backup copies the file the server holds under Tolerate:
    // whatever the copy holds is judged against the states the file held.
    for at_sync in 100..140 {
        let r = Scenario::kb98097()
            .seed(5)
            .conflict_behavior(ConflictBehavior::Tolerate)
            .fault(Fault::ServerCrash {
                at_sync,
                unsynced: UnsyncedWrites::Garble,
            })
            .run()
            .unwrap();
        holds(&r);
    }
}

#[test]
fn a_write_error_stops_the_server_and_nothing_is_lost() {
    for nth in [1, 2, 3, 10, 33] {
        let r = kb(4).fault(Fault::WriteError { nth }).run().unwrap();
        holds(&r);
        assert!(has(&r, |k| matches!(k, EventKind::IoError { .. })));
        assert!(r.outcome() >= Outcome::Crashed);
    }
}

#[test]
fn a_read_error_skips_the_file_and_says_so() {
    let r = kb(6)
        .fault(Fault::ReadError {
            volume: "Server HD".into(),
            nth: 3,
        })
        .run()
        .unwrap();
    holds(&r);
    assert_eq!(r.metrics().files_failed, 1);
    assert!(has(&r, |k| matches!(k, EventKind::IoError { .. })));
    assert_eq!(
        r.outcome(),
        Outcome::GracefulShutdown,
        "the rest of the night goes on"
    );
}

#[test]
fn a_full_backup_drive_refuses_the_copy_before_writing() {
    let r = kb(7)
        .snapshot(ScheduledCopy::default())
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .fault(Fault::DiskFull {
            volume: "Backup Drive".into(),
            capacity_bytes: 1_000_000,
        })
        .run()
        .unwrap();
    holds(&r);
    let missed = r
        .timeline()
        .iter()
        .find(|e| matches!(e.kind, EventKind::CopyAsideMissed { .. }))
        .expect("the copy was refused");
    assert!(missed.to_string().contains("disk full"), "{missed}");
    assert_eq!(
        r.mail_data_archived().count(),
        0,
        "no half-written copy archived"
    );
    assert_eq!(r.outcome(), Outcome::Clean);
}

#[test]
fn a_backup_crash_mid_archive_archives_nothing_more() {
    let full = kb(8).run().unwrap();
    let r = kb(8)
        .fault(Fault::BackupCrash { at_step: 40 })
        .run()
        .unwrap();
    holds(&r);
    assert!(has(&r, |k| matches!(k, EventKind::BackupFailed { .. })));
    assert!(r.metrics().files_archived < full.metrics().files_archived);
    assert!(r.metrics().bytes_archived < full.metrics().bytes_archived);
}

#[test]
fn a_backup_crash_still_restarts_a_stopped_server() {
    // StopServer stops the server before Mail Data; the backup dies while
    // copying it; the policy's "when the backup finishes or fails" restarts it.
    let r = kb(8)
        .snapshot(mailsim::policy::StopServer::default())
        .fault(Fault::BackupCrash { at_step: 440 })
        .run()
        .unwrap();
    holds(&r);
    assert!(has(&r, |k| matches!(k, EventKind::BackupFailed { .. })));
    assert!(has(&r, |k| matches!(k, EventKind::PlannedStart)));
}

#[test]
fn the_control_panel_not_loaded_makes_no_copy_silently() {
    let r = kb(9)
        .nights(2)
        .snapshot(ScheduledCopy::default())
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .fault(Fault::ControlPanelNotLoaded { night: 2 })
        .run()
        .unwrap();
    holds(&r);
    let night2: Vec<_> = r
        .archive()
        .iter()
        .filter(|a| a.night == 2 && a.mail_data)
        .collect();
    assert_eq!(night2.len(), 1);
    assert!(matches!(
        night2[0].verdict,
        mailsim::Verdict::Consistent { stale: true, .. }
    ));
}

#[test]
fn faults_are_checked_when_the_scenario_is() {
    let e = kb(1).fault(Fault::ServerCrash {
        at_sync: 0,
        unsynced: UnsyncedWrites::Keep,
    });
    assert!(e.run().is_err());
    let e = kb(1).fault(Fault::ReadError {
        volume: "Floppy".into(),
        nth: 1,
    });
    assert!(e.run().unwrap_err().to_string().contains("Floppy"));
}

/// Several faults of one kind each fire, in order: two server crashes are
/// two crashes (two restarts from the file), two read errors two files
/// the backup could not read; none is silently dropped.
#[test]
fn every_fault_of_a_kind_fires() {
    use mailsim::report::EventKind;
    use mailsim::sim::{Fault, UnsyncedWrites};
    let one = mailsim::Scenario::kb98097()
        .seed(2)
        .conflict_behavior(mailsim::ConflictBehavior::Tolerate)
        .fault(Fault::ReadError {
            volume: "Server HD".into(),
            nth: 5,
        });
    let two = one.clone().fault(Fault::ReadError {
        volume: "Server HD".into(),
        nth: 40,
    });
    let failed = |r: &mailsim::Report| {
        r.timeline()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::IoError { .. }))
            .count()
    };
    let (r1, r2) = (one.run().unwrap(), two.run().unwrap());
    assert_eq!(failed(&r1), 1);
    assert_eq!(failed(&r2), 2);
    let crashes = |n: usize| {
        let mut s = mailsim::Scenario::kb98097().seed(2);
        for k in 0..n {
            s = s.fault(Fault::ServerCrash {
                at_sync: 20 + 40 * k as u64,
                unsynced: UnsyncedWrites::Garble,
            });
        }
        let r = s.run().unwrap();
        assert_eq!(r.metrics().messages_lost, 0);
        r.timeline()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Crashed { .. }))
            .count()
    };
    assert_eq!(crashes(1), 1);
    assert_eq!(crashes(3), 3);
}
