//! [`SimVolume`]: an in-memory, deterministic volume.
//!
//! Its state under the volume's lock (`state`: files, opens, unsynced
//! writes, the crash) and the faults it injects (`faults`) live apart; this
//! file holds the volume itself and its [`Volume`] operations.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Access, Chunk, Content, Deny, DirEntry, EntryKind, ForeignOpens, Handle, Holder, Metadata,
    Owner, Stamper, Volume, VolumePath,
};
use crate::error::{Error, Result};
use crate::time::SimTime;

mod faults;
mod state;

use faults::Queued;
pub(crate) use faults::garbage;
pub use faults::{SimFaults, UnsyncedWrites};
use state::{FileNode, Node, Open, State, Unsynced};

/// The volume's lock: std's, without poisoning (as parking_lot's, which the
/// simulation does not need): a panic under the lock leaves the state as one
/// operation left it, and another thread may still read it.
struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An in-memory volume. Clones are handles to the same volume; [`SimVolume::fork`]
/// makes an independent copy (sharing file pages until they are written).
#[derive(Clone)]
pub struct SimVolume {
    name: Arc<str>,
    /// The volume's clock in microseconds: set once per simulator event, so
    /// kept out of the lock.
    now: Arc<AtomicU64>,
    /// Foreign opens of files someone holds open, ever: read without the
    /// lock by a runner asking, after every event, whether anything new
    /// happened.
    foreign_events: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
}

impl SimVolume {
    /// An empty volume named `name`, with room for `u64::MAX` bytes.
    pub fn new(name: &str) -> SimVolume {
        SimVolume {
            name: Arc::from(name),
            now: Arc::new(AtomicU64::new(0)),
            foreign_events: Arc::new(AtomicU64::new(0)),
            state: Arc::new(Mutex::new(State {
                tree: Arc::new(BTreeMap::new()),
                files: Vec::new(),
                opens: Vec::new(),
                next_handle: 1,
                stamper: Stamper::new(),
                capacity_bytes: u64::MAX,
                used_bytes: 0,
                faults: SimFaults::default(),
                queued: Queued::default(),
                unsynced: Vec::new(),
            })),
        }
    }
    /// Closes every open of `owner`, as when its process dies.
    pub fn close_all_of(&self, owner: &Owner) {
        self.state.lock().opens.retain(|o| o.owner != *owner);
    }

    /// Limits the volume to `capacity_bytes`; writes past it fail with
    /// [`Error::DiskFull`].
    pub fn set_capacity(&self, capacity_bytes: u64) {
        self.state.lock().capacity_bytes = capacity_bytes;
    }

    /// The volume's capacity (`u64::MAX` unless limited).
    pub fn capacity_bytes(&self) -> u64 {
        self.state.lock().capacity_bytes
    }

    /// Sets the volume's clock: writes from now on are stamped `now`.
    pub fn set_now(&self, now: SimTime) {
        self.now.store(now.as_micros(), Ordering::Relaxed);
    }

    /// How many times, so far, a file was opened while someone else held
    /// it: when this has not changed, no holder has a new foreign open.
    pub(crate) fn foreign_open_events(&self) -> u64 {
        self.foreign_events.load(Ordering::Relaxed)
    }

    fn now(&self) -> SimTime {
        SimTime::from_micros(self.now.load(Ordering::Relaxed))
    }

    /// An independent copy of this volume: same folders and files (pages
    /// shared, copied on write), no opens.
    pub fn fork(&self) -> SimVolume {
        let s = self.state.lock();
        SimVolume {
            name: Arc::clone(&self.name),
            now: Arc::new(AtomicU64::new(self.now.load(Ordering::Relaxed))),
            foreign_events: Arc::new(AtomicU64::new(0)),
            state: Arc::new(Mutex::new(State {
                tree: Arc::clone(&s.tree),
                files: s.files.clone(),
                opens: Vec::new(),
                next_handle: 1,
                stamper: Stamper::new(),
                capacity_bytes: s.capacity_bytes,
                used_bytes: s.used_bytes,
                faults: SimFaults::default(),
                queued: Queued::default(),
                unsynced: Vec::new(),
            })),
        }
    }

    /// The current contents of a file, without opening it (for inspection).
    pub fn contents(&self, path: &VolumePath) -> Result<Content> {
        let s = self.state.lock();
        let idx = s.file_index(path)?;
        Ok(s.file(idx).content.clone())
    }

    /// Every file on the volume, in walk order (depth first, by name).
    pub fn files(&self) -> Vec<VolumePath> {
        let s = self.state.lock();
        s.tree
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_)))
            .map(|(k, _)| VolumePath::new(&*self.name, k.iter().cloned()))
            .collect()
    }

    fn check_volume(&self, path: &VolumePath) -> Result<()> {
        if path.volume() == &*self.name {
            Ok(())
        } else {
            Err(Error::NoSuchVolume {
                name: path.volume().to_owned(),
            })
        }
    }
}

