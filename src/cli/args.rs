//! Flags shared by the subcommands that build a [`Scenario`] (`run` now,
//! `sweep` later): conflict behavior, exclusions, open-file policy, nights.

use std::fmt;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use mailsim::policy::{ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy};
use mailsim::{ConflictBehavior, OpenFilePolicy, Scenario};

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

/// The flags that describe a scenario, starting from the KB Q98097 night.
#[derive(Args, Debug, Clone, Default)]
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

    /// Consecutive nights to simulate on the same volumes.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub nights: u32,
}

/// Checks a pattern while parsing, so a bad one is reported like any bad value.
fn valid_glob(pattern: &str) -> Result<String, String> {
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
    /// The scenario these flags describe (seed 0: the caller sets it).
    ///
    /// Several exclusions combine: a path is skipped when any of them says so.
    /// Limits the library checks (`--nights 0`) are reported when it runs.
    pub fn scenario(&self) -> Result<Scenario, UsageError> {
        let mut scenario = Scenario::kb98097().nights(self.nights);
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
