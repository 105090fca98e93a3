//! `mailsim serve`: the mail server as a real process, holding a real data
//! file under a real exclusive lock, for `mailsim backup` (or any other
//! program) to contend with.
//!
//! What it does, in order, refusing bad input (exit 2) before it creates
//! or opens anything:
//!
//! 1. Checks DIR (and `--copy-aside-to`): each must exist, be a directory,
//!    and be writable (a temporary file is created and removed).
//! 2. Takes an exclusive lock on DIR itself (and on the copy-aside folder):
//!    a second `serve` of the same folder — by any path, a bind mount or a
//!    symlink included — is refused, naming the holder, without opening the
//!    data file. Temporary files a killed `serve` left in them are removed.
//! 3. Creates `DIR/Microsoft Mail Data` if missing — an empty, valid data
//!    file written to a temporary name, synced, and linked into place (a
//!    link, unlike a rename, never replaces a file created meanwhile).
//! 4. Refuses a data file another process holds a lock on (asked of the
//!    kernel's lock table, without opening the file, so the holder sees no
//!    foreign open), naming the holder; then opens it for reading and
//!    writing with an exclusive lock ([`MailServer::start`] on an
//!    [`OsVolume`]), which checks the whole file through that open —
//!    payload checksums included, streamed, whatever its size — and
//!    refuses one that is not a data file it can use (exit 2, the file
//!    untouched), or whose counters leave no room for a transaction
//!    (naming the field).
//! 5. Prints `ready: …`, then looks for processes that had the file open
//!    before it started (`/proc/PID/fd`), and reacts to one as to a
//!    foreign access, naming it.
//! 6. Delivers synthetic mail at `--rate` messages a second, printing
//!    `ack ID` for each message only after its transaction is synced and
//!    the file is checked to be still its own (see below).
//! 7. Between transactions, checks for a foreign open of its data file
//!    (inotify) and reacts per `--on-conflict`; and starts a copy-aside
//!    when one is due: an O(1) point-in-time snapshot of its own file
//!    (copy-before-write, or a reflink), copied on another thread into the
//!    numbered rotation (temporary name, sync, rename), so that delivery
//!    keeps its rate. A slot that comes while a copy still runs is skipped,
//!    counted and reported.
//!
//! **Its file taken from it.** Before every acknowledgment and at every
//! turn of its loop, serve checks that its data file is still the file at
//! its path and that nobody else wrote it: removed, renamed, replaced (a
//! restore onto the folder: `tar -x`, `rsync -a`, `mv`, `cp`) or written by
//! another process (inotify `IN_MODIFY`, `IN_ATTRIB` with no link left,
//! `IN_MOVE_SELF`, `IN_DELETE_SELF`, and the path's inode). It then stops
//! acknowledging at once, saves what it holds through its open descriptor
//! into `DIR/Microsoft Mail Data (rescued YYYY-MM-DD HH-MM-SS)` (UTC;
//! a temporary name, synced, linked into place), says so in one line and
//! exits 5. A write by another process is never tolerated, whatever
//! `--on-conflict` says: `tolerate` is about readers. (A write that
//! overwrote bytes in place has destroyed them before any server could
//! react; what serve saves is what the file then holds.)
//!
//! Exit status: 0 stopped by a signal (SIGTERM, SIGINT, SIGHUP, any number
//! of them: `timeout(1)` sends two) with its `stopped` line; 3 shut down
//! because of a foreign access (so that a supervisor's
//! `Restart=on-failure` restarts it); 4 hung, then stopped by a signal; 5
//! its file removed, renamed, replaced or written under it; 1 a runtime
//! failure (a full disk: one line with "disk full"); 2 bad input.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, ValueEnum};
use mailsim::datafile;
use mailsim::real::{RotationOutcome, RotationWriter, lock, proc_fds, proc_locks};
use mailsim::sim::{MAIL_DATA, SERVER_HD};
use mailsim::volume::OsVolume;
use mailsim::{ConflictBehavior, MailServer, VolumePath};

