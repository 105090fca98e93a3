//! Snapshot policies: every remedy of the KB and the modern ones, with their costs.

use std::sync::Arc;
use std::time::Duration;

use mailsim::policy::{
    CopyOnWrite, ExcludeFile, FreezeThaw, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
    WriterState,
};
use mailsim::report::EventKind;
use mailsim::{
    ConflictBehavior, Event, OpenFilePolicy, Outcome, Scenario, TimeOfDay, Traffic, Verdict,
};
use proptest::prelude::*;

use crate::support::outcome_from_timeline;

const MAIL_DATA: &str = "Server HD:System Folder:Extensions:Microsoft Mail Data";

fn kb(seed: u64) -> Scenario {
    Scenario::kb98097().seed(seed)
}

fn find(r: &mailsim::Report, pred: impl Fn(&Event) -> bool) -> Vec<&Event> {
    r.timeline().iter().filter(|e| pred(e)).collect()
}

fn on_mail_data(e: &Event) -> bool {
    e.path.as_ref().is_some_and(|p| p.to_string() == MAIL_DATA)
}

#[test]
fn stop_server_is_clean_and_pays_in_planned_downtime() {
    for seed in 0..10 {
        for behavior in [
            ConflictBehavior::Shutdown,
            ConflictBehavior::Hang,
            ConflictBehavior::Tolerate,
        ] {
            let r = kb(seed)
                .conflict_behavior(behavior)
                .snapshot(StopServer::default())
                .run()
                .unwrap();
            assert_eq!(r.outcome(), Outcome::Clean, "seed {seed} {behavior:?}");
            let m = r.metrics();
            assert_eq!(m.unplanned_downtime, Duration::ZERO);
            let opened = find(&r, |e| e.kind == EventKind::Opened && on_mail_data(e))[0].time;
            let archived = find(&r, |e| {
                matches!(e.kind, EventKind::Archived { .. }) && on_mail_data(e)
            })[0]
                .time;
            assert!(m.planned_downtime >= archived - opened, "seed {seed}");
            let started = find(&r, |e| matches!(e.kind, EventKind::BackupStarted { .. }))[0].time;
            let finished = find(&r, |e| matches!(e.kind, EventKind::BackupFinished { .. }))[0].time;
            let age = m.recovery_point_age.expect("Mail Data archived");
            assert!(age <= finished - started);
            let copy = r.mail_data_archived().next().unwrap();
            assert!(copy.verdict.is_consistent());
            assert_eq!(
                find(&r, |e| matches!(e.kind, EventKind::ForeignAccess { .. })).len(),
                0
            );
        }
    }
}

#[test]
fn scheduled_copy_with_the_live_file_excluded_archives_a_consistent_copy_an_hour_old() {
    for seed in 0..10 {
        let r = kb(seed)
            .conflict_behavior(ConflictBehavior::Shutdown)
            .snapshot(ScheduledCopy::default())
            .exclusion(ExcludeFile::new("Microsoft Mail Data"))
            .run()
            .unwrap();
        assert_eq!(r.outcome(), Outcome::Clean, "seed {seed}");
        let copies: Vec<_> = r.mail_data_archived().collect();
        assert_eq!(copies.len(), 1);
        assert_eq!(
            copies[0].path.to_string(),
            "Backup Drive:Mail Data Backup #1"
        );
        assert!(matches!(
            copies[0].verdict,
            Verdict::Consistent { stale: false, .. }
        ));
        let age = r.metrics().recovery_point_age.unwrap();
        assert!(
            age > Duration::from_secs(3600) && age < Duration::from_secs(5400),
            "{age:?}"
        );
        // The pause is the copy, at 1 MB/s: one microsecond a byte.
        let copied = find(&r, |e| matches!(e.kind, EventKind::CopiedAside { .. }));
        let EventKind::CopiedAside { bytes } = copied[0].kind else {
            unreachable!()
        };
        assert_eq!(r.metrics().planned_downtime, Duration::from_micros(bytes));
        assert_eq!(r.metrics().server_downtime, r.metrics().planned_downtime);
        assert_eq!(r.metrics().unplanned_downtime, Duration::ZERO);
    }
}

