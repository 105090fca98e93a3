//! `mailsim backup`: the backup client (Retrospect Remote) as a real process,
//! archiving the files under a directory into another one.
//!
//! The tree under DIR is walked as the volume "Server HD" with the library's
//! [`BackupClient`] over an [`OsVolume`], so exclusions and open-file
//! policies behave as in the simulation: `ignore-locks` opens whatever holds
//! a file (a foreign access its holder sees); `respect-locks` asks the
//! kernel's lock table who holds a file *without opening it* and skips a
//! held one as busy, naming every process holding it now (`flock (pid 10),
//! sleep (pid 11)` for a lock inherited across `fork`); `wait-for-idle` watches a
//! file's modification time without opening it until it has gone unwritten
//! long enough, then opens it. Only regular files and folders are walked: a
//! FIFO, a socket, a device or a symlink under DIR is never opened.
//!
//! The modelled LocalTalk throughput is ignored: files are read as fast as
//! the disk allows. Only the policies' own waits (retries, waiting for
//! quiet) take real time, each within the range its flag allows
//! ([`RETRY_TOTAL_MAX`], [`TIMEOUT_MAX`]). A file is read as a plain
//! reader (`cat`, `tar`, `dd`) reads it: at once after the open, nothing
//! waiting for its holder to react, chunk by chunk until a read comes back
//! short, whatever length it had at the open.
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
//! DIR>, streamed chunk by chunk as read ([`BackupEnv::archive_chunk`](mailsim::backup::BackupEnv::archive_chunk)) into
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

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mailsim::backup::{BackupSpeed, Step};
use mailsim::policy::{ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy};
use mailsim::real::ScaledClock;
use mailsim::sim::SERVER_HD;
use mailsim::volume::OsVolume;
use mailsim::{BackupClient, OpenFilePolicy, SimTime};

use super::CliError;
use super::args::{parse_duration, valid_glob};

// The command in the order it runs: the checks of DIR and ARCHIVE before
// anything is written (`paths`), the client's world as it archives (`env`),
// the files written into the archive (`archive`).
mod archive;
mod env;
mod paths;

use archive::{Archive, create_archive};
use env::Env;
use paths::check_paths;

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
    )
    .read_to_end(true);
    let mut env = Env::new(&vol, out, Archive::new(root, checked.served), policy);
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
