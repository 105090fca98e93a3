//! Who holds a lock on a file, asked **without opening it**.
//!
//! A lock-aware backup (`RespectLocks`) must not be a foreign access, yet
//! `flock` needs an open file, and on Linux merely opening the file wakes the
//! holder's inotify watch. So the question is put to the kernel's lock table
//! instead: [`holder`] and [`holders`] `stat` the path (its device and inode;
//! `stat` opens nothing and notifies nobody), read `/proc/locks`, and return
//! the locks held on that inode, with the holder's process id and its
//! command name (`/proc/PID/comm`).
//!
//! # What the kernel can tell
//!
//! - `FLOCK` (fs2, `flock(2)`) and `POSIX` (`fcntl`) locks are reported, with
//!   the pid of the process that took the lock. A lock inherited across
//!   `fork` still names the process that took it. `OFDLCK` locks (open file
//!   description locks) belong to no process: they are reported with
//!   `pid: None`. Leases and delegations are not locks and are left out.
//! - Pids are translated into this process's pid namespace; a holder outside
//!   it (another container) shows as `pid: None`.
//! - Waiters (`->` lines: processes blocked asking for the lock) hold nothing
//!   and are skipped.
//! - The table is matched by device and inode, as `lslocks` does. On file
//!   systems whose `stat` device is not the superblock's device (btrfs
//!   subvolumes, some overlay set-ups) nothing matches and the answer is "no
//!   holder". On this machine's ext4 it is exact.
//! - The answer is a snapshot: a lock may be taken or released right after.
//!
//! # Elsewhere
//!
//! On systems other than Linux there is no way to ask who holds a lock
//! without opening the file: [`holder`] returns `Ok(None)` and [`holders`] an
//! empty list, after checking that the path exists. Lock-aware readers then
//! rely on [`super::lock::try_lock_shared`] after opening, at the cost that
//! their open is visible to the holder (there is no inotify there either, so
//! the holder cannot see it: see `OpenWatch`).

use std::fmt;
use std::io;
use std::path::Path;

/// One lock on a file, as the kernel's lock table reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockHolder {
    /// The holding process, in this process's pid namespace; `None` for an
    /// open-file-description lock or a process the namespace cannot see.
    pub pid: Option<u32>,
    /// `true` for an exclusive (`WRITE`) lock, `false` for a shared (`READ`)
    /// one. fs2's exclusive lock is `WRITE`.
    pub write: bool,
    /// The holder's command name (`/proc/PID/comm`: at most 15 bytes, e.g.
    /// `mailsim`), when it could be read.
    pub command: Option<String>,
}

impl fmt::Display for LockHolder {
    /// `mailsim (pid 1234)`, `pid 1234`, or `another process`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.command, self.pid) {
            (Some(c), Some(pid)) => write!(f, "{c} (pid {pid})"),
            (None, Some(pid)) => write!(f, "pid {pid}"),
            (Some(c), None) => f.write_str(c),
            (None, None) => f.write_str("another process"),
        }
    }
}

/// The holder of a lock on `path`: the first exclusive (`WRITE`) holder if
/// any, else the first shared (`READ`) one, else `None`.
///
/// Never opens `path` and never blocks (it reads `/proc/locks`, whose size
/// is bounded by the number of locks on the machine). Locks held by this
/// process are included: the caller tells its own apart by pid if it needs
/// to.
///
/// # Errors
/// The `stat` error for `path` (e.g. `ErrorKind::NotFound`); an error reading
/// `/proc/locks` (e.g. `/proc` not mounted).
pub fn holder(path: &Path) -> io::Result<Option<LockHolder>> {
    let all = holders(path)?;
    let first_writer = all.iter().position(|h| h.write);
    Ok(match first_writer {
        Some(i) => all.into_iter().nth(i),
        None => all.into_iter().next(),
    })
}

