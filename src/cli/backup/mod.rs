//! `mailsim backup`: the backup client (Retrospect Remote) as a real process,
//! archiving the files under a directory into another one.
//!
//! The tree under DIR is walked as the volume "Server HD" with the library's
//! [`BackupClient`] over an [`OsVolume`], so exclusions and open-file
//! policies behave as in the simulation: `ignore-locks` opens whatever holds
//! a file (a foreign access its holder sees); `respect-locks` asks the
//! kernel's lock table who holds a file *without opening it* and skips a
//! held one as busy, naming the holding process; `wait-for-idle` watches a
//! file's modification time without opening it until it has gone unwritten
//! long enough, then opens it. Only regular files and folders are walked: a
//! FIFO, a socket, a device or a symlink under DIR is never opened.
//!
//! The modelled LocalTalk throughput is ignored: files are read as fast as
//! the disk allows. Only the policies' own waits (retries, waiting for
//! quiet) take real time, each within the range its flag allows
//! ([`RETRY_TOTAL_MAX`], [`TIMEOUT_MAX`]), plus at most [`SETTLE_MAX`] after
//! a foreign open.
//!
//! Where the archive may be, checked before anything is written (bad input,
//! exit 2): never DIR, inside DIR, or an ancestor of DIR, compared by
//! file-system identity — the device and inode of each existing directory,
//! symlinks resolved, so an alias through a symlink or a bind mount is seen
//! through — never a path whose folders the archive needs are symlinks or
//! folders of DIR. ARCHIVE is created (each missing folder with
//! `create_dir`) only after those checks and a probe that it can be written.
//!
//! How files are written: each archived file goes to ARCHIVE/<its path under
//! DIR>, streamed chunk by chunk as read ([`BackupEnv::archive_chunk`]) into
//! a temporary name created exclusively in its folder, synced, renamed into
//! place, and its folder synced; memory does not grow with the file's size.
//! Blocks of zeros are not written (the file is extended to its length at
//! the end), so a sparse file stays sparse. Folders are made one component
//! at a time and each checked with `symlink_metadata`: nothing is created
//! through a symlink, nor inside a folder of DIR. On any failure the
//! temporary is removed: no half-written file ever has a final name. DIR is
//! never written to.
//!
//! What does not live here: what to archive and when (the library's
//! [`BackupClient`]), how a path is checked for reading or writing in
//! general (`input`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, ValueEnum};
use mailsim::backup::{BackupEnv, BackupSpeed, Step};
use mailsim::policy::{ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy};
use mailsim::real::{ScaledClock, TEMP_PREFIX};
use mailsim::report::{Actor, EventKind};
use mailsim::sim::SERVER_HD;
use mailsim::volume::{Chunk, OsVolume, Volume};
use mailsim::{BackupClient, OpenFilePolicy, SimTime, VolumePath};

use super::CliError;
use super::args::{parse_duration, valid_glob};
use super::input;

/// How the backup treats files another process holds open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OpenFiles {
    /// Open them anyway, as Retrospect Remote did in 1993 (the holder sees
    /// a foreign open).
    #[default]
    IgnoreLocks,
    /// Skip a file a writer holds, naming the holder, without opening it
    /// (see --retries).
    RespectLocks,
    /// Wait, without opening it, until the file has gone unwritten for
    /// --idle, then open it; skip it after --timeout.
    WaitForIdle,
}

/// Most retries of a held file (`--retries`).
const RETRIES_MAX: u32 = 100;
/// Shortest wait any flag allows: a policy's wait is slept, never spun.
const WAIT_MIN: Duration = Duration::from_millis(1);
/// Longest `--retry-interval`.
const RETRY_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Longest wait for a held file in all: `--retries` × `--retry-interval`.
const RETRY_TOTAL_MAX: Duration = Duration::from_secs(24 * 3600);
/// Longest `--idle`.
const IDLE_MAX: Duration = Duration::from_secs(3600);
/// Longest `--timeout`: the longest wait for a file to go quiet.
const TIMEOUT_MAX: Duration = Duration::from_secs(24 * 3600);

/// A duration flag's value within `WAIT_MIN..=max` (`max_text` says `max`).
fn bounded(text: &str, max: Duration, max_text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < WAIT_MIN || d > max {
        return Err(format!("out of range: from 1ms to {max_text}"));
    }
    Ok(d)
}

fn retry_interval(text: &str) -> Result<Duration, String> {
    bounded(text, RETRY_INTERVAL_MAX, "1h")
}

fn idle(text: &str) -> Result<Duration, String> {
    bounded(text, IDLE_MAX, "1h")
}

fn timeout(text: &str) -> Result<Duration, String> {
    bounded(text, TIMEOUT_MAX, "24h")
}

