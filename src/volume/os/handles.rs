//! Reading and writing through an open: positioned reads and writes
//! (`pread`/`pwrite`, outside the volume's lock), truncation, syncs, the
//! whole image, the holder's own views of its file without a new open (a
//! duplicate descriptor, a snapshot, the contents read through a held
//! open), and the accounting of the holder's own writes that lets
//! [`OsVolume::check_file`] tell another process's.
//!
//! What does not live here: making and ending opens, their locks and
//! watches (`opens`).

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::{CloneOutcome, FileSnapshot, OsVolume, cow_key, file_id, files, reflink};
use crate::error::{Error, Result};
use crate::volume::{Chunk, Content, Handle, VolumePath};

impl OsVolume {
    /// A point-in-time snapshot of an open file, taken in O(1): a reflink
    /// clone where the file system has them, otherwise copy-before-write
    /// (every write through this volume saves the pages it changes while the
    /// snapshot lives). Reading the snapshot never opens the live file, so
    /// its holder sees no foreign access.
    pub fn snapshot(&self, handle: Handle) -> Result<FileSnapshot> {
        let (file, path, real, _) = self.file_of(handle)?;
        let id = self.with_open(handle, |o| Ok(o.id))?;
        let reflinks = *self.reflinks.get_or_init(|| reflink::supported(&self.root));
        if reflinks {
            let tmp = real.with_file_name(format!("{}-snapshot-{}", self.temp_name(), handle.0));
            // The clone opens the live file by name: the holder's own open.
            for o in self.state.lock().opens.values_mut().filter(|o| o.id == id) {
                o.not_foreign += 1;
            }
            if let CloneOutcome::Cloned = reflink::reflink(&real, &tmp)? {
                let clone = File::open(&tmp).map_err(|e| self.os_error(&path, &tmp, e))?;
                return FileSnapshot::reflinked(clone, tmp)
                    .map_err(|e| self.os_error(&path, &real, e));
            }
        }
        self.cow
            .begin(cow_key(&id), file)
            .map_err(|e| self.os_error(&path, &real, e))
    }

    /// The whole current contents of a file, read through an open this
    /// volume already has of it when there is one (no new open: no holder's
    /// watch sees it), else through a fresh read-only open (nobody here
    /// holds it).
    pub fn contents(&self, path: &VolumePath) -> Result<Content> {
        let (real, meta) = self.existing_file(path)?;
        let id = file_id(&meta, &real);
        let held = {
            let s = self.state.lock();
            s.opens
                .values()
                .find(|o| o.id == id && o.access.reads())
                .map(|o| Arc::clone(&o.file))
        };
        let bytes = match held {
            Some(file) => files::read_all_at(&file),
            None => File::open(&real).and_then(|f| files::read_all_at(&f)),
        }
        .map_err(|e| self.os_error(path, &real, e))?;
        Ok(Content::from_bytes(&bytes))
    }

    /// A duplicate of an open's file descriptor: the holder reads its own
    /// file through it (to copy it aside, say) without a new open, so no
    /// foreign access is seen. Reads through it should be positional.
    pub fn try_clone_file(&self, handle: Handle) -> Result<File> {
        let (file, _, real, _) = self.file_of(handle)?;
        file.try_clone()
            .map_err(|source| Error::Io { path: real, source })
    }

    /// A write through `handle` that leaves the file `len` long
    /// (`Err(at_least)`: at least as long as before and as `at_least`): writes already queued
    /// by others are counted as theirs first, the write's own events as its
    /// own after, and the length it leaves is noted for every open of the
    /// file through this volume.
    fn own_write<T>(
        &self,
        handle: Handle,
        len: Result<u64, u64>,
        write: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.account_writes(handle, false)?;
        let result = write();
        self.account_writes(handle, true)?;
        let mut s = self.state.lock();
        if let Some(id) = s.opens.get(&handle.0).map(|o| o.id) {
            for o in s.opens.values_mut().filter(|o| o.id == id) {
                o.len_expected = match len {
                    Ok(exact) => exact,
                    Err(at_least) => o.len_expected.max(at_least),
                };
            }
        }
        result
    }
}

/// Writes all of `data` at `offset` with positioned writes.
#[cfg(unix)]
pub(super) fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

/// Writes all of `data` at `offset` (Windows: `seek_write`).
#[cfg(windows)]
pub(super) fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !data.is_empty() {
        match file.seek_write(data, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`Volume::len_of`](crate::volume::Volume::len_of) for [`OsVolume`].
pub(super) fn len_of(vol: &OsVolume, handle: Handle) -> Result<u64> {
    let (file, path, real, _) = vol.file_of(handle)?;
    let meta = file.metadata().map_err(|e| vol.os_error(&path, &real, e))?;
    Ok(meta.len())
}

/// [`Volume::read_at`](crate::volume::Volume::read_at) for [`OsVolume`].
pub(super) fn read_at(vol: &OsVolume, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
    let (file, path, real, access) = vol.file_of(handle)?;
    if !access.reads() {
        return Err(Error::BadHandle);
    }
    let file_len = file
        .metadata()
        .map_err(|e| vol.os_error(&path, &real, e))?
        .len();
    let end = offset.saturating_add(len).min(file_len);
    let start = offset.min(end);
    let mut buf = vec![0; usize::try_from(end - start).unwrap_or(usize::MAX)];
    let n =
        files::read_full_at(&file, &mut buf, start).map_err(|e| vol.os_error(&path, &real, e))?;
    buf.truncate(n);
    Ok(Chunk::from_bytes(start, &buf))
}

/// [`Volume::write_at`](crate::volume::Volume::write_at) for [`OsVolume`].
pub(super) fn write_at(vol: &OsVolume, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
    let (file, path, real, access) = vol.file_of(handle)?;
    if !access.writes() {
        return Err(Error::NotWritable { path });
    }
    let end = offset.saturating_add(data.len() as u64);
    vol.own_write(handle, Err(end), || {
        let write = || write_all_at(&file, data, offset);
        let result = if vol.cow.is_idle() {
            write()
        } else {
            let id = vol.with_open(handle, |o| Ok(o.id))?;
            vol.cow.write(&cow_key(&id), &file, offset, end, write)
        };
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::StorageFull {
                vol.disk_full(&path, data.len() as u64)
            } else {
                vol.os_error(&path, &real, e)
            }
        })
    })
}

