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
//! long enough, then opens it.
//!
//! The modelled LocalTalk throughput is ignored: files are read as fast as
//! the disk allows. Only the policies' own waits (retries, waiting for
//! quiet) take real time, and they are bounded by the policy's retries or
//! timeout. Each archived file is written to ARCHIVE/<its path under DIR>
//! under a temporary name, synced, and renamed. DIR is never written to.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, ValueEnum};
use mailsim::backup::{BackupEnv, BackupItem, BackupSpeed, Step};
use mailsim::policy::{ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy};
use mailsim::real::{ScaledClock, TEMP_PREFIX};
use mailsim::report::{Actor, EventKind};
use mailsim::sim::SERVER_HD;
use mailsim::volume::{OsVolume, Volume};
use mailsim::{BackupClient, OpenFilePolicy, SimTime, VolumePath};

use super::CliError;
use super::args::{parse_duration, valid_glob};

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

/// Flags of `mailsim backup`.
#[derive(Args, Debug)]
#[command(
    after_help = "Output (stdout): one line per archived file ('archived PATH (N \
                  bytes)'), per excluded file or folder, per file skipped as busy ('busy: PATH \
                  held by COMMAND (pid N): skipped'), and a summary.\n\nExit status: 0 done, \
                  whatever was skipped; 1 a runtime failure; 2 bad input (DIR missing or not a \
                  directory; ARCHIVE an existing file, inside DIR, or not creatable or \
                  writable)."
)]
pub struct BackupArgs {
    /// The directory to archive (as the volume "Server HD").
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// The archive: a directory, created with its parents if missing. Each
    /// file is written to ARCHIVE/<its path under DIR>.
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
    /// skipped [default: 0: skipped at once].
    #[arg(long, value_name = "N")]
    retries: Option<u32>,

    /// With respect-locks: time between attempts [default: 1s].
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    retry_interval: Option<Duration>,

    /// With wait-for-idle: how long a file must have gone unwritten
    /// [default: 2s].
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    idle: Option<Duration>,

    /// With wait-for-idle: how long to wait for that at most, per file
    /// [default: 60s].
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
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
            OpenFiles::RespectLocks => OpenFilePolicy::RespectLocks {
                retries: self.retries.unwrap_or(0),
                interval: self.retry_interval.unwrap_or(Duration::from_secs(1)),
            },
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

/// `path` made absolute and free of `.`/`..` and symlinks as far as it
/// exists, for comparing where two paths lead.
fn resolved(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while fs::symlink_metadata(&existing).is_err() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = fs::canonicalize(&existing).unwrap_or(existing);
    for c in rest.into_iter().rev() {
        match Path::new(&c).components().next() {
            Some(Component::ParentDir) => {
                out.pop();
            }
            Some(Component::CurDir) | None => {}
            Some(_) => out.push(c),
        }
    }
    Ok(out)
}

/// Checks DIR and ARCHIVE, then creates ARCHIVE if missing and makes sure
/// it can be written; all before any file is read.
fn check_paths(dir: &Path, archive: &Path) -> Result<(), CliError> {
    let bad = |what: String| CliError::Usage(what);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad(format!("--dir {}: not a directory", dir.display()))),
        Err(e) => return Err(bad(format!("--dir {}: {e}", dir.display()))),
    }
    match fs::metadata(archive) {
        Ok(m) if !m.is_dir() => {
            return Err(bad(format!(
                "--to {}: exists and is not a directory",
                archive.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(bad(format!("--to {}: {e}", archive.display()))),
    }
    let (d, a) = (
        resolved(dir).map_err(|e| bad(format!("--dir {}: {e}", dir.display())))?,
        resolved(archive).map_err(|e| bad(format!("--to {}: {e}", archive.display())))?,
    );
    if a.starts_with(&d) {
        return Err(bad(format!(
            "--to {}: inside --dir {}: the backup never writes into what it archives",
            archive.display(),
            dir.display()
        )));
    }
    fs::create_dir_all(archive).map_err(|e| {
        bad(format!(
            "--to {}: cannot be created: {e}",
            archive.display()
        ))
    })?;
    // Writable? A probe file, removed at once.
    let probe = archive.join(format!("{TEMP_PREFIX}-backup-probe-{}", std::process::id()));
    File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|e| {
            bad(format!(
                "--to {}: cannot be written: {e}",
                archive.display()
            ))
        })
}

/// The client's world: DIR as "Server HD", and stdout.
struct Env<'a, W: Write> {
    vol: &'a OsVolume,
    out: &'a mut W,
    policy: OpenFilePolicy,
    /// Whether the client is in one of its policy's waits (a busy retry, a
    /// wait for quiet): then its next step is slept for; otherwise it is
    /// taken at once (the modelled throughput is ignored).
    waiting: bool,
    /// The first error writing stdout.
    failed: Option<io::Error>,
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
            EventKind::Opened | EventKind::Archived { .. } | EventKind::BackupFinished { .. } => {
                self.waiting = false;
            }
            other => {
                // Anything else the client has to say (a file it could not
                // read, say), in its own words, without the virtual time.
                self.waiting = false;
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
}

/// Writes one archived file to ARCHIVE/<relative path>: a temporary name,
/// synced, renamed. Returns the folder it went into.
fn store(archive: &Path, item: &BackupItem) -> Result<PathBuf, CliError> {
    let comps = item.path.components();
    let (name, folders) = comps
        .split_last()
        .ok_or_else(|| CliError::Runtime(format!("{}: not a file", item.path)))?;
    let mut folder = archive.to_path_buf();
    folder.extend(folders);
    let target = folder.join(name);
    let fail = |what: &Path, e: io::Error| {
        CliError::Runtime(format!("writing the archive: {}: {e}", what.display()))
    };
    fs::create_dir_all(&folder).map_err(|e| fail(&folder, e))?;
    let tmp = folder.join(format!(
        "{TEMP_PREFIX}-backup-{}-{name}",
        std::process::id()
    ));
    let written = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&item.content.to_vec())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(&target, e));
    }
    Ok(folder)
}

