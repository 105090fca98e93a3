//! The client's world while it archives: DIR as the volume "Server HD",
//! the archive each chunk goes into, and stdout, where every event the
//! client logs becomes one line. A file is read as a plain reader reads
//! it: at once after the open, chunk by chunk, until the kernel gives no
//! more.
//!
//! What does not live here: what to archive and when (the library's
//! `BackupClient`), how a file is written (`archive`).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use mailsim::backup::BackupEnv;
use mailsim::report::{Actor, EventKind};
use mailsim::sim::SERVER_HD;
use mailsim::volume::{Chunk, OsVolume, Volume};
use mailsim::{OpenFilePolicy, SimTime, VolumePath};

use super::super::CliError;
use super::archive::Archive;

/// `a/b/c` for `Server HD:a:b:c`.
fn relative(path: &VolumePath) -> String {
    path.components().join("/")
}

/// The client's world: DIR as "Server HD", the archive, and stdout.
pub(super) struct Env<'a, W: Write> {
    vol: &'a OsVolume,
    pub(super) out: &'a mut W,
    archive: Archive,
    policy: OpenFilePolicy,
    /// Whether the client is in one of its policy's waits (a busy retry, a
    /// wait for quiet): then its next step is slept for; otherwise it is
    /// taken at once (the modelled throughput is ignored).
    pub(super) waiting: bool,
    /// The first error writing stdout.
    failed: Option<io::Error>,
    /// The first error writing the archive: it ends the run.
    fatal: Option<CliError>,
}

impl<'a, W: Write> Env<'a, W> {
    /// The world of a client following `policy` over `vol`, archiving into
    /// `archive` and saying what it does on `out`.
    pub(super) fn new(
        vol: &'a OsVolume,
        out: &'a mut W,
        archive: Archive,
        policy: OpenFilePolicy,
    ) -> Self {
        Env {
            vol,
            out,
            archive,
            policy,
            waiting: false,
            failed: None,
            fatal: None,
        }
    }

    fn say(&mut self, line: String) {
        if self.failed.is_none()
            && let Err(e) = writeln!(self.out, "{line}")
        {
            self.failed = Some(e);
        }
    }

    /// The first failure of the run so far (the archive's, else stdout's),
    /// taken.
    pub(super) fn check(&mut self) -> Result<(), CliError> {
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        match self.failed.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The error that stops the client after `e`, kept for the run to report.
    fn stop(&mut self, path: &VolumePath, e: CliError) -> mailsim::Error {
        self.archive.abandon();
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
        mailsim::Error::Io {
            path: PathBuf::from(relative(path)),
            source: io::Error::other("the archive could not be written"),
        }
    }
}

impl<W: Write> BackupEnv for Env<'_, W> {
    fn volume(&self, name: &str) -> Option<&dyn Volume> {
        (name == SERVER_HD).then_some(self.vol as &dyn Volume)
    }

    fn log(&mut self, _time: SimTime, kind: EventKind, path: Option<&VolumePath>) {
        let rel = path.map_or_else(String::new, relative);
        match kind {
            EventKind::BackupStarted { files } => {
                self.say(format!("backup started: {files} files to archive"));
            }
            EventKind::Excluded { files } => {
                self.waiting = false;
                self.say(if files == 1 {
                    format!("excluded {rel}")
                } else {
                    format!("excluded {rel} ({files} files)")
                });
            }
            EventKind::Busy {
                holder,
                attempt,
                attempts,
            } => {
                self.waiting = true;
                if attempt < attempts {
                    let interval = match self.policy {
                        OpenFilePolicy::RespectLocks { interval, .. } => interval,
                        _ => Duration::ZERO,
                    };
                    self.say(format!(
                        "busy: {rel} held by {holder} (attempt {attempt} of {attempts}); \
                         retrying in {interval:?}"
                    ));
                }
            }
            EventKind::SkippedBusy { holder } => {
                self.waiting = false;
                self.say(format!("busy: {rel} held by {holder}: skipped"));
            }
            EventKind::WaitingForIdle { .. } => {
                self.waiting = true;
                if let OpenFilePolicy::WaitForIdle { idle, timeout } = self.policy {
                    self.say(format!(
                        "waiting for {rel} to go {idle:?} unwritten (at most {timeout:?})"
                    ));
                }
            }
            EventKind::IdleTimeout => {
                self.waiting = false;
                self.say(format!(
                    "skipped {rel}: it did not go quiet before the timeout"
                ));
            }
            EventKind::Archived { .. } => {
                self.waiting = false;
                // The file's last chunk is in: it gets its final name now,
                // before the client moves on.
                let Some(path) = path else { return };
                if self.fatal.is_some() {
                    return;
                }
                match self.archive.finish(path) {
                    Ok(bytes) => self.say(format!("archived {rel} ({bytes} bytes)")),
                    Err(e) => {
                        let _ = self.stop(path, e);
                    }
                }
            }
            EventKind::Opened | EventKind::BackupFinished { .. } => {
                self.waiting = false;
            }
            other => {
                // Anything else the client has to say (a file it could not
                // read, say), in its own words, without the virtual time.
                // A file it gave up on is not archived: its temporary goes.
                self.waiting = false;
                self.archive.abandon();
                let event = mailsim::Event {
                    time: SimTime::ZERO,
                    night: 1,
                    actor: Actor::RetrospectRemote,
                    kind: other,
                    path: path.cloned(),
                };
                let text = event.to_string();
                let text = text.split_once(' ').map_or(text.as_str(), |(_, t)| t);
                self.say(text.to_owned());
            }
        }
    }

    /// A file was just opened: if another process writes it, say so. The
    /// client reads on at once, as a plain reader does: nothing waits for
    /// the holder to react.
    fn opened(&mut self, path: &VolumePath, _now: SimTime) -> mailsim::Result<()> {
        if let Some(holder) = self.vol.writer(path)? {
            self.say(format!(
                "opened {} while {holder} holds it: a foreign open, which it may react to",
                relative(path)
            ));
        }
        Ok(())
    }

    /// Every chunk goes straight into the archive: nothing of a file is
    /// kept in memory.
    fn archive_chunk(&mut self, path: &VolumePath, chunk: &Chunk) -> mailsim::Result<bool> {
        if let Some(e) = self.fatal.take() {
            let e = self.stop(path, e);
            return Err(e);
        }
        match self.archive.write(path, chunk) {
            Ok(()) => Ok(true),
            Err(e) => Err(self.stop(path, e)),
        }
    }
}
