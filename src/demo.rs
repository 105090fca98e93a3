//! The demo's table: the KB night under each remedy, over many seeds.
//!
//! [`cases`] lists the rows — no remedy under each conflict behavior, each of
//! the KB's exclusions, a lock-aware backup — as [`DemoCase`]s: a label, a
//! plain-English explanation, and the [`Scenario`] behind it. [`run_case`]
//! runs one case over seeds `0..seeds` and sums the reports into a
//! [`DemoRow`]; [`table`] does it for every case; [`render_table`] and
//! [`rows_to_json`] display the result. `mailsim demo` is these four calls.
//!
//! What does not live here: the command line (the `mailsim` binary) and the
//! simulation itself ([`crate::sim`]).
//!
//! ```
//! let rows = mailsim::demo::table(2)?;
//! assert_eq!(rows.len(), mailsim::demo::cases().len());
//! println!("{}", mailsim::demo::render_table(&rows));
//! # Ok::<(), mailsim::Error>(())
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::backup::OpenFilePolicy;
use crate::error::Result;
use crate::policy::{ExcludeFile, ExcludeFolder};
use crate::report::Outcome;
use crate::server::ConflictBehavior;
use crate::sim::Scenario;

/// Version of the JSON written by [`rows_to_json`].
pub const SCHEMA_VERSION: u32 = 1;

/// One row of the demo: what a remedy came to over many nights.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoRow {
    /// Short name of the remedy ("exclude System Folder").
    pub label: String,
    /// One plain-English sentence saying what the row shows.
    pub explanation: String,
    /// How many runs ended in each outcome, in [`Outcome::ALL`] order: clean,
    /// graceful shutdown, hang, corrupted.
    pub counts: [u64; Outcome::ALL.len()],
    /// Median of the server's total downtime (planned and unplanned).
    pub median_downtime: Duration,
    /// Median of the downtime a policy asked for (stops, pauses).
    pub median_planned_downtime: Duration,
    /// Median of the downtime caused by a shutdown or a hang, until the
    /// administrator restarted the server.
    pub median_unplanned_downtime: Duration,
    /// Runs in which Mail Data (or a copy of it) was archived.
    pub mail_data_archived: u64,
    /// Runs in which at least one archived copy of Mail Data was consistent.
    pub mail_data_consistent: u64,
    /// Median recovery point age over the runs that archived Mail Data;
    /// `None` when no run did.
    pub median_recovery_point_age: Option<Duration>,
    /// Median number of files skipped because of an exclusion.
    pub median_files_excluded: u64,
    /// Runs simulated, one per seed (each a single night in the built-in
    /// cases).
    pub nights: u64,
}

impl DemoRow {
    /// Runs that ended in `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .map_or(0, |i| self.counts[i])
    }
}

/// One row to compute: a remedy, explained, and the scenario that applies it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DemoCase {
    /// Short name of the remedy.
    pub label: String,
    /// One plain-English sentence saying what the row shows.
    pub explanation: String,
    scenario: Scenario,
}

impl DemoCase {
    /// A case running `scenario` (its seed is replaced by each seed in turn).
    pub fn new(
        label: impl Into<String>,
        explanation: impl Into<String>,
        scenario: Scenario,
    ) -> DemoCase {
        DemoCase {
            label: label.into(),
            explanation: explanation.into(),
            scenario,
        }
    }

    /// The scenario behind the row.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }
}

