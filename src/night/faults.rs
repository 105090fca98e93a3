//! The faults of a scenario, sorted for the world of a night.

use crate::scenario::Fault;
use crate::scenario::preset;
use crate::volume::SimFaults;

/// The faults of a scenario, sorted for the world: those of each volume,
/// the earliest backup crash, the nights the control panel fails.
pub(super) struct Faults {
    pub(super) hd: Vec<SimFaults>,
    pub(super) drive: Vec<SimFaults>,
    pub(super) hd_capacity: Option<u64>,
    pub(super) drive_capacity: Option<u64>,
    pub(super) backup_crash_at: Option<u64>,
    pub(super) panel_not_loaded: Vec<u32>,
}

impl Faults {
    /// Every fault fires: several of one kind in the order of their counts;
    /// the earliest backup crash and the smallest capacity are the ones
    /// that bite.
    pub(super) fn of(faults: &[Fault]) -> Faults {
        let mut f = Faults {
            hd: Vec::new(),
            drive: Vec::new(),
            hd_capacity: None,
            drive_capacity: None,
            backup_crash_at: None,
            panel_not_loaded: Vec::new(),
        };
        let min = |a: Option<u64>, b: u64| Some(a.map_or(b, |a| a.min(b)));
        for fault in faults {
            let on_hd = |v: &str| v == preset::SERVER_HD;
            let mut one = SimFaults::default();
            match fault {
                Fault::ReadError { volume, nth } => {
                    one.read_error_at = Some(*nth);
                    if on_hd(volume) {
                        f.hd.push(one);
                    } else {
                        f.drive.push(one);
                    }
                }
                Fault::WriteError { nth } => {
                    one.write_error_at = Some(*nth);
                    f.hd.push(one);
                }
                Fault::ServerCrash { at_sync, unsynced } => {
                    one.crash_at_sync = Some((*at_sync, *unsynced));
                    f.hd.push(one);
                }
                Fault::DiskFull {
                    volume,
                    capacity_bytes,
                } => {
                    if on_hd(volume) {
                        f.hd_capacity = min(f.hd_capacity, *capacity_bytes);
                    } else {
                        f.drive_capacity = min(f.drive_capacity, *capacity_bytes);
                    }
                }
                Fault::BackupCrash { at_step } => {
                    f.backup_crash_at = min(f.backup_crash_at, *at_step);
                }
                Fault::ControlPanelNotLoaded { night } => f.panel_not_loaded.push(*night),
            }
        }
        f
    }
}
