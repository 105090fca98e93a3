//! The volume's state under its lock: the folder tree (shared between
//! forks until one changes it), the files, the opens, the space used, and
//! the writes not yet synced while a crash is armed; the write and the sync
//! that count toward the faults, and the crash that keeps, drops or garbles
//! the unsynced writes.
//!
//! What does not live here: the faults themselves and their queue
//! (`faults`), the [`Volume`](crate::volume::Volume) operations over this
//! state (`mod`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::faults::{Queued, SimFaults, UnsyncedWrites};
use crate::error::{Error, Result};
use crate::time::SimTime;
use crate::volume::{Access, Content, Deny, Handle, Owner, Stamper, VolumePath};

/// An entry of the folder tree.
#[derive(Clone)]
pub(super) enum Node {
    Folder,
    File(usize),
}

/// A file's contents and when they last changed.
#[derive(Clone)]
pub(super) struct FileNode {
    pub(super) content: Content,
    pub(super) modified: SimTime,
}

/// An open of a file: who holds it how, and the foreign opens it was told of.
pub(super) struct Open {
    pub(super) handle: u64,
    pub(super) file: usize,
    pub(super) path: VolumePath,
    pub(super) owner: Owner,
    pub(super) access: Access,
    pub(super) deny: Deny,
    pub(super) foreign_opens: u64,
    pub(super) last_foreign: Option<Owner>,
}

/// Everything the volume's lock guards.
pub(super) struct State {
    /// Shared between forks until one of them changes it.
    pub(super) tree: Arc<BTreeMap<Vec<String>, Node>>,
    pub(super) files: Vec<Option<FileNode>>,
    pub(super) opens: Vec<Open>,
    pub(super) next_handle: u64,
    pub(super) stamper: Stamper,
    pub(super) capacity_bytes: u64,
    pub(super) used_bytes: u64,
    pub(super) faults: SimFaults,
    /// Faults queued behind the armed ones, each kind in descending order
    /// of its count (the next to arm last).
    pub(super) queued: Queued,
    /// Writes not yet synced, oldest first, while a crash is armed.
    pub(super) unsynced: Vec<Unsynced>,
}

/// A write not yet synced: enough to undo it or garble it.
#[derive(Clone, Debug)]
pub(super) struct Unsynced {
    pub(super) file: usize,
    pub(super) offset: u64,
    /// The bytes `[offset, offset + old.len())` held before the write.
    pub(super) old: Vec<u8>,
    /// Bytes written (0 for a truncation).
    pub(super) written: u64,
    /// The file's length before the write.
    pub(super) old_len: u64,
}

impl State {
    /// The crash: what was not synced is kept, undone or garbled.
    fn crash(&mut self, what: UnsyncedWrites) {
        let unsynced = std::mem::take(&mut self.unsynced);
        match what {
            UnsyncedWrites::Keep => {}
            UnsyncedWrites::Drop => {
                for u in unsynced.into_iter().rev() {
                    let len = self.file(u.file).content.len_bytes();
                    let State {
                        files,
                        stamper,
                        used_bytes,
                        ..
                    } = self;
                    let f = files[u.file].as_mut().expect("unsynced files are live");
                    f.content.set_len(
                        u.old_len.max(u.offset + u.old.len() as u64).min(u.old_len),
                        stamper,
                    );
                    if !u.old.is_empty() {
                        f.content.write_at(u.offset, &u.old, stamper);
                    }
                    *used_bytes = (*used_bytes + u.old_len).saturating_sub(len);
                }
            }
            UnsyncedWrites::Garble => {
                for u in unsynced {
                    if u.written == 0 {
                        continue;
                    }
                    let junk = super::garbage(u.offset, u.written);
                    let State { files, stamper, .. } = self;
                    let f = files[u.file].as_mut().expect("unsynced files are live");
                    f.content.write_at(u.offset, &junk, stamper);
                }
            }
        }
    }

    pub(super) fn file(&self, idx: usize) -> &FileNode {
        self.files[idx]
            .as_ref()
            .expect("tree entries point at live files")
    }

    pub(super) fn file_mut(&mut self, idx: usize) -> &mut FileNode {
        self.files[idx]
            .as_mut()
            .expect("tree entries point at live files")
    }

    pub(super) fn file_index(&self, path: &VolumePath) -> Result<usize> {
        match self.tree.get(path.components()) {
            Some(Node::File(i)) => Ok(*i),
            Some(Node::Folder) => Err(Error::IsAFolder { path: path.clone() }),
            None => Err(Error::NotFound { path: path.clone() }),
        }
    }

