//! The report's JSON schema, version [`SCHEMA_VERSION`].
//!
//! ```text
//! {
//!   "schema": 1,
//!   "outcome": "clean" | "graceful_shutdown" | "hang" | "corrupted",
//!   "seed": 7,
//!   "nights": 1,
//!   "scenario": { "behavior": "kb", "snapshot": "live read", "open_files": "ignore-locks" },
//!   "metrics": {
//!     "server_downtime_s": 0.0, "planned_downtime_s": 0.0, "unplanned_downtime_s": 0.0,
//!     "recovery_point_age_s": 97.1 | null,
//!     "messages_lost": 0, "deliveries_acknowledged": 151, "deliveries_deferred": 0,
//!     "files_archived": 31, "files_excluded": 0, "files_skipped_busy": 0, "bytes_archived": 31457280
//!   },
//!   "archive": [ { "path": "Server HD:…", "verdict": "consistent" | "torn", "len_bytes": 1,
//!                  "mail_data": false, "night": 1, "taken_at": "01:00:00",
//!                  "generation": 0, "age_s": 1.0, "stale": false } ],
//!   "choices": [ 3, 0, 17, … ],
//!   "timeline": [ { "time": "01:00:00", "night": 1, "actor": "retrospect_remote",
//!                   "kind": "opened", "path": "Server HD:…", "text": "01:00:00 Retrospect Remote opens …" } ]
//! }
//! ```
//!
//! Durations are seconds as numbers, in keys ending `_s`. `generation`,
//! `age_s` and `stale` appear only for consistent copies. Event objects carry
//! the fields of their kind besides the ones shown. New keys may be added
//! within a version; renaming or removing one bumps it.
//!
//! The schema is written once, by the `serde::Serialize` impls of
//! [`Report`], [`Metrics`], [`ArchivedFile`], [`Verdict`] and
//! [`Outcome`](super::Outcome) in this file: `serde_json::to_value(&report)`
//! is the value [`Report::to_json`] prints, and each part serializes as its
//! object in it (a [`Verdict`] as the `verdict` key and the keys that go with
//! it, which an archived file's object holds beside its own).

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{ArchivedFile, Metrics, Report, Verdict};
use crate::event::Event;

/// Version of the JSON schema written by [`Report::to_json`].
pub const SCHEMA_VERSION: u32 = 1;

pub(super) fn to_json(r: &Report) -> String {
    // Through a `Value`, whose object keys are sorted: the order the schema
    // has always been printed in.
    serde_json::to_value(r)
        // Cannot fail: every map key is a string, every value serializes.
        .expect("a report is a JSON value")
        .to_string()
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct ScenarioJson<'a> {
            behavior: &'a str,
            snapshot: &'a str,
            open_files: &'a str,
        }
        /// A timeline event with its narration.
        #[derive(serde::Serialize)]
        struct EventJson<'a> {
            #[serde(flatten)]
            event: &'a Event,
            text: String,
        }
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("schema", &SCHEMA_VERSION)?;
        m.serialize_entry("outcome", &self.outcome)?;
        m.serialize_entry("seed", &self.seed)?;
        m.serialize_entry("nights", &self.nights)?;
        m.serialize_entry(
            "scenario",
            &ScenarioJson {
                behavior: &self.behavior,
                snapshot: &self.snapshot,
                open_files: &self.open_files,
            },
        )?;
        m.serialize_entry("metrics", &self.metrics)?;
        m.serialize_entry("archive", &self.archive)?;
        m.serialize_entry("choices", self.choices.as_slice())?;
        let timeline: Vec<EventJson<'_>> = self
            .timeline
            .iter()
            .map(|event| EventJson {
                event,
                text: event.to_string(),
            })
            .collect();
        m.serialize_entry("timeline", &timeline)?;
        m.end()
    }
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(13))?;
        m.serialize_entry("server_downtime_s", &self.server_downtime.as_secs_f64())?;
        m.serialize_entry("planned_downtime_s", &self.planned_downtime.as_secs_f64())?;
        m.serialize_entry(
            "unplanned_downtime_s",
            &self.unplanned_downtime.as_secs_f64(),
        )?;
        m.serialize_entry(
            "recovery_point_age_s",
            &self.recovery_point_age.map(|d| d.as_secs_f64()),
        )?;
        m.serialize_entry("messages_lost", &self.messages_lost)?;
        m.serialize_entry("deliveries_acknowledged", &self.deliveries_acknowledged)?;
        m.serialize_entry("deliveries_deferred", &self.deliveries_deferred)?;
        m.serialize_entry("files_archived", &self.files_archived)?;
        m.serialize_entry("files_excluded", &self.files_excluded)?;
        m.serialize_entry("files_skipped_busy", &self.files_skipped_busy)?;
        m.serialize_entry("files_skipped_snapshot", &self.files_skipped_snapshot)?;
        m.serialize_entry("files_failed", &self.files_failed)?;
        m.serialize_entry("bytes_archived", &self.bytes_archived)?;
        m.end()
    }
}

