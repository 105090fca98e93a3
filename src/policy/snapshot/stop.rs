//! [`StopServer`]: KB remedy 3, the server stopped for the backup and
//! restarted after.

use super::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession, key_of};
use crate::error::Result;
use crate::server::ServerState;
use crate::volume::VolumePath;

/// KB remedy 3, as Dantz's stop → duplicate → relaunch: stop the server
/// gracefully before the backup reaches Mail Data, let the backup read the
/// file nobody holds, and restart the server when the backup is done (or,
/// with [`StopServer::restart_after_file`], as soon as the file is copied).
///
/// Cost: planned downtime from the stop to the restart; requests meanwhile
/// are deferred.
///
/// Non-exhaustive: fields may be added, so build it from `Default` and the
/// setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopServer {
    /// Restart as soon as the data file is archived, not at the end of the backup.
    pub restart_after_file: bool,
}

impl Default for StopServer {
    /// Restart when the backup is done.
    fn default() -> Self {
        StopServer {
            restart_after_file: false,
        }
    }
}

impl StopServer {
    /// Restart as soon as the data file is archived.
    pub fn restart_after_file(mut self, yes: bool) -> StopServer {
        self.restart_after_file = yes;
        self
    }
}

#[derive(Debug)]
struct StopServerSession {
    policy: StopServer,
    stopped: bool,
}

impl StopServerSession {
    fn restart(&mut self, server: &mut dyn ServerControl) -> Result<()> {
        if std::mem::take(&mut self.stopped) {
            server.start()?;
        }
        Ok(())
    }
}

impl SnapshotSession for StopServerSession {
    fn state_key(&self) -> Option<u64> {
        key_of(self.stopped)
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> Result<Prepared> {
        if server.state() == ServerState::Serving {
            server.stop()?;
            self.stopped = true;
        }
        Ok(Prepared::ReadLive)
    }

    fn after_live_file(&mut self, server: &mut dyn ServerControl, _: &VolumePath) -> Result<()> {
        if self.policy.restart_after_file {
            self.restart(server)?;
        }
        Ok(())
    }

    fn after_backup(&mut self, server: &mut dyn ServerControl, _: bool) -> Result<()> {
        self.restart(server)
    }
}

impl SnapshotPolicy for StopServer {
    fn name(&self) -> &str {
        "stop server"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(StopServerSession {
            policy: *self,
            stopped: false,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
