//! [`LiveFileGuard`]: hold a live file exclusively and learn of foreign opens,
//! for servers that must survive being backed up.
//!
//! What Mail did with "Microsoft Mail Data", on today's Linux: open the file
//! for reading and writing, take an exclusive `flock` (so lock-aware
//! programs — `mailsim backup --open-files respect-locks`, or anything that
//! asks with `flock` — stay away), and watch it with inotify, since the lock
//! is advisory and a lock-unaware backup reads the file anyway. What to do on
//! a foreign open (shut down, keep going) is the embedder's choice.
//!
//! What does not live here: the lock calls ([`super::lock`]), the watch
//! ([`super::OpenWatch`]), the holder lookup ([`super::proc_locks`]), the
//! clone itself ([`super::reflink`]).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::lock;
use super::proc_locks;
use super::reflink::{self, CloneOutcome};
use crate::error::{Error, Result};
use crate::volume::VolumePath;
use crate::volume::os::OpenWatch;
use crate::volume::os::files::{TEMP_PREFIX, create_new_file, read_all_at, read_full_at, sync_dir};

/// An exclusively locked, watched, open file. Dropping the guard unlocks and
/// closes the file.
///
/// A foreign open is any successful `open(2)` of the file's inode, by any
/// process (this one included) and with any access, after
/// [`LiveFileGuard::acquire`] returned, except the opens made through
/// [`LiveFileGuard::reopen_own`]. Lock-aware readers that ask
/// [`proc_locks::holder`] before opening never become one. On systems other
/// than Linux foreign opens cannot be seen and the count stays at 0 (see
/// `real::watch`).
///
/// The guard's own copies are never foreign opens: [`file`](Self::file),
/// [`read_own_copy`](Self::read_own_copy) and
/// [`snapshot_to`](Self::snapshot_to) (a clone, or a copy where the file
/// system cannot clone) go through the held descriptor and open nothing,
/// so they count nowhere, with or without fanotify; `reopen_own` opens the
/// file and subtracts its open. Anything else that opens the file by its
/// path counts, this process's own threads included — among them
/// [`reflink::reflink`] given [`path`](Self::path): clone with
/// `snapshot_to` instead.
#[derive(Debug)]
pub struct LiveFileGuard {
    file: File,
    path: PathBuf,
    watch: OpenWatch,
    own_opens: u64,
    reported: u64,
}

