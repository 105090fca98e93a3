//! The discrete-event loop of a simulated night.

use std::time::Duration;

use crate::backup::{BackupClient, BackupEnv, BackupItem, Step};
use crate::chooser::Chooser;
use crate::datafile::{self, RecordFlags};
use crate::error::{Error, Result};
use crate::oracle::Oracle;
use crate::policy::{Next, NightInfo, Prepared, ServerControl, SnapshotSession};
use crate::report::{
    Actor, ArchivedFile, EventKind, Metrics, Outcome, Report, RequestKind, Timeline, Unavailable,
    Verdict,
};
use crate::scenario::preset::{self, mail_data_path};
use crate::scenario::traffic::{self, NIGHT_BEGINS, during};
use crate::scenario::{Fault, Options};
use crate::server::{Commit, ConflictBehavior, MailServer, ServerState};
use crate::time::SimTime;
use crate::volume::{Chunk, Content, Owner, SimFaults, SimVolume, Volume, VolumePath};

/// Events a night may hold at most: a bound on any scenario, however odd.
const MAX_EVENTS_PER_NIGHT: u64 = 5_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Traffic,
    Backup,
    Admin,
    HangCheck(u64),
    Policy,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    kind: RequestKind,
    payload_len: u32,
    /// The message a read or a deletion is about, once chosen: a client
    /// that resends a request resends it about the same message.
    target: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Outage {
    since: SimTime,
    why: Unavailable,
    planned: bool,
    episode: u64,
}

struct World<'o> {
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
    hd: SimVolume,
    drive: SimVolume,
    live: VolumePath,
    server: MailServer,
    chooser: Chooser,
    /// Pending events as (time, order of scheduling, action). A night has a
    /// handful at any time (the next request, the backup's next step, the
    /// administrator, a policy's and a hang check's wake-ups), so a plain
    /// vector scanned for the earliest beats a heap.
    queue: Vec<(SimTime, u64, Action)>,
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
}

pub(super) fn run(opts: &Options, chooser: Chooser) -> Result<Report> {
    let (hd, drive) = preset::volumes();
    let live = mail_data_path();
    let start = during(0, NIGHT_BEGINS).min(during(0, opts.traffic.start));
    hd.set_now(start);
    drive.set_now(start);
    let server = MailServer::start(&hd, live.clone())?;
    let oracle = Oracle::new(&server.image(&hd)?, server.generation(), start);
    // Every fault fires: several of one kind in the order of their counts;
    // the earliest backup crash and the smallest capacity are the ones
    // that bite.
    let mut backup_crash_at: Option<u64> = None;
    let mut panel_not_loaded = Vec::new();
    let (mut hd_faults, mut drive_faults) = (Vec::new(), Vec::new());
    for f in &opts.faults {
        let on_hd = |v: &str| v == preset::SERVER_HD;
        let mut one = SimFaults::default();
        match f {
            Fault::ReadError { volume, nth } => {
                one.read_error_at = Some(*nth);
                if on_hd(volume) {
                    hd_faults.push(one);
                } else {
                    drive_faults.push(one);
                }
            }
            Fault::WriteError { nth } => {
                one.write_error_at = Some(*nth);
                hd_faults.push(one);
            }
            Fault::ServerCrash { at_sync, unsynced } => {
                one.crash_at_sync = Some((*at_sync, *unsynced));
                hd_faults.push(one);
            }
            Fault::DiskFull {
                volume,
                capacity_bytes,
            } => {
                let v = if on_hd(volume) { &hd } else { &drive };
                v.set_capacity((*capacity_bytes).min(v.capacity_bytes()));
            }
            Fault::BackupCrash { at_step } => {
                backup_crash_at = Some(backup_crash_at.map_or(*at_step, |a| a.min(*at_step)));
            }
            Fault::ControlPanelNotLoaded { night } => panel_not_loaded.push(*night),
        }
    }
    for (v, faults) in [(&hd, hd_faults), (&drive, drive_faults)] {
        if let Some((first, rest)) = faults.split_first() {
            v.inject(*first);
            for f in rest {
                v.queue_faults(*f);
            }
        }
    }
    let mut w = World {
        opts,
        crashed: false,
        backup_steps: 0,
        backup_crash_at,
        panel_not_loaded,
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
    };
    for night in 0..opts.nights {
        w.night(night)?;
    }
    w.finish()
}

