//! Exhaustive exploration: the bounded proofs, the pinned state counts, the
//! replay of every example, and the model against the simulator.

use std::collections::BTreeSet;
use std::sync::Arc;

use mailsim::chooser::Choices;
use mailsim::policy::{
    CopyOnWrite, ExcludeFile, ExcludeFolder, FreezeThaw, LiveRead, NightInfo, OnlineCopy,
    ScheduledCopy, SnapshotPolicy, SnapshotSession, StopServer,
};
use mailsim::testing::{
    Bounds, CopyVerdict, Exploration, ExploredStep, explore, explore_until, replay_explored,
};
use mailsim::{ConflictBehavior, Error, OpenFilePolicy, Outcome, Scenario};

const SIZES: [(u32, u32); 3] = [(3, 3), (5, 4), (8, 8)];
const FIXED: [ConflictBehavior; 3] = [
    ConflictBehavior::Shutdown,
    ConflictBehavior::Hang,
    ConflictBehavior::Tolerate,
];

fn with(conflict: Option<ConflictBehavior>) -> Scenario {
    match conflict {
        Some(b) => Scenario::kb98097().conflict_behavior(b),
        None => Scenario::kb98097().kb_conflict(0.9),
    }
}

fn all_conflicts() -> Vec<Option<ConflictBehavior>> {
    let mut v: Vec<_> = FIXED.into_iter().map(Some).collect();
    v.push(None);
    v
}

fn outcomes(e: &Exploration) -> BTreeSet<Outcome> {
    e.terminal.keys().copied().collect()
}

fn set(os: &[Outcome]) -> BTreeSet<Outcome> {
    os.iter().copied().collect()
}

/// Explores completely, checks what every exploration must show, and
/// replays every example to its outcome.
fn full(s: &Scenario, w: u32, p: u32) -> Exploration {
    let e = explore(s, Bounds::new(w, p)).expect("a built-in policy");
    assert!(e.complete, "{s:?} {w}x{p}: {e}");
    assert!(e.counterexample.is_none(), "{s:?} {w}x{p}: {e}");
    assert_eq!(
        e.examples.keys().collect::<Vec<_>>(),
        e.terminal.keys().collect::<Vec<_>>(),
        "an example for every outcome"
    );
    for (&outcome, choices) in &e.examples {
        let night = replay_explored(s, Bounds::new(w, p), choices).expect("replays");
        assert_eq!(
            night.outcome,
            outcome,
            "{s:?} {w}x{p}:\n{}",
            night.narrate()
        );
        assert!(night.violation.is_none());
        // The record replays to the same night, step for step.
        let again = replay_explored(s, Bounds::new(w, p), &night.choices).expect("replays");
        assert_eq!(again.steps, night.steps);
        assert_eq!(again.choices, night.choices);
        // The example is the replay's record less its trailing zeros.
        let mut trimmed = night.choices.as_slice().to_vec();
        while trimmed.last() == Some(&0) {
            trimmed.pop();
        }
        assert_eq!(&Choices::from(trimmed), choices);
    }
    e
}

#[test]
fn copy_on_write_stop_server_and_the_other_snapshots_are_never_corrupted() {
    let snapshots: [Arc<dyn SnapshotPolicy>; 4] = [
        Arc::new(CopyOnWrite),
        Arc::new(StopServer::default()),
        Arc::new(FreezeThaw::default()),
        Arc::new(OnlineCopy::default()),
    ];
    for (w, p) in SIZES {
        for conflict in all_conflicts() {
            for snapshot in &snapshots {
                let s = with(conflict).snapshot_arc(snapshot.clone());
                let e = full(&s, w, p);
                assert_eq!(
                    outcomes(&e),
                    set(&[Outcome::Clean]),
                    "{} {conflict:?} {w}x{p}: {e}",
                    snapshot.name()
                );
            }
        }
    }
}

