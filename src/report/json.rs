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

use serde_json::{Map, Value, json};

use super::{Report, Verdict};

/// Version of the JSON schema written by [`Report::to_json`].
pub const SCHEMA_VERSION: u32 = 1;

pub(super) fn to_json(r: &Report) -> String {
    let m = &r.metrics;
    let archive: Vec<Value> = r
        .archive
        .iter()
        .map(|a| {
            let mut o = Map::new();
            o.insert("path".into(), json!(a.path.to_string()));
            match a.verdict {
                Verdict::Consistent {
                    generation,
                    age,
                    stale,
                } => {
                    o.insert("verdict".into(), json!("consistent"));
                    o.insert("generation".into(), json!(generation));
                    o.insert("age_s".into(), json!(age.as_secs_f64()));
                    o.insert("stale".into(), json!(stale));
                }
                Verdict::Torn => {
                    o.insert("verdict".into(), json!("torn"));
                }
            }
            o.insert("len_bytes".into(), json!(a.len_bytes));
            o.insert("mail_data".into(), json!(a.mail_data));
            o.insert("night".into(), json!(a.night));
            o.insert("taken_at".into(), json!(a.taken_at.to_string()));
            Value::Object(o)
        })
        .collect();
    let timeline: Vec<Value> = r
        .timeline
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.insert("text".into(), json!(e.to_string()));
            }
            v
        })
        .collect();
    let doc = json!({
        "schema": SCHEMA_VERSION,
        "outcome": r.outcome.as_str(),
        "seed": r.seed,
        "nights": r.nights,
        "scenario": {
            "behavior": r.behavior,
            "snapshot": r.snapshot,
            "open_files": r.open_files,
        },
        "metrics": {
            "server_downtime_s": m.server_downtime.as_secs_f64(),
            "planned_downtime_s": m.planned_downtime.as_secs_f64(),
            "unplanned_downtime_s": m.unplanned_downtime.as_secs_f64(),
            "recovery_point_age_s": m.recovery_point_age.map(|d| d.as_secs_f64()),
            "messages_lost": m.messages_lost,
            "deliveries_acknowledged": m.deliveries_acknowledged,
            "deliveries_deferred": m.deliveries_deferred,
            "files_archived": m.files_archived,
            "files_excluded": m.files_excluded,
            "files_skipped_busy": m.files_skipped_busy,
            "files_skipped_snapshot": m.files_skipped_snapshot,
            "files_failed": m.files_failed,
            "bytes_archived": m.bytes_archived,
        },
        "archive": archive,
        "choices": r.choices.as_slice(),
        "timeline": timeline,
    });
    doc.to_string()
}