/// The demo's rows, in display order: no remedy (the KB's drawn reaction,
/// then each fixed conflict behavior), the KB's three exclusions, and a
/// lock-aware backup.
pub fn cases() -> Vec<DemoCase> {
    let kb = Scenario::kb98097;
    vec![
        DemoCase::new(
            "no remedy (KB reaction)",
            "The backup copies the mail server's open data file, and the server reacts as \
             the KB article says: usually it shuts itself down, sometimes it freezes, and \
             mail stops until the administrator restarts it in the morning.",
            kb(),
        ),
        DemoCase::new(
            "no remedy, server shuts down",
            "The server always shuts itself down when the backup opens its data file: the \
             copy is good, but nobody gets mail until the administrator restarts it at 08:00.",
            kb().conflict_behavior(ConflictBehavior::Shutdown),
        ),
        DemoCase::new(
            "no remedy, server hangs",
            "The server freezes while still holding its data file, so mail stops and \
             nobody notices until the administrator arrives at 08:00.",
            kb().conflict_behavior(ConflictBehavior::Hang),
        ),
        DemoCase::new(
            "no remedy, server tolerates",
            "The server keeps working while the backup copies its data file, so the copy \
             mixes older and newer writes and is usually useless for a restore: the damage \
             the shutdown exists to prevent.",
            kb().conflict_behavior(ConflictBehavior::Tolerate),
        ),
        DemoCase::new(
            "exclude System Folder",
            "The backup skips the whole System Folder, where the data file lives: the \
             server is never disturbed, but neither the mail nor the system files are \
             backed up.",
            kb().exclusion(ExcludeFolder::new("System Folder")),
        ),
        DemoCase::new(
            "exclude Extensions",
            "The backup skips the Extensions folder that holds the data file: the server \
             is never disturbed, but the mail is not backed up.",
            kb().exclusion(ExcludeFolder::new("Extensions")),
        ),
        DemoCase::new(
            "exclude Microsoft Mail Data",
            "The backup skips only the data file itself: everything else is archived and \
             the server is never disturbed, but the mail is not backed up.",
            kb().exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        DemoCase::new(
            "respect locks",
            "The backup first checks whether another program has a file open for writing \
             and skips the data file instead of reading it: no disturbance, but no copy \
             of the mail either.",
            kb().open_files(OpenFilePolicy::respect_locks()),
        ),
    ]
}

/// Runs `case` for seeds `0..seeds` and sums the reports into a row.
///
/// A row of zero seeds has zero counts and zero medians.
pub fn run_case(case: &DemoCase, seeds: u64) -> Result<DemoRow> {
    let mut counts = [0; Outcome::ALL.len()];
    let mut downtime = Vec::new();
    let mut planned = Vec::new();
    let mut unplanned = Vec::new();
    let mut recovery = Vec::new();
    let mut excluded = Vec::new();
    let mut mail_data_archived = 0;
    let mut mail_data_consistent = 0;
    for seed in 0..seeds {
        let report = case.scenario.clone().seed(seed).run()?;
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == report.outcome()) {
            counts[i] += 1;
        }
        let m = report.metrics();
        downtime.push(m.server_downtime);
        planned.push(m.planned_downtime);
        unplanned.push(m.unplanned_downtime);
        recovery.extend(m.recovery_point_age);
        excluded.push(m.files_excluded);
        let mut copies = report.mail_data_archived().peekable();
        if copies.peek().is_some() {
            mail_data_archived += 1;
        }
        if copies.any(|a| a.verdict.is_consistent()) {
            mail_data_consistent += 1;
        }
    }
    Ok(DemoRow {
        label: case.label.clone(),
        explanation: case.explanation.clone(),
        counts,
        median_downtime: median_duration(downtime).unwrap_or_default(),
        median_planned_downtime: median_duration(planned).unwrap_or_default(),
        median_unplanned_downtime: median_duration(unplanned).unwrap_or_default(),
        mail_data_archived,
        mail_data_consistent,
        median_recovery_point_age: median_duration(recovery),
        median_files_excluded: median_u64(excluded),
        nights: seeds,
    })
}

/// Every row of [`cases`], each over seeds `0..seeds`.
pub fn table(seeds: u64) -> Result<Vec<DemoRow>> {
    cases().iter().map(|c| run_case(c, seeds)).collect()
}

/// The midpoint of the two middle values (or the middle one); `None` when empty.
fn median_duration(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

fn median_u64(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => 0,
        _ if n % 2 == 1 => v[n / 2],
        // Midpoint without overflow.
        _ => v[n / 2 - 1] + (v[n / 2] - v[n / 2 - 1]) / 2,
    }
}

/// A duration as people say it: `6 h 45 min`, `12 min 30 s`, `40 s`, `0 s`
/// (to the minute past an hour, to the second below; `< 1 s` for a nonzero
/// duration under a second).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {} min", s / 3600, (s / 60) % 60)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s == 0 && !d.is_zero() {
        "< 1 s".to_owned()
    } else {
        format!("{s} s")
    }
}