impl World<'_> {
    fn schedule(&mut self, at: SimTime, action: Action) {
        self.seq += 1;
        self.queue.push((at, self.seq, action));
    }

    /// The next event; simultaneous events are ordered by the chooser (the
    /// tied ones listed in the order they were scheduled).
    fn pop(&mut self) -> Option<(SimTime, Action)> {
        let first = (0..self.queue.len()).min_by_key(|&i| (self.queue[i].0, self.queue[i].1))?;
        let t = self.queue[first].0;
        let ties = self.queue.iter().filter(|e| e.0 == t).count();
        let i = if ties == 1 {
            first
        } else {
            let mut tied: Vec<usize> = (0..self.queue.len())
                .filter(|&i| self.queue[i].0 == t)
                .collect();
            tied.sort_unstable_by_key(|&i| self.queue[i].1);
            tied[self.chooser.choose(ties as u32) as usize]
        };
        let (t, _, action) = self.queue.swap_remove(i);
        Some((t, action))
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

    fn night(&mut self, night: u32) -> Result<()> {
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
        if o.traffic.requests_per_hour > 0 {
            let first = during(night, o.traffic.start) + self.gap();
            if first <= traffic_end {
                self.schedule(first, Action::Traffic);
            }
        }
        let loaded = !self.panel_not_loaded.contains(&(night + 1));
        let session = o
            .snapshot
            .begin_night(&NightInfo::new(night + 1, o.nights, begins).with_control_panel(loaded));
        self.crashed = false;
        if let Some(at) = session.schedule() {
            self.schedule(during(night, at), Action::Policy);
        }
        self.session = Some(session);
        self.schedule(during(night, o.backup_at), Action::Backup);
        let admin = during(night, o.admin_at);
        self.schedule(admin, Action::Admin);
        let mut backup = BackupClient::new(
            vec![
                preset::SERVER_HD.to_owned(),
                preset::BACKUP_DRIVE.to_owned(),
            ],
            o.exclusion.clone(),
            o.open_files,
            o.speed,
        );
        let mut backup_end = None;
        let mut events = 0u64;
        let mut now = begins;
        let mut shutdown = false;
        let mut hang = false;
        let mut visits = 0;
        loop {
            while let Some((t, action)) = self.pop() {
                events += 1;
                self.events_processed += 1;
                if events > MAX_EVENTS_PER_NIGHT {
                    return Err(Error::invalid(
                        "events",
                        format!("night {} exceeds {MAX_EVENTS_PER_NIGHT} events", night + 1),
                    ));
                }
                now = t;
                self.now = t;
                self.set_now(t);
                match action {
                    Action::Traffic => {
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
                        if next <= traffic_end {
                            self.schedule(next, Action::Traffic);
                        }
                    }
                    Action::Backup => {
                        self.backup_steps += 1;
                        if self.backup_crash_at == Some(self.backup_steps) {
                            backup.crash(self, t, "Retrospect Remote crashed mid-archive");
                            backup_end = Some(t);
                            self.with_session(|s, w| s.after_backup(w, false))?;
                        } else {
                            match backup.step(self, t)? {
                                Step::At(next) => self.schedule(next, Action::Backup),
                                Step::Done => {
                                    backup_end = Some(t);
                                    self.with_session(|s, w| s.after_backup(w, true))?;
                                }
                            }
                        }
                    }
                    Action::Policy => {
                        if let Next::Again(d) = self.with_session(|s, w| s.on_schedule(w))? {
                            self.schedule(t + d, Action::Policy);
                        }
                    }
                    Action::Admin => {
                        if let Some(out) = self.outage.filter(|o| !o.planned) {
                            let after = t - out.since;
                            // A crash for want of room: the administrator
                            // frees space before restarting.
                            if self.crashed {
                                self.hd.set_capacity(u64::MAX);
                            }
                            match self.server.restart(&self.hd) {
                                Ok(()) => {}
                                Err(Error::DenyConflict { holder, .. }) => {
                                    // A lock-aware backup is reading the file:
                                    // try again in a minute.
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
                                    self.schedule(t + Duration::from_secs(60), Action::Admin);
                                    continue;
                                }
                                Err(e) => {
                                    self.server_fault(t, e)?;
                                    continue;
                                }
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
                            self.resend(t)?;
                        }
                    }
                    Action::HangCheck(episode) => {
                        if let Some(out) = self.outage.filter(|o| o.episode == episode) {
                            // Hung for the whole threshold: a hang, whatever comes later.
                            hang = true;
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
                    }
                }
                // Nothing to ask the server unless someone opened a file
                // somebody held since the last time.
                let events = self.hd.foreign_open_events();
                if events == self.foreign_events_seen {
                    continue;
                }
                self.foreign_events_seen = events;
                if let Some(by) = self.server.foreign_access(&self.hd)? {
                    match self.conflict(t, by)? {
                        ConflictBehavior::Shutdown => shutdown = true,
                        ConflictBehavior::Hang | ConflictBehavior::Tolerate => {}
                    }
                }
            }
            // The server went down after the administrator's visit: the
            // administrator comes back once the night's work is over, again
            // while restarts fail — at most once per injected fault (each
            // fires once) and a few times more.
            if self.outage.is_some_and(|o| !o.planned) && visits < 3 + self.opts.faults.len() {
                visits += 1;
                self.schedule(now.max(admin), Action::Admin);
                continue;
            }
            break;
        }
        let stats = backup.stats();
        self.metrics.files_archived += stats.files_archived;
        self.metrics.bytes_archived += stats.bytes_archived;
        self.metrics.files_excluded += stats.files_excluded;
        self.metrics.files_skipped_busy += stats.files_skipped_busy;
        self.metrics.files_skipped_snapshot += stats.files_skipped_snapshot;
        self.metrics.files_failed += stats.files_failed;
        self.session = None;
        let end = backup_end.unwrap_or(now);
        let torn = self.judge(backup.take_backup_set(), begins, end);
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
        } else if hang {
            Outcome::Hang
        } else if shutdown {
            Outcome::GracefulShutdown
        } else {
            Outcome::Clean
        };
        self.outcome = self.outcome.max(night_outcome);
        Ok(())
    }

    /// Judges a night's backup set; true if a copy of Mail Data is torn.
    fn judge(&mut self, set: Vec<BackupItem>, night_began: SimTime, backup_end: SimTime) -> bool {
        let mut torn = false;
        let mut newest: Option<(bool, SimTime)> = None;
        for item in set {
            let name = item.path.name();
            let mail_data = item.path == self.live
                || datafile::is_mail_data_name(name)
                || self.oracle.recognizes(&item.content);
            let taken_at = item.taken_at;
            let verdict = if mail_data {
                match self.oracle.judge(&item.content) {
                    Some(generation) => Verdict::Consistent {
                        generation,
                        age: backup_end - taken_at,
                        stale: taken_at < night_began,
                    },
                    None => {
                        torn = true;
                        Verdict::Torn
                    }
                }
            } else {
                Verdict::Consistent {
                    generation: 0,
                    age: backup_end - taken_at,
                    stale: false,
                }
            };
            if mail_data {
                let candidate = (verdict.is_consistent(), taken_at);
                if newest.is_none_or(|n| candidate > n) {
                    newest = Some(candidate);
                }
            }
            self.archive.push(ArchivedFile {
                path: item.path,
                len_bytes: item.content.len_bytes(),
                mail_data,
                night: self.log.night,
                taken_at,
                verdict,
            });
        }
        self.metrics.recovery_point_age = newest.map(|(_, at)| backup_end - at);
        torn
    }

    fn conflict(&mut self, t: SimTime, by: String) -> Result<ConflictBehavior> {
        let live = self.live.clone();
        self.last_opener.clone_from(&by);
        self.log.push(
            t,
            Actor::MailServer,
            EventKind::ForeignAccess { by },
            Some(&live),
        );
        let behavior = match self.opts.conflict {
            Some(b) => b,
            None => {
                let p = (self.opts.shutdown_probability * 1_000_000.0).round() as u32;
                match self.chooser.weighted(&[p, 1_000_000 - p.min(1_000_000)]) {
                    0 => ConflictBehavior::Shutdown,
                    _ => ConflictBehavior::Hang,
                }
            }
        };
        if self.server.state() != ServerState::Serving {
            return Ok(ConflictBehavior::Tolerate);
        }
        let generation = self.server.generation();
        if let Err(e) = self.server.react(&self.hd, behavior) {
            self.server_fault(t, e)?;
            return Ok(ConflictBehavior::Tolerate);
        }
        match behavior {
            ConflictBehavior::Shutdown => {
                self.log.push(
                    t,
                    Actor::MailServer,
                    EventKind::ShutDown { generation },
                    Some(&live),
                );
                self.go_down(t, Unavailable::Down, false);
            }
            ConflictBehavior::Hang => {
                self.log
                    .push(t, Actor::MailServer, EventKind::Hung, Some(&live));
                let episode = self.go_down(t, Unavailable::Hung, false);
                self.schedule(t + self.opts.hang_threshold, Action::HangCheck(episode));
            }
            ConflictBehavior::Tolerate => {
                self.log
                    .push(t, Actor::MailServer, EventKind::Tolerated, Some(&live));
            }
        }
        Ok(behavior)
    }

    fn go_down(&mut self, t: SimTime, why: Unavailable, planned: bool) -> u64 {
        self.episodes += 1;
        self.outage = Some(Outage {
            since: t,
            why,
            planned,
            episode: self.episodes,
        });
        self.episodes
    }

    fn back_up(&mut self, t: SimTime) {
        if let Some(out) = self.outage.take() {
            let d = t - out.since;
            if out.planned {
                self.metrics.planned_downtime += d;
            } else {
                self.metrics.unplanned_downtime += d;
            }
        }
    }

    fn request(&mut self, t: SimTime, req: Pending) -> Result<()> {
        let reason = match self.server.state() {
            ServerState::Serving => return self.serve(t, req),
            ServerState::Down => Unavailable::Down,
            ServerState::Hung => Unavailable::Hung,
            ServerState::Paused => Unavailable::Paused,
        };
        self.defer(t, req, reason);
        Ok(())
    }

    /// Not served: the client keeps the request and sends it again.
    fn defer(&mut self, t: SimTime, req: Pending, reason: Unavailable) {
        self.metrics.deliveries_deferred += 1;
        self.deferred.push(req);
        self.log.push(
            t,
            Actor::MailClients,
            EventKind::Deferred {
                request: req.kind,
                reason,
            },
            None,
        );
    }

    fn resend(&mut self, t: SimTime) -> Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.deferred);
        self.log.push(
            t,
            Actor::MailClients,
            EventKind::Resent {
                requests: pending.len() as u64,
            },
            None,
        );
        for req in pending {
            // A fault may bring the server down again mid-way: the rest wait.
            self.request(t, req)?;
        }
        Ok(())
    }

    fn serve(&mut self, t: SimTime, mut req: Pending) -> Result<()> {
        let commit = match self.transact(&mut req) {
            Ok(c) => c,
            Err(e) => {
                // Not acknowledged: the client keeps it and sends it again.
                self.server_fault(t, e)?;
                self.defer(t, req, Unavailable::Down);
                return Ok(());
            }
        };
        let Some(commit) = commit else {
            return Ok(());
        };
        if req.kind == RequestKind::Deliver {
            self.acked.extend(commit.message_id);
        }
        self.record(t, req.kind, &commit)?;
        if self.server.needs_compaction() {
            let c = match self.server.compact(&self.hd) {
                Ok(c) => c,
                Err(e) => return self.server_fault(t, e),
            };
            self.oracle
                .commit(&self.server.image(&self.hd)?, c.generation, t, &c.touched);
            let live = self.live.clone();
            self.log.push(
                t,
                Actor::MailServer,
                EventKind::Compacted {
                    generation: c.generation,
                    reclaimed_bytes: c.reclaimed_bytes,
                },
                Some(&live),
            );
        }
        Ok(())
    }

    /// One request as one transaction; `None` when there was nothing to do.
    fn transact(&mut self, req: &mut Pending) -> Result<Option<Commit>> {
        if req.kind == RequestKind::Deliver {
            return self.server.deliver(&self.hd, req.payload_len).map(Some);
        }
        let target = match req.target {
            Some(id) => id,
            None => {
                let pick = traffic::pick(&mut self.chooser, self.server.message_count());
                let Some(id) = self.server.message_at(pick) else {
                    return Ok(None);
                };
                req.target = Some(id);
                if req.kind == RequestKind::Delete {
                    // From now on this message may be gone, acknowledged
                    // or not: its owner asked.
                    self.deleted.push(id);
                }
                id
            }
        };
        if req.kind == RequestKind::Read {
            self.server.mark_read_message(&self.hd, target)
        } else {
            self.server.delete_message(&self.hd, target)
        }
    }

    /// An injected fault killed the server: its process is gone (its open
    /// with it), the night records a crash, the administrator will restart
    /// it. Errors that are not faults are returned.
    fn server_fault(&mut self, t: SimTime, e: Error) -> Result<()> {
        let reason = match &e {
            Error::Crashed { sync, unsynced, .. } => format!(
                "the process died at sync {sync}; the writes it had not synced were {}",
                match unsynced {
                    crate::volume::UnsyncedWrites::Keep => "kept",
                    crate::volume::UnsyncedWrites::Drop => "dropped",
                    crate::volume::UnsyncedWrites::Garble => "garbled",
                }
            ),
            Error::VolumeIo { .. } | Error::DiskFull { .. } => {
                let live = self.live.clone();
                self.log.push(
                    t,
                    Actor::MailServer,
                    EventKind::IoError {
                        reason: e.to_string(),
                    },
                    Some(&live),
                );
                "it stopped rather than risk its data file after an I/O error".to_owned()
            }
            _ => return Err(e),
        };
        self.hd.close_all_of(&Owner::new(MailServer::OWNER));
        self.server.crashed();
        let live = self.live.clone();
        self.log.push(
            t,
            Actor::MailServer,
            EventKind::Crashed { reason },
            Some(&live),
        );
        self.crashed = true;
        // Whatever the file holds now is a state it held (until a restart).
        let image = self.hd.contents(&self.live)?;
        let generation =
            datafile::read_header(&image).map_or(self.server.generation(), |h| h.generation);
        self.oracle.commit_all(&image, generation);
        self.back_up(t);
        self.go_down(t, Unavailable::Down, false);
        Ok(())
    }

    fn record(&mut self, t: SimTime, kind: RequestKind, c: &Commit) -> Result<()> {
        self.oracle
            .commit(&self.server.image(&self.hd)?, c.generation, t, &c.touched);
        let message_id = c.message_id.unwrap_or(0);
        let generation = c.generation;
        let ev = match kind {
            RequestKind::Deliver => EventKind::Delivered {
                message_id,
                generation,
            },
            RequestKind::Read => EventKind::MarkedRead {
                message_id,
                generation,
            },
            RequestKind::Delete => EventKind::Deleted {
                message_id,
                generation,
            },
        };
        self.log.push(t, Actor::MailServer, ev, None);
        Ok(())
    }

    fn finish(mut self) -> Result<Report> {
        // Nothing is lost: every acknowledged delivery not deleted by its
        // owner is in the live file. Each one is looked up where the
        // server's index says it is, and read from the file's bytes: a
        // missing, moved, or deleted record counts as lost.
        let image = self.hd.contents(&self.live)?;
        let header = datafile::read_header(&image).map_err(|source| Error::DataFile {
            path: self.live.clone(),
            source,
        })?;
        self.deleted.sort_unstable();
        self.metrics.deliveries_acknowledged = self.acked.len() as u64;
        let lost: Vec<u64> = self
            .acked
            .iter()
            .copied()
            .filter(|&id| self.deleted.binary_search(&id).is_err())
            .filter(|&id| {
                let found = self
                    .server
                    .offset_of(id)
                    .and_then(|at| datafile::record_at(&image, &header, at).ok());
                !found
                    .is_some_and(|r| r.message_id == id && !r.flags.contains(RecordFlags::DELETED))
            })
            .collect();
        self.metrics.messages_lost = lost.len() as u64;
        self.metrics.server_downtime =
            self.metrics.planned_downtime + self.metrics.unplanned_downtime;
        let o = self.opts;
        // Steps narrate what they finish at the time it finishes, which may
        // be after other events were logged: put the narration in time order.
        if !self.log.events.is_sorted_by_key(|e| e.time) {
            self.log.events.sort_by_key(|e| e.time);
        }
        Ok(Report {
            outcome: self.outcome,
            seed: o.seed,
            choices: self.chooser.into_choices(),
            metrics: self.metrics,
            archive: self.archive,
            timeline: self.log.events,
            nights: o.nights,
            events_processed: self.events_processed,
            lost,
            behavior: o.conflict.map_or("kb", ConflictBehavior::as_str).to_owned(),
            snapshot: o.snapshot.name().to_owned(),
            open_files: o.open_files.as_str().to_owned(),
            live: self.live.clone(),
        })
    }
}

