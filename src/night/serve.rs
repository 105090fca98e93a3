//! How the server meets the night: requests served, deferred and resent;
//! its reaction to a foreign access (the KB draw); outages and their
//! accounting; the faults that kill it.

use super::{Move, Night, NightVolume, Outage, Pending};
use crate::chooser::Stream;
use crate::datafile;
use crate::error::{Error, Result};
use crate::event::{Actor, EventKind, RequestKind, Unavailable};
use crate::scenario::traffic;
use crate::server::{Commit, ConflictBehavior, MailServer, ServerState};
use crate::time::SimTime;
use crate::volume::{Owner, PAGE_BYTES};

impl<V: NightVolume> Night<'_, V> {
    pub(super) fn conflict(&mut self, t: SimTime, by: String) -> Result<ConflictBehavior> {
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
                match self
                    .chooser
                    .weighted(Stream::Reaction, &[p, 1_000_000 - p.min(1_000_000)])
                {
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
                self.schedule(t + self.opts.hang_threshold, Move::HangCheck(episode));
            }
            ConflictBehavior::Tolerate => {
                self.log
                    .push(t, Actor::MailServer, EventKind::Tolerated, Some(&live));
            }
        }
        Ok(behavior)
    }

    pub(super) fn go_down(&mut self, t: SimTime, why: Unavailable, planned: bool) -> u64 {
        self.episodes += 1;
        self.outage = Some(Outage {
            since: t,
            why,
            planned,
            episode: self.episodes,
        });
        self.episodes
    }

    pub(super) fn back_up(&mut self, t: SimTime) {
        if let Some(out) = self.outage.take() {
            let d = t - out.since;
            if out.planned {
                self.metrics.planned_downtime += d;
            } else {
                self.metrics.unplanned_downtime += d;
            }
        }
    }

    pub(super) fn request(&mut self, t: SimTime, req: Pending) -> Result<()> {
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
    pub(super) fn defer(&mut self, t: SimTime, req: Pending, reason: Unavailable) {
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

    pub(super) fn resend(&mut self, t: SimTime) -> Result<()> {
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

    pub(super) fn serve(&mut self, t: SimTime, mut req: Pending) -> Result<()> {
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
            self.tell_oracle(t, &c)?;
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
    pub(super) fn transact(&mut self, req: &mut Pending) -> Result<Option<Commit>> {
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
    pub(super) fn server_fault(&mut self, t: SimTime, e: Error) -> Result<()> {
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

    /// Tells the oracle the state after a commit: the pages it touched, by
    /// stamp where the volume hands out its shared contents, else by the
    /// bytes read back through the server's own handle (the holder's view,
    /// no read a fault counts).
    fn tell_oracle(&mut self, t: SimTime, c: &Commit) -> Result<()> {
        if !self.oracle.knows_bytes() {
            let image = self.server.image(&self.hd)?;
            self.oracle.commit(&image, c.generation, t, &c.touched);
            return Ok(());
        }
        let h = self.server.handle().ok_or(Error::BadHandle)?;
        let len = self.hd.len_of(h)?;
        let page = PAGE_BYTES as u64;
        let pages = len.div_ceil(page) as usize;
        let mut changed = Vec::new();
        for p in crate::oracle::touched_pages(&c.touched, pages) {
            let chunk = self.hd.image_at(h, p as u64 * page, page)?;
            changed.push((p, crate::oracle::page_fingerprint(&chunk.to_vec())));
        }
        self.oracle.commit_pages(c.generation, len, changed);
        Ok(())
    }

    pub(super) fn record(&mut self, t: SimTime, kind: RequestKind, c: &Commit) -> Result<()> {
        self.tell_oracle(t, c)?;
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
}
