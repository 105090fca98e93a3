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
            Actor::MailClients => "A mail client",
            Actor::Administrator => "The administrator",
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
    /// A night ends.
    NightEnds,
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
        let path = || -> String {
            self.path
                .as_ref()
                .map_or_else(|| "its data file".to_owned(), ToString::to_string)
        };
        match &self.kind {
            EventKind::ServerStarted {
                generation,
                messages,
            } => write!(
                f,
                "opens {} for reading and writing, denying other writers ({messages} messages, generation {generation})",
                path()
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
            EventKind::Deferred { request, reason } => write!(
                f,
                "finds the server {} and defers {}",
                match reason {
                    Unavailable::Down => "shut down",
                    Unavailable::Hung => "not answering",
                    Unavailable::Paused => "paused",
                },
                request.noun()
            ),
            EventKind::Resent { requests } => write!(f, "resends {requests} deferred requests"),
            EventKind::ForeignAccess { by } => write!(f, "notices {by} opening {}", path()),
            EventKind::ShutDown { generation } => write!(
                f,
                "shuts the server down to prevent corruption: finishes generation {generation}, flushes and closes {}",
                path()
            ),
            EventKind::Hung => write!(f, "stops responding, still holding {}", path()),
            EventKind::HangDetected { after } => {
                write!(
                    f,
                    "has not answered for {}: the server is hung",
                    mins(*after)
                )
            }
            EventKind::Tolerated => write!(
                f,
                "keeps serving while another process reads {} (unsafe: writes may land mid-copy)",
                path()
            ),
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
            EventKind::BackupStarted { files } => {
                write!(f, "starts the backup: {files} files to archive")
            }
            EventKind::Excluded { files } => write!(
                f,
                "skips {} (excluded{})",
                path(),
                if *files == 1 {
                    String::new()
                } else {
                    format!(", {files} files")
                }
            ),
            EventKind::Opened => write!(f, "opens {} for reading", path()),
            EventKind::Busy {
                holder,
                attempt,
                attempts,
            } => write!(
                f,
                "finds {} held by {holder} (attempt {attempt} of {attempts})",
                path()
            ),
            EventKind::SkippedBusy { holder } => {
                write!(f, "skips {}: busy, held by {holder}", path())
            }
            EventKind::WaitingForIdle { last_write } => write!(
                f,
                "waits for {} to go quiet (last written {last_write})",
                path()
            ),
            EventKind::IdleTimeout => write!(
                f,
                "gives up waiting for {} to go quiet and skips it",
                path()
            ),
            EventKind::Archived { bytes } => write!(f, "archives {} ({})", path(), mb(*bytes)),
            EventKind::BackupFinished { files, bytes } => {
                write!(f, "finishes the backup: {files} files, {}", mb(*bytes))
            }
            EventKind::NightBegins { .. } | EventKind::NightEnds => Ok(()),
        }
    }
}