#[test]
fn tolerating_a_live_read_is_sometimes_corrupted_and_the_path_replays() {
    for (w, p) in SIZES {
        let s = with(Some(ConflictBehavior::Tolerate)).snapshot(LiveRead);
        let e = full(&s, w, p);
        assert_eq!(outcomes(&e), set(&[Outcome::Clean, Outcome::Corrupted]));
        let path = &e.examples[&Outcome::Corrupted];
        let night = replay_explored(&s, Bounds::new(w, p), path).unwrap();
        assert_eq!(night.outcome, Outcome::Corrupted);
        assert_eq!(night.verdict, Some(CopyVerdict::Torn));
        assert!(
            night
                .steps
                .contains(&ExploredStep::Opened { foreign: true }),
            "{}",
            night.narrate()
        );
        // A commit lands between the copy's first and last page.
        let first = night
            .steps
            .iter()
            .position(|s| matches!(s, ExploredStep::CopiedPage { page: 0, .. }))
            .unwrap();
        assert!(
            night.steps[first..]
                .iter()
                .any(|s| matches!(s, ExploredStep::Commit { .. }))
        );
        // Stopping at the first torn copy finds one too.
        let found = explore_until(&s, Bounds::new(w, p), |o| o == Outcome::Corrupted).unwrap();
        assert!(!found.complete);
        assert!(found.reaches(Outcome::Corrupted));
        assert!(found.states <= e.states);
        let night =
            replay_explored(&s, Bounds::new(w, p), &found.examples[&Outcome::Corrupted]).unwrap();
        assert_eq!(night.outcome, Outcome::Corrupted);
    }
}

#[test]
fn a_fixed_reaction_decides_the_night() {
    for (w, p) in SIZES {
        for open in [OpenFilePolicy::IgnoreLocks, OpenFilePolicy::wait_for_idle()] {
            let shutdown = with(Some(ConflictBehavior::Shutdown))
                .snapshot(LiveRead)
                .open_files(open);
            let hang = with(Some(ConflictBehavior::Hang))
                .snapshot(LiveRead)
                .open_files(open);
            if open != OpenFilePolicy::IgnoreLocks && w > 5 {
                // Explored through the night itself: the small sizes say it.
                continue;
            }
            let (es, eh) = (full(&shutdown, w, p), full(&hang, w, p));
            // Waiting for quiet (2 minutes, 30 at most) outlasts a handful
            // of requests: the backup opens the file in the end.
            assert_eq!(outcomes(&es), set(&[Outcome::GracefulShutdown]));
            assert_eq!(outcomes(&eh), set(&[Outcome::Hang]));
        }
    }
}

/// A wait for quiet shorter than the requests can keep the file busy
/// times out: a clean night, Mail Data skipped — or the backup opens the
/// file in a quiet moment, and the server reacts.
#[test]
fn waiting_for_quiet_may_time_out_when_requests_keep_coming() {
    let open = OpenFilePolicy::WaitForIdle {
        idle: std::time::Duration::from_secs(120),
        timeout: std::time::Duration::from_secs(300),
    };
    for (w, p) in [(3, 3), (5, 4)] {
        let shutdown = with(Some(ConflictBehavior::Shutdown))
            .snapshot(LiveRead)
            .open_files(open);
        let e = full(&shutdown, w, p);
        assert_eq!(
            outcomes(&e),
            set(&[Outcome::Clean, Outcome::GracefulShutdown]),
            "{e}"
        );
        let timed_out =
            replay_explored(&shutdown, Bounds::new(w, p), &e.examples[&Outcome::Clean]).unwrap();
        let report = timed_out.report.expect("explored through the night");
        assert!(
            report
                .timeline()
                .iter()
                .any(|e| matches!(e.kind, mailsim::report::EventKind::IdleTimeout)),
            "{}",
            report.narrate()
        );
    }
}