#[test]
fn scheduled_copy_without_the_exclusion_still_conflicts() {
    for (behavior, outcome) in [
        (ConflictBehavior::Shutdown, Outcome::GracefulShutdown),
        (ConflictBehavior::Hang, Outcome::Hang),
    ] {
        for seed in 0..5 {
            let r = kb(seed)
                .conflict_behavior(behavior)
                .snapshot(ScheduledCopy::default())
                .run()
                .unwrap();
            assert_eq!(r.outcome(), outcome, "seed {seed}");
            assert_eq!(
                r.mail_data_archived().count(),
                2,
                "the live file and the copy"
            );
        }
    }
}

#[test]
fn the_rotation_keeps_three_copies_with_number_one_newest() {
    let r = kb(4)
        .nights(5)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(ScheduledCopy::default())
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    assert_eq!(r.nights(), 5);
    for night in 1..=5u32 {
        let copies: Vec<_> = r
            .archive()
            .iter()
            .filter(|a| a.night == night && a.mail_data)
            .collect();
        let names: Vec<_> = copies.iter().map(|a| a.path.to_string()).collect();
        let expected: Vec<_> = (1..=night.min(3))
            .map(|n| format!("Backup Drive:Mail Data Backup #{n}"))
            .collect();
        assert_eq!(names, expected, "night {night}");
        // #1 is the newest: taken later, a later generation.
        for pair in copies.windows(2) {
            assert!(pair[0].taken_at > pair[1].taken_at);
            let generation = |a: &mailsim::ArchivedFile| match a.verdict {
                Verdict::Consistent { generation, .. } => generation,
                other => panic!("{other:?}"),
            };
            assert!(generation(pair[0]) > generation(pair[1]));
        }
        // Older copies are from earlier nights: stale, but consistent.
        for (i, c) in copies.iter().enumerate() {
            assert!(
                matches!(c.verdict, Verdict::Consistent { stale, .. } if stale == (i > 0)),
                "night {night} #{}",
                i + 1
            );
        }
    }
}

#[test]
fn q68600_the_control_panel_did_not_load_so_a_stale_copy_is_archived() {
    let r = kb(2)
        .nights(3)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(ScheduledCopy::default().not_loaded_on(3))
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    let missed = find(&r, |e| matches!(e.kind, EventKind::CopyAsideMissed { .. }));
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].night, 3);
    assert!(missed[0].to_string().contains("Q68600"), "{}", missed[0]);
    let newest = r
        .archive()
        .iter()
        .find(|a| a.night == 3 && a.path.to_string() == "Backup Drive:Mail Data Backup #1")
        .unwrap();
    let Verdict::Consistent { age, stale, .. } = newest.verdict else {
        panic!("torn")
    };
    assert!(stale, "the previous night's copy is flagged stale");
    assert!(age > Duration::from_secs(24 * 3600), "{age:?}");
    assert!(r.metrics().recovery_point_age.unwrap() > Duration::from_secs(24 * 3600));
    // The copy archived on night 3 is the one night 2 archived as #1.
    let night2 = r
        .archive()
        .iter()
        .find(|a| a.night == 2 && a.path.to_string() == "Backup Drive:Mail Data Backup #1")
        .unwrap();
    assert_eq!(
        night2.verdict,
        Verdict::Consistent {
            generation: match newest.verdict {
                Verdict::Consistent { generation, .. } => generation,
                other => unreachable!("{other:?}"),
            },
            age: match night2.verdict {
                Verdict::Consistent { age, .. } => age,
                other => unreachable!("{other:?}"),
            },
            stale: false,
        }
    );
}

#[test]
fn copy_on_write_is_clean_with_zero_downtime() {
    for seed in 0..10 {
        for behavior in [
            ConflictBehavior::Shutdown,
            ConflictBehavior::Hang,
            ConflictBehavior::Tolerate,
        ] {
            let r = kb(seed)
                .conflict_behavior(behavior)
                .snapshot(CopyOnWrite)
                .run()
                .unwrap();
            assert_eq!(r.outcome(), Outcome::Clean);
            assert_eq!(r.metrics().server_downtime, Duration::ZERO);
            assert_eq!(r.metrics().deliveries_deferred, 0);
            let copy = r.mail_data_archived().next().unwrap();
            assert_eq!(
                copy.path.to_string(),
                MAIL_DATA,
                "archived under the live path"
            );
            assert!(copy.verdict.is_consistent());
        }
    }
}