/// Flags of `mailsim backup`.
#[derive(Args, Debug)]
#[command(
    after_help = "Output (stdout): one line per archived file ('archived PATH (N \
                  bytes)'), per excluded file or folder, per file skipped as busy ('busy: PATH \
                  held by COMMAND (pid N): skipped'), and a summary.\n\n\
                  Where the archive may be: never DIR, inside DIR, or an ancestor of DIR, \
                  compared by file-system identity (the device and inode of each existing \
                  directory, symlinks resolved), so a symlinked alias or a bind mount of DIR \
                  or of a folder above it is refused too. Inside ARCHIVE, nothing is created \
                  through a symlink: a symlink (or a file) where the backup puts a folder is \
                  refused.\n\n\
                  Bounds: files are read and written in 64 KiB chunks, so memory does not grow \
                  with their size (only with the number of files and folders); blocks of zeros are not written (a sparse file stays \
                  sparse). Waits: --retries 0..=100 and --retry-interval 1ms..=1h, at most 24h \
                  in all (retries x interval); --idle 1ms..=1h; --timeout 1ms..=24h; after a \
                  foreign open, at most 0.5s for the holder to react. The longest a single file \
                  can hold the backup up is 24h 0.5s.\n\n\
                  Exit status: 0 done, whatever was skipped; 1 a runtime failure (a file that \
                  cannot be read or written; the archive's disk full, one line containing 'disk \
                  full'; a symlink or a folder of DIR that appears in ARCHIVE during the run), \
                  leaving no temporary file and no half-written file; 2 bad input, checked \
                  before anything is written or created: a flag out of its range; DIR missing, \
                  unreadable or not a directory; ARCHIVE not a directory, not creatable or \
                  writable (read-only, not permitted, a name too long), DIR itself, inside DIR \
                  or an ancestor of DIR, or holding a symlink or a file where the backup puts a \
                  folder."
)]
pub struct BackupArgs {
    /// The directory to archive (as the volume "Server HD").
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// The archive: a directory, created with its parents if missing. Each
    /// file is written to ARCHIVE/<its path under DIR>. Never DIR, inside
    /// it, or above it.
    #[arg(long, value_name = "ARCHIVE")]
    to: PathBuf,

    /// Skip every file with this name (repeatable; `Server HD:Folder:File`
    /// names one file).
    #[arg(long, value_name = "NAME")]
    exclude_file: Vec<String>,

    /// Skip every folder with this name, and everything in it (repeatable;
    /// `Server HD:Folder` names one folder).
    #[arg(long, value_name = "NAME")]
    exclude_folder: Vec<String>,

    /// Skip paths whose name or full path matches this shell pattern (`*`,
    /// `?`, `[...]`, ignoring case; repeatable).
    #[arg(long, value_name = "PATTERN", value_parser = valid_glob)]
    exclude_glob: Vec<String>,

    /// How to treat files that another process holds open.
    #[arg(long, value_enum, default_value_t = OpenFiles::IgnoreLocks, value_name = "POLICY")]
    open_files: OpenFiles,

    /// With respect-locks: attempts after the first before a held file is
    /// skipped, 0..=100 [default: 0: skipped at once].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(RETRIES_MAX)))]
    retries: Option<u32>,

    /// With respect-locks: time between attempts, 1ms..=1h, at most 24h
    /// times --retries [default: 1s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = retry_interval)]
    retry_interval: Option<Duration>,

    /// With wait-for-idle: how long a file must have gone unwritten,
    /// 1ms..=1h [default: 2s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = idle)]
    idle: Option<Duration>,

    /// With wait-for-idle: how long to wait for that at most, per file,
    /// 1ms..=24h [default: 60s].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = timeout)]
    timeout: Option<Duration>,
}

/// How long, after opening a file another process writes, the backup waits
/// for its holder to react (release it, or stop writing to it) before the
/// first read; and how long the file must go unwritten to count as settled.
const SETTLE_MAX: Duration = Duration::from_millis(500);
const SETTLE_QUIET: Duration = Duration::from_millis(30);

/// The clock's origin: far enough from zero that files written long before
/// the backup started map to distinct, earlier virtual times.
const ORIGIN: SimTime = SimTime::from_micros(1_000 * 86_400 * 1_000_000);

/// Bytes per block that is written, or left a hole when all zeros.
const BLOCK_BYTES: usize = 4096;

impl BackupArgs {
    fn policy(&self) -> Result<OpenFilePolicy, CliError> {
        let misplaced = |flag: &str, wanted: &str| {
            CliError::Usage(format!("'{flag}' applies only to '--open-files {wanted}'"))
        };
        if self.open_files != OpenFiles::RespectLocks {
            if self.retries.is_some() {
                return Err(misplaced("--retries", "respect-locks"));
            }
            if self.retry_interval.is_some() {
                return Err(misplaced("--retry-interval", "respect-locks"));
            }
        }
        if self.open_files != OpenFiles::WaitForIdle {
            if self.idle.is_some() {
                return Err(misplaced("--idle", "wait-for-idle"));
            }
            if self.timeout.is_some() {
                return Err(misplaced("--timeout", "wait-for-idle"));
            }
        }
        Ok(match self.open_files {
            OpenFiles::IgnoreLocks => OpenFilePolicy::IgnoreLocks,
            OpenFiles::RespectLocks => {
                let retries = self.retries.unwrap_or(0);
                let interval = self.retry_interval.unwrap_or(Duration::from_secs(1));
                if interval
                    .checked_mul(retries)
                    .is_none_or(|total| total > RETRY_TOTAL_MAX)
                {
                    return Err(CliError::Usage(format!(
                        "'--retries {retries}' with '--retry-interval {interval:?}': more than \
                         24h of retries in all (retries x interval is at most 24h)"
                    )));
                }
                OpenFilePolicy::RespectLocks { retries, interval }
            }
            OpenFiles::WaitForIdle => OpenFilePolicy::WaitForIdle {
                idle: self.idle.unwrap_or(Duration::from_secs(2)),
                timeout: self.timeout.unwrap_or(Duration::from_secs(60)),
            },
        })
    }

