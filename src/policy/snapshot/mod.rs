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
use crate::volume::{Chunk, Content, Volume, VolumePath};

mod cow;
mod freeze;
mod live;
mod online;
mod scheduled;
mod stop;

pub use cow::CopyOnWrite;
pub use freeze::FreezeThaw;
pub use live::LiveRead;
pub use online::OnlineCopy;
pub use scheduled::ScheduledCopy;
pub use stop::StopServer;

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
///
/// Non-exhaustive: variants may be added, so a `match` outside mailsim needs
/// a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Finished for tonight.
    Done,
    /// Call [`SnapshotSession::on_schedule`] again after this long.
    Again(Duration),
}

/// Why a policy could not provide a consistent copy.
///
/// Non-exhaustive: fields may be added, so build one with [`Failure::new`],
/// [`Failure::retryable`] or [`Failure::permanent`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// What went wrong, in a few words.
    pub reason: String,
    /// Whether trying again later could succeed.
    pub retryable: bool,
}

impl Failure {
    /// A failure for `reason`, retryable or not.
    ///
    /// ```
    /// use mailsim::policy::{Failure, Prepared};
    ///
    /// let busy = Failure::retryable("the writer is busy");
    /// assert!(busy.retryable);
    /// assert_eq!(busy.reason, "the writer is busy");
    /// assert_eq!(Failure::new("vetoed", false), Failure::permanent("vetoed"));
    /// assert!(!Failure::permanent("vetoed").retryable);
    /// let _give_up = Prepared::GiveUp(busy);
    /// ```
    pub fn new(reason: impl Into<String>, retryable: bool) -> Failure {
        Failure {
            reason: reason.into(),
            retryable,
        }
    }

    /// A failure that trying again later could cure (a writer busy now).
    pub fn retryable(reason: impl Into<String>) -> Failure {
        Failure::new(reason, true)
    }

    /// A failure that trying again cannot cure (a writer's veto).
    pub fn permanent(reason: impl Into<String>) -> Failure {
        Failure::new(reason, false)
    }
}

/// What the backup should archive for the live file.
///
/// Non-exhaustive: variants may be added, so a `match` outside mailsim needs
/// a wildcard arm.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    ///
    /// The copy takes no virtual time: it is the file as of
    /// [`now`](ServerControl::now), in place when the call returns, and the
    /// server is neither paused nor slowed by it. A policy whose copy
    /// should cost time charges it itself, as [`ScheduledCopy`] does:
    /// it [`pause`](ServerControl::pause)s the server, answers
    /// [`Next::Again`] with the copy's duration at its
    /// [`disk_bytes_per_sec`](ScheduledCopy::disk_bytes_per_sec), and when
    /// called again copies aside and [`resume`](ServerControl::resume)s,
    /// so the night counts that duration as planned downtime.
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

/// A shared policy is the policy: `Scenario::snapshot(Arc::new(p))` is
/// `Scenario::snapshot(p)`.
impl<P: SnapshotPolicy + ?Sized> SnapshotPolicy for std::sync::Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        (**self).begin_night(night)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}

/// A boxed policy is the policy.
impl<P: SnapshotPolicy + ?Sized> SnapshotPolicy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        (**self).begin_night(night)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        (**self).as_any()
    }
}

/// Seals [`ServerControl`]: the night's is the only implementation.
pub(crate) mod sealed {
    /// Implemented by the night alone.
    pub trait Sealed {}
}

/// A hash of `value`, for a session's [`SnapshotSession::state_key`]:
/// stable within a process (SipHash with fixed keys).
pub(super) fn key_of(value: impl std::hash::Hash) -> Option<u64> {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    Some(h.finish())
}
