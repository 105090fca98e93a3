//! Snapshot policies: how a consistent copy of the live file comes to exist,
//! and what the backup archives in its place.
//!
//! The contract is on [`SnapshotPolicy`].

use std::fmt::Debug;
use std::time::Duration;

use crate::error::Result;
use crate::event::EventKind;
pub use crate::event::WriterState;
use crate::server::ServerState;
use crate::time::{SimTime, TimeOfDay};
use crate::volume::{Chunk, Content, CopyBuilder, Volume, VolumePath};

/// How a consistent copy of the live data file comes to exist, and what the
/// backup archives in its place.
///
/// # The contract
///
/// A [`SnapshotPolicy`] is immutable configuration. At the start of every
/// night the runner calls [`SnapshotPolicy::begin_night`] and gets a
/// [`SnapshotSession`]: everything the policy tracks during that night (a
/// retry count, a frozen writer, an online copy in progress) lives there, so
/// clones of a scenario never share state. The runner then calls the session:
///
/// 1. **On its schedule**: if [`SnapshotSession::schedule`] names a time of
///    day, [`SnapshotSession::on_schedule`] runs then, whatever the backup
///    selects (MS Mail Backup copies Mail Data at midnight even when the
///    backup excludes it). It may answer [`Next::Again`] to be called back
///    later, which is how work that takes time (a copy at disk speed) is
///    modelled.
/// 2. **Before the backup reaches the live file**:
///    [`SnapshotSession::before_live_file`], only for a live file the backup
///    will archive — exclusions apply first, so with Mail Data excluded a
///    policy is never asked. It answers with a [`Prepared`]: read the live
///    file, archive this point-in-time image in its place, call back after a
///    wait, or give up. A policy that gives up makes the backup skip the file
///    and record why — never a silent fall-back to reading the live file.
/// 3. **After the backup has dealt with the live file**
///    ([`SnapshotSession::after_live_file`]) and **when the backup finishes or
///    fails** ([`SnapshotSession::after_backup`]): release a snapshot, restart
///    a stopped server.
///
/// Through [`ServerControl`] a session may ask the server — the writer — to
/// stop and start, pause and resume (hold writes), copy its own file aside,
/// take a point-in-time clone, and read its file page by page for an online
/// copy. Planned stops and pauses count as planned downtime, never as a
/// `GracefulShutdown` or a `Hang`. A session must not block, must not read
/// the live file through a volume (that would be a foreign access), and must
/// bound every wait it asks for.
pub trait SnapshotPolicy: Send + Sync + Debug {
    /// Short name for tables and narration ("live read", "stop server").
    fn name(&self) -> &str;

    /// The per-night state of this policy, created by the runner at the
    /// start of each night.
    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession>;

    /// The policy as `Any`, for the built-ins that scenario files can save;
    /// `None` (the default) for a policy of your own.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// What a policy learns about the night it acts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NightInfo {
    /// 1-based night number.
    pub night: u32,
    /// When the night begins.
    pub begins: SimTime,
    /// Number of nights in the run.
    pub nights: u32,
    /// Whether the MS Mail Backup control panel loaded at startup tonight
    /// (false under the KB Q68600 fault).
    pub control_panel_loaded: bool,
}

impl NightInfo {
    /// Night `night` of `nights`, beginning at `begins`.
    pub fn new(night: u32, nights: u32, begins: SimTime) -> NightInfo {
        NightInfo {
            night,
            begins,
            nights,
            control_panel_loaded: true,
        }
    }

    /// The same night, with the control panel loaded or not.
    pub fn with_control_panel(mut self, loaded: bool) -> NightInfo {
        self.control_panel_loaded = loaded;
        self
    }
}

/// Whether scheduled work is finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Finished for tonight.
    Done,
    /// Call [`SnapshotSession::on_schedule`] again after this long.
    Again(Duration),
}

/// Why a policy could not provide a consistent copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, in a few words.
    pub reason: String,
    /// Whether trying again later could succeed.
    pub retryable: bool,
}

