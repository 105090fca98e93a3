//! Who has a file open, asked **without opening it**: the processes whose
//! descriptors (`/proc/PID/fd/N`) lead to the file's inode.
//!
//! `stat` of a `/proc/PID/fd/N` link reports the device and inode of the
//! open file it stands for, and opens nothing, so asking notifies nobody's
//! inotify watch. What it sees: every process of this user (every process,
//! for root), in this pid namespace; a descriptor passed away or closed a
//! moment later is a race the answer may lose, so it is a snapshot. What it
//! does not: memory mappings without a descriptor, and processes it may not
//! look into.
//!
//! The same scan, with each descriptor's `/proc/PID/fdinfo/N` text, is
//! what [`super::proc_locks`] reads the lock lines from: a lock held through
//! an open file description shows in the fdinfo of every descriptor that
//! shares it, so the processes holding a lock *now* are found here.
//!
//! Elsewhere than Linux there is no such table: [`openers`] answers an
//! empty list, after checking that the path exists.

use std::fmt;
use std::io;
use std::path::Path;

/// A process holding a file open.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Opener {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), when it could be read.
    pub command: Option<String>,
    /// Whether one of its descriptors of the file was opened for writing
    /// (the access mode of `/proc/PID/fdinfo/N`'s `flags`).
    pub writes: bool,
}

impl fmt::Display for Opener {
    /// `tar (pid 4242)`, or `pid 4242`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.command {
            Some(c) => write!(f, "{c} (pid {})", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}

/// Every process but this one with `path` open, by pid, each once.
/// Bounded work: one `readdir` of `/proc` and of each process's `fd`
/// folder, one `stat` per descriptor; never blocks on the file.
///
/// # Errors
/// The `stat` error for `path`; `/proc` that cannot be listed.
pub fn openers(path: &Path) -> io::Result<Vec<Opener>> {
    imp::openers(path)
}

/// The command name of process `pid` (`/proc/PID/comm`), if it can be read.
pub fn command_of(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim_end_matches('\n');
    (!comm.is_empty()).then(|| comm.to_owned())
}

/// One descriptor, in some process, of a file: what the scan found.
#[cfg(target_os = "linux")]
#[derive(Clone, Debug)]
pub(super) struct Descriptor {
    /// The process holding it.
    pub(super) pid: u32,
    /// Its `/proc/PID/fdinfo/N` text, when it could be read.
    pub(super) fdinfo: Option<String>,
}

#[cfg(target_os = "linux")]
pub(super) use imp::descriptors;

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use super::{Descriptor, Opener, command_of, opened_for_writing};

    pub(super) fn openers(path: &Path) -> io::Result<Vec<Opener>> {
        let meta = std::fs::metadata(path)?;
        let me = std::process::id();
        let mut found: Vec<Opener> = Vec::new();
        for d in descriptors(meta.dev(), meta.ino())? {
            if d.pid == me {
                continue;
            }
            let writes = d.fdinfo.as_deref().is_some_and(opened_for_writing);
            match found.last_mut() {
                Some(o) if o.pid == d.pid => o.writes |= writes,
                _ => found.push(Opener {
                    pid: d.pid,
                    command: command_of(d.pid),
                    writes,
                }),
            }
        }
        found.sort();
        Ok(found)
    }

    /// Every descriptor, in every process this one may look into (itself
    /// included), whose `stat` is the inode `ino` on device `dev`; a
    /// process's descriptors come together. Bounded work, as [`super::openers`].
    ///
    /// # Errors
    /// `/proc` that cannot be listed.
    pub(in crate::volume::os) fn descriptors(dev: u64, ino: u64) -> io::Result<Vec<Descriptor>> {
        let want = (dev, ino);
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process that ended, or one we may not look into.
            let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.filter_map(Result::ok) {
                if std::fs::metadata(fd.path()).is_ok_and(|m| (m.dev(), m.ino()) == want) {
                    let info = entry.path().join("fdinfo").join(fd.file_name());
                    found.push(Descriptor {
                        pid,
                        fdinfo: std::fs::read_to_string(info).ok(),
                    });
                }
            }
        }
        Ok(found)
    }
}

/// Whether an fdinfo text's `flags:` (octal) open the file for writing:
/// access mode `O_WRONLY` (1) or `O_RDWR` (2).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn opened_for_writing(fdinfo: &str) -> bool {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| matches!(flags & 0o3, 1 | 2))
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::path::Path;

    use super::Opener;

    pub(super) fn openers(path: &Path) -> io::Result<Vec<Opener>> {
        std::fs::metadata(path)?;
        Ok(Vec::new())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::volume::os::OpenWatch;

    #[test]
    fn finds_a_process_holding_the_file_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        std::fs::write(&p, b"mail").unwrap();
        let mut watch = OpenWatch::new(&p).unwrap();
        assert_eq!(openers(&p).unwrap(), []);
        // A reader that was there first: `sleep` with the file as stdin.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&p).unwrap())
            .spawn()
            .unwrap();
        let before = watch.opens().unwrap();
        let found = openers(&p).unwrap();
        assert_eq!(watch.opens().unwrap(), before, "asking opens nothing");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, child.id());
        assert_eq!(found[0].to_string(), format!("sleep (pid {})", child.id()));
        assert!(!found[0].writes);
        // A writer is told apart.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdout(std::fs::File::options().append(true).open(&p).unwrap())
            .spawn()
            .unwrap();
        let found = openers(&p).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.len() == 1 && found[0].writes, "{found:?}");
        assert!(opened_for_writing("pos:\t0\nflags:\t0100002\n"));
        assert!(!opened_for_writing("pos:\t0\nflags:\t0100000\n"));
        assert!(!opened_for_writing("garbage"));
        // This process's own descriptors do not count.
        let _mine = std::fs::File::open(&p).unwrap();
        assert_eq!(openers(&p).unwrap(), []);
    }
}
