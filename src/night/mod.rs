//! The night as one state machine: the world of a night and its rules,
//! written once, driven by the simulator (`sim`), the real runner (`real`)
//! and the explorer (`testing`).
//!
//! [`Night`] holds everything a night is made of — the volumes, the mail
//! server, Retrospect Remote, the snapshot policy's session, the oracle, the
//! outage, the deferred requests, the metrics, the timeline, the archive —
//! and an **agenda** of the moves it has scheduled, each with the time it
//! is due: a request arrives ([`Move::Traffic`]), the backup takes its next
//! step ([`Move::Backup`]), the policy acts on its schedule
//! ([`Move::Policy`]), the administrator visits ([`Move::Admin`]), a hang
//! check ([`Move::HangCheck`]). A driver picks a move from the agenda
//! ([`Night::agenda`], [`Night::take`]) and applies it ([`Night::apply`]);
//! when the agenda is empty it asks whether the night has more to do
//! ([`Night::settle`]), then ends it ([`Night::end`]). That is the whole
//! step interface: the simulator takes the earliest move (ties broken by
//! the chooser), the real runner the earliest at its real time, the
//! explorer every enabled one in turn.
//!
//! Every rule lives here and nowhere else: the KB draw and the reaction to
//! a foreign access, outages and their accounting, deferred and resent
//! requests, serving and compaction, the policies' hooks and
//! [`ServerControl`](crate::policy::ServerControl), faults, the oracle's
//! judgement, the metrics and the outcome ladder. All I/O goes through the
//! [`Volume`] trait (with the few extras of [`NightVolume`]), every
//! nondeterministic decision through the [`Chooser`].
//!
//! What does not live here: when moves happen in real time (the drivers),
//! and the scenario's configuration (`scenario`).

mod control;
mod faults;
mod fingerprint;
mod judge;
mod serve;
mod volume;

pub(crate) use volume::NightVolume;

use faults::Faults;

use std::time::Duration;

use crate::backup::{BackupClient, BackupSpeed, Step};
use crate::chooser::{Chooser, Stream};
use crate::error::{Error, Result};
use crate::event::{Actor, EventKind, RequestKind, Timeline, Unavailable};
use crate::oracle::Oracle;
use crate::policy::{Next, NightInfo, SnapshotSession};
use crate::report::{ArchivedFile, Metrics, Outcome};
use crate::scenario::Options;
use crate::scenario::preset::{self, mail_data_path};
use crate::scenario::traffic::{self, NIGHT_BEGINS, during};
use crate::server::MailServer;
use crate::time::SimTime;
use crate::volume::VolumePath;

#[cfg(doc)]
use crate::volume::Volume;

/// Moves a night may apply at most: a bound on any scenario, however odd.
const MAX_MOVES_PER_NIGHT: u64 = 5_000_000;

/// A move of the night: who acts next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Move {
    /// A mail request arrives.
    Traffic,
    /// Retrospect Remote takes its next step.
    Backup,
    /// The administrator visits (and restarts a server that is down or hung).
    Admin,
    /// The server has been hung since outage `episode`: is it still?
    HangCheck(u64),
    /// The snapshot policy's scheduled work.
    Policy,
}

