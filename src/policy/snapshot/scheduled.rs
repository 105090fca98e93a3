//! [`ScheduledCopy`]: KB remedy 4, MS Mail Backup's copy aside at a set
//! time into a numbered rotation on another volume.

use std::time::Duration;

use super::{Next, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession, key_of};
use crate::error::Result;
use crate::event::EventKind;
use crate::server::ServerState;
use crate::time::TimeOfDay;
use crate::volume::VolumePath;

/// KB remedy 4, the MS Mail Backup control panel: at a time of day (default
/// 00:00) the server pauses and copies its own data file to a destination
/// volume (default "Backup Drive") as "Mail Data Backup #1", shifting older
/// copies up to `keep` (default 3; the lowest number is the newest).
///
/// It does **not** keep the backup off the live file: without an exclusion of
/// Microsoft Mail Data the conflict still happens, as on the real system.
/// Cost: a pause of the copy's duration at `disk_bytes_per_sec`. Fault (KB
/// Q68600): when the control panel fails to load it silently makes no copy,
/// and the backup archives a stale one.
///
/// Non-exhaustive: fields may be added, so build it from `Default` and the
/// setters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduledCopy {
    /// When the copy is made.
    pub at: TimeOfDay,
    /// Volume the copies go to.
    pub destination: String,
    /// Copies kept, "Mail Data Backup #1" (newest) to "#keep".
    pub keep: u32,
    /// Copy speed, bytes per second.
    pub disk_bytes_per_sec: u64,
    /// 1-based nights on which the control panel fails to load (KB Q68600).
    pub not_loaded_on: Vec<u32>,
}

impl Default for ScheduledCopy {
    /// 00:00 to "Backup Drive", three copies kept, at 1 MB/s.
    fn default() -> Self {
        ScheduledCopy {
            at: TimeOfDay::MIDNIGHT,
            destination: "Backup Drive".to_owned(),
            keep: 3,
            disk_bytes_per_sec: 1_000_000,
            not_loaded_on: Vec::new(),
        }
    }
}

impl ScheduledCopy {
    /// The copy's time of day.
    pub fn at(mut self, at: TimeOfDay) -> ScheduledCopy {
        self.at = at;
        self
    }

    /// The destination volume.
    pub fn destination(mut self, volume: impl Into<String>) -> ScheduledCopy {
        self.destination = volume.into();
        self
    }

    /// How many copies to keep (at least 1).
    pub fn keep(mut self, keep: u32) -> ScheduledCopy {
        self.keep = keep.max(1);
        self
    }

    /// Copy speed.
    pub fn disk_bytes_per_sec(mut self, bytes_per_sec: u64) -> ScheduledCopy {
        self.disk_bytes_per_sec = bytes_per_sec.max(1);
        self
    }

    /// The control panel fails to load on this 1-based night (KB Q68600).
    pub fn not_loaded_on(mut self, night: u32) -> ScheduledCopy {
        self.not_loaded_on.push(night);
        self
    }

    /// The path of copy number `n` (1 is the newest).
    pub fn copy_path(&self, n: u32) -> VolumePath {
        VolumePath::new(&*self.destination, [crate::datafile::copy_name(n)])
    }
}

#[derive(Debug)]
struct ScheduledCopySession {
    policy: ScheduledCopy,
    loaded: bool,
    pausing: bool,
}

impl SnapshotSession for ScheduledCopySession {
    fn state_key(&self) -> Option<u64> {
        key_of((self.loaded, self.pausing))
    }

    fn schedule(&self) -> Option<TimeOfDay> {
        Some(self.policy.at)
    }

    fn on_schedule(&mut self, server: &mut dyn ServerControl) -> Result<Next> {
        let p = &self.policy;
        if !self.loaded {
            server.log(
                EventKind::CopyAsideMissed {
                    reason:
                        "the MS Mail Backup control panel did not load (KB Q68600): no copy tonight"
                            .to_owned(),
                },
                None,
            );
            return Ok(Next::Done);
        }
        if !self.pausing {
            if server.state() != ServerState::Serving {
                server.log(
                    EventKind::CopyAsideMissed {
                        reason: "the Mail Server is not running".to_owned(),
                    },
                    None,
                );
                return Ok(Next::Done);
            }
            // Pause for as long as the copy takes at disk speed.
            self.pausing = true;
            let len = server.len_bytes()?;
            server.pause("MS Mail Backup copies the data file");
            let micros = u128::from(len) * 1_000_000 / u128::from(p.disk_bytes_per_sec.max(1));
            return Ok(Next::Again(Duration::from_micros(
                u64::try_from(micros).unwrap_or(u64::MAX),
            )));
        }
        self.pausing = false;
        let result = rotate_and_copy(server, p);
        server.resume();
        if let Err(e) = result {
            server.log(
                EventKind::CopyAsideMissed {
                    reason: e.to_string(),
                },
                None,
            );
        }
        Ok(Next::Done)
    }

    fn before_live_file(&mut self, _: &mut dyn ServerControl, _: &VolumePath) -> Result<Prepared> {
        Ok(Prepared::ReadLive)
    }
}

fn rotate_and_copy(server: &mut dyn ServerControl, p: &ScheduledCopy) -> Result<()> {
    let dest = server
        .volume(&p.destination)
        .ok_or_else(|| crate::Error::NoSuchVolume {
            name: p.destination.clone(),
        })?;
    // Check room first: the rotation must not be disturbed for a copy that
    // cannot be made.
    let need = server.len_bytes()?;
    let avail = dest.available_bytes()?;
    if need > avail {
        return Err(crate::Error::DiskFull {
            path: p.copy_path(1),
            needed_bytes: need,
            available_bytes: avail,
            real_path: dest.disk_path(&p.copy_path(1)),
        });
    }
    let oldest = p.copy_path(p.keep);
    if dest.metadata(&oldest).is_ok() {
        dest.remove_file(&oldest)?;
    }
    // The copies present, from one listing: a rotation that keeps many
    // costs a rename per copy there, not a look per number kept.
    let mut present: Vec<u32> = dest
        .list(&VolumePath::root(&*p.destination))?
        .into_iter()
        .filter_map(|e| crate::datafile::copy_number(&e.name).filter(|&n| n < p.keep))
        .collect();
    present.sort_unstable_by(|a, b| b.cmp(a));
    for n in present {
        dest.rename(&p.copy_path(n), &p.copy_path(n + 1))?;
    }
    let to = p.copy_path(1);
    let bytes = server.copy_aside(&to)?;
    server.log(EventKind::CopiedAside { bytes }, Some(&to));
    Ok(())
}

impl SnapshotPolicy for ScheduledCopy {
    fn name(&self) -> &str {
        "scheduled copy"
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(ScheduledCopySession {
            policy: self.clone(),
            loaded: night.control_panel_loaded && !self.not_loaded_on.contains(&night.night),
            pausing: false,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
