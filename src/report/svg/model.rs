//! The lanes model: what the picture shows, extracted from the report
//! once — the nights, the server's [`State`] over time, the spans and
//! [`Mark`]s of each [`Lane`], the conflicts — and the stretch the
//! close-up shows ([`Focus`]). The backup's lane is read from the events
//! in `retrospect`, the other lanes' marks in `marks`.
//!
//! What does not live here: where anything is drawn (the axis, the
//! panels).

use super::MAX_NIGHTS;
use super::axis::MINUTE;
use super::writer::Shape;
use crate::report::{Actor, Event, EventKind, Report, Verdict};
use crate::volume::VolumePath;

/// The server's state over an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    NotRunning,
    Serving,
    Paused,
    Stopped,
    ShutDown,
    Hung,
    Crashed,
}

impl State {
    pub(super) fn class(self) -> &'static str {
        match self {
            State::NotRunning => "not-running",
            State::Serving => "serving",
            State::Paused => "paused",
            State::Stopped => "stopped",
            State::ShutDown => "shutdown",
            State::Hung => "hung",
            State::Crashed => "crashed",
        }
    }

    pub(super) fn short(self) -> &'static str {
        match self {
            State::NotRunning => "not running",
            State::Serving => "serving",
            State::Paused => "paused",
            State::Stopped => "stopped",
            State::ShutDown => "shut down",
            State::Hung => "hung",
            State::Crashed => "crashed",
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            State::NotRunning => "not running",
            State::Serving => "serving",
            State::Paused => "paused (planned)",
            State::Stopped => "stopped (planned)",
            State::ShutDown => "shut down",
            State::Hung => "hung, still holding Mail Data",
            State::Crashed => "crashed",
        }
    }
}

/// Which lane a mark sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    Server = 0,
    MsMailBackup = 1,
    Retrospect = 2,
    Traffic = 3,
}

/// A mark at one moment of a lane, with its label (and shorter words for
/// it) and its tooltip.
#[derive(Clone, Debug)]
pub(super) struct Mark {
    pub(super) t: u64,
    pub(super) night: u32,
    pub(super) lane: Lane,
    pub(super) class: &'static str,
    pub(super) shape: Shape,
    pub(super) label: Option<String>,
    /// Shorter words for the label, tried when it does not fit.
    pub(super) short: Vec<String>,
    /// Lower is placed first when labels compete for room.
    pub(super) priority: u8,
    pub(super) tooltip: String,
}

impl Mark {
    /// The mark of event `e` in `lane`, its tooltip the event's narration.
    pub(super) fn of(
        e: &Event,
        lane: Lane,
        class: &'static str,
        shape: Shape,
        label: Option<String>,
        priority: u8,
    ) -> Mark {
        Mark {
            t: e.time.as_micros(),
            night: e.night,
            lane,
            class,
            shape,
            label,
            short: Vec::new(),
            priority,
            tooltip: e.to_string(),
        }
    }

    pub(super) fn or_shorter(mut self, words: &[&str]) -> Mark {
        self.short = words.iter().map(|w| (*w).to_owned()).collect();
        self
    }
}

/// A bar over a stretch of a lane: a backup's run, a read, a wait, unsafe
/// serving.
#[derive(Clone, Debug)]
pub(super) struct Span {
    pub(super) t0: u64,
    pub(super) t1: u64,
    pub(super) night: u32,
    pub(super) class: &'static str,
    pub(super) label: String,
    pub(super) tooltip: String,
}

/// A foreign access: when, who opened what, and how the server reacted.
#[derive(Clone, Debug)]
pub(super) struct Conflict {
    pub(super) t: u64,
    pub(super) night: u32,
    pub(super) opened: String,
    pub(super) reaction: &'static str,
}

/// One night of the timeline: its bounds and its times worth showing.
#[derive(Clone, Debug)]
pub(super) struct NightSpan {
    pub(super) night: u32,
    pub(super) begin: u64,
    pub(super) end: u64,
    /// Times worth showing (everything but the night's bounds and the
    /// server's start at the night's beginning).
    pub(super) activity: Vec<u64>,
}

/// The stretch the close-up shows.
#[derive(Clone, Debug)]
pub(super) struct Focus {
    pub(super) night: u32,
    pub(super) t0: u64,
    pub(super) t1: u64,
    pub(super) what: &'static str,
}