/// What the backup should archive for the live file.
#[derive(Clone, Debug)]
pub enum Prepared {
    /// Read the live file itself (with the backup's open-file policy).
    ReadLive,
    /// Archive this image under the live file's path instead.
    Image {
        /// The point-in-time contents.
        content: Content,
        /// When they were current.
        taken_at: SimTime,
    },
    /// Not ready yet: call `before_live_file` again after this long.
    Wait(Duration),
    /// No consistent copy tonight: the backup skips the file and records why.
    GiveUp(Failure),
}

/// The writer interface: what a snapshot policy may ask of the mail server.
///
/// # The contract
///
/// - **Implemented by mailsim only** (the trait is sealed): every driver of
///   the night — the simulator, the real runner, the explorer — hands its
///   sessions the same implementation, the night's own, so a policy
///   behaves alike in all three.
/// - **Idempotent**: [`stop`](ServerControl::stop) of a server that is not
///   serving, [`start`](ServerControl::start) of one that is not down,
///   [`pause`](ServerControl::pause) of one that is not serving and
///   [`resume`](ServerControl::resume) of one that is not paused do
///   nothing. `start` restarts only a server a policy stopped: one that is
///   down because of a fault or hung is the administrator's to restart.
/// - **Failures are the server's, not the policy's**: when the server
///   fails while obeying (an injected crash or I/O error during a stop, a
///   start or a resend after a resume), the night records the crash and
///   the call returns `Ok`; the server is then down until the
///   administrator. `pause` and `resume` cannot fail.
///   [`copy_aside`](ServerControl::copy_aside),
///   [`clone_image`](ServerControl::clone_image) and
///   [`read_own`](ServerControl::read_own) return the volume's error (a
///   full disk before a byte is written, an I/O error), which the policy
///   decides about.
/// - **Time**: [`now`](ServerControl::now) is the night's virtual time of
///   the move being applied. The simulator jumps to it; the real runner's
///   scaled clock reads it too (each move is applied when the clock says
///   it is due); the explorer moves it to the move's due time, never back.
///   A call takes no virtual time: work that takes time is modelled by
///   answering [`Prepared::Wait`] or [`Next::Again`] (see `ScheduledCopy`,
///   which pauses for the copy's duration at disk speed that way).
pub trait ServerControl: sealed::Sealed {
    /// The current time.
    fn now(&self) -> SimTime;
    /// The live data file's path.
    fn live_path(&self) -> VolumePath;
    /// Whether the server serves, is paused, down or hung.
    fn state(&self) -> ServerState;
    /// The data file's current generation.
    fn generation(&self) -> u64;
    /// The data file's current length.
    fn len_bytes(&self) -> Result<u64>;
    /// Stops the server gracefully (planned): it finishes its transaction,
    /// flushes and closes its file.
    fn stop(&mut self) -> Result<()>;
    /// Starts a server stopped by [`ServerControl::stop`].
    fn start(&mut self) -> Result<()>;
    /// Holds writes (planned): the server keeps its file, answers nothing.
    fn pause(&mut self, why: &str);
    /// Ends a pause.
    fn resume(&mut self);
    /// The server copies its own file to `dest`: written under a temporary
    /// name, synced, then renamed into place. Refused before a byte is
    /// written when `dest`'s volume has no room. Returns the bytes copied.
    fn copy_aside(&mut self, dest: &VolumePath) -> Result<u64>;
    /// An atomic point-in-time clone of the data file (O(1)).
    fn clone_image(&mut self) -> Result<Content>;
    /// Clones the data file of a paused server, then ends the pause: the
    /// clone is *taken* before the server resumes and may be *read* after,
    /// so the writes held are those of taking an O(1) snapshot, not of
    /// reading it (on disk, a copy-before-write snapshot of a large file is
    /// read while the server writes again). The default clones, then
    /// resumes.
    fn clone_image_and_resume(&mut self) -> Result<Content> {
        let image = self.clone_image();
        self.resume();
        image
    }
    /// Reads the data file through the server's own handle (not a foreign
    /// access), for an online copy.
    fn read_own(&mut self, offset: u64, len_bytes: u64) -> Result<Chunk>;
    /// A volume of the scenario, by name.
    fn volume(&self, name: &str) -> Option<&dyn Volume>;
    /// Narrates a step of the policy on the timeline.
    fn log(&mut self, kind: EventKind, path: Option<&VolumePath>);
}

