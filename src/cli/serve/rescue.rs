//! The server's file taken from it: at every turn and before every
//! acknowledgment, whether its data file is still the file at its path and
//! written by nobody else; when not, it stops acknowledging, saves what it
//! holds through its own descriptor into `Microsoft Mail Data (rescued …)`
//! beside it (a temporary name, synced, verified, linked into place), says
//! so in one line and exits 5.
//!
//! What does not live here: how a held file's fate is found
//! ([`OsVolume::check_file`](mailsim::volume::OsVolume::check_file)).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use mailsim::datafile;
use mailsim::sim::MAIL_DATA;

use super::super::verify::FileAt;
use super::super::{CliError, input, time};
use super::{EXIT_FILE_TAKEN, Running, SERVE_TEMP, say};

impl Running<'_> {
    /// Whether the data file is still the server's: if it was removed,
    /// renamed, replaced or written by another process, saves what the
    /// server holds beside it, says so, and ends with exit 5.
    pub(super) fn check_file(&mut self, out: &mut impl Write) -> Result<(), CliError> {
        let Some(handle) = self.server.handle() else {
            return Ok(());
        };
        let taken = self
            .vol
            .check_file(handle)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        match taken {
            Some(what) => self.file_taken(out, what.as_str()),
            None => Ok(()),
        }
    }

    /// The data file is no longer the server's alone (`what` happened to
    /// it): stops acknowledging, saves what the server holds beside it,
    /// says so in one line, and ends with exit 5.
    pub(super) fn file_taken(&mut self, out: &mut impl Write, what: &str) -> Result<(), CliError> {
        self.cancel_copy();
        let generation = self.server.generation();
        let saved = self.rescue();
        let _ = self.server.stop(&self.vol);
        let real = self.real.display();
        match saved {
            Ok((path, bytes, verdict)) => say(
                out,
                format_args!(
                    "{real} was {what} while serve held it: stopped acknowledging at \
                     generation {generation}; saved what it held ({bytes} bytes, {verdict}) to \
                     {}",
                    path.display()
                ),
            )?,
            Err(e) => say(
                out,
                format_args!(
                    "{real} was {what} while serve held it: stopped acknowledging at \
                     generation {generation}; could not save what it held: {e}"
                ),
            )?,
        }
        Err(CliError::Status(EXIT_FILE_TAKEN))
    }

    /// Copies the file the server holds, through a duplicate of its
    /// descriptor (no open), into `Microsoft Mail Data (rescued …)` beside
    /// it: a temporary name, synced, verified, linked into place (never
    /// replacing anything), the folder synced. Returns the path, the bytes
    /// saved and what `verify` says of them.
    fn rescue(&self) -> io::Result<(PathBuf, u64, String)> {
        let handle = self
            .server
            .handle()
            .ok_or_else(|| io::Error::other("the server holds no file"))?;
        let src = self.vol.try_clone_file(handle).map_err(io::Error::from)?;
        let dir = self.vol.root();
        let tmp = dir.join(format!("{SERVE_TEMP}{}-rescue", std::process::id()));
        let saved = (|| -> io::Result<(PathBuf, u64, String)> {
            let mut dst = input::create_new(&tmp)?;
            let mut buf = vec![0; 1 << 20];
            let mut at = 0u64;
            loop {
                let n = read_at(&src, &mut buf, at)?;
                if n == 0 {
                    break;
                }
                dst.write_all(&buf[..n])?;
                at += n as u64;
            }
            dst.sync_all()?;
            let reader = File::open(&tmp)?;
            let file_at = FileAt::new(&reader)?;
            let verdict = match datafile::verify_from(&file_at) {
                Ok(v) => format!(
                    "it verifies: generation {}, {} messages",
                    v.generation, v.message_count
                ),
                Err(e) => format!("it fails verification: {e}"),
            };
            let stamp = time::file_stamp(SystemTime::now());
            let mut k = 1u32;
            let path = loop {
                let name = match k {
                    1 => format!("{MAIL_DATA} (rescued {stamp})"),
                    k => format!("{MAIL_DATA} (rescued {stamp}) {k}"),
                };
                let path = dir.join(name);
                match fs::hard_link(&tmp, &path) {
                    Ok(()) => break path,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 1000 => k += 1,
                    Err(e) => return Err(e),
                }
            };
            fs::remove_file(&tmp)?;
            input::sync_dir(dir)?;
            Ok((path, at, verdict))
        })();
        if saved.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        saved
    }
}

/// `pread` of up to `buf.len()` bytes at `offset`.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        #[cfg(unix)]
        let r = std::os::unix::fs::FileExt::read_at(file, buf, offset);
        #[cfg(windows)]
        let r = std::os::windows::fs::FileExt::seek_read(file, buf, offset);
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}
