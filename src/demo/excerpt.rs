//! The excerpts: for each outcome of [`EXCERPT_OUTCOMES`], a narrated
//! excerpt of a real night ([`Excerpt`]) — the minutes around the conflict,
//! or on a clean night around the moment the remedy acted — found among the
//! table's nights ([`Finder`]), cut ([`excerpt`]) and rendered
//! ([`render_excerpts`]). Only [`Excerpt`] and [`EXCERPT_OUTCOMES`] are
//! public: the demo runs and prints through `table_and_excerpts` and
//! `render_demo`.
//!
//! What does not live here: the condensed narration the excerpts are cut
//! from (`narration`), and the table.

use std::fmt::Write as _;

use super::cases::DemoCase;
use super::narration::{Item, narration_items};
use super::paint::{Tone, bold, paint, wrap, wrap_narration};
use crate::report::{Actor, Event, EventKind, Outcome, Report, Verdict};
use crate::time::human_duration;

/// The outcomes the demo shows an excerpt of, in the order it shows them.
pub const EXCERPT_OUTCOMES: [Outcome; 4] = [
    Outcome::Clean,
    Outcome::GracefulShutdown,
    Outcome::Hang,
    Outcome::Corrupted,
];

/// The first night found for each outcome of [`EXCERPT_OUTCOMES`].
#[derive(Default)]
pub(super) struct Finder {
    found: [Option<Excerpt>; EXCERPT_OUTCOMES.len()],
}

impl Finder {
    pub(super) fn consider(&mut self, case: &DemoCase, seed: u64, report: &Report) {
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

    pub(super) fn done(&self) -> bool {
        self.found.iter().all(Option::is_some)
    }

    pub(super) fn excerpts(self) -> Vec<Excerpt> {
        self.found.into_iter().flatten().collect()
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
    /// The demo row the night comes from.
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
pub(super) fn excerpt(report: &Report, label: &str, seed: u64) -> Option<Excerpt> {
    let outcome = report.outcome();
    if !EXCERPT_OUTCOMES.contains(&outcome) {
        return None;
    }
    let events = shown_events(report);
    let events = events.as_slice();
    let focus = focus(report, events)?;
    let items = narration_items(events);
    let at = items.iter().position(|it| it.last >= focus)?;
    let from = at.saturating_sub(BEFORE);
    let to = (at + AFTER + 1).min(items.len());
    let mut told = Told::default();
    told.push(report, events, &items[from..to]);
    // How the night was put right, when it came later.
    if let Some(fix) = items[to..]
        .iter()
        .position(|it| puts_right(&events[it.first..=it.last]))
    {
        let fix = to + fix;
        if fix > to {
            told.lines.push("⋮".to_owned());
            told.tones.push(Tone::Dim);
        }
        // The fix and what happens at the same moment (a restart, the
        // resent requests), at most three lines.
        let time = events[items[fix].first].time;
        let end = items[fix..]
            .iter()
            .take(3)
            .take_while(|it| events[it.first].time == time)
            .count();
        told.push(report, events, &items[fix..fix + end]);
    }
    Some(Excerpt {
        outcome,
        label: label.to_owned(),
        seed,
        caption: caption(outcome).to_owned(),
        lines: told.lines,
        verdict: verdict(report),
        command: None,
        tones: told.tones,
        paths: told.paths,
    })
}

/// The events an excerpt tells: all but the backup's progress through the
/// other files, which would drown the few lines that matter.
fn shown_events(report: &Report) -> Vec<Event> {
    report
        .timeline()
        .iter()
        .filter(|e| {
            !(e.actor == Actor::RetrospectRemote
                && matches!(e.kind, EventKind::Opened | EventKind::Archived { .. })
                && !e.path.as_ref().is_some_and(is_mail_data))
        })
        .cloned()
        .collect()
}

/// The event an excerpt centres on: the first foreign access; on a clean
/// night, which has none, the first time a remedy acted, if the archive
/// holds a consistent copy of Mail Data.
fn focus(report: &Report, events: &[Event]) -> Option<usize> {
    let conflict = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::ForeignAccess { .. }));
    if report.outcome() == Outcome::Clean {
        if conflict.is_some()
            || !report
                .mail_data_archived()
                .any(|a| a.verdict.is_consistent())
        {
            return None;
        }
        events.iter().position(remedy_acts)
    } else {
        conflict
    }
}

/// Whether `events` put the night right: a restart, a planned start, the
/// end of a pause.
fn puts_right(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Restarted { .. } | EventKind::PlannedStart | EventKind::Resumed
        )
    })
}

