//! Timeline events: structured values, narrated only when displayed.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::time::SimTime;
use crate::volume::VolumePath;

/// Who did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The Microsoft Mail for AppleTalk server.
    MailServer,
    /// The backup client (Retrospect Remote).
    RetrospectRemote,
    /// The MS Mail Backup control panel (scheduled copy-aside).
    MsMailBackup,
    /// A snapshot policy acting on the server.
    SnapshotPolicy,
    /// The users' mail clients.
    MailClients,
    /// The administrator.
    Administrator,
}

impl Actor {
    /// The name the narration uses.
    pub fn name(self) -> &'static str {
        match self {
            Actor::MailServer => "Mail Server",
            Actor::RetrospectRemote => "Retrospect Remote",
            Actor::MsMailBackup => "MS Mail Backup",
            Actor::SnapshotPolicy => "The snapshot policy",
            Actor::MailClients => "Mail clients",
            Actor::Administrator => "The administrator",
        }
    }
}

impl Actor {
    /// Who a step narrated by a snapshot policy is about: MS Mail Backup for
    /// its copies, the Mail Server for its stops and pauses, the policy for
    /// the rest.
    pub fn of_policy_step(kind: &EventKind) -> Actor {
        match kind {
            EventKind::CopiedAside { .. } | EventKind::CopyAsideMissed { .. } => {
                Actor::MsMailBackup
            }
            EventKind::PlannedStop
            | EventKind::PlannedStart
            | EventKind::Paused { .. }
            | EventKind::Resumed => Actor::MailServer,
            _ => Actor::SnapshotPolicy,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mail request, as the clients send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Deliver a new message.
    Deliver,
    /// Read a message (sets its read flag).
    Read,
    /// Delete a message.
    Delete,
}

impl RequestKind {
    fn noun(self) -> &'static str {
        match self {
            RequestKind::Deliver => "a delivery",
            RequestKind::Read => "a read",
            RequestKind::Delete => "a deletion",
        }
    }
}

/// Why the server was not serving a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// Shut down (in reaction to a conflict, or stopped by a policy).
    Down,
    /// Hung: it holds its file but answers nothing.
    Hung,
    /// Paused by a policy (a copy-aside or a freeze).
    Paused,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A night begins.
    NightBegins {
        /// 1-based night number.
        night: u32,
    },
    /// The server opened its data file and serves.
    ServerStarted {
        /// Generation of the data file.
        generation: u64,
        /// Messages in it.
        messages: u64,
    },
    /// A delivery was committed and acknowledged.
    Delivered {
        /// The message.
        message_id: u64,
        /// Generation after the commit.
        generation: u64,
    },
    /// A message was marked read.
    MarkedRead {
        /// The message.
        message_id: u64,
        /// Generation after the commit.
        generation: u64,
    },
    /// A message was deleted.
    Deleted {
        /// The message.
        message_id: u64,
        /// Generation after the commit.
        generation: u64,
    },
    /// The server compacted its data file.
    Compacted {
        /// Generation after the commit.
        generation: u64,
        /// Bytes of deleted records reclaimed.
        reclaimed_bytes: u64,
    },
    /// A client found the server unavailable and kept its request to resend.
    Deferred {
        /// What the client asked.
        request: RequestKind,
        /// Why it was not served.
        reason: Unavailable,
    },
    /// Clients resent the requests they had deferred.
    Resent {
        /// Number of requests resent.
        requests: u64,
    },
    /// The server noticed another process open its data file.
    ForeignAccess {
        /// Who opened it.
        by: String,
    },
    /// The server shut itself down to prevent corruption.
    ShutDown {
        /// Generation of the data file when it closed.
        generation: u64,
    },
    /// The server stopped answering, still holding its data file.
    Hung,
    /// The server has not answered for the hang threshold.
    HangDetected {
        /// How long it has not answered.
        #[serde(rename = "after_s", serialize_with = "secs")]
        after: Duration,
        /// Who waits for what, held by whom, since when.
        chain: Vec<WaitLink>,
    },
    /// The server kept serving while another process read its data file.
    Tolerated,
    /// The administrator restarted a server that was down or hung.
    Restarted {
        /// What state it was found in.
        was: Unavailable,
        /// How long it had been unavailable.
        #[serde(rename = "after_s", serialize_with = "secs")]
        after: Duration,
    },
    /// The backup began.
    BackupStarted {
        /// Files it will consider, after exclusions.
        files: u64,
    },
    /// The backup skipped an excluded folder or file.
    Excluded {
        /// Files skipped with it.
        files: u64,
    },
    /// The backup opened a file for reading.
    Opened,
    /// The backup found a file held by a writer.
    Busy {
        /// Who holds it.
        holder: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// Attempts allowed.
        attempts: u32,
    },
    /// The backup gave up on a file held by a writer.
    SkippedBusy {
        /// Who holds it.
        holder: String,
    },
    /// The backup waits for a file to go unwritten long enough.
    WaitingForIdle {
        /// Last modification seen.
        last_write: SimTime,
    },
    /// The backup stopped waiting for a file to go quiet and skipped it.
    IdleTimeout,
    /// The backup finished copying a file into the backup set.
    Archived {
        /// Bytes copied.
        bytes: u64,
    },
    /// The backup finished.
    BackupFinished {
        /// Files archived.
        files: u64,
        /// Bytes archived.
        bytes: u64,
    },
    /// The server stopped for a policy (planned).
    PlannedStop,
    /// The server started again after a planned stop.
    PlannedStart,
    /// The server holds its writes for a policy (planned).
    Paused {
        /// What for.
        why: String,
    },
    /// The server serves again after a pause.
    Resumed,
    /// A copy of the data file was written aside (temporary name, synced, renamed).
    CopiedAside {
        /// Bytes copied.
        bytes: u64,
    },
    /// No copy was made at the scheduled time.
    CopyAsideMissed {
        /// Why.
        reason: String,
    },
    /// A point-in-time image of the data file was taken.
    SnapshotTaken {
        /// Generation of the image.
        generation: u64,
    },
    /// The server's VSS writer changed state.
    WriterState {
        /// The new state.
        state: WriterState,
    },
    /// An attempt to take a snapshot failed.
    SnapshotFailed {
        /// Why.
        reason: String,
        /// Whether a retry could succeed.
        retryable: bool,
        /// Attempt number, from 1.
        attempt: u32,
        /// Attempts allowed.
        attempts: u32,
    },
    /// The snapshot policy gave up: the backup skipped the live file.
    SnapshotGaveUp {
        /// Why.
        reason: String,
    },
    /// An online copy started over because the server wrote.
    OnlineCopyRestarted {
        /// Restarts so far.
        restarts: u32,
        /// Restarts allowed.
        max_restarts: u32,
    },
    /// An injected fault killed the server.
    Crashed {
        /// How.
        reason: String,
    },
    /// An injected I/O error failed an operation.
    IoError {
        /// What failed.
        reason: String,
    },
    /// The backup failed (crashed, or could not go on).
    BackupFailed {
        /// Why.
        reason: String,
    },
    /// A free-form step of a user's policy.
    Note {
        /// What happened.
        text: String,
    },
    /// A night ends.
    NightEnds,
}

