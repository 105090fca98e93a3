//! The demo's table: the KB night under each remedy, over many seeds, and a
//! narrated excerpt of a real night for each outcome.
//!
//! [`cases`] lists the rows — no remedy under each conflict behavior, each of
//! the KB's exclusions, a lock-aware backup, the KB's other remedies
//! (stopping the server, the MS Mail Backup copy with and without the
//! exclusion it needs) and the modern snapshot policies — as [`DemoCase`]s:
//! a label, a plain-English explanation of what the row shows and what the
//! remedy costs, the [`Scenario`] behind it and the `mailsim run` flags that
//! replay it. [`run_case`] runs one case over seeds `0..seeds` and sums the
//! reports into a [`DemoRow`]; [`table`] does it for every case;
//! [`render_table`] and [`rows_to_json`] display the result.
//!
//! [`table_and_excerpts`] also picks, for each outcome of
//! [`EXCERPT_OUTCOMES`] (clean, graceful shutdown, hang, corrupted), the
//! first night of the table that ends that way and cuts an [`Excerpt`] of
//! its narration: the minutes around the conflict, or on a clean night
//! around the moment the remedy acted ([`excerpt`] does it for any report).
//! [`render_demo`] prints the whole of `mailsim demo` — a paragraph on the
//! problem, the table, the excerpts — in plain text or with ANSI colours;
//! [`demo_to_json`] is its `--json`. [`narrate_condensed`] is the
//! narration `mailsim run` prints, routine traffic condensed.
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
use crate::report::{Actor, Event, EventKind, Outcome, Report, Unavailable, Verdict};
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
    flags: Option<String>,
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
        }
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
        .with_flags("--behavior shutdown"),
        DemoCase::new(
            "no remedy, server hangs",
            "The server stops answering but keeps its data file open: the archived copy is \
             good, but mail clients wait for nothing until the administrator finds the server \
             hung at 08:00 and restarts it.",
            kb().conflict_behavior(ConflictBehavior::Hang),
        )
        .with_flags("--behavior hang"),
        DemoCase::new(
            "no remedy, server tolerates",
            "The server ignores the backup and keeps writing while its file is copied: no \
             downtime at all, but the archived copy usually mixes older and newer writes (it \
             is torn) and is useless for a restore: the damage the shutdown exists to prevent.",
            kb().conflict_behavior(ConflictBehavior::Tolerate),
        )
        .with_flags("--behavior tolerate"),
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
        .with_flags("--exclude-file \"Microsoft Mail Data\""),
        DemoCase::new(
            "respect locks",
            "A lock-aware backup sees that the server holds the data file and skips it \
             without opening it: the server is never disturbed, but there is no backup of the \
             mail either.",
            kb().open_files(OpenFilePolicy::respect_locks()),
        )
        .with_flags("--open-files respect-locks"),
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
        .with_flags("--snapshot scheduled-copy --exclude-file \"Microsoft Mail Data\""),
        DemoCase::new(
            "MS Mail Backup, Mail Data not excluded",
            "The midnight copy is made, but nobody told the backup to skip the live file, so \
             it still opens it at 01:00 and the server still shuts down or hangs until \
             morning: the copy alone cures nothing.",
            kb().snapshot(ScheduledCopy::default()),
        )
        .with_flags("--snapshot scheduled-copy"),
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
        .with_flags("--snapshot online-copy"),
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
/// for each outcome of [`EXCERPT_OUTCOMES`], taken from the first night of
/// the table (row by row, seed by seed) that shows it; an outcome that no
/// night of the table shows is looked for in the next seeds of each row.
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

/// The outcomes the demo shows an excerpt of, in the order it shows them.
pub const EXCERPT_OUTCOMES: [Outcome; 4] = [
    Outcome::Clean,
    Outcome::GracefulShutdown,
    Outcome::Hang,
    Outcome::Corrupted,
];

/// The first night found for each outcome of [`EXCERPT_OUTCOMES`].
#[derive(Default)]
struct Finder {
    found: [Option<Excerpt>; EXCERPT_OUTCOMES.len()],
}

impl Finder {
    fn consider(&mut self, case: &DemoCase, seed: u64, report: &Report) {
        let Some(i) = EXCERPT_OUTCOMES.iter().position(|o| *o == report.outcome()) else {
            return;
        };
        if self.found[i].is_none() {
            self.found[i] = excerpt(report, &case.label, seed).map(|mut e| {
                e.command = case.command(seed);
                e
            });
        }
    }

