//! What a scenario file holds, as serde reads and writes it: the document
//! written ([`FileDoc`] and its parts, tagged enums) and the one read
//! ([`FileIn`], flat objects, so that an error names the key at fault), the
//! checks of a document before anything in it is used, and its units
//! (seconds to the microsecond, times of day as `HH:MM`).
//!
//! What does not live here: what a document means for a scenario (`mod`)
//! and for its policies (`policies`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::Fault;
use super::{MAX_SCENARIO_FILE_BYTES, SCENARIO_SCHEMA, SCENARIO_VERSION};
use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::time::TimeOfDay;

/// Seconds, to the microsecond: exact through a write and a read. A
/// duration longer than a file may hold (a year), or finer than it holds (a
/// microsecond), cannot be saved: the night read back would not be the
/// night saved.
pub(super) fn secs(field: &'static str, d: Duration, units: Units) -> Result<f64> {
    if units == Units::Nearest {
        return Ok((d.as_micros() as f64 / 1e6).min(MAX_FILE_SECS));
    }
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

/// How durations are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Units {
    /// Exactly, or not at all (a scenario file).
    Exact,
    /// To the nearest microsecond, at most a year (a replay token, which
    /// always answers: virtual time counts microseconds, and no night
    /// waits a year).
    Nearest,
}

/// The longest duration a scenario file may hold.
const MAX_FILE_SECS: f64 = 366.0 * 24.0 * 3600.0;

pub(super) fn duration(field: &'static str, s: f64) -> Result<Duration> {
    if !(0.0..=MAX_FILE_SECS).contains(&s) {
        return Err(Error::invalid(
            field,
            format!("{s} is not a duration in seconds between 0 and a year"),
        ));
    }
    Ok(Duration::from_micros((s * 1e6).round() as u64))
}

pub(super) fn hm(t: TimeOfDay) -> String {
    let s = t.to_string();
    if s.ends_with(":00") {
        s[..5].to_owned()
    } else {
        s
    }
}

pub(super) fn time(field: &'static str, text: &str) -> Result<TimeOfDay> {
    TimeOfDay::parse(text)
        .ok_or_else(|| Error::invalid(field, format!("{text:?} is not a time of day (HH:MM)")))
}

#[derive(Serialize)]
pub(super) struct FileDoc {
    pub(super) schema: String,
    pub(super) version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) nights: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) behavior: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) shutdown_probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) exclusions: Option<Vec<ExclusionDoc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) open_files: Option<OpenFilesDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) snapshot: Option<SnapshotDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) backup_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) admin_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) traffic: Option<TrafficDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) backup_speed: Option<SpeedDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) hang_threshold_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) faults: Vec<Fault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) choices: Option<Choices>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum ExclusionDoc {
    Folder(String),
    File(String),
    Glob(String),
    /// A policy of the user's own, by its `Debug` form: supplied when the
    /// scenario is loaded.
    Custom(String),
}

#[derive(Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub(super) enum OpenFilesDoc {
    IgnoreLocks,
    RespectLocks { retries: u32, interval_s: f64 },
    WaitForIdle { idle_s: f64, timeout_s: f64 },
}

#[derive(Serialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub(super) enum SnapshotDoc {
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
    /// A policy of the user's own, by name: supplied when the scenario is
    /// loaded.
    Custom {
        name: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrafficDoc {
    pub(super) start: String,
    pub(super) end: String,
    pub(super) requests_per_hour: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SpeedDoc {
    pub(super) throughput_bytes_per_sec: u64,
    pub(super) chunk_bytes: u64,
}

/// What a file reads: flat objects, so that an error names the key at
/// fault (an internally tagged enum would hide it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileIn {
    pub(super) schema: String,
    pub(super) version: u32,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) nights: Option<u32>,
    #[serde(default)]
    pub(super) behavior: Option<String>,
    #[serde(default)]
    pub(super) shutdown_probability: Option<f64>,
    #[serde(default)]
    pub(super) exclusions: Option<Vec<ExclusionDoc>>,
    #[serde(default)]
    pub(super) open_files: Option<OpenFilesIn>,
    #[serde(default)]
    pub(super) snapshot: Option<SnapshotIn>,
    #[serde(default)]
    pub(super) backup_at: Option<String>,
    #[serde(default)]
    pub(super) admin_at: Option<String>,
    #[serde(default)]
    pub(super) traffic: Option<TrafficDoc>,
    #[serde(default)]
    pub(super) backup_speed: Option<SpeedDoc>,
    #[serde(default)]
    pub(super) hang_threshold_s: Option<f64>,
    #[serde(default)]
    pub(super) faults: Vec<Fault>,
    #[serde(default)]
    pub(super) choices: Option<Choices>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenFilesIn {
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
pub(super) struct SnapshotIn {
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
    #[serde(default)]
    name: Option<String>,
}

impl FileIn {
    /// The document `text` holds, or why it is not a scenario file of this
    /// version: too long, malformed (naming the key at fault), text after
    /// it, another schema or version. Nothing of it is checked further.
    pub(super) fn parse(text: &str) -> Result<FileIn> {
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
        Ok(doc)
    }
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
    /// The open-file policy the file names, with only its own knobs.
    pub(super) fn into_doc(self) -> Result<OpenFilesDoc> {
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
    /// The snapshot policy the file names, with only its own knobs.
    pub(super) fn into_doc(self) -> Result<SnapshotDoc> {
        let given = self.given();
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
            "custom" => {
                only("snapshot", p, &given, &["name"])?;
                let name = self.name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
                    file_error("snapshot.name", "missing: the name of the policy to supply")
                })?;
                SnapshotDoc::Custom { name }
            }
            other => {
                return Err(file_error(
                    "snapshot.policy",
                    format!(
                        "{other:?} is not one of live, stop-server, scheduled-copy, copy-on-write, freeze-thaw, online-copy, custom"
                    ),
                ));
            }
        })
    }

    /// Which knobs the file gives, by name: each may belong to one policy
    /// only.
    fn given(&self) -> [(&'static str, bool); 17] {
        [
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
            ("name", self.name.is_some()),
        ]
    }
}
