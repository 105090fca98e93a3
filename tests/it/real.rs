//! Real files, real locks: `run_real` gives the outcome `run` gives wherever
//! policy decides it, and catches a torn copy where thread timing decides.

use std::sync::Arc;
use std::time::Duration;

use mailsim::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, FreezeThaw, OnlineCopy, ScheduledCopy,
    StopServer,
};
use mailsim::{ConflictBehavior, OpenFilePolicy, Outcome, Scenario, TimeOfDay, Traffic, Verdict};

/// Fast enough for a test, slow enough for the hang's real second.
const SCALE: u32 = 36_000;

fn matrix(behavior: ConflictBehavior) -> Vec<(&'static str, Scenario)> {
    let kb = || {
        Scenario::kb98097()
            .seed(11)
            .conflict_behavior(behavior)
            .real_scale(SCALE)
    };
    vec![
        ("no remedy", kb()),
        (
            "exclude System Folder",
            kb().exclusion(ExcludeFolder::new("System Folder")),
        ),
        (
            "exclude Extensions",
            kb().exclusion(ExcludeFolder::new("Extensions")),
        ),
        (
            "exclude Mail Data",
            kb().exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        (
            "respect locks",
            kb().open_files(OpenFilePolicy::RespectLocks {
                retries: 1,
                interval: Duration::from_secs(30),
            }),
        ),
        ("stop server", kb().snapshot(StopServer::default())),
        (
            "scheduled copy, excluded",
            kb().snapshot(ScheduledCopy::default())
                .exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        (
            "scheduled copy, not excluded",
            kb().snapshot(ScheduledCopy::default()),
        ),
        ("copy-on-write", kb().snapshot(CopyOnWrite)),
        ("freeze/thaw", kb().snapshot(FreezeThaw::default())),
        ("online copy", kb().snapshot(OnlineCopy::default())),
    ]
}

fn parity(behavior: ConflictBehavior) {
    let cases = matrix(behavior);
    // Two at a time: each real night runs its own threads.
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, scenario)| {
                            let dir = tempfile::tempdir().unwrap();
                            let real = scenario
                                .run_real(dir.path())
                                .unwrap_or_else(|e| panic!("{name}: {e}"));
                            (*name, scenario.run().unwrap(), real)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(results.len(), 11);
    for (name, sim, real) in results {
        assert_eq!(real.outcome(), sim.outcome(), "{behavior:?} / {name}");
        assert_eq!(real.metrics().messages_lost, 0, "{name}");
        assert_eq!(
            real.metrics().files_excluded,
            sim.metrics().files_excluded,
            "{name}"
        );
        // Whether an online copy finishes before the server writes again is
        // a matter of real timing (it may give up, and skip the file).
        if name != "online copy" {
            assert_eq!(
                real.mail_data_archived().count(),
                sim.mail_data_archived().count(),
                "{behavior:?} / {name}: the same copies of Mail Data archived"
            );
        }
        assert!(
            real.mail_data_archived().all(|a| a.verdict.is_consistent()),
            "{name}"
        );
        assert_eq!(
            real.metrics().files_skipped_busy,
            sim.metrics().files_skipped_busy,
            "{name}"
        );
    }
}

#[test]
fn run_real_matches_run_when_the_server_shuts_down() {
    parity(ConflictBehavior::Shutdown);
}

#[test]
fn run_real_matches_run_when_the_server_hangs() {
    parity(ConflictBehavior::Hang);
}

#[test]
fn a_hang_is_reported_within_a_bound_not_suffered() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let r = Scenario::kb98097()
        .seed(2)
        .conflict_behavior(ConflictBehavior::Hang)
        .real_scale(SCALE)
        .run_real(dir.path())
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Hang);
    // At least the hang's real second, and a bounded night.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let restarted = r
        .timeline()
        .iter()
        .any(|e| matches!(e.kind, mailsim::report::EventKind::Restarted { .. }));
    assert!(restarted, "the administrator restarted the hung server");
}

/// Under `Tolerate` thread timing decides; the outcome is never anything
/// but `Corrupted` or `Clean`, and heavy traffic during the copy tears it —
/// which the oracle catches.
#[test]
fn tolerate_is_corrupted_or_clean_and_a_torn_copy_is_caught() {
    let exclusions = Arc::new(
        ExcludeAny::new()
            .with(ExcludeFolder::new("Applications"))
            .with(ExcludeFolder::new("Documents")),
    );
    let mut torn = 0;
    for seed in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let r = Scenario::kb98097()
            .seed(seed)
            .conflict_behavior(ConflictBehavior::Tolerate)
            .exclusion_arc(exclusions.clone())
            .traffic(Traffic::new(
                TimeOfDay::hm(0, 59),
                TimeOfDay::hm(1, 10),
                3_000,
            ))
            .real_scale(7_200)
            .run_real(dir.path())
            .unwrap();
        assert!(
            matches!(r.outcome(), Outcome::Corrupted | Outcome::Clean),
            "{:?}",
            r.outcome()
        );
        assert_eq!(r.metrics().messages_lost, 0);
        let copy = r.mail_data_archived().next().expect("Mail Data archived");
        if r.outcome() == Outcome::Corrupted {
            assert_eq!(copy.verdict, Verdict::Torn);
            torn += 1;
        }
    }
    assert!(torn >= 1, "heavy traffic during the copy tears it");
}