/// One link of a wait-for chain: who waits for what, held by whom, since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitLink {
    /// Who waits.
    pub waiter: String,
    /// For what.
    pub resource: String,
    /// Held by whom.
    pub holder: String,
    /// Since when.
    pub since: SimTime,
}

impl fmt::Display for WaitLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} waiting for {}, held by {} since {}",
            self.waiter, self.resource, self.holder, self.since
        )
    }
}

/// A writer's state, named after the Volume Shadow Copy Service's
/// `VSS_WRITER_STATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterState {
    /// `VSS_WS_STABLE`: ready.
    Stable,
    /// `VSS_WS_WAITING_FOR_FREEZE`: preparing, about to hold writes.
    WaitingForFreeze,
    /// `VSS_WS_WAITING_FOR_THAW`: frozen, holding writes.
    WaitingForThaw,
    /// `VSS_WS_WAITING_FOR_BACKUP_COMPLETE`: thawed, snapshot taken.
    WaitingForBackupComplete,
    /// `VSS_WS_FAILED_AT_PREPARE_SNAPSHOT`: the writer vetoed.
    FailedAtPrepareSnapshot,
    /// `VSS_WS_FAILED_AT_FREEZE`: freeze timed out or writes were held too long.
    FailedAtFreeze,
}

impl WriterState {
    /// The name as VSS spells it.
    pub fn vss_name(self) -> &'static str {
        match self {
            WriterState::Stable => "VSS_WS_STABLE",
            WriterState::WaitingForFreeze => "VSS_WS_WAITING_FOR_FREEZE",
            WriterState::WaitingForThaw => "VSS_WS_WAITING_FOR_THAW",
            WriterState::WaitingForBackupComplete => "VSS_WS_WAITING_FOR_BACKUP_COMPLETE",
            WriterState::FailedAtPrepareSnapshot => "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT",
            WriterState::FailedAtFreeze => "VSS_WS_FAILED_AT_FREEZE",
        }
    }
}

