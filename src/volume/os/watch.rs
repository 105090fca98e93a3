//! [`OpenWatch`]: how the holder of a file learns that someone opened it.
//!
//! `flock` is advisory: a lock-unaware backup opens and reads a file the
//! server holds exclusively, and nothing in the lock tells the server. On
//! Linux the kernel does tell, through inotify: an `IN_OPEN` watch on the
//! file's inode is sent one event for every successful `open(2)` of that
//! inode, by any process, through any path or hard link, whatever the access
//! mode, whether or not the opener asks for a lock. That is the real-file
//! equivalent of the File Manager telling the holder of a foreign access.
//!
//! What counts as an open, and what does not:
//! - counted: every successful open of the inode after the watch was added,
//!   *including this process's own opens* (its own later opens are
//!   indistinguishable from foreign ones; callers such as
//!   [`OsVolume`](crate::volume::OsVolume) and [`super::LiveFileGuard`]
//!   count their own opens and subtract them, or, as the guard's
//!   snapshots do, read and clone through a descriptor they already hold,
//!   which opens nothing);
//! - not counted: opens that failed (missing permission, `ENOENT`); `stat`,
//!   `/proc/locks` and `/proc/PID/fd` lookups, `inotify` and `fanotify`
//!   themselves (fanotify's event descriptors are opened without notifying), listing the folder; reads and
//!   writes through descriptors opened before the watch was added (the
//!   holder's own handle); a `mmap` or `read` on an already-open descriptor
//!   passed between processes;
//! - once the file is deleted (its last link removed) or its file system
//!   unmounted, the watch ends and the count stops growing; a rename keeps
//!   the watch, since it follows the inode, and a file *replaced* by rename
//!   is a new inode that is not watched;
//! - if the kernel's event queue overflows (more than
//!   `/proc/sys/fs/inotify/max_queued_events`, 16,384 by default, unread
//!   events), the lost events are counted as one open: at least one open
//!   happened, and a holder that reacts to the first foreign open loses
//!   nothing by it.
//!
//! # Who opened it
//!
//! inotify says that an open happened, not who made it. Where the process
//! may use fanotify (root, `CAP_SYS_ADMIN`; not disabled by
//! `MAILSIM_NO_FANOTIFY=1` or [`OpenWatch::without_fanotify`]), the watch
//! also keeps a fanotify group with a `FAN_OPEN` mark on the inode, whose
//! events carry the opener's pid: [`OpenWatch::drain_openers`] names every
//! process that opened the file since the last call, even one that closed
//! it and exited at once, this process left out. Elsewhere it names the
//! processes that have the file open *at the call* (the `/proc/PID/fd`
//! scan of [`super::proc_fds`]): a quick opener that is gone by then goes
//! unnamed. [`OpenedBy::named_by`] says which. fanotify only names: the
//! count of opens is inotify's either way.
//!
//! Each watch uses one inotify instance (and, with fanotify, one fanotify
//! group; when none can be had, the watch names by the scan); the kernel limits a user to
//! `/proc/sys/fs/inotify/max_user_instances` (128 by default) and
//! [`OpenWatch::new`] fails with `EMFILE` past it.
//!
//! # Elsewhere
//!
//! On systems other than Linux, foreign opens cannot be detected:
//! [`OpenWatch::is_supported`] is `false`, [`OpenWatch::new`] succeeds (after
//! checking that the path exists) and the count stays at 0 forever, so
//! [`OpenWatch::wait_for_open`] always waits for its whole timeout. A holder
//! there never learns of a lock-unaware reader: the night plays out as under
//! the `Tolerate` reaction.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(target_os = "linux")]
mod fanotify;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as imp;

/// What a watch has seen happen to its file since it was created (Linux;
/// elsewhere every count stays 0). Counts are of events the kernel queued:
/// consecutive writes not yet read may be merged into one, so
/// `modifications` counts bursts of writes, at least one per burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileEvents {
    /// Successful opens (as [`OpenWatch::opens`]).
    pub opens: u64,
    /// Writes and truncations (`IN_MODIFY`), by anyone, through any
    /// descriptor, the holder's own included.
    pub modifications: u64,
    /// Changes of metadata (`IN_ATTRIB`): permissions, times, and the link
    /// count, which an unlink drops.
    pub attribute_changes: u64,
    /// The inode was deleted (`IN_DELETE_SELF`: its last link is gone and
    /// nobody holds it open any more).
    pub deleted: bool,
    /// The file was renamed (`IN_MOVE_SELF`), under its folder or another.
    pub moved: bool,
    /// The kernel's queue overflowed: events were lost (an open and a
    /// write may both have happened).
    pub overflowed: bool,
}