/// On disk an image is a read of the whole file, never the same contents
/// twice: a server there scans what the file holds at every start, and
/// remembers nothing at a stop (a simulated volume shares its images).
#[test]
fn a_server_on_disk_restarts_from_what_the_file_holds_now() {
    use mailsim::MailServer;
    use mailsim::datafile::{self, RecordFlags};
    use mailsim::volume::{OsVolume, SimVolume, Volume, VolumePath};

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Microsoft Mail Data"),
        datafile::build_image(1, [(1, RecordFlags::default(), 100)]),
    )
    .unwrap();
    let hd = OsVolume::open_dir("Server HD", dir.path()).unwrap();
    assert!(!hd.shares_images());
    assert!(SimVolume::new("Server HD").shares_images());
    let path = VolumePath::new("Server HD", ["Microsoft Mail Data"]);
    let mut server = MailServer::start(&hd, path.clone()).unwrap();
    server.deliver(&hd, 500).unwrap();
    assert_eq!(server.message_count(), 2);
    server.stop(&hd).unwrap();
    // Replaced while the server was down.
    std::fs::write(
        dir.path().join("Microsoft Mail Data"),
        datafile::build_image(9, (10..15).map(|id| (id, RecordFlags::default(), 50))),
    )
    .unwrap();
    server.restart(&hd).unwrap();
    assert_eq!(server.generation(), 9);
    assert_eq!(server.message_count(), 5);
    assert!(server.offset_of(12).is_some());
    assert!(server.offset_of(1).is_none());
    server.stop(&hd).unwrap();
}

/// Every fault kind, under shutdown, hang and tolerate: `run_real` gives
/// the outcome `run` gives (`Crashed` where it says `Crashed`), and the
/// fault fires on disk as in the simulation — the same timeline of the
/// night's events, the reports equal but for what only a real run can
/// differ in.
#[test]
fn run_real_honours_every_fault_as_run_does() {
    use mailsim::report::EventKind;
    use mailsim::sim::{BACKUP_DRIVE, Fault, SERVER_HD, UnsyncedWrites};
    let faults: Vec<(&str, Scenario)> = {
        let kb = || Scenario::kb98097().seed(5).real_scale(SCALE);
        let crash = |unsynced| Fault::ServerCrash {
            at_sync: 300,
            unsynced,
        };
        vec![
            (
                "read error",
                kb().fault(Fault::ReadError {
                    volume: SERVER_HD.into(),
                    nth: 120,
                }),
            ),
            ("write error", kb().fault(Fault::WriteError { nth: 250 })),
            (
                "disk full",
                kb().fault(Fault::DiskFull {
                    volume: SERVER_HD.into(),
                    capacity_bytes: 25_300_000,
                }),
            ),
            (
                "disk full on the backup drive",
                kb().snapshot(ScheduledCopy::default())
                    .fault(Fault::DiskFull {
                        volume: BACKUP_DRIVE.into(),
                        capacity_bytes: 1_000_000,
                    }),
            ),
            ("crash, kept", kb().fault(crash(UnsyncedWrites::Keep))),
            ("crash, dropped", kb().fault(crash(UnsyncedWrites::Drop))),
            ("crash, garbled", kb().fault(crash(UnsyncedWrites::Garble))),
            (
                "backup crash",
                kb().fault(Fault::BackupCrash { at_step: 200 }),
            ),
            (
                "control panel not loaded",
                kb().snapshot(ScheduledCopy::default())
                    .fault(Fault::ControlPanelNotLoaded { night: 1 }),
            ),
        ]
    };
    let fired = |r: &mailsim::Report| {
        r.timeline().iter().any(|e| {
            matches!(
                e.kind,
                EventKind::IoError { .. }
                    | EventKind::Crashed { .. }
                    | EventKind::BackupFailed { .. }
                    | EventKind::SnapshotGaveUp { .. }
                    | EventKind::CopyAsideMissed { .. }
            )
        })
    };
    for behavior in [
        ConflictBehavior::Shutdown,
        ConflictBehavior::Hang,
        ConflictBehavior::Tolerate,
    ] {
        for (name, s) in &faults {
            let s = s.clone().conflict_behavior(behavior);
            let sim = s.run().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let real = s
                .run_real(dir.path())
                .unwrap_or_else(|e| panic!("{name} / {behavior:?}: {e}"));
            assert_eq!(real.outcome(), sim.outcome(), "{name} / {behavior:?}");
            assert_eq!(real.metrics().messages_lost, 0, "{name} / {behavior:?}");
            assert!(fired(&sim), "{name}: the fault fires in the simulation");
            let kinds = |r: &mailsim::Report| {
                r.timeline()
                    .iter()
                    .map(|e| std::mem::discriminant(&e.kind))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                kinds(&real),
                kinds(&sim),
                "{name} / {behavior:?}: the same night"
            );
        }
    }
}
