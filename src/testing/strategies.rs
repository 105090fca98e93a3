//! Proptest strategies over nights and their parts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use crate::backup::OpenFilePolicy;
use crate::chooser::Choices;
use crate::error::Result;
use crate::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing,
    ExclusionPolicy, FreezeThaw, LiveRead, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
};
use crate::report::Report;
use crate::server::ConflictBehavior;
use crate::sim::{BACKUP_DRIVE, Fault, SERVER_HD, Scenario, Traffic, UnsyncedWrites};
use crate::time::TimeOfDay;

/// The server's reaction: a fixed [`ConflictBehavior`], or `None` for the
/// KB's draw.
pub fn arb_conflict() -> impl Strategy<Value = Option<ConflictBehavior>> {
    prop_oneof![
        Just(None),
        Just(Some(ConflictBehavior::Shutdown)),
        Just(Some(ConflictBehavior::Hang)),
        Just(Some(ConflictBehavior::Tolerate)),
    ]
}

/// How the backup treats held files, with its knobs.
pub fn arb_open_files() -> impl Strategy<Value = OpenFilePolicy> {
    prop_oneof![
        2 => Just(OpenFilePolicy::IgnoreLocks),
        1 => (0u32..4, 1u64..600).prop_map(|(retries, s)| OpenFilePolicy::RespectLocks {
            retries,
            interval: Duration::from_secs(s),
        }),
        1 => (1u64..900, 0u64..3600).prop_map(|(idle, timeout)| OpenFilePolicy::WaitForIdle {
            idle: Duration::from_secs(idle),
            timeout: Duration::from_secs(timeout),
        }),
    ]
}

/// Exclusions: none, each of the KB's, others, and combinations.
pub fn arb_exclusion() -> impl Strategy<Value = Arc<dyn ExclusionPolicy>> {
    let one = prop_oneof![
        Just(Arc::new(ExcludeFolder::new("System Folder")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFolder::new("Extensions")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFile::new("Microsoft Mail Data")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFolder::new("Documents")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeGlob::new("*Mail*")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeGlob::new("Server HD:Applications:*")) as Arc<dyn ExclusionPolicy>),
    ];
    prop_oneof![
        3 => Just(Arc::new(ExcludeNothing) as Arc<dyn ExclusionPolicy>),
        3 => one.clone(),
        1 => proptest::collection::vec(one, 2..4).prop_map(|ps| {
            Arc::new(ps.into_iter().fold(ExcludeAny::new(), ExcludeAny::with_arc)) as Arc<dyn ExclusionPolicy>
        }),
    ]
}

/// Every built-in snapshot policy, with its knobs.
pub fn arb_snapshot() -> impl Strategy<Value = Arc<dyn SnapshotPolicy>> {
    prop_oneof![
        3 => Just(Arc::new(LiveRead) as Arc<dyn SnapshotPolicy>),
        1 => any::<bool>().prop_map(|b| Arc::new(StopServer::default().restart_after_file(b)) as Arc<dyn SnapshotPolicy>),
        1 => (0u32..4, 1u32..5, prop::option::of(1u32..3)).prop_map(|(h, keep, missed)| {
            let mut p = ScheduledCopy::default().at(TimeOfDay::hm(h, 0)).keep(keep);
            if let Some(n) = missed {
                p = p.not_loaded_on(n);
            }
            Arc::new(p) as Arc<dyn SnapshotPolicy>
        }),
        1 => Just(Arc::new(CopyOnWrite) as Arc<dyn SnapshotPolicy>),
        1 => (0u64..20, 1u64..15, 0u32..3, any::<bool>()).prop_map(|(snap, hold, retries, veto)| {
            Arc::new(
                FreezeThaw::default()
                    .snapshot_time(Duration::from_secs(snap))
                    .hold_writes_limit(Duration::from_secs(hold))
                    .retries(retries)
                    .writer_vetoes(veto),
            ) as Arc<dyn SnapshotPolicy>
        }),
        1 => (1u64..400, 0u32..12).prop_map(|(pages, restarts)| {
            Arc::new(OnlineCopy::default().pages_per_step(pages).max_restarts(restarts)) as Arc<dyn SnapshotPolicy>
        }),
    ]
}

