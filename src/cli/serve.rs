//! `mailsim serve`: the mail server as a real process, holding a real data
//! file under a real exclusive lock, for `mailsim backup` (or any other
//! program) to contend with.
//!
//! What it does, in order:
//!
//! 1. Checks DIR (and `--copy-aside-to`): they must exist and be
//!    directories, else one line and exit 2, nothing created.
//! 2. Creates `DIR/Microsoft Mail Data` if missing — an empty, valid data
//!    file written to a temporary name, synced, and linked into place (a
//!    link, unlike a rename, never replaces a file another server created
//!    meanwhile).
//! 3. Refuses, exit 2, file left unchanged: a data file another process
//!    holds (asked of the kernel's lock table without opening the file, so
//!    the holder sees no foreign open), naming the holder; one that is not a
//!    data file it can use (the format's full check, payload checksums
//!    included). Then opens it for reading and writing with an exclusive
//!    lock ([`MailServer::start`] on an [`OsVolume`]).
//! 4. Prints `ready: …` and delivers synthetic mail at `--rate` messages a
//!    second, printing `ack ID` for each message only after its transaction
//!    is synced.
//! 5. Between transactions, checks for a foreign open of its data file
//!    (inotify) and reacts per `--on-conflict`, and makes the copy-aside
//!    when one is due: its own file, read through a duplicate of its own
//!    descriptor (no new open, so no foreign access), into the numbered
//!    rotation (temporary name, sync, rename).
//!
//! SIGTERM and SIGINT stop it cleanly in any state (a second one ends it at
//! once, exit 1). Every line is flushed as it is printed.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use mailsim::real::{RotationWriter, TEMP_PREFIX, proc_locks};
use mailsim::sim::{MAIL_DATA, SERVER_HD};
use mailsim::volume::OsVolume;
use mailsim::{ConflictBehavior, MailServer, VolumePath, datafile};

use super::CliError;
use super::args::parse_duration;
use super::verify::FileAt;

/// The rotation's base name, as MS Mail Backup named its copies.
const ROTATION_NAME: &str = "Mail Data Backup";

/// Longest sleep between two looks at the signal flag and the watch.
const POLL: Duration = Duration::from_millis(2);

/// How the server reacts to a foreign open of its data file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OnConflict {
    /// Finish the transaction, flush, close the file and exit 0.
    #[default]
    Shutdown,
    /// Stop delivering but keep holding the file (and its lock) until
    /// SIGTERM or SIGINT.
    Hang,
    /// Keep delivering (unsafe: a copy being read may be torn).
    Tolerate,
}

impl From<OnConflict> for ConflictBehavior {
    fn from(c: OnConflict) -> ConflictBehavior {
        match c {
            OnConflict::Shutdown => ConflictBehavior::Shutdown,
            OnConflict::Hang => ConflictBehavior::Hang,
            OnConflict::Tolerate => ConflictBehavior::Tolerate,
        }
    }
}

/// Flags of `mailsim serve`.
#[derive(Args, Debug)]
#[command(
    after_help = "Output (stdout, one line each, flushed): 'ready: …' once the lock is \
                  held; 'ack ID' per message, after its transaction is synced; 'foreign open …' \
                  and then 'shut down …', 'hung …' or 'tolerating …'; 'copied aside PATH …'; \
                  'stopped …' on SIGTERM or SIGINT.\n\nExit status: 0 after a shutdown or a \
                  signal; 1 a runtime failure; 2 bad input (DIR missing or not a directory, the \
                  data file held by another process or not a data file serve can use)."
)]
pub struct ServeArgs {
    /// The server's folder: its data file is DIR/Microsoft Mail Data,
    /// created if missing. DIR must exist.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// What to do when another process opens the data file.
    #[arg(long, value_enum, default_value_t = OnConflict::Shutdown, value_name = "REACTION")]
    on_conflict: OnConflict,

