//! The demo's table: the KB night under each remedy, over many seeds.
//!
//! [`cases`] lists the rows — no remedy under each conflict behavior, each of
//! the KB's exclusions, a lock-aware backup, the KB's other remedies
//! (stopping the server, the MS Mail Backup copy with and without the
//! exclusion it needs) and the modern snapshot policies — as [`DemoCase`]s:
//! a label, a plain-English explanation of what the remedy costs, and the
//! [`Scenario`] behind it. [`run_case`]
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
use crate::policy::{
    CopyOnWrite, ExcludeFile, ExcludeFolder, FreezeThaw, OnlineCopy, ScheduledCopy, StopServer,
};
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
    /// Runs in which the snapshot policy gave up on a live file, so the
    /// backup skipped it.
    pub snapshot_gave_up: u64,
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
/// then each fixed conflict behavior), the KB's three exclusions, a
/// lock-aware backup, stopping the server (KB remedy 3), MS Mail Backup with
/// Mail Data excluded (KB remedy 4) and without, then the modern snapshot
/// policies: copy-on-write, freeze/thaw, online copy. Every row past the
/// fixed behaviors keeps the KB's drawn reaction.
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
        DemoCase::new(
            "stop the server",
            "The server is stopped just before the backup reaches its data file and started \
             again when the backup is done: the copy is always good and no night goes wrong, \
             but mail waits for the rest of the backup, a few planned minutes every night.",
            kb().snapshot(StopServer::default()),
        ),
        DemoCase::new(
            "MS Mail Backup, Mail Data excluded",
            "At midnight the MS Mail Backup control panel pauses the server for a few seconds \
             to copy its data file to the Backup Drive, and the backup, told to skip the live \
             file, archives that copy at 1:00: a short planned pause, and a restore brings \
             back the mail as it was at midnight.",
            kb().snapshot(ScheduledCopy::default())
                .exclusion(ExcludeFile::new("Microsoft Mail Data")),
        ),
        DemoCase::new(
            "MS Mail Backup, Mail Data not excluded",
            "The midnight copy is made, but nobody told the backup to skip the live file, so \
             it still opens it at 1:00 and the server still shuts down or hangs until morning: \
             the copy alone cures nothing.",
            kb().snapshot(ScheduledCopy::default()),
        ),
        DemoCase::new(
            "copy-on-write snapshot",
            "The backup archives an instant point-in-time clone of the data file instead of \
             the live one: no pause and a copy as fresh as the backup, but it needs a file \
             system or volume manager that can clone files.",
            kb().snapshot(CopyOnWrite),
        ),
        DemoCase::new(
            "freeze/thaw (VSS)",
            "The server finishes its transaction, flushes and holds its writes for a few \
             seconds while a shadow copy is made, and the backup archives the shadow copy: a \
             pause of seconds, and the server must implement a VSS writer to take part.",
            kb().snapshot(FreezeThaw::default()),
        ),
        DemoCase::new(
            "online copy (SQLite backup API)",
            "The server copies its own file a few pages at a time between transactions, \
             starting over whenever it writes: no pause at all, but under heavy mail traffic \
             the copy may never finish and the mail is then not backed up.",
            kb().snapshot(OnlineCopy::default()),
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
    let mut snapshot_gave_up = 0;
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
        if m.files_skipped_snapshot > 0 {
            snapshot_gave_up += 1;
        }
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
        snapshot_gave_up,
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

/// Columns of the table: a group heading shared with its neighbours, the
/// column's own heading, and its cell for a row.
struct Column {
    group: &'static str,
    heading: &'static str,
    cell: fn(&DemoRow) -> String,
}

fn columns() -> Vec<Column> {
    fn outcome<const I: usize>(r: &DemoRow) -> String {
        r.counts[I].to_string()
    }
    const NIGHTS: &str = "nights ending in";
    vec![
        Column {
            group: "",
            heading: "remedy",
            cell: |r| r.label.clone(),
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[0]),
            cell: outcome::<0>,
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[1]),
            cell: outcome::<1>,
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[2]),
            cell: outcome::<2>,
        },
        // Index 3 is `Crashed`, which only an injected fault causes: the
        // demo injects none.
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[4]),
            cell: outcome::<4>,
        },
        Column {
            group: "median downtime",
            heading: "planned",
            cell: |r| human_duration(r.median_planned_downtime),
        },
        Column {
            group: "median downtime",
            heading: "unplanned",
            cell: |r| human_duration(r.median_unplanned_downtime),
        },
        Column {
            group: "Mail Data in the archive",
            heading: "consistent",
            cell: |r| percent(r.mail_data_consistent, r.nights),
        },
        Column {
            group: "Mail Data in the archive",
            heading: "recovery point age",
            cell: |r| {
                r.median_recovery_point_age
                    .map_or_else(|| "-".to_owned(), human_duration)
            },
        },
        Column {
            group: "median",
            heading: "files excluded",
            cell: |r| r.median_files_excluded.to_string(),
        },
    ]
}