    fn exclusion(&self) -> Arc<dyn ExclusionPolicy> {
        let mut all: Vec<Arc<dyn ExclusionPolicy>> = Vec::new();
        for name in &self.exclude_folder {
            all.push(Arc::new(ExcludeFolder::new(name)));
        }
        for name in &self.exclude_file {
            all.push(Arc::new(ExcludeFile::new(name)));
        }
        for pattern in &self.exclude_glob {
            all.push(Arc::new(ExcludeGlob::new(pattern)));
        }
        Arc::new(
            all.into_iter()
                .fold(ExcludeAny::new(), ExcludeAny::with_arc),
        )
    }
}

/// `a/b/c` for `Server HD:a:b:c`.
fn relative(path: &VolumePath) -> String {
    path.components().join("/")
}

/// What a directory is, whatever the path to it: its device and inode
/// (without inodes, its canonical path: no bind mounts to see through).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Id(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] PathBuf);

#[cfg(unix)]
fn id_of(_path: &Path, meta: &fs::Metadata) -> Id {
    use std::os::unix::fs::MetadataExt;
    Id((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn id_of(path: &Path, _meta: &fs::Metadata) -> Id {
    Id(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// The identity of the directory at `path` (symlinks followed).
fn id_at(path: &Path) -> io::Result<Id> {
    Ok(id_of(path, &fs::metadata(path)?))
}

/// Bad input when the error says the path is wrong, a runtime failure when
/// the machine failed.
fn path_error(e: &io::Error, message: String) -> CliError {
    if input::is_bad_path(e) {
        CliError::Usage(message)
    } else {
        CliError::Runtime(message)
    }
}

/// What the checks found out: where to write, and what never to write into.
#[derive(Debug)]
struct Checked {
    /// ARCHIVE's existing part, canonical (symlinks resolved, so that the
    /// run does not resolve them again).
    base: PathBuf,
    /// The folders of ARCHIVE still to create below `base`.
    tail: Vec<OsString>,
    /// DIR and every folder under it: the archive never writes into one.
    served: HashSet<Id>,
}

/// Checks DIR and ARCHIVE (see the module docs), all before anything is
/// written; nothing is created.
fn check_paths(
    dir: &Path,
    archive: &Path,
    exclusion: &dyn ExclusionPolicy,
) -> Result<Checked, CliError> {
    let (dir_real, dir_id) = check_dir(dir)?;
    let (base, tail) = archive_parts(archive)?;
    let archive_exists = tail.is_empty();
    let walked = walk_served(
        &dir_real,
        dir_id.clone(),
        archive_exists.then_some(&base),
        exclusion,
    );
    let served = walked.folders;
    let to = |what: String| CliError::Usage(format!("--to {}: {what}", archive.display()));
    // ARCHIVE is DIR or inside it: a folder on its way up is one of DIR's.
    for above in base.ancestors() {
        let id = id_at(above).map_err(|e| {
            path_error(
                &e,
                format!("--to {}: {}: {e}", archive.display(), above.display()),
            )
        })?;
        if id == dir_id && above == base && archive_exists {
            return Err(to(format!(
                "is --dir {} itself (the same directory): the backup never writes into what \
                 it archives",
                dir.display()
            )));
        }
        if served.contains(&id) {
            return Err(to(format!(
                "inside --dir {} ({} is {}): the backup never writes into what it archives",
                dir.display(),
                above.display(),
                if id == dir_id {
                    "that directory".to_owned()
                } else {
                    "one of its folders".to_owned()
                }
            )));
        }
    }
    // ARCHIVE is above DIR: DIR's files would be archived over themselves.
    if archive_exists {
        let id =
            id_at(&base).map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
        for above in dir_real.ancestors().skip(1) {
            if id_at(above).is_ok_and(|a| a == id) {
                return Err(to(format!(
                    "an ancestor of --dir {} (the same directory as {}): the archive of its \
                     files could land on the files themselves",
                    dir.display(),
                    above.display()
                )));
            }
        }
    }
    if let Some(e) = walked.problem {
        return Err(e);
    }
    // Writable? (A probe file in the deepest existing folder, removed at once.)
    input::check_writable_dir("--to", archive, &base)?;
    Ok(Checked { base, tail, served })
}

/// DIR's canonical path and identity, or why it cannot be archived.
fn check_dir(dir: &Path) -> Result<(PathBuf, Id), CliError> {
    let bad = |e: &io::Error| path_error(e, format!("--dir {}: {e}", dir.display()));
    let meta = fs::metadata(dir).map_err(|e| bad(&e))?;
    if !meta.is_dir() {
        return Err(CliError::Usage(format!(
            "--dir {}: not a directory ({})",
            dir.display(),
            input::kind_of(meta.file_type())
        )));
    }
    fs::read_dir(dir)
        .map_err(|e| path_error(&e, format!("--dir {}: cannot be read: {e}", dir.display())))?;
    let real = fs::canonicalize(dir).map_err(|e| bad(&e))?;
    Ok((real.clone(), id_of(&real, &meta)))
}

/// ARCHIVE split into its deepest existing directory, canonical, and the
/// names of the folders to create below it; or why it cannot be one.
fn archive_parts(archive: &Path) -> Result<(PathBuf, Vec<OsString>), CliError> {
    let to = |what: &dyn std::fmt::Display| {
        CliError::Usage(format!("--to {}: {what}", archive.display()))
    };
    if archive.as_os_str().is_empty() {
        return Err(to(&"an empty path"));
    }
    let abs = std::path::absolute(archive)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    let mut existing = PathBuf::new();
    let mut tail: Vec<OsString> = Vec::new();
    for c in abs.components() {
        if !tail.is_empty() {
            match c {
                Component::Normal(name) => tail.push(name.to_owned()),
                _ => {
                    return Err(to(&format!(
                        "'..' below {}, which does not exist",
                        existing.join(&tail[0]).display()
                    )));
                }
            }
            continue;
        }
        let next = existing.join(c);
        match fs::metadata(&next) {
            Ok(_) => existing = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(&next).is_ok() {
                    return Err(to(&format!(
                        "{} is a dangling symlink: the backup never creates through one",
                        next.display()
                    )));
                }
                match c {
                    Component::Normal(name) => tail.push(name.to_owned()),
                    _ => return Err(to(&format!("{}: {e}", next.display()))),
                }
            }
            Err(e) => {
                return Err(path_error(
                    &e,
                    format!("--to {}: {}: {e}", archive.display(), next.display()),
                ));
            }
        }
    }
    if let Some(long) = tail.iter().find(|n| n.len() > NAME_MAX_BYTES) {
        return Err(to(&format!(
            "file name too long ({} bytes, at most {NAME_MAX_BYTES})",
            long.len()
        )));
    }
    let meta = fs::metadata(&existing)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    if !meta.is_dir() {
        return Err(to(&if tail.is_empty() {
            format!(
                "exists and is not a directory ({})",
                input::kind_of(meta.file_type())
            )
        } else {
            format!("{} is not a directory", existing.display())
        }));
    }
    let base = fs::canonicalize(&existing)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    Ok((base, tail))
}

/// Longest name of a folder the command creates: `NAME_MAX` of Linux.
const NAME_MAX_BYTES: usize = 255;

/// What a walk of DIR's folders found.
struct Walked {
    /// DIR and every folder under it (a folder met twice, through a bind
    /// mount, is walked once).
    folders: HashSet<Id>,
    /// The first folder of the archive, where the backup would put a folder
    /// of DIR, that is a symlink, not a directory, or one of DIR's own.
    problem: Option<CliError>,
}

/// Walks DIR's folders (by `lstat`: no symlink followed, nothing opened but
/// folders), noting each one's identity and, where `archive` exists,
/// checking the folder the backup would make for it there.
fn walk_served(
    dir: &Path,
    dir_id: Id,
    archive: Option<&PathBuf>,
    exclusion: &dyn ExclusionPolicy,
) -> Walked {
    let mut folders = HashSet::from([dir_id]);
    let mut counterparts = Vec::new();
    // (real path, path under DIR, whether the backup walks it)
    let mut stack = vec![(dir.to_path_buf(), Vec::<String>::new(), true)];
    while let Some((real, rel, walked)) = stack.pop() {
        // An unreadable folder is the backup's to report when it gets there.
        let Ok(entries) = fs::read_dir(&real) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let path = entry.path();
            if !folders.insert(id_of(&path, &meta)) {
                continue;
            }
            // As the volume lists it: UTF-8 names, no temporaries.
            let name = entry
                .file_name()
                .into_string()
                .ok()
                .filter(|n| !n.starts_with(TEMP_PREFIX));
            let (sub, walks) = match name {
                Some(n) if walked => {
                    let mut sub = rel.clone();
                    sub.push(n);
                    let excluded = exclusion.excludes(&VolumePath::new(SERVER_HD, sub.iter()));
                    (sub, !excluded)
                }
                _ => (rel.clone(), false),
            };
            if walks {
                counterparts.push(sub.clone());
            }
            stack.push((path, sub, walks));
        }
    }
    let problem = archive.and_then(|archive| {
        counterparts.iter().find_map(|rel| {
            let mut there = archive.clone();
            there.extend(rel);
            let what = match fs::symlink_metadata(&there) {
                Ok(m) if m.file_type().is_symlink() => {
                    "is a symlink: the backup never writes through one".to_owned()
                }
                Ok(m) if !m.is_dir() => format!(
                    "is {}, where the backup puts the folder {}",
                    input::kind_of(m.file_type()),
                    rel.join("/")
                ),
                Ok(m) if folders.contains(&id_of(&there, &m)) => {
                    "is a folder of --dir (a bind mount?): the backup never writes into what it \
                     archives"
                        .to_owned()
                }
                _ => return None,
            };
            Some(CliError::Usage(format!(
                "--to: {}: {what}",
                there.display()
            )))
        })
    });
    Walked { folders, problem }
}

/// Creates ARCHIVE's missing folders, one at a time, never through a
/// symlink; returns ARCHIVE.
fn create_archive(checked: &Checked, archive: &Path) -> Result<PathBuf, CliError> {
    let mut at = checked.base.clone();
    for name in &checked.tail {
        at.push(name);
        make_folder(&at, &checked.served).map_err(|e| match e {
            Made::Io(e) => path_error(
                &e,
                format!(
                    "--to {}: cannot be created: {}: {e}",
                    archive.display(),
                    at.display()
                ),
            ),
            Made::Refused(what) => CliError::Usage(format!(
                "--to {}: {}: {what}",
                archive.display(),
                at.display()
            )),
        })?;
    }
    Ok(at)
}

/// Why a folder of the archive could not be made.
enum Made {
    Io(io::Error),
    Refused(String),
}

/// Makes the folder `path` (its parent exists and was checked) unless it is
/// there, then checks by `symlink_metadata` that it is a directory, not a
/// symlink, and not one of DIR's folders.
fn make_folder(path: &Path, served: &HashSet<Id>) -> Result<(), Made> {
    match fs::create_dir(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                input::sync_dir(parent).map_err(Made::Io)?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Made::Io(e)),
    }
    let meta = fs::symlink_metadata(path).map_err(Made::Io)?;
    if meta.file_type().is_symlink() {
        return Err(Made::Refused(
            "a symlink: the backup never writes through one".to_owned(),
        ));
    }
    if !meta.is_dir() {
        return Err(Made::Refused(format!(
            "exists and is {}, where the backup puts a folder",
            input::kind_of(meta.file_type())
        )));
    }
    if served.contains(&id_of(path, &meta)) {
        return Err(Made::Refused(
            "a folder of --dir (a bind mount?): the backup never writes into what it archives"
                .to_owned(),
        ));
    }
    Ok(())
}

/// A file being archived: its temporary, removed when dropped unless it was
/// renamed into place.
struct Pending {
    path: VolumePath,
    folder: PathBuf,
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    /// Bytes of the file seen so far (its length when done).
    len_bytes: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A failure writing `what` into the archive: a runtime failure, one line,
/// saying "disk full" when the file system is.
fn write_error(what: &Path, e: &io::Error) -> CliError {
    let full = matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    );
    CliError::Runtime(if full {
        format!("writing the archive: {}: disk full ({e})", what.display())
    } else {
        format!("writing the archive: {}: {e}", what.display())
    })
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

/// The archive the run writes: ARCHIVE/<path under DIR> for each file.
struct Archive {
    root: PathBuf,
    /// DIR and its folders, never written into.
    served: HashSet<Id>,
    /// Folders of the archive made and checked so far.
    made: HashSet<PathBuf>,
    /// The file being written.
    pending: Option<Pending>,
    /// Temporaries created, for fresh names.
    temps: u64,
}

impl Archive {
    /// The archive's folder for a file of DIR in `folders`, made and checked
    /// one component at a time.
    fn folder(&mut self, folders: &[String]) -> Result<PathBuf, CliError> {
        let mut at = self.root.clone();
        for name in folders {
            if !matches!(
                Path::new(name).components().collect::<Vec<_>>()[..],
                [Component::Normal(_)]
            ) {
                return Err(CliError::Runtime(format!(
                    "writing the archive: {name:?}: not a folder name"
                )));
            }
            at.push(name);
            if self.made.contains(&at) {
                continue;
            }
            make_folder(&at, &self.served).map_err(|e| match e {
                Made::Io(e) => write_error(&at, &e),
                Made::Refused(what) => {
                    CliError::Runtime(format!("writing the archive: {}: {what}", at.display()))
                }
            })?;
            self.made.insert(at.clone());
        }
        Ok(at)
    }

    /// Starts archiving `path`: a fresh temporary in its folder.
    fn begin(&mut self, path: &VolumePath) -> Result<(), CliError> {
        self.pending = None;
        let comps = path.components();
        let Some((name, folders)) = comps.split_last() else {
            return Err(CliError::Runtime(format!("{path}: not a file")));
        };
        let folder = self.folder(folders)?;
        let target = folder.join(name);
        loop {
            self.temps += 1;
            let tmp = folder.join(format!(
                "{TEMP_PREFIX}-backup-{}-{}",
                std::process::id(),
                self.temps
            ));
            match input::create_new(&tmp) {
                Ok(file) => {
                    self.pending = Some(Pending {
                        path: path.clone(),
                        folder,
                        target,
                        tmp,
                        file: Some(file),
                        len_bytes: 0,
                    });
                    return Ok(());
                }
                // Left by another run with this pid, or being made now.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(write_error(&tmp, &e)),
            }
        }
    }

    /// Writes `chunk` of `path` (the file begun, or a new one), leaving a
    /// hole for each block of zeros.
    fn write(&mut self, path: &VolumePath, chunk: &Chunk) -> Result<(), CliError> {
        if self.pending.as_ref().is_none_or(|p| p.path != *path) {
            self.begin(path)?;
        }
        let p = self.pending.as_mut().expect("begun above");
        let file = p.file.as_ref().expect("open until done");
        let bytes = chunk.to_vec();
        let mut at = 0;
        while at < bytes.len() {
            // The next run of blocks that are not all zeros.
            // Without an early exit, so that it runs in vector registers.
            let is_zero = |b: &[u8]| b.iter().fold(0, |acc, &x| acc | x) == 0;
            let block = |i: usize| &bytes[i..(i + BLOCK_BYTES).min(bytes.len())];
            while at < bytes.len() && is_zero(block(at)) {
                at += BLOCK_BYTES;
            }
            let start = at;
            while at < bytes.len() && !is_zero(block(at)) {
                at += BLOCK_BYTES;
            }
            let end = at.min(bytes.len());
            if start < end {
                write_all_at(file, &bytes[start..end], chunk.offset() + start as u64)
                    .map_err(|e| write_error(&p.target, &e))?;
            }
        }
        p.len_bytes = p.len_bytes.max(chunk.offset() + chunk.len_bytes());
        Ok(())
    }

    /// `path` is read whole: its length set (the holes at its end), synced,
    /// renamed into place, its folder synced. An empty file, which has no
    /// chunks, is begun here. Returns its length.
    fn finish(&mut self, path: &VolumePath) -> Result<u64, CliError> {
        if self.pending.as_ref().is_none_or(|p| p.path != *path) {
            self.begin(path)?;
        }
        let mut p = self.pending.take().expect("begun above");
        let file = p.file.as_ref().expect("open until done");
        file.set_len(p.len_bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| write_error(&p.target, &e))?;
        fs::rename(&p.tmp, &p.target).map_err(|e| write_error(&p.target, &e))?;
        // Renamed: nothing to remove any more.
        p.file = None;
        input::sync_dir(&p.folder).map_err(|e| write_error(&p.folder, &e))?;
        Ok(p.len_bytes)
    }
}

/// The client's world: DIR as "Server HD", the archive, and stdout.
struct Env<'a, W: Write> {
    vol: &'a OsVolume,
    out: &'a mut W,
    archive: Archive,
    policy: OpenFilePolicy,
    /// Whether the client is in one of its policy's waits (a busy retry, a
    /// wait for quiet): then its next step is slept for; otherwise it is
    /// taken at once (the modelled throughput is ignored).
    waiting: bool,
    /// The first error writing stdout.
    failed: Option<io::Error>,
    /// The first error writing the archive: it ends the run.
    fatal: Option<CliError>,
}

impl<W: Write> Env<'_, W> {
    fn say(&mut self, line: String) {
        if self.failed.is_none()
            && let Err(e) = writeln!(self.out, "{line}")
        {
            self.failed = Some(e);
        }
    }

    fn check(&mut self) -> Result<(), CliError> {
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        match self.failed.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// (length, modification time) of a file, by `stat`: no open.
    fn stamp(real: &Path) -> Option<(u64, SystemTime)> {
        let m = fs::metadata(real).ok()?;
        Some((m.len(), m.modified().ok()?))
    }

    /// The error that stops the client after `e`, kept for the run to report.
    fn stop(&mut self, path: &VolumePath, e: CliError) -> mailsim::Error {
        self.archive.pending = None;
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
        mailsim::Error::Io {
            path: PathBuf::from(relative(path)),
            source: io::Error::other("the archive could not be written"),
        }
    }
}

impl<W: Write> BackupEnv for Env<'_, W> {
    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        (name == SERVER_HD).then_some(self.vol as &dyn Volume)
    }

    fn log(&mut self, _time: SimTime, kind: EventKind, path: Option<&VolumePath>) {
        let rel = path.map_or_else(String::new, relative);
        match kind {
            EventKind::BackupStarted { files } => {
                self.say(format!("backup started: {files} files to archive"));
            }
            EventKind::Excluded { files } => {
                self.waiting = false;
                self.say(if files == 1 {
                    format!("excluded {rel}")
                } else {
                    format!("excluded {rel} ({files} files)")
                });
            }
            EventKind::Busy {
                holder,
                attempt,
                attempts,
            } => {
                self.waiting = true;
                if attempt < attempts {
                    let interval = match self.policy {
                        OpenFilePolicy::RespectLocks { interval, .. } => interval,
                        _ => Duration::ZERO,
                    };
                    self.say(format!(
                        "busy: {rel} held by {holder} (attempt {attempt} of {attempts}); \
                         retrying in {interval:?}"
                    ));
                }
            }
            EventKind::SkippedBusy { holder } => {
                self.waiting = false;
                self.say(format!("busy: {rel} held by {holder}: skipped"));
            }
            EventKind::WaitingForIdle { .. } => {
                self.waiting = true;
                if let OpenFilePolicy::WaitForIdle { idle, timeout } = self.policy {
                    self.say(format!(
                        "waiting for {rel} to go {idle:?} unwritten (at most {timeout:?})"
                    ));
                }
            }
            EventKind::IdleTimeout => {
                self.waiting = false;
                self.say(format!(
                    "skipped {rel}: it did not go quiet before the timeout"
                ));
            }
            EventKind::Archived { .. } => {
                self.waiting = false;
                // The file's last chunk is in: it gets its final name now,
                // before the client moves on.
                let Some(path) = path else { return };
                if self.fatal.is_some() {
                    return;
                }
                match self.archive.finish(path) {
                    Ok(bytes) => self.say(format!("archived {rel} ({bytes} bytes)")),
                    Err(e) => {
                        let _ = self.stop(path, e);
                    }
                }
            }
            EventKind::Opened | EventKind::BackupFinished { .. } => {
                self.waiting = false;
            }
            other => {
                // Anything else the client has to say (a file it could not
                // read, say), in its own words, without the virtual time.
                // A file it gave up on is not archived: its temporary goes.
                self.waiting = false;
                self.archive.pending = None;
                let event = mailsim::Event {
                    time: SimTime::ZERO,
                    night: 1,
                    actor: Actor::RetrospectRemote,
                    kind: other,
                    path: path.cloned(),
                };
                let text = event.to_string();
                let text = text.split_once(' ').map_or(text.as_str(), |(_, t)| t);
                self.say(text.to_owned());
            }
        }
    }

    /// A file was just opened. If another process writes it, give the
    /// holder a moment (at most [`SETTLE_MAX`]) to react to the open —
    /// release the file, or stop writing to it — before the first read, as
    /// the model promises; proceed as soon as it has released the file or
    /// the file has gone [`SETTLE_QUIET`] unwritten.
    fn opened(&mut self, path: &VolumePath, _now: SimTime) -> mailsim::Result<()> {
        let Some(holder) = self.vol.writer(path)? else {
            return Ok(());
        };
        self.say(format!(
            "opened {} while {holder} holds it: a foreign open, which it may react to",
            relative(path)
        ));
        let real = self.vol.real_path(path)?;
        let start = Instant::now();
        let mut last = Self::stamp(&real);
        let mut quiet_since = start;
        while start.elapsed() < SETTLE_MAX {
            std::thread::sleep(Duration::from_millis(2));
            if self.vol.writer(path)?.is_none() {
                break;
            }
            let now = Self::stamp(&real);
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= SETTLE_QUIET {
                break;
            }
        }
        Ok(())
    }

    /// Every chunk goes straight into the archive: nothing of a file is
    /// kept in memory.
    fn archive_chunk(&mut self, path: &VolumePath, chunk: &Chunk) -> mailsim::Result<bool> {
        if let Some(e) = self.fatal.take() {
            let e = self.stop(path, e);
            return Err(e);
        }
        match self.archive.write(path, chunk) {
            Ok(()) => Ok(true),
            Err(e) => Err(self.stop(path, e)),
        }
    }
}

