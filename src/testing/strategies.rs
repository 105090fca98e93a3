//! Proptest strategies over nights and their parts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, NewTree, ValueTree};
use proptest::test_runner::TestRunner;

use super::shrink::arb_choices;
use crate::backup::OpenFilePolicy;
type BoxedValueTree<T> = Box<dyn ValueTree<Value = T>>;
use crate::backup::BackupSpeed;
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
    Scenarios::default().night_strategy()
}

/// A scenario and the choice record that drives it: what proptest
/// generates, shrinks and prints.
#[derive(Clone)]
pub struct Night {
    /// The scenario.
    pub scenario: Scenario,
    /// The choices that drive it, each stream's apart.
    pub choices: Choices,
}

impl Night {
    /// Runs the night: replays the choice record.
    pub fn run(&self) -> Result<Report> {
        self.scenario.replay(&self.choices)
    }

    /// The night's replay token: [`Scenario::from_replay_token`] rebuilds
    /// it (`mailsim run --replay TOKEN` for built-in policies).
    pub fn replay_token(&self) -> String {
        self.scenario.to_replay_token(&self.choices)
    }
}

impl fmt::Debug for Night {
    /// The replay token and the lines of code that replay it — what a
    /// failing property test prints, instead of the choices one by one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.replay_token();
        let (snapshot, exclusion) = crate::scenario::unsupplied::own_policies(&self.scenario.opts);
        writeln!(f, "Night {{ replay token: {token} }}")?;
        writeln!(f, "// replay it:")?;
        writeln!(
            f,
            "let night = mailsim::Scenario::from_replay_token(\"{token}\")?;"
        )?;
        let mut supply = String::new();
        if let Some(name) = exclusion {
            supply += &format!(".exclusion(/* your exclusion {name:?} */)");
        }
        if let Some(name) = snapshot {
            supply += &format!(".snapshot(/* your policy {name:?} */)");
        }
        writeln!(f, "let report = night{supply}.run()?;")?;
        write!(f, "mailsim::testing::check_sound(&report)?;")
    }
}

/// A strategy over scenarios with some parts fixed and the rest varied. Its
/// setters are [`Scenario`]'s, with the same names and arguments; what is
/// not set is varied.
///
/// ```
/// use mailsim::policy::CopyOnWrite;
/// use mailsim::testing::Scenarios;
/// use mailsim::{ConflictBehavior, TimeOfDay};
/// // Your policy, every kind of night around it...
/// let scenarios = Scenarios::default().snapshot(CopyOnWrite).strategy();
/// // ... or only single nights of a tolerant server, backed up at 02:00,
/// // each driven by a shrinkable choice record.
/// let nights = Scenarios::default()
///     .snapshot(CopyOnWrite)
///     .conflict_behavior(ConflictBehavior::Tolerate)
///     .backup_at(TimeOfDay::hm(2, 0))
///     .nights(1)
///     .night_strategy();
/// # let _ = (scenarios, nights);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scenarios {
    conflict: Option<Option<ConflictBehavior>>,
    open_files: Option<OpenFilePolicy>,
    exclusion: Option<Arc<dyn ExclusionPolicy>>,
    snapshot: Option<Arc<dyn SnapshotPolicy>>,
    faults: Option<Vec<Fault>>,
    nights: Option<u32>,
    traffic: Option<Traffic>,
    backup_at: Option<TimeOfDay>,
    admin_at: Option<TimeOfDay>,
    speed: Option<BackupSpeed>,
    hang_threshold: Option<Duration>,
    shutdown_probability: Option<f64>,
}

impl Scenarios {
    /// Fixes the server's reaction (`None`: the KB's draw).
    pub fn conflict(mut self, behavior: Option<ConflictBehavior>) -> Scenarios {
        self.conflict = Some(behavior);
        self
    }

    /// Fixes the server's reaction, as [`Scenario::conflict_behavior`].
    pub fn conflict_behavior(self, behavior: ConflictBehavior) -> Scenarios {
        self.conflict(Some(behavior))
    }

    /// Fixes the server's reaction to the KB's draw with this probability
    /// of a shutdown, as [`Scenario::kb_conflict`] (what the draw picks is
    /// varied).
    pub fn kb_conflict(mut self, shutdown_probability: f64) -> Scenarios {
        self.shutdown_probability = Some(shutdown_probability);
        self.conflict(None)
    }

    /// Fixes the open-file policy, as [`Scenario::open_files`].
    pub fn open_files(mut self, policy: OpenFilePolicy) -> Scenarios {
        self.open_files = Some(policy);
        self
    }