    fn done(&self) -> bool {
        self.found.iter().all(Option::is_some)
    }

    fn excerpts(self) -> Vec<Excerpt> {
        self.found.into_iter().flatten().collect()
    }
}

/// How a line of narration is painted on a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tone {
    Plain,
    Dim,
    /// The foreign access itself.
    Conflict,
    /// Something went wrong: a shutdown, a hang, a torn copy.
    Bad,
    /// Requests deferred, the administrator's restart.
    Warn,
    /// A remedy acting: a planned stop, a pause, a snapshot, a copy aside.
    Remedy,
    /// A consistent copy archived.
    Good,
}

impl Tone {
    fn ansi(self) -> &'static str {
        match self {
            Tone::Plain => "",
            Tone::Dim => "\x1b[2m",
            Tone::Conflict => "\x1b[1;31m",
            Tone::Bad => "\x1b[31m",
            Tone::Warn => "\x1b[33m",
            Tone::Remedy => "\x1b[36m",
            Tone::Good => "\x1b[32m",
        }
    }
}

const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// `text` in `tone` when `color` is on.
fn paint(text: &str, tone: Tone, color: bool) -> String {
    if color && tone != Tone::Plain && !text.is_empty() {
        format!("{}{text}{RESET}", tone.ansi())
    } else {
        text.to_owned()
    }
}

fn bold(text: &str, color: bool) -> String {
    if color && !text.is_empty() {
        format!("{BOLD}{text}{RESET}")
    } else {
        text.to_owned()
    }
}

/// A narrated excerpt of a real night: the minutes around the conflict
/// (or, on a clean night, around the moment the remedy acted), with
/// routine traffic condensed as `mailsim run` does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Excerpt {
    /// The night's outcome.
    pub outcome: Outcome,
    /// The demo row (or any name given to [`excerpt`]) the night comes from.
    pub label: String,
    /// The night's seed.
    pub seed: u64,
    /// One sentence saying what the excerpt shows.
    pub caption: String,
    /// The narration, one event (or one run of routine traffic) a line;
    /// `⋮` where minutes or hours are left out; `↳` lines give the
    /// oracle's verdict on an archived copy of Mail Data.
    pub lines: Vec<String>,
    /// The night's outcome and what it cost, in one sentence.
    pub verdict: String,
    /// The command that replays the night, when known.
    pub command: Option<String>,
    tones: Vec<Tone>,
    /// Paths named in the lines: never broken across lines when wrapped.
    paths: Vec<String>,
}

/// Events shown before the focus of an excerpt (lines, after condensing).
const BEFORE: usize = 3;
/// Events shown after it.
const AFTER: usize = 7;