#[test]
fn freeze_thaw_is_clean_and_pays_a_short_pause() {
    let r = kb(5)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(FreezeThaw::default())
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    // Freeze (0.5 s) plus the shadow copy (2 s).
    assert_eq!(r.metrics().planned_downtime, Duration::from_millis(2500));
    let states: Vec<_> = find(&r, |e| matches!(e.kind, EventKind::WriterState { .. }))
        .into_iter()
        .map(|e| match e.kind {
            EventKind::WriterState { state } => state,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        states,
        [
            WriterState::WaitingForFreeze,
            WriterState::WaitingForThaw,
            WriterState::WaitingForBackupComplete,
            WriterState::Stable
        ]
    );
}

#[test]
fn freeze_thaw_fails_at_freeze_retries_and_gives_up_clearly() {
    let policy = FreezeThaw::default()
        .hold_writes_limit(Duration::from_secs(1))
        .snapshot_time(Duration::from_secs(3))
        .retries(2)
        .retry_interval(Duration::from_secs(30));
    let r = kb(5)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(policy)
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean, "skipping is not a conflict");
    let failed = find(&r, |e| matches!(e.kind, EventKind::SnapshotFailed { .. }));
    assert_eq!(failed.len(), 3, "the first attempt and 2 retries");
    assert_eq!(
        failed[1].time - failed[0].time,
        Duration::from_secs(30) + Duration::from_millis(1500)
    );
    assert!(failed.iter().all(|e| matches!(
        e.kind,
        EventKind::SnapshotFailed {
            retryable: true,
            ..
        }
    )));
    let at_freeze = find(&r, |e| {
        e.kind
            == EventKind::WriterState {
                state: WriterState::FailedAtFreeze,
            }
    });
    assert_eq!(at_freeze.len(), 3);
    let gave_up = find(&r, |e| matches!(e.kind, EventKind::SnapshotGaveUp { .. }));
    assert_eq!(gave_up.len(), 1);
    assert!(
        gave_up[0].to_string().contains("gave up after 3 attempts"),
        "{}",
        gave_up[0]
    );
    assert_eq!(r.metrics().files_skipped_snapshot, 1);
    assert_eq!(
        r.mail_data_archived().count(),
        0,
        "never a silent fall-back to the live file"
    );
    assert_eq!(r.metrics().recovery_point_age, None);
    // Each attempt held writes for the freeze and the hold limit.
    assert_eq!(
        r.metrics().planned_downtime,
        Duration::from_millis(3 * 1500)
    );
}

#[test]
fn a_vetoing_writer_fails_without_retries() {
    let r = kb(5)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(FreezeThaw::default().writer_vetoes(true))
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    let failed = find(&r, |e| matches!(e.kind, EventKind::SnapshotFailed { .. }));
    assert_eq!(failed.len(), 1);
    assert!(matches!(
        failed[0].kind,
        EventKind::SnapshotFailed {
            retryable: false,
            ..
        }
    ));
    assert_eq!(r.metrics().files_skipped_snapshot, 1);
    assert_eq!(r.metrics().server_downtime, Duration::ZERO);
}

#[test]
fn online_copy_is_clean_under_light_traffic() {
    for seed in 0..10 {
        let r = kb(seed)
            .conflict_behavior(ConflictBehavior::Shutdown)
            .snapshot(OnlineCopy::default())
            .run()
            .unwrap();
        assert_eq!(r.outcome(), Outcome::Clean, "seed {seed}");
        assert_eq!(r.metrics().server_downtime, Duration::ZERO);
        assert!(
            r.mail_data_archived()
                .next()
                .unwrap()
                .verdict
                .is_consistent()
        );
    }
}

