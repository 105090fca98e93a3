//! The Retrospect Remote lane of the model, read from the backup's events:
//! its runs, its reads of Mail Data (of the live file, a copy or a
//! snapshot), its waits for quiet, where each file starts, and its marks
//! (skips, snapshots, failures, the verdict on an archived copy).
//!
//! What does not live here: the other lanes' marks (`marks`), and drawing
//! the lane (the panel).

use super::model::{Lane, Mark, Model, Span, State, is_mail_data};
use super::writer::Shape;
use crate::report::{Actor, Event, EventKind, Verdict};
use crate::time::{SimTime, human_duration};
use crate::volume::VolumePath;

/// A read of Mail Data under way: since when, on which night, of which
/// file, drawn in which class, and what its label says.
type Read = (u64, u32, VolumePath, &'static str, String);

/// What the backup has begun and not yet ended, as the events are read.
#[derive(Default)]
struct Open {
    /// The backup's run: since when, on which night.
    run: Option<(u64, u32)>,
    read: Option<Read>,
    /// A wait for Mail Data to go quiet: since when, on which night.
    wait: Option<(u64, u32)>,
}

impl Open {
    /// Ends the read under way, if any, at `t`.
    fn close_read(&mut self, m: &mut Model<'_>, t: u64) {
        if let Some((t0, night, _, class, label)) = self.read.take() {
            m.reads.push(Span {
                t0,
                t1: t,
                night,
                class,
                tooltip: format!(
                    "{}–{} {label}",
                    SimTime::from_micros(t0),
                    SimTime::from_micros(t)
                ),
                label,
            });
        }
    }

    /// Ends the wait under way, if any, at `t`.
    fn close_wait(&mut self, m: &mut Model<'_>, t: u64) {
        if let Some((t0, night)) = self.wait.take() {
            m.waits.push(Span {
                t0,
                t1: t,
                night,
                class: "waiting",
                label: "waits for quiet".to_owned(),
                tooltip: format!(
                    "{}–{} waits for Mail Data to go quiet",
                    SimTime::from_micros(t0),
                    SimTime::from_micros(t)
                ),
            });
        }
    }
}

/// A mark of `e` in the Retrospect Remote lane.
fn mark(e: &Event, class: &'static str, shape: Shape, label: Option<&str>, priority: u8) -> Mark {
    Mark::of(
        e,
        Lane::Retrospect,
        class,
        shape,
        label.map(str::to_owned),
        priority,
    )
}

impl Model<'_> {
    /// Reads the Retrospect Remote lane from the timeline.
    pub(super) fn retrospect(&mut self) {
        let tl = self.report.timeline();
        let live = self.live.clone();
        let mut open = Open::default();
        for i in 0..tl.len() {
            self.backup_event(tl, i, &live, &mut open);
        }
        let end = tl.last().map_or(0, |e| e.time.as_micros());
        open.close_read(self, end);
        open.close_wait(self, end);
    }

    /// What event `tl[i]` adds to the lane.
    fn backup_event(&mut self, tl: &[Event], i: usize, live: &VolumePath, open: &mut Open) {
        let e = &tl[i];
        let t = e.time.as_micros();
        let on_mail = e.path.as_ref().is_some_and(|p| is_mail_data(p, live));
        match &e.kind {
            EventKind::BackupStarted { .. } => open.run = Some((t, e.night)),
            EventKind::BackupFinished { .. } | EventKind::BackupFailed { .. } => {
                self.backup_ends(e, open);
            }
            EventKind::Opened if e.actor == Actor::RetrospectRemote => {
                open.close_wait(self, t);
                self.file_starts.push((t, e.night));
                if let Some(p) = e.path.as_ref().filter(|_| on_mail) {
                    open.close_read(self, t);
                    let (class, label) = self.read_of(tl, i, p, live);
                    open.read = Some((t, e.night, p.clone(), class, label));
                }
            }
            EventKind::SnapshotTaken { .. } if on_mail => {
                open.close_read(self, t);
                if let Some(p) = &e.path {
                    let label = "reads the snapshot".to_owned();
                    open.read = Some((t, e.night, p.clone(), "read-safe", label));
                }
                let taken = Some("snapshot taken");
                self.marks
                    .push(mark(e, "snapshot", Shape::Circle, taken, 3));
            }
            EventKind::Archived { .. } => self.archived(e, on_mail, open),
            EventKind::Excluded { .. } => self.excluded(e, live),
            EventKind::WaitingForIdle { .. } => {
                open.close_wait(self, t);
                open.wait = Some((t, e.night));
            }
            EventKind::IdleTimeout => {
                open.close_wait(self, t);
                let what = Some("gave up waiting");
                self.marks
                    .push(mark(e, "skipped", Shape::TriangleDown, what, 2));
            }
            EventKind::IoError { .. } if e.actor == Actor::RetrospectRemote => {
                open.close_read(self, t);
                let what = Some("I/O error");
                self.marks.push(mark(e, "failed", Shape::BigCross, what, 2));
            }
            EventKind::NightEnds => {
                open.close_read(self, t);
                open.close_wait(self, t);
                if let Some((t0, night)) = open.run.take() {
                    self.runs.push(Span {
                        t0,
                        t1: t,
                        night,
                        class: "backup-run",
                        label: "backup".to_owned(),
                        tooltip: "the backup had not finished when the night ended".to_owned(),
                    });
                }
            }
            _ => self.backup_mark(e),
        }
    }

    /// The marks of the events that only leave a mark.
    fn backup_mark(&mut self, e: &Event) {
        let m = match &e.kind {
            EventKind::Busy { .. } => mark(e, "busy", Shape::Tick, None, 9),
            EventKind::SkippedBusy { .. } => {
                let what = Some("skipped: held by the server");
                mark(e, "skipped", Shape::TriangleDown, what, 2)
            }
            EventKind::SnapshotFailed { .. } => {
                let what = Some("snapshot fails");
                mark(e, "snapshot-failed", Shape::Cross, what, 5)
            }
            EventKind::SnapshotGaveUp { .. } => {
                let what = Some("snapshot gave up: Mail Data skipped");
                mark(e, "gave-up", Shape::BigCross, what, 1)
            }
            EventKind::OnlineCopyRestarted { .. } => {
                mark(e, "online-restart", Shape::Tick, None, 9)
            }
            _ => return,
        };
        self.marks.push(m);
    }

    /// The backup ends, done or failed: so do its read, its wait and its run.
    fn backup_ends(&mut self, e: &Event, open: &mut Open) {
        let t = e.time.as_micros();
        open.close_read(self, t);
        open.close_wait(self, t);
        if let Some((t0, night)) = open.run.take() {
            self.runs.push(Span {
                t0,
                t1: t,
                night,
                class: "backup-run",
                label: "backup".to_owned(),
                tooltip: format!(
                    "{}–{} Retrospect Remote backs up Server HD ({})",
                    SimTime::from_micros(t0),
                    e.time,
                    human_duration(e.time - SimTime::from_micros(t0))
                ),
            });
        }
        if let EventKind::BackupFailed { .. } = e.kind {
            let what = Some("backup fails");
            self.marks.push(mark(e, "failed", Shape::BigCross, what, 1));
        }
    }

    /// How the read of Mail Data `p` that event `tl[i]` opens is drawn: a
    /// conflict if the server noticed a foreign open while it went on (at
    /// once in the simulator, a moment later on real files), else a safe
    /// read of the live file or of a copy.
    fn read_of(
        &self,
        tl: &[Event],
        i: usize,
        p: &VolumePath,
        live: &VolumePath,
    ) -> (&'static str, String) {
        let end = tl[i + 1..]
            .iter()
            .position(|x| {
                x.actor == Actor::RetrospectRemote
                    && matches!(
                        x.kind,
                        EventKind::Opened
                            | EventKind::Archived { .. }
                            | EventKind::BackupFailed { .. }
                            | EventKind::IoError { .. }
                            | EventKind::BackupFinished { .. }
                    )
            })
            .map_or(tl.len(), |k| i + 1 + k);
        let conflict = tl[i..end]
            .iter()
            .any(|x| matches!(x.kind, EventKind::ForeignAccess { .. }));
        if conflict {
            ("read-live", "reads the live Mail Data".to_owned())
        } else if p == live {
            let why = match self.state_at(tl[i].time.as_micros()) {
                State::Stopped => "server stopped",
                State::ShutDown | State::Crashed | State::NotRunning => "server down",
                _ => "not held",
            };
            ("read-safe", format!("reads Mail Data ({why})"))
        } else {
            ("read-safe", format!("reads the copy {}", p.name()))
        }
    }

    /// A file archived: the read of it ends, and a copy of Mail Data gets
    /// the oracle's verdict as its mark.
    fn archived(&mut self, e: &Event, on_mail: bool, open: &mut Open) {
        let p = e.path.clone();
        if open.read.as_ref().is_some_and(|r| Some(&r.2) == p.as_ref()) {
            open.close_read(self, e.time.as_micros());
        }
        let Some(p) = p.filter(|_| on_mail) else {
            return;
        };
        let m = match self.archived_verdict(e.night, &p) {
            Some(Verdict::Torn) => {
                let what = Some("torn copy archived");
                mark(e, "torn", Shape::BigCross, what, 0)
            }
            Some(Verdict::Consistent { stale: true, .. }) => {
                let what = Some("stale copy archived");
                mark(e, "stale", Shape::Circle, what, 1)
            }
            Some(Verdict::Consistent { .. }) => {
                let what = Some("consistent copy archived");
                mark(e, "archived-ok", Shape::Circle, what, 4)
            }
            None => return,
        };
        self.marks.push(m);
    }

    /// An exclusion: a mark with words when it keeps the backup off Mail
    /// Data, a bare tick otherwise.
    fn excluded(&mut self, e: &Event, live: &VolumePath) {
        let covers = e
            .path
            .as_ref()
            .is_some_and(|p| live.starts_with(p) || is_mail_data(p, live));
        if covers {
            let what = match &e.path {
                Some(p) if p == live => "Mail Data excluded".to_owned(),
                Some(p) => format!("{} excluded (holds Mail Data)", p.name()),
                None => "excluded".to_owned(),
            };
            self.marks.push(Mark::of(
                e,
                Lane::Retrospect,
                "skipped",
                Shape::TriangleDown,
                Some(what),
                2,
            ));
        } else {
            self.marks
                .push(mark(e, "skipped-minor", Shape::Tick, None, 9));
        }
    }
}