/// A policy's state for one night: see [`SnapshotPolicy`] for the contract.
///
/// # Errors from a hook
///
/// A hook that returns `Err` does not end the run. From
/// [`before_live_file`](SnapshotSession::before_live_file) it is a
/// recorded failure of that file: the backup skips it as if the policy had
/// given up, and the timeline and the metrics
/// (`files_skipped_snapshot`) say so, naming the policy — except an I/O
/// error (`Error::VolumeIo`, `Error::Io`), which the backup reports as for
/// any file it cannot read. From [`on_schedule`](SnapshotSession::on_schedule),
/// [`after_live_file`](SnapshotSession::after_live_file) and
/// [`after_backup`](SnapshotSession::after_backup) it is recorded on the
/// timeline, naming the policy, and the night goes on (the scheduled work
/// ends for the night); a server it leaves paused or stopped is what the
/// invariants then find. A policy that keeps the backup waiting past a
/// bound ends the run with `Error::SnapshotStalled`, naming it.
pub trait SnapshotSession: Send + Debug {
    /// A time of day at which [`SnapshotSession::on_schedule`] runs, whatever
    /// the backup does.
    fn schedule(&self) -> Option<TimeOfDay> {
        None
    }

    /// Scheduled work.
    fn on_schedule(&mut self, server: &mut dyn ServerControl) -> Result<Next> {
        let _ = server;
        Ok(Next::Done)
    }

    /// The backup is about to archive the live file: what should it read?
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared>;

    /// The backup has archived or skipped the live file.
    fn after_live_file(&mut self, server: &mut dyn ServerControl, path: &VolumePath) -> Result<()> {
        let _ = (server, path);
        Ok(())
    }

    /// The backup has finished (or failed: `finished` is false).
    fn after_backup(&mut self, server: &mut dyn ServerControl, finished: bool) -> Result<()> {
        let _ = (server, finished);
        Ok(())
    }

    /// A key for what this session keeps of its own, for the explorer
    /// (`mailsim::testing::explore`): two sessions of the same policy with
    /// the same key must behave the same from here on, whatever the world
    /// asks of them. `None`, the default, says nothing can be told: the
    /// explorer then never merges two states that differ only inside this
    /// session, and its search is bounded by its `Bounds` alone. A session
    /// that keeps nothing (or only what it was configured with) answers
    /// `Some(0)`.
    fn state_key(&self) -> Option<u64> {
        None
    }
}

/// Seals [`ServerControl`]: the night's is the only implementation.
pub(crate) mod sealed {
    /// Implemented by the night alone.
    pub trait Sealed {}
}

/// A hash of `value`, for a session's [`SnapshotSession::state_key`]:
/// stable within a process (SipHash with fixed keys).
fn key_of(value: impl std::hash::Hash) -> Option<u64> {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    Some(h.finish())
}

/// No snapshot: the backup reads the live file — the KB's problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveRead;

#[derive(Debug)]
struct LiveReadSession;