    /// Fixes the exclusion policy (your own, say), as [`Scenario::exclusion`].
    pub fn exclusion(self, policy: impl ExclusionPolicy + 'static) -> Scenarios {
        self.exclusion_arc(Arc::new(policy))
    }

    /// Fixes the exclusion policy, shared, as [`Scenario::exclusion_arc`].
    pub fn exclusion_arc(mut self, policy: Arc<dyn ExclusionPolicy>) -> Scenarios {
        self.exclusion = Some(policy);
        self
    }

    /// Fixes the snapshot policy (your own, say), as [`Scenario::snapshot`].
    pub fn snapshot(self, policy: impl SnapshotPolicy + 'static) -> Scenarios {
        self.snapshot_arc(Arc::new(policy))
    }

    /// Fixes the snapshot policy, shared, as [`Scenario::snapshot_arc`].
    pub fn snapshot_arc(mut self, policy: Arc<dyn SnapshotPolicy>) -> Scenarios {
        self.snapshot = Some(policy);
        self
    }

    /// Fixes the faults (an empty list: none).
    pub fn faults(mut self, faults: Vec<Fault>) -> Scenarios {
        self.faults = Some(faults);
        self
    }

    /// Fixes the faults, adding one, as [`Scenario::fault`]: the faults are
    /// then those added, and no others.
    pub fn fault(mut self, fault: Fault) -> Scenarios {
        self.faults.get_or_insert_with(Vec::new).push(fault);
        self
    }

    /// Fixes the number of nights in a row, as [`Scenario::nights`].
    pub fn nights(mut self, nights: u32) -> Scenarios {
        self.nights = Some(nights);
        self
    }

    /// Fixes the number of nights.
    #[deprecated(note = "use `Scenarios::nights(n)`, as `Scenario::nights(n)`")]
    pub fn nights_per_run(self, nights: u32) -> Scenarios {
        self.nights(nights)
    }

    /// Fixes the mail traffic, as [`Scenario::traffic`].
    pub fn traffic(mut self, traffic: Traffic) -> Scenarios {
        self.traffic = Some(traffic);
        self
    }

    /// Fixes when the backup starts, as [`Scenario::backup_at`].
    pub fn backup_at(mut self, at: TimeOfDay) -> Scenarios {
        self.backup_at = Some(at);
        self
    }

    /// Fixes when the administrator comes in, as [`Scenario::admin_at`].
    pub fn admin_at(mut self, at: TimeOfDay) -> Scenarios {
        self.admin_at = Some(at);
        self
    }

    /// Fixes the backup's speed, as [`Scenario::backup_speed`] (the
    /// preset's LocalTalk unless set: it is not varied).
    pub fn backup_speed(mut self, speed: BackupSpeed) -> Scenarios {
        self.speed = Some(speed);
        self
    }

    /// Fixes the hang threshold, as [`Scenario::hang_threshold`] (the
    /// preset's 5 minutes unless set: it is not varied).
    pub fn hang_threshold(mut self, threshold: Duration) -> Scenarios {
        self.hang_threshold = Some(threshold);
        self
    }

    /// The strategy of scenarios, each run from its seed: fixed parts as
    /// given, the rest varied.
    pub fn strategy(self) -> BoxedStrategy<Scenario> {
        let p = match self.shutdown_probability {
            Some(p) => Just(p).boxed(),
            None => (0.0f64..=1.0).boxed(),
        };
        self.build(any::<u64>().boxed(), p)
    }

    /// The strategy of [`Night`]s: these scenarios, each driven by a
    /// shrinkable choice record ([`arb_choices`]). What a replayed night
    /// does not read — the seed, the KB draw's probability — is fixed, so
    /// that shrinking spends nothing on it.
    pub fn night_strategy(self) -> BoxedStrategy<Night> {
        let varied = Varied {
            exclusion: self.exclusion.is_none(),
            faults: self.faults.is_none(),
            nights: self.nights.is_none(),
        };
        let p = Just(self.shutdown_probability.unwrap_or(0.9)).boxed();
        NightStrategy {
            scenarios: self.build(Just(0).boxed(), p),
            varied,
        }
        .boxed()
    }

