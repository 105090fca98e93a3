//! The remedy catalogue: [`DemoCase`], a remedy explained and the scenario
//! that applies it; [`cases`], the demo's rows; and running them over many
//! seeds into [`DemoRow`]s ([`run_case`], [`table`],
//! [`table_and_excerpts`]).
//!
//! What does not live here: how rows are shown (the table, JSON), and how
//! excerpts are cut.

use std::time::Duration;

use super::excerpt::{Excerpt, Finder};
use crate::backup::OpenFilePolicy;
use crate::error::Result;
use crate::policy::{
    CopyOnWrite, ExcludeFile, ExcludeFolder, FreezeThaw, OnlineCopy, ScheduledCopy, StopServer,
};
use crate::report::Outcome;
use crate::server::ConflictBehavior;
use crate::sim::Scenario;

/// One row of the demo: what a remedy came to over many nights.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoRow {
    /// Short name of the remedy ("exclude System Folder").
    pub label: String,
    /// A shorter name still, for the demo's 80-column table
    /// ("MS Mail Backup, excluded"); the label itself when the case gives
    /// none ([`DemoCase::with_short_label`]). Not in the JSON.
    pub short_label: String,
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
    flags: Option<String>,
    short_label: Option<String>,
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
            flags: None,
            short_label: None,
        }
    }

    /// The same case, with a shorter name for narrow tables (the demo's
    /// 80-column table uses it when the label does not fit).
    pub fn with_short_label(mut self, short: impl Into<String>) -> DemoCase {
        self.short_label = Some(short.into());
        self
    }

    /// The name for narrow tables: the short label, or the label when the
    /// case has none.
    pub fn short_label(&self) -> &str {
        self.short_label.as_deref().unwrap_or(&self.label)
    }

    /// The same case, with the `mailsim run` flags that describe its
    /// scenario (`--snapshot stop-server`; empty for the KB night as it
    /// is), so that a reader can replay one of its nights.
    pub fn with_flags(mut self, flags: impl Into<String>) -> DemoCase {
        self.flags = Some(flags.into());
        self
    }

    /// The scenario behind the row.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The `mailsim run` flags that run this case's scenario, when known.
    pub fn flags(&self) -> Option<&str> {
        self.flags.as_deref()
    }

    /// The command that replays night `seed` of this case, when its flags
    /// are known: `mailsim run --snapshot stop-server --seed 0`.
    pub fn command(&self, seed: u64) -> Option<String> {
        self.flags.as_deref().map(|f| {
            if f.is_empty() {
                format!("mailsim run --seed {seed}")
            } else {
                format!("mailsim run {f} --seed {seed}")
            }
        })
    }
}

/// The demo's rows, in display order: no remedy (the KB's drawn reaction,
/// then each fixed conflict behavior), the KB's three exclusions, a
/// lock-aware backup, stopping the server (KB remedy 3), MS Mail Backup with
/// Mail Data excluded (KB remedy 4) and without, then the modern snapshot
/// policies: copy-on-write, freeze/thaw, online copy. Every row past the
/// fixed behaviors keeps the KB's drawn reaction.
pub fn cases() -> Vec<DemoCase> {
    let mut cases = no_remedy();
    cases.extend(exclusions());
    cases.extend(kb_stop_and_copy());
    cases.extend(snapshots());
    cases
}

