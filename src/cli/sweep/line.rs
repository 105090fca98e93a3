//! The JSON line of one night, what `sweep --json` writes and `--merge`
//! reads back: [`Line`], made from a night's report ([`Line::of`]) and
//! parsed with its checks ([`parse_line`]).
//!
//! What does not live here: reading lines from files (`read_line`), and
//! adding them up (`summary`).

use mailsim::sim::Fault;
use mailsim::{Outcome, Report, Scenario};
use serde::{Deserialize, Serialize};

use crate::cli::CliError;

/// One night's line of `sweep --json`, in the documented key order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Line {
    pub(super) case: u64,
    pub(super) seed: u64,
    pub(super) outcome: String,
    pub(super) server_downtime_s: f64,
    pub(super) planned_downtime_s: f64,
    pub(super) unplanned_downtime_s: f64,
    pub(super) recovery_point_age_s: Option<f64>,
    pub(super) messages_lost: u64,
    pub(super) deliveries_deferred: u64,
    pub(super) files_archived: u64,
    pub(super) files_excluded: u64,
    pub(super) files_skipped_busy: u64,
    pub(super) bytes_archived: u64,
    /// The faults injected, as scenario files write them. Lines written
    /// before `--faults` existed have none.
    #[serde(default)]
    pub(super) faults: Vec<Fault>,
    pub(super) violation: Option<ViolationLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ViolationLine {
    pub(super) invariant: String,
    pub(super) detail: String,
    pub(super) event: Option<usize>,
}

impl Line {
    pub(super) fn of(case: u64, report: &Report, faults: Vec<Fault>) -> Line {
        let m = report.metrics();
        Line {
            case,
            seed: report.seed(),
            outcome: report.outcome().as_str().to_owned(),
            server_downtime_s: m.server_downtime.as_secs_f64(),
            planned_downtime_s: m.planned_downtime.as_secs_f64(),
            unplanned_downtime_s: m.unplanned_downtime.as_secs_f64(),
            recovery_point_age_s: m.recovery_point_age.map(|d| d.as_secs_f64()),
            messages_lost: m.messages_lost,
            deliveries_deferred: m.deliveries_deferred,
            files_archived: m.files_archived,
            files_excluded: m.files_excluded,
            files_skipped_busy: m.files_skipped_busy,
            bytes_archived: m.bytes_archived,
            faults,
            violation: mailsim::invariants::check(report)
                .err()
                .map(|v| ViolationLine {
                    invariant: v.invariant.as_str().to_owned(),
                    detail: v.detail,
                    event: v.event,
                }),
        }
    }

    pub(super) fn to_json(&self) -> Result<String, CliError> {
        serde_json::to_string(self).map_err(|e| CliError::Runtime(format!("JSON: {e}")))
    }
}

/// Parses one line of a merged file, or says why it is not a sweep line.
pub(super) fn parse_line(text: &[u8]) -> Result<Line, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if !Outcome::ALL.iter().any(|o| o.as_str() == line.outcome) {
        return Err(format!("unknown outcome {:?}", line.outcome));
    }
    if !line.faults.is_empty() {
        line.faults
            .iter()
            .fold(Scenario::kb98097(), |s, f| s.fault(f.clone()))
            .validate()
            .map_err(|e| e.to_string())?;
    }
    Ok(line)
}

/// A line of round figures, for the tests of what reads or sums lines.
#[cfg(test)]
pub(super) fn sample_line(case: u64, outcome: &str, violation: Option<ViolationLine>) -> Line {
    Line {
        case,
        seed: 100 + case,
        outcome: outcome.to_owned(),
        server_downtime_s: 1.5,
        planned_downtime_s: 0.0,
        unplanned_downtime_s: 1.5,
        recovery_point_age_s: None,
        messages_lost: 0,
        deliveries_deferred: 2,
        files_archived: 29,
        files_excluded: 0,
        files_skipped_busy: 0,
        bytes_archived: 1,
        faults: Vec::new(),
        violation,
    }
}

#[cfg(test)]
mod tests {
    use super::sample_line as line;
    use super::*;

    #[test]
    fn lines_round_trip_and_are_checked() {
        let l = line(
            3,
            "hang",
            Some(ViolationLine {
                invariant: "no_unbounded_wait".into(),
                detail: "a wait never ends".into(),
                event: Some(7),
            }),
        );
        let text = l.to_json().unwrap();
        assert!(text.starts_with("{\"case\":3,\"seed\":103,\"outcome\":\"hang\","));
        assert!(text.contains("\"recovery_point_age_s\":null"));
        assert_eq!(parse_line(text.as_bytes()), Ok(l));
        let e = parse_line(text.replace("hang", "melted").as_bytes()).unwrap_err();
        assert!(e.contains("melted"), "{e}");
        assert!(parse_line(b"{\"case\":1}").is_err());
    }
}