/// Everything the picture shows of a report, lane by lane; times in
/// microseconds.
pub(super) struct Model<'a> {
    pub(super) report: &'a Report,
    pub(super) live: VolumePath,
    pub(super) nights: Vec<NightSpan>,
    pub(super) states: Vec<(u64, u64, State)>,
    pub(super) unsafe_spans: Vec<Span>,
    pub(super) runs: Vec<Span>,
    pub(super) reads: Vec<Span>,
    pub(super) waits: Vec<Span>,
    pub(super) file_starts: Vec<(u64, u32)>,
    pub(super) marks: Vec<Mark>,
    pub(super) conflicts: Vec<Conflict>,
    /// (time, night, served)
    pub(super) traffic: Vec<(u64, u32, bool)>,
}

/// Whether `p` is the live data file or a copy of it.
pub(super) fn is_mail_data(p: &VolumePath, live: &VolumePath) -> bool {
    p == live || crate::datafile::is_mail_data_name(p.name())
}

impl<'a> Model<'a> {
    pub(super) fn new(report: &'a Report) -> Model<'a> {
        let live = report.live_path().clone();
        let mut m = Model {
            report,
            live,
            nights: Vec::new(),
            states: Vec::new(),
            unsafe_spans: Vec::new(),
            runs: Vec::new(),
            reads: Vec::new(),
            waits: Vec::new(),
            file_starts: Vec::new(),
            marks: Vec::new(),
            conflicts: Vec::new(),
            traffic: Vec::new(),
        };
        m.nights();
        m.states();
        m.retrospect();
        m.other_lanes();
        m
    }

    fn nights(&mut self) {
        let tl = self.report.timeline();
        let mut i = 0;
        while i < tl.len() {
            let night = tl[i].night;
            let len = tl[i..].iter().take_while(|e| e.night == night).count();
            let events = &tl[i..i + len];
            let begin = events
                .iter()
                .find(|e| matches!(e.kind, EventKind::NightBegins { .. }))
                .unwrap_or(&events[0])
                .time
                .as_micros();
            let end = events
                .iter()
                .rev()
                .find(|e| matches!(e.kind, EventKind::NightEnds))
                .unwrap_or(&events[len - 1])
                .time
                .as_micros();
            let activity = events
                .iter()
                .filter(|e| match e.kind {
                    EventKind::NightBegins { .. } | EventKind::NightEnds => false,
                    EventKind::ServerStarted { .. } => e.time.as_micros() > begin,
                    _ => true,
                })
                .map(|e| e.time.as_micros())
                .collect();
            self.nights.push(NightSpan {
                night,
                begin,
                end,
                activity,
            });
            i += len;
        }
    }

    fn states(&mut self) {
        let tl = self.report.timeline();
        let Some(first) = tl.first() else { return };
        let mut cur = State::NotRunning;
        let mut since = first.time.as_micros();
        for (i, e) in tl.iter().enumerate() {
            let next = match &e.kind {
                EventKind::ServerStarted { .. } | EventKind::PlannedStart | EventKind::Resumed => {
                    Some(State::Serving)
                }
                EventKind::Paused { .. } => Some(State::Paused),
                EventKind::PlannedStop => Some(State::Stopped),
                EventKind::ShutDown { .. } if e.actor == Actor::MailServer => Some(State::ShutDown),
                EventKind::Hung => Some(State::Hung),
                EventKind::Crashed { .. } => Some(State::Crashed),
                EventKind::Tolerated => {
                    // Serving while the backup reads: until the backup is
                    // done with the live file.
                    let end = tl[i + 1..]
                        .iter()
                        .find(|x| {
                            x.actor == Actor::RetrospectRemote
                                && matches!(
                                    x.kind,
                                    EventKind::Archived { .. }
                                        | EventKind::BackupFailed { .. }
                                        | EventKind::IoError { .. }
                                        | EventKind::BackupFinished { .. }
                                )
                        })
                        .map_or(e.time, |x| x.time);
                    self.unsafe_spans.push(Span {
                        t0: e.time.as_micros(),
                        t1: end.as_micros(),
                        night: e.night,
                        class: "unsafe-serving",
                        label: "keeps writing while the backup reads".to_owned(),
                        tooltip: format!(
                            "{}–{} the Mail Server keeps writing while the backup reads its \
                             data file",
                            e.time, end
                        ),
                    });
                    None
                }
                _ => None,
            };
            if let Some(s) = next
                && s != cur
            {
                let t = e.time.as_micros();
                if t > since || cur != State::NotRunning {
                    self.states.push((since, t, cur));
                }
                cur = s;
                since = t;
            }
        }
        self.states.push((since, u64::MAX, cur));
        self.states.retain(|&(a, b, _)| b > a);
    }

    /// The server's state at `t` (the later one at a change).
    pub(super) fn state_at(&self, t: u64) -> State {
        self.states
            .iter()
            .rev()
            .find(|&&(t0, _, _)| t0 <= t)
            .map_or(State::NotRunning, |&(_, _, s)| s)
    }

    pub(super) fn archived_verdict(&self, night: u32, path: &VolumePath) -> Option<Verdict> {
        self.report
            .archive()
            .iter()
            .find(|a| a.night == night && &a.path == path)
            .map(|a| a.verdict)
    }

    /// What the close-up shows: the minutes around the first foreign
    /// access; else around the first time the backup (or a policy) dealt
    /// with Mail Data; else around the backup's start.
    pub(super) fn focus(&self) -> Option<Focus> {
        let tl = self.report.timeline();
        let drawn = |night: u32| {
            self.nights
                .iter()
                .take(MAX_NIGHTS)
                .any(|s| s.night == night)
        };
        let touches = |e: &Event| {
            e.path
                .as_ref()
                .is_some_and(|p| is_mail_data(p, &self.live) || self.live.starts_with(p))
        };
        // A remedy acting on Mail Data, or the backup reading it.
        let acts = |e: &Event| match &e.kind {
            EventKind::PlannedStop => Some("around the planned stop"),
            EventKind::WriterState { .. } => Some("around the freeze and the snapshot"),
            EventKind::SnapshotTaken { .. } if touches(e) => Some("around the snapshot"),
            EventKind::Opened if touches(e) => Some("where the backup reads Mail Data"),
            _ => None,
        };
        // The backup keeping away from Mail Data.
        let meets = |e: &Event| match &e.kind {
            EventKind::Excluded { .. } if touches(e) => Some("where the backup skips Mail Data"),
            EventKind::Busy { .. } if touches(e) => Some("where the backup finds Mail Data busy"),
            EventKind::WaitingForIdle { .. } if touches(e) => {
                Some("where the backup waits for Mail Data to go quiet")
            }
            EventKind::SnapshotFailed { .. } | EventKind::SnapshotGaveUp { .. } if touches(e) => {
                Some("around the failed snapshot")
            }
            _ => None,
        };
        let conflict = self.conflicts.iter().find(|c| drawn(c.night));
        let (t, night, what) = if let Some(c) = conflict {
            (c.t, c.night, "around the conflict")
        } else if let Some((e, what)) = tl
            .iter()
            .filter(|e| drawn(e.night))
            .find_map(|e| acts(e).map(|w| (e, w)))
            .or_else(|| {
                tl.iter()
                    .filter(|e| drawn(e.night))
                    .find_map(|e| meets(e).map(|w| (e, w)))
            })
        {
            (e.time.as_micros(), e.night, what)
        } else if let Some(e) = tl
            .iter()
            .find(|e| drawn(e.night) && matches!(e.kind, EventKind::BackupStarted { .. }))
        {
            (e.time.as_micros(), e.night, "around the backup's start")
        } else {
            return None;
        };
        // From a few minutes before to the end of what follows (the read of
        // Mail Data, the backup's end), within reason.
        let backup_end = self
            .runs
            .iter()
            .find(|r| r.night == night && r.t0 <= t && t <= r.t1)
            .map_or(t, |r| r.t1);
        let read_end = self
            .reads
            .iter()
            .find(|r| r.night == night && r.t0 <= t + MINUTE && t <= r.t1)
            .map_or(t, |r| r.t1);
        let t0 = (t.saturating_sub(4 * MINUTE) / MINUTE) * MINUTE;
        let until = (t + 8 * MINUTE)
            .max(backup_end.min(t + 14 * MINUTE))
            .max(read_end.min(t + 14 * MINUTE))
            + MINUTE;
        let t1 = until.div_ceil(MINUTE) * MINUTE;
        Some(Focus {
            night,
            t0,
            t1,
            what,
        })
    }
}
