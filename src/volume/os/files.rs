//! Small file primitives every real-file piece shares: mailsim's
//! temporary names and their cleanup, exclusive creation that never
//! follows a symlink, folder syncs, and positioned reads that leave a
//! descriptor's cursor alone.

use std::fs::File;
use std::io;
use std::path::Path;

/// Prefix of every temporary file mailsim writes beside its targets.
/// [`OsVolume`](crate::volume::OsVolume) listings leave such names out.
pub const TEMP_PREFIX: &str = ".mailsim-tmp";

/// Removes from `dir` the temporary files of mailsim processes that are
/// gone: regular files named [`TEMP_PREFIX`]`-…-PID-…` whose PID names no
/// running process (a process killed while it wrote one). Those of running
/// processes, and names without a PID, are left alone; on systems without
/// `/proc` nothing can be told and nothing is removed. Returns how many
/// were removed.
///
/// # Errors
/// `dir` cannot be listed, or a stale file cannot be removed.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    if !Path::new("/proc/self").exists() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest
            .split('-')
            .find(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type()?.is_file() {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Creates `path`, which must not exist, for writing: never through a
/// symlink (`O_EXCL` refuses any existing name, a dangling symlink
/// included, and `O_NOFOLLOW` says so again).
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    let mut opts = File::options();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    opts.open(path)
}

/// Makes a rename, creation or removal in `dir` durable (`fsync` on the
/// folder). On systems where a folder cannot be opened as a file (Windows) it
/// does nothing.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

/// Reads all of `file` with positioned reads, leaving its cursor alone.
pub(crate) fn read_all_at(file: &File) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
    let n = read_full_at(file, &mut buf, 0)?;
    buf.truncate(n);
    Ok(buf)
}

/// Fills `buf` from `offset` with positioned reads until it is full or the
/// file ends; returns how many bytes were read.
#[cfg(unix)]
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Fills `buf` from `offset` until it is full or the file ends (Windows:
/// `seek_read`, which moves the cursor).
#[cfg(windows)]
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.seek_read(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temporaries_of_processes_that_are_gone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        // A pid that names no process: past the kernel's pid_max.
        let gone = 4_194_305;
        for name in [
            format!("{TEMP_PREFIX}-clone-probe-{gone}-0"),
            format!("{TEMP_PREFIX}-{gone}-3"),
            format!("{TEMP_PREFIX}-clone-probe-{me}-0"),
            format!("{TEMP_PREFIX}-Mail Data Backup #1"),
            "Microsoft Mail Data".to_owned(),
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 2);
        assert_eq!(
            names(dir.path()),
            [
                format!("{TEMP_PREFIX}-Mail Data Backup #1"),
                format!("{TEMP_PREFIX}-clone-probe-{me}-0"),
                "Microsoft Mail Data".to_owned()
            ]
        );
    }
}
