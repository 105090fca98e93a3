//! Scenario files: a night saved as JSON, to be run (or replayed exactly)
//! again, by [`Scenario::from_json`] or `mailsim run --scenario FILE`.
//!
//! # Format, version 1
//!
//! ```json
//! {
//!   "schema": "mailsim-scenario",
//!   "version": 1,
//!   "seed": 7,
//!   "nights": 1,
//!   "behavior": "kb",
//!   "shutdown_probability": 0.9,
//!   "exclusions": [ { "folder": "System Folder" }, { "file": "Microsoft Mail Data" }, { "glob": "*.tmp" } ],
//!   "open_files": { "policy": "respect-locks", "retries": 3, "interval_s": 60 },
//!   "snapshot": { "policy": "scheduled-copy", "at": "00:00", "destination": "Backup Drive",
//!                 "keep": 3, "disk_bytes_per_sec": 1000000, "not_loaded_on": [] },
//!   "backup_at": "01:00",
//!   "admin_at": "08:00",
//!   "traffic": { "start": "23:00", "end": "02:00", "requests_per_hour": 100 },
//!   "backup_speed": { "throughput_bytes_per_sec": 17000, "chunk_bytes": 65536 },
//!   "hang_threshold_s": 300,
//!   "faults": [ { "kind": "server_crash", "at_sync": 12, "unsynced": "garble" } ],
//!   "choices": [ 3, 0, 17 ]
//! }
//! ```
//!
//! Every key but `schema` and `version` is optional and defaults to the KB
//! preset's value. `behavior` is `kb` (the drawn reaction), `shutdown`,
//! `hang` or `tolerate`. `open_files.policy` is `ignore-locks`,
//! `respect-locks` (`retries`, `interval_s`) or `wait-for-idle` (`idle_s`,
//! `timeout_s`). `snapshot.policy` is `live`, `stop-server`
//! (`restart_after_file`), `scheduled-copy` (as above), `copy-on-write`,
//! `freeze-thaw` (`freeze_timeout_s`, `hold_writes_limit_s`,
//! `freeze_time_s`, `snapshot_time_s`, `retries`, `retry_interval_s`,
//! `writer_vetoes`) or `online-copy` (`pages_per_step`, `step_interval_s`,
//! `max_restarts`). Durations are seconds, as numbers. `faults` holds
//! [`Fault`]s, tagged by `kind`. With `choices`, the file replays that night
//! exactly; without, it runs from its seed. Unknown keys are errors, and an
//! error names the key at fault (`open_files.retries: invalid type …`).
//! The file holds one JSON document and nothing after it but white space
//! (trailing text is an error naming its line and column), and is at most
//! [`MAX_SCENARIO_FILE_BYTES`] (4 MiB) long: a night's choices take a few
//! kilobytes.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Fault, Options, Scenario, Traffic};
use crate::backup::{BackupSpeed, OpenFilePolicy};
use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing,
    ExclusionPolicy, FreezeThaw, LiveRead, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
};
use crate::server::ConflictBehavior;
use crate::time::TimeOfDay;

/// Longest scenario file read (4 MiB): [`Scenario::from_json`] refuses a
/// longer text before parsing it, and `mailsim run --scenario` reads no
/// more than this.
pub const MAX_SCENARIO_FILE_BYTES: u64 = 4 << 20;

/// The `schema` a scenario file names.
pub const SCENARIO_SCHEMA: &str = "mailsim-scenario";
/// The version of the scenario file format this crate writes and reads.
pub const SCENARIO_VERSION: u32 = 1;

/// A scenario read from a file, with the night's choices if it saved them.
#[derive(Clone, Debug)]
pub struct ScenarioFile {
    /// The scenario.
    pub scenario: Scenario,
    /// The choice record to replay, if the file has one.
    pub choices: Option<Choices>,
}