/// The excerpt of `report` for its outcome: the narration from a few
/// events before the first foreign access to a few after it, then how
/// the night was put right (the administrator's restart), when that came
/// later. On a clean night it centres on the moment a remedy acted on Mail
/// Data (a planned stop, a freeze, a snapshot, the read of a copy); a
/// clean night with no such moment, or one on which the backup opened the
/// live file anyway, has no excerpt (`None`), nor has an outcome that
/// [`EXCERPT_OUTCOMES`] does not list.
pub fn excerpt(report: &Report, label: &str, seed: u64) -> Option<Excerpt> {
    let outcome = report.outcome();
    if !EXCERPT_OUTCOMES.contains(&outcome) {
        return None;
    }
    // The backup's progress through the other files is left out: it would
    // drown the few lines that matter.
    let events: Vec<Event> = report
        .timeline()
        .iter()
        .filter(|e| {
            !(e.actor == Actor::RetrospectRemote
                && matches!(e.kind, EventKind::Opened | EventKind::Archived { .. })
                && !e.path.as_ref().is_some_and(is_mail_data))
        })
        .cloned()
        .collect();
    let events = events.as_slice();
    let conflict = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::ForeignAccess { .. }));
    let focus = if outcome == Outcome::Clean {
        if conflict.is_some()
            || !report
                .mail_data_archived()
                .any(|a| a.verdict.is_consistent())
        {
            return None;
        }
        events.iter().position(remedy_acts)?
    } else {
        conflict?
    };
    let items = narration_items(events);
    let mut paths: Vec<String> = Vec::new();
    let at = items.iter().position(|it| it.last >= focus)?;
    let from = at.saturating_sub(BEFORE);
    let to = (at + AFTER + 1).min(items.len());
    let mut lines = Vec::new();
    let mut tones = Vec::new();
    let mut push = |items: &[Item], lines: &mut Vec<String>, tones: &mut Vec<Tone>| {
        for it in items {
            // A hang's wait-for chain is for `mailsim run`: here, its
            // first clause says enough.
            let text = match events[it.first].kind {
                EventKind::HangDetected { .. } => {
                    it.text.split("; ").next().unwrap_or(&it.text).to_owned()
                }
                _ => it.text.clone(),
            };
            lines.push(text);
            tones.push(it.tone);
            for e in &events[it.first..=it.last] {
                if let Some(p) = e.path.as_ref().map(ToString::to_string)
                    && !paths.contains(&p)
                {
                    paths.push(p);
                }
            }
            if let Some((text, tone)) = archived_verdict(report, &events[it.first..=it.last]) {
                lines.push(text);
                tones.push(tone);
            }
        }
    };
    push(&items[from..to], &mut lines, &mut tones);
    // How the night was put right, when it came later.
    if let Some(fix) = items[to..].iter().position(|it| {
        events[it.first..=it.last].iter().any(|e| {
            matches!(
                e.kind,
                EventKind::Restarted { .. } | EventKind::PlannedStart | EventKind::Resumed
            )
        })
    }) {
        let fix = to + fix;
        if fix > to {
            lines.push("⋮".to_owned());
            tones.push(Tone::Dim);
        }
        // The fix and what happens at the same moment (a restart, the
        // resent requests), at most three lines.
        let time = events[items[fix].first].time;
        let end = items[fix..]
            .iter()
            .take(3)
            .take_while(|it| events[it.first].time == time)
            .count();
        push(&items[fix..fix + end], &mut lines, &mut tones);
    }
    Some(Excerpt {
        outcome,
        label: label.to_owned(),
        seed,
        caption: caption(outcome).to_owned(),
        lines,
        verdict: verdict(report),
        command: None,
        tones,
        paths,
    })
}

/// Whether `e` is a remedy acting on Mail Data (or the backup reading a
/// consistent source of it): the focus of a clean night's excerpt.
fn remedy_acts(e: &Event) -> bool {
    match e.kind {
        EventKind::PlannedStop | EventKind::WriterState { .. } => true,
        EventKind::SnapshotTaken { .. } | EventKind::Opened => {
            e.path.as_ref().is_some_and(is_mail_data)
        }
        _ => false,
    }
}

/// Microsoft Mail Data, or a copy of it.
fn is_mail_data(p: &crate::volume::VolumePath) -> bool {
    crate::datafile::is_mail_data_name(p.name())
}

/// The oracle's verdict on a copy of Mail Data that `events` archive.
fn archived_verdict(report: &Report, events: &[Event]) -> Option<(String, Tone)> {
    events.iter().find_map(|e| {
        let EventKind::Archived { .. } = e.kind else {
            return None;
        };
        let path = e.path.as_ref()?;
        let a = report
            .mail_data_archived()
            .find(|a| a.night == e.night && &a.path == path)?;
        Some(match a.verdict {
            Verdict::Torn => (
                "         ↳ TORN: the archived copy equals no state the file ever held".to_owned(),
                Tone::Bad,
            ),
            Verdict::Consistent {
                generation, stale, ..
            } => (
                format!(
                    "         ↳ a consistent copy (generation {generation}{})",
                    if stale {
                        ", stale: made on an earlier night"
                    } else {
                        ""
                    }
                ),
                Tone::Good,
            ),
        })
    })
}

fn caption(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Clean => {
            "A remedy keeps the backup away from the live file: nothing goes wrong, and the \
             archive holds a consistent copy of Mail Data."
        }
        Outcome::GracefulShutdown => {
            "The backup opens the live data file; the server notices, shuts itself down to \
             protect the file, and stays down until the administrator comes in."
        }
        Outcome::Hang => {
            "The backup opens the live data file; the server stops answering but keeps the \
             file open, and nobody notices until the administrator comes in."
        }
        _ => {
            "The backup opens the live data file; the server keeps writing while the file is \
             copied, so the archived copy is torn."
        }
    }
}