impl World<'_> {
    /// Calls the night's snapshot session with the world as its server control.
    fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut dyn SnapshotSession, &mut World<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut session = self
            .session
            .take()
            .expect("a night's session lives while the night runs");
        let out = f(&mut *session, self);
        self.session = Some(session);
        out
    }

    fn volume_named(&self, name: &str) -> Option<&SimVolume> {
        [&self.hd, &self.drive]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

impl BackupEnv for World<'_> {
    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        self.volume_named(name).map(|v| v as &dyn Volume)
    }

    fn log(&mut self, time: SimTime, kind: EventKind, path: Option<&VolumePath>) {
        self.log.push(time, Actor::RetrospectRemote, kind, path);
    }

    fn is_live(&self, path: &VolumePath) -> bool {
        *path == self.live
    }

    fn snapshot_policy_name(&self) -> String {
        self.opts.snapshot.name().to_owned()
    }

    fn before_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<Prepared> {
        self.now = now;
        let path = path.clone();
        self.with_session(|s, w| s.before_live_file(w, &path))
    }

    fn after_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<()> {
        self.now = now;
        let path = path.clone();
        self.with_session(|s, w| s.after_live_file(w, &path))
    }
}

impl ServerControl for World<'_> {
    fn now(&self) -> SimTime {
        self.now
    }

    fn live_path(&self) -> VolumePath {
        self.live.clone()
    }

    fn state(&self) -> ServerState {
        self.server.state()
    }

    fn generation(&self) -> u64 {
        self.server.generation()
    }

    fn len_bytes(&self) -> Result<u64> {
        Ok(self.hd.metadata(&self.live)?.len_bytes)
    }

    fn stop(&mut self) -> Result<()> {
        if self.server.state() != ServerState::Serving {
            return Ok(());
        }
        if let Err(e) = self.server.stop(&self.hd) {
            return self.server_fault(self.now, e);
        }
        let (t, live) = (self.now, self.live.clone());
        self.log
            .push(t, Actor::MailServer, EventKind::PlannedStop, Some(&live));
        self.go_down(t, Unavailable::Down, true);
        Ok(())
    }

    fn start(&mut self) -> Result<()> {
        if self.server.state() != ServerState::Down {
            return Ok(());
        }
        let t = self.now;
        if self.outage.is_some_and(|o| !o.planned) {
            // Down by a fault, not by the policy: the administrator's to restart.
            return Ok(());
        }
        if let Err(e) = self.server.restart(&self.hd) {
            return self.server_fault(t, e);
        }
        self.log
            .push(t, Actor::MailServer, EventKind::PlannedStart, None);
        self.back_up(t);
        self.resend(t)
    }

    fn pause(&mut self, why: &str) {
        if self.server.state() != ServerState::Serving {
            return;
        }
        self.server.pause();
        let t = self.now;
        self.log.push(
            t,
            Actor::MailServer,
            EventKind::Paused {
                why: why.to_owned(),
            },
            None,
        );
        self.go_down(t, Unavailable::Paused, true);
    }

    fn resume(&mut self) {
        if self.server.state() != ServerState::Paused {
            return;
        }
        self.server.resume();
        let t = self.now;
        self.log
            .push(t, Actor::MailServer, EventKind::Resumed, None);
        self.back_up(t);
        if let Err(e) = self.resend(t) {
            // Resending only commits to the live file; a failure here is a
            // broken volume, reported on the timeline rather than lost.
            self.log.push(
                t,
                Actor::MailClients,
                EventKind::Note {
                    text: format!("could not resend: {e}"),
                },
                None,
            );
        }
    }

    fn copy_aside(&mut self, dest: &VolumePath) -> Result<u64> {
        let image = self.clone_image()?;
        let volume = self
            .volume_named(dest.volume())
            .ok_or_else(|| Error::NoSuchVolume {
                name: dest.volume().to_owned(),
            })?;
        let need = image.len_bytes();
        let avail = volume.available_bytes()?;
        if need > avail {
            return Err(Error::DiskFull {
                path: dest.clone(),
                needed_bytes: need,
                available_bytes: avail,
            });
        }
        // Temporary name, synced, renamed: never a half-written copy under
        // the rotation's name.
        let tmp = dest
            .parent()
            .unwrap_or_else(|| VolumePath::root(dest.volume()))
            .join(format!("{}.tmp", dest.name()));
        volume.put_file(&tmp, image)?;
        volume.rename(&tmp, dest)?;
        Ok(need)
    }

    fn clone_image(&mut self) -> Result<Content> {
        if self.server.holds_file() {
            self.server.image(&self.hd)
        } else {
            self.hd.contents(&self.live)
        }
    }

    fn read_own(&mut self, offset: u64, len_bytes: u64) -> Result<Chunk> {
        if self.server.holds_file() {
            self.server.read_own(&self.hd, offset, len_bytes)
        } else {
            Ok(Chunk::of(&self.hd.contents(&self.live)?, offset, len_bytes))
        }
    }

    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        self.volume_named(name).map(|v| v as &dyn Volume)
    }

    fn log(&mut self, kind: EventKind, path: Option<&VolumePath>) {
        let actor = Actor::of_policy_step(&kind);
        self.log.push(self.now, actor, kind, path);
    }
}