/// The night's mail traffic: when it starts and ends, and how heavy it is.
pub fn arb_traffic() -> impl Strategy<Value = Traffic> {
    (
        21u32..24,
        0u32..4,
        prop_oneof![Just(0u32), 10u32..200, 200u32..2_000],
    )
        .prop_map(|(start, end, rate)| {
            Traffic::new(TimeOfDay::hm(start, 0), TimeOfDay::hm(end, 0), rate)
        })
}

fn arb_unsynced() -> impl Strategy<Value = UnsyncedWrites> {
    prop_oneof![
        Just(UnsyncedWrites::Keep),
        Just(UnsyncedWrites::Drop),
        Just(UnsyncedWrites::Garble)
    ]
}

/// One fault of each kind, at some point of the night.
pub fn arb_fault() -> impl Strategy<Value = Fault> {
    let volume = prop_oneof![Just(SERVER_HD.to_owned()), Just(BACKUP_DRIVE.to_owned())];
    prop_oneof![
        (volume.clone(), 1u64..800).prop_map(|(volume, nth)| Fault::ReadError { volume, nth }),
        (1u64..400).prop_map(|nth| Fault::WriteError { nth }),
        (0u64..8 << 20).prop_map(|capacity_bytes| Fault::DiskFull {
            volume: BACKUP_DRIVE.to_owned(),
            capacity_bytes,
        }),
        (1u64..600, arb_unsynced())
            .prop_map(|(at_sync, unsynced)| Fault::ServerCrash { at_sync, unsynced }),
        (1u64..600).prop_map(|at_step| Fault::BackupCrash { at_step }),
        (1u32..3).prop_map(|night| Fault::ControlPanelNotLoaded { night }),
    ]
}

/// No fault most of the time, sometimes one, rarely two.
pub fn arb_faults() -> impl Strategy<Value = Vec<Fault>> {
    prop_oneof![
        3 => Just(Vec::new()),
        2 => proptest::collection::vec(arb_fault(), 1..3),
    ]
}

/// A choice record: any sequence of numbers is a night (see
/// [`Scenario::replay`]). It shrinks the way choice records shrink well:
/// first to the shortest prefix that still fails (the night's beginning
/// kept, the rest answered 0), then each choice towards 0.
pub fn arb_choices() -> ChoicesStrategy {
    ChoicesStrategy { max_len: 2_500 }
}

/// The strategy of [`arb_choices`].
#[derive(Clone, Copy, Debug)]
pub struct ChoicesStrategy {
    max_len: usize,
}

impl Strategy for ChoicesStrategy {
    type Tree = ChoicesTree;
    type Value = Choices;