/// A move on the agenda: when it is due, and the order it was scheduled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scheduled {
    pub(crate) at: SimTime,
    pub(crate) seq: u64,
    pub(crate) mv: Move,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Pending {
    kind: RequestKind,
    payload_len: u32,
    /// The message a read or a deletion is about, once chosen: a client
    /// that resends a request resends it about the same message.
    target: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Outage {
    since: SimTime,
    why: Unavailable,
    planned: bool,
    episode: u64,
}

/// What one night (of several) keeps until it ends.
struct Tonight {
    /// 0-based.
    night: u32,
    begins: SimTime,
    traffic_end: SimTime,
    admin: SimTime,
    backup: BackupClient,
    backup_end: Option<SimTime>,
    moves: u64,
    shutdown: bool,
    hang: bool,
    /// The administrator's visits after the first.
    visits: usize,
}

/// The world of a night and its rules; see the module docs.
pub(crate) struct Night<'o, V> {
    opts: &'o Options,
    /// A fault killed the server tonight.
    crashed: bool,
    backup_steps: u64,
    backup_crash_at: Option<u64>,
    panel_not_loaded: Vec<u32>,
    /// Who last opened the data file while the server held it.
    last_opener: String,
    /// The data file's volume's count of foreign opens when last looked at.
    foreign_events_seen: u64,
    now: SimTime,
    session: Option<Box<dyn SnapshotSession>>,
    events_processed: u64,
    hd: V,
    drive: V,
    live: VolumePath,
    server: MailServer,
    chooser: Chooser,
    speed: BackupSpeed,
    /// The agenda. A night has a handful of moves scheduled at any time
    /// (the next request, the backup's next step, the administrator, a
    /// policy's and a hang check's wake-ups), so a plain vector scanned for
    /// the earliest beats a heap.
    queue: Vec<Scheduled>,
    seq: u64,
    log: Timeline,
    oracle: Oracle,
    acked: Vec<u64>,
    deleted: Vec<u64>,
    deferred: Vec<Pending>,
    outage: Option<Outage>,
    episodes: u64,
    metrics: Metrics,
    outcome: Outcome,
    archive: Vec<ArchivedFile>,
    /// Boxed: a backup step takes it out and puts it back.
    tonight: Option<Box<Tonight>>,
    /// Requests that arrive in this order, one after the other, instead of
    /// the traffic drawn from the chooser (the explorer's night).
    script: Option<std::collections::VecDeque<Pending>>,
}

impl<'o, V: NightVolume> Night<'o, V> {
    /// The world of `opts` on the volumes `hd` ("Server HD", holding the
    /// live data file at its preset path) and `drive` ("Backup Drive"), as
    /// the night begins: the scenario's faults armed, the server started.
    pub(crate) fn new(opts: &'o Options, hd: V, drive: V, chooser: Chooser) -> Result<Self> {
        let live = mail_data_path();
        let start = during(0, NIGHT_BEGINS).min(during(0, opts.traffic.start));
        hd.set_now(start);
        drive.set_now(start);
        let server = MailServer::start(&hd, live.clone())?;
        // Shared contents carry stamps; files read from disk are known by
        // their bytes.
        let image = server.image(&hd)?;
        let oracle = if hd.shares_images() {
            Oracle::new(&image, server.generation(), start)
        } else {
            Oracle::by_bytes(&image, server.generation())
        };
        let faults = Faults::of(&opts.faults);
        for (v, capacity, armed) in [
            (&hd, faults.hd_capacity, &faults.hd),
            (&drive, faults.drive_capacity, &faults.drive),
        ] {
            if let Some(c) = capacity {
                v.set_capacity(c.min(v.capacity_bytes()));
            }
            v.arm(armed);
        }
        Ok(Night {
            opts,
            crashed: false,
            backup_steps: 0,
            backup_crash_at: faults.backup_crash_at,
            panel_not_loaded: faults.panel_not_loaded,
            last_opener: String::new(),
            foreign_events_seen: 0,
            now: start,
            session: None,
            events_processed: 0,
            hd,
            drive,
            live,
            server,
            chooser,
            speed: opts.speed,
            queue: Vec::with_capacity(8),
            seq: 0,
            log: Timeline {
                night: 1,
                events: Vec::with_capacity(1024),
            },
            oracle,
            acked: Vec::new(),
            deleted: Vec::new(),
            deferred: Vec::new(),
            outage: None,
            episodes: 0,
            metrics: Metrics::default(),
            outcome: Outcome::Clean,
            archive: Vec::new(),
            tonight: None,
            script: None,
        })
    }