impl Serialize for SimTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One thing that happened: when, who, what, and on which path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// When.
    pub time: SimTime,
    /// 1-based night number.
    pub night: u32,
    /// Who.
    pub actor: Actor,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
    /// On which path, if any.
    pub path: Option<VolumePath>,
}

fn mb(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

fn mins(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s / 60) % 60)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

impl fmt::Display for Event {
    /// Plain narration: `01:00:00 Retrospect Remote opens Server HD:…:Microsoft Mail Data for reading`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::NightBegins { night } => {
                return write!(f, "{} night {night} begins", self.time);
            }
            EventKind::NightEnds => return write!(f, "{} night {} ends", self.time, self.night),
            _ => write!(f, "{} {} ", self.time, self.actor)?,
        }
        match &self.kind {
            EventKind::ServerStarted { .. }
            | EventKind::Delivered { .. }
            | EventKind::MarkedRead { .. }
            | EventKind::Deleted { .. }
            | EventKind::Compacted { .. }
            | EventKind::ForeignAccess { .. }
            | EventKind::ShutDown { .. }
            | EventKind::Hung
            | EventKind::Tolerated => self.fmt_server(f),
            EventKind::Deferred { .. } | EventKind::Resent { .. } => self.fmt_clients(f),
            EventKind::HangDetected { .. } | EventKind::Restarted { .. } => {
                self.fmt_administrator(f)
            }
            EventKind::BackupStarted { .. }
            | EventKind::Excluded { .. }
            | EventKind::Opened
            | EventKind::Busy { .. }
            | EventKind::SkippedBusy { .. }
            | EventKind::WaitingForIdle { .. }
            | EventKind::IdleTimeout
            | EventKind::Archived { .. }
            | EventKind::BackupFinished { .. }
            | EventKind::BackupFailed { .. } => self.fmt_backup(f),
            EventKind::PlannedStop
            | EventKind::PlannedStart
            | EventKind::Paused { .. }
            | EventKind::Resumed
            | EventKind::CopiedAside { .. }
            | EventKind::CopyAsideMissed { .. }
            | EventKind::SnapshotTaken { .. }
            | EventKind::WriterState { .. }
            | EventKind::SnapshotFailed { .. }
            | EventKind::SnapshotGaveUp { .. }
            | EventKind::OnlineCopyRestarted { .. } => self.fmt_policy(f),
            EventKind::Crashed { .. } | EventKind::IoError { .. } => self.fmt_faults(f),
            EventKind::Note { text } => f.write_str(text),
            EventKind::NightBegins { .. } | EventKind::NightEnds => Ok(()),
        }
    }
}

