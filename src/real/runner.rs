//! The real runner: the rules of the night (`night`) driven on real files,
//! with real locks and inotify, on a scaled wall clock, with a watchdog.
//!
//! The volumes are directories (`DIR/Server HD`, `DIR/Backup Drive`) laid
//! out from the preset, each an [`OsVolume`] behind the fault-injecting
//! layer that honours every [`Fault`](crate::sim::Fault) as the simulator
//! does (a read or write error at the nth call, a full disk at a capacity,
//! a crash at the nth sync keeping, dropping or garbling the unsynced
//! writes as the file on disk holds them; the backup's crash and the
//! control panel are the night's own). The server holds the real data file
//! under an exclusive `flock`; the backup's open is seen through inotify,
//! as any other process's would be, and named as `OsVolume` names it (an
//! owner of the volume, or another process: fanotify where permitted, else
//! the `/proc/PID/fd` scan); a `RespectLocks` backup asks the kernel who
//! holds a lock (`proc_locks`).
//!
//! The driver holds no rule of its own. It takes the earliest move on the
//! night's agenda (`Night::take_earliest`, as the simulator does), waits
//! on the scaled clock until the move is due — sleeping through short
//! gaps, skipping long idle ones — and applies it: moves are atomic, as
//! the model has them, so the night on disk is the simulated night played
//! on real files. Two real-time rules are the driver's: a hang is judged no
//! sooner than one real second after it began, however fast the clock; and
//! the **watchdog** ends a run that takes longer than its bound (a move
//! blocked in the kernel, a clock that cannot keep up) with an error
//! rather than let it be suffered. A hang is a state of the night, reported
//! by its hang check, never a blocked thread.
//!
//! What does not live here: any rule of the night.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::chooser::Chooser;
use crate::error::{Error, Result};
use crate::night::{Move, Night, Scheduled};
use crate::report::Report;
use crate::scenario::traffic::{NIGHT_BEGINS, during};
use crate::scenario::{BACKUP_DRIVE, Options, SERVER_HD, Scenario};
use crate::volume::os::faulty::FaultyVolume;
use crate::volume::{OsVolume, SimVolume};

use super::ScaledClock;

/// A marker file that says a directory holds a real run's volumes, so that a
/// later run may replace them.
const MARKER: &str = ".mailsim-real";

/// A hang is never judged sooner than this after it began, however fast
/// the clock runs: a slow fsync is not a hang.
const MIN_REAL_HANG: Duration = Duration::from_secs(1);

/// Gaps between moves longer than this in real time are skipped, not
/// slept through: idle time compressed.
const LONGEST_SLEEP: Duration = Duration::from_millis(20);

/// Real time a run may take at least before the watchdog ends it.
const WATCHDOG_FLOOR: Duration = Duration::from_secs(120);

impl Scenario {
    /// Runs the scenario for real under `dir`: the preset's volumes as
    /// directories (`dir/Server HD`, `dir/Backup Drive`), the server holding
    /// the real data file under an exclusive lock, the backup reading it,
    /// with a scaled wall clock and a watchdog. `dir` is created if
    /// missing; one that holds anything but an earlier real run is refused.
    ///
    /// The night is the simulator's (`night`), played on real files: the
    /// outcomes match [`run`](Scenario::run) wherever the model decides
    /// them, faults included.
    ///
    /// # Errors
    /// As [`run`](Scenario::run); `Error::Io` for `dir`; and an error when
    /// the watchdog ends a run that took too long in real time.
    pub fn run_real(&self, dir: impl AsRef<std::path::Path>) -> Result<Report> {
        self.validate()?;
        let chooser = match &self.opts.choices {
            Some(c) => Chooser::replay(c),
            None => Chooser::random(self.opts.seed),
        };
        run(&self.opts, dir.as_ref(), chooser)
    }
}

fn run(opts: &Options, dir: &Path, chooser: Chooser) -> Result<Report> {
    let (hd_dir, drive_dir) = prepare(dir)?;
    let start = during(0, NIGHT_BEGINS).min(during(0, opts.traffic.start));
    let clock = ScaledClock::new(start, opts.real_scale);
    let volume = |name: &str, d: &Path| -> Result<FaultyVolume> {
        FaultyVolume::new(OsVolume::open_dir(name, d)?.with_clock(clock.clone()))
    };
    let (hd, drive) = (
        volume(SERVER_HD, &hd_dir)?,
        volume(BACKUP_DRIVE, &drive_dir)?,
    );
    let mut night = Night::new(opts, hd, drive, chooser)?;
    let mut driver = Driver {
        clock,
        hang_threshold: opts.hang_threshold,
        hung: None,
        watchdog: Watchdog::for_run(opts),
    };
    for n in 0..opts.nights {
        night.begin(n)?;
        loop {
            while let Some(next) = night.take_earliest() {
                driver.wait_for(&next)?;
                night.apply(next.at, next.mv)?;
                driver.note_hang(&night);
            }
            if !night.settle() {
                break;
            }
        }
        night.end()?;
    }
    night.finish()
}

/// The real-time rules of the driver.
struct Driver {
    clock: ScaledClock,
    hang_threshold: Duration,
    /// The outage episode the server hung in, and when (real time).
    hung: Option<(u64, Instant)>,
    watchdog: Watchdog,
}