    /// Messages delivered per second (fractions allowed, at most 10000).
    #[arg(long, default_value_t = 10.0, value_name = "N", value_parser = parse_rate)]
    rate: f64,

    /// Copy the data file aside into this existing folder, as "Mail Data
    /// Backup #1" (newest), #2, … (MS Mail Backup's rotation).
    #[arg(long, value_name = "DIR2")]
    copy_aside_to: Option<PathBuf>,

    /// Time between copies aside: seconds, or a number with a unit ms, s,
    /// min or h [default: 60].
    #[arg(long, value_name = "SECONDS", requires = "copy_aside_to", value_parser = parse_period)]
    copy_every: Option<Duration>,

    /// Copies kept in the rotation [default: 3].
    #[arg(
        long,
        value_name = "N",
        requires = "copy_aside_to",
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    keep: Option<u32>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of messages per second, such as 10 or 0.5".to_owned())?;
    if r.is_finite() && r > 0.0 && r <= 10_000.0 {
        Ok(r)
    } else {
        Err("the rate must be more than 0 and at most 10000 messages a second".to_owned())
    }
}

fn parse_period(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(1) {
        Err("the period must be at least 1 ms".to_owned())
    } else {
        Ok(d)
    }
}

/// An existing directory given by a flag, or bad input.
fn existing_dir(flag: &str, dir: &Path) -> Result<(), CliError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::Usage(format!(
            "{flag} {}: not a directory",
            dir.display()
        ))),
        Err(e) => Err(CliError::Usage(format!("{flag} {}: {e}", dir.display()))),
    }
}

/// A failure before the server is ready: about DIR or its data file, so bad
/// input, except failures of the machine itself (no inotify instance left,
/// disk full).
fn startup_error(real: &Path, e: mailsim::Error) -> CliError {
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
        Error::Io { ref source, .. }
            if !matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::InvalidInput
            ) =>
        {
            CliError::Runtime(e.to_string())
        }
        Error::DiskFull { .. } | Error::VolumeIo { .. } => CliError::Runtime(e.to_string()),
        _ => CliError::Usage(e.to_string()),
    }
}

/// Creates an empty, valid data file at `real` if there is none: written to
/// a temporary name in `dir`, synced, hard-linked into place (which, unlike
/// a rename, fails rather than replace a file created meanwhile), the
/// temporary name removed, the folder synced. Whatever is at `real` already
/// is left alone (and checked when the server opens it).
fn ensure_data_file(real: &Path, dir: &Path) -> Result<(), CliError> {
    match fs::symlink_metadata(real) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(m) if m.is_dir() => {
            return Err(CliError::Usage(format!(
                "{}: is a directory, not a data file",
                real.display()
            )));
        }
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "{}: not a regular file",
                real.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::Usage(format!("{}: {e}", real.display()))),
    }
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}-serve-{}-{MAIL_DATA}",
        std::process::id()
    ));
    let made = (|| -> io::Result<()> {
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut f = File::options().write(true).create_new(true).open(&tmp)?;
        f.write_all(&datafile::build_image(0, []))?;
        f.sync_all()?;
        drop(f);
        match fs::hard_link(&tmp, real) {
            Ok(()) => {}
            // Another server created it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        fs::remove_file(&tmp)?;
        // Makes the link durable (a folder cannot be opened as a file on
        // Windows).
        if cfg!(unix) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    made.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        let msg = format!("{}: cannot create the data file: {e}", real.display());
        if e.kind() == io::ErrorKind::PermissionDenied {
            CliError::Usage(msg)
        } else {
            CliError::Runtime(msg)
        }
    })
}

