//! The real runner: a scenario on real files, with real threads, real locks
//! and a scaled wall clock.
//!
//! Threads: the **server** owns the data file (read/write, exclusive lock)
//! and commits requests; the **traffic** thread sends the night's requests at
//! their (scaled) times; the **backup** thread runs Retrospect Remote and the
//! snapshot policy; the calling thread is the **administrator and watchdog**:
//! it detects a hang (never sooner than one real second), restarts a server
//! that is down or hung at the administrator's time, and skips idle time.
//! Every wait is bounded; a hang is reported, never suffered.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ScaledClock;
use crate::backup::{BackupClient, BackupEnv, BackupItem, Step};
use crate::chooser::Chooser;
use crate::datafile::{self, RecordFlags};
use crate::error::{Error, Result};
use crate::oracle::{Oracle, page_fingerprint, touched_pages};
use crate::policy::{Next, NightInfo, Prepared, ServerControl, SnapshotSession};
use crate::report::{
    Actor, ArchivedFile, Event, EventKind, Metrics, Outcome, Report, RequestKind, Timeline,
    Unavailable, Verdict,
};
use crate::scenario::traffic::{self, NIGHT_BEGINS, during};
use crate::scenario::{BACKUP_DRIVE, Options, SERVER_HD, Scenario, mail_data_path};
use crate::server::{Commit, ConflictBehavior, MailServer, ServerState};
use crate::time::SimTime;
use crate::volume::{Chunk, Content, OsVolume, PAGE_BYTES, SimVolume, Volume, VolumePath};

/// A marker file that says a directory holds a real run's volumes, so that a
/// later run may replace them.
const MARKER: &str = ".mailsim-real";

/// Longest a thread waits for another's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest the backup waits for the server to react to its open.
const REACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A hang is never declared sooner than this, however fast the clock runs:
/// a slow fsync is not a hang.
const MIN_REAL_HANG: Duration = Duration::from_secs(1);

fn state_code(s: ServerState) -> u8 {
    match s {
        ServerState::Serving => 0,
        ServerState::Paused => 1,
        ServerState::Down => 2,
        ServerState::Hung => 3,
    }
}

fn state_of(code: u8) -> ServerState {
    match code {
        0 => ServerState::Serving,
        1 => ServerState::Paused,
        2 => ServerState::Down,
        _ => ServerState::Hung,
    }
}

#[derive(Clone, Copy, Debug)]
struct Outage {
    since: SimTime,
    since_real: Instant,
    why: Unavailable,
    planned: bool,
}

/// What every thread shares.
struct Shared {
    clock: ScaledClock,
    log: Mutex<Timeline>,
    oracle: Mutex<Oracle>,
    state: AtomicU8,
    generation: AtomicU64,
    outage: Mutex<Option<Outage>>,
    metrics: Mutex<Metrics>,
    acked: Mutex<Vec<u64>>,
    deleted: Mutex<Vec<u64>>,
    /// Foreign accesses the server has noticed and reacted to.
    reactions: AtomicU64,
    shut_down: AtomicBool,
    hang: AtomicBool,
    live: VolumePath,
}

impl Shared {
    fn log(&self, actor: Actor, kind: EventKind, path: Option<&VolumePath>) {
        let now = self.clock.now();
        self.log.lock().push(now, actor, kind, path);
    }

    fn state(&self) -> ServerState {
        state_of(self.state.load(Ordering::SeqCst))
    }

    fn go_down(&self, why: Unavailable, planned: bool, state: ServerState) {
        *self.outage.lock() = Some(Outage {
            since: self.clock.now(),
            since_real: Instant::now(),
            why,
            planned,
        });
        self.state.store(state_code(state), Ordering::SeqCst);
    }

    fn back_up(&self) {
        if let Some(out) = self.outage.lock().take() {
            let d = self.clock.now() - out.since;
            let mut m = self.metrics.lock();
            if out.planned {
                m.planned_downtime += d;
            } else {
                m.unplanned_downtime += d;
            }
        }
        self.state
            .store(state_code(ServerState::Serving), Ordering::SeqCst);
    }
}

enum ControlOp {
    Stop,
    Start,
    Pause(String),
    Resume,
    CopyAside(VolumePath),
    CloneImage,
    ReadOwn(u64, u64),
    AdminRestart,
}