    fn build(self, seed: BoxedStrategy<u64>, p: BoxedStrategy<f64>) -> BoxedStrategy<Scenario> {
        fn fixed<T: Clone + fmt::Debug + 'static>(
            v: Option<T>,
            or: impl Strategy<Value = T> + 'static,
        ) -> BoxedStrategy<T> {
            match v {
                Some(v) => Just(v).boxed(),
                None => or.boxed(),
            }
        }
        let conflict = fixed(self.conflict, arb_conflict());
        let open_files = fixed(self.open_files, arb_open_files());
        let exclusion = fixed(self.exclusion, arb_exclusion());
        let snapshot = fixed(self.snapshot, arb_snapshot());
        let faults = fixed(self.faults, arb_faults());
        let nights = fixed(self.nights, prop_oneof![4 => Just(1u32), 1 => 2u32..4]);
        let traffic = fixed(self.traffic, arb_traffic());
        let backup_at = fixed(
            self.backup_at,
            prop_oneof![3 => Just(1u32), 1 => 0u32..4].prop_map(|h| TimeOfDay::hm(h, 0)),
        );
        let admin_at = fixed(
            self.admin_at,
            prop_oneof![3 => Just(8u32), 1 => 2u32..9].prop_map(|h| TimeOfDay::hm(h, 0)),
        );
        let (speed, hang_threshold) = (self.speed, self.hang_threshold);
        (
            (seed, conflict, open_files, exclusion, snapshot),
            (faults, nights, traffic, (backup_at, admin_at, p)),
        )
            .prop_map(
                move |(
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
                        .backup_at(backup)
                        .admin_at(admin);
                    s = match conflict {
                        Some(b) => s.conflict_behavior(b),
                        None => s.kb_conflict(p),
                    };
                    if let Some(speed) = speed {
                        s = s.backup_speed(speed);
                    }
                    if let Some(t) = hang_threshold {
                        s = s.hang_threshold(t);
                    }
                    faults.into_iter().fold(s, Scenario::fault)
                },
            )
            .boxed()
    }
}

/// Which parts of a night's scenario the strategy varied (and may drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Varied {
    exclusion: bool,
    faults: bool,
    nights: bool,
}

/// The strategy of [`Scenarios::night_strategy`].
#[derive(Debug)]
struct NightStrategy {
    scenarios: BoxedStrategy<Scenario>,
    varied: Varied,
}