/// What the columns mean, printed under the table.
const LEGEND: &str = "\
nights ending in: how many nights ended clean, in a graceful shutdown, a hang, or with a corrupted copy archived.
median downtime: planned (stops and pauses a remedy asks for) and unplanned (a shutdown or a hang, until the administrator restarts the server at 08:00).
consistent: share of nights whose archive holds a consistent copy of Mail Data.
recovery point age: median, over the nights that archived Mail Data, of the time from when the archived copy was taken to the end of the backup (\"-\": no night archived it).
files excluded: median number of files the backup skipped because of an exclusion.
";

/// The rows as a plain-text table with aligned columns — remedy; how many
/// nights ended in each outcome; median planned and unplanned downtime;
/// share of nights with a consistent Mail Data in the archive and median
/// recovery point age; median files excluded — under group headings, then
/// a legend of the columns and one `label: explanation` line per row.
pub fn render_table(rows: &[DemoRow]) -> String {
    let columns = columns();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            body.iter()
                .map(|row| row[i].chars().count())
                .chain([c.heading.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Spans of columns sharing a group heading: (group, first, last).
    let mut spans: Vec<(&str, usize, usize)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        match spans.last_mut() {
            Some((g, _, last)) if *g == c.group && !g.is_empty() => *last = i,
            _ => spans.push((c.group, i, i)),
        }
    }
    let span_width = |widths: &[usize], first: usize, last: usize| -> usize {
        widths[first..=last].iter().sum::<usize>() + 2 * (last - first)
    };
    // A group heading wider than its columns widens the first of them.
    for &(group, first, last) in &spans {
        let need = group.chars().count();
        let have = span_width(&widths, first, last);
        if need > have {
            widths[first] += need - have;
        }
    }
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
    // Group headings, centered over their columns and ruled out to their
    // width: `--- median downtime ---`.
    let mut groups = String::new();
    for (k, &(group, first, last)) in spans.iter().enumerate() {
        if k > 0 {
            groups.push_str("  ");
        }
        let w = span_width(&widths, first, last);
        if group.is_empty() {
            groups.push_str(&" ".repeat(w));
        } else if group.chars().count() + 2 > w {
            let _ = write!(groups, "{group:^w$}");
        } else {
            let _ = write!(groups, "{:-^w$}", format!(" {group} "));
        }
    }
    let _ = writeln!(out, "{}", groups.trim_end());
    let headings: Vec<String> = columns.iter().map(|c| c.heading.to_owned()).collect();
    let _ = writeln!(out, "{}", line(&headings));
    let total = span_width(&widths, 0, widths.len() - 1);
    let _ = writeln!(out, "{}", "=".repeat(total));
    for cells in &body {
        let _ = writeln!(out, "{}", line(cells));
    }
    out.push('\n');
    out.push_str(LEGEND);
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

    fn row(label: &str, nights: u64) -> DemoRow {
        DemoRow {
            label: label.to_owned(),
            explanation: format!("{label} explained."),
            counts: [nights, 0, 0, 0, 0],
            median_downtime: Duration::from_secs(3),
            median_planned_downtime: Duration::from_secs(3),
            median_unplanned_downtime: Duration::ZERO,
            mail_data_archived: 0,
            mail_data_consistent: 0,
            median_recovery_point_age: None,
            median_files_excluded: 1,
            snapshot_gave_up: 0,
            nights,
        }
    }

    #[test]
    fn the_table_shows_what_each_remedy_costs() {
        let mut archived = row("a remedy that archives", 4);
        archived.mail_data_archived = 4;
        archived.mail_data_consistent = 3;
        archived.median_recovery_point_age = Some(Duration::from_secs(3600 + 18 * 60));
        archived.counts = [3, 1, 0, 0, 0];
        archived.median_unplanned_downtime = Duration::from_secs(6 * 3600 + 45 * 60);
        let text = render_table(&[row("skip it", 4), archived]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "The night of KB Q98097 under each remedy, 4 nights per row (seeds 0 to 3):"
        );
        // Group headings ruled over their columns, then the columns.
        assert!(lines[2].contains("- nights ending in -"), "{}", lines[2]);
        assert!(lines[2].contains("- median downtime -"), "{}", lines[2]);
        assert!(
            lines[2].contains("- Mail Data in the archive -"),
            "{}",
            lines[2]
        );
        let headings: Vec<&str> = lines[3]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            headings,
            [
                "remedy",
                "clean",
                "shutdown",
                "hang",
                "corrupted",
                "planned",
                "unplanned",
                "consistent",
                "recovery point age",
                "files excluded"
            ]
        );
        assert!(lines[4].chars().all(|c| c == '='));
        let cells = |line: &str| -> Vec<String> {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            cells(lines[5]),
            ["skip it", "4", "0", "0", "0", "3 s", "0 s", "0%", "-", "1"]
        );
        assert_eq!(
            cells(lines[6]),
            [
                "a remedy that archives",
                "3",
                "1",
                "0",
                "0",
                "3 s",
                "6 h 45 min",
                "75%",
                "1 h 18 min",
                "1"
            ]
        );
        // Every line of the table is as wide as the rule, at most.
        let rule = lines[4].len();
        assert!(lines[2..7].iter().all(|l| l.chars().count() <= rule));
        assert!(text.contains("recovery point age: median"));
        assert!(text.ends_with("a remedy that archives: a remedy that archives explained.\n"));
    }

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
