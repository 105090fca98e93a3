//! [`FreezeThaw`]: Windows VSS's prepare, freeze, shadow copy, thaw, with
//! its timeouts, retries and a writer's veto.

use std::time::Duration;

use super::{Failure, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession, key_of};
use crate::error::Result;
use crate::event::{EventKind, WriterState};
use crate::server::ServerState;
use crate::time::SimTime;
use crate::volume::VolumePath;

/// Windows VSS: prepare, freeze (the server finishes the transaction in
/// flight, flushes, and holds writes), create the shadow copy, thaw. The
/// backup reads the shadow copy.
///
/// Defaults after VSS: a writer must freeze within 60 s (`freeze_timeout`)
/// and writes may be held at most 10 s (`hold_writes_limit`); past either,
/// the writer fails at freeze, a retryable failure, retried `retries` times
/// `retry_interval` apart before the policy gives up. A writer that vetoes
/// fails non-retryably. Cost: a pause of `freeze_time + snapshot_time` per
/// attempt.
///
/// Non-exhaustive: fields may be added, so build it from `Default` and the
/// setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FreezeThaw {
    /// How long the writer may take to freeze (VSS: 60 s).
    pub freeze_timeout: Duration,
    /// How long writes may be held (VSS: 10 s).
    pub hold_writes_limit: Duration,
    /// How long the writer takes to finish its transaction and flush.
    pub freeze_time: Duration,
    /// How long creating the shadow copy takes while writes are held.
    pub snapshot_time: Duration,
    /// Retries after a retryable failure.
    pub retries: u32,
    /// Time between attempts.
    pub retry_interval: Duration,
    /// The writer vetoes the snapshot.
    pub writer_vetoes: bool,
}

impl Default for FreezeThaw {
    fn default() -> Self {
        FreezeThaw {
            freeze_timeout: Duration::from_secs(60),
            hold_writes_limit: Duration::from_secs(10),
            freeze_time: Duration::from_millis(500),
            snapshot_time: Duration::from_secs(2),
            retries: 3,
            retry_interval: Duration::from_secs(60),
            writer_vetoes: false,
        }
    }
}

impl FreezeThaw {
    /// Sets the freeze timeout.
    pub fn freeze_timeout(mut self, d: Duration) -> FreezeThaw {
        self.freeze_timeout = d;
        self
    }

    /// Sets the hold-writes limit.
    pub fn hold_writes_limit(mut self, d: Duration) -> FreezeThaw {
        self.hold_writes_limit = d;
        self
    }

    /// Sets the time to create the shadow copy.
    pub fn snapshot_time(mut self, d: Duration) -> FreezeThaw {
        self.snapshot_time = d;
        self
    }

    /// Sets the writer's freeze time.
    pub fn freeze_time(mut self, d: Duration) -> FreezeThaw {
        self.freeze_time = d;
        self
    }

    /// Sets the retries after a retryable failure.
    pub fn retries(mut self, n: u32) -> FreezeThaw {
        self.retries = n;
        self
    }

    /// Sets the time between attempts.
    pub fn retry_interval(mut self, d: Duration) -> FreezeThaw {
        self.retry_interval = d;
        self
    }

    /// Makes the writer veto every snapshot.
    pub fn writer_vetoes(mut self, yes: bool) -> FreezeThaw {
        self.writer_vetoes = yes;
        self
    }
}

#[derive(Debug)]
enum FreezeStage {
    Idle,
    Freezing,
    Frozen { frozen_at: SimTime },
    RetryWait,
}

#[derive(Debug)]
struct FreezeThawSession {
    policy: FreezeThaw,
    stage: FreezeStage,
    attempt: u32,
}

impl FreezeThawSession {
    fn state(&self, server: &mut dyn ServerControl, state: WriterState, path: &VolumePath) {
        server.log(EventKind::WriterState { state }, Some(path));
    }

