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
//! 6. Serves the simulated night's traffic ([`Requests`](mailsim::sim::Requests),
//!    the same [`MailServer`] code as the simulation) at `--rate` requests
//!    a second: deliveries, reads that set a message's flag in place and
//!    deletions in `--mix`'s proportions (50/35/15 by default), and a
//!    compaction when deleted mail fills more than a quarter of the record
//!    area (or every `--compact-every`). It prints `ack ID`, `read ID`,
//!    `deleted ID` or `compacted: …` for each only after its transaction
//!    is synced and the file is checked to be still its own (see below).
//!    Every line it prints starts with the time: RFC 3339, UTC, to the
//!    millisecond (`2026-12-02T22:11:27.123Z ack 17`).
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
//! **The history.** Once its file is open, serve opens (or creates) the
//! history beside it, `DIR/Microsoft Mail Data History` (`--history PATH`
//! elsewhere, none with `--no-history`; a folder, a FIFO, the data file
//! itself or a file that is not a history is bad input), reconciled with
//! the file as it is now ([`HistoryWriter::open`]). Each transaction goes
//! into it — the pages it wrote and their digests — after its sync and
//! before its line is printed, so that every acknowledged generation is
//! in it; it is synced at every stop. `mailsim verify COPY --history H`
//! and `mailsim trial` judge copies with it.
//!
//! Exit status: 0 stopped by a signal (SIGTERM, SIGINT, SIGHUP, any number
//! of them: `timeout(1)` sends two) with its `stopped` line; 3 shut down
//! because of a foreign access (so that a supervisor's
//! `Restart=on-failure` restarts it); 4 hung, then stopped by a signal; 5
//! its file removed, renamed, replaced or written under it; 1 a runtime
//! failure (a full disk: one line with "disk full"); 2 bad input.

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mailsim::datafile;
use mailsim::history::{self, HistoryWriter};
use mailsim::real::RotationWriter;
use mailsim::sim::{MAIL_DATA, RequestMix, SERVER_HD};
use mailsim::volume::OsVolume;
use mailsim::{ConflictBehavior, MailServer, VolumePath};

use super::CliError;
use super::args::parse_duration_within;

// The command in the order it runs: the checks and locks before serving
// (`start`), the loop a turn at a time (`serving`), the copies aside on
// their thread (`copy`), and the file taken from the server (`rescue`).
mod copy;
mod rescue;
mod serving;
mod start;

use copy::CopyJob;
use start::{
    ensure_data_file, identity, lock_dir, refuse_held, remove_stale_temps, startup_error,
    stop_flag, usable_dir,
};

/// The rotation's base name, as MS Mail Backup named its copies.
const ROTATION_NAME: &str = datafile::COPY_BASE_NAME;

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
    /// Stop serving but keep holding the file (and its lock) until a
    /// signal (then exit 4).
    Hang,
    /// Keep serving (unsafe: a copy being read may be torn). Readers
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
    after_help = "Output (stdout, one line each, flushed, each starting with the time: RFC \
                  3339, UTC, to the millisecond, e.g. '2026-12-02T22:11:27.123Z ack 17'): \
                  'ready: …' once the lock is held; 'ack ID' per message delivered, 'read ID' \
                  per message marked read, 'deleted ID' per message deleted and 'compacted: …' \
                  per compaction, each after its transaction is synced; 'foreign open of \
                  Microsoft Mail Data by COMMAND (pid N)' (or 'by another process' when the \
                  kernel does not tell) and then 'shut down …', 'hung …' or 'tolerating …'; \
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
                  in its counters; a number out of its range; a --history PATH that is a \
                  folder, a FIFO, the data file or not a history).\n\nHistory: each \
                  transaction's pages and their digests go into DIR/Microsoft Mail Data \
                  History (or --history PATH; none with --no-history), at most 64 MiB, the \
                  oldest generations dropped first, before its line is printed; 'mailsim \
                  verify COPY --history H' and 'mailsim trial' judge copies with it.\n\nEvery wait is bounded: the \
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

    /// Requests served per second (deliveries, reads and deletions, in the
    /// proportions of --mix), from 0.001 to 10000 (fractions allowed).
    #[arg(long, default_value_t = 10.0, value_name = "N", value_parser = parse_rate)]
    rate: f64,

    /// The proportions of deliveries, reads (a message's read flag set in
    /// place) and deletions, as weights: the simulated night's by default.
    /// A kind left out weighs 0: `--mix deliver=1` only delivers.
    #[arg(
        long,
        value_name = "deliver=N,read=N,delete=N",
        default_value_t = RequestMix::NIGHT,
        value_parser = parse_mix
    )]
    mix: RequestMix,

    /// Compact the data file every PERIOD (when deleted mail left room to
    /// reclaim), from 1ms to 24h, or `never`; by default, as the simulated
    /// server does: whenever deleted records fill more than a quarter of
    /// the record area.
    #[arg(long, value_name = "PERIOD", value_parser = parse_compact_every)]
    compact_every: Option<CompactEvery>,

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

    /// Keep the history that `verify --history` and `trial` judge copies
    /// with at PATH [default: DIR/Microsoft Mail Data History]: for each
    /// committed generation, the pages it wrote and their digests, at most
    /// 64 MiB (the oldest generations dropped first).
    #[arg(long, value_name = "PATH", conflicts_with = "no_history")]
    history: Option<PathBuf>,

    /// Keep no history.
    #[arg(long)]
    no_history: bool,
}