/// Refuses, leaving it untouched, a data file another process holds (asked
/// without opening it, so the holder sees no foreign open) or one that fails
/// the format's full check, payload checksums included.
fn check_data_file(real: &Path) -> Result<(), CliError> {
    if let Ok(Some(holder)) = proc_locks::holder(real) {
        return Err(startup_error(
            real,
            mailsim::Error::DenyConflict {
                path: VolumePath::root(real.display().to_string()),
                holder: holder.to_string(),
            },
        ));
    }
    let unreadable = |e: io::Error| CliError::Usage(format!("{}: {e}", real.display()));
    let file = File::open(real).map_err(unreadable)?;
    let at = FileAt::new(&file).map_err(unreadable)?;
    let verdict = datafile::verify_from(&at);
    if let Some(e) = at.take_error() {
        return Err(unreadable(e));
    }
    verdict.map(|_| ()).map_err(|source| {
        startup_error(
            real,
            mailsim::Error::DataFile {
                path: VolumePath::root(real.display().to_string()),
                source,
            },
        )
    })
}

/// Prints one line and flushes it.
fn say(out: &mut impl Write, line: fmt::Arguments<'_>) -> Result<(), CliError> {
    out.write_fmt(line)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Message sizes: 200 to 3999 bytes, from a xorshift generator.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        200 + (x % 3800) as u32
    }
}

/// SIGTERM and SIGINT set the flag; a second one, with the flag already
/// set, ends the process at once (exit 1).
fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|e| CliError::Runtime(format!("cannot handle signal {sig}: {e}")))?;
    }
    Ok(stop)
}

struct Running<'a> {
    args: &'a ServeArgs,
    vol: OsVolume,
    server: MailServer,
    real: PathBuf,
    rotation: Option<(RotationWriter, Duration)>,
    stop: Arc<AtomicBool>,
}

pub fn run(args: &ServeArgs, out: &mut impl Write) -> Result<(), CliError> {
    existing_dir("--dir", &args.dir)?;
    if let Some(d2) = &args.copy_aside_to {
        existing_dir("--copy-aside-to", d2)?;
    }
    let stop = stop_flag()?;
    let vol = OsVolume::open_dir(SERVER_HD, &args.dir).map_err(|e| startup_error(&args.dir, e))?;
    let path = VolumePath::new(SERVER_HD, [MAIL_DATA]);
    let real = vol
        .real_path(&path)
        .map_err(|e| startup_error(&args.dir.join(MAIL_DATA), e))?;
    ensure_data_file(&real, vol.root())?;
    check_data_file(&real)?;
    let server = MailServer::start(&vol, path).map_err(|e| startup_error(&real, e))?;
    let rotation = match &args.copy_aside_to {
        None => None,
        Some(d2) => {
            let w = RotationWriter::new(d2, ROTATION_NAME, args.keep.unwrap_or(3))
                .map_err(|e| CliError::Usage(e.to_string()))?;
            Some((w, args.copy_every.unwrap_or(Duration::from_secs(60))))
        }
    };
    let mut running = Running {
        args,
        vol,
        server,
        real,
        rotation,
        stop,
    };
    let result = running.serve(out);
    // Whatever happened, the file is flushed and closed (a no-op after a
    // shutdown); the process's exit would release the lock anyway.
    let stopped = running.server.stop(&running.vol);
    result?;
    stopped.map_err(|e| CliError::Runtime(e.to_string()))
}