impl Volume for SimVolume {
    fn name(&self) -> &str {
        &self.name
    }

    fn list(&self, folder: &VolumePath) -> Result<Vec<DirEntry>> {
        self.check_volume(folder)?;
        let s = self.state.lock();
        let comps = folder.components();
        match s.tree.get(comps) {
            Some(Node::Folder) => {}
            Some(Node::File(_)) => {
                return Err(Error::NotAFolder {
                    path: folder.clone(),
                });
            }
            None if comps.is_empty() => {}
            None => {
                return Err(Error::NotFound {
                    path: folder.clone(),
                });
            }
        }
        let mut out = Vec::new();
        let from: (std::ops::Bound<&[String]>, std::ops::Bound<&[String]>) =
            (std::ops::Bound::Included(comps), std::ops::Bound::Unbounded);
        for (k, n) in s.tree.range::<[String], _>(from) {
            if !k.starts_with(comps) {
                break;
            }
            if k.len() == comps.len() + 1 {
                out.push(DirEntry {
                    name: k[comps.len()].clone(),
                    kind: match n {
                        Node::Folder => EntryKind::Folder,
                        Node::File(_) => EntryKind::File,
                    },
                });
            }
        }
        Ok(out)
    }

    fn metadata(&self, path: &VolumePath) -> Result<Metadata> {
        self.check_volume(path)?;
        let s = self.state.lock();
        if path.is_root() {
            return Ok(Metadata {
                kind: EntryKind::Folder,
                len_bytes: 0,
                modified: SimTime::ZERO,
            });
        }
        match s.tree.get(path.components()) {
            Some(Node::Folder) => Ok(Metadata {
                kind: EntryKind::Folder,
                len_bytes: 0,
                modified: SimTime::ZERO,
            }),
            Some(Node::File(i)) => {
                let f = s.file(*i);
                Ok(Metadata {
                    kind: EntryKind::File,
                    len_bytes: f.content.len_bytes(),
                    modified: f.modified,
                })
            }
            None => Err(Error::NotFound { path: path.clone() }),
        }
    }

    fn create_folder(&self, path: &VolumePath) -> Result<()> {
        self.check_volume(path)?;
        let mut s = self.state.lock();
        let comps = path.components();
        for depth in 1..=comps.len() {
            match s.tree.get(&comps[..depth]) {
                Some(Node::Folder) => {}
                Some(Node::File(_)) => {
                    return Err(Error::NotAFolder {
                        path: VolumePath::new(path.volume(), comps[..depth].iter().cloned()),
                    });
                }
                None => {
                    Arc::make_mut(&mut s.tree).insert(comps[..depth].to_vec(), Node::Folder);
                }
            }
        }
        Ok(())
    }

    fn put_file(&self, path: &VolumePath, content: Content) -> Result<()> {
        self.check_volume(path)?;
        let mut s = self.state.lock();
        s.check_parent(path)?;
        let now = self.now();
        let new_len = content.len_bytes();
        match s.tree.get(path.components()).cloned() {
            Some(Node::Folder) => Err(Error::IsAFolder { path: path.clone() }),
            Some(Node::File(i)) => {
                let old = s.file(i).content.len_bytes();
                s.grow(path, old, new_len)?;
                let f = s.file_mut(i);
                f.content = content;
                f.modified = now;
                Ok(())
            }
            None => {
                s.grow(path, 0, new_len)?;
                let idx = s.files.len();
                s.files.push(Some(FileNode {
                    content,
                    modified: now,
                }));
                Arc::make_mut(&mut s.tree).insert(path.components().to_vec(), Node::File(idx));
                Ok(())
            }
        }
    }