/// Short column heading for an outcome.
fn heading(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::GracefulShutdown => "shutdown",
        other => other.as_str(),
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    // Rounded to the nearest percent, but never 0% or 100% unless exact.
    let p = (part * 100 + whole / 2) / whole;
    let p = match p {
        0 if part > 0 => 1,
        100 if part < whole => 99,
        p => p,
    };
    format!("{p}%")
}

/// The rows as a plain-text table with aligned columns (remedy, one count
/// column per outcome, median downtime, share of nights with Mail Data
/// archived, median files excluded), then one `label: explanation` line per
/// row.
pub fn render_table(rows: &[DemoRow]) -> String {
    let mut header: Vec<String> = vec!["remedy".to_owned()];
    header.extend(Outcome::ALL.iter().map(|o| heading(*o).to_owned()));
    header.extend(["median downtime", "Mail Data archived", "files excluded"].map(str::to_owned));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.label.clone()];
            cells.extend(r.counts.iter().map(u64::to_string));
            cells.push(human_duration(r.median_downtime));
            cells.push(percent(r.mail_data_archived, r.nights));
            cells.push(r.median_files_excluded.to_string());
            cells
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&body)
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = String::new();
    if let Some(first) = rows.first() {
        let n = first.nights;
        if rows.iter().all(|r| r.nights == n) {
            let _ = writeln!(
                out,
                "The night of KB Q98097 under each remedy, {n} nights per row (seeds 0 to {}):",
                n.saturating_sub(1)
            );
            out.push('\n');
        }
    }
    let _ = writeln!(out, "{}", line(&header));
    let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    let _ = writeln!(out, "{}", "-".repeat(total));
    for cells in &body {
        let _ = writeln!(out, "{}", line(cells));
    }
    out.push('\n');
    for r in rows {
        let _ = writeln!(out, "{}: {}", r.label, r.explanation);
    }
    out
}

/// The rows as JSON: `{"schema": 1, "rows": [...]}`, each row an object whose
/// keys are [`DemoRow`]'s field names, durations as seconds in keys ending
/// `_s` (`median_recovery_point_age_s` is `null` when no run archived Mail
/// Data), and `counts` an object keyed by outcome name (`clean`,
/// `graceful_shutdown`, `hang`, `corrupted`).
pub fn rows_to_json(rows: &[DemoRow]) -> String {
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
                "nights": r.nights,
            })
        })
        .collect();
    json!({ "schema": SCHEMA_VERSION, "rows": rows }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::ZERO), "0 s");
        assert_eq!(human_duration(Duration::from_millis(300)), "< 1 s");
        assert_eq!(human_duration(Duration::from_secs(40)), "40 s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2 min");
        assert_eq!(human_duration(Duration::from_secs(750)), "12 min 30 s");
        assert_eq!(
            human_duration(Duration::from_secs(6 * 3600 + 45 * 60 + 10)),
            "6 h 45 min"
        );
    }

    #[test]
    fn medians() {
        let s = Duration::from_secs;
        assert_eq!(median_duration(vec![]), None);
        assert_eq!(median_duration(vec![s(3), s(1), s(2)]), Some(s(2)));
        assert_eq!(median_duration(vec![s(4), s(1)]), Some(s(2) + s(1) / 2));
        assert_eq!(median_u64(vec![]), 0);
        assert_eq!(median_u64(vec![9, 1, 5]), 5);
        assert_eq!(median_u64(vec![u64::MAX, u64::MAX - 2]), u64::MAX - 1);
    }

    #[test]
    fn percentages_are_never_rounded_to_all_or_nothing() {
        assert_eq!(percent(0, 100), "0%");
        assert_eq!(percent(1, 1000), "1%");
        assert_eq!(percent(999, 1000), "99%");
        assert_eq!(percent(5, 5), "100%");
        assert_eq!(percent(0, 0), "-");
    }

    #[test]
    fn rows_follow_the_cases() {
        let rows = table(1).expect("the built-in cases are valid");
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels[0], "no remedy (KB reaction)");
        assert_eq!(labels.len(), cases().len());
        for r in &rows {
            assert_eq!(r.counts.iter().sum::<u64>(), 1);
            assert_eq!(r.nights, 1);
        }
    }
}
