//! [`FaultyVolume`]: the simulator's faults on real files — a layer over an
//! [`OsVolume`] that fails the nth read or write, fills up at a capacity,
//! and crashes the writer at the nth sync, keeping, dropping or garbling
//! the writes not yet synced as the file on disk then holds them.
//!
//! It counts exactly what a [`SimVolume`](crate::volume::SimVolume) counts,
//! so that a fault fires at the same operation on disk as in the
//! simulation: every [`Volume::read_at`] (not [`Volume::image`] or
//! [`Volume::image_at`], the holder's view of its own file), every
//! [`Volume::write_at`] (a [`Volume::write_synced`] is one write and one
//! sync), every [`Volume::sync`]; whole-file writes ([`Volume::put_file`])
//! and truncations are not writes it fails, but they count against the
//! capacity. A crash undoes or garbles the unsynced writes through the
//! writer's own descriptor, with the simulator's deterministic garbage.
//!
//! What does not live here: which faults a scenario injects and what the
//! night does when one fires (`night`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::OsVolume;
use crate::error::{Error, Result};
use crate::volume::{
    Access, Chunk, Content, Deny, DirEntry, EntryKind, ForeignOpens, Handle, Holder, Metadata,
    Owner, SimFaults, UnsyncedWrites, Volume, VolumePath,
};

/// An [`OsVolume`] with the simulator's faults; see the module docs.
#[derive(Debug)]
pub(crate) struct FaultyVolume {
    inner: OsVolume,
    state: Mutex<State>,
    /// Bumped at every look: on disk, any move may have brought a foreign
    /// open, so the holder is always asked (one read of its watch).
    looks: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    reads: u64,
    writes: u64,
    syncs: u64,
    read_errors: BTreeSet<u64>,
    write_errors: BTreeSet<u64>,
    crashes: BTreeMap<u64, UnsyncedWrites>,
    capacity_bytes: u64,
    used_bytes: u64,
    /// What each open is, for errors and for the crash.
    opens: BTreeMap<u64, (VolumePath, Owner)>,
    /// Writes not yet synced, oldest first, while a crash is armed.
    unsynced: Vec<Unsynced>,
}

/// A write not yet synced: enough to undo it or garble it.
#[derive(Debug)]
struct Unsynced {
    handle: Handle,
    path: VolumePath,
    offset: u64,
    /// The bytes `[offset, offset + old.len())` held before the write.
    old: Vec<u8>,
    written: u64,
    old_len: u64,
}

impl FaultyVolume {
    /// `inner`, with no fault armed and no capacity but the disk's; the
    /// bytes its files take now count against a capacity set later.
    pub(crate) fn new(inner: OsVolume) -> Result<FaultyVolume> {
        let used_bytes = used_by(&inner, &VolumePath::root(inner.name()))?;
        Ok(FaultyVolume {
            inner,
            state: Mutex::new(State {
                capacity_bytes: u64::MAX,
                used_bytes,
                ..State::default()
            }),
            looks: AtomicU64::new(0),
        })
    }

    /// The volume underneath.
    pub(crate) fn inner(&self) -> &OsVolume {
        &self.inner
    }

    /// Arms `faults`, each at its count from now (counts so far kept).
    pub(crate) fn arm(&self, faults: &[SimFaults]) {
        let mut s = self.state.lock();
        for f in faults {
            s.read_errors.extend(f.read_error_at);
            s.write_errors.extend(f.write_error_at);
            if let Some((at, what)) = f.crash_at_sync {
                s.crashes.entry(at).or_insert(what);
            }
        }
    }

