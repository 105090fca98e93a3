//! The server at work once ready: its loop, a turn at a time — signals,
//! the file's check, a finished copy, a foreign open and the reaction
//! `--on-conflict` asks for, a copy slot, a request — and the processes
//! that opened its file, as the kernel tells them.
//!
//! What does not live here: the checks of its file (`rescue`), the copies
//! aside (`copy`).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mailsim::ConflictBehavior;
use mailsim::event::RequestKind;
use mailsim::real::proc_fds;
use mailsim::server::Commit;
use mailsim::sim::{MAIL_DATA, Requests};

use super::super::CliError;
use super::{CompactEvery, EXIT_HUNG, EXIT_SHUT_DOWN, OnConflict, Running, say};

/// A failure of the server at work: exit 1.
fn runtime(e: mailsim::Error) -> CliError {
    CliError::Runtime(e.to_string())
}

/// Longest sleep between two looks at the signal flag, the file and the
/// watch.
const POLL: Duration = Duration::from_millis(2);

/// Longest a shutdown waits for the processes that opened the file to be
/// gone, watching for a write of theirs (see `Running::settle`).
const SETTLE_MAX: Duration = Duration::from_millis(100);

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

/// The loop's own state, from one turn to the next.
struct Schedule {
    /// Time between two requests (`--rate`).
    period: Duration,
    next_request: Instant,
    /// When the next copy aside is due, with `--copy-aside-to`.
    next_copy: Option<Instant>,
    /// When the next compaction is due, with `--compact-every PERIOD`.
    next_compaction: Option<Instant>,
    /// The night's traffic, in `--mix`'s proportions.
    requests: Requests,
    /// Hung after a foreign open: no longer delivering, until a signal.
    hung: bool,
    /// A foreign open not reacted to yet.
    foreign: Option<Foreign>,
}

/// What a step of a turn leaves the loop to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// Go on with this turn's next step.
    Go,
    /// This turn is over: start the next one.
    Turn,
    /// Serving is over, and well.
    Done,
}

