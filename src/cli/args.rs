//! Flags shared by the subcommands that build a [`Scenario`] (`run` and
//! `sweep`): conflict behavior, exclusions, open-file policy, nights,
//! traffic, and the snapshot policy with its knobs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mailsim::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy, FreezeThaw,
    LiveRead, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
};
use mailsim::sim::{BACKUP_DRIVE, SERVER_HD};
use mailsim::{ConflictBehavior, OpenFilePolicy, Scenario, TimeOfDay, Traffic};

/// Most nights a command runs in one scenario.
pub const MAX_NIGHTS: u32 = 366;

/// Bad input found after parsing: the command exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// How the server reacts when the backup opens its data file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Behavior {
    /// Always shut down gracefully.
    Shutdown,
    /// Always stop answering, still holding the file.
    Hang,
    /// Keep serving (unsafe: the copy may be torn).
    Tolerate,
    /// As the KB says: usually shut down, sometimes hang (drawn from the seed).
    #[default]
    Kb,
}

/// How the backup treats files another process holds open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OpenFiles {
    /// Open them anyway, as Retrospect Remote did in 1993.
    #[default]
    IgnoreLocks,
    /// Skip a file a writer holds (3 retries a minute apart).
    RespectLocks,
    /// Wait until the file has gone 2 minutes unwritten (30 minutes at most).
    WaitForIdle,
}

/// Which snapshot policy makes the copy the backup archives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SnapshotKind {
    /// No snapshot: the backup reads the live file (the KB's problem).
    #[default]
    Live,
    /// Stop the server before the backup reaches Mail Data and restart it
    /// after (KB remedy 3).
    StopServer,
    /// MS Mail Backup: copy Mail Data to another volume at a set time (KB
    /// remedy 4); exclude the live file too, or the conflict still happens.
    ScheduledCopy,
    /// Archive an instant point-in-time clone (FICLONE, an LVM or btrfs
    /// snapshot).
    CopyOnWrite,
    /// Windows VSS: freeze the server's writes, take a shadow copy, thaw.
    FreezeThaw,
    /// SQLite's backup API: copy pages in steps, start over when the server
    /// writes.
    OnlineCopy,
}

impl SnapshotKind {
    /// `--snapshot NAME`, as typed on the command line.
    fn flag(self) -> String {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        format!("--snapshot {name}")
    }
}

/// `--snapshot` and the knobs of each policy. Every knob is optional: one
/// left out keeps the built-in's default (the `Default` of its real
/// source), and one given with a policy it does not belong to is a usage
/// error.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Snapshot policy")]
pub struct SnapshotArgs {
    /// How a consistent copy of Mail Data comes to exist, and what the
    /// backup archives in place of the live file [default: live]
    ///
    /// The knobs below start with the policy they belong to; a knob of
    /// another policy is refused. A DURATION is seconds (`60`, `2.5`) or a
    /// number with a unit `ms`, `s`, `min` or `h` (`250ms`, `10min`).
    #[arg(long = "snapshot", value_enum, value_name = "POLICY")]
    pub kind: Option<SnapshotKind>,

    /// stop-server: restart the server as soon as Mail Data is archived,
    /// not when the whole backup is done.
    #[arg(long)]
    pub restart_after_file: bool,