/// No remedy: the KB's drawn reaction, then each fixed conflict behavior.
fn no_remedy() -> Vec<DemoCase> {
    let kb = Scenario::kb98097;
    vec![
        DemoCase::new(
            "no remedy (KB reaction)",
            "Nothing is done: at 01:00 the backup opens the mail server's live data file, and \
             the server reacts as the KB article says, usually shutting itself down and \
             sometimes hanging; either way mail stops for the rest of the night, until the \
             administrator restarts the server at 08:00.",
            kb(),
        )
        .with_flags(""),
        DemoCase::new(
            "no remedy, server shuts down",
            "The server always shuts itself down the moment the backup opens its data file: \
             the archived copy is good, but nobody gets mail until the administrator restarts \
             the server at 08:00.",
            kb().conflict_behavior(ConflictBehavior::Shutdown),
        )
        .with_flags("--behavior shutdown")
        .with_short_label("no remedy, shutdown"),
        DemoCase::new(
            "no remedy, server hangs",
            "The server stops answering but keeps its data file open: the archived copy is \
             good, but mail clients wait for nothing until the administrator finds the server \
             hung at 08:00 and restarts it.",
            kb().conflict_behavior(ConflictBehavior::Hang),
        )
        .with_flags("--behavior hang")
        .with_short_label("no remedy, hang"),
        DemoCase::new(
            "no remedy, server tolerates",
            "The server ignores the backup and keeps writing while its file is copied: no \
             downtime at all, but the archived copy usually mixes older and newer writes (it \
             is torn) and is useless for a restore: the damage the shutdown exists to prevent.",
            kb().conflict_behavior(ConflictBehavior::Tolerate),
        )
        .with_flags("--behavior tolerate")
        .with_short_label("no remedy, tolerate"),
    ]
}

/// The KB's three exclusions (remedies 1 and 2), and a lock-aware backup.
fn exclusions() -> Vec<DemoCase> {
    let kb = Scenario::kb98097;
    vec![
        DemoCase::new(
            "exclude System Folder",
            "The backup skips the whole System Folder, which holds the data file (KB remedy \
             1): the server is never disturbed, but neither the mail nor the system software \
             is backed up.",
            kb().exclusion(ExcludeFolder::new("System Folder")),
        )
        .with_flags("--exclude-folder \"System Folder\""),
        DemoCase::new(
            "exclude Extensions",
            "The backup skips the Extensions folder, which holds the data file (KB remedy 1): \
             the server is never disturbed, but the mail and the extensions are not backed up.",
            kb().exclusion(ExcludeFolder::new("Extensions")),
        )
        .with_flags("--exclude-folder Extensions"),
        DemoCase::new(
            "exclude Microsoft Mail Data",
            "The backup skips just the data file (KB remedy 2): everything else is archived \
             and the server is never disturbed, but there is no backup of the mail at all.",
            kb().exclusion(ExcludeFile::new("Microsoft Mail Data")),
        )
        .with_flags("--exclude-file \"Microsoft Mail Data\"")
        .with_short_label("exclude Mail Data"),
        DemoCase::new(
            "respect locks",
            "A lock-aware backup sees that the server holds the data file and skips it \
             without opening it: the server is never disturbed, but there is no backup of the \
             mail either.",
            kb().open_files(OpenFilePolicy::respect_locks()),
        )
        .with_flags("--open-files respect-locks"),
    ]
}

/// Stopping the server (KB remedy 3), and MS Mail Backup with Mail Data
/// excluded (KB remedy 4) and without.
fn kb_stop_and_copy() -> Vec<DemoCase> {
    let kb = Scenario::kb98097;
    vec![
        DemoCase::new(
            "stop the server",
            "The server is stopped just before the backup reaches its data file and started \
             again when the backup ends (KB remedy 3): the copy is always good and no night \
             goes wrong, but mail waits a few planned minutes every night.",
            kb().snapshot(StopServer::default()),
        )
        .with_flags("--snapshot stop-server"),
        DemoCase::new(
            "MS Mail Backup, Mail Data excluded",
            "At midnight the MS Mail Backup control panel pauses the server for a few seconds \
             to copy its data file to another volume, and the backup, told to skip the live \
             file, archives that copy at 01:00 (KB remedy 4): a pause of seconds, but a \
             restore brings back the mail as it was at midnight.",
            kb().snapshot(ScheduledCopy::default())
                .exclusion(ExcludeFile::new("Microsoft Mail Data")),
        )
        .with_flags("--snapshot scheduled-copy --exclude-file \"Microsoft Mail Data\"")
        .with_short_label("MS Mail Backup, excluded"),
        DemoCase::new(
            "MS Mail Backup, Mail Data not excluded",
            "The midnight copy is made, but nobody told the backup to skip the live file, so \
             it still opens it at 01:00 and the server still shuts down or hangs until \
             morning: the copy alone cures nothing.",
            kb().snapshot(ScheduledCopy::default()),
        )
        .with_flags("--snapshot scheduled-copy")
        .with_short_label("MS Mail Backup alone"),
    ]
}