use super::args::parse_duration;
use super::verify::FileAt;
use super::{CliError, input, time};

/// The rotation's base name, as MS Mail Backup named its copies.
const ROTATION_NAME: &str = datafile::COPY_BASE_NAME;

/// Longest sleep between two looks at the signal flag, the file and the
/// watch.
const POLL: Duration = Duration::from_millis(2);

/// Longest a shutdown waits for the processes that opened the file to be
/// gone, watching for a write of theirs (see `Running::settle`).
const SETTLE_MAX: Duration = Duration::from_millis(100);

/// Names of the temporary files serve writes in DIR: removed at the next
/// start, which holds DIR's lock, so none can be in use.
const SERVE_TEMP: &str = ".mailsim-tmp-serve-";

/// Exit statuses besides 0, 1 and 2.
const EXIT_SHUT_DOWN: u8 = 3;
const EXIT_HUNG: u8 = 4;
const EXIT_FILE_TAKEN: u8 = 5;

/// How the server reacts to a foreign open of its data file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OnConflict {
    /// Finish the transaction, flush, close the file and exit 3.
    #[default]
    Shutdown,
    /// Stop delivering but keep holding the file (and its lock) until a
    /// signal (then exit 4).
    Hang,
    /// Keep delivering (unsafe: a copy being read may be torn). Readers
    /// only: a write by another process always stops the server (exit 5).
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
                  held; 'ack ID' per message, after its transaction is synced; 'foreign open of \
                  FILE by COMMAND (pid N)' and then 'shut down …', 'hung …' or 'tolerating …'; \
                  'copied aside PATH …' and 'copy aside skipped …'; 'stopped …' on a signal; \
                  'FILE was … while serve held it …' when the data file is removed, renamed, \
                  replaced or written by another process.\n\nExit status: 0 stopped by a signal \
                  (SIGTERM, SIGINT or SIGHUP, however many: always a graceful stop); 3 shut \
                  down because of a foreign open; 4 hung, then stopped by a signal; 5 the data \
                  file removed, renamed, replaced or written by another process (what it held \
                  is saved beside it as 'Microsoft Mail Data (rescued YYYY-MM-DD HH-MM-SS)', \
                  UTC); 1 a runtime failure (e.g. disk full); 2 bad input (DIR or DIR2 missing, \
                  not a directory, not writable; DIR served by another serve; the data file \
                  held by another process, not a data file serve can use, or with no room left \
                  in its counters; a number out of its range).\n\nEvery wait is bounded: the \
                  loop looks at signals, the file and the watch at least every 2 ms; a \
                  copy-aside in flight is cancelled at a stop within one 1 MiB piece."
)]
pub struct ServeArgs {
    /// The server's folder: its data file is DIR/Microsoft Mail Data,
    /// created if missing. DIR must exist and be writable.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// What to do when another process opens the data file.
    #[arg(long, value_enum, default_value_t = OnConflict::Shutdown, value_name = "REACTION")]
    on_conflict: OnConflict,

    /// Messages delivered per second, from 0.001 to 10000 (fractions
    /// allowed).
    #[arg(long, default_value_t = 10.0, value_name = "N", value_parser = parse_rate)]
    rate: f64,

    /// Copy the data file aside into this existing, writable folder, as
    /// "Mail Data Backup #1" (newest), #2, … (MS Mail Backup's rotation).
    #[arg(long, value_name = "DIR2")]
    copy_aside_to: Option<PathBuf>,

    /// Time between copies aside, from 1ms to 24h: seconds, or a number
    /// with a unit ms, s, min or h [default: 60].
    #[arg(long, value_name = "SECONDS", requires = "copy_aside_to", value_parser = parse_period)]
    copy_every: Option<Duration>,

    /// Copies kept in the rotation, from 1 to 1000 [default: 3].
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
    if r.is_finite() && (0.001..=10_000.0).contains(&r) {
        Ok(r)
    } else {
        Err("the rate must be from 0.001 to 10000 messages a second".to_owned())
    }
}