enum Reply {
    Done,
    Bytes(u64),
    Image(Content),
    Snapshot(crate::real::FileSnapshot),
    Chunk(Chunk),
}

enum ToServer {
    Request(RequestKind, u32, u32),
    Control(ControlOp, Sender<Result<Reply>>),
    Finish,
}

impl Scenario {
    /// Runs the scenario for real under `dir`: the preset's volumes as
    /// directories (`dir/Server HD`, `dir/Backup Drive`), the server holding
    /// the real data file under an exclusive lock, the backup reading it, on
    /// threads, with a scaled wall clock and a watchdog. `dir` is created if
    /// missing; one that holds anything but an earlier real run is refused.
    ///
    /// Outcomes decided by policy match [`run`](Scenario::run); where real
    /// thread timing decides (whether a tolerated write tears a copy) they
    /// may differ.
    pub fn run_real(&self, dir: impl AsRef<std::path::Path>) -> Result<Report> {
        self.validate()?;
        run(&self.opts, dir.as_ref(), Chooser::random(self.opts.seed))
    }
}

/// Runs `opts` on real files under `dir`.
fn run(opts: &Options, dir: &Path, mut chooser: Chooser) -> Result<Report> {
    let (hd_dir, drive_dir) = prepare(dir)?;
    let start = during(0, NIGHT_BEGINS).min(during(0, opts.traffic.start));
    let clock = ScaledClock::new(start, opts.real_scale);
    let hd = Arc::new(OsVolume::open_dir(SERVER_HD, &hd_dir)?.with_clock(clock.clone()));
    let drive = Arc::new(OsVolume::open_dir(BACKUP_DRIVE, &drive_dir)?.with_clock(clock.clone()));
    let live = mail_data_path();
    let image = std::fs::read(hd.real_path(&live)?).map_err(|source| Error::Io {
        path: hd.real_path(&live).unwrap_or_default(),
        source,
    })?;
    let header = datafile::read_header(&image).map_err(|source| Error::DataFile {
        path: live.clone(),
        source,
    })?;
    let oracle = Oracle::from_fingerprints(
        image.len() as u64,
        image.chunks(PAGE_BYTES).map(page_fingerprint),
        header.generation,
    );
    let shared = Arc::new(Shared {
        clock: clock.clone(),
        log: Mutex::new(Timeline::new()),
        oracle: Mutex::new(oracle),
        state: AtomicU8::new(state_code(ServerState::Down)),
        generation: AtomicU64::new(header.generation),
        outage: Mutex::new(None),
        metrics: Mutex::new(Metrics::default()),
        acked: Mutex::new(Vec::new()),
        deleted: Mutex::new(Vec::new()),
        reactions: AtomicU64::new(0),
        shut_down: AtomicBool::new(false),
        hang: AtomicBool::new(false),
        live: live.clone(),
    });
    shared.log(
        Actor::Administrator,
        EventKind::NightBegins { night: 1 },
        None,
    );

    // The reaction to each foreign access, drawn up front (the KB draw).
    let reactions: Vec<ConflictBehavior> = (0..opts.nights * 4)
        .map(|_| match opts.conflict {
            Some(b) => b,
            None => {
                let p = (opts.shutdown_probability * 1_000_000.0).round() as u32;
                match chooser.weighted(&[p, 1_000_000 - p.min(1_000_000)]) {
                    0 => ConflictBehavior::Shutdown,
                    _ => ConflictBehavior::Hang,
                }
            }
        })
        .collect();

    let (to_server, server_rx) = mpsc::channel();
    let server = {
        let (sh, hd, drive) = (shared.clone(), hd.clone(), drive.clone());
        thread::Builder::new()
            .name("mail server".into())
            .spawn(move || server_thread(&sh, &hd, &drive, server_rx, reactions))
            .map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?
    };
    // Wait (boundedly) for the server to hold its file.
    let ready_by = Instant::now() + REPLY_TIMEOUT;
    while shared.state() != ServerState::Serving
        && Instant::now() < ready_by
        && !server.is_finished()
    {
        thread::sleep(Duration::from_millis(1));
    }

    let mut archive = Vec::new();
    let mut outcome = Outcome::Clean;
    let mut result = Ok(());
    for night in 0..opts.nights {
        match run_night(opts, night, &shared, &hd, &drive, &to_server, &mut chooser) {
            Ok((night_archive, torn)) => {
                let night_outcome = if torn {
                    Outcome::Corrupted
                } else if shared.hang.swap(false, Ordering::SeqCst) {
                    Outcome::Hang
                } else if shared.shut_down.swap(false, Ordering::SeqCst) {
                    Outcome::GracefulShutdown
                } else {
                    Outcome::Clean
                };
                outcome = outcome.max(night_outcome);
                archive.extend(night_archive);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = to_server.send(ToServer::Finish);
    let server_result = server.join().unwrap_or_else(|_| {
        Err(Error::VolumeIo {
            path: live.clone(),
            reason: "the server thread panicked".into(),
        })
    });
    result?;
    server_result?;

    // Nothing is lost: every acknowledged delivery not deleted by its owner
    // is in the live file.
    let image = std::fs::read(hd.real_path(&live)?).map_err(|source| Error::Io {
        path: hd.real_path(&live).unwrap_or_default(),
        source,
    })?;
    let (_, records) = datafile::scan(&image).map_err(|source| Error::DataFile {
        path: live.clone(),
        source,
    })?;
    let mut present: Vec<u64> = records
        .iter()
        .filter(|r| !r.flags.contains(RecordFlags::DELETED))
        .map(|r| r.message_id)
        .collect();
    present.sort_unstable();
    let mut deleted = shared.deleted.lock().clone();
    deleted.sort_unstable();
    let acked = shared.acked.lock().clone();
    let mut metrics = shared.metrics.lock().clone();
    metrics.deliveries_acknowledged = acked.len() as u64;
    let lost: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|id| deleted.binary_search(id).is_err() && present.binary_search(id).is_err())
        .collect();
    metrics.messages_lost = lost.len() as u64;
    metrics.server_downtime = metrics.planned_downtime + metrics.unplanned_downtime;
    let mut events: Vec<Event> = std::mem::take(&mut shared.log.lock().events);
    // Threads log concurrently: put the narration in time order.
    events.sort_by_key(|e| e.time);
    Ok(Report {
        outcome,
        seed: opts.seed,
        choices: chooser.into_choices(),
        metrics,
        archive,
        timeline: events,
        nights: opts.nights,
        events_processed: 0,
        lost,
        behavior: opts
            .conflict
            .map_or("kb", ConflictBehavior::as_str)
            .to_owned(),
        snapshot: opts.snapshot.name().to_owned(),
        open_files: opts.open_files.as_str().to_owned(),
        live,
    })
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

fn run_night(
    opts: &Options,
    night: u32,
    shared: &Arc<Shared>,
    hd: &Arc<OsVolume>,
    drive: &Arc<OsVolume>,
    to_server: &Sender<ToServer>,
    chooser: &mut Chooser,
) -> Result<(Vec<ArchivedFile>, bool)> {
    let begins = during(night, NIGHT_BEGINS).min(during(night, opts.traffic.start));
    shared.clock.skip_to(begins);
    shared.log.lock().night = night + 1;
    if night > 0 {
        shared.log(
            Actor::Administrator,
            EventKind::NightBegins { night: night + 1 },
            None,
        );
    }

    // The night's traffic, drawn up front.
    let mut schedule = Vec::new();
    let traffic_end = during(night, opts.traffic.end).max(during(night, opts.traffic.start));
    if opts.traffic.requests_per_hour > 0 {
        let mut t = during(night, opts.traffic.start) + traffic::gap(chooser, &opts.traffic);
        while t <= traffic_end {
            let kind = traffic::request_kind(chooser);
            let len = if kind == RequestKind::Deliver {
                traffic::payload_len(chooser)
            } else {
                0
            };
            schedule.push((t, kind, len, chooser.choose(u32::MAX)));
            t += traffic::gap(chooser, &opts.traffic);
        }
    }
    let traffic_done = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (sh, tx, done) = (shared.clone(), to_server.clone(), traffic_done.clone());
        thread::spawn(move || {
            for (t, kind, len, pick) in schedule {
                sh.clock.sleep_until(t);
                if tx.send(ToServer::Request(kind, len, pick)).is_err() {
                    break;
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    // The backup and the snapshot policy, on their own thread.
    let session = opts
        .snapshot
        .begin_night(&NightInfo::new(night + 1, opts.nights, begins));
    let backup_done = Arc::new(AtomicBool::new(false));
    let backup = {
        let mut env = RealEnv {
            shared: shared.clone(),
            hd: hd.clone(),
            drive: drive.clone(),
            to_server: to_server.clone(),
            session: Some(session),
            now: begins,
            policy: opts.snapshot.name().to_owned(),
        };
        let client = BackupClient::new(
            vec![SERVER_HD.to_owned(), BACKUP_DRIVE.to_owned()],
            opts.exclusion.clone(),
            opts.open_files,
            opts.speed,
        );
        let (backup_at, done) = (during(night, opts.backup_at), backup_done.clone());
        thread::spawn(move || {
            let r = env.run(client, backup_at, night);
            done.store(true, Ordering::SeqCst);
            r
        })
    };

    // The administrator and watchdog.
    let admin_at = during(night, opts.admin_at);
    let hang_real = shared.clock.real(opts.hang_threshold).max(MIN_REAL_HANG);
    let mut hang_logged = false;
    loop {
        thread::sleep(Duration::from_millis(2));
        let now = shared.clock.now();
        let out = *shared.outage.lock();
        if let Some(o) = out.filter(|o| o.why == Unavailable::Hung && !o.planned)
            && !hang_logged
            && o.since_real.elapsed() >= hang_real
            && now - o.since >= opts.hang_threshold
        {
            hang_logged = true;
            shared.hang.store(true, Ordering::SeqCst);
            shared.log(
                Actor::MailServer,
                EventKind::HangDetected {
                    after: now - o.since,
                    chain: crate::event::hang_chain(
                        &shared.live,
                        o.since,
                        shared.metrics.lock().deliveries_deferred,
                        "another process",
                        admin_at,
                    ),
                },
                Some(&shared.live),
            );
        }
        let settled = out.is_none_or(|o| o.why != Unavailable::Hung || hang_logged);
        let idle = backup_done.load(Ordering::SeqCst) && traffic_done.load(Ordering::SeqCst);
        // A hang is judged before the administrator ends it: with a fast
        // clock the night may reach 08:00 before the hang's real second.
        if now >= admin_at && idle && settled {
            break;
        }
        if idle && settled {
            // Nothing left to happen before the administrator: skip ahead.
            shared.clock.skip_to(admin_at);
        }
    }
    if let Some(out) = shared.outage.lock().filter(|o| !o.planned) {
        shared.log(
            Actor::Administrator,
            EventKind::Restarted {
                was: out.why,
                after: shared.clock.now() - out.since,
            },
            None,
        );
    }
    if shared.outage.lock().is_some_and(|o| !o.planned) {
        control(to_server, ControlOp::AdminRestart)?;
    }
    let _ = traffic.join();
    let set = backup.join().unwrap_or_else(|_| {
        Err(Error::VolumeIo {
            path: shared.live.clone(),
            reason: "the backup thread panicked".into(),
        })
    })?;
    let (archive, torn) = judge(shared, set, begins, night + 1);
    if let Some(out) = shared.outage.lock().as_mut() {
        let now = shared.clock.now();
        let d = now - out.since;
        let mut m = shared.metrics.lock();
        if out.planned {
            m.planned_downtime += d;
        } else {
            m.unplanned_downtime += d;
        }
        out.since = now;
    }
    shared.log(Actor::Administrator, EventKind::NightEnds, None);
    Ok((archive, torn))
}

fn judge(
    shared: &Shared,
    set: (Vec<BackupItem>, SimTime, crate::backup::BackupStats),
    began: SimTime,
    night: u32,
) -> (Vec<ArchivedFile>, bool) {
    let (items, end, stats) = set;
    {
        let mut m = shared.metrics.lock();
        m.files_archived += stats.files_archived;
        m.bytes_archived += stats.bytes_archived;
        m.files_excluded += stats.files_excluded;
        m.files_skipped_busy += stats.files_skipped_busy;
        m.files_skipped_snapshot += stats.files_skipped_snapshot;
        m.files_failed += stats.files_failed;
    }
    let oracle = shared.oracle.lock();
    let mut torn = false;
    let mut newest: Option<(bool, SimTime)> = None;
    let mut out = Vec::new();
    for item in items {
        let fps: Vec<u64> = (0..item.content.page_count())
            .map(|p| page_fingerprint(item.content.page_bytes(p).unwrap_or(&[])))
            .collect();
        let mail_data = item.path == shared.live
            || datafile::is_mail_data_name(item.path.name())
            || fps
                .first()
                .is_some_and(|f| oracle.recognizes_fingerprint(*f));
        let verdict = if mail_data {
            match oracle.judge_fingerprints(item.content.len_bytes(), fps) {
                Some(generation) => Verdict::Consistent {
                    generation,
                    age: end - item.taken_at,
                    stale: item.taken_at < began,
                },
                None => {
                    torn = true;
                    Verdict::Torn
                }
            }
        } else {
            Verdict::Consistent {
                generation: 0,
                age: end - item.taken_at,
                stale: false,
            }
        };
        if mail_data {
            let candidate = (verdict.is_consistent(), item.taken_at);
            if newest.is_none_or(|n| candidate > n) {
                newest = Some(candidate);
            }
        }
        out.push(ArchivedFile {
            len_bytes: item.content.len_bytes(),
            path: item.path,
            mail_data,
            night,
            taken_at: item.taken_at,
            verdict,
        });
    }
    shared.metrics.lock().recovery_point_age = newest.map(|(_, at)| end - at);
    (out, torn)
}

fn control(to_server: &Sender<ToServer>, op: ControlOp) -> Result<Reply> {
    let (tx, rx) = mpsc::channel();
    let gone = || Error::VolumeIo {
        path: mail_data_path(),
        reason: "the mail server thread is gone".into(),
    };
    to_server
        .send(ToServer::Control(op, tx))
        .map_err(|_| gone())?;
    match rx.recv_timeout(REPLY_TIMEOUT) {
        Ok(r) => r,
        Err(RecvTimeoutError::Timeout) => Err(Error::VolumeIo {
            path: mail_data_path(),
            reason: "the mail server did not answer a control request in time".into(),
        }),
        Err(RecvTimeoutError::Disconnected) => Err(gone()),
    }
}

/// The server thread: holds the data file, commits requests, reacts to
/// foreign opens between transactions, obeys policies and the administrator.
fn server_thread(
    sh: &Shared,
    hd: &OsVolume,
    drive: &OsVolume,
    rx: Receiver<ToServer>,
    reactions: Vec<ConflictBehavior>,
) -> Result<()> {
    let mut server = MailServer::start(hd, sh.live.clone())?;
    sh.state
        .store(state_code(ServerState::Serving), Ordering::SeqCst);
    sh.log(
        Actor::MailServer,
        EventKind::ServerStarted {
            generation: server.generation(),
            messages: server.message_count(),
        },
        Some(&sh.live),
    );
    let mut reactions = reactions.into_iter();
    let mut deferred: Vec<(RequestKind, u32, u32)> = Vec::new();
    loop {
        // Between transactions: has anyone else opened the data file?
        if let Some(by) = server.foreign_access(hd)? {
            if server.state() == ServerState::Serving {
                sh.log(
                    Actor::MailServer,
                    EventKind::ForeignAccess { by },
                    Some(&sh.live),
                );
                let behavior = reactions.next().unwrap_or(ConflictBehavior::Shutdown);
                let generation = server.generation();
                server.react(hd, behavior)?;
                match behavior {
                    ConflictBehavior::Shutdown => {
                        sh.log(
                            Actor::MailServer,
                            EventKind::ShutDown { generation },
                            Some(&sh.live),
                        );
                        sh.shut_down.store(true, Ordering::SeqCst);
                        sh.go_down(Unavailable::Down, false, ServerState::Down);
                    }
                    ConflictBehavior::Hang => {
                        sh.log(Actor::MailServer, EventKind::Hung, Some(&sh.live));
                        sh.go_down(Unavailable::Hung, false, ServerState::Hung);
                    }
                    ConflictBehavior::Tolerate => {
                        sh.log(Actor::MailServer, EventKind::Tolerated, Some(&sh.live));
                    }
                }
            }
            sh.reactions.fetch_add(1, Ordering::SeqCst);
        }
        let msg = match rx.recv_timeout(Duration::from_micros(500)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            ToServer::Finish => break,
            ToServer::Request(kind, len, pick) => {
                let reason = match server.state() {
                    ServerState::Serving => {
                        serve(sh, hd, &mut server, kind, len, pick)?;
                        continue;
                    }
                    ServerState::Down => Unavailable::Down,
                    ServerState::Hung => Unavailable::Hung,
                    ServerState::Paused => Unavailable::Paused,
                };
                sh.metrics.lock().deliveries_deferred += 1;
                sh.log(
                    Actor::MailClients,
                    EventKind::Deferred {
                        request: kind,
                        reason,
                    },
                    None,
                );
                deferred.push((kind, len, pick));
            }
            ToServer::Control(op, reply) => {
                let r = control_op(sh, hd, drive, &mut server, op, &mut deferred);
                let _ = reply.send(r);
            }
        }
    }
    if server.holds_file() {
        server.stop(hd)?;
    }
    Ok(())
}

fn resend(
    sh: &Shared,
    hd: &OsVolume,
    server: &mut MailServer,
    deferred: &mut Vec<(RequestKind, u32, u32)>,
) -> Result<()> {
    if deferred.is_empty() {
        return Ok(());
    }
    sh.log(
        Actor::MailClients,
        EventKind::Resent {
            requests: deferred.len() as u64,
        },
        None,
    );
    for (kind, len, pick) in std::mem::take(deferred) {
        serve(sh, hd, server, kind, len, pick)?;
    }
    Ok(())
}

fn control_op(
    sh: &Shared,
    hd: &OsVolume,
    drive: &OsVolume,
    server: &mut MailServer,
    op: ControlOp,
    deferred: &mut Vec<(RequestKind, u32, u32)>,
) -> Result<Reply> {
    match op {
        ControlOp::Stop => {
            if server.state() == ServerState::Serving {
                server.stop(hd)?;
                sh.log(Actor::MailServer, EventKind::PlannedStop, Some(&sh.live));
                sh.go_down(Unavailable::Down, true, ServerState::Down);
            }
            Ok(Reply::Done)
        }
        ControlOp::Start | ControlOp::AdminRestart => {
            let admin = matches!(op, ControlOp::AdminRestart);
            if matches!(server.state(), ServerState::Down | ServerState::Hung) {
                server.restart(hd)?;
                if admin {
                    sh.log(
                        Actor::MailServer,
                        EventKind::ServerStarted {
                            generation: server.generation(),
                            messages: server.message_count(),
                        },
                        Some(&sh.live),
                    );
                } else {
                    sh.log(Actor::MailServer, EventKind::PlannedStart, None);
                }
                sh.back_up();
                resend(sh, hd, server, deferred)?;
            }
            Ok(Reply::Done)
        }
        ControlOp::Pause(why) => {
            if server.state() == ServerState::Serving {
                server.pause();
                sh.log(Actor::MailServer, EventKind::Paused { why }, None);
                sh.go_down(Unavailable::Paused, true, ServerState::Paused);
            }
            Ok(Reply::Done)
        }
        ControlOp::Resume => {
            if server.state() == ServerState::Paused {
                server.resume();
                sh.log(Actor::MailServer, EventKind::Resumed, None);
                sh.back_up();
                resend(sh, hd, server, deferred)?;
            }
            Ok(Reply::Done)
        }
        ControlOp::CopyAside(dest) => {
            let image = own_image(sh, hd, server)?;
            let need = image.len_bytes();
            let avail = drive.available_bytes()?;
            if dest.volume() != drive.name() {
                return Err(Error::NoSuchVolume {
                    name: dest.volume().to_owned(),
                });
            }
            if need > avail {
                return Err(Error::DiskFull {
                    path: dest,
                    needed_bytes: need,
                    available_bytes: avail,
                });
            }
            // put_file writes a temporary name, syncs and renames.
            drive.put_file(&dest, image)?;
            Ok(Reply::Bytes(need))
        }
        // O(1) for the server: a reflink or a copy-before-write snapshot;
        // the backup thread reads it while the server goes on writing.
        ControlOp::CloneImage => match server.handle() {
            Some(h) => Ok(Reply::Snapshot(hd.snapshot(h)?)),
            None => Ok(Reply::Image(own_image(sh, hd, server)?)),
        },
        ControlOp::ReadOwn(offset, len) => {
            if server.holds_file() {
                Ok(Reply::Chunk(server.read_own(hd, offset, len)?))
            } else {
                let image = own_image(sh, hd, server)?;
                Ok(Reply::Chunk(Chunk::of(&image, offset, len)))
            }
        }
    }
}

fn own_image(sh: &Shared, hd: &OsVolume, server: &MailServer) -> Result<Content> {
    if server.holds_file() {
        server.image(hd)
    } else {
        let path = hd.real_path(&sh.live)?;
        let bytes = std::fs::read(&path).map_err(|source| Error::Io { path, source })?;
        Ok(Content::from_bytes(&bytes))
    }
}

fn serve(
    sh: &Shared,
    hd: &OsVolume,
    server: &mut MailServer,
    kind: RequestKind,
    len: u32,
    pick: u32,
) -> Result<()> {
    let commit = match kind {
        RequestKind::Deliver => {
            let c = server.deliver(hd, len)?;
            sh.acked.lock().extend(c.message_id);
            Some(c)
        }
        RequestKind::Read => server.mark_read(hd, pick)?,
        RequestKind::Delete => {
            let c = server.delete(hd, pick)?;
            if let Some(c) = &c {
                sh.deleted.lock().extend(c.message_id);
            }
            c
        }
    };
    let Some(commit) = commit else {
        return Ok(());
    };
    record(sh, hd, server, &commit)?;
    let generation = commit.generation;
    let message_id = commit.message_id.unwrap_or(0);
    sh.log(
        Actor::MailServer,
        match kind {
            RequestKind::Deliver => EventKind::Delivered {
                message_id,
                generation,
            },
            RequestKind::Read => EventKind::MarkedRead {
                message_id,
                generation,
            },
            RequestKind::Delete => EventKind::Deleted {
                message_id,
                generation,
            },
        },
        None,
    );
    if server.needs_compaction() {
        let c = server.compact(hd)?;
        record(sh, hd, server, &c)?;
        sh.log(
            Actor::MailServer,
            EventKind::Compacted {
                generation: c.generation,
                reclaimed_bytes: c.reclaimed_bytes,
            },
            Some(&sh.live),
        );
    }
    Ok(())
}

/// Tells the oracle the state after a commit: fingerprints of the pages the
/// commit touched, read back through the server's own handle.
fn record(sh: &Shared, hd: &OsVolume, server: &MailServer, c: &Commit) -> Result<()> {
    let len = hd.metadata(&sh.live)?.len_bytes;
    let pages = (len as usize).div_ceil(PAGE_BYTES);
    let mut changed = Vec::new();
    for p in touched_pages(&c.touched, pages) {
        let chunk = server.read_own(hd, (p * PAGE_BYTES) as u64, PAGE_BYTES as u64)?;
        changed.push((p, page_fingerprint(&chunk.to_vec())));
    }
    sh.oracle.lock().commit_pages(c.generation, len, changed);
    sh.generation.store(c.generation, Ordering::SeqCst);
    Ok(())
}

/// The backup thread's world: the real volumes, the shared timeline, and the
/// snapshot policy talking to the server thread.
struct RealEnv {
    shared: Arc<Shared>,
    hd: Arc<OsVolume>,
    drive: Arc<OsVolume>,
    to_server: Sender<ToServer>,
    session: Option<Box<dyn SnapshotSession>>,
    now: SimTime,
    /// The snapshot policy's name, for errors about it.
    policy: String,
}

type BackupResult = (Vec<BackupItem>, SimTime, crate::backup::BackupStats);

impl RealEnv {
    fn run(
        &mut self,
        mut client: BackupClient,
        backup_at: SimTime,
        night: u32,
    ) -> Result<BackupResult> {
        let mut next_policy = self
            .session
            .as_ref()
            .and_then(|s| s.schedule())
            .map(|t| during(night, t));
        let mut next_backup = Some(backup_at);
        let mut end = backup_at;
        loop {
            let (t, policy) = match (next_policy, next_backup) {
                (Some(p), Some(b)) if p <= b => (p, true),
                (Some(p), None) => (p, true),
                (_, Some(b)) => (b, false),
                (None, None) => break,
            };
            self.shared.clock.sleep_until(t);
            self.now = self.shared.clock.now().max(t);
            if policy {
                let now = self.now;
                next_policy = match self.with_session(|s, w| s.on_schedule(w))? {
                    Next::Again(d) => Some(now + d),
                    Next::Done => None,
                };
            } else {
                let now = self.now;
                match client.step(self, now)? {
                    Step::At(next) => next_backup = Some(next),
                    Step::Done => {
                        end = self.now;
                        next_backup = None;
                        self.with_session(|s, w| s.after_backup(w, true))?;
                    }
                }
            }
        }
        Ok((client.take_backup_set(), end, client.stats()))
    }

    fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut dyn SnapshotSession, &mut RealEnv) -> Result<T>,
    ) -> Result<T> {
        let mut session = self
            .session
            .take()
            .expect("the session lives while the night runs");
        let out = f(&mut *session, self);
        self.session = Some(session);
        out
    }

    /// The image a `CloneImage` reply stands for: a snapshot is read here,
    /// on the policy's thread, while the server goes on writing.
    fn image_of(&self, reply: Reply) -> Result<Content> {
        match reply {
            Reply::Image(c) => Ok(c),
            Reply::Snapshot(snap) => snap.to_content().map_err(|source| Error::Io {
                path: self.hd.real_path(&self.shared.live).unwrap_or_default(),
                source,
            }),
            _ => Ok(Content::new()),
        }
    }

    fn volume_named(&self, name: &str) -> Option<&OsVolume> {
        [&*self.hd, &*self.drive]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

impl BackupEnv for RealEnv {
    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        self.volume_named(name).map(|v| v as &dyn Volume)
    }

    fn log(&mut self, _time: SimTime, kind: EventKind, path: Option<&VolumePath>) {
        self.shared.log(Actor::RetrospectRemote, kind, path);
    }

    fn is_live(&self, path: &VolumePath) -> bool {
        *path == self.shared.live
    }

    fn snapshot_policy_name(&self) -> String {
        self.policy.clone()
    }

    fn before_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<Prepared> {
        self.now = now;
        let path = path.clone();
        self.with_session(|s, w| s.before_live_file(w, &path))
    }

    fn after_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<()> {
        self.now = now;
        let path = path.clone();
        self.with_session(|s, w| s.after_live_file(w, &path))
    }

    fn opened(&mut self, path: &VolumePath, _now: SimTime) -> Result<()> {
        // The model's promise: the holder reacts to an open before the first
        // read. Wait, boundedly, for the server thread to have noticed.
        if *path != self.shared.live || !matches!(self.shared.state(), ServerState::Serving) {
            return Ok(());
        }
        if !super::OpenWatch::is_supported() {
            return Ok(());
        }
        let before = self.shared.reactions.load(Ordering::SeqCst);
        let deadline = Instant::now() + REACTION_TIMEOUT;
        while self.shared.reactions.load(Ordering::SeqCst) == before && Instant::now() < deadline {
            thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }
}

impl ServerControl for RealEnv {
    fn now(&self) -> SimTime {
        self.shared.clock.now().max(self.now)
    }

    fn live_path(&self) -> VolumePath {
        self.shared.live.clone()
    }

    fn state(&self) -> ServerState {
        self.shared.state()
    }

    fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::SeqCst)
    }

    fn len_bytes(&self) -> Result<u64> {
        Ok(self.hd.metadata(&self.shared.live)?.len_bytes)
    }

    fn stop(&mut self) -> Result<()> {
        control(&self.to_server, ControlOp::Stop).map(|_| ())
    }

    fn start(&mut self) -> Result<()> {
        control(&self.to_server, ControlOp::Start).map(|_| ())
    }

    fn pause(&mut self, why: &str) {
        let _ = control(&self.to_server, ControlOp::Pause(why.to_owned()));
    }

    fn resume(&mut self) {
        let _ = control(&self.to_server, ControlOp::Resume);
    }

    fn copy_aside(&mut self, dest: &VolumePath) -> Result<u64> {
        match control(&self.to_server, ControlOp::CopyAside(dest.clone()))? {
            Reply::Bytes(n) => Ok(n),
            _ => Ok(0),
        }
    }

    fn clone_image(&mut self) -> Result<Content> {
        let reply = control(&self.to_server, ControlOp::CloneImage)?;
        self.image_of(reply)
    }

    fn clone_image_and_resume(&mut self) -> Result<Content> {
        // Take the snapshot (O(1)), let the server write again, then read
        // the snapshot while it does.
        let reply = control(&self.to_server, ControlOp::CloneImage);
        self.resume();
        self.image_of(reply?)
    }

    fn read_own(&mut self, offset: u64, len_bytes: u64) -> Result<Chunk> {
        match control(&self.to_server, ControlOp::ReadOwn(offset, len_bytes))? {
            Reply::Chunk(c) => Ok(c),
            _ => Ok(Chunk::from_bytes(offset, &[])),
        }
    }

    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        self.volume_named(name).map(|v| v as &dyn Volume)
    }

    fn log(&mut self, kind: EventKind, path: Option<&VolumePath>) {
        let actor = Actor::of_policy_step(&kind);
        self.shared.log(actor, kind, path);
    }
}