    /// scheduled-copy: time of day of the copy, 24-hour HH:MM [default: 00:00]
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_of_day)]
    pub copy_at: Option<TimeOfDay>,

    /// scheduled-copy: copies kept, "Mail Data Backup #1" (newest) to "#N",
    /// from 1 to 1000 [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub keep: Option<u32>,

    /// scheduled-copy: volume the copies go to [default: "Backup Drive"]
    #[arg(long, value_name = "VOLUME", value_parser = parse_volume)]
    pub copy_to: Option<String>,

    /// scheduled-copy: the MS Mail Backup control panel fails to load on
    /// this night, from 1 to --nights, and silently makes no copy (KB
    /// Q68600; repeatable).
    #[arg(long, value_name = "NIGHT", value_parser = clap::value_parser!(u32).range(1..=MAX_NIGHTS as i64))]
    pub control_panel_fails_on: Vec<u32>,

    /// freeze-thaw: how long the writer may take to freeze, from 0 to 24h
    /// [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = duration_up_to_a_day, allow_hyphen_values = true)]
    pub freeze_timeout: Option<Duration>,

    /// freeze-thaw: how long writes may be held, from 0 to 24h [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = duration_up_to_a_day, allow_hyphen_values = true)]
    pub hold_writes_limit: Option<Duration>,

    /// freeze-thaw: how long making the shadow copy takes while writes are
    /// held, from 0 to 24h [default: 2s]
    #[arg(long, value_name = "DURATION", value_parser = duration_up_to_a_day, allow_hyphen_values = true)]
    pub snapshot_time: Option<Duration>,

    /// freeze-thaw: retries after a retryable failure, from 0 to 100
    /// [default: 3]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(..=100))]
    pub retries: Option<u32>,

    /// freeze-thaw: time between attempts, from 1ms to 24h [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = duration_1ms_to_a_day, allow_hyphen_values = true)]
    pub retry_interval: Option<Duration>,

    /// freeze-thaw: the Mail Server's writer vetoes every snapshot.
    #[arg(long)]
    pub writer_vetoes: bool,

    /// online-copy: restarts allowed before giving up, from 0 to 10000
    /// [default: 10]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(..=10_000))]
    pub max_restarts: Option<u32>,

    /// online-copy: 4 KiB pages copied per step, from 1 to 1048576
    /// [default: 100]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub pages_per_step: Option<u64>,

    /// online-copy: time between steps, from 1ms to 1h [default: 250ms]
    #[arg(long, value_name = "DURATION", value_parser = duration_1ms_to_an_hour, allow_hyphen_values = true)]
    pub step_interval: Option<Duration>,
}

impl SnapshotArgs {
    /// Each knob: its flag, the policy it belongs to, whether it was given.
    fn knobs(&self) -> [(&'static str, SnapshotKind, bool); 14] {
        use SnapshotKind::{FreezeThaw as F, OnlineCopy as O, ScheduledCopy as C, StopServer as S};
        [
            ("--restart-after-file", S, self.restart_after_file),
            ("--copy-at", C, self.copy_at.is_some()),
            ("--keep", C, self.keep.is_some()),
            ("--copy-to", C, self.copy_to.is_some()),
            (
                "--control-panel-fails-on",
                C,
                !self.control_panel_fails_on.is_empty(),
            ),
            ("--freeze-timeout", F, self.freeze_timeout.is_some()),
            ("--hold-writes-limit", F, self.hold_writes_limit.is_some()),
            ("--snapshot-time", F, self.snapshot_time.is_some()),
            ("--retries", F, self.retries.is_some()),
            ("--retry-interval", F, self.retry_interval.is_some()),
            ("--writer-vetoes", F, self.writer_vetoes),
            ("--max-restarts", O, self.max_restarts.is_some()),
            ("--pages-per-step", O, self.pages_per_step.is_some()),
            ("--step-interval", O, self.step_interval.is_some()),
        ]
    }

    /// The policy these flags describe, for a scenario of `nights` nights.
    ///
    /// Fails when a knob belongs to another policy than the one chosen, or
    /// when `--control-panel-fails-on` names a night past the last one.
    pub fn policy(&self, nights: u32) -> Result<Arc<dyn SnapshotPolicy>, UsageError> {
        let kind = self.kind.unwrap_or_default();
        if let Some((flag, owner, _)) = self
            .knobs()
            .into_iter()
            .find(|&(_, owner, given)| given && owner != kind)
        {
            return Err(UsageError(format!(
                "'{flag}' applies only to '{}', not to '{}'{}",
                owner.flag(),
                kind.flag(),
                if self.kind.is_none() {
                    " (the default)"
                } else {
                    ""
                }
            )));
        }
        if let Some(night) = self
            .control_panel_fails_on
            .iter()
            .find(|&&n| nights > 0 && n > nights)
        {
            return Err(UsageError(format!(
                "'--control-panel-fails-on {night}' is past the last night: '--nights' is {nights}"
            )));
        }
        Ok(match kind {
            SnapshotKind::Live => Arc::new(LiveRead),
            SnapshotKind::StopServer => {
                Arc::new(StopServer::default().restart_after_file(self.restart_after_file))
            }
            SnapshotKind::ScheduledCopy => {
                let mut p = ScheduledCopy::default();
                if let Some(at) = self.copy_at {
                    p = p.at(at);
                }
                if let Some(keep) = self.keep {
                    p = p.keep(keep);
                }
                if let Some(volume) = &self.copy_to {
                    p = p.destination(volume.as_str());
                }
                for &night in &self.control_panel_fails_on {
                    p = p.not_loaded_on(night);
                }
                Arc::new(p)
            }
            SnapshotKind::CopyOnWrite => Arc::new(CopyOnWrite),
            SnapshotKind::FreezeThaw => {
                let mut p = FreezeThaw::default().writer_vetoes(self.writer_vetoes);
                if let Some(d) = self.freeze_timeout {
                    p = p.freeze_timeout(d);
                }
                if let Some(d) = self.hold_writes_limit {
                    p = p.hold_writes_limit(d);
                }
                if let Some(d) = self.snapshot_time {
                    p = p.snapshot_time(d);
                }
                if let Some(n) = self.retries {
                    p = p.retries(n);
                }
                if let Some(d) = self.retry_interval {
                    p = p.retry_interval(d);
                }
                Arc::new(p)
            }
            SnapshotKind::OnlineCopy => {
                let mut p = OnlineCopy::default();
                if let Some(n) = self.max_restarts {
                    p = p.max_restarts(n);
                }
                if let Some(n) = self.pages_per_step {
                    p = p.pages_per_step(n);
                }
                if let Some(d) = self.step_interval {
                    p = p.step_interval(d);
                }
                Arc::new(p)
            }
        })
    }
}

/// The flags that describe a scenario, starting from the KB Q98097 night.
#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// How the server reacts to the backup opening its data file.
    #[arg(long, value_enum, default_value_t = Behavior::Kb, value_name = "BEHAVIOR")]
    pub behavior: Behavior,

