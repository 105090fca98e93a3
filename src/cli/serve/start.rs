//! Before serving, in the order the command makes them, bad input refused
//! (exit 2) before anything is created or opened: DIR (and the copy-aside
//! folder) existing, directories and writable; an exclusive lock on each
//! folder, one serve per folder; the temporaries a killed serve left
//! removed; the data file created if missing, never replacing one; a data
//! file another process holds refused without opening it; and the signals
//! that stop serving gracefully.
//!
//! What does not live here: opening the data file and checking it through
//! that open ([`MailServer::start`](mailsim::MailServer::start)), serving
//! (`serving`).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use mailsim::VolumePath;
use mailsim::datafile;
use mailsim::real::{lock, proc_locks};

use super::super::{CliError, input};
use super::SERVE_TEMP;

/// An existing, writable directory given by a flag, or bad input. The
/// probe is one of serve's temporary names, so that a start killed in
/// between leaves nothing the next start does not remove.
pub(super) fn usable_dir(flag: &str, dir: &Path) -> Result<(), CliError> {
    let bad =
        |what: &dyn fmt::Display| CliError::Usage(format!("{flag} {}: {what}", dir.display()));
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(m) => {
            return Err(bad(&format!(
                "not a directory ({})",
                input::kind_of(m.file_type())
            )));
        }
        Err(e) => return Err(bad(&e)),
    }
    let probe = dir.join(format!("{SERVE_TEMP}{}-probe", std::process::id()));
    match input::create_new(&probe) {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(bad(&format!("cannot be written: {e}"))),
    }
}

/// The identity of a file or folder: device and inode.
pub(super) fn identity(path: &Path) -> io::Result<(u64, u64)> {
    let m = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        Ok((0, 0))
    }
}

/// An exclusive lock on a folder, held while serve runs: one serve per
/// folder. Opening a folder is no open of the data file in it.
pub(super) fn lock_dir(flag: &str, dir: &Path) -> Result<File, CliError> {
    let bad =
        |what: &dyn fmt::Display| CliError::Usage(format!("{flag} {}: {what}", dir.display()));
    let f = File::open(dir).map_err(|e| bad(&e))?;
    match lock::try_lock_exclusive(&f) {
        Ok(true) => Ok(f),
        Ok(false) => {
            let holder = proc_locks::holders(dir)
                .ok()
                .and_then(|all| proc_locks::names(&all))
                .unwrap_or_else(|| "another process".to_owned());
            Err(bad(&format!(
                "another mailsim serve uses it: locked by {holder}"
            )))
        }
        Err(e) => Err(bad(&format!("cannot be locked: {e}"))),
    }
}

/// Removes the temporary files a killed serve left in `dir` (its lock is
/// held, so no serve is writing them), and those of any mailsim process
/// that is gone.
pub(super) fn remove_stale_temps(dir: &Path) -> Result<(), CliError> {
    mailsim::real::remove_stale_temps(dir)
        .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
    let entries =
        fs::read_dir(dir).map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
    for entry in entries.filter_map(Result::ok) {
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(SERVE_TEMP));
        if stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path())
                .map_err(|e| CliError::Runtime(format!("{}: {e}", entry.path().display())))?;
        }
    }
    Ok(())
}

/// A failure before the server is ready: about DIR or its data file, so bad
/// input, except failures of the machine itself (no inotify instance left,
/// disk full).
pub(super) fn startup_error(real: &Path, e: mailsim::Error) -> CliError {
    use mailsim::Error;
    match e {
        Error::DenyConflict { holder, .. } => CliError::Usage(format!(
            "{}: held by {holder}: another server has it open",
            real.display()
        )),
        Error::DataFile { source, .. } => CliError::Usage(format!(
            "{}: not a data file serve can use: {source} (left unchanged)",
            real.display()
        )),
        Error::Io { ref source, .. } if input::is_bad_path(source) => {
            CliError::Usage(e.to_string())
        }
        Error::Io { .. } | Error::DiskFull { .. } | Error::VolumeIo { .. } => {
            CliError::Runtime(e.to_string())
        }
        _ => CliError::Usage(e.to_string()),
    }
}

