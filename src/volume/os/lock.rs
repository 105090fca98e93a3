//! Advisory file locks, preallocation and free space: the crate's one door to
//! [`fs2`].
//!
//! Since Rust 1.89, std's own `File::lock`, `lock_shared`, `try_lock`,
//! `try_lock_shared` and `unlock` shadow the `fs2::FileExt` methods of the
//! same names with other return types (`try_lock` returns
//! `Result<(), TryLockError>` in std, `io::Result<()>` in fs2). Calling them
//! as methods picks std's; so this module calls fs2 in fully qualified form
//! only, and every other module locks through the functions here.
//!
//! The locks are `flock(2)` locks on Unix (`LockFileEx` on Windows): they
//! belong to the *open file description*, so two separate opens of one file
//! conflict even inside one process, while clones of one `File` (`try_clone`)
//! share its lock. They are **advisory**: a process that opens the file
//! without asking for a lock reads and writes it freely, as a lock-unaware
//! backup read a file the Mac's Mail held. Closing the last descriptor of an
//! open file description releases its lock, so a crashed holder never leaves
//! a file locked.
//!
//! What does not live here: asking *who* holds a lock without opening the file
//! ([`super::proc_locks`]).

use std::fs::File;
use std::io;
use std::path::Path;

/// Whether `e` is what a non-blocking lock attempt returns when another open
/// holds a conflicting lock.
fn is_contended(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (e.raw_os_error().is_some()
            && e.raw_os_error() == fs2::lock_contended_error().raw_os_error())
}

fn try_result(r: io::Result<()>) -> io::Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(e) if is_contended(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive lock on `file`, **blocking** until every conflicting
/// lock held through another open of the file is released.
///
/// It may wait forever: only for callers that have a bound of their own on
/// the holder (none in mailsim's runners, which use [`try_lock_exclusive`]).
/// If `file` already holds a shared lock, the lock is converted (not
/// atomically: another waiter may get in between).
///
/// # Errors
/// The OS error, e.g. `EBADF`, or `ENOLCK` on a file system without locks.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    fs2::FileExt::lock_exclusive(file)
}

/// Tries to take an exclusive lock on `file` without blocking.
///
/// Returns `Ok(true)` when `file` now holds the lock, `Ok(false)` when another
/// open of the file (in this process or another) holds a lock that conflicts.
/// Taking a lock `file` already holds succeeds; a shared lock held by `file`
/// itself is converted.
///
/// # Errors
/// Any OS error other than contention.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    try_result(fs2::FileExt::try_lock_exclusive(file))
}

/// Tries to take a shared lock on `file` without blocking.
///
/// Returns `Ok(true)` when `file` now holds the lock, `Ok(false)` when another
/// open of the file holds an exclusive lock. Any number of opens may hold
/// shared locks together.
///
/// # Errors
/// Any OS error other than contention.
pub fn try_lock_shared(file: &File) -> io::Result<bool> {
    try_result(fs2::FileExt::try_lock_shared(file))
}

/// Releases the lock `file` holds, if any (unlocking an unlocked file
/// succeeds). Never blocks. Dropping the last clone of the `File` releases
/// the lock as well.
///
/// # Errors
/// The OS error, e.g. `EBADF`.
pub fn unlock(file: &File) -> io::Result<()> {
    fs2::FileExt::unlock(file)
}

/// Reserves disk space so that `file` is at least `len_bytes` long and writes
/// up to that length cannot fail for lack of space. Never shrinks the file.
/// Uses `posix_fallocate` on Linux (a file system without it, such as some
/// network file systems, may emulate it by writing zeros, slowly).
///
/// # Errors
/// `ErrorKind::StorageFull` when the space is not there, or another OS error.
/// (fs2 0.4 reads `errno` after `posix_fallocate`, which returns its error
/// instead of setting `errno`; on Linux a failure is therefore checked
/// against the free space and reported as `StorageFull` when that is the
/// cause, whatever `errno` held.)
pub fn allocate(file: &File, len_bytes: u64) -> io::Result<()> {
    match fs2::FileExt::allocate(file, len_bytes) {
        Ok(()) => Ok(()),
        Err(e) => Err(explain_allocate_failure(file, len_bytes, e)),
    }
}

#[cfg(target_os = "linux")]
fn explain_allocate_failure(file: &File, len_bytes: u64, e: io::Error) -> io::Error {
    use std::os::fd::AsRawFd;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match available_space(Path::new(&fd_path)) {
        Ok(free) if free < len_bytes.saturating_sub(len) => io::Error::new(
            io::ErrorKind::StorageFull,
            format!("no room to allocate {len_bytes} bytes ({free} available)"),
        ),
        _ => e,
    }
}

#[cfg(not(target_os = "linux"))]
fn explain_allocate_failure(_file: &File, _len_bytes: u64, e: io::Error) -> io::Error {
    e
}

/// Bytes available to an unprivileged user on the file system holding `path`
/// (`statvfs`'s `f_bavail × f_frsize`). Root may be able to write somewhat
/// more (the reserved blocks). Never opens `path`.
///
/// # Errors
/// The OS error, e.g. `ErrorKind::NotFound` when `path` does not exist.
pub fn available_space(path: &Path) -> io::Result<u64> {
    fs2::available_space(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_shared_shares_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let a = File::open(&p).unwrap();
        let b = File::open(&p).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        assert!(!try_lock_shared(&b).unwrap());
        unlock(&a).unwrap();
        assert!(try_lock_shared(&a).unwrap());
        assert!(try_lock_shared(&b).unwrap());
        assert!(!try_lock_exclusive(&File::open(&p).unwrap()).unwrap());
        unlock(&a).unwrap();
        unlock(&b).unwrap();
        lock_exclusive(&b).unwrap();
        drop(b);
        assert!(try_lock_exclusive(&a).unwrap());
    }

    #[test]
    fn allocate_grows_and_space_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let f = File::create(&p).unwrap();
        allocate(&f, 8192).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 8192);
        assert!(available_space(dir.path()).unwrap() > 0);
        assert!(available_space(&dir.path().join("missing")).is_err());
    }
}
