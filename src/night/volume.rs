//! What a volume must offer the night besides [`Volume`], for the
//! simulated volume and for the real one under its fault layer.

use crate::error::Result;
use crate::time::SimTime;
use crate::volume::{Content, Owner, SimFaults, SimVolume, Volume, VolumePath};

/// What a volume must offer the night besides [`Volume`]: what an operating
/// system does to every process at once (a clock, a crash's closing of a
/// dead process's files) and what the night's judge and its faults need.
pub(crate) trait NightVolume: Volume {
    /// The night's time is now `t`: writes from now on are stamped with it.
    fn set_now(&self, t: SimTime);
    /// The whole current contents of a file as the disk holds them, read
    /// without an open anybody could see (for the judge, and after a crash).
    fn contents(&self, path: &VolumePath) -> Result<Content>;
    /// Closes every open of `owner`, as when its process dies.
    fn close_all_of(&self, owner: &Owner);
    /// A number that changes whenever a held file may have had a foreign
    /// open: while it stays the same, the server need not be asked.
    fn foreign_open_events(&self) -> u64;
    /// The volume's capacity, `u64::MAX` unless a fault limits it.
    fn capacity_bytes(&self) -> u64;
    /// Limits the volume to `capacity_bytes` (a full-disk fault), or lifts
    /// the limit (`u64::MAX`: the administrator freed room).
    fn set_capacity(&self, capacity_bytes: u64);
    /// Arms the volume's read, write and crash faults, each firing at its
    /// count, counted from now.
    fn arm(&self, faults: &[SimFaults]);
}

impl NightVolume for SimVolume {
    fn set_now(&self, t: SimTime) {
        SimVolume::set_now(self, t);
    }

    fn contents(&self, path: &VolumePath) -> Result<Content> {
        SimVolume::contents(self, path)
    }

    fn close_all_of(&self, owner: &Owner) {
        SimVolume::close_all_of(self, owner);
    }

    fn foreign_open_events(&self) -> u64 {
        SimVolume::foreign_open_events(self)
    }

    fn capacity_bytes(&self) -> u64 {
        SimVolume::capacity_bytes(self)
    }

    fn set_capacity(&self, capacity_bytes: u64) {
        SimVolume::set_capacity(self, capacity_bytes);
    }

    fn arm(&self, faults: &[SimFaults]) {
        if let Some((first, rest)) = faults.split_first() {
            self.inject(*first);
            for f in rest {
                self.queue_faults(*f);
            }
        }
    }
}

#[cfg(feature = "real")]
impl NightVolume for crate::volume::os::faulty::FaultyVolume {
    /// The real runner's clock is the night's: never behind its moves.
    fn set_now(&self, t: SimTime) {
        self.inner().clock().skip_to(t);
    }

    fn contents(&self, path: &VolumePath) -> Result<Content> {
        self.inner().contents(path)
    }

    fn close_all_of(&self, owner: &Owner) {
        crate::volume::os::faulty::FaultyVolume::close_all_of(self, owner);
    }

    fn foreign_open_events(&self) -> u64 {
        crate::volume::os::faulty::FaultyVolume::foreign_open_events(self)
    }

    fn capacity_bytes(&self) -> u64 {
        crate::volume::os::faulty::FaultyVolume::capacity_bytes(self)
    }

    fn set_capacity(&self, capacity_bytes: u64) {
        crate::volume::os::faulty::FaultyVolume::set_capacity(self, capacity_bytes);
    }

    fn arm(&self, faults: &[SimFaults]) {
        crate::volume::os::faulty::FaultyVolume::arm(self, faults);
    }
}
