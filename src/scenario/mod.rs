//! What a night is made of: the [`Scenario`] and its builder, the KB
//! preset's volumes, the traffic, injected [`Fault`]s and scenario files.
//!
//! A scenario is immutable configuration, read by the rules of the night
//! (`night`) and run by its drivers: `Scenario::run` (the simulator, `sim`),
//! `Scenario::run_real` (`real`), the explorer (`testing`). What does not
//! live here: any rule of the night, or any driver.

mod fault;
mod file;
pub(crate) mod preset;
mod token;
pub(crate) mod traffic;
pub(crate) mod unsupplied;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use fault::draw_faults;
pub use fault::{Fault, UnsyncedWrites};
pub use file::{MAX_SCENARIO_FILE_BYTES, SCENARIO_SCHEMA, SCENARIO_VERSION, ScenarioFile};
pub use preset::{BACKUP_DRIVE, MAIL_DATA, SERVER_HD, mail_data_path};
pub use traffic::{Request, RequestMix, Requests};

/// Fresh copies of the preset's volumes.
pub(crate) fn prototype_volumes() -> (crate::volume::SimVolume, crate::volume::SimVolume) {
    preset::volumes()
}

use crate::backup::{BackupSpeed, OpenFilePolicy};
use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::policy::{ExcludeNothing, ExclusionPolicy, LiveRead, SnapshotPolicy};
use crate::server::ConflictBehavior;
use crate::time::TimeOfDay;

/// The mail traffic of a night: requests arrive between `start` and `end`,
/// in bursts, at `requests_per_hour` on average; half are deliveries, a third
/// reads, the rest deletions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Traffic {
    /// First possible arrival.
    pub start: TimeOfDay,
    /// No arrival after this.
    pub end: TimeOfDay,
    /// Mean arrival rate.
    pub requests_per_hour: u32,
}

impl Traffic {
    /// Traffic between `start` and `end` at `requests_per_hour`.
    pub const fn new(start: TimeOfDay, end: TimeOfDay, requests_per_hour: u32) -> Traffic {
        Traffic {
            start,
            end,
            requests_per_hour,
        }
    }

    /// No traffic at all.
    pub const fn none() -> Traffic {
        Traffic::new(TimeOfDay::hm(23, 0), TimeOfDay::hm(23, 0), 0)
    }
}

impl Default for Traffic {
    /// The KB night's: 23:00 to 02:00, 100 requests an hour.
    fn default() -> Self {
        Traffic::new(TimeOfDay::hm(23, 0), TimeOfDay::hm(2, 0), 100)
    }
}

#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) seed: u64,
    pub(crate) nights: u32,
    pub(crate) conflict: Option<ConflictBehavior>,
    pub(crate) shutdown_probability: f64,
    pub(crate) exclusion: Arc<dyn ExclusionPolicy>,
    pub(crate) snapshot: Arc<dyn SnapshotPolicy>,
    pub(crate) open_files: OpenFilePolicy,
    pub(crate) backup_at: TimeOfDay,
    pub(crate) admin_at: TimeOfDay,
    pub(crate) traffic: Traffic,
    pub(crate) speed: BackupSpeed,
    pub(crate) hang_threshold: Duration,
    pub(crate) real_scale: u32,
    pub(crate) faults: Vec<Fault>,
    /// The night to replay instead of drawing one from the seed (a
    /// scenario rebuilt from a replay token).
    pub(crate) choices: Option<Choices>,
}

/// A night (or several) to simulate: the KB's preset plus the
/// administrator's choices. Build it with chained setters, then
/// [`run`](Scenario::run) it.
///
/// ```
/// use mailsim::{ConflictBehavior, Outcome, Scenario};
/// let report = Scenario::kb98097()
///     .seed(7)
///     .conflict_behavior(ConflictBehavior::Shutdown)
///     .run()?;
/// assert_eq!(report.outcome(), Outcome::GracefulShutdown);
/// # Ok::<(), mailsim::Error>(())
/// ```
#[derive(Clone)]
pub struct Scenario {
    pub(crate) opts: Options,
}

