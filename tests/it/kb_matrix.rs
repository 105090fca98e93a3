//! The KB matrix: the night of KB Q98097 under each remedy, for fixed seeds.

use std::time::Duration;

use std::sync::Arc;

use mailsim::policy::{ExcludeFile, ExcludeFolder, ExclusionPolicy};
use mailsim::report::{Actor, EventKind};
use mailsim::{ConflictBehavior, OpenFilePolicy, Outcome, Scenario, TimeOfDay, Traffic};

use crate::support::{commit_times, foreign_access, outcome_from_timeline};

const MAIL_DATA: &str = "Server HD:System Folder:Extensions:Microsoft Mail Data";

fn kb(seed: u64) -> Scenario {
    Scenario::kb98097().seed(seed)
}

#[test]
fn no_remedy_and_shutdown_is_a_graceful_shutdown() {
    for seed in 0..20 {
        let r = kb(seed)
            .conflict_behavior(ConflictBehavior::Shutdown)
            .run()
            .unwrap();
        assert_eq!(r.outcome(), Outcome::GracefulShutdown, "seed {seed}");
        let m = r.metrics();
        assert!(
            m.unplanned_downtime > Duration::from_secs(6 * 3600),
            "seed {seed}: {m:?}"
        );
        assert_eq!(m.planned_downtime, Duration::ZERO);
        assert_eq!(m.server_downtime, m.unplanned_downtime);
        assert_eq!(m.messages_lost, 0);
        // The shutdown finished before the first chunk: the copy is consistent.
        let copies: Vec<_> = r.mail_data_archived().collect();
        assert_eq!(copies.len(), 1);
        assert!(copies[0].verdict.is_consistent(), "seed {seed}");
        assert_eq!(copies[0].path.to_string(), MAIL_DATA);
    }
}

#[test]
fn no_remedy_and_hang_is_a_hang() {
    for seed in 0..20 {
        let r = kb(seed)
            .conflict_behavior(ConflictBehavior::Hang)
            .run()
            .unwrap();
        assert_eq!(r.outcome(), Outcome::Hang, "seed {seed}");
        assert!(
            r.timeline()
                .iter()
                .any(|e| matches!(e.kind, EventKind::Hung))
        );
        assert!(
            r.metrics().deliveries_deferred > 0,
            "requests found it hung"
        );
        assert_eq!(r.metrics().messages_lost, 0);
        assert!(r.mail_data_archived().all(|a| a.verdict.is_consistent()));
        // The hang is explained: who waits for what, held by whom, since when.
        let chain = r.hang_chain().expect("a hang names its wait-for chain");
        let hung = r
            .timeline()
            .iter()
            .find(|e| e.kind == EventKind::Hung)
            .unwrap()
            .time;
        assert!(chain.iter().all(|l| l.since == hung));
        let server = chain
            .iter()
            .find(|l| l.waiter == "the Mail Server")
            .unwrap();
        assert!(server.resource.contains("Retrospect Remote"), "{server}");
        assert!(server.holder.contains("Microsoft Mail Data"), "{server}");
        assert!(chain.iter().any(|l| l.holder.contains("administrator")));
    }
}

#[test]
fn no_remedy_and_tolerate_is_corrupted_for_most_seeds() {
    let mut corrupted = 0;
    for seed in 0..100 {
        let r = kb(seed)
            .conflict_behavior(ConflictBehavior::Tolerate)
            .run()
            .unwrap();
        match r.outcome() {
            Outcome::Corrupted => corrupted += 1,
            Outcome::Clean => {
                // Nothing was written while the copy was read.
                let copy = r.mail_data_archived().next().unwrap();
                assert!(copy.verdict.is_consistent());
            }
            other => panic!("seed {seed}: {other:?}"),
        }
        assert_eq!(r.metrics().server_downtime, Duration::ZERO);
    }
    // Pinned: a change in the model must show here.
    assert_eq!(corrupted, 78);
}

#[test]
fn the_kb_preset_usually_shuts_down_and_sometimes_hangs() {
    let mut counts = [0u32; 5];
    for seed in 0..100 {
        let r = kb(seed).run().unwrap();
        counts[Outcome::ALL.iter().position(|&o| o == r.outcome()).unwrap()] += 1;
    }
    // Pinned for the preset's 0.9 probability of shutting down.
    assert_eq!(counts, [0, 90, 10, 0, 0]);
    let all_hang: Vec<_> = (0..10)
        .map(|s| kb(s).kb_conflict(0.0).run().unwrap().outcome())
        .collect();
    assert!(all_hang.iter().all(|&o| o == Outcome::Hang));
}

#[test]
fn each_kb_exclusion_keeps_the_night_clean() {
    let exclusions: [(&str, Arc<dyn ExclusionPolicy>, u64); 3] = [
        (
            "System Folder",
            Arc::new(ExcludeFolder::new("System Folder")),
            15,
        ),
        ("Extensions", Arc::new(ExcludeFolder::new("Extensions")), 5),
        (
            "Mail Data",
            Arc::new(ExcludeFile::new("Microsoft Mail Data")),
            1,
        ),
    ];
    for (name, with, excluded) in exclusions {
        for behavior in [
            ConflictBehavior::Shutdown,
            ConflictBehavior::Hang,
            ConflictBehavior::Tolerate,
        ] {
            for seed in 0..5 {
                let r = kb(seed)
                    .conflict_behavior(behavior)
                    .exclusion_arc(with.clone())
                    .run()
                    .unwrap();
                assert_eq!(r.outcome(), Outcome::Clean, "{name} {behavior:?} {seed}");
                let m = r.metrics();
                assert_eq!(m.server_downtime, Duration::ZERO);
                assert_eq!(m.recovery_point_age, None, "Mail Data was not archived");
                assert_eq!(r.mail_data_archived().count(), 0);
                assert_eq!(m.files_excluded, excluded, "{name}");
                assert_eq!(m.deliveries_deferred, 0);
                assert!(!foreign_access(&r));
            }
        }
    }
}