/// [`Volume::set_len`](crate::volume::Volume::set_len) for [`OsVolume`].
pub(super) fn set_len(vol: &OsVolume, handle: Handle, len_bytes: u64) -> Result<()> {
    let (file, path, real, access) = vol.file_of(handle)?;
    if !access.writes() {
        return Err(Error::NotWritable { path });
    }
    vol.own_write(handle, Ok(len_bytes), || {
        let truncate = || file.set_len(len_bytes);
        let result = if vol.cow.is_idle() {
            truncate()
        } else {
            let id = vol.with_open(handle, |o| Ok(o.id))?;
            vol.cow
                .write(&cow_key(&id), &file, len_bytes, u64::MAX, truncate)
        };
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::StorageFull {
                vol.disk_full(&path, len_bytes)
            } else {
                vol.os_error(&path, &real, e)
            }
        })
    })
}

/// [`Volume::sync`](crate::volume::Volume::sync) for [`OsVolume`].
pub(super) fn sync(vol: &OsVolume, handle: Handle) -> Result<()> {
    let (file, path, real, _) = vol.file_of(handle)?;
    file.sync_data().map_err(|e| vol.os_error(&path, &real, e))
}

/// [`Volume::image`](crate::volume::Volume::image) for [`OsVolume`].
pub(super) fn image(vol: &OsVolume, handle: Handle) -> Result<Content> {
    let (file, path, real, access) = vol.file_of(handle)?;
    if !access.reads() {
        return Err(Error::BadHandle);
    }
    let bytes = files::read_all_at(&file).map_err(|e| vol.os_error(&path, &real, e))?;
    Ok(Content::from_bytes(&bytes))
}

#[cfg(all(test, unix))]
mod tests {
    use super::super::tests::setup;
    use crate::error::Error;
    use crate::volume::{Access, Content, Deny, Owner, Volume};

    #[test]
    fn reads_writes_and_renames_through_handles() {
        let (_dir, v, data) = setup();
        let mail = Owner::new("Microsoft Mail Server");
        let h = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap();
        v.write_at(h, 4, b" data").unwrap();
        v.sync(h).unwrap();
        assert_eq!(v.len_of(h).unwrap(), 9);
        let c = v.read_at(h, 2, 100).unwrap();
        assert_eq!((c.offset(), c.to_vec()), (2, b"il data".to_vec()));
        assert_eq!(v.read_at(h, 50, 10).unwrap().len_bytes(), 0);
        assert_eq!(v.image(h).unwrap().to_vec(), b"mail data");
        v.set_len(h, 4).unwrap();
        assert_eq!(v.image(h).unwrap().to_vec(), b"mail");

        // A held file cannot be removed, nor replaced by a rename; it can
        // itself be renamed, and its handle follows it.
        let other = data.parent().unwrap().join("Other");
        v.put_file(&other, Content::from_bytes(b"o")).unwrap();
        assert!(matches!(
            v.remove_file(&data),
            Err(Error::DenyConflict { .. })
        ));
        assert!(matches!(
            v.rename(&other, &data),
            Err(Error::DenyConflict { .. })
        ));
        let moved = data.parent().unwrap().join("Moved");
        v.rename(&data, &moved).unwrap();
        assert!(matches!(v.metadata(&data), Err(Error::NotFound { .. })));
        assert_eq!(
            v.writer(&moved).unwrap().unwrap().name,
            "Microsoft Mail Server"
        );
        v.close(h).unwrap();
        assert!(matches!(v.close(h), Err(Error::BadHandle)));
        v.rename(&other, &moved).unwrap();
        assert_eq!(v.writer(&moved).unwrap(), None);
        v.remove_file(&moved).unwrap();
        assert!(matches!(v.remove_file(&moved), Err(Error::NotFound { .. })));

        // Access is enforced.
        let r = v.open(
            &other.parent().unwrap().join("x"),
            &mail,
            Access::Read,
            Deny::NONE,
        );
        assert!(matches!(r, Err(Error::NotFound { .. })));
        v.put_file(&other, Content::from_bytes(b"o")).unwrap();
        let r = v.open(&other, &mail, Access::Read, Deny::NONE).unwrap();
        assert!(matches!(
            v.write_at(r, 0, b"x"),
            Err(Error::NotWritable { .. })
        ));
        let w = v.open(&other, &mail, Access::Write, Deny::NONE).unwrap();
        assert!(matches!(v.read_at(w, 0, 1), Err(Error::BadHandle)));
        for x in [r, w] {
            v.close(x).unwrap();
        }
    }
}