impl Running<'_> {
    fn serve(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let real = self.real.display().to_string();
        say(
            out,
            format_args!(
                "ready: pid {} holds {real} (exclusive lock): generation {}, {} messages, \
                 delivering {} a second, on conflict {}",
                std::process::id(),
                self.server.generation(),
                self.server.message_count(),
                self.args.rate,
                ConflictBehavior::from(self.args.on_conflict).as_str()
            ),
        )?;
        let period = Duration::from_secs_f64(1.0 / self.args.rate);
        let start = Instant::now();
        let mut next_delivery = start;
        let mut next_copy = self.rotation.as_ref().map(|(_, every)| start + *every);
        let mut sizes = Sizes(0x9E37_79B9_7F4A_7C15 ^ self.server.generation().wrapping_add(1));
        let mut hung = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                let generation = self.stop_server()?;
                say(
                    out,
                    format_args!(
                        "stopped on a signal: generation {generation}, flushed and closed \
                         {real}, lock released"
                    ),
                )?;
                return Ok(());
            }
            if hung {
                std::thread::sleep(POLL);
                continue;
            }
            // Between transactions: has anyone opened the file?
            let foreign = self
                .server
                .foreign_access(&self.vol)
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            if let Some(who) = foreign {
                say(out, format_args!("foreign open of {real} by {who}"))?;
                match self.args.on_conflict {
                    OnConflict::Shutdown => {
                        let generation = self.stop_server()?;
                        say(
                            out,
                            format_args!(
                                "shut down to prevent corruption: finished generation \
                                 {generation}, flushed and closed {real}"
                            ),
                        )?;
                        return Ok(());
                    }
                    OnConflict::Hang => {
                        hung = true;
                        say(
                            out,
                            format_args!(
                                "hung: no longer delivering, still holding {real} and its \
                                 lock; SIGTERM or SIGINT releases it"
                            ),
                        )?;
                        continue;
                    }
                    OnConflict::Tolerate => say(
                        out,
                        format_args!(
                            "tolerating it: still delivering (unsafe: a copy being read may \
                             be torn)"
                        ),
                    )?,
                }
            }
            let now = Instant::now();
            if let Some(at) = next_copy.filter(|at| now >= *at) {
                self.copy_aside(out)?;
                let every = self.rotation.as_ref().map_or(period, |(_, e)| *e);
                next_copy = Some((at + every).max(Instant::now()));
                continue;
            }
            if now >= next_delivery {
                let commit = self
                    .server
                    .deliver(&self.vol, sizes.next())
                    .map_err(|e| CliError::Runtime(e.to_string()))?;
                if let Some(id) = commit.message_id {
                    say(out, format_args!("ack {id}"))?;
                }
                next_delivery = (next_delivery + period).max(now);
                continue;
            }
            let wake = next_copy.map_or(next_delivery, |c| c.min(next_delivery));
            std::thread::sleep(wake.saturating_duration_since(now).min(POLL));
        }
    }

    /// Copies the server's own file into the rotation, read through a
    /// duplicate of the held descriptor (no open: not a foreign access),
    /// between transactions. The rotation seeks the duplicate, whose cursor
    /// it shares with the server's descriptor; the server reads and writes
    /// only with positioned calls, so that cursor is nobody else's. A copy
    /// that fails is reported and serving goes on, as MS Mail Backup made
    /// no copy when it could not.
    /// Stops the server (flushed, closed, its lock released); returns the
    /// generation it finished.
    fn stop_server(&mut self) -> Result<u64, CliError> {
        let generation = self.server.generation();
        self.server
            .stop(&self.vol)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        Ok(generation)
    }

    fn copy_aside(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let Some((writer, _)) = &self.rotation else {
            return Ok(());
        };
        let Some(handle) = self.server.handle() else {
            return Ok(());
        };
        let generation = self.server.generation();
        let copied = self
            .vol
            .try_clone_file(handle)
            .and_then(|mut file| writer.write_from(&mut file));
        match copied {
            Ok(c) => say(
                out,
                format_args!(
                    "copied aside {} ({} bytes, generation {generation})",
                    c.path.display(),
                    c.copied_bytes
                ),
            ),
            Err(e) => say(out, format_args!("copy aside failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_periods_are_checked() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "nan", "inf", "10001", "ten", ""] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_period("0.05"), Ok(Duration::from_millis(50)));
        assert!(parse_period("0").is_err());
        assert!(parse_period("-1").is_err());
    }

    #[test]
    fn message_sizes_stay_in_range() {
        let mut s = Sizes(1);
        let sizes: Vec<u32> = (0..1000).map(|_| s.next()).collect();
        assert!(sizes.iter().all(|n| (200..4000).contains(n)));
        assert!(sizes.iter().any(|&n| n < 1000) && sizes.iter().any(|&n| n > 3000));
    }

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
}