/// How an opener came to be named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NamedBy {
    /// fanotify's event for the open carried its pid.
    Fanotify,
    /// The process had the file open when `/proc/PID/fd` was scanned.
    ProcScan,
}

/// A process that opened a watched file, as [`OpenWatch::drain_openers`]
/// names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct OpenedBy {
    /// Its process id, in this process's pid namespace.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), when it could be read.
    pub command: Option<String>,
    /// What named it.
    pub named_by: NamedBy,
}

impl fmt::Display for OpenedBy {
    /// `tar (pid 4242)`, or `pid 4242`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.command {
            Some(c) => write!(f, "{c} (pid {})", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}

/// Whether `MAILSIM_NO_FANOTIFY` asks for no fanotify (set, not `0`).
fn fanotify_disabled() -> bool {
    std::env::var_os("MAILSIM_NO_FANOTIFY").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Counts the successful opens of one file since the watch was created,
/// and names who made them.
///
/// `Send + Sync`; dropping it removes the watch.
#[derive(Debug)]
pub struct OpenWatch {
    inner: imp::Watch,
    path: PathBuf,
}

impl OpenWatch {
    /// Starts watching `path` for opens, naming openers by fanotify where
    /// permitted and not disabled by `MAILSIM_NO_FANOTIFY=1` (see the
    /// module docs). Does not open `path` itself (adding a watch or a mark
    /// is no open). Follows a symlink at `path` to its target.
    ///
    /// # Errors
    /// `ErrorKind::NotFound` when `path` does not exist; on Linux, the
    /// `inotify_init1` or `inotify_add_watch` error (`EMFILE` when the user's
    /// inotify instances are used up, `ENOSPC` when the user's watches are).
    /// A fanotify group that cannot be had is no error: the watch names by
    /// the `/proc` scan.
    pub fn new(path: &Path) -> io::Result<OpenWatch> {
        Self::with(path, !fanotify_disabled())
    }

    /// As [`OpenWatch::new`], naming openers by the `/proc` scan only.
    ///
    /// # Errors
    /// As [`OpenWatch::new`].
    pub fn without_fanotify(path: &Path) -> io::Result<OpenWatch> {
        Self::with(path, false)
    }

    fn with(path: &Path, fanotify: bool) -> io::Result<OpenWatch> {
        Ok(OpenWatch {
            inner: imp::Watch::new(path, fanotify)?,
            path: path.to_path_buf(),
        })
    }

    /// How [`OpenWatch::drain_openers`] names: [`NamedBy::Fanotify`] when
    /// this watch has its fanotify group, else [`NamedBy::ProcScan`].
    pub fn names_by(&self) -> NamedBy {
        self.inner.names_by()
    }

    /// Who opened the file: with fanotify, every process other than this
    /// one that opened it since the last call (each once, by the order of
    /// their first open, at most 64); without, every process other than
    /// this one that has it open now (by pid). Drains the queue as
    /// [`OpenWatch::opens`] does. Never blocks; the scan is bounded as
    /// [`super::proc_fds::openers`].
    ///
    /// # Errors
    /// As [`OpenWatch::opens`]; for the scan, the `stat` error for the path
    /// (e.g. a file renamed away since the watch began) or `/proc` that
    /// cannot be listed.
    pub fn drain_openers(&mut self) -> io::Result<Vec<OpenedBy>> {
        self.inner.drain()?;
        if let Some(named) = self.inner.take_openers() {
            return Ok(named);
        }
        Ok(super::proc_fds::openers(&self.path)?
            .into_iter()
            .map(|o| OpenedBy {
                pid: o.pid,
                command: o.command,
                named_by: NamedBy::ProcScan,
            })
            .collect())
    }

    /// Whether this system can detect opens at all (Linux: `true`).
    pub fn is_supported() -> bool {
        imp::SUPPORTED
    }

    /// The number of opens seen since [`OpenWatch::new`], after draining
    /// every event the kernel has queued. Never blocks. An open that returned
    /// before this call began is always counted.
    ///
    /// # Errors
    /// An error reading the inotify descriptor (not expected in practice).
    pub fn opens(&mut self) -> io::Result<u64> {
        self.inner.drain()?;
        Ok(self.inner.count())
    }

    /// Everything seen of the file since [`OpenWatch::new`], after draining
    /// every event the kernel has queued. Never blocks.
    ///
    /// # Errors
    /// As [`OpenWatch::opens`].
    pub fn events(&mut self) -> io::Result<FileEvents> {
        self.inner.drain()?;
        Ok(self.inner.events())
    }

    /// Waits until the count of opens grows past its value at the call, or
    /// until `timeout` has passed, whichever comes first, and returns the
    /// count. Every wait is bounded by `timeout` (plus at most about a
    /// millisecond): the queue is polled in sleeps that grow from 50 µs to
    /// 1 ms, so an open is noticed within about a millisecond of happening.
    /// With a zero timeout it is [`OpenWatch::opens`].
    ///
    /// # Errors
    /// As [`OpenWatch::opens`].
    pub fn wait_for_open(&mut self, timeout: Duration) -> io::Result<u64> {
        let start = std::time::Instant::now();
        let before = self.opens()?;
        let mut nap = Duration::from_micros(50);
        loop {
            let now = self.opens()?;
            let elapsed = start.elapsed();
            if now > before || elapsed >= timeout {
                return Ok(now);
            }
            std::thread::sleep(nap.min(timeout - elapsed));
            nap = (nap * 2).min(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::Instant;

    #[test]
    fn counts_opens_of_its_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        let other = dir.path().join("other");
        std::fs::write(&p, b"mail").unwrap();
        std::fs::write(&other, b"x").unwrap();
        let held = File::options().read(true).write(true).open(&p).unwrap();
        let mut w = OpenWatch::new(&p).unwrap();
        assert_eq!(w.opens().unwrap(), 0);
        // Not opens: stat, the holder's own descriptor, another file.
        std::fs::metadata(&p).unwrap();
        crate::volume::os::proc_locks::holder(&p).unwrap();
        let _ = std::io::Read::read(&mut &held, &mut [0; 4]).unwrap();
        drop(File::open(&other).unwrap());
        assert_eq!(w.opens().unwrap(), 0);
        assert_eq!(w.wait_for_open(Duration::from_millis(20)).unwrap(), 0);

        if !OpenWatch::is_supported() {
            drop(File::open(&p).unwrap());
            assert_eq!(w.opens().unwrap(), 0);
            return;
        }
        drop(File::open(&p).unwrap());
        assert_eq!(w.opens().unwrap(), 1);
        drop(File::options().write(true).open(&p).unwrap());
        assert_eq!(w.opens().unwrap(), 2);
    }

    #[test]
    fn wait_returns_soon_after_an_open_in_another_thread() {
        if !OpenWatch::is_supported() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        std::fs::write(&p, b"mail").unwrap();
        let mut w = OpenWatch::new(&p).unwrap();
        let mut worst = Duration::ZERO;
        for round in 1..=20u64 {
            let (tx, rx) = std::sync::mpsc::channel();
            let q = p.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                let f = File::open(&q).unwrap();
                tx.send(Instant::now()).unwrap();
                drop(f);
            });
            let n = w.wait_for_open(Duration::from_secs(5)).unwrap();
            let seen = Instant::now();
            assert_eq!(n, round);
            let opened = rx.recv().unwrap();
            worst = worst.max(seen.saturating_duration_since(opened));
            t.join().unwrap();
        }
        eprintln!("OpenWatch: worst detection latency over 20 opens: {worst:?}");
    }

    /// A child's open, named by its pid: by fanotify's event, even once the
    /// child is gone, where permitted; by the scan while it has it open.
    #[test]
    fn names_the_process_that_opened_the_file() {
        if !OpenWatch::is_supported() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        std::fs::write(&p, b"mail").unwrap();

        let mut w = OpenWatch::new(&p).unwrap();
        if w.names_by() == NamedBy::Fanotify {
            let mut cat = std::process::Command::new("cat")
                .arg(&p)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // cat has closed the file and exited; not yet reaped, its
            // command name can still be read.
            let stat = format!("/proc/{}/stat", cat.id());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !std::fs::read_to_string(&stat).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            }) && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            let named = w.drain_openers().unwrap();
            cat.wait().unwrap();
            assert_eq!(w.opens().unwrap(), 1);
            assert_eq!(named.len(), 1, "{named:?}");
            assert_eq!(named[0].named_by, NamedBy::Fanotify);
            assert_eq!(named[0].to_string(), format!("cat (pid {})", cat.id()));
            // Named once; this process's own opens are not named.
            drop(File::open(&p).unwrap());
            assert_eq!(w.drain_openers().unwrap(), []);
            assert_eq!(w.opens().unwrap(), 2);
        } else {
            eprintln!("fanotify not permitted here: only the scan is tested");
        }

        let mut w = OpenWatch::without_fanotify(&p).unwrap();
        assert_eq!(w.names_by(), NamedBy::ProcScan);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(File::open(&p).unwrap())
            .spawn()
            .unwrap();
        let named = w.drain_openers().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(named.len(), 1, "{named:?}");
        assert_eq!(named[0].pid, child.id());
        assert_eq!(named[0].named_by, NamedBy::ProcScan);
        assert_eq!(named[0].to_string(), format!("sleep (pid {})", child.id()));
        // Gone: the scan names nobody.
        assert_eq!(w.drain_openers().unwrap(), []);
    }
}