    pub(super) fn check_parent(&self, path: &VolumePath) -> Result<()> {
        let comps = path.components();
        if comps.is_empty() {
            return Err(Error::IsAFolder { path: path.clone() });
        }
        let parent = &comps[..comps.len() - 1];
        if parent.is_empty() {
            return Ok(());
        }
        match self.tree.get(parent) {
            Some(Node::Folder) => Ok(()),
            Some(Node::File(_)) => Err(Error::NotAFolder {
                path: path.parent().expect("has a parent"),
            }),
            None => Err(Error::NotFound {
                path: path.parent().expect("has a parent"),
            }),
        }
    }

    /// [`Volume::write_at`], under the volume's lock.
    pub(super) fn write(
        &mut self,
        now: SimTime,
        handle: Handle,
        offset: u64,
        data: &[u8],
    ) -> Result<()> {
        let i = self.open_index(handle)?;
        let file = self.opens[i].file;
        // The path is cloned on error paths only: this is the hot path.
        if !self.opens[i].access.writes() {
            return Err(Error::NotWritable {
                path: self.opens[i].path.clone(),
            });
        }
        self.faults.writes += 1;
        if self.faults.write_error_at == Some(self.faults.writes) {
            if let Some(n) = self.queued.writes.pop() {
                self.faults.write_error_at = Some(n);
            }
            return Err(Error::VolumeIo {
                path: self.opens[i].path.clone(),
                reason: "injected write error".to_owned(),
            });
        }
        let old = self.file(file).content.len_bytes();
        let new = old.max(offset.saturating_add(data.len() as u64));
        if let Err((needed_bytes, available_bytes)) = self.grow_by(old, new) {
            return Err(Error::DiskFull {
                path: self.opens[i].path.clone(),
                needed_bytes,
                available_bytes,
                real_path: None,
            });
        }
        if self.faults.crash_at_sync.is_some() {
            let content = &self.file(file).content;
            let end = offset.saturating_add(data.len() as u64).min(old);
            let mut before = vec![0; end.saturating_sub(offset) as usize];
            let _ = crate::datafile::ReadAt::read_at(content, offset.min(end), &mut before);
            self.unsynced.push(Unsynced {
                file,
                offset,
                old: before,
                written: data.len() as u64,
                old_len: old,
            });
        }
        let State { files, stamper, .. } = self;
        let f = files[file].as_mut().expect("open files are live");
        f.content.write_at(offset, data, stamper);
        f.modified = now;
        Ok(())
    }

    /// [`Volume::sync`], under the volume's lock.
    pub(super) fn sync(&mut self, handle: Handle) -> Result<()> {
        let i = self.open_index(handle)?;
        let file = self.opens[i].file;
        self.faults.syncs += 1;
        if let Some((at, what)) = self.faults.crash_at_sync
            && at == self.faults.syncs
        {
            if let Some(next) = self.queued.syncs.pop() {
                self.faults.crash_at_sync = Some(next);
            }
            self.crash(what);
            return Err(Error::Crashed {
                path: self.opens[i].path.clone(),
                sync: at,
                unsynced: what,
            });
        }
        self.unsynced.retain(|u| u.file != file);
        Ok(())
    }

    pub(super) fn open_index(&self, handle: Handle) -> Result<usize> {
        // Not `ok_or`: that builds the error (and drops it) on every call.
        match self.opens.iter().position(|o| o.handle == handle.0) {
            Some(i) => Ok(i),
            None => Err(Error::BadHandle),
        }
    }

    pub(super) fn grow(&mut self, path: &VolumePath, old: u64, new: u64) -> Result<()> {
        self.grow_by(old, new)
            .map_err(|(needed_bytes, available_bytes)| Error::DiskFull {
                path: path.clone(),
                needed_bytes,
                available_bytes,
                real_path: None,
            })
    }

    /// Accounts for a file going from `old` to `new` bytes; on a full
    /// volume, (bytes needed, bytes available).
    fn grow_by(&mut self, old: u64, new: u64) -> std::result::Result<(), (u64, u64)> {
        if new > old {
            let need = new - old;
            let avail = self.capacity_bytes.saturating_sub(self.used_bytes);
            if need > avail {
                return Err((need, avail));
            }
            self.used_bytes += need;
        } else {
            self.used_bytes -= old - new;
        }
        Ok(())
    }
}