    /// The capacity (`u64::MAX` unless limited).
    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.state.lock().capacity_bytes
    }

    /// Limits the volume to `capacity_bytes` (`u64::MAX` lifts the limit).
    pub(crate) fn set_capacity(&self, capacity_bytes: u64) {
        self.state.lock().capacity_bytes = capacity_bytes;
    }

    /// A number that changes at every call (see [`FaultyVolume::looks`]).
    pub(crate) fn foreign_open_events(&self) -> u64 {
        self.looks.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Closes every open of `owner`, as when its process dies.
    pub(crate) fn close_all_of(&self, owner: &Owner) {
        self.inner.close_all_of(owner);
        self.state.lock().opens.retain(|_, (_, o)| o != owner);
    }

    fn path_of(&self, handle: Handle) -> Result<VolumePath> {
        match self.state.lock().opens.get(&handle.0) {
            Some((p, _)) => Ok(p.clone()),
            None => Err(Error::BadHandle),
        }
    }

    /// Accounts for a file going from `old` to `new` bytes, or says how
    /// many bytes were needed and were free.
    fn grow(&self, path: &VolumePath, old: u64, new: u64) -> Result<()> {
        let mut s = self.state.lock();
        if new > old {
            let need = new - old;
            let avail = s.capacity_bytes.saturating_sub(s.used_bytes);
            if need > avail {
                return Err(Error::DiskFull {
                    path: path.clone(),
                    needed_bytes: need,
                    available_bytes: avail,
                    real_path: self.inner.real_path(path).ok(),
                });
            }
            s.used_bytes += need;
        } else {
            s.used_bytes = s.used_bytes.saturating_sub(old - new);
        }
        Ok(())
    }

    /// Notes a write not yet synced, while a crash is armed: `written`
    /// bytes at `offset`, and the bytes of `old_from..old_to` it replaces
    /// (read through the writer's handle), the file `old_len` long before.
    fn note_unsynced(&self, u: Unsynced, old_from: u64, old_to: u64) -> Result<()> {
        if self.state.lock().crashes.is_empty() {
            return Ok(());
        }
        let old = if old_to > old_from {
            self.inner
                .image_at(u.handle, old_from, old_to - old_from)?
                .to_vec()
        } else {
            Vec::new()
        };
        self.state.lock().unsynced.push(Unsynced { old, ..u });
        Ok(())
    }

    /// The crash: the writes not yet synced, on every file, are kept,
    /// undone (newest first) or replaced by garbage, as the simulator does.
    fn crash(&self, what: UnsyncedWrites) {
        let unsynced = std::mem::take(&mut self.state.lock().unsynced);
        match what {
            UnsyncedWrites::Keep => {}
            UnsyncedWrites::Drop => {
                for u in unsynced.into_iter().rev() {
                    let _ = self.inner.set_len(u.handle, u.old_len);
                    if !u.old.is_empty() {
                        let _ = self.inner.write_at(u.handle, u.offset, &u.old);
                    }
                }
            }
            UnsyncedWrites::Garble => {
                for u in unsynced.into_iter().filter(|u| u.written > 0) {
                    let junk = crate::volume::sim::garbage(u.offset, u.written);
                    let _ = self.inner.write_at(u.handle, u.offset, &junk);
                }
            }
        }
    }
}

/// The bytes the files under `folder` take.
fn used_by(volume: &OsVolume, folder: &VolumePath) -> Result<u64> {
    let mut total = 0u64;
    for e in volume.list(folder)? {
        let p = folder.join(e.name);
        total = total.saturating_add(match e.kind {
            EntryKind::File => volume.metadata(&p)?.len_bytes,
            EntryKind::Folder => used_by(volume, &p)?,
        });
    }
    Ok(total)
}

impl Volume for FaultyVolume {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn list(&self, folder: &VolumePath) -> Result<Vec<DirEntry>> {
        self.inner.list(folder)
    }

    fn metadata(&self, path: &VolumePath) -> Result<Metadata> {
        self.inner.metadata(path)
    }

    fn create_folder(&self, path: &VolumePath) -> Result<()> {
        self.inner.create_folder(path)
    }

    fn put_file(&self, path: &VolumePath, content: Content) -> Result<()> {
        let old = self.inner.metadata(path).map_or(0, |m| m.len_bytes);
        let new = content.len_bytes();
        self.grow(path, old, new)?;
        let put = self.inner.put_file(path, content);
        if put.is_err() {
            // Nothing was replaced: the account goes back.
            let _ = self.grow(path, new, old);
        }
        put
    }

    fn remove_file(&self, path: &VolumePath) -> Result<()> {
        let len = self.inner.metadata(path).map_or(0, |m| m.len_bytes);
        self.inner.remove_file(path)?;
        let mut s = self.state.lock();
        s.used_bytes = s.used_bytes.saturating_sub(len);
        Ok(())
    }

