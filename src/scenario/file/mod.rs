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
//! `max_restarts`), or `custom` (`name`): a policy of the user's own, which
//! the file names but cannot hold. An exclusion of one's own is likewise
//! `{ "custom": "NAME" }` (its `Debug` form). A scenario naming such a
//! policy loads, and refuses to run until the caller supplies the policy
//! ([`Scenario::snapshot`], [`Scenario::exclusion`]); the error names it.
//! Durations are seconds, as numbers. `faults` holds
//! [`Fault`](super::Fault)s, tagged by `kind`. With `choices`, the file
//! replays that night exactly; without, it runs from its seed. `choices` is
//! an array (one sequence, read in the order the night asks) or an object
//! of arrays by stream (`{ "arrivals": [3, 0, 17], "reaction": [1] }`, each
//! stream replayed from its own list: see [`Choices`]). Unknown keys
//! are errors, and an error names the key at fault (`open_files.retries:
//! invalid type …`).
//! The file holds one JSON document and nothing after it but white space
//! (trailing text is an error naming its line and column), and is at most
//! [`MAX_SCENARIO_FILE_BYTES`] (4 MiB) long: a night's choices take a few
//! kilobytes.

use super::{Options, Scenario, Traffic};
use crate::backup::BackupSpeed;
use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::server::ConflictBehavior;

// The document types and their units (`doc`), the policies in and out of
// them (`policies`); this file holds what a document means for a scenario.
mod doc;
mod policies;

pub(in crate::scenario) use doc::Units;
use doc::{FileDoc, FileIn, SpeedDoc, TrafficDoc, duration, hm, secs, time};
use policies::{
    behavior_from, exclusion_from, exclusions_of, open_files_from, open_files_of, snapshot_from,
    snapshot_of,
};

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

impl Scenario {
    /// The scenario as a scenario file (JSON, [`SCENARIO_VERSION`]), with a
    /// night's `choices` when given (the file then replays that night
    /// exactly). A policy of your own is saved by its name, to be supplied
    /// when the file is loaded. Fails for durations over a year or with a
    /// part finer than a microsecond, which a file cannot hold.
    pub fn to_json(&self, choices: Option<&Choices>) -> Result<String> {
        let doc = doc_of(&self.opts, choices, Units::Exact)?;
        serde_json::to_string_pretty(&doc).map_err(|e| Error::invalid("scenario", e.to_string()))
    }

    /// Reads a scenario file.
    ///
    /// # Errors
    /// [`Error::InvalidScenarioFile`] for a malformed file, naming the key at
    /// fault; for a text longer than [`MAX_SCENARIO_FILE_BYTES`]; for text
    /// after the document (naming its line and column).
    pub fn from_json(text: &str) -> Result<ScenarioFile> {
        let mut doc = FileIn::parse(text)?;
        let choices = doc.choices.take();
        let mut s = Scenario::kb98097();
        apply(doc, &mut s.opts)?;
        s.validate_settings()?;
        Ok(ScenarioFile {
            scenario: s,
            choices,
        })
    }
}

/// The document a scenario file of `o` holds (with `choices` when given).
/// Fails for what a file cannot hold, in the order of its keys.
/// The scenario file of `o` (without choices) as a JSON value.
pub(in crate::scenario) fn doc_value(o: &Options, units: Units) -> Result<serde_json::Value> {
    serde_json::to_value(doc_of(o, None, units)?)
        .map_err(|e| Error::invalid("scenario", e.to_string()))
}

fn doc_of(o: &Options, choices: Option<&Choices>, units: Units) -> Result<FileDoc> {
    let mut exclusions = Vec::new();
    exclusions_of(&o.exclusion, &mut exclusions)?;
    Ok(FileDoc {
        schema: SCENARIO_SCHEMA.to_owned(),
        version: SCENARIO_VERSION,
        seed: Some(o.seed),
        nights: Some(o.nights),
        behavior: Some(o.conflict.map_or("kb", ConflictBehavior::as_str).to_owned()),
        shutdown_probability: Some(o.shutdown_probability),
        exclusions: Some(exclusions),
        open_files: Some(open_files_of(o.open_files, units)?),
        snapshot: Some(snapshot_of(&o.snapshot, units)?),
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
        hang_threshold_s: Some(secs("hang_threshold_s", o.hang_threshold, units)?),
        faults: o.faults.clone(),
        choices: choices.cloned(),
    })
}

/// The keys `doc` gives, over the preset's values in `o`, each checked in
/// the order of the document; its `choices` are the caller's.
fn apply(doc: FileIn, o: &mut Options) -> Result<()> {
    if let Some(seed) = doc.seed {
        o.seed = seed;
    }
    if let Some(n) = doc.nights {
        o.nights = n;
    }
    if let Some(b) = doc.behavior {
        o.conflict = behavior_from(&b)?;
    }
    if let Some(p) = doc.shutdown_probability {
        o.shutdown_probability = p;
    }
    if let Some(ex) = doc.exclusions {
        o.exclusion = exclusion_from(ex)?;
    }
    if let Some(of) = doc.open_files {
        o.open_files = open_files_from(of.into_doc()?)?;
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
    Ok(())
}
