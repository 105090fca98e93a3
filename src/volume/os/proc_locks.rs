//! Who holds a lock on a file, asked **without opening it**.
//!
//! A lock-aware backup (`RespectLocks`) must not be a foreign access, yet
//! `flock` needs an open file, and on Linux merely opening the file wakes the
//! holder's inotify watch. So the question is put to the kernel instead:
//! [`holder`] and [`holders`] `stat` the path (its device and inode; `stat`
//! opens nothing and notifies nobody), read the lock table `/proc/locks`
//! and, when it has a lock on that inode, the `lock:` lines of
//! `/proc/PID/fdinfo/N` of every descriptor of the file (found by `stat` of
//! the `/proc/PID/fd/N` links, as [`super::proc_fds`] does). They return
//! the processes holding each lock now, with their command names
//! (`/proc/PID/comm`).
//!
//! # What the kernel can tell
//!
//! - `/proc/locks` names the process that *took* a lock, which is not always
//!   the one that holds it: `flock(1)` and OFD locks belong to the open file
//!   description, so a lock taken before a `fork` is held by every process
//!   sharing the description, and by the child alone once the taker has
//!   exited; an OFD lock (`F_OFD_SETLK`, sqlite3's, Python's
//!   `fcntl.fcntl(fd, fcntl.F_OFD_SETLK, …)`) names no process at all. A
//!   descriptor's fdinfo shows a `lock:` line for each lock its description
//!   holds (for a `POSIX` lock, in the process that owns it), so the holders
//!   named here are the processes whose descriptors show it: every one of
//!   them, each once per lock, never a process that is gone.
//! - Where no fdinfo shows a lock (processes this one may not look into),
//!   the lock table's pid is the answer if that process is alive, else
//!   `pid: None` (`another process`).
//! - Pids are this process's pid namespace's; a holder outside it (another
//!   container) shows as `pid: None`. Leases and delegations are not locks
//!   and are left out; waiters (`->` lines) hold nothing and are skipped.
//! - Locks are matched by device and inode, as `lslocks` does. On file
//!   systems whose `stat` device is not the superblock's device (btrfs
//!   subvolumes, some overlay set-ups) nothing matches and the answer is "no
//!   holder". On this machine's ext4 it is exact.
//! - The answer is a snapshot: a lock may be taken or released right after.
//!   With no lock on the inode in `/proc/locks` (the common case) the
//!   descriptors are not scanned.
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

/// What kind of lock the kernel reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockKind {
    /// `flock(2)` (fs2, `flock(1)`): held by an open file description.
    Flock,
    /// A POSIX record lock (`fcntl F_SETLK`): held by a process.
    Posix,
    /// An open file description lock (`fcntl F_OFD_SETLK`, sqlite3's).
    Ofd,
}

/// One process holding one lock on a file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockHolder {
    /// The holding process, in this process's pid namespace; `None` where
    /// the kernel does not tell (an OFD lock held by a process this one may
    /// not look into, a process the namespace cannot see).
    pub pid: Option<u32>,
    /// `true` for an exclusive (`WRITE`) lock, `false` for a shared (`READ`)
    /// one. fs2's exclusive lock is `WRITE`.
    pub write: bool,
    /// The holder's command name (`/proc/PID/comm`: at most 15 bytes, e.g.
    /// `mailsim`), when it could be read.
    pub command: Option<String>,
    /// The kind of lock.
    pub kind: LockKind,
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
/// any, else the first shared (`READ`) one, else `None`. Where several
/// processes hold it, [`names`] of [`holders`] names them all.
///
/// Never opens `path` and never blocks: it reads `/proc/locks` (bounded by
/// the number of locks on the machine) and, when a lock is on the file, one
/// `readdir` of `/proc` and of each process's `fd` folder, one `stat` per
/// descriptor. Locks held by this process are included: the caller tells
/// its own apart by pid if it needs to.
///
/// # Errors
/// The `stat` error for `path` (e.g. `ErrorKind::NotFound`); an error reading
/// `/proc/locks` or listing `/proc` (e.g. `/proc` not mounted).
pub fn holder(path: &Path) -> io::Result<Option<LockHolder>> {
    let all = holders(path)?;
    let first_writer = all.iter().position(|h| h.write);
    Ok(match first_writer {
        Some(i) => all.into_iter().nth(i),
        None => all.into_iter().next(),
    })
}

/// Every process holding a lock on `path`, one entry per lock and process,
/// in the order of the kernel's table (oldest lock first), the processes of
/// one lock by pid. A lock inherited across `fork` appears once for each
/// process that holds it now; a process holding two opens each with a
/// `flock` appears twice. Same blocking behaviour and errors as [`holder`].
pub fn holders(path: &Path) -> io::Result<Vec<LockHolder>> {
    imp::holders(path)
}