fn verdict(report: &Report) -> String {
    let m = report.metrics();
    let deferred = format!(
        "{} request{} deferred",
        m.deliveries_deferred,
        if m.deliveries_deferred == 1 { "" } else { "s" }
    );
    match report.outcome() {
        Outcome::Clean => format!(
            "→ clean: {} of planned downtime, none unplanned, {deferred}; the archive \
             holds a consistent copy of Mail Data{}.",
            human_duration(m.planned_downtime),
            m.recovery_point_age
                .map(|d| format!(", {} old when the backup ended", human_duration(d)))
                .unwrap_or_default()
        ),
        Outcome::GracefulShutdown => format!(
            "→ graceful shutdown: the archived copy is consistent, but mail was down for \
             {} ({deferred}) until the administrator restarted the server.",
            human_duration(m.unplanned_downtime)
        ),
        Outcome::Hang => format!(
            "→ hang: the server held its file without answering for {} ({deferred}) \
             until the administrator restarted it.",
            human_duration(m.unplanned_downtime)
        ),
        other => format!(
            "→ {other}: no downtime, but the archived copy of Mail Data is torn, so a \
             restore would bring back a damaged file."
        ),
    }
}

/// The excerpts as text: a heading per outcome, the caption, the narrated
/// lines (indented), the verdict and the command that replays the night;
/// painted with ANSI colours when `color` is on.
pub fn render_excerpts(excerpts: &[Excerpt], color: bool) -> String {
    let mut out = String::new();
    if excerpts.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        bold(
            "What each outcome looks like: the minutes around the conflict, in a real night \
             of the table.",
            color
        )
    );
    for e in excerpts {
        out.push('\n');
        let heading = format!("── {} ── {}, seed {} ", e.outcome, e.label, e.seed);
        let tone = match e.outcome {
            Outcome::Clean => Tone::Good,
            Outcome::Corrupted => Tone::Bad,
            _ => Tone::Warn,
        };
        let rule = "─".repeat(EXCERPT_WIDTH.saturating_sub(heading.chars().count()));
        let _ = writeln!(
            out,
            "{}",
            bold(&paint(&format!("{heading}{rule}"), tone, color), color)
        );
        for line in wrap(&e.caption, EXCERPT_WIDTH, "") {
            let _ = writeln!(out, "{line}");
        }
        for (line, tone) in e.lines.iter().zip(&e.tones) {
            // Paths keep their spaces unbroken.
            let mut kept = line
                .replace(" MB)", "\u{a0}MB)")
                .replace(" KB)", "\u{a0}KB)");
            for p in &e.paths {
                kept = kept.replace(p.as_str(), &p.replace(' ', "\u{a0}"));
            }
            let parts: Vec<String> = wrap(&kept, EXCERPT_WIDTH - 2, "         ")
                .into_iter()
                .map(|l| l.replace('\u{a0}', " "))
                .collect();
            for (k, part) in parts.iter().enumerate() {
                let text = if k == 0 {
                    paint_time(part, *tone, color)
                } else {
                    paint(part, *tone, color)
                };
                let _ = writeln!(out, "  {text}");
            }
        }
        for line in wrap(&e.verdict, EXCERPT_WIDTH, "") {
            let _ = writeln!(out, "{}", bold(&line, color));
        }
        if let Some(cmd) = &e.command {
            let _ = writeln!(
                out,
                "{}",
                paint(
                    &format!("Replay it: {cmd} (add --svg night.svg for the picture)"),
                    Tone::Dim,
                    color
                )
            );
        }
    }
    out
}

/// Width the excerpts are wrapped to.
const EXCERPT_WIDTH: usize = 100;

/// A narration line with its leading time dimmed and the rest in `tone`.
fn paint_time(line: &str, tone: Tone, color: bool) -> String {
    let split = line.find(' ').unwrap_or(0);
    let (time, rest) = line.split_at(split);
    if time.starts_with(|c: char| c.is_ascii_digit()) {
        format!(
            "{}{}",
            paint(time, Tone::Dim, color),
            paint(rest, tone, color)
        )
    } else {
        paint(line, tone, color)
    }
}