/// The `VolumePath` an error about a real file outside any volume carries:
/// a root named after the real path, which displays as that path.
fn as_volume_path(path: &Path) -> VolumePath {
    VolumePath::root(path.display().to_string())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn conflict(path: &Path) -> Error {
    // Every process holding the lock now: several share an inherited one.
    let holder = proc_locks::holders(path)
        .ok()
        .and_then(|all| proc_locks::names(&all))
        .unwrap_or_else(|| "another process".to_owned());
    Error::DenyConflict {
        path: as_volume_path(path),
        holder,
        real_path: Some(path.to_path_buf()),
    }
}

impl LiveFileGuard {
    /// Opens the existing file at `path` for reading and writing, takes an
    /// exclusive lock on it without waiting, and starts counting foreign
    /// opens. The file is not created: a server creates and initialises its
    /// data file first, then guards it.
    ///
    /// Before opening, asks the kernel's lock table whether someone holds a
    /// lock ([`proc_locks::holder`], Linux): if so it refuses without
    /// opening, so the holder does not see this attempt as a foreign open.
    /// Never blocks on a lock.
    ///
    /// # Errors
    /// - [`Error::DenyConflict`] when another open (of this process or
    ///   another) holds a lock on the file; `holder` names the processes
    ///   holding it now, e.g. `"mailsim (pid 1234)"` or `"flock (pid 10),
    ///   sleep (pid 11)"`, or `"another process"` where the system
    ///   cannot tell; `real_path` (and [`Error::path`]) is the real path,
    ///   and `path` is `VolumePath::root` of it, which displays as that
    ///   path. (Where the lock table cannot be read, the
    ///   conflict is found after opening, and the holder may see the open.)
    /// - `Error::Io` naming `path`: missing (`ErrorKind::NotFound`), a
    ///   folder, not readable and writable, or the inotify watch could not be
    ///   created (`EMFILE`: too many inotify instances).
    pub fn acquire(path: &Path) -> Result<LiveFileGuard> {
        let meta = std::fs::metadata(path).map_err(io_error(path))?;
        if !meta.is_file() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        if let Ok(Some(_)) = proc_locks::holder(path) {
            return Err(conflict(path));
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        if !lock::try_lock_exclusive(&file).map_err(io_error(path))? {
            return Err(conflict(path));
        }
        // Dropping `file` on error releases the lock.
        let watch = OpenWatch::new(path).map_err(io_error(path))?;
        Ok(LiveFileGuard {
            file,
            path: path.to_path_buf(),
            watch,
            own_opens: 0,
            reported: 0,
        })
    }

    /// The held file, opened for reading and writing. Reads and writes
    /// through it (and clones of it made with `try_clone`, which share its
    /// lock) are not opens.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The path the guard was acquired with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file again, read-only and unlocked, as the guard's own open:
    /// it is subtracted from the foreign count. For copying the file aside
    /// (e.g. with `RotationWriter::write_from`) without moving the held
    /// handle's cursor.
    ///
    /// # Errors
    /// `Error::Io` naming the path.
    pub fn reopen_own(&mut self) -> Result<File> {
        let f = File::open(&self.path).map_err(io_error(&self.path))?;
        self.own_opens += 1;
        Ok(f)
    }

    /// The whole file, read through the held handle (positioned reads from
    /// offset 0; the handle's cursor does not move): no new open.
    ///
    /// # Errors
    /// `Error::Io` naming the path.
    pub fn read_own_copy(&mut self) -> Result<Vec<u8>> {
        read_all_at(&self.file).map_err(io_error(&self.path))
    }

    /// Makes `dst` a point-in-time copy of the held file, replacing any file
    /// there, crash-safely, without opening the held file again: not a
    /// foreign open (see [`LiveFileGuard`]).
    ///
    /// First a copy-on-write clone through the held descriptor
    /// ([`reflink::reflink_from`]: `FICLONE`, O(1), atomic with respect to
    /// every writer). Where the file system cannot clone (ext4, or `dst` on
    /// another file system), a byte copy read through the held descriptor
    /// with positioned reads (its cursor does not move) to a temporary name
    /// beside `dst` ([`TEMP_PREFIX`]`-snapshot-PID-N`), with the held file's
    /// permissions, synced, renamed over `dst`, the folder synced: after a
    /// crash `dst` is its old self or the whole copy. The byte copy is a
    /// point-in-time image only if nobody writes the file during it: call it
    /// between the server's own transactions. Blocks for the copy and the
    /// syncs.
    ///
    /// # Errors
    /// `Error::Io` naming `dst` when it is the guarded file itself
    /// (`ErrorKind::InvalidInput`), when its folder is missing or not writable,
    /// the disk fills (`ErrorKind::StorageFull`), or a sync or rename fails;
    /// naming the held file's path when reading it fails. Nothing is left
    /// at the temporary name on an error.
    pub fn snapshot_to(&self, dst: &Path) -> Result<OwnSnapshot> {
        if self.is_held_file(dst) {
            // A rename over the held file would leave the guard holding an
            // inode nobody else can reach.
            return Err(Error::Io {
                path: dst.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "the guarded file itself"),
            });
        }
        let reason = match reflink::reflink_from(&self.file, &self.path, dst)? {
            CloneOutcome::Cloned => return Ok(OwnSnapshot::Cloned),
            CloneOutcome::Unsupported { reason } => reason,
        };
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tmp = dst.with_file_name(format!("{TEMP_PREFIX}-snapshot-{}-{n}", std::process::id()));
        let dst_err = |source| Error::Io {
            path: dst.to_path_buf(),
            source,
        };
        let copied = (|| -> Result<u64> {
            let mut out = create_new_file(&tmp).map_err(dst_err)?;
            let perms = self.file.metadata().map_err(io_error(&self.path))?;
            out.set_permissions(perms.permissions()).map_err(dst_err)?;
            let mut buf = vec![0u8; 1 << 20];
            let mut offset = 0u64;
            loop {
                let n = read_full_at(&self.file, &mut buf, offset).map_err(io_error(&self.path))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(dst_err)?;
                offset += n as u64;
            }
            out.sync_all().map_err(dst_err)?;
            std::fs::rename(&tmp, dst).map_err(dst_err)?;
            Ok(offset)
        })();
        match copied {
            Ok(bytes) => {
                sync_dir(dst.parent().unwrap_or(Path::new("."))).map_err(dst_err)?;
                Ok(OwnSnapshot::Copied { bytes, reason })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Whether `path` names the held file (a `stat`, which opens nothing).
    fn is_held_file(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (std::fs::metadata(path), self.file.metadata()) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            path == self.path
        }
    }

    /// How many foreign opens happened since [`LiveFileGuard::acquire`].
    /// Never blocks.
    ///
    /// # Errors
    /// `Error::Io` naming the path when the watch cannot be read.
    pub fn foreign_opens(&mut self) -> Result<u64> {
        let n = self.count()?;
        self.reported = n;
        Ok(n)
    }

    /// Waits until a foreign open the caller has not been told of yet has
    /// happened — one beyond the count last returned by
    /// [`LiveFileGuard::foreign_opens`] or noticed by this method (0 at
    /// acquire) — and returns `true`; returns `false` once `timeout` has
    /// passed without one. Bounded by `timeout` plus about a millisecond:
    /// see [`OpenWatch::wait_for_open`]. An open made between two calls is
    /// never missed.
    ///
    /// # Errors
    /// `Error::Io` naming the path when the watch cannot be read.
    pub fn wait_for_foreign_open(&mut self, timeout: Duration) -> Result<bool> {
        let start = std::time::Instant::now();
        loop {
            let n = self.count()?;
            if n > self.reported {
                self.reported = n;
                return Ok(true);
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            self.watch
                .wait_for_open(left)
                .map_err(io_error(&self.path))?;
        }
    }

    fn count(&mut self) -> Result<u64> {
        let seen = self.watch.opens().map_err(io_error(&self.path))?;
        Ok(seen.saturating_sub(self.own_opens))
    }
}

/// How [`LiveFileGuard::snapshot_to`] made its copy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnSnapshot {
    /// A copy-on-write clone of the held file: it shares the file's blocks
    /// until either side writes.
    Cloned,
    /// The file system cannot clone here: the bytes were copied through the
    /// held descriptor.
    Copied {
        /// How many bytes were copied (the file's length when the copy
        /// ended).
        bytes: u64,
        /// Why no clone, as the system said it, e.g. "Operation not
        /// supported (os error 95)".
        reason: String,
    },
}

impl Drop for LiveFileGuard {
    fn drop(&mut self) {
        // Closing the file would release the lock too; unlocking first makes
        // the release independent of clones of the handle still alive.
        let _ = lock::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exclusively_and_sees_foreign_opens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        std::fs::write(&p, b"mail").unwrap();
        let mut g = LiveFileGuard::acquire(&p).unwrap();
        assert_eq!(g.path(), p);

        // A second guard is refused, naming this process, and is no open.
        let err = LiveFileGuard::acquire(&p).unwrap_err();
        match &err {
            Error::DenyConflict {
                holder,
                path,
                real_path,
            } => {
                assert_eq!(real_path.as_deref(), Some(p.as_path()));
                assert_eq!(err.path(), Some(p.as_path()));
                assert!(
                    !OpenWatch::is_supported()
                        || holder.contains(&format!("(pid {})", std::process::id())),
                    "{holder}"
                );
                assert_eq!(path.to_string(), p.display().to_string());
            }
            other => panic!("{other}"),
        }
        assert_eq!(g.foreign_opens().unwrap(), 0);

        // Own reads are no foreign opens.
        assert_eq!(g.read_own_copy().unwrap(), b"mail");
        let mut own = g.reopen_own().unwrap();
        let mut s = String::new();
        io::Read::read_to_string(&mut own, &mut s).unwrap();
        assert_eq!(s, "mail");
        assert_eq!(g.foreign_opens().unwrap(), 0);
        assert!(!g.wait_for_foreign_open(Duration::from_millis(10)).unwrap());

        if OpenWatch::is_supported() {
            let q = p.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(File::open(&q).unwrap());
            });
            let start = std::time::Instant::now();
            assert!(g.wait_for_foreign_open(Duration::from_secs(1)).unwrap());
            eprintln!(
                "LiveFileGuard: foreign open seen {:?} after the wait began (open at ~20 ms)",
                start.elapsed()
            );
            t.join().unwrap();
            assert_eq!(g.foreign_opens().unwrap(), 1);
            // Already told: no new one.
            assert!(!g.wait_for_foreign_open(Duration::from_millis(10)).unwrap());
            // An open between calls is not missed.
            drop(File::open(&p).unwrap());
            assert!(g.wait_for_foreign_open(Duration::ZERO).unwrap());
            assert_eq!(g.foreign_opens().unwrap(), 2);
        }

        drop(g);
        let g = LiveFileGuard::acquire(&p).unwrap();
        drop(g);
        assert!(matches!(
            LiveFileGuard::acquire(&dir.path().join("missing")),
            Err(Error::Io { .. })
        ));
        assert!(matches!(
            LiveFileGuard::acquire(dir.path()),
            Err(Error::Io { .. })
        ));
    }

    /// Regression: the guard's own clone of its file (and, where the file
    /// system cannot clone, as on ext4, its fallback copy) was counted as a
    /// foreign open; another process's open still is.
    #[test]
    fn own_snapshots_are_no_foreign_opens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        let image: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(&p, &image).unwrap();
        let mut g = LiveFileGuard::acquire(&p).unwrap();
        let dst = dir.path().join("Mail Data Snapshot");
        std::fs::write(&dst, b"an older snapshot").unwrap();
        for _ in 0..2 {
            let how = g.snapshot_to(&dst).unwrap();
            eprintln!("LiveFileGuard::snapshot_to on this file system: {how:?}");
            match &how {
                OwnSnapshot::Cloned => {}
                OwnSnapshot::Copied { bytes, reason } => {
                    assert_eq!(*bytes, image.len() as u64);
                    assert!(!reason.is_empty());
                }
            }
            assert!(std::fs::read(&dst).unwrap() == image);
        }
        // The held handle's cursor did not move.
        assert_eq!(
            io::Seek::stream_position(&mut g.file()).unwrap(),
            0,
            "cursor"
        );
        assert_eq!(g.foreign_opens().unwrap(), 0);
        assert!(!g.wait_for_foreign_open(Duration::from_millis(10)).unwrap());
        // Nothing left at a temporary name.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["Mail Data Snapshot", "Microsoft Mail Data"]);
        assert!(matches!(
            g.snapshot_to(&p),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::InvalidInput
        ));
        assert!(std::fs::read(&p).unwrap() == image);
        assert!(matches!(
            g.snapshot_to(&dir.path().join("missing").join("snapshot")),
            Err(Error::Io { path, .. }) if path.ends_with("missing/snapshot")
        ));

        if OpenWatch::is_supported() {
            // A clone by path opens the file: it counts, even from this
            // process, which is why the guard clones through its handle.
            reflink::reflink(g.path(), &dst).unwrap();
            assert!(g.wait_for_foreign_open(Duration::from_secs(5)).unwrap());
            assert_eq!(g.foreign_opens().unwrap(), 1);
            // Another process's open counts.
            let status = std::process::Command::new("cat")
                .arg(&p)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            assert!(g.wait_for_foreign_open(Duration::from_secs(5)).unwrap());
            assert_eq!(g.foreign_opens().unwrap(), 2);
            // And the guard's own snapshots still do not.
            g.snapshot_to(&dst).unwrap();
            assert_eq!(g.foreign_opens().unwrap(), 2);
        }
    }
}