fn parse_period(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if (Duration::from_millis(1)..=Duration::from_secs(24 * 3600)).contains(&d) {
        Ok(d)
    } else {
        Err("the period must be from 1ms to 24h".to_owned())
    }
}

/// An existing, writable directory given by a flag, or bad input. The
/// probe is one of serve's temporary names, so that a start killed in
/// between leaves nothing the next start does not remove.
fn usable_dir(flag: &str, dir: &Path) -> Result<(), CliError> {
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
fn identity(path: &Path) -> io::Result<(u64, u64)> {
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
fn lock_dir(flag: &str, dir: &Path) -> Result<File, CliError> {
    let bad =
        |what: &dyn fmt::Display| CliError::Usage(format!("{flag} {}: {what}", dir.display()));
    let f = File::open(dir).map_err(|e| bad(&e))?;
    match lock::try_lock_exclusive(&f) {
        Ok(true) => Ok(f),
        Ok(false) => {
            let holder = proc_locks::holder(dir)
                .ok()
                .flatten()
                .map_or_else(|| "another process".to_owned(), |h| h.to_string());
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
fn remove_stale_temps(dir: &Path) -> Result<(), CliError> {
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
fn ensure_data_file(real: &Path, dir: &Path) -> Result<(), CliError> {
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
fn refuse_held(real: &Path) -> Result<(), CliError> {
    match proc_locks::holder(real) {
        Ok(Some(holder)) => Err(startup_error(
            real,
            mailsim::Error::DenyConflict {
                path: VolumePath::root(real.display().to_string()),
                holder: holder.to_string(),
            },
        )),
        _ => Ok(()),
    }
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
    /// A generator seeded from `seed` (any value: the state is never 0).
    fn new(seed: u64) -> Sizes {
        Sizes((0x9E37_79B9_7F4A_7C15 ^ seed) | 1)
    }

    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        200 + (x % 3800) as u32
    }
}

/// SIGTERM, SIGINT and SIGHUP set the flag, however many arrive: every
/// stop is graceful (the loop looks at the flag every few milliseconds, so
/// there is no need for a second signal to end it).
fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGINT, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::Runtime(format!("cannot handle signal {sig}: {e}")))?;
    }
    Ok(stop)
}

/// A copy aside in flight, on its own thread, from a snapshot.
struct CopyJob {
    thread: JoinHandle<mailsim::Result<RotationOutcome>>,
    cancel: Arc<AtomicBool>,
    generation: u64,
    method: &'static str,
}

/// Who opened the data file, as the kernel tells it.
struct Foreign {
    /// The processes, as a line names them (`tar (pid 4242)`), or what the
    /// volume knows (`another process`).
    who: String,
    /// Whether one of them opened it for writing.
    writes: bool,
}

/// The processes that have `real` open now, if any.
fn openers_of(real: &Path) -> Option<Foreign> {
    let found = proc_fds::openers(real).ok()?;
    (!found.is_empty()).then(|| Foreign {
        who: found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        writes: found.iter().any(|o| o.writes),
    })
}

struct Running<'a> {
    args: &'a ServeArgs,
    vol: OsVolume,
    server: MailServer,
    real: PathBuf,
    rotation: Option<(RotationWriter, Duration)>,
    stop: Arc<AtomicBool>,
    copy: Option<CopyJob>,
    copies_skipped: u64,
}

pub fn run(args: &ServeArgs, out: &mut impl Write) -> Result<(), CliError> {
    usable_dir("--dir", &args.dir)?;
    if let Some(d2) = &args.copy_aside_to {
        usable_dir("--copy-aside-to", d2)?;
    }
    // Held until the process ends.
    let _dir_lock = lock_dir("--dir", &args.dir)?;
    let _copy_lock = match &args.copy_aside_to {
        Some(d2) if identity(d2).ok() != identity(&args.dir).ok() => {
            Some(lock_dir("--copy-aside-to", d2)?)
        }
        _ => None,
    };
    let stop = stop_flag()?;
    let vol = OsVolume::open_dir(SERVER_HD, &args.dir).map_err(|e| startup_error(&args.dir, e))?;
    remove_stale_temps(vol.root())?;
    let path = VolumePath::new(SERVER_HD, [MAIL_DATA]);
    let real = vol
        .real_path(&path)
        .map_err(|e| startup_error(&args.dir.join(MAIL_DATA), e))?;
    ensure_data_file(&real, vol.root())?;
    refuse_held(&real)?;
    let server = MailServer::start(&vol, path).map_err(|e| startup_error(&real, e))?;
    let rotation = match &args.copy_aside_to {
        None => None,
        Some(d2) => {
            let w = RotationWriter::new(d2, ROTATION_NAME, args.keep.unwrap_or(3))
                .map_err(|e| CliError::Usage(e.to_string()))?;
            w.clean_temp()
                .map_err(|e| CliError::Runtime(e.to_string()))?;
            remove_stale_temps(d2)?;
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
        copy: None,
        copies_skipped: 0,
    };
    let result = running.serve(out);
    running.cancel_copy();
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
        let mut sizes = Sizes::new(self.server.generation());
        let mut hung = false;
        // A reader that was there first is a foreign access like any other.
        let mut foreign = openers_of(&self.real).map(|f| Foreign {
            who: format!("{} (open before serve started)", f.who),
            ..f
        });
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.check_file(out)?;
                let generation = self.stop_server()?;
                say(
                    out,
                    format_args!(
                        "stopped on a signal{}: generation {generation}, flushed and closed \
                         {real}, lock released{}",
                        if hung { " while hung" } else { "" },
                        self.skipped_note()
                    ),
                )?;
                return if hung {
                    Err(CliError::Status(EXIT_HUNG))
                } else {
                    Ok(())
                };
            }
            self.check_file(out)?;
            self.reap_copy(out)?;
            if hung {
                std::thread::sleep(POLL);
                continue;
            }
            // Between transactions: has anyone opened the file?
            if foreign.is_none() {
                foreign = self
                    .server
                    .foreign_access(&self.vol)
                    .map_err(|e| CliError::Runtime(e.to_string()))?
                    .map(|who| openers_of(&self.real).unwrap_or(Foreign { who, writes: false }));
            }
            if let Some(Foreign { who, writes }) = foreign.take() {
                say(out, format_args!("foreign open of {real} by {who}"))?;
                // A writer is never tolerated: its write may land any moment.
                if writes {
                    return self.file_taken(out, &format!("opened for writing by {who}"));
                }
                // The opener may have written already, and be gone.
                self.check_file(out)?;
                if self.args.on_conflict == OnConflict::Shutdown {
                    self.settle(out)?;
                }
                match self.args.on_conflict {
                    OnConflict::Shutdown => {
                        self.cancel_copy();
                        let generation = self.stop_server()?;
                        say(
                            out,
                            format_args!(
                                "shut down to prevent corruption: finished generation \
                                 {generation}, flushed and closed {real}"
                            ),
                        )?;
                        return Err(CliError::Status(EXIT_SHUT_DOWN));
                    }
                    OnConflict::Hang => {
                        hung = true;
                        say(
                            out,
                            format_args!(
                                "hung: no longer delivering, still holding {real} and its \
                                 lock; SIGTERM, SIGINT or SIGHUP releases it"
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
                // Acknowledged only while the file is still its own.
                self.check_file(out)?;
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

    /// Before a shutdown: until the processes that have the file open are
    /// gone (at most [`SETTLE_MAX`]), looks for a write of theirs, so that
    /// an opener that writes (`truncate`, `cp` over the file) is caught
    /// while the server still holds what it can save, rather than after it
    /// closed the file. Once a process is gone, every write it made is in
    /// the watch's queue.
    fn settle(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let start = Instant::now();
        loop {
            self.check_file(out)?;
            match openers_of(&self.real) {
                // Gone: whatever they wrote is queued by now.
                None => return self.check_file(out),
                Some(f) if f.writes => {
                    return self.file_taken(out, &format!("opened for writing by {}", f.who));
                }
                Some(_) if start.elapsed() >= SETTLE_MAX => return Ok(()),
                Some(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Stops the server (flushed, closed, its lock released); returns the
    /// generation it finished.
    fn stop_server(&mut self) -> Result<u64, CliError> {
        let generation = self.server.generation();
        self.server
            .stop(&self.vol)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        Ok(generation)
    }

    fn skipped_note(&self) -> String {
        match self.copies_skipped {
            0 => String::new(),
            n => format!(
                "; {n} copy-aside slot{} skipped",
                if n == 1 { "" } else { "s" }
            ),
        }
    }

    /// Whether the data file is still the server's: if it was removed,
    /// renamed, replaced or written by another process, saves what the
    /// server holds beside it, says so, and ends with exit 5.
    fn check_file(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let Some(handle) = self.server.handle() else {
            return Ok(());
        };
        let taken = self
            .vol
            .check_file(handle)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        match taken {
            Some(what) => self.file_taken(out, what.as_str()),
            None => Ok(()),
        }
    }

    /// The data file is no longer the server's alone (`what` happened to
    /// it): stops acknowledging, saves what the server holds beside it,
    /// says so in one line, and ends with exit 5.
    fn file_taken(&mut self, out: &mut impl Write, what: &str) -> Result<(), CliError> {
        self.cancel_copy();
        let generation = self.server.generation();
        let saved = self.rescue();
        let _ = self.server.stop(&self.vol);
        let real = self.real.display();
        match saved {
            Ok((path, bytes, verdict)) => say(
                out,
                format_args!(
                    "{real} was {what} while serve held it: stopped acknowledging at \
                     generation {generation}; saved what it held ({bytes} bytes, {verdict}) to \
                     {}",
                    path.display()
                ),
            )?,
            Err(e) => say(
                out,
                format_args!(
                    "{real} was {what} while serve held it: stopped acknowledging at \
                     generation {generation}; could not save what it held: {e}"
                ),
            )?,
        }
        Err(CliError::Status(EXIT_FILE_TAKEN))
    }

    /// Copies the file the server holds, through a duplicate of its
    /// descriptor (no open), into `Microsoft Mail Data (rescued …)` beside
    /// it: a temporary name, synced, verified, linked into place (never
    /// replacing anything), the folder synced. Returns the path, the bytes
    /// saved and what `verify` says of them.
    fn rescue(&self) -> io::Result<(PathBuf, u64, String)> {
        let handle = self
            .server
            .handle()
            .ok_or_else(|| io::Error::other("the server holds no file"))?;
        let src = self.vol.try_clone_file(handle).map_err(io::Error::from)?;
        let dir = self.vol.root();
        let tmp = dir.join(format!("{SERVE_TEMP}{}-rescue", std::process::id()));
        let saved = (|| -> io::Result<(PathBuf, u64, String)> {
            let mut dst = input::create_new(&tmp)?;
            let mut buf = vec![0; 1 << 20];
            let mut at = 0u64;
            loop {
                let n = read_at(&src, &mut buf, at)?;
                if n == 0 {
                    break;
                }
                dst.write_all(&buf[..n])?;
                at += n as u64;
            }
            dst.sync_all()?;
            let reader = File::open(&tmp)?;
            let file_at = FileAt::new(&reader)?;
            let verdict = match datafile::verify_from(&file_at) {
                Ok(v) => format!(
                    "it verifies: generation {}, {} messages",
                    v.generation, v.message_count
                ),
                Err(e) => format!("it fails verification: {e}"),
            };
            let stamp = time::file_stamp(SystemTime::now());
            let mut k = 1u32;
            let path = loop {
                let name = match k {
                    1 => format!("{MAIL_DATA} (rescued {stamp})"),
                    k => format!("{MAIL_DATA} (rescued {stamp}) {k}"),
                };
                let path = dir.join(name);
                match fs::hard_link(&tmp, &path) {
                    Ok(()) => break path,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 1000 => k += 1,
                    Err(e) => return Err(e),
                }
            };
            fs::remove_file(&tmp)?;
            input::sync_dir(dir)?;
            Ok((path, at, verdict))
        })();
        if saved.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        saved
    }

    /// Starts a copy aside of the server's own file: an O(1) snapshot
    /// (no open: not a foreign access), copied on another thread, so that
    /// delivery keeps its rate. A slot that comes while the last copy runs
    /// is skipped, counted and reported.
    fn copy_aside(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let Some((writer, _)) = &self.rotation else {
            return Ok(());
        };
        let Some(handle) = self.server.handle() else {
            return Ok(());
        };
        if let Some(job) = &self.copy {
            self.copies_skipped += 1;
            return say(
                out,
                format_args!(
                    "copy aside skipped: the copy of generation {} is still running ({} \
                     skipped so far)",
                    job.generation, self.copies_skipped
                ),
            );
        }
        let generation = self.server.generation();
        let snapshot = match self.vol.snapshot(handle) {
            Ok(s) => s,
            Err(e) => return say(out, format_args!("copy aside failed: {e}")),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let (writer, flag) = (writer.clone(), Arc::clone(&cancel));
        let method = snapshot.method();
        let thread = std::thread::Builder::new()
            .name("copy-aside".to_owned())
            .spawn(move || writer.write_from_snapshot(&snapshot, &flag))
            .map_err(|e| CliError::Runtime(format!("cannot start the copy aside: {e}")))?;
        self.copy = Some(CopyJob {
            thread,
            cancel,
            generation,
            method,
        });
        Ok(())
    }

    /// Reports a copy aside that has finished. A copy that fails is
    /// reported and serving goes on, as MS Mail Backup made no copy when it
    /// could not — but a full disk stops the server (exit 1).
    fn reap_copy(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        if !self.copy.as_ref().is_some_and(|j| j.thread.is_finished()) {
            return Ok(());
        }
        let Some(job) = self.copy.take() else {
            return Ok(());
        };
        let Ok(result) = job.thread.join() else {
            return Err(CliError::Runtime(
                "copy aside: its thread panicked".to_owned(),
            ));
        };
        match result {
            Ok(c) => say(
                out,
                format_args!(
                    "copied aside {} ({} bytes, generation {}, from a {} snapshot)",
                    c.path.display(),
                    c.copied_bytes,
                    job.generation,
                    job.method
                ),
            ),
            Err(e @ mailsim::Error::DiskFull { .. }) => {
                let generation = self.stop_server()?;
                say(
                    out,
                    format_args!(
                        "copy aside failed: {e}; stopped at generation {generation}, flushed and \
                         closed {}",
                        self.real.display()
                    ),
                )?;
                Err(CliError::Runtime(format!("copy aside: {e}")))
            }
            Err(e) => say(out, format_args!("copy aside failed: {e}")),
        }
    }

    /// Cancels a copy aside in flight and waits for its thread (one piece
    /// of 1 MiB at most); its temporary file is removed.
    fn cancel_copy(&mut self) {
        if let Some(job) = self.copy.take() {
            job.cancel.store(true, Ordering::Relaxed);
            let _ = job.thread.join();
        }
    }
}

/// `pread` of up to `buf.len()` bytes at `offset`.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        #[cfg(unix)]
        let r = std::os::unix::fs::FileExt::read_at(file, buf, offset);
        #[cfg(windows)]
        let r = std::os::windows::fs::FileExt::seek_read(file, buf, offset);
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
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
        assert_eq!(parse_rate("0.001"), Ok(0.001));
        for bad in [
            "0", "-1", "nan", "inf", "10001", "ten", "", "1e-20", "0.0009",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_period("0.05"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_period("24h"), Ok(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "0.0005", "25h", "18446744073709s"] {
            assert!(parse_period(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_sizes_stay_in_range() {
        for seed in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15] {
            let mut s = Sizes::new(seed);
            let sizes: Vec<u32> = (0..1000).map(|_| s.next()).collect();
            assert!(sizes.iter().all(|n| (200..4000).contains(n)));
            assert!(sizes.iter().any(|&n| n < 1000) && sizes.iter().any(|&n| n > 3000));
        }
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