/// Seconds, to the microsecond: exact through a write and a read. A
/// duration longer than a file may hold (a year), or finer than it holds (a
/// microsecond), cannot be saved: the night read back would not be the
/// night saved.
fn secs(field: &'static str, d: Duration) -> Result<f64> {
    if !d.subsec_nanos().is_multiple_of(1_000) {
        return Err(Error::invalid(
            field,
            format!(
                "{} ns is finer than a scenario file holds (a microsecond)",
                d.as_nanos()
            ),
        ));
    }
    let s = d.as_micros() as f64 / 1e6;
    if s > MAX_FILE_SECS {
        return Err(Error::invalid(
            field,
            format!("{s} s is longer than a scenario file may hold (a year)"),
        ));
    }
    Ok(s)
}

/// The longest duration a scenario file may hold.
const MAX_FILE_SECS: f64 = 366.0 * 24.0 * 3600.0;

fn duration(field: &'static str, s: f64) -> Result<Duration> {
    if !(0.0..=MAX_FILE_SECS).contains(&s) {
        return Err(Error::invalid(
            field,
            format!("{s} is not a duration in seconds between 0 and a year"),
        ));
    }
    Ok(Duration::from_micros((s * 1e6).round() as u64))
}

#[derive(Serialize)]
struct FileDoc {
    schema: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nights: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shutdown_probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exclusions: Option<Vec<ExclusionDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_files: Option<OpenFilesDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<SnapshotDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backup_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    admin_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traffic: Option<TrafficDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backup_speed: Option<SpeedDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hang_threshold_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    faults: Vec<Fault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choices: Option<Choices>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ExclusionDoc {
    Folder(String),
    File(String),
    Glob(String),
}

#[derive(Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
enum OpenFilesDoc {
    IgnoreLocks,
    RespectLocks { retries: u32, interval_s: f64 },
    WaitForIdle { idle_s: f64, timeout_s: f64 },
}

#[derive(Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
enum SnapshotDoc {
    Live,
    StopServer {
        #[serde(default)]
        restart_after_file: bool,
    },
    ScheduledCopy {
        #[serde(default)]
        at: Option<String>,
        #[serde(default)]
        destination: Option<String>,
        #[serde(default)]
        keep: Option<u32>,
        #[serde(default)]
        disk_bytes_per_sec: Option<u64>,
        #[serde(default)]
        not_loaded_on: Vec<u32>,
    },
    CopyOnWrite,
    FreezeThaw {
        #[serde(default)]
        freeze_timeout_s: Option<f64>,
        #[serde(default)]
        hold_writes_limit_s: Option<f64>,
        #[serde(default)]
        freeze_time_s: Option<f64>,
        #[serde(default)]
        snapshot_time_s: Option<f64>,
        #[serde(default)]
        retries: Option<u32>,
        #[serde(default)]
        retry_interval_s: Option<f64>,
        #[serde(default)]
        writer_vetoes: bool,
    },
    OnlineCopy {
        #[serde(default)]
        pages_per_step: Option<u64>,
        #[serde(default)]
        step_interval_s: Option<f64>,
        #[serde(default)]
        max_restarts: Option<u32>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficDoc {
    start: String,
    end: String,
    requests_per_hour: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpeedDoc {
    throughput_bytes_per_sec: u64,
    chunk_bytes: u64,
}

/// What a file reads: flat objects, so that an error names the key at
/// fault (an internally tagged enum would hide it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    schema: String,
    version: u32,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    nights: Option<u32>,
    #[serde(default)]
    behavior: Option<String>,
    #[serde(default)]
    shutdown_probability: Option<f64>,
    #[serde(default)]
    exclusions: Option<Vec<ExclusionDoc>>,
    #[serde(default)]
    open_files: Option<OpenFilesIn>,
    #[serde(default)]
    snapshot: Option<SnapshotIn>,
    #[serde(default)]
    backup_at: Option<String>,
    #[serde(default)]
    admin_at: Option<String>,
    #[serde(default)]
    traffic: Option<TrafficDoc>,
    #[serde(default)]
    backup_speed: Option<SpeedDoc>,
    #[serde(default)]
    hang_threshold_s: Option<f64>,
    #[serde(default)]
    faults: Vec<Fault>,
    #[serde(default)]
    choices: Option<Choices>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenFilesIn {
    policy: String,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    interval_s: Option<f64>,
    #[serde(default)]
    idle_s: Option<f64>,
    #[serde(default)]
    timeout_s: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SnapshotIn {
    policy: String,
    #[serde(default)]
    restart_after_file: Option<bool>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    keep: Option<u32>,
    #[serde(default)]
    disk_bytes_per_sec: Option<u64>,
    #[serde(default)]
    not_loaded_on: Option<Vec<u32>>,
    #[serde(default)]
    freeze_timeout_s: Option<f64>,
    #[serde(default)]
    hold_writes_limit_s: Option<f64>,
    #[serde(default)]
    freeze_time_s: Option<f64>,
    #[serde(default)]
    snapshot_time_s: Option<f64>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    retry_interval_s: Option<f64>,
    #[serde(default)]
    writer_vetoes: Option<bool>,
    #[serde(default)]
    pages_per_step: Option<u64>,
    #[serde(default)]
    step_interval_s: Option<f64>,
    #[serde(default)]
    max_restarts: Option<u32>,
}

fn file_error(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidScenarioFile {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Refuses knobs that belong to another policy than the one named.
fn only(section: &str, policy: &str, given: &[(&str, bool)], allowed: &[&str]) -> Result<()> {
    for (name, present) in given {
        if *present && !allowed.contains(name) {
            return Err(file_error(
                &format!("{section}.{name}"),
                format!("not a setting of the {policy:?} policy"),
            ));
        }
    }
    Ok(())
}

impl OpenFilesIn {
    fn into_doc(self) -> Result<OpenFilesDoc> {
        let given = [
            ("retries", self.retries.is_some()),
            ("interval_s", self.interval_s.is_some()),
            ("idle_s", self.idle_s.is_some()),
            ("timeout_s", self.timeout_s.is_some()),
        ];
        let need = |name: &str, v: Option<f64>| {
            v.ok_or_else(|| file_error(&format!("open_files.{name}"), "missing"))
        };
        Ok(match self.policy.as_str() {
            "ignore-locks" => {
                only("open_files", &self.policy, &given, &[])?;
                OpenFilesDoc::IgnoreLocks
            }
            "respect-locks" => {
                only(
                    "open_files",
                    &self.policy,
                    &given,
                    &["retries", "interval_s"],
                )?;
                OpenFilesDoc::RespectLocks {
                    retries: self
                        .retries
                        .ok_or_else(|| file_error("open_files.retries", "missing"))?,
                    interval_s: need("interval_s", self.interval_s)?,
                }
            }
            "wait-for-idle" => {
                only("open_files", &self.policy, &given, &["idle_s", "timeout_s"])?;
                OpenFilesDoc::WaitForIdle {
                    idle_s: need("idle_s", self.idle_s)?,
                    timeout_s: need("timeout_s", self.timeout_s)?,
                }
            }
            other => {
                return Err(file_error(
                    "open_files.policy",
                    format!("{other:?} is not one of ignore-locks, respect-locks, wait-for-idle"),
                ));
            }
        })
    }
}

impl SnapshotIn {
    fn into_doc(self) -> Result<SnapshotDoc> {
        let given = [
            ("restart_after_file", self.restart_after_file.is_some()),
            ("at", self.at.is_some()),
            ("destination", self.destination.is_some()),
            ("keep", self.keep.is_some()),
            ("disk_bytes_per_sec", self.disk_bytes_per_sec.is_some()),
            ("not_loaded_on", self.not_loaded_on.is_some()),
            ("freeze_timeout_s", self.freeze_timeout_s.is_some()),
            ("hold_writes_limit_s", self.hold_writes_limit_s.is_some()),
            ("freeze_time_s", self.freeze_time_s.is_some()),
            ("snapshot_time_s", self.snapshot_time_s.is_some()),
            ("retries", self.retries.is_some()),
            ("retry_interval_s", self.retry_interval_s.is_some()),
            ("writer_vetoes", self.writer_vetoes.is_some()),
            ("pages_per_step", self.pages_per_step.is_some()),
            ("step_interval_s", self.step_interval_s.is_some()),
            ("max_restarts", self.max_restarts.is_some()),
        ];
        let p = self.policy.as_str();
        Ok(match p {
            "live" => {
                only("snapshot", p, &given, &[])?;
                SnapshotDoc::Live
            }
            "stop-server" => {
                only("snapshot", p, &given, &["restart_after_file"])?;
                SnapshotDoc::StopServer {
                    restart_after_file: self.restart_after_file.unwrap_or(false),
                }
            }
            "scheduled-copy" => {
                only(
                    "snapshot",
                    p,
                    &given,
                    &[
                        "at",
                        "destination",
                        "keep",
                        "disk_bytes_per_sec",
                        "not_loaded_on",
                    ],
                )?;
                SnapshotDoc::ScheduledCopy {
                    at: self.at,
                    destination: self.destination,
                    keep: self.keep,
                    disk_bytes_per_sec: self.disk_bytes_per_sec,
                    not_loaded_on: self.not_loaded_on.unwrap_or_default(),
                }
            }
            "copy-on-write" => {
                only("snapshot", p, &given, &[])?;
                SnapshotDoc::CopyOnWrite
            }
            "freeze-thaw" => {
                only(
                    "snapshot",
                    p,
                    &given,
                    &[
                        "freeze_timeout_s",
                        "hold_writes_limit_s",
                        "freeze_time_s",
                        "snapshot_time_s",
                        "retries",
                        "retry_interval_s",
                        "writer_vetoes",
                    ],
                )?;
                SnapshotDoc::FreezeThaw {
                    freeze_timeout_s: self.freeze_timeout_s,
                    hold_writes_limit_s: self.hold_writes_limit_s,
                    freeze_time_s: self.freeze_time_s,
                    snapshot_time_s: self.snapshot_time_s,
                    retries: self.retries,
                    retry_interval_s: self.retry_interval_s,
                    writer_vetoes: self.writer_vetoes.unwrap_or(false),
                }
            }
            "online-copy" => {
                only(
                    "snapshot",
                    p,
                    &given,
                    &["pages_per_step", "step_interval_s", "max_restarts"],
                )?;
                SnapshotDoc::OnlineCopy {
                    pages_per_step: self.pages_per_step,
                    step_interval_s: self.step_interval_s,
                    max_restarts: self.max_restarts,
                }
            }
            other => {
                return Err(file_error(
                    "snapshot.policy",
                    format!(
                        "{other:?} is not one of live, stop-server, scheduled-copy, copy-on-write, freeze-thaw, online-copy"
                    ),
                ));
            }
        })
    }
}

fn exclusions_of(p: &Arc<dyn ExclusionPolicy>, out: &mut Vec<ExclusionDoc>) -> Result<()> {
    let unsaveable = || {
        Error::invalid(
            "exclusions",
            format!("{p:?} is not a built-in exclusion: a scenario file cannot hold it"),
        )
    };
    let any = p.as_any().ok_or_else(unsaveable)?;
    if any.is::<ExcludeNothing>() {
    } else if let Some(f) = any.downcast_ref::<ExcludeFolder>() {
        out.push(ExclusionDoc::Folder(f.spec()));
    } else if let Some(f) = any.downcast_ref::<ExcludeFile>() {
        out.push(ExclusionDoc::File(f.spec()));
    } else if let Some(g) = any.downcast_ref::<ExcludeGlob>() {
        out.push(ExclusionDoc::Glob(g.pattern().to_owned()));
    } else if let Some(a) = any.downcast_ref::<ExcludeAny>() {
        for p in a.policies() {
            exclusions_of(p, out)?;
        }
    } else {
        return Err(unsaveable());
    }
    Ok(())
}

fn snapshot_of(p: &Arc<dyn SnapshotPolicy>) -> Result<SnapshotDoc> {
    let unsaveable = || {
        Error::invalid(
            "snapshot",
            format!("{p:?} is not a built-in snapshot policy: a scenario file cannot hold it"),
        )
    };
    let any = p.as_any().ok_or_else(unsaveable)?;
    Ok(if any.is::<LiveRead>() {
        SnapshotDoc::Live
    } else if let Some(s) = any.downcast_ref::<StopServer>() {
        SnapshotDoc::StopServer {
            restart_after_file: s.restart_after_file,
        }
    } else if let Some(s) = any.downcast_ref::<ScheduledCopy>() {
        SnapshotDoc::ScheduledCopy {
            at: Some(hm(s.at)),
            destination: Some(s.destination.clone()),
            keep: Some(s.keep),
            disk_bytes_per_sec: Some(s.disk_bytes_per_sec),
            not_loaded_on: s.not_loaded_on.clone(),
        }
    } else if any.is::<CopyOnWrite>() {
        SnapshotDoc::CopyOnWrite
    } else if let Some(f) = any.downcast_ref::<FreezeThaw>() {
        SnapshotDoc::FreezeThaw {
            freeze_timeout_s: Some(secs("snapshot.freeze_timeout_s", f.freeze_timeout)?),
            hold_writes_limit_s: Some(secs("snapshot.hold_writes_limit_s", f.hold_writes_limit)?),
            freeze_time_s: Some(secs("snapshot.freeze_time_s", f.freeze_time)?),
            snapshot_time_s: Some(secs("snapshot.snapshot_time_s", f.snapshot_time)?),
            retries: Some(f.retries),
            retry_interval_s: Some(secs("snapshot.retry_interval_s", f.retry_interval)?),
            writer_vetoes: f.writer_vetoes,
        }
    } else if let Some(o) = any.downcast_ref::<OnlineCopy>() {
        SnapshotDoc::OnlineCopy {
            pages_per_step: Some(o.pages_per_step),
            step_interval_s: Some(secs("snapshot.step_interval_s", o.step_interval)?),
            max_restarts: Some(o.max_restarts),
        }
    } else {
        return Err(unsaveable());
    })
}

fn hm(t: TimeOfDay) -> String {
    let s = t.to_string();
    if s.ends_with(":00") {
        s[..5].to_owned()
    } else {
        s
    }
}

fn time(field: &'static str, text: &str) -> Result<TimeOfDay> {
    TimeOfDay::parse(text)
        .ok_or_else(|| Error::invalid(field, format!("{text:?} is not a time of day (HH:MM)")))
}

impl Scenario {
    /// The scenario as a scenario file (JSON, [`SCENARIO_VERSION`]), with a
    /// night's `choices` when given (the file then replays that night
    /// exactly). Fails for what a file cannot hold: policies of your own,
    /// and durations over a year or with a part finer than a microsecond.
    pub fn to_json(&self, choices: Option<&Choices>) -> Result<String> {
        let o = &self.opts;
        let mut exclusions = Vec::new();
        exclusions_of(&o.exclusion, &mut exclusions)?;
        let doc = FileDoc {
            schema: SCENARIO_SCHEMA.to_owned(),
            version: SCENARIO_VERSION,
            seed: Some(o.seed),
            nights: Some(o.nights),
            behavior: Some(o.conflict.map_or("kb", ConflictBehavior::as_str).to_owned()),
            shutdown_probability: Some(o.shutdown_probability),
            exclusions: Some(exclusions),
            open_files: Some(match o.open_files {
                OpenFilePolicy::IgnoreLocks => OpenFilesDoc::IgnoreLocks,
                OpenFilePolicy::RespectLocks { retries, interval } => OpenFilesDoc::RespectLocks {
                    retries,
                    interval_s: secs("open_files.interval_s", interval)?,
                },
                OpenFilePolicy::WaitForIdle { idle, timeout } => OpenFilesDoc::WaitForIdle {
                    idle_s: secs("open_files.idle_s", idle)?,
                    timeout_s: secs("open_files.timeout_s", timeout)?,
                },
            }),
            snapshot: Some(snapshot_of(&o.snapshot)?),
            backup_at: Some(hm(o.backup_at)),
            admin_at: Some(hm(o.admin_at)),
            traffic: Some(TrafficDoc {
                start: hm(o.traffic.start),
                end: hm(o.traffic.end),
                requests_per_hour: o.traffic.requests_per_hour,
            }),
            backup_speed: Some(SpeedDoc {
                throughput_bytes_per_sec: o.speed.throughput_bytes_per_sec,
                chunk_bytes: o.speed.chunk_bytes,
            }),
            hang_threshold_s: Some(secs("hang_threshold_s", o.hang_threshold)?),
            faults: o.faults.clone(),
            choices: choices.cloned(),
        };
        serde_json::to_string_pretty(&doc).map_err(|e| Error::invalid("scenario", e.to_string()))
    }

    /// Reads a scenario file.
    ///
    /// # Errors
    /// [`Error::InvalidScenarioFile`] for a malformed file, naming the key at
    /// fault; for a text longer than [`MAX_SCENARIO_FILE_BYTES`]; for text
    /// after the document (naming its line and column).
    pub fn from_json(text: &str) -> Result<ScenarioFile> {
        if text.len() as u64 > MAX_SCENARIO_FILE_BYTES {
            return Err(Error::InvalidScenarioFile {
                field: String::new(),
                reason: format!(
                    "{} bytes is more than the limit of {MAX_SCENARIO_FILE_BYTES}",
                    text.len()
                ),
            });
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let doc: FileIn = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let reason = inner.to_string();
            Error::InvalidScenarioFile {
                field: if path == "." { String::new() } else { path },
                reason,
            }
        })?;
        // One document: anything after it but white space is an error
        // ("trailing characters at line 3 column 2").
        de.end().map_err(|e| Error::InvalidScenarioFile {
            field: String::new(),
            reason: format!("text after the scenario: {e}"),
        })?;
        if doc.schema != SCENARIO_SCHEMA {
            return Err(Error::InvalidScenarioFile {
                field: "schema".to_owned(),
                reason: format!("{:?} is not {SCENARIO_SCHEMA:?}", doc.schema),
            });
        }
        if doc.version != SCENARIO_VERSION {
            return Err(Error::InvalidScenarioFile {
                field: "version".to_owned(),
                reason: format!(
                    "version {} is not supported (this mailsim reads {SCENARIO_VERSION})",
                    doc.version
                ),
            });
        }
        let mut s = Scenario::kb98097();
        let o: &mut Options = &mut s.opts;
        if let Some(seed) = doc.seed {
            o.seed = seed;
        }
        if let Some(n) = doc.nights {
            o.nights = n;
        }
        if let Some(b) = doc.behavior {
            o.conflict = match b.as_str() {
                "kb" => None,
                "shutdown" => Some(ConflictBehavior::Shutdown),
                "hang" => Some(ConflictBehavior::Hang),
                "tolerate" => Some(ConflictBehavior::Tolerate),
                other => {
                    return Err(Error::invalid(
                        "behavior",
                        format!("{other:?} is not one of kb, shutdown, hang, tolerate"),
                    ));
                }
            };
        }
        if let Some(p) = doc.shutdown_probability {
            o.shutdown_probability = p;
        }
        if let Some(ex) = doc.exclusions {
            let mut any = ExcludeAny::new();
            for e in ex {
                any = match e {
                    ExclusionDoc::Folder(n) => any.with(ExcludeFolder::new(n)),
                    ExclusionDoc::File(n) => any.with(ExcludeFile::new(n)),
                    ExclusionDoc::Glob(p) => any.with(ExcludeGlob::try_new(p)?),
                };
            }
            o.exclusion = Arc::new(any);
        }
        if let Some(of) = doc.open_files {
            o.open_files = match of.into_doc()? {
                OpenFilesDoc::IgnoreLocks => OpenFilePolicy::IgnoreLocks,
                OpenFilesDoc::RespectLocks {
                    retries,
                    interval_s,
                } => OpenFilePolicy::RespectLocks {
                    retries,
                    interval: duration("open_files.interval_s", interval_s)?,
                },
                OpenFilesDoc::WaitForIdle { idle_s, timeout_s } => OpenFilePolicy::WaitForIdle {
                    idle: duration("open_files.idle_s", idle_s)?,
                    timeout: duration("open_files.timeout_s", timeout_s)?,
                },
            };
        }
        if let Some(snap) = doc.snapshot {
            o.snapshot = snapshot_from(snap.into_doc()?)?;
        }
        if let Some(t) = doc.backup_at {
            o.backup_at = time("backup_at", &t)?;
        }
        if let Some(t) = doc.admin_at {
            o.admin_at = time("admin_at", &t)?;
        }
        if let Some(t) = doc.traffic {
            o.traffic = Traffic::new(
                time("traffic.start", &t.start)?,
                time("traffic.end", &t.end)?,
                t.requests_per_hour,
            );
        }
        if let Some(sp) = doc.backup_speed {
            o.speed = BackupSpeed {
                throughput_bytes_per_sec: sp.throughput_bytes_per_sec,
                chunk_bytes: sp.chunk_bytes,
            };
        }
        if let Some(h) = doc.hang_threshold_s {
            o.hang_threshold = duration("hang_threshold_s", h)?;
        }
        o.faults = doc.faults;
        s.validate()?;
        Ok(ScenarioFile {
            scenario: s,
            choices: doc.choices,
        })
    }
}

fn snapshot_from(doc: SnapshotDoc) -> Result<Arc<dyn SnapshotPolicy>> {
    Ok(match doc {
        SnapshotDoc::Live => Arc::new(LiveRead),
        SnapshotDoc::StopServer { restart_after_file } => {
            Arc::new(StopServer::default().restart_after_file(restart_after_file))
        }
        SnapshotDoc::ScheduledCopy {
            at,
            destination,
            keep,
            disk_bytes_per_sec,
            not_loaded_on,
        } => {
            let mut p = ScheduledCopy::default();
            if let Some(at) = at {
                p = p.at(time("snapshot.at", &at)?);
            }
            if let Some(d) = destination {
                p = p.destination(d);
            }
            if let Some(k) = keep {
                if k == 0 {
                    return Err(Error::invalid("snapshot.keep", "must be at least 1"));
                }
                p = p.keep(k);
            }
            if let Some(b) = disk_bytes_per_sec {
                if b == 0 {
                    return Err(Error::invalid(
                        "snapshot.disk_bytes_per_sec",
                        "must be positive",
                    ));
                }
                p = p.disk_bytes_per_sec(b);
            }
            for n in not_loaded_on {
                p = p.not_loaded_on(n);
            }
            Arc::new(p)
        }
        SnapshotDoc::CopyOnWrite => Arc::new(CopyOnWrite),
        SnapshotDoc::FreezeThaw {
            freeze_timeout_s,
            hold_writes_limit_s,
            freeze_time_s,
            snapshot_time_s,
            retries,
            retry_interval_s,
            writer_vetoes,
        } => {
            let mut p = FreezeThaw::default().writer_vetoes(writer_vetoes);
            if let Some(s) = freeze_timeout_s {
                p = p.freeze_timeout(duration("snapshot.freeze_timeout_s", s)?);
            }
            if let Some(s) = hold_writes_limit_s {
                p = p.hold_writes_limit(duration("snapshot.hold_writes_limit_s", s)?);
            }
            if let Some(s) = freeze_time_s {
                p = p.freeze_time(duration("snapshot.freeze_time_s", s)?);
            }
            if let Some(s) = snapshot_time_s {
                p = p.snapshot_time(duration("snapshot.snapshot_time_s", s)?);
            }
            if let Some(r) = retries {
                p = p.retries(r);
            }
            if let Some(s) = retry_interval_s {
                p = p.retry_interval(duration("snapshot.retry_interval_s", s)?);
            }
            Arc::new(p)
        }
        SnapshotDoc::OnlineCopy {
            pages_per_step,
            step_interval_s,
            max_restarts,
        } => {
            let mut p = OnlineCopy::default();
            if let Some(n) = pages_per_step {
                p = p.pages_per_step(n);
            }
            if let Some(s) = step_interval_s {
                p = p.step_interval(duration("snapshot.step_interval_s", s)?);
            }
            if let Some(n) = max_restarts {
                p = p.max_restarts(n);
            }
            Arc::new(p)
        }
    })
}
