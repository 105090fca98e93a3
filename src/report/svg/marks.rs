//! The rest of the model, read from the events: the mail traffic, the
//! conflicts (every foreign access, with the server's reaction), and the
//! marks of the Mail Server, MS Mail Backup and traffic lanes (restarts,
//! hangs, crashes, copies made aside or missed, notes).
//!
//! What does not live here: the server's states (`model`), the backup's
//! lane (`retrospect`), and drawing any of it.

use super::model::{Conflict, Lane, Mark, Model};
use super::words::hm_s;
use super::writer::Shape;
use crate::report::{Actor, Event, EventKind};
use crate::time::human_duration;

impl Model<'_> {
    /// Reads the traffic, the conflicts and the other lanes' marks from the
    /// timeline.
    pub(super) fn other_lanes(&mut self) {
        let tl = self.report.timeline();
        for (i, e) in tl.iter().enumerate() {
            let t = e.time.as_micros();
            match &e.kind {
                EventKind::Delivered { .. }
                | EventKind::MarkedRead { .. }
                | EventKind::Deleted { .. }
                | EventKind::Compacted { .. } => self.traffic.push((t, e.night, true)),
                EventKind::Deferred { .. } => self.traffic.push((t, e.night, false)),
                EventKind::ForeignAccess { by } => {
                    let file = e.path.as_ref().map_or_else(
                        || crate::datafile::MAIL_DATA.to_owned(),
                        |p| p.name().to_owned(),
                    );
                    self.conflicts.push(Conflict {
                        t,
                        night: e.night,
                        opened: format!("{} {by} opens {file}", hm_s(e.time)),
                        reaction: reaction(&tl[i + 1..]),
                    });
                }
                _ => self.marks.extend(lane_mark(e)),
            }
        }
    }
}

/// How the server reacted to a foreign access, from the events after it:
/// the reaction follows at once in the simulator, a moment later on real
/// files.
fn reaction(after: &[Event]) -> &'static str {
    after
        .iter()
        .take(200)
        .take_while(|x| !matches!(x.kind, EventKind::ForeignAccess { .. }))
        .find_map(|x| match x.kind {
            EventKind::ShutDown { .. } if x.actor == Actor::MailServer => {
                Some("→ the Mail Server shuts down")
            }
            EventKind::Hung => Some("→ the Mail Server hangs"),
            EventKind::Tolerated => Some("→ the Mail Server keeps writing"),
            _ => None,
        })
        .unwrap_or("→ the Mail Server notices")
}

/// The mark event `e` leaves on the Mail Server, MS Mail Backup or traffic
/// lane, if any.
fn lane_mark(e: &Event) -> Option<Mark> {
    let mark = |lane, class, shape, label: String, priority| {
        Mark::of(e, lane, class, shape, Some(label), priority)
    };
    Some(match &e.kind {
        EventKind::Resent { requests } => mark(
            Lane::Traffic,
            "served",
            Shape::Tick,
            format!(
                "{requests} deferred request{} resent",
                if *requests == 1 { "" } else { "s" }
            ),
            3,
        )
        .or_shorter(&[&format!("{requests} resent")]),
        EventKind::Restarted { .. } => mark(
            Lane::Server,
            "restart",
            Shape::TriangleUp,
            "the administrator restarts it".to_owned(),
            1,
        )
        .or_shorter(&["administrator restarts", "restart"]),
        EventKind::HangDetected { after, .. } => mark(
            Lane::Server,
            "hang-detected",
            Shape::TriangleDown,
            format!("no answer for {}: hung", human_duration(*after)),
            2,
        ),
        EventKind::Crashed { .. } => mark(
            Lane::Server,
            "failed",
            Shape::BigCross,
            "crashes".to_owned(),
            1,
        ),
        EventKind::IoError { .. } if e.actor != Actor::RetrospectRemote => mark(
            Lane::Server,
            "failed",
            Shape::Cross,
            "I/O error".to_owned(),
            3,
        ),
        EventKind::CopiedAside { .. } => mark(
            Lane::MsMailBackup,
            "copy-aside",
            Shape::Diamond,
            format!(
                "copy → {}",
                e.path.as_ref().map_or("another volume", |p| p.name())
            ),
            1,
        ),
        EventKind::CopyAsideMissed { .. } => mark(
            Lane::MsMailBackup,
            "copy-missed",
            Shape::Diamond,
            "no copy made".to_owned(),
            0,
        ),
        EventKind::Note { text } => {
            let lane = match e.actor {
                Actor::MailServer => Lane::Server,
                Actor::MsMailBackup => Lane::MsMailBackup,
                Actor::MailClients => Lane::Traffic,
                _ => Lane::Retrospect,
            };
            let short: String = text.chars().take(40).collect();
            mark(lane, "note-mark", Shape::Tick, short, 8)
        }
        _ => return None,
    })
}