impl Driver {
    /// Waits until `next` is due on the scaled clock: short gaps slept,
    /// long ones skipped; a hang check no sooner than a real second (and
    /// the threshold's real length) after the hang began.
    fn wait_for(&self, next: &Scheduled) -> Result<()> {
        self.watchdog.check()?;
        if let (Move::HangCheck(episode), Some((hung, since))) = (next.mv, self.hung)
            && episode == hung
        {
            let real = self.clock.real(self.hang_threshold).max(MIN_REAL_HANG);
            let until = since + real;
            while Instant::now() < until {
                self.watchdog.check()?;
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(10)));
            }
        }
        let now = self.clock.now();
        if next.at > now {
            let gap = self.clock.real(next.at - now);
            if gap > LONGEST_SLEEP {
                self.clock.skip_to(next.at);
            } else {
                self.clock.sleep_until(next.at);
            }
        }
        Ok(())
    }

    /// Notes when (in real time) the server hung, for the hang's real second.
    fn note_hang(&mut self, night: &Night<'_, FaultyVolume>) {
        match night.hung_episode() {
            Some(ep) if self.hung.is_none_or(|(e, _)| e != ep) => {
                self.hung = Some((ep, Instant::now()));
            }
            Some(_) => {}
            None => self.hung = None,
        }
    }
}

/// Ends a run that takes longer, in real time, than its nights should: the
/// nights' virtual span at the scale, twice over, and two minutes at least.
struct Watchdog {
    deadline: Instant,
    bound: Duration,
}

impl Watchdog {
    fn for_run(opts: &Options) -> Watchdog {
        let per_night = Duration::from_secs(24 * 3600) / opts.real_scale.max(1);
        let bound = (per_night * opts.nights * 2).max(WATCHDOG_FLOOR);
        Watchdog {
            deadline: Instant::now() + bound,
            bound,
        }
    }

    fn check(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(Error::invalid(
                "real_scale",
                format!(
                    "the run on disk took longer than its watchdog's {} s; a slower scale \
                     (or a faster disk) would let it finish",
                    self.bound.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// Lays the preset's volumes out under `dir`: `dir/Server HD` and
/// `dir/Backup Drive`. A directory that already holds other things is
/// refused; one that holds an earlier run's volumes is reset. Nothing is
/// created, replaced or removed through a symlink: a symlink where the
/// marker or a volume's folder goes is refused ([`Error::PathEscapes`]),
/// and every file is created new, inside `dir`.
fn prepare(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let hd_dir = dir.join(SERVER_HD);
    let drive_dir = dir.join(BACKUP_DRIVE);
    let marker = dir.join(MARKER);
    for p in [&marker, &hd_dir, &drive_dir] {
        refuse_symlink(p)?;
    }
    let occupied = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name() != MARKER);
    if occupied {
        if std::fs::symlink_metadata(&marker).is_err() {
            return Err(Error::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "not empty and not an earlier mailsim run: refusing to touch it",
                ),
            });
        }
        for d in [&hd_dir, &drive_dir] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(io(d))?;
            }
        }
    }
    if std::fs::symlink_metadata(&marker).is_ok() {
        std::fs::remove_file(&marker).map_err(io(&marker))?;
    }
    super::create_new_file(&marker)
        .and_then(|mut f| {
            std::io::Write::write_all(
                &mut f,
                b"volumes of a real mailsim run; mailsim may replace them\n",
            )
        })
        .map_err(io(&marker))?;
    let (proto_hd, proto_drive) = crate::scenario::prototype_volumes();
    for (proto, d) in [(&proto_hd, &hd_dir), (&proto_drive, &drive_dir)] {
        std::fs::create_dir(d).map_err(io(d))?;
        write_volume(proto, d)?;
    }
    Ok((hd_dir, drive_dir))
}

/// Refuses a symlink at `path` (mailsim never writes through one).
fn refuse_symlink(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::PathEscapes {
            path: path.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn write_volume(v: &SimVolume, dir: &Path) -> Result<()> {
    for path in v.files() {
        let mut real = dir.to_owned();
        for c in path.components() {
            real.push(c);
        }
        // Folders one by one under the fresh volume folder: a symlink
        // among them is refused, never followed.
        let mut folder = dir.to_owned();
        for c in path.components().split_last().map_or(&[][..], |(_, f)| f) {
            folder.push(c);
            match std::fs::symlink_metadata(&folder) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(Error::PathEscapes { path: folder }),
                Err(_) => std::fs::create_dir(&folder).map_err(|source| Error::Io {
                    path: folder.clone(),
                    source,
                })?,
            }
        }
        let bytes = v.contents(&path)?.to_vec();
        let file = super::create_new_file(&real).map_err(|source| Error::Io {
            path: real.clone(),
            source,
        })?;
        let io = |source| Error::Io {
            path: real.clone(),
            source,
        };
        if path.name() == crate::datafile::MAIL_DATA {
            // Reserve the data file's blocks up front, as a server would.
            super::lock::allocate(&file, bytes.len() as u64).map_err(io)?;
        }
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(&file);
        w.write_all(&bytes).map_err(io)?;
        w.flush().map_err(io)?;
        drop(w);
        file.sync_all().map_err(io)?;
    }
    Ok(())
}
