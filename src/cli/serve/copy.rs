//! Copies aside: at each slot, an O(1) snapshot of the server's own file
//! (copy-before-write, or a reflink; no open, so no foreign access),
//! copied on another thread into the numbered rotation, so that delivery
//! keeps its rate. A slot that comes while a copy runs is skipped, counted
//! and reported; a copy in flight is cancelled at a stop.
//!
//! What does not live here: the rotation itself (`mailsim::real`'s
//! `RotationWriter`), when a slot comes (`serving`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mailsim::real::RotationOutcome;

use super::super::CliError;
use super::{Running, say};

/// A copy aside in flight, on its own thread, from a snapshot.
pub(super) struct CopyJob {
    thread: JoinHandle<mailsim::Result<RotationOutcome>>,
    cancel: Arc<AtomicBool>,
    generation: u64,
    method: &'static str,
}

impl Running<'_> {
    pub(super) fn skipped_note(&self) -> String {
        match self.copies_skipped {
            0 => String::new(),
            n => format!(
                "; {n} copy-aside slot{} skipped",
                if n == 1 { "" } else { "s" }
            ),
        }
    }

    /// Starts a copy aside of the server's own file: an O(1) snapshot
    /// (no open: not a foreign access), copied on another thread, so that
    /// delivery keeps its rate. A slot that comes while the last copy runs
    /// is skipped, counted and reported.
    pub(super) fn copy_aside(&mut self, out: &mut impl Write) -> Result<(), CliError> {
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
    pub(super) fn reap_copy(&mut self, out: &mut impl Write) -> Result<(), CliError> {
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
    pub(super) fn cancel_copy(&mut self) {
        if let Some(job) = self.copy.take() {
            job.cancel.store(true, Ordering::Relaxed);
            let _ = job.thread.join();
        }
    }
}