pub(super) fn parse_rate(text: &str) -> Result<f64, String> {
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

pub(super) fn parse_mix(text: &str) -> Result<RequestMix, String> {
    text.parse::<RequestMix>().map_err(|e| match e {
        mailsim::Error::InvalidScenario { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// When `--compact-every` compacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CompactEvery {
    /// Every period, when deleted records left bytes to reclaim.
    Period(Duration),
    /// Never.
    Never,
}

fn parse_compact_every(text: &str) -> Result<CompactEvery, String> {
    if text.trim() == "never" {
        return Ok(CompactEvery::Never);
    }
    parse_period(text)
        .map(CompactEvery::Period)
        .map_err(|e| format!("{e}, or never"))
}

fn parse_period(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, "period")
}

/// Prints one line, after the time (RFC 3339, UTC, to the millisecond),
/// and flushes it.
fn say(out: &mut impl Write, line: fmt::Arguments<'_>) -> Result<(), CliError> {
    let now = super::time::rfc3339_millis(std::time::SystemTime::now());
    out.write_all(now.as_bytes())?;
    out.write_all(b" ")?;
    out.write_fmt(line)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The server at work, and what the loop needs beside it.
struct Running<'a> {
    args: &'a ServeArgs,
    vol: OsVolume,
    server: MailServer,
    real: PathBuf,
    rotation: Option<(RotationWriter, Duration)>,
    stop: Arc<AtomicBool>,
    copy: Option<CopyJob>,
    copies_skipped: u64,
    /// The history, and the server's file as it reads its pages (a
    /// duplicate of its descriptor: no new open).
    history: Option<(HistoryWriter, File)>,
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
    let history = open_history(args, &vol, &server, &real)?;
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
        history,
    };
    let result = running.serve(out);
    running.cancel_copy();
    // Whatever happened, the file is flushed and closed (a no-op after a
    // shutdown); the process's exit would release the lock anyway.
    let stopped = running.server.stop(&running.vol);
    let synced = running.sync_history();
    result?;
    stopped.map_err(|e| CliError::Runtime(e.to_string()))?;
    synced
}

/// The history `--history` (or the default path) names, opened for the
/// data file as the server holds it; `None` with `--no-history`. A path
/// that is the data file, a folder, a FIFO or a file that is not a history
/// is bad input.
fn open_history(
    args: &ServeArgs,
    vol: &OsVolume,
    server: &MailServer,
    real: &std::path::Path,
) -> Result<Option<(HistoryWriter, File)>, CliError> {
    if args.no_history {
        return Ok(None);
    }
    let path = args
        .history
        .clone()
        .unwrap_or_else(|| args.dir.join(history::HISTORY_NAME));
    let shown = || super::input::named("--history", &path);
    if identity(&path).is_ok_and(|id| identity(real).ok() == Some(id)) {
        return Err(CliError::Usage(format!(
            "{}: is the data file itself",
            shown()
        )));
    }
    let handle = server
        .handle()
        .ok_or_else(|| CliError::Runtime("the server holds no file".to_owned()))?;
    let file = vol
        .try_clone_file(handle)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let writer = HistoryWriter::open(
        &path,
        &file,
        server.generation(),
        history::DEFAULT_LIMIT_BYTES,
    )
    .map_err(|e| match e {
        mailsim::Error::Io { ref source, .. } if !super::input::is_bad_path(source) => {
            CliError::Runtime(format!("{}: {source}", shown()))
        }
        other => CliError::Usage(format!("{}: {}", shown(), history_reason(&other))),
    })?;
    Ok(Some((writer, file)))
}

/// What is wrong with a history path, without repeating the path.
fn history_reason(e: &mailsim::Error) -> String {
    match e {
        mailsim::Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
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
        assert_eq!(
            parse_mix("deliver=1"),
            RequestMix::new(1, 0, 0).map_err(|e| e.to_string())
        );
        assert_eq!(
            parse_mix("delete=15,read=35,deliver=50"),
            Ok(RequestMix::NIGHT)
        );
        for bad in [
            "",
            "deliver",
            "deliver=x",
            "send=1",
            "deliver=0",
            "read=1,read=2",
        ] {
            assert!(parse_mix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_compact_every("never"), Ok(CompactEvery::Never));
        assert_eq!(
            parse_compact_every("2s"),
            Ok(CompactEvery::Period(Duration::from_secs(2)))
        );
        assert!(parse_compact_every("0").is_err());
        assert_eq!(parse_period("0.05"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_period("24h"), Ok(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "0.0005", "25h", "18446744073709s"] {
            assert!(parse_period(bad).is_err(), "{bad:?}");
        }
    }
}