#[test]
fn the_kb_draw_gives_both_shutdown_and_hang() {
    for (w, p) in SIZES {
        let s = with(None).snapshot(LiveRead);
        let e = full(&s, w, p);
        assert_eq!(
            outcomes(&e),
            set(&[Outcome::GracefulShutdown, Outcome::Hang])
        );
        let night = replay_explored(&s, Bounds::new(w, p), &e.examples[&Outcome::Hang]).unwrap();
        assert!(night.steps.contains(&ExploredStep::Reacted {
            behavior: ConflictBehavior::Hang
        }));
    }
}

#[test]
fn excluding_mail_data_or_respecting_locks_is_always_clean() {
    for (w, p) in SIZES {
        for conflict in all_conflicts() {
            for s in [
                with(conflict).exclusion(ExcludeFile::new("Microsoft Mail Data")),
                with(conflict).exclusion(ExcludeFolder::new("System Folder")),
                with(conflict).open_files(OpenFilePolicy::respect_locks()),
            ] {
                let e = full(&s.snapshot(LiveRead), w, p);
                assert_eq!(outcomes(&e), set(&[Outcome::Clean]), "{conflict:?}: {e}");
            }
        }
    }
}

#[test]
fn a_scheduled_copy_does_not_keep_the_backup_off_the_live_file() {
    for (w, p) in SIZES {
        for conflict in all_conflicts() {
            let s = with(conflict).snapshot(ScheduledCopy::default());
            let live = full(&s, w, p);
            let expected = match conflict {
                Some(ConflictBehavior::Shutdown) => set(&[Outcome::GracefulShutdown]),
                Some(ConflictBehavior::Hang) => set(&[Outcome::Hang]),
                Some(ConflictBehavior::Tolerate) => set(&[Outcome::Clean, Outcome::Corrupted]),
                None => set(&[Outcome::GracefulShutdown, Outcome::Hang]),
                Some(other) => panic!("no expectation for {other:?}"),
            };
            assert_eq!(outcomes(&live), expected, "{conflict:?}");
            // KB remedy 4 whole: the copy aside, and Mail Data excluded.
            let remedy = s.exclusion(ExcludeFile::new("Microsoft Mail Data"));
            let e = full(&remedy, w, p);
            assert_eq!(outcomes(&e), set(&[Outcome::Clean]));
            let night = replay_explored(&remedy, Bounds::new(w, p), &Choices::default()).unwrap();
            assert_eq!(night.verdict, None, "the live file is not archived");
            assert!(
                night.aside_verdict.is_some_and(CopyVerdict::is_consistent),
                "{}",
                night.narrate()
            );
        }
    }
}