pub fn run(args: &BackupArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = args.policy()?;
    let exclusion = args.exclusion();
    let checked = check_paths(&args.dir, &args.to, exclusion.as_ref())?;
    let clock = ScaledClock::new(ORIGIN, 1);
    let vol = OsVolume::open_dir(SERVER_HD, &args.dir)
        .map_err(|e| CliError::Usage(format!("--dir {}: {e}", args.dir.display())))?
        .with_clock(clock.clone());
    let root = create_archive(&checked, &args.to)?;
    let mut client = BackupClient::new(
        vec![SERVER_HD.to_owned()],
        exclusion,
        policy,
        BackupSpeed::default(),
    );
    let mut env = Env {
        vol: &vol,
        out,
        archive: Archive {
            root,
            served: checked.served,
            made: HashSet::new(),
            pending: None,
            temps: 0,
        },
        policy,
        waiting: false,
        failed: None,
        fatal: None,
    };
    loop {
        let step = client.step(&mut env, clock.now());
        env.check()?;
        let step = step.map_err(|e| CliError::Runtime(e.to_string()))?;
        // Each item's file is in the archive already (see `log`); its
        // content is empty.
        drop(client.take_backup_set());
        match step {
            Step::Done => break,
            // A policy's wait: real time, bounded by its retries or timeout.
            Step::At(t) if env.waiting => clock.sleep_until(t),
            // Reading: as fast as the disk allows.
            Step::At(_) => {}
        }
    }
    let s = client.stats();
    writeln!(
        env.out,
        "done: {} files archived ({} bytes) into {}, {} excluded, {} skipped busy",
        s.files_archived,
        s.bytes_archived,
        args.to.display(),
        s.files_excluded,
        s.files_skipped_busy + s.files_skipped_snapshot
    )?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use mailsim::policy::ExcludeNothing;

    fn check(dir: &Path, archive: &Path) -> Result<Checked, CliError> {
        check_paths(dir, archive, &ExcludeNothing)
    }

    #[test]
    fn an_archive_at_inside_or_above_the_directory_is_refused_by_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir_all(dir.join("sub")).unwrap();
        let alias = tmp.path().join("alias");
        std::os::unix::fs::symlink(tmp.path(), &alias).unwrap();
        for bad in [
            dir.clone(),
            dir.join("a"),
            dir.join("sub"),
            dir.join("sub/new/deeper"),
            tmp.path().join("srv/./c"),
            tmp.path().to_path_buf(),
            alias.clone(),
            alias.join("srv"),
            alias.join("srv/x"),
            PathBuf::from("/"),
        ] {
            let e = check(&dir, &bad).unwrap_err();
            assert!(
                matches!(&e, CliError::Usage(m) if m.contains("--dir")),
                "{}: {e}",
                bad.display()
            );
        }
        assert!(!dir.join("a").exists() && !dir.join("c").exists());
        assert!(matches!(
            check(&dir, &dir.join("x/../y")),
            Err(CliError::Usage(m)) if m.contains("'..'")
        ));
        let outside = tmp.path().join("srv/../archive/x");
        let checked = check(&dir, &outside).unwrap();
        assert!(
            !tmp.path().join("archive").exists(),
            "checks create nothing"
        );
        let root = create_archive(&checked, &outside).unwrap();
        assert!(root.ends_with("archive/x") && root.is_dir());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_symlink_where_the_archive_puts_a_folder_is_refused_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir_all(dir.join("System Folder/Extensions")).unwrap();
        let archive = tmp.path().join("archive");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, archive.join("System Folder")).unwrap();
        let e = check(&dir, &archive).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("symlink")),
            "{e}"
        );
        // Excluded, it is none of the backup's business.
        check_paths(&dir, &archive, &ExcludeFolder::new("System Folder")).unwrap();
        // Made during the run: refused as it is found, nothing written there.
        let mut a = Archive {
            root: archive.clone(),
            served: HashSet::new(),
            made: HashSet::new(),
            pending: None,
            temps: 0,
        };
        let path = VolumePath::new(SERVER_HD, ["System Folder", "Extensions", "f"]);
        let e = a.begin(&path).unwrap_err();
        assert!(
            matches!(&e, CliError::Runtime(m) if m.contains("symlink")),
            "{e}"
        );
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn archived_files_keep_their_holes_and_leave_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = Archive {
            root: tmp.path().to_path_buf(),
            served: HashSet::new(),
            made: HashSet::new(),
            pending: None,
            temps: 0,
        };
        let path = VolumePath::new(SERVER_HD, ["d", "f"]);
        let mut bytes = vec![0u8; 3 * 65_536];
        bytes[70_000] = 7;
        for (i, piece) in bytes.chunks(65_536).enumerate() {
            a.write(&path, &Chunk::from_bytes(i as u64 * 65_536, piece))
                .unwrap();
        }
        assert_eq!(a.finish(&path).unwrap(), bytes.len() as u64);
        let f = tmp.path().join("d/f");
        assert_eq!(fs::read(&f).unwrap(), bytes);
        assert_eq!(fs::read_dir(tmp.path().join("d")).unwrap().count(), 1);
        // An empty file has no chunk: it is made at the end.
        let empty = VolumePath::new(SERVER_HD, ["e"]);
        assert_eq!(a.finish(&empty).unwrap(), 0);
        assert_eq!(fs::metadata(tmp.path().join("e")).unwrap().len(), 0);
        // Given up on: its temporary goes.
        a.write(&path, &Chunk::from_bytes(0, b"x")).unwrap();
        a.pending = None;
        assert_eq!(fs::read_dir(tmp.path().join("d")).unwrap().count(), 1);
        assert_eq!(fs::read(&f).unwrap(), bytes, "the archived copy is kept");
    }

    #[test]
    fn knobs_of_another_policy_and_numbers_out_of_range_are_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            b: BackupArgs,
        }
        let parse = |extra: &[&str]| {
            let mut argv = vec!["t", "--dir", "d", "--to", "a"];
            argv.extend_from_slice(extra);
            T::try_parse_from(argv)
                .map_err(|e| e.to_string())
                .and_then(|t| t.b.policy().map_err(|e| e.to_string()))
        };
        assert!(matches!(parse(&[]), Ok(OpenFilePolicy::IgnoreLocks)));
        assert!(matches!(
            parse(&["--open-files", "respect-locks"]),
            Ok(OpenFilePolicy::RespectLocks { retries: 0, .. })
        ));
        assert!(matches!(
            parse(&["--open-files", "wait-for-idle", "--idle", "1", "--timeout", "3"]),
            Ok(OpenFilePolicy::WaitForIdle { idle, timeout })
                if idle == Duration::from_secs(1) && timeout == Duration::from_secs(3)
        ));
        assert!(parse(&["--retries", "1"]).is_err());
        assert!(parse(&["--open-files", "respect-locks", "--timeout", "1"]).is_err());
        let rl = ["--open-files", "respect-locks"];
        let wi = ["--open-files", "wait-for-idle"];
        for (policy, flag, value) in [
            (rl, "--retries", "101"),
            (rl, "--retries", "4294967295"),
            (rl, "--retry-interval", "0"),
            (rl, "--retry-interval", "18446744073709s"),
            (rl, "--retry-interval", "61min"),
            (wi, "--idle", "0"),
            (wi, "--idle", "2h"),
            (wi, "--timeout", "0.0001"),
            (wi, "--timeout", "25h"),
        ] {
            let e = parse(&[policy[0], policy[1], flag, value]).unwrap_err();
            assert!(e.contains(flag), "{flag} {value}: {e}");
        }
        assert!(
            parse(&[
                "--open-files",
                "respect-locks",
                "--retries",
                "100",
                "--retry-interval",
                "14min"
            ])
            .is_ok()
        );
        let e = parse(&[
            "--open-files",
            "respect-locks",
            "--retries",
            "100",
            "--retry-interval",
            "15min",
        ])
        .unwrap_err();
        assert!(
            e.contains("--retries") && e.contains("--retry-interval") && e.contains("24h"),
            "{e}"
        );
    }
}