#[test]
fn online_copy_livelock_under_heavy_traffic_is_reported() {
    let r = kb(1)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .traffic(Traffic::new(
            TimeOfDay::hm(23, 0),
            TimeOfDay::hm(2, 0),
            20_000,
        ))
        .snapshot(OnlineCopy::default().max_restarts(5))
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    let restarts = find(&r, |e| {
        matches!(e.kind, EventKind::OnlineCopyRestarted { .. })
    });
    assert_eq!(restarts.len(), 5, "every restart allowed, then the give-up");
    let gave_up = find(&r, |e| matches!(e.kind, EventKind::SnapshotGaveUp { .. }));
    assert_eq!(gave_up.len(), 1);
    assert!(
        gave_up[0].to_string().contains("livelock"),
        "{}",
        gave_up[0]
    );
    assert_eq!(r.metrics().files_skipped_snapshot, 1);
    assert_eq!(r.mail_data_archived().count(), 0);
}

#[test]
fn a_policy_acts_only_for_a_live_file_the_backup_archives() {
    let r = kb(3)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(StopServer::default())
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .run()
        .unwrap();
    assert_eq!(
        r.metrics().server_downtime,
        Duration::ZERO,
        "StopServer stopped nothing"
    );
    assert!(find(&r, |e| e.kind == EventKind::PlannedStop).is_empty());
}

