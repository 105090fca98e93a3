//! The paths the command is given, checked for what they must be before
//! anything is opened, created or run, and the files it writes.
//!
//! Reading: a path to read must be a regular file ([`open_regular`]); a
//! FIFO, a device, a socket or a directory is bad input, refused at once
//! without blocking (the open itself is non-blocking, and what was opened is
//! checked again, so a FIFO swapped in after the check cannot block either).
//! Whatever is read has a bound ([`read_text`]).
//!
//! Writing: a file the command writes is checked before any work
//! ([`check_output_file`]: its folder exists, is a directory and can be
//! written), then written under a temporary name created exclusively in the
//! same folder — never through a symlink — synced, and renamed into place
//! ([`write_atomically`]). A path that cannot be written is bad input
//! (exit 2); a failure while writing is a runtime failure (exit 1).
//!
//! What does not live here: what the files mean (the subcommands).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use mailsim::real::TEMP_PREFIX;

use super::CliError;

/// `"--flag PATH"`, or `"PATH"` for a positional argument (empty `flag`).
pub(super) fn named(flag: &str, path: &Path) -> String {
    if flag.is_empty() {
        path.display().to_string()
    } else {
        format!("{flag} {}", path.display())
    }
}

/// Whether an error about a path the user gave says the path is wrong
/// (missing, not permitted, read-only, a name too long, …) rather than that
/// the machine failed: the first is bad input, exit 2.
pub(super) fn is_bad_path(e: &io::Error) -> bool {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::NotFound
            | K::PermissionDenied
            | K::NotADirectory
            | K::IsADirectory
            | K::ReadOnlyFilesystem
            | K::InvalidFilename
            | K::InvalidInput
            | K::AlreadyExists
            | K::Unsupported
    ) {
        return true;
    }
    // From pseudo file systems (`/proc/self`) and symlink loops.
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return [
            libc::EXDEV,
            libc::ENODEV,
            libc::ENXIO,
            libc::EINVAL,
            libc::EPERM,
            libc::ELOOP,
        ]
        .contains(&code);
    }
    false
}

/// What a path is, for an error that says it is not what it must be.
pub(super) fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symlink"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading as a regular file, or says (bad input) what is
/// wrong with it. Never blocks: a FIFO is refused by its metadata before any
/// open, and the open is non-blocking and checked again, in case something
/// else was put there in between.
pub(super) fn open_regular(flag: &str, path: &Path) -> Result<File, CliError> {
    let bad =
        |what: &dyn std::fmt::Display| CliError::Usage(format!("{}: {what}", named(flag, path)));
    let meta = fs::metadata(path).map_err(|e| bad(&e))?;
    if !meta.is_file() {
        return Err(bad(&format!(
            "not a regular file ({})",
            kind_of(meta.file_type())
        )));
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path).map_err(|e| bad(&e))?;
    let opened = file.metadata().map_err(|e| bad(&e))?;
    if !opened.is_file() {
        return Err(bad(&format!(
            "not a regular file ({})",
            kind_of(opened.file_type())
        )));
    }
    Ok(file)
}