impl Scenario {
    /// The night of KB Q98097: "Server HD" with its System Folder (System,
    /// Finder, Control Panels, Extensions holding the Microsoft Mail Server
    /// extension and "Microsoft Mail Data"), applications and documents (about
    /// 30 MB); an empty "Backup Drive"; mail traffic from 23:00 to 02:00;
    /// Retrospect Remote at 01:00 archiving both volumes over LocalTalk,
    /// ignoring locks; the administrator at 08:00. The server's reaction to a
    /// foreign access is drawn: usually shut down (0.9), sometimes hang.
    pub fn kb98097() -> Scenario {
        Scenario {
            opts: Options {
                seed: 0,
                nights: 1,
                conflict: None,
                shutdown_probability: 0.9,
                exclusion: Arc::new(ExcludeNothing),
                snapshot: Arc::new(LiveRead),
                open_files: OpenFilePolicy::IgnoreLocks,
                backup_at: TimeOfDay::hm(1, 0),
                admin_at: TimeOfDay::hm(8, 0),
                traffic: Traffic::default(),
                speed: BackupSpeed::default(),
                hang_threshold: Duration::from_secs(5 * 60),
                real_scale: 7_200,
                faults: Vec::new(),
                choices: None,
            },
        }
    }

    /// The same as [`Scenario::kb98097`]: the preset is the starting point of
    /// every scenario.
    pub fn new() -> Scenario {
        Scenario::kb98097()
    }

    /// Seed of the chooser's random source.
    pub fn seed(mut self, seed: u64) -> Scenario {
        self.opts.seed = seed;
        self
    }

    /// Number of consecutive nights, on the same volumes.
    pub fn nights(mut self, nights: u32) -> Scenario {
        self.opts.nights = nights;
        self
    }

    /// A fixed reaction to a foreign access.
    pub fn conflict_behavior(mut self, behavior: ConflictBehavior) -> Scenario {
        self.opts.conflict = Some(behavior);
        self
    }

    /// The KB's reaction: drawn at each foreign access, shut down with
    /// `shutdown_probability`, hang otherwise (the preset's default, 0.9).
    pub fn kb_conflict(mut self, shutdown_probability: f64) -> Scenario {
        self.opts.conflict = None;
        self.opts.shutdown_probability = shutdown_probability;
        self
    }

    /// What the backup skips.
    pub fn exclusion(self, policy: impl ExclusionPolicy + 'static) -> Scenario {
        self.exclusion_arc(Arc::new(policy))
    }

    /// What the backup skips, as a shared policy.
    pub fn exclusion_arc(mut self, policy: Arc<dyn ExclusionPolicy>) -> Scenario {
        self.opts.exclusion = policy;
        self
    }

    /// How a consistent copy of the live file comes to exist.
    pub fn snapshot(self, policy: impl SnapshotPolicy + 'static) -> Scenario {
        self.snapshot_arc(Arc::new(policy))
    }

    /// How a consistent copy comes to exist, as a shared policy.
    pub fn snapshot_arc(mut self, policy: Arc<dyn SnapshotPolicy>) -> Scenario {
        self.opts.snapshot = policy;
        self
    }

    /// How the backup treats files held open.
    pub fn open_files(mut self, policy: OpenFilePolicy) -> Scenario {
        self.opts.open_files = policy;
        self
    }

    /// When Retrospect Remote starts (default 01:00).
    pub fn backup_at(mut self, at: TimeOfDay) -> Scenario {
        self.opts.backup_at = at;
        self
    }

    /// When the administrator arrives and restarts a server that is down or
    /// hung (default 08:00).
    pub fn admin_at(mut self, at: TimeOfDay) -> Scenario {
        self.opts.admin_at = at;
        self
    }

    /// The night's mail traffic.
    pub fn traffic(mut self, traffic: Traffic) -> Scenario {
        self.opts.traffic = traffic;
        self
    }

    /// How fast the backup reads and in what chunks.
    pub fn backup_speed(mut self, speed: BackupSpeed) -> Scenario {
        self.opts.speed = speed;
        self
    }

    /// How long a server must go unanswering to count as hung (default 5 min).
    pub fn hang_threshold(mut self, threshold: Duration) -> Scenario {
        self.opts.hang_threshold = threshold;
        self
    }

    /// Injects a fault (several may be injected).
    pub fn fault(mut self, fault: Fault) -> Scenario {
        self.opts.faults.push(fault);
        self
    }

