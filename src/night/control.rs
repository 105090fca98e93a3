//! The world as the actors see it: the backup's environment
//! ([`BackupEnv`]) and the snapshot policy's handle on the server
//! ([`ServerControl`]).

use super::{Night, NightVolume};
use crate::backup::BackupEnv;
use crate::error::{Error, Result};
use crate::event::{Actor, EventKind, Unavailable};
use crate::policy::{Prepared, ServerControl, SnapshotSession};
use crate::server::ServerState;
use crate::time::SimTime;
use crate::volume::{Chunk, Content, Volume, VolumePath};

impl<V: NightVolume> Night<'_, V> {
    /// Calls the night's snapshot session with the world as its server control.
    pub(super) fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut dyn SnapshotSession, &mut Night<'_, V>) -> Result<T>,
    ) -> Result<T> {
        let mut session = self
            .session
            .take()
            .expect("a night's session lives while the night runs");
        let out = f(&mut *session, self);
        self.session = Some(session);
        out
    }

    /// Records a policy's failure in one of its hooks on the timeline,
    /// naming the policy; the night goes on (a server it left paused or
    /// stopped is what the invariants then find).
    pub(super) fn policy_failed(&mut self, hook: &str, result: Result<()>) {
        if let Err(e) = result {
            let text = format!(
                "the snapshot policy {:?} failed {hook}: {e}",
                self.opts.snapshot.name()
            );
            let kind = EventKind::Note { text };
            let actor = Actor::of_policy_step(&kind);
            self.log.push(self.now, actor, kind, None);
        }
    }

    pub(super) fn volume_named(&self, name: &str) -> Option<&V> {
        [&self.hd, &self.drive]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

impl<V: NightVolume> BackupEnv for Night<'_, V> {
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

    /// A policy's error here is a recorded failure of the file, naming the
    /// policy: the backup skips it as if the policy gave up (an I/O error is
    /// the backup's to report, as for any file it cannot read).
    fn before_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<Prepared> {
        self.now = now;
        let path = path.clone();
        match self.with_session(|s, w| s.before_live_file(w, &path)) {
            Err(e) if !matches!(e, Error::VolumeIo { .. } | Error::Io { .. }) => {
                Ok(Prepared::GiveUp(crate::policy::Failure {
                    reason: format!(
                        "the snapshot policy {:?} failed: {e}",
                        self.opts.snapshot.name()
                    ),
                    retryable: false,
                }))
            }
            other => other,
        }
    }

    fn after_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<()> {
        self.now = now;
        let path = path.clone();
        let done = self.with_session(|s, w| s.after_live_file(w, &path));
        self.policy_failed("after the live file", done);
        Ok(())
    }
}

impl<V: NightVolume> crate::policy::sealed::Sealed for Night<'_, V> {}

impl<V: NightVolume> ServerControl for Night<'_, V> {
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
                real_path: volume.disk_path(dest),
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