/// The text of the regular file `path`, refused (bad input) when it is
/// longer than `limit_bytes` or not UTF-8; at most `limit_bytes + 1` bytes
/// are ever read.
pub(super) fn read_text(flag: &str, path: &Path, limit_bytes: u64) -> Result<String, CliError> {
    let file = open_regular(flag, path)?;
    let mut bytes = Vec::new();
    file.take(limit_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Usage(format!("{}: cannot be read: {e}", named(flag, path))))?;
    if bytes.len() as u64 > limit_bytes {
        return Err(CliError::Usage(format!(
            "{}: larger than the limit of {} bytes",
            named(flag, path),
            limit_bytes
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| CliError::Usage(format!("{}: not UTF-8 text: {e}", named(flag, path))))
}

/// The folder a file `path` would be created in.
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `path`, which must not exist, for writing: never through a
/// symlink (`O_EXCL` refuses any existing name, a dangling symlink
/// included, and `O_NOFOLLOW` says so again), mode 0644 less the umask.
pub(super) fn create_new(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
    }
    opts.open(path)
}

/// A fresh temporary name beside `path`, created exclusively (short, so
/// that any name that fits a folder has a temporary that fits too).
fn create_temp_beside(path: &Path) -> io::Result<(File, PathBuf)> {
    let dir = parent_of(path);
    for attempt in 0u32.. {
        let tmp = dir.join(format!("{TEMP_PREFIX}-{}-{attempt}", std::process::id()));
        match create_new(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {}
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns by its 100th attempt")
}

/// Longest file name the command creates: `NAME_MAX` of Linux and of most
/// file systems.
const MAX_NAME_BYTES: usize = 255;

/// Refuses, before any work, a file `path` that cannot be written: not a
/// file name, a name too long, a directory, a symlink (mailsim never writes
/// through or over one), anything but a regular file, in a folder that is
/// missing, not a directory, or that cannot be written (read-only, not
/// permitted: tried by creating and removing a temporary file there).
pub(super) fn check_output_file(flag: &str, path: &Path) -> Result<(), CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(format!("{}: {e}", named(flag, path)));
    let Some(name) = path
        .file_name()
        .filter(|_| !path.as_os_str().to_string_lossy().ends_with('/'))
    else {
        return Err(usage(&"not a file name"));
    };
    if name.len() > MAX_NAME_BYTES {
        return Err(usage(&format!(
            "file name too long ({} bytes, at most {MAX_NAME_BYTES})",
            name.len()
        )));
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(m) if m.is_dir() => return Err(usage(&"is a directory")),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(usage(
                &"is a symlink: mailsim does not write through or over one",
            ));
        }
        Ok(m) => return Err(usage(&format!("exists and is {}", kind_of(m.file_type())))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(usage(&e)),
    }
    check_writable_dir(flag, path, parent_of(path))
}

/// Refuses a folder `dir` (given as `shown` by `flag`) that is missing, not
/// a directory, or cannot be written; leaves nothing behind.
pub(super) fn check_writable_dir(flag: &str, shown: &Path, dir: &Path) -> Result<(), CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(format!("{}: {e}", named(flag, shown)));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(usage(&format!("{} is not a directory", dir.display()))),
        Err(e) => return Err(usage(&format!("{}: {e}", dir.display()))),
    }
    let probe = dir.join(format!("{TEMP_PREFIX}-probe-{}", std::process::id()));
    match create_new(&probe) {
        Ok(f) => {
            drop(f);
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A probe of an earlier run of this pid: the folder is writable
            // enough to have held it.
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(usage(&format!("cannot be written: {e}"))),
    }
}

/// Makes a folder's entries durable (a rename into it, a new file).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes `bytes` to `path` under a temporary name created exclusively in
/// the same folder, syncs it, renames it into place and syncs the folder, so that `path` is never
/// seen half written. A path that cannot be written is bad input; a failure
/// while writing is a runtime failure; either way no temporary file is
/// left. Errors name `flag` and `path`.
pub(super) fn write_atomically(flag: &str, path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    check_output_file(flag, path)?;
    let shown = named(flag, path);
    let (mut f, tmp) = create_temp_beside(path).map_err(|e| {
        if is_bad_path(&e) {
            CliError::Usage(format!("{shown}: {e}"))
        } else {
            CliError::Runtime(format!("{shown}: {e}"))
        }
    })?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, path))
        .and_then(|()| sync_dir(parent_of(path)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::Runtime(format!("{shown}: {e}")));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "hello").unwrap();
        assert_eq!(read_text("--x", &file, 5).unwrap(), "hello");
        let e = read_text("--x", &file, 4).unwrap_err().to_string();
        assert!(e.contains("larger than the limit of 4 bytes"), "{e}");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = open_regular("--x", &fifo).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("a FIFO")),
            "{e}"
        );
        let e = open_regular("", Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("character device")),
            "{e}"
        );
        let e = open_regular("", dir.path()).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("a directory")),
            "{e}"
        );
    }

    #[test]
    fn writes_never_follow_a_symlink_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("out.svg");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = write_atomically("--svg", &link, b"new").unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("symlink")),
            "{e}"
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert!(
            create_new(&link).is_err(),
            "an existing name is never reused"
        );
        let file = dir.path().join("night.json");
        write_atomically("--save", &file, b"one").unwrap();
        write_atomically("--save", &file, b"two").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    #[test]
    fn unwritable_destinations_are_bad_input() {
        let e = check_output_file("--save", Path::new("/nonexistent/x.json")).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)));
        let e = check_output_file("--save", Path::new("/proc/self/x.json")).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)), "{e}");
        let e = check_output_file("--save", Path::new("/tmp/")).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)));
        let long = format!("/tmp/{}", "n".repeat(300));
        let e = write_atomically("--save", Path::new(&long), b"x").unwrap_err();
        assert!(matches!(e, CliError::Usage(_)), "{e}");
    }
}
