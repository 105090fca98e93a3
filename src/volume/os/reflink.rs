//! Copy-on-write clones of a file (`FICLONE` on Linux, `clonefile` on macOS),
//! where the file system has them.
//!
//! A clone shares the source's blocks until either side writes, so taking it
//! costs O(1) whatever the file's size: the ideal point-in-time image for
//! `CopyOnWrite`. btrfs, XFS (with `reflink=1`), bcachefs, APFS and ReFS have
//! it; ext4, this machine's file system, does not. There [`reflink`] says so
//! with [`CloneOutcome::Unsupported`] instead of failing, and the caller falls
//! back to copy-before-write (the server saves a page's old contents aside
//! before overwriting it while a snapshot is active), as the VSS system
//! provider does.
//!
//! What does not live here: the fallback itself, and plain copies (the
//! rotation writer copies with `std::io::copy`, which uses
//! `copy_file_range` on Linux).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::files::sync_dir;
use crate::error::{Error, Result};

/// What [`reflink`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloneOutcome {
    /// `dst` is now a copy-on-write clone of `src`.
    Cloned,
    /// The file system cannot clone (or cannot clone between these two
    /// places): nothing was written and `dst` is as it was.
    Unsupported {
        /// What the system said, e.g. "Operation not supported (os error 95)".
        reason: String,
    },
}

/// Whether `e` means "no clone here" rather than a failure: `EOPNOTSUPP` or
/// `ENOSYS` (no reflink in this file system or kernel), `EXDEV` (source and
/// destination on different file systems), `EINVAL` (the file system has no
/// clone operation for these files, as some return), `ENOTTY` (no `FICLONE`
/// ioctl at all).
fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::CrossesDevices | io::ErrorKind::InvalidInput
    ) || (cfg!(unix) && e.raw_os_error() == Some(25)) // ENOTTY is 25 on every Unix.
}

static PROBE: AtomicU64 = AtomicU64::new(0);

fn temp_beside(dst: &Path) -> PathBuf {
    let n = PROBE.fetch_add(1, Ordering::Relaxed);
    let name = format!(".mailsim-tmp-clone-{}-{n}", std::process::id());
    dst.with_file_name(name)
}

/// Clones `src` to `dst`, replacing any file at `dst`, crash-safely.
///
/// The clone is made under a temporary name beside `dst`
/// (`.mailsim-tmp-clone-PID-N`), synced, and renamed over `dst`, and the
/// folder is synced: after a crash `dst` is either its old self or the whole
/// clone, never a partial one (a stale temporary file may remain; OsVolume
/// listings skip `.mailsim-tmp` names). Opens `src` once for reading, which
/// an inotify watch on `src` counts as an open: the holder of `src` clones
/// it through the descriptor it holds with [`reflink_from`], which opens
/// nothing of it. Blocks for the two syncs.
///
/// # Errors
/// `Error::Io` naming the path: `src` missing or not a regular file, `dst`'s
/// folder missing or not writable, a failed sync or rename. A file system
/// without clones is *not* an error: see [`CloneOutcome::Unsupported`].
pub fn reflink(src: &Path, dst: &Path) -> Result<CloneOutcome> {
    let meta = std::fs::metadata(src).map_err(io_err(src))?;
    if !meta.is_file() {
        return Err(Error::Io {
            path: src.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    check_dst(dst)?;
    let file = File::open(src).map_err(io_err(src))?;
    reflink_from(&file, src, dst)
}

/// Clones the open file `src` (whose path, for errors, is `src_path`) to
/// `dst`, replacing any file at `dst`, crash-safely, as [`reflink`] does —
/// but through the descriptor given: no new open of `src`, so neither an
/// inotify nor a fanotify watch on it sees one. `src` must be open for
/// reading; its cursor does not move.
///
/// # Errors
/// As [`reflink`]: `Error::Io` naming `src_path` when `src` is not a regular
/// file, naming `dst` for a missing or unwritable folder, a failed sync or
/// rename. A file system without clones is [`CloneOutcome::Unsupported`].
pub fn reflink_from(src: &File, src_path: &Path, dst: &Path) -> Result<CloneOutcome> {
    let meta = src.metadata().map_err(io_err(src_path))?;
    if !meta.is_file() {
        return Err(Error::Io {
            path: src_path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    check_dst(dst)?;
    let tmp = temp_beside(dst);
    match reflink_copy::reflink_file_to_path(src, &tmp) {
        Ok(()) => {}
        Err(e) if is_unsupported(&e) => {
            // reflink_copy removes its half-made destination itself; make sure.
            let _ = std::fs::remove_file(&tmp);
            return Ok(CloneOutcome::Unsupported {
                reason: e.to_string(),
            });
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Io {
                path: dst.to_path_buf(),
                source: e,
            });
        }
    }
    let finish = || -> io::Result<()> {
        File::options().write(true).open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dst)?;
        sync_dir(dst.parent().unwrap_or(Path::new(".")))
    };
    finish().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Io {
            path: dst.to_path_buf(),
            source: e,
        }
    })?;
    Ok(CloneOutcome::Cloned)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { path, source }
}

fn check_dst(dst: &Path) -> Result<()> {
    if dst.file_name().is_none() {
        return Err(Error::Io {
            path: dst.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
        });
    }
    Ok(())
}

/// Whether files in `dir` can be cloned: clones a small probe file to a
/// second one and removes both (names `.mailsim-tmp-clone-*`). `false` also
/// when `dir` is missing or not writable. Takes a few file operations; the
/// answer can be cached per file system.
pub fn supported(dir: &Path) -> bool {
    let n = PROBE.fetch_add(1, Ordering::Relaxed);
    let src = dir.join(format!(
        ".mailsim-tmp-clone-probe-{}-{n}",
        std::process::id()
    ));
    let dst = dir.join(format!(
        ".mailsim-tmp-clone-probe-{}-{n}-copy",
        std::process::id()
    ));
    let written = super::files::create_new_file(&src)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &[0u8; 4096]));
    if written.is_err() {
        let _ = std::fs::remove_file(&src);
        return false;
    }
    let cloned = matches!(reflink_copy::reflink(&src, &dst), Ok(()));
    let _ = std::fs::remove_file(&dst);
    let _ = std::fs::remove_file(&src);
    cloned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_whether_clones_work_and_agrees_with_supported() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("Microsoft Mail Data");
        let dst = dir.path().join("Mail Data Clone");
        std::fs::write(&src, b"mail").unwrap();
        std::fs::write(&dst, b"old").unwrap();
        let can = supported(dir.path());
        let outcome = reflink(&src, &dst).unwrap();
        eprintln!("reflink on this file system: {outcome:?}");
        match &outcome {
            CloneOutcome::Cloned => {
                assert!(can);
                assert_eq!(std::fs::read(&dst).unwrap(), b"mail");
            }
            CloneOutcome::Unsupported { reason } => {
                assert!(!can);
                assert!(!reason.is_empty());
                assert_eq!(std::fs::read(&dst).unwrap(), b"old");
            }
        }
        // Nothing but the two files is left behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["Mail Data Clone", "Microsoft Mail Data"]);
        assert!(!supported(&dir.path().join("missing")));
        assert!(matches!(
            reflink(&dir.path().join("missing"), &dst),
            Err(Error::Io { .. })
        ));
        assert!(matches!(reflink(dir.path(), &dst), Err(Error::Io { .. })));
    }
}