    fn new_tree(
        &self,
        runner: &mut proptest::test_runner::TestRunner,
    ) -> proptest::strategy::NewTree<Self> {
        use proptest::prelude::Rng as _;
        let rng = runner.rng();
        let len = (rng.next_u64() % (self.max_len as u64 + 1)) as usize;
        let values: Vec<u32> = (0..len).map(|_| rng.next_u32()).collect();
        Ok(ChoicesTree {
            accepted: values.clone(),
            candidate: values,
            phase: Phase::Length { lo: 0, hi: len },
            steps: 0,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Binary search for the shortest failing prefix: `hi` fails, below
    /// `lo` nothing is known to fail.
    Length {
        lo: usize,
        hi: usize,
    },
    /// Shrinking choice `i` towards 0.
    Value {
        i: usize,
    },
    Done,
}

/// The shrinking state of a choice record.
#[derive(Clone, Debug)]
pub struct ChoicesTree {
    /// The smallest record known to fail.
    accepted: Vec<u32>,
    /// The record under test.
    candidate: Vec<u32>,
    phase: Phase,
    steps: u32,
}

impl ChoicesTree {
    const MAX_STEPS: u32 = 2_000;

    fn propose(&mut self) -> bool {
        loop {
            if self.steps >= Self::MAX_STEPS {
                self.phase = Phase::Done;
            }
            match self.phase {
                Phase::Length { lo, hi } => {
                    if lo >= hi {
                        self.phase = Phase::Value { i: 0 };
                        continue;
                    }
                    let mid = lo + (hi - lo) / 2;
                    self.candidate = self.accepted[..mid].to_vec();
                    self.steps += 1;
                    return true;
                }
                Phase::Value { i } => {
                    let Some(&v) = self.accepted.get(i) else {
                        self.phase = Phase::Done;
                        continue;
                    };
                    if v == 0 {
                        self.phase = Phase::Value { i: i + 1 };
                        continue;
                    }
                    self.candidate = self.accepted.clone();
                    // Straight to 0 first; then halving.
                    self.candidate[i] = if v > 1 && !self.steps.is_multiple_of(2) {
                        v / 2
                    } else {
                        0
                    };
                    self.steps += 1;
                    return true;
                }
                Phase::Done => return false,
            }
        }
    }
}

impl proptest::strategy::ValueTree for ChoicesTree {
    type Value = Choices;

    fn current(&self) -> Choices {
        Choices::from(self.candidate.clone())
    }

    /// The candidate still fails: keep it, and try something smaller.
    fn simplify(&mut self) -> bool {
        self.accepted.clone_from(&self.candidate);
        if let Phase::Length { lo, .. } = self.phase {
            self.phase = Phase::Length {
                lo,
                hi: self.accepted.len(),
            };
        }
        self.propose()
    }

    /// The candidate passes: back to the last failing record, another try.
    fn complicate(&mut self) -> bool {
        match self.phase {
            Phase::Length { hi, .. } => {
                self.phase = Phase::Length {
                    lo: self.candidate.len() + 1,
                    hi,
                };
            }
            Phase::Value { i } => {
                // Halving this one failed too: move on.
                if self.candidate[i] == 0 && self.accepted[i] > 1 && self.steps.is_multiple_of(2) {
                    self.steps += 1;
                } else {
                    self.phase = Phase::Value { i: i + 1 };
                }
            }
            Phase::Done => {}
        }
        self.candidate.clone_from(&self.accepted);
        self.propose()
    }
}

/// Whole scenarios: conflict behaviors, open-file policies, exclusions,
/// snapshot policies and their knobs, traffic, backup times, nights and
/// faults, all varied. Use [`Scenarios`] to fix some parts.
pub fn arb_scenario() -> BoxedStrategy<Scenario> {
    Scenarios::default().strategy()
}

/// A night: a scenario and the choice record that drives it. Running it
/// replays the record, so a failing night shrinks in both its parameters and
/// its choices, and the counterexample replays exactly.
pub fn arb_night() -> BoxedStrategy<Night> {
    Scenarios::default().nights()
}

/// A scenario and a choice record.
#[derive(Clone)]
pub struct Night {
    /// The scenario.
    pub scenario: Scenario,
    /// The choices that drive it.
    pub choices: Choices,
}

impl Night {
    /// Runs the night: replays the choice record.
    pub fn run(&self) -> Result<Report> {
        self.scenario.replay(&self.choices)
    }
}

impl fmt::Debug for Night {
    /// As a scenario file where it can be one, so a failure can be saved and
    /// replayed with `mailsim run --scenario FILE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scenario.to_json(Some(&self.choices)) {
            Ok(json) => f.write_str(&json),
            Err(_) => f
                .debug_struct("Night")
                .field("scenario", &self.scenario)
                .field("choices", &self.choices)
                .finish(),
        }
    }
}

/// A strategy over scenarios with some parts fixed and the rest varied:
///
/// ```
/// use std::sync::Arc;
/// use mailsim::policy::CopyOnWrite;
/// use mailsim::testing::Scenarios;
/// // Your policy, every kind of night around it.
/// let strategy = Scenarios::default().snapshot(Arc::new(CopyOnWrite)).strategy();
/// # let _ = strategy;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scenarios {
    conflict: Option<Option<ConflictBehavior>>,
    open_files: Option<OpenFilePolicy>,
    exclusion: Option<Arc<dyn ExclusionPolicy>>,
    snapshot: Option<Arc<dyn SnapshotPolicy>>,
    faults: Option<Vec<Fault>>,
    nights: Option<u32>,
}