/// `text` wrapped at `width` columns on spaces; continuation lines start
/// with `indent`. A word longer than the width has a line of its own.
fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut fresh = true;
    for word in text.split(' ') {
        if !fresh && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
            line.push_str(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// One line of condensed narration: events `first..=last` of the timeline.
struct Item {
    first: usize,
    last: usize,
    text: String,
    tone: Tone,
}

/// Runs shorter than this are told event by event.
const MIN_CONDENSED: usize = 3;

/// Routine mail traffic: told in bulk, one line per run of it.
fn is_traffic(e: &Event) -> bool {
    matches!(
        e.kind,
        EventKind::Delivered { .. }
            | EventKind::MarkedRead { .. }
            | EventKind::Deleted { .. }
            | EventKind::Deferred { .. }
    )
}

/// The timeline as plain narration, one event a line, with each run of
/// routine traffic (three or more deliveries, reads, deletions or
/// deferred requests in a row) told as one line:
/// `23:00:05–00:59:53 … 203 mail transactions (102 deliveries, 70 reads,
/// 31 deletions) …`. This is what `mailsim run` prints.
pub fn narrate_condensed(events: &[Event]) -> String {
    let mut out = String::new();
    for it in narration_items(events) {
        out.push_str(&it.text);
        out.push('\n');
    }
    out
}

fn narration_items(events: &[Event]) -> Vec<Item> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let run = events[i..].iter().take_while(|e| is_traffic(e)).count();
        if run >= MIN_CONDENSED {
            let slice = &events[i..i + run];
            let deferred = slice
                .iter()
                .any(|e| matches!(e.kind, EventKind::Deferred { .. }));
            out.push(Item {
                first: i,
                last: i + run - 1,
                text: condensed(slice),
                tone: if deferred { Tone::Warn } else { Tone::Dim },
            });
            i += run;
        } else {
            for (k, e) in events[i..i + run.max(1)].iter().enumerate() {
                out.push(Item {
                    first: i + k,
                    last: i + k,
                    text: e.to_string(),
                    tone: tone(e),
                });
            }
            i += run.max(1);
        }
    }
    out
}