    fn remove_file(&self, path: &VolumePath) -> Result<()> {
        self.check_volume(path)?;
        let mut s = self.state.lock();
        let idx = s.file_index(path)?;
        if let Some(o) = s.opens.iter().find(|o| o.file == idx) {
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder: o.owner.name().to_owned(),
                real_path: None,
            });
        }
        let len = s.file(idx).content.len_bytes();
        s.used_bytes -= len;
        Arc::make_mut(&mut s.tree).remove(path.components());
        s.files[idx] = None;
        Ok(())
    }

    fn rename(&self, from: &VolumePath, to: &VolumePath) -> Result<()> {
        self.check_volume(from)?;
        self.check_volume(to)?;
        let mut s = self.state.lock();
        let idx = s.file_index(from)?;
        s.check_parent(to)?;
        if from == to {
            return Ok(());
        }
        match s.tree.get(to.components()).cloned() {
            Some(Node::Folder) => return Err(Error::IsAFolder { path: to.clone() }),
            Some(Node::File(old)) => {
                if let Some(o) = s.opens.iter().find(|o| o.file == old) {
                    return Err(Error::DenyConflict {
                        path: to.clone(),
                        holder: o.owner.name().to_owned(),
                        real_path: None,
                    });
                }
                let len = s.file(old).content.len_bytes();
                s.used_bytes -= len;
                s.files[old] = None;
            }
            None => {}
        }
        Arc::make_mut(&mut s.tree).remove(from.components());
        Arc::make_mut(&mut s.tree).insert(to.components().to_vec(), Node::File(idx));
        for o in s.opens.iter_mut().filter(|o| o.file == idx) {
            o.path = to.clone();
        }
        Ok(())
    }

    fn open(&self, path: &VolumePath, owner: &Owner, access: Access, deny: Deny) -> Result<Handle> {
        self.check_volume(path)?;
        let mut s = self.state.lock();
        let idx = s.file_index(path)?;
        if let Some(o) = s
            .opens
            .iter()
            .find(|o| o.file == idx && (o.deny.forbids(access) || deny.forbids(o.access)))
        {
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder: o.owner.name().to_owned(),
                real_path: None,
            });
        }
        for o in s
            .opens
            .iter_mut()
            .filter(|o| o.file == idx && o.owner != *owner)
        {
            o.foreign_opens += 1;
            o.last_foreign = Some(owner.clone());
            self.foreign_events.fetch_add(1, Ordering::Relaxed);
        }
        let handle = s.next_handle;
        s.next_handle += 1;
        s.opens.push(Open {
            handle,
            file: idx,
            path: path.clone(),
            owner: owner.clone(),
            access,
            deny,
            foreign_opens: 0,
            last_foreign: None,
        });
        Ok(Handle(handle))
    }

    fn close(&self, handle: Handle) -> Result<()> {
        let mut s = self.state.lock();
        let i = s.open_index(handle)?;
        s.opens.swap_remove(i);
        Ok(())
    }

    fn len_of(&self, handle: Handle) -> Result<u64> {
        let s = self.state.lock();
        let i = s.open_index(handle)?;
        Ok(s.file(s.opens[i].file).content.len_bytes())
    }

    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        let mut s = self.state.lock();
        let i = s.open_index(handle)?;
        s.faults.reads += 1;
        if s.faults.read_error_at == Some(s.faults.reads) {
            if let Some(n) = s.queued.reads.pop() {
                s.faults.read_error_at = Some(n);
            }
            return Err(Error::VolumeIo {
                path: s.opens[i].path.clone(),
                reason: "injected read error".to_owned(),
            });
        }
        let o = &s.opens[i];
        if !o.access.reads() {
            return Err(Error::BadHandle);
        }
        let content = s.file(o.file).content.clone();
        let end = offset.saturating_add(len).min(content.len_bytes());
        let offset = offset.min(end);
        Ok(Chunk {
            offset,
            len: end - offset,
            base_page: 0,
            content,
        })
    }

    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        self.state.lock().write(self.now(), handle, offset, data)
    }

    fn write_synced(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        // Both under one lock: the server commits this way twice per
        // transaction.
        let mut s = self.state.lock();
        s.write(self.now(), handle, offset, data)?;
        s.sync(handle)
    }

    fn set_len(&self, handle: Handle, len_bytes: u64) -> Result<()> {
        let mut s = self.state.lock();
        let i = s.open_index(handle)?;
        let (file, path) = (s.opens[i].file, s.opens[i].path.clone());
        if !s.opens[i].access.writes() {
            return Err(Error::NotWritable { path });
        }
        let old = s.file(file).content.len_bytes();
        s.grow(&path, old, len_bytes)?;
        if s.faults.crash_at_sync.is_some() {
            let content = &s.file(file).content;
            let mut before = vec![0; old.saturating_sub(len_bytes) as usize];
            let _ = crate::datafile::ReadAt::read_at(content, len_bytes.min(old), &mut before);
            s.unsynced.push(Unsynced {
                file,
                offset: len_bytes.min(old),
                old: before,
                written: 0,
                old_len: old,
            });
        }
        let now = self.now();
        let State { files, stamper, .. } = &mut *s;
        let f = files[file].as_mut().expect("open files are live");
        f.content.set_len(len_bytes, stamper);
        f.modified = now;
        Ok(())
    }

    fn sync(&self, handle: Handle) -> Result<()> {
        self.state.lock().sync(handle)
    }

    fn shares_images(&self) -> bool {
        true
    }

    /// A piece of the image, uncounted by the faults (as `image` is).
    fn image_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        let content = self.image(handle)?;
        Ok(Chunk::of(&content, offset, len))
    }

    fn image(&self, handle: Handle) -> Result<Content> {
        let s = self.state.lock();
        let o = &s.opens[s.open_index(handle)?];
        Ok(s.file(o.file).content.clone())
    }

    fn writer(&self, path: &VolumePath) -> Result<Option<Holder>> {
        self.check_volume(path)?;
        let s = self.state.lock();
        let idx = s.file_index(path)?;
        Ok(s.opens
            .iter()
            .find(|o| o.file == idx && o.access.writes())
            .map(|o| Holder::new(o.owner.name(), None)))
    }

    fn foreign_opens(&self, handle: Handle) -> Result<ForeignOpens> {
        let s = self.state.lock();
        let o = &s.opens[s.open_index(handle)?];
        Ok(ForeignOpens {
            count: o.foreign_opens,
            last_by: o.last_foreign.as_ref().map(|w| w.name().to_owned()),
        })
    }

    fn available_bytes(&self) -> Result<u64> {
        let s = self.state.lock();
        Ok(s.capacity_bytes.saturating_sub(s.used_bytes))
    }
}