    /// Skip every folder with this name, and everything in it (repeatable;
    /// `Volume:Folder` names one folder).
    #[arg(long, value_name = "NAME")]
    pub exclude_folder: Vec<String>,

    /// Skip every file with this name (repeatable; `Volume:Folder:File`
    /// names one file).
    #[arg(long, value_name = "NAME")]
    pub exclude_file: Vec<String>,

    /// Skip paths whose name or full path matches this shell pattern
    /// (`*`, `?`, `[...]`, ignoring case; repeatable).
    #[arg(long, value_name = "PATTERN", value_parser = valid_glob)]
    pub exclude_glob: Vec<String>,

    /// How the backup treats files that another process holds open.
    #[arg(long, value_enum, default_value_t = OpenFiles::IgnoreLocks, value_name = "POLICY")]
    pub open_files: OpenFiles,

    /// Consecutive nights to simulate on the same volumes, from 1 to 366
    /// (a year of nights takes seconds).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_NIGHTS as i64))]
    pub nights: u32,

    /// Mean rate of mail requests from 23:00 to 02:00, from 0 (no traffic)
    /// to 100000.
    #[arg(
        long,
        default_value_t = Traffic::default().requests_per_hour,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(..=100_000)
    )]
    pub requests_per_hour: u32,

    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

impl Default for ScenarioArgs {
    /// The command's defaults: the KB night, unchanged.
    fn default() -> Self {
        ScenarioArgs {
            behavior: Behavior::Kb,
            exclude_folder: Vec::new(),
            exclude_file: Vec::new(),
            exclude_glob: Vec::new(),
            open_files: OpenFiles::IgnoreLocks,
            nights: 1,
            requests_per_hour: Traffic::default().requests_per_hour,
            snapshot: SnapshotArgs::default(),
        }
    }
}

/// [`parse_duration`], from 1 ms to 24 h; out of range, "the WHAT must be
/// from 1ms to 24h".
pub fn parse_duration_within(text: &str, what: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if (Duration::from_millis(1)..=Duration::from_secs(24 * 3600)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("the {what} must be from 1ms to 24h"))
    }
}

