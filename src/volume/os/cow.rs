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
//! A writer saves the old page under the volume's lock before it changes
//! it. A snapshot read reads the live file *outside* the lock, then takes
//! the lock only to copy the pages saved meanwhile over what it read, so
//! a page it caught changing is always replaced by its saved copy. The
//! writer never waits for the reader's I/O: a snapshot being read does not
//! stall the server, whatever the file's size.

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
                let got = super::files::read_full_at(file, &mut buf, at)?;
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

    /// Reads `[offset, offset + buf.len())` of snapshot `id` (clipped to its
    /// length); returns the bytes read.
    ///
    /// The live file is read outside the lock; only then, under the lock,
    /// are the pages saved meanwhile copied over what was read. That is
    /// enough: a writer saves a page under the lock before it changes it,
    /// so any page the unlocked read may have seen changed (or half
    /// changed) is in `saved` by the time the reader takes the lock. The
    /// writer never waits for the reader's I/O, only for a few copies of
    /// saved pages.
    fn read(
        &self,
        id: u64,
        len: u64,
        file: &File,
        offset: u64,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let end = offset.saturating_add(buf.len() as u64).min(len);
        if offset >= end {
            return Ok(0);
        }
        let n = (end - offset) as usize;
        let buf = &mut buf[..n];
        let got = super::files::read_full_at(file, buf, offset)?;
        buf[got..].fill(0);

        let g = self.inner.lock();
        let Some(snap) = g.1.iter().find(|s| s.id == id) else {
            return Err(io::Error::other("snapshot released"));
        };
        let page_bytes = PAGE_BYTES as u64;
        let first = offset / page_bytes;
        let last = (end - 1) / page_bytes;
        for (&page, old) in snap.saved.range(first..=last) {
            let page_start = page * page_bytes;
            let from = page_start.max(offset);
            let to = (page_start + page_bytes).min(end);
            let at = (from - page_start) as usize;
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            // Bytes the old page did not have read as zeros.
            let have = old.len().saturating_sub(at).min(dst.len());
            dst[..have].copy_from_slice(&old[at..at + have]);
            dst[have..].fill(0);
        }
        Ok(n)
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
            How::CopyBeforeWrite { id, file, registry } => {
                registry.read(*id, self.len, file, offset, buf)
            }
            How::Reflink { file, .. } => super::files::read_full_at(file, buf, offset),
        }
    }

    /// The whole image, read in chunks of 64 KiB (the holder goes on
    /// writing meanwhile).
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

    #[test]
    fn a_snapshot_read_while_the_holder_writes_sees_only_the_old_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let pages = 64u64;
        let len = pages * PAGE_BYTES as u64 + 123;
        let original: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &original).unwrap();
        let file = Arc::new(File::options().read(true).write(true).open(&path).unwrap());
        let reg = Arc::new(Registry::default());
        let key = b"f".to_vec();
        let snap = reg.begin(key.clone(), Arc::clone(&file)).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let writer = {
            let (reg, file, key, stop, done) = (
                Arc::clone(&reg),
                Arc::clone(&file),
                key.clone(),
                Arc::clone(&stop),
                Arc::clone(&done),
            );
            std::thread::spawn(move || {
                // Half-page writes straddling page boundaries, all over the
                // file and past its end, until the reader is done.
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let at = (n * 7_919) % (len + PAGE_BYTES as u64) + PAGE_BYTES as u64 / 2;
                    let bytes = vec![(n % 200 + 1) as u8; PAGE_BYTES];
                    reg.write(&key, &file, at, at + bytes.len() as u64, || {
                        file.write_all_at(&bytes, at)
                    })
                    .unwrap();
                    n += 1;
                    done.store(n, std::sync::atomic::Ordering::Relaxed);
                }
                n
            })
        };
        // Read while the writer writes: at least 20 reads, and until it has
        // written a few hundred times (within a bound, should it never run).
        let started = std::time::Instant::now();
        let mut reads = 0;
        while reads < 20
            || (done.load(std::sync::atomic::Ordering::Relaxed) < 300
                && started.elapsed() < std::time::Duration::from_secs(10))
        {
            assert_eq!(snap.to_content().unwrap().to_vec(), original);
            reads += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes = writer.join().unwrap();
        assert!(writes > 0);
        assert_eq!(snap.to_content().unwrap().to_vec(), original);
        assert_ne!(std::fs::read(&path).unwrap(), original);
    }

    #[test]
    fn a_released_snapshot_reads_as_an_error_and_reads_past_its_end_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [5u8; 100]).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let reg = Arc::new(Registry::default());
        let snap = reg.begin(b"f".to_vec(), Arc::clone(&file)).unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(snap.read_at(100, &mut buf).unwrap(), 0);
        assert_eq!(snap.read_at(95, &mut buf).unwrap(), 5);
        assert_eq!(buf[..5], [5u8; 5]);
        reg.end(1);
        assert!(snap.read_at(0, &mut buf).is_err());
    }
}
