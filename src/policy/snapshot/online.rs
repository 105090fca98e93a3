//! [`OnlineCopy`]: SQLite's online backup, pages copied in steps through
//! the server's own handle, started over when the server writes.

use std::time::Duration;

use super::{Failure, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession, key_of};
use crate::error::Result;
use crate::event::EventKind;
use crate::server::ServerState;
use crate::time::SimTime;
use crate::volume::{CopyBuilder, VolumePath};

/// SQLite's online backup API: copy `pages_per_step` pages per step through
/// the server's own handle, `step_interval` apart; a server write between
/// steps (a new generation, or a change of the server's state, as when it
/// crashes) restarts the copy; after `max_restarts` restarts the policy
/// gives up.
/// Under heavy traffic it may never finish: that livelock is reported.
///
/// Cost: no pause at all; the price is the risk of never finishing.
///
/// Non-exhaustive: fields may be added, so build it from `Default` and the
/// setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnlineCopy {
    /// Pages (4 KiB) copied per step (SQLite's example: 5; here 100).
    pub pages_per_step: u64,
    /// Time between steps (SQLite's example sleeps 250 ms).
    pub step_interval: Duration,
    /// Restarts allowed before giving up.
    pub max_restarts: u32,
}

impl Default for OnlineCopy {
    fn default() -> Self {
        OnlineCopy {
            pages_per_step: 100,
            step_interval: Duration::from_millis(250),
            max_restarts: 10,
        }
    }
}

impl OnlineCopy {
    /// Sets the pages per step (at least 1).
    pub fn pages_per_step(mut self, n: u64) -> OnlineCopy {
        self.pages_per_step = n.max(1);
        self
    }

    /// Sets the time between steps.
    pub fn step_interval(mut self, d: Duration) -> OnlineCopy {
        self.step_interval = d;
        self
    }

    /// Sets the restarts allowed.
    pub fn max_restarts(mut self, n: u32) -> OnlineCopy {
        self.max_restarts = n;
        self
    }
}

#[derive(Debug)]
struct OnlineCopySession {
    policy: OnlineCopy,
    copy: Option<PartialCopy>,
    restarts: u32,
}

/// An online copy under way.
#[derive(Debug)]
struct PartialCopy {
    builder: CopyBuilder,
    /// Bytes copied so far.
    pos: u64,
    /// The file's generation and the server's state when the copy began.
    /// The copy starts over when either changes: a commit changes the
    /// generation; a crash may change the file (writes it had not synced,
    /// lost or garbled) without a commit, but it does change the state.
    began: (u64, ServerState),
    started: SimTime,
}

impl SnapshotSession for OnlineCopySession {
    fn state_key(&self) -> Option<u64> {
        let copy = self.copy.as_ref().map(|c| {
            (
                c.pos,
                c.began.0,
                c.began.1,
                c.started.as_micros(),
                c.builder.digest(),
            )
        });
        key_of((self.restarts, copy))
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let p = self.policy;
        let generation = server.generation();
        let now = (generation, server.state());
        let fresh = |server: &dyn ServerControl| PartialCopy {
            builder: CopyBuilder::default(),
            pos: 0,
            began: now,
            started: server.now(),
        };
        let mut copy = match self.copy.take() {
            None => fresh(server),
            Some(c) if c.began != now => {
                if self.restarts >= p.max_restarts {
                    return Ok(Prepared::GiveUp(Failure {
                        reason: format!(
                            "livelock: the server wrote during the online copy {} times ({} restarts allowed)",
                            self.restarts + 1,
                            p.max_restarts
                        ),
                        retryable: true,
                    }));
                }
                self.restarts += 1;
                server.log(
                    EventKind::OnlineCopyRestarted {
                        restarts: self.restarts,
                        max_restarts: p.max_restarts,
                    },
                    Some(path),
                );
                fresh(server)
            }
            Some(c) => c,
        };
        let len = server.len_bytes()?;
        let step = p
            .pages_per_step
            .saturating_mul(crate::volume::PAGE_BYTES as u64);
        let chunk = server.read_own(copy.pos, step.min(len - copy.pos.min(len)))?;
        copy.pos += chunk.len_bytes();
        copy.builder.push(&chunk);
        if copy.pos >= len {
            server.log(EventKind::SnapshotTaken { generation }, Some(path));
            return Ok(Prepared::Image {
                content: copy.builder.finish(len),
                taken_at: copy.started,
            });
        }
        self.copy = Some(copy);
        Ok(Prepared::Wait(p.step_interval))
    }
}

impl SnapshotPolicy for OnlineCopy {
    fn name(&self) -> &str {
        "online copy"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(OnlineCopySession {
            policy: *self,
            copy: None,
            restarts: 0,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