/// An excerpt's lines as they are told, their tones, and the paths they
/// name.
#[derive(Default)]
struct Told {
    lines: Vec<String>,
    tones: Vec<Tone>,
    paths: Vec<String>,
}

impl Told {
    /// Tells `items` of `events`, each followed by the oracle's verdict on
    /// the copy of Mail Data it archives, if any.
    fn push(&mut self, report: &Report, events: &[Event], items: &[Item]) {
        for it in items {
            // A hang's wait-for chain is for `mailsim run`: here, its
            // first clause says enough.
            let text = match events[it.first].kind {
                EventKind::HangDetected { .. } => {
                    it.text.split("; ").next().unwrap_or(&it.text).to_owned()
                }
                _ => it.text.clone(),
            };
            self.lines.push(text);
            self.tones.push(it.tone);
            for e in &events[it.first..=it.last] {
                if let Some(p) = e.path.as_ref().map(ToString::to_string)
                    && !self.paths.contains(&p)
                {
                    self.paths.push(p);
                }
            }
            if let Some((text, tone)) = archived_verdict(report, &events[it.first..=it.last]) {
                self.lines.push(text);
                self.tones.push(tone);
            }
        }
    }
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
/// lines (indented), the verdict and the command that replays the night,
/// wrapped at `width`; painted with ANSI colours when `color` is on.
pub(super) fn render_excerpts(excerpts: &[Excerpt], width: usize, color: bool) -> String {
    let mut out = String::new();
    if excerpts.is_empty() {
        return out;
    }
    for line in wrap(
        "What each outcome looks like: the minutes around the conflict, in a real night of \
         the table.",
        width,
        "",
    ) {
        let _ = writeln!(out, "{}", bold(&line, color));
    }
    for e in excerpts {
        out.push('\n');
        let heading = format!("── {} ── {}, seed {} ", e.outcome, e.label, e.seed);
        let tone = match e.outcome {
            Outcome::Clean => Tone::Good,
            Outcome::Corrupted => Tone::Bad,
            _ => Tone::Warn,
        };
        let rule = "─".repeat(width.saturating_sub(heading.chars().count()));
        let _ = writeln!(
            out,
            "{}",
            bold(&paint(&format!("{heading}{rule}"), tone, color), color)
        );
        for line in wrap(&e.caption, width, "") {
            let _ = writeln!(out, "{line}");
        }
        for (line, tone) in e.lines.iter().zip(&e.tones) {
            let parts = wrap_narration(line, &e.paths, width.saturating_sub(2));
            for (k, part) in parts.iter().enumerate() {
                let text = if k == 0 {
                    paint_time(part, *tone, color)
                } else {
                    paint(part, *tone, color)
                };
                let _ = writeln!(out, "  {text}");
            }
        }
        for line in wrap(&e.verdict, width, "") {
            let _ = writeln!(out, "{}", bold(&line, color));
        }
        if let Some(cmd) = &e.command {
            let replay = format!("Replay it: {cmd} (add --svg night.svg for the picture)");
            for line in wrap(&replay, width, "    ") {
                let _ = writeln!(out, "{}", paint(&line, Tone::Dim, color));
            }
        }
    }
    out
}

/// Width prose is wrapped to at most (the excerpts, the wide table's
/// legend at least).
pub(super) const EXCERPT_WIDTH: usize = 100;

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