impl Strategy for NightStrategy {
    type Tree = NightTree;
    type Value = Night;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let scenario = self.scenarios.new_tree(runner)?;
        let choices = arb_choices().new_tree(runner)?;
        Ok(NightTree {
            original: choices.current(),
            current: Night {
                scenario: scenario.current(),
                choices: choices.current(),
            },
            scenario,
            choices,
            varied: self.varied,
            phase: NightPhase::Scenario,
            kept: None,
            extras: Vec::new(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NightPhase {
    /// proptest's shrinking of the scenario, the choices as generated.
    Scenario,
    /// The choices shrunk ([`ChoicesTree`]), the scenario as shrunk.
    Choices,
    /// The scenario without what the failure may not need — exclusions,
    /// faults, nights past the first — under the shrunk choices, then under
    /// the choices as generated: a scenario simplification that proptest
    /// rejected under the generated choices may hold under the shrunk ones
    /// (and the reverse), since both move the night's times.
    Extras,
    /// The choices shrunk again, under the scenario without its extras.
    ChoicesAgain,
    Done,
}

/// The shrinking state of a [`Night`]: the scenario, then its choices, then
/// the extras the failure does not need, then the choices again.
struct NightTree {
    scenario: BoxedValueTree<Scenario>,
    choices: super::shrink::ChoicesTree,
    /// The choices as generated.
    original: Choices,
    varied: Varied,
    phase: NightPhase,
    /// The smallest scenario known to fail once the scenario tree is done.
    kept: Option<Scenario>,
    /// The extras' candidates left to try.
    extras: Vec<Night>,
    current: Night,
}

impl fmt::Debug for NightTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NightTree")
            .field("phase", &self.phase)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

/// `choices` without the first `k` arrivals' choices.
fn shifted(choices: &Choices, k: usize) -> Choices {
    use crate::chooser::Stream;
    Choices::from_streams(Stream::ALL.map(|s| {
        let list = choices.stream(s).unwrap_or_default();
        let skip = if s == Stream::Arrivals {
            k.min(list.len())
        } else {
            0
        };
        (s, list[skip..].to_vec())
    }))
}

impl NightTree {
    /// The night of `scenario` without the extras in `drop`.
    /// What it drops is what `scenario` holds of `drop`, returned with it.
    fn without(&self, scenario: &Scenario, drop: Varied) -> Option<(Varied, Scenario)> {
        let mut s = scenario.clone();
        let o = &mut s.opts;
        let dropped = Varied {
            exclusion: drop.exclusion
                && self.varied.exclusion
                && o.exclusion
                    .as_any()
                    .is_none_or(|a| !a.is::<ExcludeNothing>()),
            faults: drop.faults && self.varied.faults && !o.faults.is_empty(),
            nights: drop.nights && self.varied.nights && o.nights > 1,
        };
        if dropped.exclusion {
            o.exclusion = Arc::new(ExcludeNothing);
        }
        if dropped.faults {
            o.faults.clear();
        }
        if dropped.nights {
            o.nights = 1;
        }
        (dropped.exclusion || dropped.faults || dropped.nights).then_some((dropped, s))
    }

    /// Enters the extras phase: its candidates, all extras dropped first,
    /// then each alone, each under the shrunk choices and the generated.
    fn enter_extras(&mut self) -> bool {
        self.phase = NightPhase::Extras;
        let base = self.kept.clone().unwrap_or_else(|| self.scenario.current());
        let shrunk = self.choices.current_accepted();
        let all = Varied {
            exclusion: true,
            faults: true,
            nights: true,
        };
        let one = |exclusion, faults, nights| Varied {
            exclusion,
            faults,
            nights,
        };
        let mut candidates = Vec::new();
        let mut tried = Vec::new();
        for drop in [
            all,
            one(true, false, false),
            one(false, true, false),
            one(false, false, true),
        ] {
            if let Some((dropped, s)) = self.without(&base, drop) {
                // Dropping all of one extra is dropping that extra.
                if tried.contains(&dropped) {
                    continue;
                }
                tried.push(dropped);
                candidates.push(Night {
                    scenario: s.clone(),
                    choices: shrunk.clone(),
                });
                // The generated choices, and a few shifts of their arrivals:
                // dense traffic, each a fresh chance at the night's window.
                for k in 0..=6 {
                    candidates.push(Night {
                        scenario: s.clone(),
                        choices: shifted(&self.original, k),
                    });
                }
            }
        }
        // Tried last first.
        candidates.reverse();
        self.extras = candidates;
        self.next_extra()
    }

    fn next_extra(&mut self) -> bool {
        match self.extras.pop() {
            Some(n) => {
                self.current = n;
                true
            }
            None => {
                self.phase = NightPhase::Done;
                self.current = Night {
                    scenario: self.kept.clone().unwrap_or_else(|| self.scenario.current()),
                    choices: self.choices.current_accepted(),
                };
                false
            }
        }
    }

    fn show(&mut self) {
        let scenario = match self.phase {
            NightPhase::Scenario => self.scenario.current(),
            _ => self.kept.clone().unwrap_or_else(|| self.scenario.current()),
        };
        self.current = Night {
            scenario,
            choices: self.choices.current(),
        };
    }
}

impl ValueTree for NightTree {
    type Value = Night;

    fn current(&self) -> Night {
        self.current.clone()
    }

    fn simplify(&mut self) -> bool {
        loop {
            match self.phase {
                NightPhase::Scenario => {
                    if self.scenario.simplify() {
                        self.show();
                        return true;
                    }
                    self.kept = Some(self.scenario.current());
                    self.phase = NightPhase::Choices;
                }
                NightPhase::Choices | NightPhase::ChoicesAgain => {
                    if self.choices.simplify() {
                        self.show();
                        return true;
                    }
                    if self.phase == NightPhase::ChoicesAgain {
                        self.phase = NightPhase::Done;
                        return false;
                    }
                    return self.enter_extras();
                }
                NightPhase::Extras => {
                    // The candidate fails: keep it, and shrink its choices.
                    self.kept = Some(self.current.scenario.clone());
                    self.choices = super::shrink::ChoicesTree::of(&self.current.choices);
                    self.extras.clear();
                    self.phase = NightPhase::ChoicesAgain;
                }
                NightPhase::Done => return false,
            }
        }
    }

    fn complicate(&mut self) -> bool {
        match self.phase {
            NightPhase::Scenario => {
                let more = self.scenario.complicate();
                self.show();
                if !more {
                    self.kept = Some(self.scenario.current());
                    self.phase = NightPhase::Choices;
                    return self.simplify();
                }
                true
            }
            NightPhase::Choices | NightPhase::ChoicesAgain => {
                let more = self.choices.complicate();
                self.show();
                if more {
                    return true;
                }
                if self.phase == NightPhase::ChoicesAgain {
                    self.phase = NightPhase::Done;
                    return false;
                }
                self.enter_extras()
            }
            NightPhase::Extras => self.next_extra(),
            NightPhase::Done => false,
        }
    }
}