impl SnapshotSession for LiveReadSession {
    fn before_live_file(&mut self, _: &mut dyn ServerControl, _: &VolumePath) -> Result<Prepared> {
        Ok(Prepared::ReadLive)
    }

    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

impl SnapshotPolicy for LiveRead {
    fn name(&self) -> &str {
        "live read"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(LiveReadSession)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// KB remedy 3, as Dantz's stop → duplicate → relaunch: stop the server
/// gracefully before the backup reaches Mail Data, let the backup read the
/// file nobody holds, and restart the server when the backup is done (or,
/// with [`StopServer::restart_after_file`], as soon as the file is copied).
///
/// Cost: planned downtime from the stop to the restart; requests meanwhile
/// are deferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopServer {
    /// Restart as soon as the data file is archived, not at the end of the backup.
    pub restart_after_file: bool,
}

impl Default for StopServer {
    /// Restart when the backup is done.
    fn default() -> Self {
        StopServer {
            restart_after_file: false,
        }
    }
}

impl StopServer {
    /// Restart as soon as the data file is archived.
    pub fn restart_after_file(mut self, yes: bool) -> StopServer {
        self.restart_after_file = yes;
        self
    }
}

#[derive(Debug)]
struct StopServerSession {
    policy: StopServer,
    stopped: bool,
}

impl StopServerSession {
    fn restart(&mut self, server: &mut dyn ServerControl) -> Result<()> {
        if std::mem::take(&mut self.stopped) {
            server.start()?;
        }
        Ok(())
    }
}

impl SnapshotSession for StopServerSession {
    fn state_key(&self) -> Option<u64> {
        key_of(self.stopped)
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> Result<Prepared> {
        if server.state() == ServerState::Serving {
            server.stop()?;
            self.stopped = true;
        }
        Ok(Prepared::ReadLive)
    }

    fn after_live_file(&mut self, server: &mut dyn ServerControl, _: &VolumePath) -> Result<()> {
        if self.policy.restart_after_file {
            self.restart(server)?;
        }
        Ok(())
    }

    fn after_backup(&mut self, server: &mut dyn ServerControl, _: bool) -> Result<()> {
        self.restart(server)
    }
}

impl SnapshotPolicy for StopServer {
    fn name(&self) -> &str {
        "stop server"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(StopServerSession {
            policy: *self,
            stopped: false,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// KB remedy 4, the MS Mail Backup control panel: at a time of day (default
/// 00:00) the server pauses and copies its own data file to a destination
/// volume (default "Backup Drive") as "Mail Data Backup #1", shifting older
/// copies up to `keep` (default 3; the lowest number is the newest).
///
/// It does **not** keep the backup off the live file: without an exclusion of
/// Microsoft Mail Data the conflict still happens, as on the real system.
/// Cost: a pause of the copy's duration at `disk_bytes_per_sec`. Fault (KB
/// Q68600): when the control panel fails to load it silently makes no copy,
/// and the backup archives a stale one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledCopy {
    /// When the copy is made.
    pub at: TimeOfDay,
    /// Volume the copies go to.
    pub destination: String,
    /// Copies kept, "Mail Data Backup #1" (newest) to "#keep".
    pub keep: u32,
    /// Copy speed, bytes per second.
    pub disk_bytes_per_sec: u64,
    /// 1-based nights on which the control panel fails to load (KB Q68600).
    pub not_loaded_on: Vec<u32>,
}

impl Default for ScheduledCopy {
    /// 00:00 to "Backup Drive", three copies kept, at 1 MB/s.
    fn default() -> Self {
        ScheduledCopy {
            at: TimeOfDay::MIDNIGHT,
            destination: "Backup Drive".to_owned(),
            keep: 3,
            disk_bytes_per_sec: 1_000_000,
            not_loaded_on: Vec::new(),
        }
    }
}

impl ScheduledCopy {
    /// The copy's time of day.
    pub fn at(mut self, at: TimeOfDay) -> ScheduledCopy {
        self.at = at;
        self
    }

    /// The destination volume.
    pub fn destination(mut self, volume: impl Into<String>) -> ScheduledCopy {
        self.destination = volume.into();
        self
    }

    /// How many copies to keep (at least 1).
    pub fn keep(mut self, keep: u32) -> ScheduledCopy {
        self.keep = keep.max(1);
        self
    }

    /// Copy speed.
    pub fn disk_bytes_per_sec(mut self, bytes_per_sec: u64) -> ScheduledCopy {
        self.disk_bytes_per_sec = bytes_per_sec.max(1);
        self
    }

    /// The control panel fails to load on this 1-based night (KB Q68600).
    pub fn not_loaded_on(mut self, night: u32) -> ScheduledCopy {
        self.not_loaded_on.push(night);
        self
    }

    /// The path of copy number `n` (1 is the newest).
    pub fn copy_path(&self, n: u32) -> VolumePath {
        VolumePath::new(&*self.destination, [crate::datafile::copy_name(n)])
    }
}

#[derive(Debug)]
struct ScheduledCopySession {
    policy: ScheduledCopy,
    loaded: bool,
    pausing: bool,
}

impl SnapshotSession for ScheduledCopySession {
    fn state_key(&self) -> Option<u64> {
        key_of((self.loaded, self.pausing))
    }

    fn schedule(&self) -> Option<TimeOfDay> {
        Some(self.policy.at)
    }

    fn on_schedule(&mut self, server: &mut dyn ServerControl) -> Result<Next> {
        let p = &self.policy;
        if !self.loaded {
            server.log(
                EventKind::CopyAsideMissed {
                    reason:
                        "the MS Mail Backup control panel did not load (KB Q68600): no copy tonight"
                            .to_owned(),
                },
                None,
            );
            return Ok(Next::Done);
        }
        if !self.pausing {
            if server.state() != ServerState::Serving {
                server.log(
                    EventKind::CopyAsideMissed {
                        reason: "the Mail Server is not running".to_owned(),
                    },
                    None,
                );
                return Ok(Next::Done);
            }
            // Pause for as long as the copy takes at disk speed.
            self.pausing = true;
            let len = server.len_bytes()?;
            server.pause("MS Mail Backup copies the data file");
            let micros = u128::from(len) * 1_000_000 / u128::from(p.disk_bytes_per_sec.max(1));
            return Ok(Next::Again(Duration::from_micros(
                u64::try_from(micros).unwrap_or(u64::MAX),
            )));
        }
        self.pausing = false;
        let result = rotate_and_copy(server, p);
        server.resume();
        if let Err(e) = result {
            server.log(
                EventKind::CopyAsideMissed {
                    reason: e.to_string(),
                },
                None,
            );
        }
        Ok(Next::Done)
    }

    fn before_live_file(&mut self, _: &mut dyn ServerControl, _: &VolumePath) -> Result<Prepared> {
        Ok(Prepared::ReadLive)
    }
}

fn rotate_and_copy(server: &mut dyn ServerControl, p: &ScheduledCopy) -> Result<()> {
    let dest = server
        .volume(&p.destination)
        .ok_or_else(|| crate::Error::NoSuchVolume {
            name: p.destination.clone(),
        })?;
    // Check room first: the rotation must not be disturbed for a copy that
    // cannot be made.
    let need = server.len_bytes()?;
    let avail = dest.available_bytes()?;
    if need > avail {
        return Err(crate::Error::DiskFull {
            path: p.copy_path(1),
            needed_bytes: need,
            available_bytes: avail,
        });
    }
    let oldest = p.copy_path(p.keep);
    if dest.metadata(&oldest).is_ok() {
        dest.remove_file(&oldest)?;
    }
    // The copies present, from one listing: a rotation that keeps many
    // costs a rename per copy there, not a look per number kept.
    let mut present: Vec<u32> = dest
        .list(&VolumePath::root(&*p.destination))?
        .into_iter()
        .filter_map(|e| crate::datafile::copy_number(&e.name).filter(|&n| n < p.keep))
        .collect();
    present.sort_unstable_by(|a, b| b.cmp(a));
    for n in present {
        dest.rename(&p.copy_path(n), &p.copy_path(n + 1))?;
    }
    let to = p.copy_path(1);
    let bytes = server.copy_aside(&to)?;
    server.log(EventKind::CopiedAside { bytes }, Some(&to));
    Ok(())
}

impl SnapshotPolicy for ScheduledCopy {
    fn name(&self) -> &str {
        "scheduled copy"
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(ScheduledCopySession {
            policy: self.clone(),
            loaded: night.control_panel_loaded && !self.not_loaded_on.contains(&night.night),
            pausing: false,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// An atomic point-in-time clone, as FICLONE or an LVM/btrfs snapshot: the
/// server pauses for no measurable time, and the backup archives the clone
/// under the live file's path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyOnWrite;

#[derive(Debug)]
struct CopyOnWriteSession;

impl SnapshotSession for CopyOnWriteSession {
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let content = server.clone_image()?;
        let generation = server.generation();
        server.log(EventKind::SnapshotTaken { generation }, Some(path));
        Ok(Prepared::Image {
            content,
            taken_at: server.now(),
        })
    }
}

impl SnapshotPolicy for CopyOnWrite {
    fn name(&self) -> &str {
        "copy-on-write"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(CopyOnWriteSession)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Windows VSS: prepare, freeze (the server finishes the transaction in
/// flight, flushes, and holds writes), create the shadow copy, thaw. The
/// backup reads the shadow copy.
///
/// Defaults after VSS: a writer must freeze within 60 s (`freeze_timeout`)
/// and writes may be held at most 10 s (`hold_writes_limit`); past either,
/// the writer fails at freeze, a retryable failure, retried `retries` times
/// `retry_interval` apart before the policy gives up. A writer that vetoes
/// fails non-retryably. Cost: a pause of `freeze_time + snapshot_time` per
/// attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreezeThaw {
    /// How long the writer may take to freeze (VSS: 60 s).
    pub freeze_timeout: Duration,
    /// How long writes may be held (VSS: 10 s).
    pub hold_writes_limit: Duration,
    /// How long the writer takes to finish its transaction and flush.
    pub freeze_time: Duration,
    /// How long creating the shadow copy takes while writes are held.
    pub snapshot_time: Duration,
    /// Retries after a retryable failure.
    pub retries: u32,
    /// Time between attempts.
    pub retry_interval: Duration,
    /// The writer vetoes the snapshot.
    pub writer_vetoes: bool,
}

impl Default for FreezeThaw {
    fn default() -> Self {
        FreezeThaw {
            freeze_timeout: Duration::from_secs(60),
            hold_writes_limit: Duration::from_secs(10),
            freeze_time: Duration::from_millis(500),
            snapshot_time: Duration::from_secs(2),
            retries: 3,
            retry_interval: Duration::from_secs(60),
            writer_vetoes: false,
        }
    }
}

impl FreezeThaw {
    /// Sets the freeze timeout.
    pub fn freeze_timeout(mut self, d: Duration) -> FreezeThaw {
        self.freeze_timeout = d;
        self
    }

    /// Sets the hold-writes limit.
    pub fn hold_writes_limit(mut self, d: Duration) -> FreezeThaw {
        self.hold_writes_limit = d;
        self
    }

    /// Sets the time to create the shadow copy.
    pub fn snapshot_time(mut self, d: Duration) -> FreezeThaw {
        self.snapshot_time = d;
        self
    }

    /// Sets the writer's freeze time.
    pub fn freeze_time(mut self, d: Duration) -> FreezeThaw {
        self.freeze_time = d;
        self
    }

    /// Sets the retries after a retryable failure.
    pub fn retries(mut self, n: u32) -> FreezeThaw {
        self.retries = n;
        self
    }

    /// Sets the time between attempts.
    pub fn retry_interval(mut self, d: Duration) -> FreezeThaw {
        self.retry_interval = d;
        self
    }

    /// Makes the writer veto every snapshot.
    pub fn writer_vetoes(mut self, yes: bool) -> FreezeThaw {
        self.writer_vetoes = yes;
        self
    }
}

#[derive(Debug)]
enum FreezeStage {
    Idle,
    Freezing,
    Frozen { frozen_at: SimTime },
    RetryWait,
}

#[derive(Debug)]
struct FreezeThawSession {
    policy: FreezeThaw,
    stage: FreezeStage,
    attempt: u32,
}

impl FreezeThawSession {
    fn state(&self, server: &mut dyn ServerControl, state: WriterState, path: &VolumePath) {
        server.log(EventKind::WriterState { state }, Some(path));
    }

    fn fail(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
        failure: Failure,
    ) -> Prepared {
        let attempts = self.policy.retries.saturating_add(1);
        server.log(
            EventKind::SnapshotFailed {
                reason: failure.reason.clone(),
                retryable: failure.retryable,
                attempt: self.attempt,
                attempts,
            },
            Some(path),
        );
        if failure.retryable && self.attempt < attempts {
            self.stage = FreezeStage::RetryWait;
            Prepared::Wait(self.policy.retry_interval)
        } else {
            let reason = if failure.retryable {
                format!(
                    "{} (gave up after {} attempts)",
                    failure.reason, self.attempt
                )
            } else {
                failure.reason
            };
            Prepared::GiveUp(Failure {
                reason,
                retryable: failure.retryable,
            })
        }
    }
}

impl SnapshotSession for FreezeThawSession {
    fn state_key(&self) -> Option<u64> {
        let stage = match self.stage {
            FreezeStage::Idle => (0, 0),
            FreezeStage::Freezing => (1, 0),
            FreezeStage::Frozen { frozen_at } => (2, frozen_at.as_micros()),
            FreezeStage::RetryWait => (3, 0),
        };
        key_of((stage, self.attempt))
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let p = self.policy;
        match self.stage {
            FreezeStage::Idle | FreezeStage::RetryWait => {
                self.attempt += 1;
                if p.writer_vetoes {
                    self.state(server, WriterState::FailedAtPrepareSnapshot, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: "the Mail Server writer vetoed the snapshot".to_owned(),
                            retryable: false,
                        },
                    ));
                }
                if server.state() != ServerState::Serving {
                    // Nobody writes: the live image is already stable.
                    let content = server.clone_image()?;
                    return Ok(Prepared::Image {
                        content,
                        taken_at: server.now(),
                    });
                }
                self.state(server, WriterState::WaitingForFreeze, path);
                // Prepare and freeze: the writer finishes the transaction in
                // flight (transactions are atomic here), flushes, holds writes.
                server.pause("VSS freeze: the writer holds its writes");
                if p.freeze_time > p.freeze_timeout {
                    server.resume();
                    self.state(server, WriterState::FailedAtFreeze, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: format!(
                                "the writer did not freeze within the {} s freeze timeout",
                                p.freeze_timeout.as_micros() as f64 / 1e6
                            ),
                            retryable: true,
                        },
                    ));
                }
                self.stage = FreezeStage::Freezing;
                Ok(Prepared::Wait(p.freeze_time))
            }
            FreezeStage::Freezing => {
                self.state(server, WriterState::WaitingForThaw, path);
                self.stage = FreezeStage::Frozen {
                    frozen_at: server.now(),
                };
                // Writes are held while the shadow copy is created; past the
                // limit VSS aborts the freeze.
                Ok(Prepared::Wait(p.snapshot_time.min(p.hold_writes_limit)))
            }
            FreezeStage::Frozen { frozen_at } => {
                if p.snapshot_time > p.hold_writes_limit {
                    server.resume();
                    self.state(server, WriterState::FailedAtFreeze, path);
                    return Ok(self.fail(
                        server,
                        path,
                        Failure {
                            reason: format!(
                                "writes were held past the {} s limit while the shadow copy was created",
                                p.hold_writes_limit.as_micros() as f64 / 1e6
                            ),
                            retryable: true,
                        },
                    ));
                }
                // The generation while writes are held is the snapshot's.
                let generation = server.generation();
                let content = server.clone_image_and_resume()?;
                server.log(EventKind::SnapshotTaken { generation }, Some(path));
                self.state(server, WriterState::WaitingForBackupComplete, path);
                self.stage = FreezeStage::Idle;
                Ok(Prepared::Image {
                    content,
                    taken_at: frozen_at,
                })
            }
        }
    }

    fn after_live_file(&mut self, server: &mut dyn ServerControl, path: &VolumePath) -> Result<()> {
        if self.attempt > 0 && !matches!(self.stage, FreezeStage::RetryWait) {
            self.state(server, WriterState::Stable, path);
        }
        Ok(())
    }

    fn after_backup(&mut self, server: &mut dyn ServerControl, _finished: bool) -> Result<()> {
        // The backup died mid-snapshot: never leave the writer frozen.
        if matches!(
            self.stage,
            FreezeStage::Freezing | FreezeStage::Frozen { .. }
        ) {
            server.resume();
            self.stage = FreezeStage::Idle;
        }
        Ok(())
    }
}

impl SnapshotPolicy for FreezeThaw {
    fn name(&self) -> &str {
        "freeze/thaw"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(FreezeThawSession {
            policy: *self,
            stage: FreezeStage::Idle,
            attempt: 0,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// SQLite's online backup API: copy `pages_per_step` pages per step through
/// the server's own handle, `step_interval` apart; a server write between
/// steps (a new generation, or a change of the server's state, as when it
/// crashes) restarts the copy; after `max_restarts` restarts the policy
/// gives up.
/// Under heavy traffic it may never finish: that livelock is reported.
///
/// Cost: no pause at all; the price is the risk of never finishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnlineCopy {
    /// Pages (4 KiB) copied per step (SQLite's example: 5; here 100).
    pub pages_per_step: u64,
    /// Time between steps (SQLite's example sleeps 250 ms).
    pub step_interval: Duration,
    /// Restarts allowed before giving up.
    pub max_restarts: u32,
}

impl Default for OnlineCopy {
    fn default() -> Self {
        OnlineCopy {
            pages_per_step: 100,
            step_interval: Duration::from_millis(250),
            max_restarts: 10,
        }
    }
}

impl OnlineCopy {
    /// Sets the pages per step (at least 1).
    pub fn pages_per_step(mut self, n: u64) -> OnlineCopy {
        self.pages_per_step = n.max(1);
        self
    }

    /// Sets the time between steps.
    pub fn step_interval(mut self, d: Duration) -> OnlineCopy {
        self.step_interval = d;
        self
    }

    /// Sets the restarts allowed.
    pub fn max_restarts(mut self, n: u32) -> OnlineCopy {
        self.max_restarts = n;
        self
    }
}

#[derive(Debug)]
struct OnlineCopySession {
    policy: OnlineCopy,
    copy: Option<PartialCopy>,
    restarts: u32,
}

/// An online copy under way.
#[derive(Debug)]
struct PartialCopy {
    builder: CopyBuilder,
    /// Bytes copied so far.
    pos: u64,
    /// The file's generation and the server's state when the copy began.
    /// The copy starts over when either changes: a commit changes the
    /// generation; a crash may change the file (writes it had not synced,
    /// lost or garbled) without a commit, but it does change the state.
    began: (u64, ServerState),
    started: SimTime,
}

impl SnapshotSession for OnlineCopySession {
    fn state_key(&self) -> Option<u64> {
        let copy = self.copy.as_ref().map(|c| {
            (
                c.pos,
                c.began.0,
                c.began.1,
                c.started.as_micros(),
                c.builder.digest(),
            )
        });
        key_of((self.restarts, copy))
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let p = self.policy;
        let generation = server.generation();
        let now = (generation, server.state());
        let fresh = |server: &dyn ServerControl| PartialCopy {
            builder: CopyBuilder::default(),
            pos: 0,
            began: now,
            started: server.now(),
        };
        let mut copy = match self.copy.take() {
            None => fresh(server),
            Some(c) if c.began != now => {
                if self.restarts >= p.max_restarts {
                    return Ok(Prepared::GiveUp(Failure {
                        reason: format!(
                            "livelock: the server wrote during the online copy {} times ({} restarts allowed)",
                            self.restarts + 1,
                            p.max_restarts
                        ),
                        retryable: true,
                    }));
                }
                self.restarts += 1;
                server.log(
                    EventKind::OnlineCopyRestarted {
                        restarts: self.restarts,
                        max_restarts: p.max_restarts,
                    },
                    Some(path),
                );
                fresh(server)
            }
            Some(c) => c,
        };
        let len = server.len_bytes()?;
        let step = p
            .pages_per_step
            .saturating_mul(crate::volume::PAGE_BYTES as u64);
        let chunk = server.read_own(copy.pos, step.min(len - copy.pos.min(len)))?;
        copy.pos += chunk.len_bytes();
        copy.builder.push(&chunk);
        if copy.pos >= len {
            server.log(EventKind::SnapshotTaken { generation }, Some(path));
            return Ok(Prepared::Image {
                content: copy.builder.finish(len),
                taken_at: copy.started,
            });
        }
        self.copy = Some(copy);
        Ok(Prepared::Wait(p.step_interval))
    }
}

impl SnapshotPolicy for OnlineCopy {
    fn name(&self) -> &str {
        "online copy"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(OnlineCopySession {
            policy: *self,
            copy: None,
            restarts: 0,
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
