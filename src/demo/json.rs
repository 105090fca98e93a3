//! The demo as JSON ([`demo_to_json`], schema [`SCHEMA_VERSION`]): the rows
//! ([`rows_to_json`]) and the excerpts.
//!
//! What does not live here: the rows and excerpts themselves.

use serde_json::{Map, Value, json};

use super::cases::DemoRow;
use super::excerpt::Excerpt;
use crate::report::Outcome;

/// Version of the JSON written by [`demo_to_json`] (its `schema` key).
pub const SCHEMA_VERSION: u32 = 1;

/// The table and the excerpts as JSON, what `mailsim demo --json` prints:
/// `{"schema": 1, "rows": [...], "excerpts": [...]}`. Each row is an
/// object whose keys are [`DemoRow`]'s field names (all but
/// `short_label`, a name for narrow tables only), durations as seconds in
/// keys ending `_s` (`median_recovery_point_age_s` is `null` when no run
/// archived Mail Data), and `counts` an object keyed by outcome name
/// (`clean`, `graceful_shutdown`, `hang`, `corrupted`). Each excerpt is an
/// object with the keys `outcome` (its JSON name), `label`, `seed`,
/// `caption`, `lines` (a list of strings), `verdict` and `command` (`null`
/// when unknown).
pub fn demo_to_json(rows: &[DemoRow], excerpts: &[Excerpt]) -> String {
    let mut v: Value = serde_json::from_str(&rows_to_json(rows)).unwrap_or(Value::Null);
    let list: Vec<Value> = excerpts
        .iter()
        .map(|e| {
            json!({
                "outcome": e.outcome.as_str(),
                "label": e.label,
                "seed": e.seed,
                "caption": e.caption,
                "lines": e.lines,
                "verdict": e.verdict,
                "command": e.command,
            })
        })
        .collect();
    if let Value::Object(map) = &mut v {
        map.insert("excerpts".to_owned(), Value::Array(list));
    }
    v.to_string()
}

/// The rows as JSON: `{"schema": 1, "rows": [...]}`, each row an object whose
/// keys are [`DemoRow`]'s field names (but `short_label`), durations as seconds in keys ending
/// `_s` (`median_recovery_point_age_s` is `null` when no run archived Mail
/// Data), and `counts` an object keyed by outcome name (`clean`,
/// `graceful_shutdown`, `hang`, `corrupted`).
fn rows_to_json(rows: &[DemoRow]) -> String {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let counts: Map<String, Value> = Outcome::ALL
                .iter()
                .zip(r.counts)
                .map(|(o, n)| (o.as_str().to_owned(), json!(n)))
                .collect();
            json!({
                "label": r.label,
                "explanation": r.explanation,
                "counts": counts,
                "median_downtime_s": r.median_downtime.as_secs_f64(),
                "median_planned_downtime_s": r.median_planned_downtime.as_secs_f64(),
                "median_unplanned_downtime_s": r.median_unplanned_downtime.as_secs_f64(),
                "mail_data_archived": r.mail_data_archived,
                "mail_data_consistent": r.mail_data_consistent,
                "median_recovery_point_age_s": r.median_recovery_point_age.map(|d| d.as_secs_f64()),
                "median_files_excluded": r.median_files_excluded,
                "snapshot_gave_up": r.snapshot_gave_up,
                "nights": r.nights,
            })
        })
        .collect();
    json!({ "schema": SCHEMA_VERSION, "rows": rows }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::cases::sample_row as row;

    #[test]
    fn rows_to_json_has_every_field() {
        let v: Value = serde_json::from_str(&rows_to_json(&[row("r", 2)])).unwrap();
        let r = &v["rows"][0];
        assert_eq!(r["median_recovery_point_age_s"], Value::Null);
        assert_eq!(r["median_planned_downtime_s"], 3.0);
        assert_eq!(r["snapshot_gave_up"], 0);
        assert_eq!(r["counts"]["clean"], 2);
        assert_eq!(r.as_object().unwrap().len(), 12);
    }
}