    fn fail(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
        failure: Failure,
    ) -> Prepared {
        let attempts = self.policy.retries.saturating_add(1);
        server.log(
            EventKind::SnapshotFailed {
                reason: failure.reason.clone(),
                retryable: failure.retryable,
                attempt: self.attempt,
                attempts,
            },
            Some(path),
        );
        if failure.retryable && self.attempt < attempts {
            self.stage = FreezeStage::RetryWait;
            Prepared::Wait(self.policy.retry_interval)
        } else {
            let reason = if failure.retryable {
                format!(
                    "{} (gave up after {} attempts)",
                    failure.reason, self.attempt
                )
            } else {
                failure.reason
            };
            Prepared::GiveUp(Failure {
                reason,
                retryable: failure.retryable,
            })
        }
    }
}

impl SnapshotSession for FreezeThawSession {
    fn state_key(&self) -> Option<u64> {
        let stage = match self.stage {
            FreezeStage::Idle => (0, 0),
            FreezeStage::Freezing => (1, 0),
            FreezeStage::Frozen { frozen_at } => (2, frozen_at.as_micros()),
            FreezeStage::RetryWait => (3, 0),
        };
        key_of((stage, self.attempt))
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let p = self.policy;
        match self.stage {
            FreezeStage::Idle | FreezeStage::RetryWait => {
                self.attempt += 1;
                if p.writer_vetoes {
                    self.state(server, WriterState::FailedAtPrepareSnapshot, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: "the Mail Server writer vetoed the snapshot".to_owned(),
                            retryable: false,
                        },
                    ));
                }
                if server.state() != ServerState::Serving {
                    // Nobody writes: the live image is already stable.
                    let content = server.clone_image()?;
                    return Ok(Prepared::Image {
                        content,
                        taken_at: server.now(),
                    });
                }
                self.state(server, WriterState::WaitingForFreeze, path);
                // Prepare and freeze: the writer finishes the transaction in
                // flight (transactions are atomic here), flushes, holds writes.
                server.pause("VSS freeze: the writer holds its writes");
                if p.freeze_time > p.freeze_timeout {
                    server.resume();
                    self.state(server, WriterState::FailedAtFreeze, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: format!(
                                "the writer did not freeze within the {} s freeze timeout",
                                p.freeze_timeout.as_micros() as f64 / 1e6
                            ),
                            retryable: true,
                        },
                    ));
                }
                self.stage = FreezeStage::Freezing;
                Ok(Prepared::Wait(p.freeze_time))
            }
            FreezeStage::Freezing => {
                self.state(server, WriterState::WaitingForThaw, path);
                self.stage = FreezeStage::Frozen {
                    frozen_at: server.now(),
                };
                // Writes are held while the shadow copy is created; past the
                // limit VSS aborts the freeze.
                Ok(Prepared::Wait(p.snapshot_time.min(p.hold_writes_limit)))
            }
            FreezeStage::Frozen { frozen_at } => {
                if p.snapshot_time > p.hold_writes_limit {
                    server.resume();
                    self.state(server, WriterState::FailedAtFreeze, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: format!(
                                "writes were held past the {} s limit while the shadow copy was created",
                                p.hold_writes_limit.as_micros() as f64 / 1e6
                            ),
                            retryable: true,
                        },
                    ));
                }
                // The generation while writes are held is the snapshot's.
                let generation = server.generation();
                let content = server.clone_image_and_resume()?;
                server.log(EventKind::SnapshotTaken { generation }, Some(path));
                self.state(server, WriterState::WaitingForBackupComplete, path);
                self.stage = FreezeStage::Idle;
                Ok(Prepared::Image {
                    content,
                    taken_at: frozen_at,
                })
            }
        }
    }

    fn after_live_file(&mut self, server: &mut dyn ServerControl, path: &VolumePath) -> Result<()> {
        if self.attempt > 0 && !matches!(self.stage, FreezeStage::RetryWait) {
            self.state(server, WriterState::Stable, path);
        }
        Ok(())
    }

    fn after_backup(&mut self, server: &mut dyn ServerControl, _finished: bool) -> Result<()> {
        // The backup died mid-snapshot: never leave the writer frozen.
        if matches!(
            self.stage,
            FreezeStage::Freezing | FreezeStage::Frozen { .. }
        ) {
            server.resume();
            self.stage = FreezeStage::Idle;
        }
        Ok(())
    }
}

impl SnapshotPolicy for FreezeThaw {
    fn name(&self) -> &str {
        "freeze/thaw"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(FreezeThawSession {
            policy: *self,
            stage: FreezeStage::Idle,
            attempt: 0,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