    fn rename(&self, from: &VolumePath, to: &VolumePath) -> Result<()> {
        let replaced = match self.inner.metadata(to) {
            Ok(m) if from != to && m.kind == EntryKind::File => m.len_bytes,
            _ => 0,
        };
        self.inner.rename(from, to)?;
        let mut s = self.state.lock();
        s.used_bytes = s.used_bytes.saturating_sub(replaced);
        Ok(())
    }

    fn open(&self, path: &VolumePath, owner: &Owner, access: Access, deny: Deny) -> Result<Handle> {
        let h = self.inner.open(path, owner, access, deny)?;
        self.state
            .lock()
            .opens
            .insert(h.0, (path.clone(), owner.clone()));
        Ok(h)
    }

    fn close(&self, handle: Handle) -> Result<()> {
        self.state.lock().opens.remove(&handle.0);
        self.inner.close(handle)
    }

    fn len_of(&self, handle: Handle) -> Result<u64> {
        self.inner.len_of(handle)
    }

    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        let fail = {
            let mut s = self.state.lock();
            s.reads += 1;
            s.read_errors.contains(&s.reads)
        };
        if fail {
            return Err(Error::VolumeIo {
                path: self.path_of(handle)?,
                reason: "injected read error".to_owned(),
            });
        }
        self.inner.read_at(handle, offset, len)
    }

    fn image_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        self.inner.image_at(handle, offset, len)
    }

    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        let path = self.path_of(handle)?;
        let fail = {
            let mut s = self.state.lock();
            s.writes += 1;
            s.write_errors.contains(&s.writes)
        };
        if fail {
            return Err(Error::VolumeIo {
                path,
                reason: "injected write error".to_owned(),
            });
        }
        let old = self.inner.len_of(handle)?;
        let end = offset.saturating_add(data.len() as u64);
        let new = old.max(end);
        self.grow(&path, old, new)?;
        let note = Unsynced {
            handle,
            path: path.clone(),
            offset,
            old: Vec::new(),
            written: data.len() as u64,
            old_len: old,
        };
        self.note_unsynced(note, offset, end.min(old))?;
        let written = self.inner.write_at(handle, offset, data);
        if written.is_err() {
            let _ = self.grow(&path, new, old);
        }
        written
    }

    fn set_len(&self, handle: Handle, len_bytes: u64) -> Result<()> {
        let path = self.path_of(handle)?;
        let old = self.inner.len_of(handle)?;
        self.grow(&path, old, len_bytes)?;
        let cut_from = len_bytes.min(old);
        let note = Unsynced {
            handle,
            path: path.clone(),
            offset: cut_from,
            old: Vec::new(),
            written: 0,
            old_len: old,
        };
        self.note_unsynced(note, cut_from, old)?;
        self.inner.set_len(handle, len_bytes)
    }

    fn sync(&self, handle: Handle) -> Result<()> {
        let path = self.path_of(handle)?;
        let crash = {
            let mut s = self.state.lock();
            s.syncs += 1;
            let at = s.syncs;
            s.crashes.get(&at).map(|&what| (at, what))
        };
        if let Some((sync, unsynced)) = crash {
            self.crash(unsynced);
            return Err(Error::Crashed {
                path,
                sync,
                unsynced,
            });
        }
        self.inner.sync(handle)?;
        self.state.lock().unsynced.retain(|u| u.path != path);
        Ok(())
    }

    fn image(&self, handle: Handle) -> Result<Content> {
        self.inner.image(handle)
    }

    fn writer(&self, path: &VolumePath) -> Result<Option<Holder>> {
        self.inner.writer(path)
    }

    fn foreign_opens(&self, handle: Handle) -> Result<ForeignOpens> {
        self.inner.foreign_opens(handle)
    }

    fn available_bytes(&self) -> Result<u64> {
        let s = self.state.lock();
        let limit = s.capacity_bytes.saturating_sub(s.used_bytes);
        drop(s);
        Ok(self.inner.available_bytes()?.min(limit))
    }

    fn disk_path(&self, path: &VolumePath) -> Option<std::path::PathBuf> {
        self.inner.disk_path(path)
    }
}