fn policies() -> impl Strategy<Value = (Arc<dyn SnapshotPolicy>, bool)> {
    prop_oneof![
        Just((
            Arc::new(StopServer::default()) as Arc<dyn SnapshotPolicy>,
            false
        )),
        Just((
            Arc::new(StopServer::default().restart_after_file(true)) as Arc<dyn SnapshotPolicy>,
            false
        )),
        (0u32..3, 1u32..5).prop_map(|(h, keep)| (
            Arc::new(ScheduledCopy::default().at(TimeOfDay::hm(h, 0)).keep(keep))
                as Arc<dyn SnapshotPolicy>,
            true
        )),
        Just((Arc::new(CopyOnWrite) as Arc<dyn SnapshotPolicy>, false)),
        (0u64..20, 0u32..3).prop_map(|(snap, retries)| (
            Arc::new(
                FreezeThaw::default()
                    .snapshot_time(Duration::from_secs(snap))
                    .retries(retries)
            ) as Arc<dyn SnapshotPolicy>,
            false
        )),
        (1u64..300, 0u32..20).prop_map(|(pages, restarts)| (
            Arc::new(
                OnlineCopy::default()
                    .pages_per_step(pages)
                    .max_restarts(restarts)
            ) as Arc<dyn SnapshotPolicy>,
            false
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every remedy other than reading the live file keeps every night clean.
    #[test]
    fn no_remedy_night_is_corrupted_shut_down_or_hung(
        seed in any::<u64>(),
        (policy, needs_exclusion) in policies(),
        behavior in prop_oneof![
            Just(ConflictBehavior::Shutdown),
            Just(ConflictBehavior::Hang),
            Just(ConflictBehavior::Tolerate)
        ],
        open_files in prop_oneof![Just(OpenFilePolicy::IgnoreLocks), Just(OpenFilePolicy::respect_locks())],
        nights in 1u32..3,
        rate in 0u32..400,
    ) {
        let mut s = kb(seed)
            .conflict_behavior(behavior)
            .snapshot_arc(policy)
            .open_files(open_files)
            .nights(nights)
            .traffic(Traffic::new(TimeOfDay::hm(23, 0), TimeOfDay::hm(2, 0), rate));
        if needs_exclusion {
            s = s.exclusion(ExcludeFile::new("Microsoft Mail Data"));
        }
        let r = s.run().unwrap();
        prop_assert_eq!(r.outcome(), Outcome::Clean);
        prop_assert_eq!(r.metrics().messages_lost, 0);
        prop_assert_eq!(r.metrics().unplanned_downtime, Duration::ZERO);
        prop_assert_eq!(r.outcome(), outcome_from_timeline(&r));
        prop_assert_eq!(s.replay(r.choices()).unwrap().to_json(), r.to_json());
    }
}

/// A session that answers "wait" forever: every wait `step` long.
#[derive(Debug)]
struct WaitsForever(std::time::Duration);

#[derive(Debug)]
struct WaitingNight(std::time::Duration);

impl mailsim::policy::SnapshotPolicy for WaitsForever {
    fn name(&self) -> &str {
        "waits forever"
    }

    fn begin_night(
        &self,
        _night: &mailsim::policy::NightInfo,
    ) -> Box<dyn mailsim::policy::SnapshotSession> {
        Box::new(WaitingNight(self.0))
    }
}

impl mailsim::policy::SnapshotSession for WaitingNight {
    fn before_live_file(
        &mut self,
        _server: &mut dyn mailsim::policy::ServerControl,
        _path: &mailsim::VolumePath,
    ) -> mailsim::Result<mailsim::policy::Prepared> {
        Ok(mailsim::policy::Prepared::Wait(self.0))
    }
}

/// A policy that never stops answering "wait" ends the run, simulated and
/// on disk, within a bound, with an error of its own naming the policy —
/// not as an invalid scenario, and never by waiting for good.
#[test]
fn a_policy_that_waits_forever_ends_the_run_naming_it() {
    use std::time::Duration;
    for step in [Duration::ZERO, Duration::from_secs(60)] {
        let s = Scenario::kb98097().seed(1).snapshot(WaitsForever(step));
        match s.run() {
            Err(mailsim::Error::SnapshotStalled {
                policy,
                answers,
                waited,
                ..
            }) => {
                assert_eq!(policy, "waits forever");
                if step.is_zero() {
                    assert_eq!(answers, mailsim::backup::MAX_POLICY_ANSWERS);
                } else {
                    assert!(waited > mailsim::backup::MAX_POLICY_WAIT);
                }
            }
            other => panic!("{step:?}: {other:?}"),
        }
    }
    #[cfg(feature = "real")]
    {
        let tmp = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let r = Scenario::kb98097()
            .seed(1)
            .real_scale(100_000)
            .snapshot(WaitsForever(Duration::from_secs(600)))
            .run_real(tmp.path().join("night"));
        assert!(
            matches!(&r, Err(mailsim::Error::SnapshotStalled { policy, .. }) if policy == "waits forever"),
            "{r:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("waits forever") && e.contains("Microsoft Mail Data"),
            "{e}"
        );
    }
}

/// A policy whose hook fails: the file is skipped and the failure recorded,
/// naming the policy; a failure after the backup is recorded too; the run
/// ends with a report.
#[derive(Debug)]
struct Fails {
    before: bool,
}

#[derive(Debug)]
struct FailingNight {
    before: bool,
}

impl mailsim::policy::SnapshotPolicy for Fails {
    fn name(&self) -> &str {
        "fails"
    }
    fn begin_night(
        &self,
        _: &mailsim::policy::NightInfo,
    ) -> Box<dyn mailsim::policy::SnapshotSession> {
        Box::new(FailingNight {
            before: self.before,
        })
    }
}

impl mailsim::policy::SnapshotSession for FailingNight {
    fn before_live_file(
        &mut self,
        _: &mut dyn mailsim::policy::ServerControl,
        _: &mailsim::VolumePath,
    ) -> mailsim::Result<mailsim::policy::Prepared> {
        if self.before {
            Err(mailsim::Error::InvalidScenario {
                field: "mine",
                reason: "not today".into(),
            })
        } else {
            Ok(mailsim::policy::Prepared::ReadLive)
        }
    }
    fn after_backup(
        &mut self,
        _: &mut dyn mailsim::policy::ServerControl,
        _: bool,
    ) -> mailsim::Result<()> {
        Err(mailsim::Error::InvalidScenario {
            field: "mine",
            reason: "after".into(),
        })
    }
}

#[test]
fn a_policy_hook_that_fails_is_a_recorded_failure_naming_the_policy() {
    use mailsim::report::EventKind;
    let r = Scenario::kb98097()
        .seed(3)
        .snapshot(Fails { before: true })
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    assert_eq!(r.metrics().files_skipped_snapshot, 1);
    assert!(r.mail_data_archived().next().is_none());
    let said = |r: &mailsim::Report, what: &str| {
        r.timeline().iter().any(|e| match &e.kind {
            EventKind::SnapshotGaveUp { reason } | EventKind::Note { text: reason } => {
                reason.contains("\"fails\"") && reason.contains(what)
            }
            _ => false,
        })
    };
    assert!(said(&r, "not today"));
    assert!(said(&r, "after the backup"));
    let r = Scenario::kb98097()
        .seed(3)
        .snapshot(Fails { before: false })
        .run()
        .unwrap();
    assert!(said(&r, "after the backup"));
}