impl fmt::Debug for SimVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("SimVolume")
            .field("name", &&*self.name)
            .field("entries", &s.tree.len())
            .field("opens", &s.opens.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol() -> (SimVolume, VolumePath) {
        let v = SimVolume::new("Server HD");
        let ext = VolumePath::new("Server HD", ["System Folder", "Extensions"]);
        v.create_folder(&ext).unwrap();
        let data = ext.join("Microsoft Mail Data");
        v.put_file(&data, Content::from_bytes(b"mail")).unwrap();
        (v, data)
    }

    #[test]
    fn a_writer_denying_writers_admits_readers_and_is_told() {
        let (v, data) = vol();
        let mail = Owner::new("Microsoft Mail Server");
        let backup = Owner::new("Retrospect Remote");
        let h = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap();
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);
        // A probe notifies nobody.
        assert_eq!(
            v.writer(&data).unwrap().unwrap().name,
            "Microsoft Mail Server"
        );
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);
        // A refused open notifies nobody.
        let err = v
            .open(&data, &backup, Access::Read, Deny::WRITE)
            .unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        let err = v
            .open(&data, &backup, Access::ReadWrite, Deny::NONE)
            .unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);
        // A read-only open without deny succeeds: a foreign access.
        let r = v.open(&data, &backup, Access::Read, Deny::NONE).unwrap();
        assert_eq!(v.foreign_opens(h).unwrap().count, 1);
        assert_eq!(v.read_at(r, 0, 64 * 1024).unwrap().to_vec(), b"mail");
        // The holder's own second open is not foreign.
        let own = v.open(&data, &mail, Access::Read, Deny::NONE).unwrap();
        assert_eq!(v.foreign_opens(h).unwrap().count, 1);
        for x in [own, r, h] {
            v.close(x).unwrap();
        }
        assert_eq!(v.writer(&data).unwrap(), None);
    }

    #[test]
    fn lists_sorted_and_walks_depth_first() {
        let (v, _) = vol();
        let root = VolumePath::root("Server HD");
        v.create_folder(&root.join("Applications")).unwrap();
        v.put_file(
            &root.join("Applications").join("Word"),
            Content::from_bytes(b"w"),
        )
        .unwrap();
        let names: Vec<_> = v.list(&root).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["Applications", "System Folder"]);
        let files: Vec<_> = v.files().iter().map(ToString::to_string).collect();
        assert_eq!(
            files,
            [
                "Server HD:Applications:Word",
                "Server HD:System Folder:Extensions:Microsoft Mail Data"
            ]
        );
    }

    #[test]
    fn fork_is_independent_and_writes_restamp_mtime() {
        let (v, data) = vol();
        v.set_now(SimTime::from_micros(42));
        let w = v.fork();
        let h = w
            .open(&data, &Owner::new("x"), Access::ReadWrite, Deny::WRITE)
            .unwrap();
        w.write_at(h, 0, b"MAIL!").unwrap();
        assert_eq!(w.contents(&data).unwrap().to_vec(), b"MAIL!");
        assert_eq!(v.contents(&data).unwrap().to_vec(), b"mail");
        assert_eq!(
            w.metadata(&data).unwrap().modified,
            SimTime::from_micros(42)
        );
    }

    #[test]
    fn disk_full_refuses_growth() {
        let v = SimVolume::new("Backup Drive");
        v.set_capacity(10);
        let p = VolumePath::new("Backup Drive", ["a"]);
        v.put_file(&p, Content::from_bytes(b"12345")).unwrap();
        let err = v.put_file(
            &VolumePath::new("Backup Drive", ["b"]),
            Content::from_bytes(&[0; 6]),
        );
        assert!(matches!(err, Err(Error::DiskFull { .. })));
        assert_eq!(v.available_bytes().unwrap(), 5);
        v.rename(&p, &VolumePath::new("Backup Drive", ["c"]))
            .unwrap();
        assert!(v.metadata(&p).is_err());
    }
}
