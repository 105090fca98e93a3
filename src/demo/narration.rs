//! The condensed narration: the timeline told one event a line, each run of
//! routine traffic told as one ([`narrate_condensed`], what `mailsim run`
//! prints), each line with the [`Tone`] it is painted in.
//!
//! What does not live here: the narration of one event (its `Display`, in
//! the report), and the excerpts cut from this narration.

use super::paint::{Tone, wrap_narration};
use crate::report::{Event, EventKind, Unavailable};

/// One line of condensed narration: events `first..=last` of the timeline.
pub(super) struct Item {
    pub(super) first: usize,
    pub(super) last: usize,
    pub(super) text: String,
    pub(super) tone: Tone,
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

/// [`narrate_condensed`], each line wrapped at `width` columns (counted in
/// characters) by words, continuation lines indented under the text after
/// the time, paths and sizes kept whole where they fit. This is what
/// `mailsim run` prints, `width` being the terminal's.
pub fn narrate_condensed_wrapped(events: &[Event], width: usize) -> String {
    let mut out = String::new();
    for it in narration_items(events) {
        let mut paths: Vec<String> = Vec::new();
        for e in &events[it.first..=it.last] {
            if let Some(p) = e.path.as_ref().map(ToString::to_string)
                && !paths.contains(&p)
            {
                paths.push(p);
            }
        }
        for line in wrap_narration(&it.text, &paths, width) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The timeline as lines of condensed narration, in order.
pub(super) fn narration_items(events: &[Event]) -> Vec<Item> {
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