/// The number of distinct states is pinned: a change in the model fails here.
#[test]
fn visited_state_counts_are_pinned() {
    let tolerate = || with(Some(ConflictBehavior::Tolerate));
    let cases: [(&str, Scenario, u32, u32, u64); 12] = [
        (
            "tolerate live read 3x3",
            tolerate().snapshot(LiveRead),
            3,
            3,
            38,
        ),
        (
            "tolerate live read 8x8",
            tolerate().snapshot(LiveRead),
            8,
            8,
            398,
        ),
        (
            "tolerate live read 40x40",
            tolerate().snapshot(LiveRead),
            40,
            40,
            35262,
        ),
        (
            "copy-on-write 8x8",
            tolerate().snapshot(CopyOnWrite),
            8,
            8,
            378,
        ),
        (
            "copy-on-write 100x100",
            tolerate().snapshot(CopyOnWrite),
            100,
            100,
            515302,
        ),
        (
            "freeze/thaw 5x4",
            tolerate().snapshot(FreezeThaw::default()),
            5,
            4,
            96,
        ),
        (
            "stop server 8x8",
            tolerate().snapshot(StopServer::default()),
            8,
            8,
            90,
        ),
        (
            "online copy 8x8",
            tolerate().snapshot(OnlineCopy::default()),
            8,
            8,
            1173,
        ),
        (
            "scheduled copy 5x4",
            tolerate().snapshot(ScheduledCopy::default()),
            5,
            4,
            102,
        ),
        (
            "kb draw live read 8x8",
            with(None).snapshot(LiveRead),
            8,
            8,
            189,
        ),
        (
            // Explored through the night itself (see explore's docs).
            "shutdown wait-for-idle 5x4",
            with(Some(ConflictBehavior::Shutdown))
                .snapshot(LiveRead)
                .open_files(OpenFilePolicy::wait_for_idle()),
            5,
            4,
            692,
        ),
        (
            "excluded 8x8",
            tolerate().exclusion(ExcludeFile::new("Microsoft Mail Data")),
            8,
            8,
            18,
        ),
    ];
    let mut wrong = Vec::new();
    for (name, s, w, p, pinned) in cases {
        let e = explore(&s, Bounds::new(w, p)).unwrap();
        assert!(e.complete);
        if e.states != pinned {
            wrong.push(format!("{name}: {} states, pinned {pinned}", e.states));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Counts derived by hand, for sizes on both sides of the 64-bit keys.
///
/// Copy-on-write: W + 1 states before the open; while copying, a page
/// position, the image's generation s and the transactions committed since
/// (W + 1 - s choices): P (W + 1)(W + 2) / 2; W + 1 once archived. Stop
/// server: the open freezes the generation, so (W + 1)(1 + P + 1). The KB
/// draw: as stop server, twice, plus the server down or hung once the copy
/// is archived: (W + 1)(2P + 5). Excluded: W + 1 before and after the backup.
#[test]
fn state_counts_follow_the_formulas() {
    let tolerate = || with(Some(ConflictBehavior::Tolerate));
    for (w, p) in [(3, 3), (8, 8), (100, 100), (520, 1), (600, 3)] {
        let (w64, p64) = (u64::from(w), u64::from(p));
        let cases = [
            (
                tolerate().snapshot(CopyOnWrite),
                (w64 + 1) + p64 * (w64 + 1) * (w64 + 2) / 2 + (w64 + 1),
            ),
            (
                tolerate().snapshot(StopServer::default()),
                (w64 + 1) * (p64 + 2),
            ),
            (with(None).snapshot(LiveRead), (w64 + 1) * (2 * p64 + 5)),
            (
                tolerate().exclusion(ExcludeFile::new("Microsoft Mail Data")),
                2 * (w64 + 1),
            ),
        ];
        for (s, expected) in cases {
            let e = explore(&s, Bounds::new(w, p)).unwrap();
            assert!(e.complete);
            assert_eq!(e.states, expected, "{s:?} {w}x{p}");
        }
    }
}

#[test]
fn terminal_counts_are_pinned() {
    // Terminal states forget the path that led to them: what is left is the
    // outcome and how it came about (a copy archived or a timeout).
    let s = with(Some(ConflictBehavior::Tolerate))
        .snapshot(ScheduledCopy::default())
        .open_files(OpenFilePolicy::IgnoreLocks);
    let e = explore(&s, Bounds::new(8, 8)).unwrap();
    assert_eq!(
        e.terminal.iter().map(|(&o, &n)| (o, n)).collect::<Vec<_>>(),
        [(Outcome::Clean, 1), (Outcome::Corrupted, 1)]
    );
    assert_eq!(e.states, 407);
    // Through the night itself (wait-for-idle), a torn copy too.
    let s = s.open_files(OpenFilePolicy::wait_for_idle());
    let e = explore(&s, Bounds::new(5, 4)).unwrap();
    assert_eq!(
        e.terminal.iter().map(|(&o, &n)| (o, n)).collect::<Vec<_>>(),
        [(Outcome::Clean, 126), (Outcome::Corrupted, 10)]
    );
    assert_eq!(e.states, 8266);
}

#[test]
fn exploration_is_deterministic() {
    let s = with(None).snapshot(ScheduledCopy::default());
    let (a, b) = (
        explore(&s, Bounds::new(6, 5)).unwrap(),
        explore(&s, Bounds::new(6, 5)).unwrap(),
    );
    assert_eq!(a.states, b.states);
    assert_eq!(a.terminal, b.terminal);
    assert_eq!(a.examples, b.examples);
}

/// The issue's sizes: a torn copy at W = P = 40 under `Tolerate`, and none at
/// W = P = 100 under `CopyOnWrite` (half a million states: a fraction of a
/// second in release, a few seconds in a debug build).
#[test]
fn the_issues_questions_at_full_size() {
    let tolerate = with(Some(ConflictBehavior::Tolerate));
    let found = explore_until(
        &tolerate.clone().snapshot(LiveRead),
        Bounds::new(40, 40),
        |o| o == Outcome::Corrupted,
    )
    .unwrap();
    assert!(found.reaches(Outcome::Corrupted));
    let night = replay_explored(
        &tolerate.clone().snapshot(LiveRead),
        Bounds::new(40, 40),
        &found.examples[&Outcome::Corrupted],
    )
    .unwrap();
    assert_eq!(night.outcome, Outcome::Corrupted);
    let proof = explore(&tolerate.snapshot(CopyOnWrite), Bounds::new(100, 100)).unwrap();
    assert!(proof.complete);
    assert_eq!(outcomes(&proof), set(&[Outcome::Clean]));
}

#[test]
fn max_states_stops_the_search() {
    let s = with(Some(ConflictBehavior::Tolerate)).snapshot(LiveRead);
    let e = explore(&s, Bounds::new(8, 8).max_states(10)).unwrap();
    assert_eq!(e.states, 10);
    assert!(!e.complete);
    let all = explore(&s, Bounds::new(8, 8)).unwrap();
    let exact = explore(&s, Bounds::new(8, 8).max_states(all.states)).unwrap();
    assert!(exact.complete, "a cap the search does not reach");
    assert_eq!(exact.states, all.states);
}

#[test]
fn replay_is_forgiving() {
    let s = with(Some(ConflictBehavior::Tolerate)).snapshot(LiveRead);
    let b = Bounds::new(5, 4);
    // Too large: clamped; too short: zeros.
    let night = replay_explored(&s, b, &Choices::from(vec![9, 9, 9])).unwrap();
    assert!(night.choices.as_slice().iter().all(|&c| c <= 1));
    assert_eq!(&night.choices.as_slice()[..3], [1, 1, 1]);
    let empty = replay_explored(&s, b, &Choices::default()).unwrap();
    // All zeros: the server commits everything first, then the backup copies.
    assert!(matches!(
        empty.steps[..5],
        [
            ExploredStep::Commit { transaction: 1, .. },
            ..,
            ExploredStep::Commit { transaction: 5, .. }
        ]
    ));
    assert_eq!(empty.outcome, Outcome::Clean);
    assert_eq!(
        empty.verdict,
        Some(CopyVerdict::Consistent { generation: 5 })
    );
    for step in &empty.steps {
        assert!(!step.to_string().is_empty());
    }
}

/// A user's policy: the model does not know what it does.
#[derive(Debug)]
struct Mine;

impl SnapshotPolicy for Mine {
    fn name(&self) -> &str {
        "my own snapshot"
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        LiveRead.begin_night(night)
    }
}

/// A policy of the user's own is explored through the night itself: one
/// that does what live read does reaches what live read reaches; bounds out
/// of range are refused, and the night needs a message besides the header.
#[test]
fn users_policies_are_explored_through_the_night_and_bad_bounds_refused() {
    for conflict in [ConflictBehavior::Tolerate, ConflictBehavior::Shutdown] {
        let s = Scenario::kb98097().conflict_behavior(conflict);
        let mine = explore(&s.clone().snapshot(Mine), Bounds::new(3, 3)).unwrap();
        let live = explore(&s.snapshot(LiveRead), Bounds::new(3, 3)).unwrap();
        assert!(mine.complete && live.complete);
        assert_eq!(
            mine.outcomes(),
            live.outcomes(),
            "{conflict:?}: {mine} / {live}"
        );
    }
    match explore(&Scenario::kb98097().snapshot(Mine), Bounds::new(3, 1)) {
        Err(Error::InvalidScenario { field, .. }) => assert_eq!(field, "pages"),
        other => panic!("{other:?}"),
    }
    let night = replay_explored(
        &Scenario::kb98097().snapshot(Mine),
        Bounds::new(3, 3),
        &Choices::default(),
    )
    .unwrap();
    assert!(night.report.is_some() && !night.narrate().is_empty());
    for (b, field) in [
        (Bounds::new(3, 0), "pages"),
        (Bounds::new(3, 70_000), "pages"),
        (Bounds::new(70_000, 3), "transactions"),
    ] {
        match explore(&Scenario::kb98097(), b) {
            Err(Error::InvalidScenario { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
}

/// The model against the simulator: the outcome of a simulated KB night is
/// one the model reaches, for every built-in policy, reaction and open-file
/// policy.
#[test]
fn the_simulators_outcomes_are_ones_the_model_reaches() {
    let snapshots: [Arc<dyn SnapshotPolicy>; 6] = [
        Arc::new(LiveRead),
        Arc::new(StopServer::default()),
        Arc::new(ScheduledCopy::default()),
        Arc::new(CopyOnWrite),
        Arc::new(FreezeThaw::default()),
        Arc::new(OnlineCopy::default()),
    ];
    let opens = [
        OpenFilePolicy::IgnoreLocks,
        OpenFilePolicy::respect_locks(),
        OpenFilePolicy::wait_for_idle(),
    ];
    let mut seed = 0;
    for conflict in all_conflicts() {
        for snapshot in &snapshots {
            for open in opens {
                for exclude in [false, true] {
                    let mut s = with(conflict)
                        .snapshot_arc(snapshot.clone())
                        .open_files(open);
                    if exclude {
                        s = s.exclusion(ExcludeFile::new("Microsoft Mail Data"));
                    }
                    let model = explore(&s, Bounds::new(5, 4)).unwrap();
                    seed += 1;
                    let night = s.clone().seed(seed).run().unwrap();
                    assert!(
                        model.reaches(night.outcome()),
                        "{s:?}: the simulator's {} is not among {:?}",
                        night.outcome(),
                        outcomes(&model)
                    );
                }
            }
        }
    }
}

/// The fast model against the night itself, for every built-in policy ×
/// conflict behavior × open-file policy at small bounds: the same set of
/// terminal outcomes.
#[test]
fn the_fast_path_reaches_what_the_night_reaches() {
    use mailsim::testing::explore_night;
    let snapshots: [Arc<dyn SnapshotPolicy>; 6] = [
        Arc::new(LiveRead),
        Arc::new(StopServer::default()),
        Arc::new(ScheduledCopy::default()),
        Arc::new(CopyOnWrite),
        Arc::new(FreezeThaw::default()),
        Arc::new(OnlineCopy::default()),
    ];
    let opens = [
        OpenFilePolicy::IgnoreLocks,
        OpenFilePolicy::respect_locks(),
        OpenFilePolicy::wait_for_idle(),
    ];
    let mut disagree = Vec::new();
    for conflict in all_conflicts() {
        for snapshot in &snapshots {
            for open in opens {
                let s = match conflict {
                    Some(b) => Scenario::kb98097().conflict_behavior(b),
                    None => Scenario::kb98097().kb_conflict(0.9),
                }
                .snapshot_arc(snapshot.clone())
                .open_files(open);
                for b in [Bounds::new(3, 3), Bounds::new(4, 3)] {
                    let fast = explore(&s, b).unwrap();
                    let night = explore_night(&s, b, |_| false).unwrap();
                    if fast.outcomes() != night.outcomes() {
                        disagree.push(format!(
                            "{} / {} / {:?}: fast {fast} / night {night}",
                            snapshot.name(),
                            open.as_str(),
                            s.conflict()
                        ));
                    }
                }
            }
        }
    }
    assert!(disagree.is_empty(), "{}", disagree.join("\n"));
}