/// Parses a duration: a plain number of seconds (`60`, `2.5`) or a number
/// with a unit, `ms`, `s`, `min` or `h` (`250ms`, `10min`, `1.5 h`),
/// rounded to the microsecond.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str =
        "expected seconds or a number with a unit ms, s, min or h, such as 60, 2.5, 250ms, 10min";
    let t = text.trim();
    let split = t.find(|c: char| c.is_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number = number.trim_end();
    if number
        .strip_prefix('-')
        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return Err("a duration cannot be negative".to_owned());
    }
    let well_formed = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().any(|b| b.is_ascii_digit())
        && number.bytes().filter(|&b| b == b'.').count() <= 1;
    if !well_formed {
        return Err(EXPECTED.to_owned());
    }
    let value: f64 = number.parse().map_err(|_| EXPECTED.to_owned())?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit '{unit}': {EXPECTED}")),
    };
    // To the microsecond: the simulation's tick, and what a scenario file
    // holds (so that `--save` can write whatever the flags say).
    let micros = (secs * 1e6).round();
    if !micros.is_finite() || micros >= u64::MAX as f64 {
        return Err("too long a duration".to_owned());
    }
    Ok(Duration::from_micros(micros as u64))
}

/// One day: the longest duration any knob takes.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A duration from 0 to 24 h.
pub fn duration_up_to_a_day(text: &str) -> Result<Duration, String> {
    bounded_duration(text, Duration::ZERO, DAY, "from 0 to 24h")
}

/// A duration from 1 ms to 24 h.
pub fn duration_1ms_to_a_day(text: &str) -> Result<Duration, String> {
    bounded_duration(text, Duration::from_millis(1), DAY, "from 1ms to 24h")
}

/// A duration from 1 ms to 1 h.
pub fn duration_1ms_to_an_hour(text: &str) -> Result<Duration, String> {
    bounded_duration(
        text,
        Duration::from_millis(1),
        Duration::from_secs(3600),
        "from 1ms to 1h",
    )
}

/// [`parse_duration`], refused outside `min..=max` (`range` says so).
pub fn bounded_duration(
    text: &str,
    min: Duration,
    max: Duration,
    range: &str,
) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if (min..=max).contains(&d) {
        Ok(d)
    } else {
        Err(format!("out of range: the duration must be {range}"))
    }
}

/// Parses `HH:MM` (or `HH:MM:SS`) on a 24-hour clock.
fn parse_time_of_day(text: &str) -> Result<TimeOfDay, String> {
    TimeOfDay::parse(text).ok_or_else(|| {
        "expected a time of day HH:MM on a 24-hour clock, such as 00:00 or 23:30".to_owned()
    })
}

/// Accepts the name of one of the scenario's volumes.
fn parse_volume(name: &str) -> Result<String, String> {
    if [SERVER_HD, BACKUP_DRIVE].contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "no such volume: the scenario has \"{SERVER_HD}\" and \"{BACKUP_DRIVE}\""
        ))
    }
}

/// Checks a pattern while parsing, so a bad one is reported like any bad value.
pub(super) fn valid_glob(pattern: &str) -> Result<String, String> {
    ExcludeGlob::try_new(pattern)
        .map(|_| pattern.to_owned())
        .map_err(|e| match e {
            // The library's reason starts by quoting the pattern, which
            // clap's message already does.
            mailsim::Error::InvalidScenario { reason, .. } => reason
                .strip_prefix(&format!("{pattern:?}: "))
                .map_or_else(|| reason.clone(), str::to_owned),
            other => other.to_string(),
        })
}

impl ScenarioArgs {
    /// The ids of every flag these args define, snapshot knobs included:
    /// what `--scenario FILE` and `sweep --merge` conflict with.
    ///
    /// (Clap's derived group for this struct is empty, since it flattens
    /// [`SnapshotArgs`], so the conflicts are added by id.)
    pub fn ids() -> Vec<clap::Id> {
        use clap::Args as _;
        ScenarioArgs::augment_args(clap::Command::new("scenario"))
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect()
    }