/// Every lock held on `path`, in the order of the kernel's table (oldest
/// first). One entry per lock: a process holding two opens each with a
/// `flock` appears twice. Same blocking behaviour and errors as [`holder`].
pub fn holders(path: &Path) -> io::Result<Vec<LockHolder>> {
    imp::holders(path)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use super::LockHolder;

    pub(super) fn holders(path: &Path) -> io::Result<Vec<LockHolder>> {
        let meta = std::fs::metadata(path)?;
        let table = std::fs::read_to_string("/proc/locks")?;
        let (major, minor) = split_dev(meta.dev());
        Ok(parse(&table, major, minor, meta.ino())
            .map(|(pid, write)| LockHolder {
                pid,
                write,
                command: pid.and_then(command_of),
            })
            .collect())
    }

    fn command_of(pid: u32) -> Option<String> {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let comm = comm.trim_end_matches('\n');
        (!comm.is_empty()).then(|| comm.to_owned())
    }

    /// Linux's user-space `dev_t` encoding (glibc's `gnu_dev_major` and
    /// `gnu_dev_minor`): major in bits 8..20 and 32..44, minor in bits 0..8
    /// and 20..32.
    pub(super) fn split_dev(dev: u64) -> (u32, u32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
        let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
        (major as u32, minor as u32)
    }

    /// The `(pid, write)` of every lock in `table` on the given device and
    /// inode. Lines look like
    /// `1: FLOCK  ADVISORY  WRITE 12345 08:01:1835269 0 EOF`; waiters like
    /// `1: -> FLOCK  ADVISORY  WRITE 12346 08:01:1835269 0 EOF`.
    pub(super) fn parse(
        table: &str,
        major: u32,
        minor: u32,
        ino: u64,
    ) -> impl Iterator<Item = (Option<u32>, bool)> + '_ {
        table.lines().filter_map(move |line| {
            let mut fields = line.split_whitespace();
            fields.next()?; // "1:"
            let kind = fields.next()?;
            if !matches!(kind, "FLOCK" | "POSIX" | "OFDLCK") {
                return None; // "->" waiters, leases, delegations
            }
            let rest: Vec<&str> = fields.collect();
            // The device field is the first with two colons; the pid and the
            // access precede it (lease lines may carry extra words before).
            let at = rest.iter().position(|f| f.matches(':').count() == 2)?;
            let (pid, access) = (rest.get(at.checked_sub(1)?)?, rest.get(at.checked_sub(2)?)?);
            let mut dev = rest[at].split(':');
            let maj = u32::from_str_radix(dev.next()?, 16).ok()?;
            let min = u32::from_str_radix(dev.next()?, 16).ok()?;
            let i: u64 = dev.next()?.parse().ok()?;
            if (maj, min, i) != (major, minor, ino) {
                return None;
            }
            let write = match *access {
                "WRITE" => true,
                "READ" => false,
                _ => return None,
            };
            let pid = pid.parse::<i64>().ok()?;
            let pid = u32::try_from(pid).ok().filter(|&p| p > 0);
            Some((pid, write))
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;
    use std::path::Path;

    use super::LockHolder;

    pub(super) fn holders(path: &Path) -> io::Result<Vec<LockHolder>> {
        std::fs::metadata(path)?;
        Ok(Vec::new())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::volume::os::lock;
    use std::fs::File;

    #[test]
    fn splits_linux_dev_t() {
        // makedev(8, 1) and makedev(0xfe, 0) in the small encoding.
        assert_eq!(imp::split_dev(0x0801), (8, 1));
        assert_eq!(imp::split_dev(0xfe00), (0xfe, 0));
        // makedev(0x12345, 0x6789a) in the large encoding:
        // minor low 8 bits at 0..8, minor high at 20..32, major low 12 at
        // 8..20, major high at 32..44.
        let (maj, min) = (0x12345u64, 0x6789au64);
        let dev =
            (min & 0xff) | ((maj & 0xfff) << 8) | ((min & !0xff) << 12) | ((maj & !0xfff) << 32);
        assert_eq!(imp::split_dev(dev), (0x12345, 0x6789a));
    }

    #[test]
    fn parses_the_lock_table() {
        let table = "\
1: POSIX  ADVISORY  READ 10 fe:00:7 0 EOF
2: FLOCK  ADVISORY  WRITE 12345 08:01:1835269 0 EOF
2: -> FLOCK  ADVISORY  WRITE 12346 08:01:1835269 0 EOF
3: OFDLCK ADVISORY  READ -1 08:01:1835269 0 EOF
4: LEASE  ACTIVE    READ 77 08:01:1835269 0 EOF
5: FLOCK  ADVISORY  READ 0 08:01:1835269 0 EOF
";
        let got: Vec<_> = imp::parse(table, 8, 1, 1835269).collect();
        assert_eq!(got, [(Some(12345), true), (None, false), (None, false)]);
        assert_eq!(
            imp::parse(table, 0xfe, 0, 7).collect::<Vec<_>>(),
            [(Some(10), false)]
        );
        assert_eq!(imp::parse(table, 8, 2, 1835269).count(), 0);
        assert_eq!(imp::parse("garbage\n\n1:\n", 8, 1, 1).count(), 0);
    }

    #[test]
    fn names_this_process_as_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Microsoft Mail Data");
        std::fs::write(&p, b"mail").unwrap();
        assert_eq!(holder(&p).unwrap(), None);

        let f = File::open(&p).unwrap();
        assert!(lock::try_lock_exclusive(&f).unwrap());
        let h = holder(&p).unwrap().expect("a holder");
        assert_eq!(h.pid, Some(std::process::id()));
        assert!(h.write);
        assert!(h.command.is_some(), "{h:?}");
        assert!(
            h.to_string()
                .contains(&format!("(pid {})", std::process::id()))
        );

        lock::unlock(&f).unwrap();
        assert_eq!(holder(&p).unwrap(), None);

        assert!(lock::try_lock_shared(&f).unwrap());
        let g = File::open(&p).unwrap();
        assert!(lock::try_lock_shared(&g).unwrap());
        let h = holder(&p).unwrap().expect("a holder");
        assert_eq!((h.pid, h.write), (Some(std::process::id()), false));
        assert_eq!(holders(&p).unwrap().len(), 2);
        drop((f, g));
        assert_eq!(holder(&p).unwrap(), None);
        assert!(holder(&dir.path().join("missing")).is_err());
    }
}
