//! The picture's words: the headline (the outcome), the scenario and cost
//! lines under it, the description a screen reader gives, times as the
//! axes and labels write them, and the wrapping of long lines.
//!
//! What does not live here: the words of the lanes' marks and spans (the
//! model), and the legend's.

use std::fmt::Write as _;

use super::WIDTH;
use super::model::Model;
use super::writer::text_width;
use crate::report::{ArchivedFile, EventKind, Outcome, Report, Verdict};
use crate::time::{SimTime, human_duration};

pub(super) fn headline(report: &Report) -> String {
    match report.outcome() {
        Outcome::Clean => {
            "Clean: no shutdown, no hang, and every archived copy of Mail Data is consistent"
                .to_owned()
        }
        Outcome::GracefulShutdown => {
            "Graceful shutdown: the mail server stops itself when the backup opens its data file"
                .to_owned()
        }
        Outcome::Hang => {
            "Hang: the mail server stops answering when the backup opens its data file".to_owned()
        }
        Outcome::Crashed => "Crashed: an injected fault kills the mail server".to_owned(),
        Outcome::Corrupted => {
            "Corrupted: the backup archives a torn copy of Mail Data, written to while it was read"
                .to_owned()
        }
    }
}

pub(super) fn scenario_line(report: &Report, model: &Model<'_>) -> String {
    let behavior = match report.behavior.as_str() {
        "kb" => "as KB Q98097 says (usually shut down, sometimes hang)",
        "shutdown" => "shut down",
        "hang" => "hang",
        "tolerate" => "keep serving (unsafe)",
        other => other,
    };
    let mut excluded: Vec<String> = Vec::new();
    for e in report.timeline() {
        if let (EventKind::Excluded { .. }, Some(p)) = (&e.kind, &e.path) {
            let name = p.name().to_owned();
            if !excluded.contains(&name) {
                excluded.push(name);
            }
        }
    }
    let mut s = format!(
        "Seed {} · the server's reaction to a foreign open: {behavior} · snapshot policy: {} · \
         open files: {}",
        report.seed(),
        report.snapshot,
        report.open_files
    );
    if !excluded.is_empty() {
        let _ = write!(s, " · excluded: {}", excluded.join(", "));
    }
    if model.nights.len() > 1 {
        let _ = write!(s, " · {} nights", model.nights.len());
    }
    s
}

pub(super) fn summary_line(report: &Report) -> String {
    let m = report.metrics();
    let copies: Vec<&ArchivedFile> = report.mail_data_archived().collect();
    let archive = if copies.is_empty() {
        "Mail Data not archived".to_owned()
    } else if copies.iter().any(|a| !a.verdict.is_consistent()) {
        "the archived Mail Data is TORN".to_owned()
    } else if copies
        .iter()
        .any(|a| matches!(a.verdict, Verdict::Consistent { stale: true, .. }))
    {
        "the archived Mail Data is consistent but stale".to_owned()
    } else {
        format!(
            "the archived Mail Data is consistent{}",
            m.recovery_point_age
                .map(|d| format!(", {} old when the backup ends", human_duration(d)))
                .unwrap_or_default()
        )
    };
    format!(
        "Server down {} unplanned, {} planned · {} request{} deferred · {archive}",
        human_duration(m.unplanned_downtime),
        human_duration(m.planned_downtime),
        m.deliveries_deferred,
        if m.deliveries_deferred == 1 { "" } else { "s" }
    )
}

pub(super) fn description(report: &Report, model: &Model<'_>) -> String {
    let mut s = format!(
        "Timeline of a simulated night of the mail server and its backup (Microsoft KB Q98097). \
         Outcome: {}. {}. Lanes: Mail Server, MS Mail Backup, Retrospect Remote, Mail traffic.",
        report.outcome(),
        summary_line(report)
    );
    for c in &model.conflicts {
        let _ = write!(
            s,
            " Night {}: {} {}.",
            c.night,
            c.opened,
            c.reaction.trim_start_matches("→ ")
        );
    }
    if model.conflicts.is_empty() {
        s.push_str(" The backup never opened the live data file while the server held it.");
    }
    s
}

/// `text` cut at ` · ` separators into lines that fit the picture at
/// `size` px.
pub(super) fn wrap(text: &str, size: f64) -> Vec<String> {
    let max = WIDTH - 48.0;
    let mut lines: Vec<String> = Vec::new();
    for part in text.split(" · ") {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} · {part}"), size) <= max => {
                line.push_str(" · ");
                line.push_str(part);
            }
            _ => lines.push(part.to_owned()),
        }
    }
    lines
}

/// `HH:MM`.
pub(super) fn hm(t: SimTime) -> String {
    let s = t.time_of_day().to_string();
    s[..5].to_owned()
}

/// `HH:MM:SS`.
pub(super) fn hm_s(t: SimTime) -> String {
    t.to_string()
}