impl Scenarios {
    /// Fixes the server's reaction (`None`: the KB's draw).
    pub fn conflict(mut self, behavior: Option<ConflictBehavior>) -> Scenarios {
        self.conflict = Some(behavior);
        self
    }

    /// Fixes the open-file policy.
    pub fn open_files(mut self, policy: OpenFilePolicy) -> Scenarios {
        self.open_files = Some(policy);
        self
    }

    /// Fixes the exclusion policy (your own, say).
    pub fn exclusion(mut self, policy: Arc<dyn ExclusionPolicy>) -> Scenarios {
        self.exclusion = Some(policy);
        self
    }

    /// Fixes the snapshot policy (your own, say).
    pub fn snapshot(mut self, policy: Arc<dyn SnapshotPolicy>) -> Scenarios {
        self.snapshot = Some(policy);
        self
    }

    /// Fixes the faults (an empty list: none).
    pub fn faults(mut self, faults: Vec<Fault>) -> Scenarios {
        self.faults = Some(faults);
        self
    }

    /// Fixes the number of nights.
    pub fn nights_per_run(mut self, nights: u32) -> Scenarios {
        self.nights = Some(nights);
        self
    }

    /// The strategy: fixed parts as given, the rest varied.
    pub fn strategy(self) -> BoxedStrategy<Scenario> {
        let conflict = match self.conflict {
            Some(c) => Just(c).boxed(),
            None => arb_conflict().boxed(),
        };
        let open_files = match self.open_files {
            Some(p) => Just(p).boxed(),
            None => arb_open_files().boxed(),
        };
        let exclusion = match self.exclusion {
            Some(p) => Just(p).boxed(),
            None => arb_exclusion().boxed(),
        };
        let snapshot = match self.snapshot {
            Some(p) => Just(p).boxed(),
            None => arb_snapshot().boxed(),
        };
        let faults = match self.faults {
            Some(f) => Just(f).boxed(),
            None => arb_faults().boxed(),
        };
        let nights = match self.nights {
            Some(n) => Just(n).boxed(),
            None => prop_oneof![4 => Just(1u32), 1 => 2u32..4].boxed(),
        };
        let times = (
            prop_oneof![3 => Just(1u32), 1 => 0u32..4],
            prop_oneof![3 => Just(8u32), 1 => 2u32..9],
            0.0f64..=1.0,
        );
        (
            (any::<u64>(), conflict, open_files, exclusion, snapshot),
            (faults, nights, arb_traffic(), times),
        )
            .prop_map(
                |(
                    (seed, conflict, open_files, exclusion, snapshot),
                    (faults, nights, traffic, (backup, admin, p)),
                )| {
                    let mut s = Scenario::kb98097()
                        .seed(seed)
                        .open_files(open_files)
                        .exclusion_arc(exclusion)
                        .snapshot_arc(snapshot)
                        .nights(nights)
                        .traffic(traffic)
                        .backup_at(TimeOfDay::hm(backup, 0))
                        .admin_at(TimeOfDay::hm(admin, 0));
                    s = match conflict {
                        Some(b) => s.conflict_behavior(b),
                        None => s.kb_conflict(p),
                    };
                    faults.into_iter().fold(s, Scenario::fault)
                },
            )
            .boxed()
    }

    /// Nights: these scenarios, each driven by a shrinkable choice record.
    pub fn nights(self) -> BoxedStrategy<Night> {
        (self.strategy(), arb_choices())
            .prop_map(|(scenario, choices)| Night { scenario, choices })
            .boxed()
    }
}