    /// The scenario these flags describe (seed 0: the caller sets it).
    ///
    /// Several exclusions combine: a path is skipped when any of them says so.
    /// Limits the library checks (`--nights 0`, too much traffic) are
    /// reported when it runs.
    pub fn scenario(&self) -> Result<Scenario, UsageError> {
        let mut scenario = Scenario::kb98097()
            .nights(self.nights)
            .snapshot_arc(self.snapshot.policy(self.nights)?);
        if self.requests_per_hour != Traffic::default().requests_per_hour {
            scenario = scenario.traffic(match self.requests_per_hour {
                0 => Traffic::none(),
                n => {
                    let kb = Traffic::default();
                    Traffic::new(kb.start, kb.end, n)
                }
            });
        }
        scenario = match self.behavior {
            Behavior::Kb => scenario,
            Behavior::Shutdown => scenario.conflict_behavior(ConflictBehavior::Shutdown),
            Behavior::Hang => scenario.conflict_behavior(ConflictBehavior::Hang),
            Behavior::Tolerate => scenario.conflict_behavior(ConflictBehavior::Tolerate),
        };
        scenario = scenario.open_files(match self.open_files {
            OpenFiles::IgnoreLocks => OpenFilePolicy::IgnoreLocks,
            OpenFiles::RespectLocks => OpenFilePolicy::respect_locks(),
            OpenFiles::WaitForIdle => OpenFilePolicy::wait_for_idle(),
        });
        let mut exclusions: Vec<Arc<dyn ExclusionPolicy>> = Vec::new();
        for name in &self.exclude_folder {
            exclusions.push(Arc::new(ExcludeFolder::new(name)));
        }
        for name in &self.exclude_file {
            exclusions.push(Arc::new(ExcludeFile::new(name)));
        }
        for pattern in &self.exclude_glob {
            valid_glob(pattern).map_err(|reason| {
                UsageError(format!(
                    "invalid value '{pattern}' for '--exclude-glob <PATTERN>': {reason}"
                ))
            })?;
            exclusions.push(Arc::new(ExcludeGlob::new(pattern)));
        }
        Ok(match exclusions.len() {
            0 => scenario,
            1 => scenario.exclusion_arc(exclusions.remove(0)),
            _ => scenario.exclusion(
                exclusions
                    .into_iter()
                    .fold(ExcludeAny::new(), ExcludeAny::with_arc),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailsim::sim::mail_data_path;

    #[test]
    fn defaults_are_the_kb_night() {
        let s = ScenarioArgs {
            nights: 1,
            ..ScenarioArgs::default()
        }
        .scenario()
        .unwrap();
        assert_eq!(s.conflict(), None);
        assert_eq!(s.open_file_policy(), OpenFilePolicy::IgnoreLocks);
        assert!(!s.exclusion_policy().excludes(&mail_data_path()));
    }

    #[test]
    fn exclusions_combine() {
        let args = ScenarioArgs {
            exclude_glob: vec!["*.txt".into()],
            exclude_file: vec!["Microsoft Mail Data".into()],
            nights: 1,
            ..ScenarioArgs::default()
        };
        let s = args.scenario().unwrap();
        assert!(s.exclusion_policy().excludes(&mail_data_path()));
    }

    #[test]
    fn durations_take_seconds_or_a_unit() {
        let ok = |t: &str| parse_duration(t).unwrap();
        assert_eq!(ok("60"), Duration::from_secs(60));
        assert_eq!(ok("2.5"), Duration::from_millis(2500));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("10min"), Duration::from_secs(600));
        assert_eq!(ok("1.5 h"), Duration::from_secs(5400));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok(".5"), Duration::from_millis(500));
        // To the microsecond, the finest a scenario file holds.
        assert_eq!(ok("1.0000001"), Duration::from_secs(1));
        assert_eq!(ok("0.0000026"), Duration::from_micros(3));
        assert_eq!(ok("0.3"), Duration::from_millis(300));
        for bad in [
            "",
            "-1",
            "-0.5s",
            "NaN",
            "nan",
            "inf",
            "1e3",
            "1.2.3",
            ".",
            "10 days",
            "5 m",
            "abc",
            "1e400",
            "99999999999999999999999h",
            "--json",
            "-",
            "+1",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_duration("-1").unwrap_err(),
            "a duration cannot be negative"
        );
    }

    #[test]
    fn a_knob_of_another_policy_is_refused() {
        let args = SnapshotArgs {
            keep: Some(3),
            ..SnapshotArgs::default()
        };
        let e = args.policy(1).unwrap_err().0;
        assert_eq!(
            e,
            "'--keep' applies only to '--snapshot scheduled-copy', not to '--snapshot live' (the default)"
        );
        let args = SnapshotArgs {
            kind: Some(SnapshotKind::OnlineCopy),
            writer_vetoes: true,
            ..SnapshotArgs::default()
        };
        let e = args.policy(1).unwrap_err().0;
        assert!(e.contains("'--writer-vetoes'") && e.contains("'--snapshot freeze-thaw'"));
        assert!(e.ends_with("not to '--snapshot online-copy'"), "{e}");
    }

    #[test]
    fn knobs_reach_the_policy() {
        let args = SnapshotArgs {
            kind: Some(SnapshotKind::ScheduledCopy),
            copy_at: TimeOfDay::parse("23:30"),
            keep: Some(5),
            copy_to: Some(SERVER_HD.to_owned()),
            control_panel_fails_on: vec![2],
            ..SnapshotArgs::default()
        };
        let p = format!("{:?}", args.policy(2).unwrap());
        let want = format!(
            "{:?}",
            ScheduledCopy::default()
                .at(TimeOfDay::hm(23, 30))
                .keep(5)
                .destination(SERVER_HD)
                .not_loaded_on(2)
        );
        assert_eq!(p, want);
        let e = args.policy(1).unwrap_err().0;
        assert!(
            e.contains("--control-panel-fails-on 2") && e.contains("--nights"),
            "{e}"
        );
        let args = SnapshotArgs {
            kind: Some(SnapshotKind::FreezeThaw),
            hold_writes_limit: Some(Duration::from_secs(1)),
            retries: Some(0),
            writer_vetoes: true,
            ..SnapshotArgs::default()
        };
        let want = FreezeThaw::default()
            .hold_writes_limit(Duration::from_secs(1))
            .retries(0)
            .writer_vetoes(true);
        assert_eq!(
            format!("{:?}", args.policy(1).unwrap()),
            format!("{want:?}")
        );
    }

    /// The `[default: …]` each knob's help promises is the built-in's.
    #[test]
    fn documented_defaults_are_the_built_ins() {
        use clap::Args as _;
        let cmd = SnapshotArgs::augment_args(clap::Command::new("t"));
        let documented = |id: &str| -> String {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("{id}"));
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let start = help
                .find("[default: ")
                .unwrap_or_else(|| panic!("{id}: {help}"))
                + 10;
            let end = start + help[start..].find(']').expect("closing bracket");
            help[start..end].trim_matches('"').to_owned()
        };
        let dur = |id: &str| parse_duration(&documented(id)).unwrap();
        let num = |id: &str| documented(id).parse::<u64>().unwrap();
        let (c, f, o) = (
            ScheduledCopy::default(),
            FreezeThaw::default(),
            OnlineCopy::default(),
        );
        assert_eq!(documented("kind"), "live");
        assert_eq!(parse_time_of_day(&documented("copy_at")), Ok(c.at));
        assert_eq!(num("keep"), u64::from(c.keep));
        assert_eq!(documented("copy_to"), c.destination);
        assert_eq!(dur("freeze_timeout"), f.freeze_timeout);
        assert_eq!(dur("hold_writes_limit"), f.hold_writes_limit);
        assert_eq!(dur("snapshot_time"), f.snapshot_time);
        assert_eq!(num("retries"), u64::from(f.retries));
        assert_eq!(dur("retry_interval"), f.retry_interval);
        assert!(!f.writer_vetoes);
        assert_eq!(num("max_restarts"), u64::from(o.max_restarts));
        assert_eq!(num("pages_per_step"), o.pages_per_step);
        assert_eq!(dur("step_interval"), o.step_interval);
        assert!(!StopServer::default().restart_after_file);
    }

    #[test]
    fn traffic_follows_the_rate() {
        let args = ScenarioArgs {
            requests_per_hour: 0,
            ..ScenarioArgs::default()
        };
        assert!(format!("{:?}", args.scenario().unwrap()).contains("requests_per_hour: 0"));
        let args = ScenarioArgs {
            requests_per_hour: 20_000,
            ..ScenarioArgs::default()
        };
        assert!(format!("{:?}", args.scenario().unwrap()).contains("requests_per_hour: 20000"));
    }

    #[test]
    fn a_bad_glob_is_a_usage_error() {
        let args = ScenarioArgs {
            exclude_glob: vec!["[".into()],
            ..ScenarioArgs::default()
        };
        assert!(args.scenario().is_err());
        assert!(valid_glob("[").is_err());
        assert_eq!(valid_glob("*Mail*").as_deref(), Ok("*Mail*"));
    }
}