/// The processes among `holders` that keep others out, as a line names
/// them: those of the exclusive locks if any, else all; each once, joined
/// by `, ` (`flock (pid 10), sleep (pid 11)`). `None` for no holder.
pub fn names(holders: &[LockHolder]) -> Option<String> {
    let writers = holders.iter().any(|h| h.write);
    let mut seen: Vec<String> = Vec::new();
    for h in holders.iter().filter(|h| h.write || !writers) {
        let name = h.to_string();
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    (!seen.is_empty()).then(|| seen.join(", "))
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use super::{LockHolder, LockKind};
    use crate::volume::os::proc_fds::{self, command_of};

    /// One line of a lock table, `/proc/locks`'s or an fdinfo's.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) struct Line {
        /// The line less its index (`FLOCK ADVISORY WRITE 1234
        /// 08:01:5678 0 EOF`): the same lock reads the same in both tables.
        pub(super) key: String,
        pub(super) kind: LockKind,
        pub(super) write: bool,
        /// The pid the table shows: the taker's; `None` for an OFD lock.
        pub(super) pid: Option<u32>,
        /// Major, minor, inode.
        pub(super) dev: (u32, u32, u64),
    }

    pub(super) fn holders(path: &Path) -> io::Result<Vec<LockHolder>> {
        let meta = std::fs::metadata(path)?;
        let (major, minor) = split_dev(meta.dev());
        let want = (major, minor, meta.ino());
        let table = std::fs::read_to_string("/proc/locks")?;
        let locks: Vec<Line> = parse(&table).filter(|l| l.dev == want).collect();
        if locks.is_empty() {
            return Ok(Vec::new());
        }
        // (pid, the lock lines its descriptor shows), per descriptor.
        let shown: Vec<(u32, Vec<Line>)> = proc_fds::descriptors(meta.dev(), meta.ino())?
            .into_iter()
            .map(|d| {
                let lines = d.fdinfo.as_deref().map_or_else(Vec::new, |t| {
                    parse_fdinfo(t).filter(|l| l.dev == want).collect()
                });
                (d.pid, lines)
            })
            .collect();
        Ok(resolve(&locks, &shown, |pid| {
            std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .into_iter()
        .map(|(pid, l)| LockHolder {
            pid,
            write: l.write,
            command: pid.and_then(command_of),
            kind: l.kind,
        })
        .collect())
    }

    /// Who holds each lock of `locks` (the table's lines on the file): the
    /// processes whose descriptors in `shown` show the same line, each as
    /// many times as it has such descriptors, at most as many as the table
    /// has such locks (descriptors `dup`ed share one lock); where none
    /// shows it, the table's pid if `alive`, else `None`.
    pub(super) fn resolve<'a>(
        locks: &'a [Line],
        shown: &[(u32, Vec<Line>)],
        alive: impl Fn(u32) -> bool,
    ) -> Vec<(Option<u32>, &'a Line)> {
        let mut out = Vec::new();
        let mut done: Vec<&str> = Vec::new();
        for lock in locks {
            if done.contains(&lock.key.as_str()) {
                continue;
            }
            done.push(&lock.key);
            let same = locks.iter().filter(|l| l.key == lock.key).count();
            let mut per_pid: Vec<(u32, usize)> = Vec::new();
            for (pid, lines) in shown {
                let n = lines.iter().filter(|l| l.key == lock.key).count();
                if n == 0 {
                    continue;
                }
                match per_pid.iter_mut().find(|(p, _)| p == pid) {
                    Some((_, m)) => *m += n,
                    None => per_pid.push((*pid, n)),
                }
            }
            per_pid.sort_unstable();
            if per_pid.is_empty() {
                let pid = lock.pid.filter(|&p| alive(p));
                out.extend(std::iter::repeat_n((pid, lock), same));
            }
            for (pid, n) in per_pid {
                out.extend(std::iter::repeat_n((Some(pid), lock), n.min(same)));
            }
        }
        out
    }

    /// Linux's user-space `dev_t` encoding (glibc's `gnu_dev_major` and
    /// `gnu_dev_minor`): major in bits 8..20 and 32..44, minor in bits 0..8
    /// and 20..32.
    pub(super) fn split_dev(dev: u64) -> (u32, u32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
        let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
        (major as u32, minor as u32)
    }

    /// The locks of a lock table. Lines look like
    /// `1: FLOCK  ADVISORY  WRITE 12345 08:01:1835269 0 EOF`; waiters like
    /// `1: -> FLOCK  ADVISORY  WRITE 12346 08:01:1835269 0 EOF`.
    pub(super) fn parse(table: &str) -> impl Iterator<Item = Line> + '_ {
        table.lines().filter_map(line)
    }

    /// The locks of an fdinfo text: its `lock:\t1: FLOCK …` lines.
    pub(super) fn parse_fdinfo(fdinfo: &str) -> impl Iterator<Item = Line> + '_ {
        fdinfo
            .lines()
            .filter_map(|l| l.strip_prefix("lock:"))
            .filter_map(line)
    }

    fn line(line: &str) -> Option<Line> {
        let mut fields = line.split_whitespace();
        fields.next()?; // "1:"
        let kind = match fields.next()? {
            "FLOCK" => LockKind::Flock,
            "POSIX" => LockKind::Posix,
            "OFDLCK" => LockKind::Ofd,
            _ => return None, // "->" waiters, leases, delegations
        };
        let rest: Vec<&str> = fields.collect();
        // The device field is the first with two colons; the pid and the
        // access precede it (lease lines may carry extra words before).
        let at = rest.iter().position(|f| f.matches(':').count() == 2)?;
        let (pid, access) = (rest.get(at.checked_sub(1)?)?, rest.get(at.checked_sub(2)?)?);
        let mut dev = rest.get(at)?.split(':');
        let maj = u32::from_str_radix(dev.next()?, 16).ok()?;
        let min = u32::from_str_radix(dev.next()?, 16).ok()?;
        let ino: u64 = dev.next()?.parse().ok()?;
        let write = match *access {
            "WRITE" => true,
            "READ" => false,
            _ => return None,
        };
        let pid = pid.parse::<i64>().ok()?;
        let pid = u32::try_from(pid).ok().filter(|&p| p > 0);
        let mut key = String::from(match kind {
            LockKind::Flock => "FLOCK",
            LockKind::Posix => "POSIX",
            LockKind::Ofd => "OFDLCK",
        });
        for f in &rest {
            key.push(' ');
            key.push_str(f);
        }
        Some(Line {
            key,
            kind,
            write,
            pid,
            dev: (maj, min, ino),
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
        let got: Vec<_> = imp::parse(table).collect();
        let kinds: Vec<_> = got.iter().map(|l| (l.kind, l.pid, l.write)).collect();
        assert_eq!(
            kinds,
            [
                (LockKind::Posix, Some(10), false),
                (LockKind::Flock, Some(12345), true),
                (LockKind::Ofd, None, false),
                (LockKind::Flock, None, false),
            ]
        );
        assert_eq!(got[1].key, "FLOCK ADVISORY WRITE 12345 08:01:1835269 0 EOF");
        assert_eq!((got[0].dev, got[1].dev), ((0xfe, 0, 7), (8, 1, 1835269)));
        assert_eq!(imp::parse("garbage\n\n1:\n1: FLOCK x\n").count(), 0);
        // An fdinfo's lock line reads as the table's line of the same lock.
        let info = "pos:\t0\nflags:\t02000001\nmnt_id:\t30\nino:\t1835269\n\
                    lock:\t1: FLOCK  ADVISORY  WRITE 12345 08:01:1835269 0 EOF\n";
        let shown: Vec<_> = imp::parse_fdinfo(info).collect();
        assert_eq!(shown, [got[1].clone()]);
    }

    #[test]
    fn a_lock_is_held_by_the_processes_that_show_it_not_its_taker() {
        let table = imp::parse(
            "1: FLOCK  ADVISORY  WRITE 100 08:01:9 0 EOF\n\
             2: FLOCK  ADVISORY  READ 300 08:01:9 0 EOF\n\
             3: FLOCK  ADVISORY  READ 300 08:01:9 0 EOF\n\
             4: OFDLCK ADVISORY  WRITE -1 08:01:9 0 EOF\n\
             5: POSIX  ADVISORY  WRITE 500 08:01:9 0 EOF\n",
        )
        .collect::<Vec<_>>();
        let [w, r, ..] = &table[..] else {
            panic!("{table:?}")
        };
        // The taker (100) is gone; 101 and 102 share its description, 102
        // through two dup'ed descriptors. 300 holds two shared locks. The
        // OFD lock and the POSIX one show in no descriptor we could read.
        let shown = vec![
            (101, vec![w.clone()]),
            (102, vec![w.clone()]),
            (102, vec![w.clone()]),
            (300, vec![r.clone()]),
            (300, vec![r.clone()]),
            (400, vec![]),
        ];
        let got: Vec<_> = imp::resolve(&table, &shown, |p| p == 500)
            .into_iter()
            .map(|(pid, l)| (pid, l.kind, l.write))
            .collect();
        assert_eq!(
            got,
            [
                (Some(101), LockKind::Flock, true),
                (Some(102), LockKind::Flock, true),
                (Some(300), LockKind::Flock, false),
                (Some(300), LockKind::Flock, false),
                (None, LockKind::Ofd, true),
                (Some(500), LockKind::Posix, true),
            ]
        );
        // Dead fallback pid: not named.
        let got = imp::resolve(&table[..1], &[], |_| false);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, None);
    }

    #[test]
    fn names_each_holder_of_the_exclusive_lock_once() {
        let h = |pid, write, command: &str| LockHolder {
            pid,
            write,
            command: Some(command.to_owned()).filter(|c| !c.is_empty()),
            kind: LockKind::Flock,
        };
        assert_eq!(names(&[]), None);
        assert_eq!(
            names(&[
                h(Some(9), false, "cat"),
                h(Some(10), true, "flock"),
                h(Some(11), true, "sleep"),
                h(Some(11), true, "sleep"),
            ])
            .as_deref(),
            Some("flock (pid 10), sleep (pid 11)")
        );
        assert_eq!(
            names(&[h(Some(9), false, "cat"), h(None, false, "")]).as_deref(),
            Some("cat (pid 9), another process")
        );
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
