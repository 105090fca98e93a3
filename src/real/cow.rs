//! Point-in-time snapshots of a live file on disk, taken in O(1).
//!
//! Where the file system can clone files (btrfs, XFS), a snapshot is a
//! reflink. Where it cannot (ext4), it is **copy-before-write**, as the
//! Volume Shadow Copy Service's system provider does it: while a snapshot is
//! active, every write through the volume first saves the old contents of
//! the pages it is about to change; the snapshot reads unchanged pages from
//! the live file and changed ones from the saved copies. Taking the snapshot
//! only registers it; the cost moves to the writes that follow, one page
//! copy per page first changed, and to the reader.
//!
//! A write and a snapshot read of the same file are serialized (one lock
//! per volume), so a reader never sees a page between its save and its
//! overwrite. The writer waits at most for one chunk read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::volume::{Content, PAGE_BYTES};

/// The identity of a file (device and inode, or a path where there are none).
pub(crate) type Key = Vec<u8>;

#[derive(Debug)]
struct Active {
    id: u64,
    key: Key,
    len: u64,
    /// Old contents of pages changed since the snapshot, by page index.
    saved: BTreeMap<u64, Box<[u8]>>,
}

/// The active copy-before-write snapshots of a volume.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: Mutex<(u64, Vec<Active>)>,
}

impl Registry {
    /// Registers a snapshot of `file` (identified by `key`) as it is now: O(1).
    pub(crate) fn begin(self: &Arc<Self>, key: Key, file: Arc<File>) -> io::Result<FileSnapshot> {
        let mut g = self.inner.lock();
        let len = file.metadata()?.len();
        g.0 += 1;
        let id = g.0;
        g.1.push(Active {
            id,
            key,
            len,
            saved: BTreeMap::new(),
        });
        Ok(FileSnapshot {
            len,
            how: How::CopyBeforeWrite {
                id,
                file,
                registry: Arc::clone(self),
            },
        })
    }

    /// Performs `write` (which changes `[offset, end)` of `file`, or
    /// truncates it to `offset` when `end` is `u64::MAX`) after saving, for
    /// every active snapshot of the file, the pages it would change.
    pub(crate) fn write<T>(
        &self,
        key: &[u8],
        file: &File,
        offset: u64,
        end: u64,
        write: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut g = self.inner.lock();
        for snap in g.1.iter_mut().filter(|s| s.key == key) {
            let stop = end.min(snap.len);
            if offset >= stop {
                continue;
            }
            let first = offset / PAGE_BYTES as u64;
            let last = (stop - 1) / PAGE_BYTES as u64;
            for page in first..=last {
                if snap.saved.contains_key(&page) {
                    continue;
                }
                let at = page * PAGE_BYTES as u64;
                let n = (snap.len - at).min(PAGE_BYTES as u64) as usize;
                let mut buf = vec![0; n];
                let got = super::read_full_at(file, &mut buf, at)?;
                buf.truncate(got);
                snap.saved.insert(page, buf.into_boxed_slice());
            }
        }
        write()
    }

    /// Whether any snapshot is active (writes pay nothing extra otherwise).
    pub(crate) fn is_idle(&self) -> bool {
        self.inner.lock().1.is_empty()
    }

    fn read(&self, id: u64, file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let g = self.inner.lock();
        let Some(snap) = g.1.iter().find(|s| s.id == id) else {
            return Err(io::Error::other("snapshot released"));
        };
        let end = offset.saturating_add(buf.len() as u64).min(snap.len);
        let mut pos = offset;
        while pos < end {
            let page = pos / PAGE_BYTES as u64;
            let at = (pos % PAGE_BYTES as u64) as usize;
            let take = ((end - pos) as usize).min(PAGE_BYTES - at);
            let dst = &mut buf[(pos - offset) as usize..][..take];
            match snap.saved.get(&page) {
                Some(old) => {
                    // Bytes the old page did not have read as zeros.
                    let have = old.len().saturating_sub(at).min(take);
                    dst[..have].copy_from_slice(&old[at..at + have]);
                    dst[have..].fill(0);
                }
                None => {
                    let got = super::read_full_at(file, dst, pos)?;
                    dst[got..].fill(0);
                }
            }
            pos += take as u64;
        }
        // Hand the lock to a waiting writer, if any: a reader taking it back
        // at once for its next chunk would hold the server up for the whole
        // copy.
        parking_lot::MutexGuard::unlock_fair(g);
        Ok((end.saturating_sub(offset)) as usize)
    }