/// The narration of each group of events, after the time and the actor:
/// `fmt` sends each kind to its group (exhaustively); a kind of another
/// group writes nothing.
impl Event {
    /// The event's path, or "its data file".
    fn path_text(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "its data file".to_owned(), ToString::to_string)
    }

    /// The server: its file, its transactions, its reactions to a foreign
    /// access.
    fn fmt_server(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::ServerStarted {
                generation,
                messages,
            } => write!(
                f,
                "opens {} for reading and writing, denying other writers ({messages} messages, generation {generation})",
                self.path_text()
            ),
            EventKind::Delivered {
                message_id,
                generation,
            } => write!(
                f,
                "commits and acknowledges message {message_id} (generation {generation})"
            ),
            EventKind::MarkedRead {
                message_id,
                generation,
            } => write!(
                f,
                "marks message {message_id} read (generation {generation})"
            ),
            EventKind::Deleted {
                message_id,
                generation,
            } => write!(f, "deletes message {message_id} (generation {generation})"),
            EventKind::Compacted {
                generation,
                reclaimed_bytes,
            } => write!(
                f,
                "compacts its data file, reclaiming {} (generation {generation})",
                mb(*reclaimed_bytes)
            ),
            EventKind::ForeignAccess { by } => {
                write!(f, "notices {by} opening {}", self.path_text())
            }
            EventKind::ShutDown { generation } => write!(
                f,
                "shuts the server down to prevent corruption: finishes generation {generation}, flushes and closes {}",
                self.path_text()
            ),
            EventKind::Hung => write!(f, "stops responding, still holding {}", self.path_text()),
            EventKind::Tolerated => write!(
                f,
                "keeps serving while another process reads {} (unsafe: writes may land mid-copy)",
                self.path_text()
            ),
            _ => Ok(()),
        }
    }

    /// The clients: requests deferred while the server is away, and resent.
    fn fmt_clients(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Deferred { request, reason } => write!(
                f,
                "find the server {} and defer {}",
                match reason {
                    Unavailable::Down => "shut down",
                    Unavailable::Hung => "not answering",
                    Unavailable::Paused => "paused",
                },
                request.noun()
            ),
            EventKind::Resent { requests } => write!(
                f,
                "resend {requests} deferred request{}",
                if *requests == 1 { "" } else { "s" }
            ),
            _ => Ok(()),
        }
    }

    /// The administrator: a hang noticed, a server restarted.
    fn fmt_administrator(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::HangDetected { after, chain } => {
                write!(
                    f,
                    "has not answered for {}: the server is hung",
                    mins(*after)
                )?;
                for link in chain {
                    write!(f, "; {link}")?;
                }
                Ok(())
            }
            EventKind::Restarted { was, after } => write!(
                f,
                "restarts the Mail Server, {} for {}",
                match was {
                    Unavailable::Hung => "hung",
                    Unavailable::Paused => "paused",
                    Unavailable::Down => "down",
                },
                mins(*after)
            ),
            _ => Ok(()),
        }
    }

    /// The backup: its walk, its opens and waits, what it archives.
    fn fmt_backup(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::BackupStarted { files } => {
                write!(f, "starts the backup: {files} files to archive")
            }
            EventKind::Excluded { files } => write!(
                f,
                "skips {} (excluded{})",
                self.path_text(),
                if *files == 1 {
                    String::new()
                } else {
                    format!(", {files} files")
                }
            ),
            EventKind::Opened => write!(f, "opens {} for reading", self.path_text()),
            EventKind::Busy {
                holder,
                attempt,
                attempts,
            } => write!(
                f,
                "finds {} held by {holder} (attempt {attempt} of {attempts})",
                self.path_text()
            ),
            EventKind::SkippedBusy { holder } => {
                write!(f, "skips {}: busy, held by {holder}", self.path_text())
            }
            EventKind::WaitingForIdle { last_write } => write!(
                f,
                "waits for {} to go quiet (last written {last_write})",
                self.path_text()
            ),
            EventKind::IdleTimeout => write!(
                f,
                "gives up waiting for {} to go quiet and skips it",
                self.path_text()
            ),
            EventKind::Archived { bytes } => {
                write!(f, "archives {} ({})", self.path_text(), mb(*bytes))
            }
            EventKind::BackupFinished { files, bytes } => {
                write!(f, "finishes the backup: {files} files, {}", mb(*bytes))
            }
            EventKind::BackupFailed { reason } => write!(f, "fails: {reason}"),
            _ => Ok(()),
        }
    }

    /// The snapshot policy: stops, pauses, copies aside, images, the writer,
    /// online copies.
    fn fmt_policy(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::PlannedStop => {
                write!(
                    f,
                    "stops for the backup (planned), closing {}",
                    self.path_text()
                )
            }
            EventKind::PlannedStart => write!(f, "starts again after the planned stop"),
            EventKind::Paused { why } => write!(f, "pauses, holding its writes: {why}"),
            EventKind::Resumed => write!(f, "resumes serving"),
            EventKind::CopiedAside { bytes } => write!(
                f,
                "copies Microsoft Mail Data to {} ({}; temporary name, synced, renamed)",
                self.path_text(),
                mb(*bytes)
            ),
            EventKind::CopyAsideMissed { reason } => write!(f, "makes no copy: {reason}"),
            EventKind::SnapshotTaken { generation } => write!(
                f,
                "takes a point-in-time image of {} (generation {generation})",
                self.path_text()
            ),
            EventKind::WriterState { state } => {
                write!(f, "moves the Mail Server writer to {}", state.vss_name())
            }
            EventKind::SnapshotFailed {
                reason,
                retryable,
                attempt,
                attempts,
            } => write!(
                f,
                "fails to snapshot {} (attempt {attempt} of {attempts}, {}): {reason}",
                self.path_text(),
                if *retryable {
                    "retryable"
                } else {
                    "not retryable"
                }
            ),
            EventKind::SnapshotGaveUp { reason } => {
                write!(
                    f,
                    "skips {}: the snapshot policy gave up: {reason}",
                    self.path_text()
                )
            }
            EventKind::OnlineCopyRestarted {
                restarts,
                max_restarts,
            } => write!(
                f,
                "restarts the online copy of {}: the server wrote (restart {restarts} of {max_restarts})",
                self.path_text()
            ),
            _ => Ok(()),
        }
    }

    /// Injected faults.
    fn fmt_faults(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Crashed { reason } => write!(f, "crashes: {reason}"),
            EventKind::IoError { reason } => write!(f, "hits an I/O error: {reason}"),
            _ => Ok(()),
        }
    }
}