pub fn run(args: &BackupArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = args.policy()?;
    check_paths(&args.dir, &args.to)?;
    let clock = ScaledClock::new(ORIGIN, 1);
    let vol = OsVolume::open_dir(SERVER_HD, &args.dir)
        .map_err(|e| CliError::Usage(format!("--dir {}: {e}", args.dir.display())))?
        .with_clock(clock.clone());
    let mut client = BackupClient::new(
        vec![SERVER_HD.to_owned()],
        args.exclusion(),
        policy,
        BackupSpeed::default(),
    );
    let mut env = Env {
        vol: &vol,
        out,
        policy,
        waiting: false,
        failed: None,
    };
    let mut folders = BTreeSet::new();
    loop {
        let step = client.step(&mut env, clock.now());
        env.check()?;
        let step = step.map_err(|e| CliError::Runtime(e.to_string()))?;
        for item in client.take_backup_set() {
            folders.insert(store(&args.to, &item)?);
            let bytes = item.content.len_bytes();
            env.say(format!("archived {} ({bytes} bytes)", relative(&item.path)));
            env.check()?;
        }
        match step {
            Step::Done => break,
            // A policy's wait: real time, bounded by its retries or timeout.
            Step::At(t) if env.waiting => clock.sleep_until(t),
            // Reading: as fast as the disk allows.
            Step::At(_) => {}
        }
    }
    // Makes the renames durable (a folder cannot be opened as a file on
    // Windows).
    for folder in folders.iter().filter(|_| cfg!(unix)) {
        File::open(folder)
            .and_then(|f| f.sync_all())
            .map_err(|e| CliError::Runtime(format!("{}: {e}", folder.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_inside_the_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir(&dir).unwrap();
        for inside in [
            dir.join("a"),
            dir.join("a/../b"),
            tmp.path().join("srv/./c"),
        ] {
            assert!(matches!(
                check_paths(&dir, &inside),
                Err(CliError::Usage(_))
            ));
            assert!(!inside.exists(), "{}", inside.display());
        }
        let outside = tmp.path().join("srv/../archive/x");
        check_paths(&dir, &outside).unwrap();
        assert!(tmp.path().join("archive/x").is_dir());
        assert_eq!(
            fs::read_dir(tmp.path().join("archive/x")).unwrap().count(),
            0
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn knobs_of_another_policy_are_refused() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            b: BackupArgs,
        }
        let parse = |extra: &[&str]| {
            let mut argv = vec!["t", "--dir", "d", "--to", "a"];
            argv.extend_from_slice(extra);
            T::try_parse_from(argv).unwrap().b.policy()
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
    }
}
