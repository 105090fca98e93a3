//! How the backup opens a file another process may hold, and how fast it
//! reads.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::time::SimTime;
use crate::volume::{PAGE_BYTES, Volume, VolumePath};

/// How the backup treats a file that another process may hold open.
///
/// Non-exhaustive: variants may be added, so a `match` outside mailsim needs
/// a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpenFilePolicy {
    /// Open it read-only whatever holds it, as in 1993: a foreign access.
    IgnoreLocks,
    /// Ask first, without opening, whether a writer holds it; if one does, it
    /// is busy: retry `retries` times `interval` apart, then skip it.
    RespectLocks {
        /// Retries after the first attempt.
        retries: u32,
        /// Time between attempts.
        interval: Duration,
    },
    /// Watch the file's modification time without opening it until it has
    /// been unwritten for `idle`, then open it (still a foreign access); skip
    /// it if that has not happened after `timeout`.
    WaitForIdle {
        /// How long the file must go unwritten.
        idle: Duration,
        /// How long to wait at most.
        timeout: Duration,
    },
}

impl OpenFilePolicy {
    /// `RespectLocks` with 3 retries a minute apart.
    pub const fn respect_locks() -> OpenFilePolicy {
        OpenFilePolicy::RespectLocks {
            retries: 3,
            interval: Duration::from_secs(60),
        }
    }

    /// `WaitForIdle` for 2 minutes of quiet, giving up after 30 minutes.
    pub const fn wait_for_idle() -> OpenFilePolicy {
        OpenFilePolicy::WaitForIdle {
            idle: Duration::from_secs(120),
            timeout: Duration::from_secs(30 * 60),
        }
    }

    /// The name used on the command line: `ignore-locks`, `respect-locks`,
    /// `wait-for-idle`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OpenFilePolicy::IgnoreLocks => "ignore-locks",
            OpenFilePolicy::RespectLocks { .. } => "respect-locks",
            OpenFilePolicy::WaitForIdle { .. } => "wait-for-idle",
        }
    }
}

/// How fast and in what pieces the backup reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupSpeed {
    /// File bytes per second over the wire. The default is LocalTalk: 230.4
    /// kbit/s on the wire, about 17,000 bytes a second of file data (a
    /// megabyte a minute) once AppleTalk's and the backup protocol's
    /// overheads are paid.
    pub throughput_bytes_per_sec: u64,
    /// Bytes per read (at least 64 KiB, a multiple of the page size).
    pub chunk_bytes: u64,
}

impl Default for BackupSpeed {
    fn default() -> Self {
        BackupSpeed {
            throughput_bytes_per_sec: 17_000,
            chunk_bytes: 64 * 1024,
        }
    }
}

impl BackupSpeed {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.throughput_bytes_per_sec == 0 {
            return Err(Error::invalid(
                "throughput_bytes_per_sec",
                "must be positive",
            ));
        }
        if self.chunk_bytes < 64 * 1024 || !self.chunk_bytes.is_multiple_of(PAGE_BYTES as u64) {
            return Err(Error::invalid(
                "chunk_bytes",
                format!(
                    "{} is not a multiple of 4096 of at least 65536",
                    self.chunk_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Time to move `bytes` over the wire.
    pub fn transfer_time(&self, bytes: u64) -> Duration {
        let per_sec = self.throughput_bytes_per_sec.max(1);
        // In 64 bits when the product fits (a chunk, a file); 128 otherwise.
        let micros = match bytes.checked_mul(1_000_000) {
            Some(x) => x / per_sec,
            None => {
                let m = u128::from(bytes) * 1_000_000 / u128::from(per_sec);
                u64::try_from(m).unwrap_or(u64::MAX)
            }
        };
        Duration::from_micros(micros)
    }
}

impl OpenFilePolicy {
    /// Applies the policy before opening `path`, at the `attempt`-th
    /// attempt of those that began at `since`.
    pub(super) fn gate(
        &self,
        volume: &dyn Volume,
        path: &VolumePath,
        since: SimTime,
        attempt: u32,
        now: SimTime,
    ) -> Result<Gate> {
        match *self {
            OpenFilePolicy::IgnoreLocks => Ok(Gate::Open(None)),
            OpenFilePolicy::RespectLocks { retries, interval } => match volume.writer(path)? {
                None => Ok(Gate::Open(None)),
                Some(holder) => {
                    let attempts = retries.saturating_add(1);
                    let busy = EventKind::Busy {
                        holder: holder.to_string(),
                        attempt,
                        attempts,
                    };
                    if attempt >= attempts {
                        // Both events: the last attempt, then the skip.
                        Ok(Gate::Skip(
                            Some(busy),
                            EventKind::SkippedBusy {
                                holder: holder.to_string(),
                            },
                        ))
                    } else {
                        Ok(Gate::Wait(now + interval, Some(busy)))
                    }
                }
            },
            OpenFilePolicy::WaitForIdle { idle, timeout } => {
                let modified = volume.metadata(path)?.modified;
                let quiet_at = modified + idle;
                if quiet_at <= now {
                    return Ok(Gate::Open(None));
                }
                let give_up = since + timeout;
                if now >= give_up {
                    return Ok(Gate::Skip(None, EventKind::IdleTimeout));
                }
                let note = (attempt == 1).then_some(EventKind::WaitingForIdle {
                    last_write: modified,
                });
                Ok(Gate::Wait(quiet_at.min(give_up), note))
            }
        }
    }
}

/// What the open-file policy says about a file.
pub(super) enum Gate {
    /// Open it now (after narrating the event, if any).
    Open(Option<EventKind>),
    /// Come back at this time (after narrating the event, if any).
    Wait(SimTime, Option<EventKind>),
    /// Skip it as busy, narrating the last attempt (if any) and why.
    Skip(Option<EventKind>, EventKind),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_time_is_exact_in_64_and_in_128_bits() {
        for (bytes, per_sec) in [
            (0, 17_000),
            (65_536, 17_000),
            (3_000_000, 1),
            (u64::MAX / 1_000_000, 3),
            (u64::MAX / 1_000_000 + 1, 3),
            (u64::MAX, u64::MAX),
            (u64::MAX, 1),
            (12_345, 0),
        ] {
            let speed = BackupSpeed {
                throughput_bytes_per_sec: per_sec,
                chunk_bytes: 65_536,
            };
            let want = u128::from(bytes) * 1_000_000 / u128::from(per_sec.max(1));
            let want = Duration::from_micros(u64::try_from(want).unwrap_or(u64::MAX));
            assert_eq!(
                speed.transfer_time(bytes),
                want,
                "{bytes} B at {per_sec} B/s"
            );
        }
    }
}