fn tone(e: &Event) -> Tone {
    match e.kind {
        EventKind::ForeignAccess { .. } => Tone::Conflict,
        EventKind::ShutDown { .. }
        | EventKind::Hung
        | EventKind::HangDetected { .. }
        | EventKind::Tolerated
        | EventKind::Crashed { .. }
        | EventKind::IoError { .. }
        | EventKind::BackupFailed { .. }
        | EventKind::SnapshotGaveUp { .. }
        | EventKind::CopyAsideMissed { .. } => Tone::Bad,
        EventKind::Deferred { .. } | EventKind::Restarted { .. } => Tone::Warn,
        EventKind::PlannedStop
        | EventKind::PlannedStart
        | EventKind::Paused { .. }
        | EventKind::Resumed
        | EventKind::SnapshotTaken { .. }
        | EventKind::WriterState { .. }
        | EventKind::CopiedAside { .. }
        | EventKind::Excluded { .. }
        | EventKind::Busy { .. }
        | EventKind::SkippedBusy { .. }
        | EventKind::WaitingForIdle { .. }
        | EventKind::OnlineCopyRestarted { .. } => Tone::Remedy,
        EventKind::Delivered { .. } | EventKind::MarkedRead { .. } | EventKind::Deleted { .. } => {
            Tone::Dim
        }
        _ => Tone::Plain,
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn condensed(run: &[Event]) -> String {
    let (mut delivered, mut read, mut deleted) = (0, 0, 0);
    let (mut down, mut hung, mut paused) = (0, 0, 0);
    for e in run {
        match e.kind {
            EventKind::Delivered { .. } => delivered += 1,
            EventKind::MarkedRead { .. } => read += 1,
            EventKind::Deleted { .. } => deleted += 1,
            EventKind::Deferred { reason, .. } => match reason {
                Unavailable::Down => down += 1,
                Unavailable::Hung => hung += 1,
                Unavailable::Paused => paused += 1,
            },
            _ => {}
        }
    }
    let mut parts = Vec::new();
    let served = delivered + read + deleted;
    if served > 0 {
        let mut kinds = Vec::new();
        for (n, one, many) in [
            (delivered, "delivery", "deliveries"),
            (read, "read", "reads"),
            (deleted, "deletion", "deletions"),
        ] {
            if n > 0 {
                kinds.push(plural(n, one, many));
            }
        }
        parts.push(format!(
            "{} ({})",
            plural(served, "mail transaction", "mail transactions"),
            kinds.join(", ")
        ));
    }
    for (n, why) in [
        (down, "server shut down"),
        (hung, "server not answering"),
        (paused, "server paused"),
    ] {
        if n > 0 {
            parts.push(format!(
                "{} deferred ({why})",
                plural(n, "request", "requests")
            ));
        }
    }
    let (first, last) = (run[0].time, run[run.len() - 1].time);
    let when = if first.time_of_day() == last.time_of_day() {
        first.to_string()
    } else {
        format!("{first}–{last}")
    };
    format!("{when} … {} …", parts.join(", "))
}

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

pub use crate::time::human_duration;

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
/// a legend of the columns and a `label: explanation` paragraph per row
/// (lines longer than the table, or than 100 columns, are wrapped with a
/// hanging indent).
pub fn render_table(rows: &[DemoRow]) -> String {
    render_table_colored(rows, false)
}

/// [`render_table`], painted with ANSI colours when `color` is on: bold
/// headings and labels, outcome counts coloured when not zero (clean in
/// green, shutdown and hang in yellow, corrupted in red), unplanned
/// downtime in red. With `color` off the text is [`render_table`]'s.
pub fn render_table_colored(rows: &[DemoRow], color: bool) -> String {
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
    let line = |cells: &[String], tones: &dyn Fn(usize, &str) -> Tone| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let tone = tones(i, cell);
            if i == 0 {
                let padded = format!("{cell:<w$}");
                let _ = write!(s, "{}", paint(&padded, tone, color));
            } else {
                let _ = write!(s, "  {}", paint(&format!("{cell:>w$}"), tone, color));
            }
        }
        s.trim_end().to_owned()
    };
    let plain = |_: usize, _: &str| Tone::Plain;
    let cell_tone = |i: usize, cell: &str| -> Tone {
        let zero = cell == "0" || cell == "0 s" || cell == "-";
        match i {
            1 if !zero => Tone::Good,
            2 | 3 if !zero => Tone::Warn,
            4 if !zero => Tone::Bad,
            6 if !zero => Tone::Bad,
            _ => Tone::Plain,
        }
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
    let _ = writeln!(out, "{}", bold(groups.trim_end(), color));
    let headings: Vec<String> = columns.iter().map(|c| c.heading.to_owned()).collect();
    let _ = writeln!(out, "{}", bold(&line(&headings, &plain), color));
    let total = span_width(&widths, 0, widths.len() - 1);
    let _ = writeln!(out, "{}", "=".repeat(total));
    for cells in &body {
        let _ = writeln!(out, "{}", line(cells, &cell_tone));
    }
    let width = total.max(EXCERPT_WIDTH);
    out.push('\n');
    for entry in LEGEND.lines() {
        out.push_str(&term_and_text(entry, width, color));
    }
    out.push('\n');
    for r in rows {
        out.push_str(&term_and_text(
            &format!("{}: {}", r.label, r.explanation),
            width,
            color,
        ));
    }
    out
}

/// `term: text`, wrapped at `width` with a hanging indent, the term in
/// bold when `color` is on.
fn term_and_text(entry: &str, width: usize, color: bool) -> String {
    let mut out = String::new();
    for (k, line) in wrap(entry, width, "    ").into_iter().enumerate() {
        match line.split_once(": ").filter(|_| k == 0) {
            Some((term, rest)) => {
                let _ = writeln!(out, "{}: {rest}", bold(term, color));
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

/// What `mailsim demo` prints: a paragraph on the problem for a reader who
/// never heard of it, the table ([`render_table_colored`]), then the
/// excerpts ([`render_excerpts`]).
pub fn render_demo(rows: &[DemoRow], excerpts: &[Excerpt], color: bool) -> String {
    let mut out = String::new();
    for line in wrap(INTRO, EXCERPT_WIDTH, "") {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&render_table_colored(rows, color));
    if !excerpts.is_empty() {
        out.push('\n');
        out.push_str(&render_excerpts(excerpts, color));
    }
    out
}

/// The problem, in a paragraph.
const INTRO: &str = "A mail server (Microsoft Mail for AppleTalk Networks) keeps its data \
    file, Microsoft Mail Data, open for reading and writing all night. At 01:00 a backup \
    program, Retrospect Remote, copies the server's disk, that file included. Microsoft's \
    article KB Q98097 tells what follows: the server notices the other program opening its \
    file and usually shuts itself down to prevent corruption, or sometimes hangs; either way \
    mail stops until the administrator restarts it in the morning (08:00 here). A server \
    that kept writing instead would leave a torn copy in the archive. Each row below is the \
    same night under one remedy, simulated over many seeds (the traffic and the server's \
    reaction are drawn from the seed).";

/// The table and the excerpts as JSON: [`rows_to_json`]'s object with an
/// `excerpts` key added, a list of objects with the keys `outcome` (its
/// JSON name), `label`, `seed`, `caption`, `lines` (a list of strings),
/// `verdict` and `command` (`null` when unknown).
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