/// Creates an empty, valid data file at `real` if there is none: written to
/// a temporary name in `dir`, synced, hard-linked into place (which, unlike
/// a rename, fails rather than replace a file created meanwhile), the
/// temporary name removed, the folder synced. Whatever is at `real` already
/// is left alone (and checked when the server opens it).
pub(super) fn ensure_data_file(real: &Path, dir: &Path) -> Result<(), CliError> {
    match fs::symlink_metadata(real) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) if m.is_dir() => {
            return Err(CliError::Usage(format!(
                "{}: is a directory, not a data file",
                real.display()
            )));
        }
        Ok(m) => {
            return Err(CliError::Usage(format!(
                "{}: not a regular file ({})",
                real.display(),
                input::kind_of(m.file_type())
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::Usage(format!("{}: {e}", real.display()))),
    }
    let tmp = dir.join(format!("{SERVE_TEMP}{}-new", std::process::id()));
    let made = (|| -> io::Result<()> {
        let mut f = input::create_new(&tmp)?;
        f.write_all(&datafile::build_image(0, []))?;
        f.sync_all()?;
        drop(f);
        match fs::hard_link(&tmp, real) {
            Ok(()) => {}
            // Another program created it first: use it (it is checked).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        fs::remove_file(&tmp)?;
        input::sync_dir(dir)
    })();
    made.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        let msg = format!("{}: cannot create the data file: {e}", real.display());
        if input::is_bad_path(&e) {
            CliError::Usage(msg)
        } else {
            CliError::Runtime(msg)
        }
    })
}

/// Refuses, leaving it untouched, a data file another process holds a lock
/// on (asked without opening it, so the holder sees no foreign open).
pub(super) fn refuse_held(real: &Path) -> Result<(), CliError> {
    // Every process holding a lock now, not the one that took it.
    match proc_locks::holders(real).map(|all| proc_locks::names(&all)) {
        Ok(Some(holder)) => Err(startup_error(
            real,
            mailsim::Error::DenyConflict {
                path: VolumePath::root(real.display().to_string()),
                holder,
                real_path: Some(real.to_path_buf()),
            },
        )),
        _ => Ok(()),
    }
}

/// SIGTERM, SIGINT and SIGHUP set the flag, however many arrive: every
/// stop is graceful (the loop looks at the flag every few milliseconds, so
/// there is no need for a second signal to end it).
pub(super) fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::Runtime(format!("cannot handle signal {sig}: {e}")))?;
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailsim::sim::MAIL_DATA;

    #[test]
    fn a_new_data_file_is_empty_valid_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join(MAIL_DATA);
        ensure_data_file(&real, dir.path()).unwrap();
        let v = datafile::verify(&fs::read(&real).unwrap()).unwrap();
        assert_eq!((v.generation, v.message_count), (0, 0));
        fs::write(&real, b"someone else's").unwrap();
        ensure_data_file(&real, dir.path()).unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"someone else's");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
        fs::remove_file(&real).unwrap();
        fs::create_dir(&real).unwrap();
        assert!(matches!(
            ensure_data_file(&real, dir.path()),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn one_serve_per_folder_and_stale_temporaries_go() {
        assert!(SERVE_TEMP.starts_with(mailsim::real::TEMP_PREFIX));
        let dir = tempfile::tempdir().unwrap();
        let held = lock_dir("--dir", dir.path()).unwrap();
        let e = lock_dir("--dir", dir.path()).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains(&format!("(pid {})", std::process::id()))),
            "{e}"
        );
        drop(held);
        lock_dir("--dir", dir.path()).unwrap();
        fs::write(dir.path().join(format!("{SERVE_TEMP}123-new")), b"x").unwrap();
        fs::write(dir.path().join("keep me"), b"x").unwrap();
        remove_stale_temps(dir.path()).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["keep me"]);
    }
}
