//! Faults a scenario can inject: the things that go wrong besides the
//! conflict itself.

use serde::{Deserialize, Serialize};

pub use crate::volume::UnsyncedWrites;

/// A fault injected into a night, as part of a scenario.
///
/// Under every fault the invariants hold: no acknowledged delivery is lost,
/// errors are reported on the timeline, and nothing panics. A fault that
/// kills the server ends the night in [`Outcome::Crashed`](crate::Outcome::Crashed)
/// (unless something more severe happened).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// The `nth` read on a volume fails (the backup reports it and skips
    /// the file).
    ReadError {
        /// "Server HD" or "Backup Drive".
        volume: String,
        /// Which read, 1-based, counted over the run.
        nth: u64,
    },
    /// The `nth` write to the data file fails: the server stops rather than
    /// risk its file, and the administrator restarts it.
    WriteError {
        /// Which write, 1-based, counted over the run.
        nth: u64,
    },
    /// A volume has only this much room (MS Mail Backup's copy to a full
    /// "Backup Drive" is refused before a byte is written).
    DiskFull {
        /// The volume.
        volume: String,
        /// Its capacity.
        capacity_bytes: u64,
    },
    /// The server crashes at its `at_sync`th sync; the writes not yet
    /// synced are kept, dropped or garbled (after SQLite's crash-test file
    /// system). The administrator restarts it; it recovers from the file.
    ServerCrash {
        /// Which sync, 1-based, counted over the run.
        at_sync: u64,
        /// What becomes of the writes not yet synced.
        unsynced: UnsyncedWrites,
    },
    /// The backup crashes at its `at_step`th step (mid-archive: the file
    /// being copied is not archived, and nothing after it).
    BackupCrash {
        /// Which step of the backup, 1-based, counted over the run.
        at_step: u64,
    },
    /// The MS Mail Backup control panel fails to load on this night (KB
    /// Q68600): it silently makes no copy.
    ControlPanelNotLoaded {
        /// The 1-based night.
        night: u32,
    },
}

impl Fault {
    /// The fault's name, as in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::ReadError { .. } => "read_error",
            Fault::WriteError { .. } => "write_error",
            Fault::DiskFull { .. } => "disk_full",
            Fault::ServerCrash { .. } => "server_crash",
            Fault::BackupCrash { .. } => "backup_crash",
            Fault::ControlPanelNotLoaded { .. } => "control_panel_not_loaded",
        }
    }
}