impl Running<'_> {
    /// Serves until a signal, a foreign open it shuts down for, or its file
    /// taken from it: says it is ready, then takes turns.
    pub(super) fn serve(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        self.say_ready(out)?;
        let period = Duration::from_secs_f64(1.0 / self.args.rate);
        let start = Instant::now();
        let mut s = Schedule {
            period,
            next_request: start,
            next_copy: self.rotation.as_ref().map(|(_, every)| start + *every),
            next_compaction: match self.args.compact_every {
                Some(CompactEvery::Period(every)) => Some(start + every),
                _ => None,
            },
            requests: Requests::new(self.server.generation(), self.args.mix),
            hung: false,
            // A reader that was there first is a foreign access like any other.
            foreign: openers_of(&self.real).map(|f| Foreign {
                who: format!("{} (open before serve started)", f.who),
                ..f
            }),
        };
        loop {
            match self.turn(out, &mut s)? {
                Next::Go | Next::Turn => {}
                Next::Done => return Ok(()),
            }
        }
    }

    /// One turn of the loop, its steps in this order: a signal ends it; the
    /// file is checked and a finished copy reported; hung, it only waits;
    /// else a foreign open is reacted to, then a copy slot that is due is
    /// taken, else a delivery that is due; else it sleeps until the next
    /// is due (at most [`POLL`]).
    fn turn(&mut self, out: &mut impl Write, s: &mut Schedule) -> Result<Next, CliError> {
        if self.stop.load(Ordering::SeqCst) {
            return self.stop_on_signal(out, s.hung).map(|()| Next::Done);
        }
        self.check_file(out)?;
        self.reap_copy(out)?;
        if s.hung {
            std::thread::sleep(POLL);
            return Ok(Next::Turn);
        }
        match self.foreign_open(out, s)? {
            Next::Go => {}
            next => return Ok(next),
        }
        let now = Instant::now();
        if self.copy_slot(out, s, now)? == Next::Turn {
            return Ok(Next::Turn);
        }
        if self.request(out, s, now)? == Next::Turn {
            return Ok(Next::Turn);
        }
        let wake = s
            .next_copy
            .map_or(s.next_request, |c| c.min(s.next_request));
        std::thread::sleep(wake.saturating_duration_since(now).min(POLL));
        Ok(Next::Turn)
    }

    /// The `ready: …` line: who holds which file, and how it serves.
    fn say_ready(&self, out: &mut impl Write) -> Result<(), CliError> {
        say(
            out,
            format_args!(
                "ready: pid {} holds {} (exclusive lock): generation {}, {} messages, \
                 serving {} requests a second ({}), on conflict {}",
                std::process::id(),
                self.real.display(),
                self.server.generation(),
                self.server.message_count(),
                self.args.rate,
                self.args.mix,
                ConflictBehavior::from(self.args.on_conflict).as_str()
            ),
        )
    }

    /// A signal: the file checked once more, the server stopped, the
    /// `stopped …` line; exit 4 if it was hung, else 0.
    fn stop_on_signal(&mut self, out: &mut impl Write, hung: bool) -> Result<(), CliError> {
        self.check_file(out)?;
        let generation = self.stop_server()?;
        say(
            out,
            format_args!(
                "stopped on a signal{}: generation {generation}, flushed and closed \
                 {}, lock released{}",
                if hung { " while hung" } else { "" },
                self.real.display(),
                self.skipped_note()
            ),
        )?;
        if hung {
            Err(CliError::Status(EXIT_HUNG))
        } else {
            Ok(())
        }
    }

    /// Between transactions: has anyone opened the file? A writer takes the
    /// file from the server (exit 5); a reader, once the file is checked
    /// again (and, for a shutdown, the openers [settled](Self::settle)), is
    /// met as `--on-conflict` says.
    fn foreign_open(&mut self, out: &mut impl Write, s: &mut Schedule) -> Result<Next, CliError> {
        if s.foreign.is_none() {
            s.foreign = self
                .server
                .foreign_access(&self.vol)
                .map_err(|e| CliError::Runtime(e.to_string()))?
                .map(|who| {
                    // The volume names the opener when the kernel told it
                    // (fanotify); the scan tells whether it writes.
                    let scan = openers_of(&self.real);
                    let writes = scan.as_ref().is_some_and(|f| f.writes);
                    match scan {
                        Some(f) if who == "another process" => f,
                        _ => Foreign { who, writes },
                    }
                });
        }
        let Some(Foreign { who, writes }) = s.foreign.take() else {
            return Ok(Next::Go);
        };
        say(out, format_args!("foreign open of {MAIL_DATA} by {who}"))?;
        // A writer is never tolerated: its write may land any moment.
        if writes {
            return self
                .file_taken(out, &format!("opened for writing by {who}"))
                .map(|()| Next::Done);
        }
        // The opener may have written already, and be gone.
        self.check_file(out)?;
        if self.args.on_conflict == OnConflict::Shutdown {
            self.settle(out)?;
        }
        self.react(out, s)
    }

    /// The reaction `--on-conflict` asks for to a reader's foreign open.
    fn react(&mut self, out: &mut impl Write, s: &mut Schedule) -> Result<Next, CliError> {
        let real = self.real.display().to_string();
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
                Err(CliError::Status(EXIT_SHUT_DOWN))
            }
            OnConflict::Hang => {
                s.hung = true;
                say(
                    out,
                    format_args!(
                        "hung: no longer serving, still holding {real} and its \
                         lock; SIGTERM, SIGINT or SIGHUP releases it"
                    ),
                )?;
                Ok(Next::Turn)
            }
            OnConflict::Tolerate => {
                say(
                    out,
                    format_args!(
                        "tolerating it: still serving (unsafe: a copy being read may \
                         be torn)"
                    ),
                )?;
                Ok(Next::Go)
            }
        }
    }

    /// A copy slot, if one is due at `now`: a copy aside started (or the
    /// slot skipped), the next slot set.
    fn copy_slot(
        &mut self,
        out: &mut impl Write,
        s: &mut Schedule,
        now: Instant,
    ) -> Result<Next, CliError> {
        let Some(at) = s.next_copy.filter(|at| now >= *at) else {
            return Ok(Next::Go);
        };
        self.copy_aside(out)?;
        let every = self.rotation.as_ref().map_or(s.period, |(_, e)| *e);
        s.next_copy = Some((at + every).max(Instant::now()));
        Ok(Next::Turn)
    }

    /// A request, if one is due at `now`: a delivery, a read or a deletion
    /// committed (nothing for a read or a deletion of an empty file), then a
    /// compaction if one is due; each said only while the file is still the
    /// server's own.
    fn request(
        &mut self,
        out: &mut impl Write,
        s: &mut Schedule,
        now: Instant,
    ) -> Result<Next, CliError> {
        if now < s.next_request {
            return Ok(Next::Go);
        }
        s.next_request = (s.next_request + s.period).max(now);
        let r = s.requests.next_request(self.server.message_count());
        let committed = match r.kind {
            RequestKind::Deliver => Some(self.server.deliver(&self.vol, r.payload_len)),
            RequestKind::Read => self.server.mark_read(&self.vol, r.pick).transpose(),
            RequestKind::Delete => self.server.delete(&self.vol, r.pick).transpose(),
        };
        let Some(commit) = committed.transpose().map_err(runtime)? else {
            return Ok(Next::Turn);
        };
        self.committed(out, &commit)?;
        if let Some(id) = commit.message_id {
            let verb = match r.kind {
                RequestKind::Deliver => "ack",
                RequestKind::Read => "read",
                RequestKind::Delete => "deleted",
            };
            say(out, format_args!("{verb} {id}"))?;
        }
        self.compaction(out, s, now)?;
        Ok(Next::Turn)
    }

    /// A compaction, when one is due: by `--compact-every`'s period (when
    /// there are deleted bytes to reclaim), else by the simulated server's
    /// rule ([`MailServer::needs_compaction`](mailsim::MailServer::needs_compaction)).
    fn compaction(
        &mut self,
        out: &mut impl Write,
        s: &mut Schedule,
        now: Instant,
    ) -> Result<(), CliError> {
        let due = match self.args.compact_every {
            None => self.server.needs_compaction(),
            Some(CompactEvery::Never) => false,
            Some(CompactEvery::Period(every)) => match s.next_compaction {
                Some(at) if now >= at => {
                    s.next_compaction = Some((at + every).max(now));
                    self.server.header().dead_bytes > 0
                }
                _ => false,
            },
        };
        if !due {
            return Ok(());
        }
        let commit = self.server.compact(&self.vol).map_err(runtime)?;
        self.committed(out, &commit)?;
        say(
            out,
            format_args!(
                "compacted: generation {}, {} bytes reclaimed",
                commit.generation, commit.reclaimed_bytes
            ),
        )
    }

    /// After a transaction committed (synced): the file checked to be still
    /// its own before anything is said of it.
    /// The generation goes into the history first, so that every
    /// acknowledged generation is in it.
    fn committed(&mut self, out: &mut impl Write, commit: &Commit) -> Result<(), CliError> {
        if let Some((history, file)) = &mut self.history {
            history.commit_from(commit, file).map_err(runtime)?;
        }
        self.check_file(out)
    }

    /// The history synced (at a stop: what it holds survives a crash of the
    /// machine).
    pub(super) fn sync_history(&mut self) -> Result<(), CliError> {
        match &mut self.history {
            Some((history, _)) => history.sync().map_err(runtime),
            None => Ok(()),
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
    pub(super) fn stop_server(&mut self) -> Result<u64, CliError> {
        let generation = self.server.generation();
        self.server
            .stop(&self.vol)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        self.sync_history()?;
        Ok(generation)
    }
}