    /// The faults injected.
    pub fn faults(&self) -> &[Fault] {
        &self.opts.faults
    }

    /// The seed.
    pub fn seed_value(&self) -> u64 {
        self.opts.seed
    }

    /// The fixed conflict behavior, or `None` when the KB's draw decides.
    pub fn conflict(&self) -> Option<ConflictBehavior> {
        self.opts.conflict
    }

    /// The snapshot policy.
    pub fn snapshot_policy(&self) -> &Arc<dyn SnapshotPolicy> {
        &self.opts.snapshot
    }

    /// The exclusion policy.
    pub fn exclusion_policy(&self) -> &Arc<dyn ExclusionPolicy> {
        &self.opts.exclusion
    }

    /// The open-file policy.
    pub fn open_file_policy(&self) -> OpenFilePolicy {
        self.opts.open_files
    }

    /// Checks the scenario's settings without running it: the error a run
    /// would give for them, naming the setting at fault.
    ///
    /// A scenario read from a file or a replay token that names a policy
    /// of its own is refused until the policy is supplied (with
    /// [`snapshot`](Scenario::snapshot) or [`exclusion`](Scenario::exclusion)),
    /// the error naming the policy.
    pub fn validate(&self) -> Result<()> {
        unsupplied::check(&self.opts)?;
        self.validate_settings()
    }

    /// [`validate`](Scenario::validate), but for the policies a file or a
    /// token names without building them: what a scenario must pass to be
    /// loaded at all.
    pub(crate) fn validate_settings(&self) -> Result<()> {
        let o = &self.opts;
        if !(0.0..=1.0).contains(&o.shutdown_probability) {
            return Err(Error::invalid(
                "shutdown_probability",
                format!("{} is not between 0 and 1", o.shutdown_probability),
            ));
        }
        if o.nights == 0 || o.nights > 10_000 {
            return Err(Error::invalid(
                "nights",
                format!("{} is not in 1..=10000", o.nights),
            ));
        }
        if o.traffic.requests_per_hour > 100_000 {
            return Err(Error::invalid(
                "requests_per_hour",
                format!("{} is more than 100000", o.traffic.requests_per_hour),
            ));
        }
        // Virtual time counts microseconds: a shorter threshold is none.
        if o.hang_threshold < Duration::from_micros(1) {
            return Err(Error::invalid(
                "hang_threshold",
                "must be at least a microsecond",
            ));
        }
        for f in &o.faults {
            match f {
                Fault::ReadError { volume, .. } | Fault::DiskFull { volume, .. }
                    if volume != SERVER_HD && volume != BACKUP_DRIVE =>
                {
                    return Err(Error::invalid(
                        "faults",
                        format!("no volume named {volume:?}"),
                    ));
                }
                Fault::ReadError { nth: 0, .. }
                | Fault::WriteError { nth: 0 }
                | Fault::ServerCrash { at_sync: 0, .. }
                | Fault::BackupCrash { at_step: 0 }
                | Fault::ControlPanelNotLoaded { night: 0 } => {
                    return Err(Error::invalid(
                        "faults",
                        format!("{}: counts start at 1", f.kind()),
                    ));
                }
                _ => {}
            }
        }
        if o.real_scale == 0 {
            return Err(Error::invalid("real_scale", "must be positive"));
        }
        o.speed.validate()
    }

    /// How many virtual seconds pass per real second in
    /// [`run_real`](Scenario::run_real) (default 7,200: a KB night in a few
    /// seconds, less the idle time skipped).
    pub fn real_scale(mut self, scale: u32) -> Scenario {
        self.opts.real_scale = scale;
        self
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::kb98097()
    }
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.opts;
        f.debug_struct("Scenario")
            .field("seed", &o.seed)
            .field("nights", &o.nights)
            .field("conflict", &o.conflict)
            .field("shutdown_probability", &o.shutdown_probability)
            .field("exclusion", &o.exclusion)
            .field("snapshot", &o.snapshot)
            .field("open_files", &o.open_files)
            .field("backup_at", &o.backup_at)
            .field("admin_at", &o.admin_at)
            .field("traffic", &o.traffic)
            .field("speed", &o.speed)
            .field("hang_threshold", &o.hang_threshold)
            .field("faults", &o.faults)
            .finish()
    }
}