/// The modern snapshot policies: copy-on-write, freeze/thaw, online copy.
fn snapshots() -> Vec<DemoCase> {
    let kb = Scenario::kb98097;
    vec![
        DemoCase::new(
            "copy-on-write snapshot",
            "The backup archives an instant point-in-time clone of the data file instead of \
             the live file: no pause and a copy as fresh as the backup, but it needs a file \
             system or volume manager that can clone files.",
            kb().snapshot(CopyOnWrite),
        )
        .with_flags("--snapshot copy-on-write"),
        DemoCase::new(
            "freeze/thaw (VSS)",
            "As with Windows VSS, the server finishes its transaction, flushes and holds its \
             writes for a few seconds while a shadow copy is made, and the backup archives the \
             shadow copy: a pause of seconds, and the server must take part (a VSS writer).",
            kb().snapshot(FreezeThaw::default()),
        )
        .with_flags("--snapshot freeze-thaw"),
        DemoCase::new(
            "online copy (SQLite backup API)",
            "As with SQLite's backup API, the server copies its own file a few pages at a time \
             between transactions, starting over whenever it writes: no pause at all, but \
             under heavy mail traffic the copy may never finish, and then the mail is not \
             backed up.",
            kb().snapshot(OnlineCopy::default()),
        )
        .with_flags("--snapshot online-copy")
        .with_short_label("online copy (SQLite)"),
    ]
}

/// Runs `case` for seeds `0..seeds` and sums the reports into a row.
///
/// A row of zero seeds has zero counts and zero medians.
pub fn run_case(case: &DemoCase, seeds: u64) -> Result<DemoRow> {
    run_case_finding(case, seeds, &mut Finder::default())
}

fn run_case_finding(case: &DemoCase, seeds: u64, finder: &mut Finder) -> Result<DemoRow> {
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
        finder.consider(case, seed, &report);
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
        short_label: case.short_label().to_owned(),
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

/// Every row of [`cases`], each over seeds `0..seeds`, and an [`Excerpt`]
/// for each outcome of [`EXCERPT_OUTCOMES`](super::EXCERPT_OUTCOMES), taken
/// from the first night of the table (row by row, seed by seed) that shows
/// it; an outcome that no night of the table shows is looked for in the
/// next seeds of each row.
pub fn table_and_excerpts(seeds: u64) -> Result<(Vec<DemoRow>, Vec<Excerpt>)> {
    let cases = cases();
    let mut finder = Finder::default();
    let rows = cases
        .iter()
        .map(|c| run_case_finding(c, seeds, &mut finder))
        .collect::<Result<Vec<_>>>()?;
    'more: for extra in seeds..seeds.saturating_add(EXTRA_SEEDS) {
        for case in &cases {
            if finder.done() {
                break 'more;
            }
            let report = case.scenario.clone().seed(extra).run()?;
            finder.consider(case, extra, &report);
        }
    }
    Ok((rows, finder.excerpts()))
}

/// Seeds past the table's searched for an outcome it did not show.
const EXTRA_SEEDS: u64 = 100;

/// A file name for a row's picture: the label in lower case, each run of
/// characters other than ASCII letters and digits a single `-`
/// (`no remedy (KB reaction)` → `no-remedy-kb-reaction`).
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("row");
    }
    out
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

/// A row of round figures, for the tests of what displays rows.
#[cfg(test)]
pub(super) fn sample_row(label: &str, nights: u64) -> DemoRow {
    DemoRow {
        label: label.to_owned(),
        short_label: label.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