/// A verdict's keys, into the map of the archived file that holds them.
fn verdict_entries<M: SerializeMap>(v: &Verdict, m: &mut M) -> Result<(), M::Error> {
    match *v {
        Verdict::Consistent {
            generation,
            age,
            stale,
        } => {
            m.serialize_entry("verdict", "consistent")?;
            m.serialize_entry("generation", &generation)?;
            m.serialize_entry("age_s", &age.as_secs_f64())?;
            m.serialize_entry("stale", &stale)
        }
        Verdict::Torn => m.serialize_entry("verdict", "torn"),
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        verdict_entries(self, &mut m)?;
        m.end()
    }
}

impl Serialize for ArchivedFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &self.path.to_string())?;
        verdict_entries(&self.verdict, &mut m)?;
        m.serialize_entry("len_bytes", &self.len_bytes)?;
        m.serialize_entry("mail_data", &self.mail_data)?;
        m.serialize_entry("night", &self.night)?;
        m.serialize_entry("taken_at", &self.taken_at.to_string())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::{ConflictBehavior, Outcome, Scenario, SimTime, VolumePath};

    fn report(behavior: ConflictBehavior) -> Report {
        Scenario::kb98097()
            .seed(7)
            .conflict_behavior(behavior)
            .run()
            .expect("the preset runs")
    }

    fn printed(r: &Report) -> Value {
        serde_json::from_str(&r.to_json()).expect("to_json prints JSON")
    }

    #[test]
    fn report_serializes_as_to_json_prints() {
        for behavior in [ConflictBehavior::Shutdown, ConflictBehavior::Tolerate] {
            let r = report(behavior);
            let v = serde_json::to_value(&r).expect("a report serializes");
            assert_eq!(v, printed(&r));
            assert_eq!(v["schema"], json!(SCHEMA_VERSION));
            assert!(v["timeline"][0]["text"].is_string(), "{}", v["timeline"][0]);
            // One source: printing the value is to_json, byte for byte.
            assert_eq!(v.to_string(), r.to_json());
        }
    }

    #[test]
    fn metrics_serialize_as_the_report_metrics() {
        let r = report(ConflictBehavior::Shutdown);
        let v = serde_json::to_value(r.metrics()).expect("metrics serialize");
        assert_eq!(v, printed(&r)["metrics"]);
        assert_eq!(v["files_archived"], json!(r.metrics().files_archived));
        let none = serde_json::to_value(Metrics::default()).expect("metrics serialize");
        assert_eq!(none["recovery_point_age_s"], Value::Null);
        assert_eq!(none["server_downtime_s"], json!(0.0));
    }

    #[test]
    fn outcome_serializes_as_its_name() {
        let r = report(ConflictBehavior::Shutdown);
        let v = serde_json::to_value(r.outcome()).expect("an outcome serializes");
        assert_eq!(v, printed(&r)["outcome"]);
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).ok(), Some(json!(o.as_str())));
        }
    }

    #[test]
    fn archived_files_serialize_as_the_archive_entries() {
        let r = report(ConflictBehavior::Shutdown);
        let archive = printed(&r)["archive"].clone();
        assert!(!r.archive().is_empty());
        for (a, printed) in r.archive().iter().zip(archive.as_array().expect("a list")) {
            assert_eq!(
                &serde_json::to_value(a).expect("a file serializes"),
                printed
            );
            // The verdict's keys are the entry's, beside the file's own.
            let verdict = serde_json::to_value(a.verdict).expect("a verdict serializes");
            let verdict = verdict.as_object().expect("an object");
            for (k, val) in verdict {
                assert_eq!(&printed[k], val, "{k}");
            }
            let own = ["path", "len_bytes", "mail_data", "night", "taken_at"];
            let keys = printed.as_object().expect("an object").len();
            assert_eq!(keys, verdict.len() + own.len(), "{printed}");
        }
    }

    #[test]
    fn verdicts_serialize_with_their_keys() {
        let consistent = Verdict::Consistent {
            generation: 3,
            age: Duration::from_millis(1500),
            stale: true,
        };
        assert_eq!(
            serde_json::to_value(consistent).ok(),
            Some(json!({"verdict": "consistent", "generation": 3, "age_s": 1.5, "stale": true}))
        );
        assert_eq!(
            serde_json::to_value(Verdict::Torn).ok(),
            Some(json!({"verdict": "torn"}))
        );
        let torn = ArchivedFile {
            path: VolumePath::parse("Server HD:Microsoft Mail Data").expect("a path"),
            len_bytes: 9,
            mail_data: true,
            night: 2,
            taken_at: SimTime::from_micros(3_600_000_000),
            verdict: Verdict::Torn,
        };
        assert_eq!(
            serde_json::to_value(&torn).ok(),
            Some(json!({
                "path": "Server HD:Microsoft Mail Data", "verdict": "torn", "len_bytes": 9,
                "mail_data": true, "night": 2, "taken_at": "01:00:00"
            }))
        );
    }
}