    /// The same world, its traffic replaced by `requests` (kind and the
    /// message a read or deletion is about), arriving one after the other
    /// from the traffic's start: the explorer's night, whose requests
    /// draw nothing from the chooser.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn scripted(mut self, requests: Vec<(RequestKind, Option<u64>)>) -> Self {
        self.script = Some(
            requests
                .into_iter()
                .map(|(kind, target)| Pending {
                    kind,
                    payload_len: if kind == RequestKind::Deliver {
                        4072
                    } else {
                        0
                    },
                    target,
                })
                .collect(),
        );
        self
    }

    /// The backup's reads in chunks of `chunk_bytes` (the explorer reads
    /// page by page; a scenario's speed asks for 64 KiB at least).
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn with_chunk_bytes(mut self, chunk_bytes: u64) -> Self {
        self.speed.chunk_bytes = chunk_bytes;
        self
    }

    fn schedule(&mut self, at: SimTime, mv: Move) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            mv,
        });
    }

    /// The moves scheduled, in no particular order.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn agenda(&self) -> &[Scheduled] {
        &self.queue
    }

    /// Takes the move at `index` of [`Night::agenda`] off the agenda.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn take(&mut self, index: usize) -> Scheduled {
        self.queue.swap_remove(index)
    }

    /// A choice among `n` options through the night's chooser, recorded
    /// like every other (the explorer's pick of the next move).
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn choose(&mut self, n: u32) -> u32 {
        self.chooser.choose(Stream::Order, n)
    }

    /// The choices made so far, and how many options each had.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn choices_so_far(&self) -> (&[u32], &[u32]) {
        (self.chooser.record(), self.chooser.arities())
    }

    /// Takes the earliest move off the agenda, in the order of the night's
    /// clock: simultaneous moves (listed in the order they were scheduled)
    /// are ordered by the chooser, a choice like any other. How the
    /// simulator and the real runner pick; the explorer picks otherwise.
    pub(crate) fn take_earliest(&mut self) -> Option<Scheduled> {
        let q = &self.queue;
        let mut first = 0;
        let mut ties = 0u32;
        for (i, e) in q.iter().enumerate() {
            let best = &q[first];
            if ties == 0 || e.at < best.at {
                (first, ties) = (i, 1);
            } else if e.at == best.at {
                ties += 1;
                if e.seq < best.seq {
                    first = i;
                }
            }
        }
        if ties == 0 {
            return None;
        }
        let i = if ties == 1 {
            first
        } else {
            let t = q[first].at;
            let mut tied: Vec<usize> = (0..q.len()).filter(|&i| q[i].at == t).collect();
            tied.sort_unstable_by_key(|&i| q[i].seq);
            tied[self.chooser.choose(Stream::Order, ties) as usize]
        };
        Some(self.queue.swap_remove(i))
    }

    /// The outage episode of a server hung in reaction to a foreign access,
    /// while it lasts (the real runner's question).
    #[cfg(feature = "real")]
    pub(crate) fn hung_episode(&self) -> Option<u64> {
        self.outage
            .filter(|o| o.why == Unavailable::Hung && !o.planned)
            .map(|o| o.episode)
    }

    fn set_now(&self, t: SimTime) {
        self.hd.set_now(t);
        self.drive.set_now(t);
    }

    fn gap(&mut self) -> Duration {
        traffic::gap(&mut self.chooser, &self.opts.traffic)
    }

    fn payload_len(&mut self) -> u32 {
        traffic::payload_len(&mut self.chooser)
    }

    fn tonight(&mut self) -> &mut Tonight {
        self.tonight
            .as_mut()
            .expect("moves are applied between Night::begin and Night::end")
    }

    /// Begins night `night` (0-based): its first request, the policy's
    /// schedule, the backup, the administrator.
    pub(crate) fn begin(&mut self, night: u32) -> Result<()> {
        let o = self.opts;
        let begins = during(night, NIGHT_BEGINS).min(during(night, o.traffic.start));
        self.log.night = night + 1;
        self.set_now(begins);
        self.log.push(
            begins,
            Actor::Administrator,
            EventKind::NightBegins { night: night + 1 },
            None,
        );
        if night == 0 {
            let live = self.live.clone();
            self.log.push(
                begins,
                Actor::MailServer,
                EventKind::ServerStarted {
                    generation: self.server.generation(),
                    messages: self.server.message_count(),
                },
                Some(&live),
            );
        }
        let traffic_end = during(night, o.traffic.end).max(during(night, o.traffic.start));
        if self.script.as_ref().is_some_and(|s| !s.is_empty()) {
            self.schedule(during(night, o.traffic.start), Move::Traffic);
        } else if self.script.is_none() && o.traffic.requests_per_hour > 0 {
            let first = during(night, o.traffic.start) + self.gap();
            if first <= traffic_end {
                self.schedule(first, Move::Traffic);
            }
        }
        let loaded = !self.panel_not_loaded.contains(&(night + 1));
        let session = o
            .snapshot
            .begin_night(&NightInfo::new(night + 1, o.nights, begins).with_control_panel(loaded));
        self.crashed = false;
        if let Some(at) = session.schedule() {
            self.schedule(during(night, at), Move::Policy);
        }
        self.session = Some(session);
        self.schedule(during(night, o.backup_at), Move::Backup);
        let admin = during(night, o.admin_at);
        self.schedule(admin, Move::Admin);
        let backup = BackupClient::new(
            vec![
                preset::SERVER_HD.to_owned(),
                preset::BACKUP_DRIVE.to_owned(),
            ],
            o.exclusion.clone(),
            o.open_files,
            self.speed,
        );
        self.tonight = Some(Box::new(Tonight {
            night,
            begins,
            traffic_end,
            admin,
            backup,
            backup_end: None,
            moves: 0,
            shutdown: false,
            hang: false,
            visits: 0,
        }));
        Ok(())
    }

    /// Applies `mv`, due at `at` (never earlier than the last move): the
    /// move itself, then the server's look at a foreign open, if the
    /// volume saw one.
    pub(crate) fn apply(&mut self, at: SimTime, mv: Move) -> Result<()> {
        let t = at.max(self.now);
        let tonight = self.tonight();
        tonight.moves += 1;
        if tonight.moves > MAX_MOVES_PER_NIGHT {
            let night = tonight.night;
            return Err(Error::invalid(
                "events",
                format!("night {} exceeds {MAX_MOVES_PER_NIGHT} events", night + 1),
            ));
        }
        self.events_processed += 1;
        self.now = t;
        self.set_now(t);
        match mv {
            Move::Traffic => self.traffic(t)?,
            Move::Backup => self.backup_step(t)?,
            Move::Policy => {
                match self.with_session(|s, w| s.on_schedule(w)) {
                    Ok(Next::Again(d)) => self.schedule(t + d, Move::Policy),
                    Ok(Next::Done) => {}
                    // Its scheduled work ends for the night, recorded.
                    Err(e) => self.policy_failed("at its scheduled work", Err(e)),
                }
            }
            Move::Admin => self.admin(t)?,
            Move::HangCheck(episode) => self.hang_check(t, episode),
        }
        // Nothing to ask the server unless someone opened a file somebody
        // held since the last time.
        let events = self.hd.foreign_open_events();
        if events != self.foreign_events_seen {
            self.foreign_events_seen = events;
            if let Some(by) = self.server.foreign_access(&self.hd)? {
                let behavior = self.conflict(t, by)?;
                if behavior == crate::server::ConflictBehavior::Shutdown {
                    self.tonight().shutdown = true;
                }
            }
        }
        Ok(())
    }

    /// A request arrives; the next one is scheduled.
    fn traffic(&mut self, t: SimTime) -> Result<()> {
        if let Some(script) = &mut self.script {
            let next = script.pop_front();
            let more = !script.is_empty();
            if let Some(req) = next {
                self.request(t, req)?;
            }
            if more {
                self.schedule(t, Move::Traffic);
            }
            return Ok(());
        }
        let kind = traffic::request_kind(&mut self.chooser);
        let payload_len = if kind == RequestKind::Deliver {
            self.payload_len()
        } else {
            0
        };
        self.request(
            t,
            Pending {
                kind,
                payload_len,
                target: None,
            },
        )?;
        let next = t + self.gap();
        if next <= self.tonight().traffic_end {
            self.schedule(next, Move::Traffic);
        }
        Ok(())
    }

    /// Retrospect Remote's next step (or its crash, at the fault's step).
    fn backup_step(&mut self, t: SimTime) -> Result<()> {
        self.backup_steps += 1;
        let mut tonight = self
            .tonight
            .take()
            .expect("moves are applied between Night::begin and Night::end");
        let stepped = if self.backup_crash_at == Some(self.backup_steps) {
            tonight
                .backup
                .crash(self, t, "Retrospect Remote crashed mid-archive");
            tonight.backup_end = Some(t);
            Ok(Some(false))
        } else {
            match tonight.backup.step(self, t) {
                Ok(Step::At(next)) => {
                    self.schedule(next, Move::Backup);
                    Ok(None)
                }
                Ok(Step::Done) => {
                    tonight.backup_end = Some(t);
                    Ok(Some(true))
                }
                Err(e) => Err(e),
            }
        };
        self.tonight = Some(tonight);
        if let Some(finished) = stepped? {
            let done = self.with_session(|s, w| s.after_backup(w, finished));
            self.policy_failed("after the backup", done);
        }
        Ok(())
    }

    /// The administrator's visit: a server down (not by a policy) or hung
    /// is restarted — after freeing room, if a full disk killed it; a
    /// lock-aware backup still reading the file defers the restart a minute.
    fn admin(&mut self, t: SimTime) -> Result<()> {
        let Some(out) = self.outage.filter(|o| !o.planned) else {
            return Ok(());
        };
        let after = t - out.since;
        if self.crashed {
            self.hd.set_capacity(u64::MAX);
        }
        match self.server.restart(&self.hd) {
            Ok(()) => {}
            Err(Error::DenyConflict { holder, .. }) => {
                self.log.push(
                    t,
                    Actor::Administrator,
                    EventKind::Note {
                        text: format!(
                            "cannot restart the Mail Server yet: {holder} has its data file open"
                        ),
                    },
                    None,
                );
                self.schedule(t + Duration::from_secs(60), Move::Admin);
                return Ok(());
            }
            Err(e) => return self.server_fault(t, e),
        }
        self.log.push(
            t,
            Actor::Administrator,
            EventKind::Restarted {
                was: out.why,
                after,
            },
            None,
        );
        if self.crashed {
            // Recovery may have repaired the file.
            let image = self.server.image(&self.hd)?;
            self.oracle.commit_all(&image, self.server.generation());
        }
        self.log.push(
            t,
            Actor::MailServer,
            EventKind::ServerStarted {
                generation: self.server.generation(),
                messages: self.server.message_count(),
            },
            Some(&self.live.clone()),
        );
        self.back_up(t);
        self.resend(t)
    }

    /// Still hung since `episode` began, for the whole threshold: a hang,
    /// whatever comes later.
    fn hang_check(&mut self, t: SimTime, episode: u64) {
        let Some(out) = self.outage.filter(|o| o.episode == episode) else {
            return;
        };
        self.tonight().hang = true;
        let admin = self.tonight().admin;
        self.log.push(
            t,
            Actor::MailServer,
            EventKind::HangDetected {
                after: t - out.since,
                chain: crate::event::hang_chain(
                    &self.live,
                    out.since,
                    self.deferred.len() as u64,
                    &self.last_opener,
                    admin,
                ),
            },
            Some(&self.live.clone()),
        );
    }

    /// The agenda is empty: has the night more to do? A server that went
    /// down after the administrator's visit brings the administrator back
    /// once the night's work is over, again while restarts fail — at most
    /// once per injected fault (each fires once) and a few times more.
    /// `false` when the night is over.
    pub(crate) fn settle(&mut self) -> bool {
        let limit = 3 + self.opts.faults.len();
        let now = self.now;
        let tonight = self.tonight();
        if tonight.visits >= limit || self.outage.is_none_or(|o| o.planned) {
            return false;
        }
        let tonight = self.tonight();
        tonight.visits += 1;
        let at = now.max(tonight.admin);
        self.schedule(at, Move::Admin);
        true
    }

    /// Ends the night: the backup's counts, the archive judged, the
    /// outage counted so far, the night's outcome.
    pub(crate) fn end(&mut self) -> Result<()> {
        let Some(mut tonight) = self.tonight.take() else {
            return Ok(());
        };
        let stats = tonight.backup.stats();
        self.metrics.files_archived += stats.files_archived;
        self.metrics.bytes_archived += stats.bytes_archived;
        self.metrics.files_excluded += stats.files_excluded;
        self.metrics.files_skipped_busy += stats.files_skipped_busy;
        self.metrics.files_skipped_snapshot += stats.files_skipped_snapshot;
        self.metrics.files_failed += stats.files_failed;
        self.session = None;
        let now = self.now;
        let end = tonight.backup_end.unwrap_or(now);
        let torn = self.judge(tonight.backup.take_backup_set(), tonight.begins, end);
        if let Some(out) = &mut self.outage {
            // Still down at the end of the night: count it so far.
            let d = now - out.since;
            if out.planned {
                self.metrics.planned_downtime += d;
            } else {
                self.metrics.unplanned_downtime += d;
            }
            out.since = now;
        }
        self.log
            .push(now, Actor::Administrator, EventKind::NightEnds, None);
        let night_outcome = if torn {
            Outcome::Corrupted
        } else if self.crashed {
            Outcome::Crashed
        } else if tonight.hang {
            Outcome::Hang
        } else if tonight.shutdown {
            Outcome::GracefulShutdown
        } else {
            Outcome::Clean
        };
        self.outcome = self.outcome.max(night_outcome);
        Ok(())
    }
}