#[test]
fn respect_locks_skips_mail_data_as_busy_and_never_disturbs_the_server() {
    for behavior in [
        ConflictBehavior::Shutdown,
        ConflictBehavior::Hang,
        ConflictBehavior::Tolerate,
    ] {
        let r = kb(3)
            .conflict_behavior(behavior)
            .open_files(OpenFilePolicy::respect_locks())
            .run()
            .unwrap();
        assert_eq!(r.outcome(), Outcome::Clean);
        let m = r.metrics();
        assert_eq!(m.files_skipped_busy, 1);
        assert_eq!(m.server_downtime, Duration::ZERO);
        assert_eq!(m.deliveries_deferred, 0);
        assert_eq!(m.recovery_point_age, None);
        assert!(!foreign_access(&r));
        let busy: Vec<_> = r
            .timeline()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Busy { .. }))
            .collect();
        assert_eq!(busy.len(), 4, "the first attempt and 3 retries");
        assert!(busy[1].time - busy[0].time == Duration::from_secs(60));
        let skipped = r
            .timeline()
            .iter()
            .find(|e| matches!(e.kind, EventKind::SkippedBusy { .. }))
            .unwrap();
        assert_eq!(skipped.path.as_ref().unwrap().to_string(), MAIL_DATA);
        assert!(
            skipped
                .to_string()
                .contains("held by Microsoft Mail Server"),
            "{skipped}"
        );
    }
}

#[test]
fn wait_for_idle_opens_only_after_a_quiet_spell_and_the_server_still_reacts() {
    let idle = Duration::from_secs(90);
    let policy = OpenFilePolicy::WaitForIdle {
        idle,
        timeout: Duration::from_secs(3600),
    };
    for (behavior, outcome) in [
        (ConflictBehavior::Shutdown, Outcome::GracefulShutdown),
        (ConflictBehavior::Hang, Outcome::Hang),
    ] {
        for seed in 0..10 {
            let r = kb(seed)
                .conflict_behavior(behavior)
                .open_files(policy)
                .run()
                .unwrap();
            assert_eq!(r.outcome(), outcome, "seed {seed}");
            let opened = r
                .timeline()
                .iter()
                .find(|e| {
                    e.kind == EventKind::Opened
                        && e.path.as_ref().is_some_and(|p| p.to_string() == MAIL_DATA)
                })
                .expect("Mail Data opened")
                .time;
            let last_write = commit_times(&r)
                .into_iter()
                .filter(|&t| t <= opened)
                .max()
                .unwrap();
            assert!(
                opened - last_write >= idle,
                "seed {seed}: opened {opened}, last write {last_write}"
            );
        }
    }
}

#[test]
fn wait_for_idle_gives_up_when_traffic_never_pauses() {
    let policy = OpenFilePolicy::WaitForIdle {
        idle: Duration::from_secs(60),
        timeout: Duration::from_secs(600),
    };
    let r = kb(1)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .traffic(Traffic::new(
            TimeOfDay::hm(23, 0),
            TimeOfDay::hm(2, 0),
            3_000,
        ))
        .open_files(policy)
        .run()
        .unwrap();
    assert_eq!(r.outcome(), Outcome::Clean);
    assert_eq!(r.metrics().files_skipped_busy, 1);
    assert_eq!(r.mail_data_archived().count(), 0);
    let waited = r
        .timeline()
        .iter()
        .find(|e| matches!(e.kind, EventKind::WaitingForIdle { .. }))
        .unwrap()
        .time;
    let gave_up = r
        .timeline()
        .iter()
        .find(|e| e.kind == EventKind::IdleTimeout)
        .unwrap();
    assert_eq!(gave_up.time - waited, Duration::from_secs(600));
    assert_eq!(gave_up.actor, Actor::RetrospectRemote);
    assert!(!foreign_access(&r));
}

#[test]
fn outcome_matches_the_timeline_across_the_matrix() {
    for seed in 0..10 {
        for s in [
            kb(seed),
            kb(seed).conflict_behavior(ConflictBehavior::Tolerate),
            kb(seed).open_files(OpenFilePolicy::wait_for_idle()),
        ] {
            let r = s.run().unwrap();
            assert_eq!(r.outcome(), outcome_from_timeline(&r), "seed {seed}");
        }
    }
}

/// Exact figures of one night: the model is deterministic, so any change in
/// behaviour shows here first.
#[test]
fn pinned_figures_for_seed_7() {
    let r = kb(7)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .run()
        .unwrap();
    let m = r.metrics();
    let shutdown = r
        .timeline()
        .iter()
        .find(|e| matches!(e.kind, EventKind::ShutDown { .. }))
        .unwrap();
    assert_eq!(shutdown.time.to_string(), "01:20:05");
    assert_eq!(shutdown.kind, EventKind::ShutDown { generation: 52_216 });
    assert_eq!(m.unplanned_downtime, Duration::from_micros(23_994_932_962));
    assert_eq!(m.deliveries_acknowledged, 145);
    assert_eq!(m.deliveries_deferred, 57);
    assert_eq!(
        m.recovery_point_age,
        Some(Duration::from_micros(345_624_396))
    );
    assert_eq!(m.files_archived, 29);
    assert_eq!(m.bytes_archived, 26_361_760);
    assert_eq!(r.timeline().len(), 398);
    assert_eq!(r.choices().len(), 1367);
}