    fn end(&self, id: u64) {
        self.inner.lock().1.retain(|s| s.id != id);
    }
}

#[derive(Debug)]
enum How {
    CopyBeforeWrite {
        id: u64,
        file: Arc<File>,
        registry: Arc<Registry>,
    },
    Reflink {
        file: File,
        path: PathBuf,
    },
}

/// A point-in-time image of a live file on disk. Reads see the file as it
/// was when the snapshot was taken, whatever the holder writes since.
/// Dropping it releases it (and removes a reflink's temporary clone).
#[derive(Debug)]
pub struct FileSnapshot {
    len: u64,
    how: How,
}

impl FileSnapshot {
    pub(crate) fn reflinked(file: File, path: PathBuf) -> io::Result<FileSnapshot> {
        Ok(FileSnapshot {
            len: file.metadata()?.len(),
            how: How::Reflink { file, path },
        })
    }

    /// The file's length when the snapshot was taken.
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// How the snapshot is kept: `"reflink"` or `"copy-before-write"`.
    pub fn method(&self) -> &'static str {
        match self.how {
            How::CopyBeforeWrite { .. } => "copy-before-write",
            How::Reflink { .. } => "reflink",
        }
    }

    /// Reads from `offset` into `buf`; returns the bytes read (fewer at the
    /// snapshot's end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match &self.how {
            How::CopyBeforeWrite { id, file, registry } => registry.read(*id, file, offset, buf),
            How::Reflink { file, .. } => super::read_full_at(file, buf, offset),
        }
    }

    /// The whole image, read in chunks of 64 KiB (the holder is held up for
    /// at most one chunk at a time).
    pub fn to_content(&self) -> io::Result<Content> {
        let mut bytes = vec![0; usize::try_from(self.len).unwrap_or(usize::MAX)];
        let mut pos = 0;
        while pos < bytes.len() {
            let end = (pos + 64 * 1024).min(bytes.len());
            let n = self.read_at(pos as u64, &mut bytes[pos..end])?;
            if n == 0 {
                bytes.truncate(pos);
                break;
            }
            pos += n;
        }
        Ok(Content::from_bytes(&bytes))
    }
}

impl Drop for FileSnapshot {
    fn drop(&mut self) {
        match &self.how {
            How::CopyBeforeWrite { id, registry, .. } => registry.end(*id),
            How::Reflink { path, .. } => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn a_snapshot_keeps_the_old_pages_while_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 3 * PAGE_BYTES + 100]).unwrap();
        let file = Arc::new(File::options().read(true).write(true).open(&path).unwrap());
        let reg = Arc::new(Registry::default());
        let key = b"f".to_vec();
        let snap = reg.begin(key.clone(), Arc::clone(&file)).unwrap();
        assert!(!reg.is_idle());
        // Overwrite page 1, grow the file, then truncate it.
        reg.write(
            &key,
            &file,
            PAGE_BYTES as u64 + 5,
            PAGE_BYTES as u64 + 10,
            || file.write_all_at(&[9u8; 5], PAGE_BYTES as u64 + 5),
        )
        .unwrap();
        let len = 3 * PAGE_BYTES as u64 + 100;
        reg.write(&key, &file, len, len + 50, || {
            file.write_all_at(&[7u8; 50], len)
        })
        .unwrap();
        reg.write(&key, &file, 10, u64::MAX, || file.set_len(10))
            .unwrap();
        let image = snap.to_content().unwrap().to_vec();
        assert_eq!(image, vec![1u8; 3 * PAGE_BYTES + 100]);
        assert_eq!(snap.method(), "copy-before-write");
        drop(snap);
        assert!(reg.is_idle());
        assert_eq!(std::fs::read(&path).unwrap(), vec![1u8; 10]);
    }
}
