//! `mailsim verify FILE`: the format's own consistency check of a data file
//! or a copy of one.
//!
//! Exit 0 with the generation and message count when the file verifies; 1
//! for a readable file that does not (bad magic, truncated, torn, random
//! bytes), the reason as one line on stderr; 2 when FILE is missing, is not a
//! regular file, or cannot be read.
//!
//! A file another process holds under an exclusive lock (the data file of
//! a live `mailsim serve`) is refused, exit 2, without being opened: the
//! open would be a foreign access, and the server would react to it. Verify
//! a copy instead. A writer that holds no lock cannot be seen, and its file
//! is opened like any other.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use mailsim::datafile::{self, ReadAt};

use super::{CliError, input};

/// Flags of `mailsim verify`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit status: 0 the file verifies (its generation and message count are printed \
                  on stdout); 1 it is readable but fails verification (the reason is one line on \
                  stderr); 2 it is missing, not a regular file, cannot be read, or is held by a \
                  live server under an exclusive lock (one line on stderr; a held file is never \
                  opened)."
)]
pub struct VerifyArgs {
    /// The data file, or a copy of it ("Mail Data Backup #1", an archived one).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// A file read with positioned reads, for [`datafile::verify_from`]: the
/// first read error is kept, so that a file that cannot be read is told
/// apart from one that fails verification.
pub(super) struct FileAt<'a> {
    file: &'a File,
    len: u64,
    error: RefCell<Option<io::Error>>,
}

impl<'a> FileAt<'a> {
    pub(super) fn new(file: &'a File) -> io::Result<FileAt<'a>> {
        Ok(FileAt {
            file,
            len: file.metadata()?.len(),
            error: RefCell::new(None),
        })
    }

    /// The first read error, if any.
    pub(super) fn take_error(&self) -> Option<io::Error> {
        self.error.borrow_mut().take()
    }
}

impl ReadAt for FileAt<'_> {
    fn len_bytes(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        match read_exact_at(self.file, buf, offset) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                false
            }
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn run(args: &VerifyArgs, out: &mut impl Write) -> Result<(), CliError> {
    let path = &args.file;
    // A file a server holds is not opened just to be looked at: that open
    // would be a foreign access, and the server would shut down. Asked of
    // the kernel's lock table, which opens nothing.
    if let Ok(Some(holder)) = mailsim::real::proc_locks::holder(path)
        && holder.write
    {
        return Err(CliError::Usage(format!(
            "{}: held by {holder}: opening it would be a foreign access to a live file; \
             verify a copy of it instead",
            path.display()
        )));
    }
    let file = input::open_regular("", path)?;
    let at = FileAt::new(&file).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let verdict = datafile::verify_from(&at);
    if let Some(e) = at.take_error() {
        return Err(CliError::Usage(format!(
            "{}: cannot be read: {e}",
            path.display()
        )));
    }
    match verdict {
        Ok(v) => {
            // A file whose counters leave no room: valid, but no server can
            // commit to it (serve refuses it, naming the field).
            let no_room = match datafile::read_header(&at).map(|h| h.check_room()) {
                Ok(Err(e)) => format!(" ({e})"),
                _ => String::new(),
            };
            writeln!(
                out,
                "{}: consistent: generation {}, {} message{}{no_room}",
                path.display(),
                v.generation,
                v.message_count,
                if v.message_count == 1 { "" } else { "s" }
            )?;
            Ok(())
        }
        Err(e) => Err(CliError::Runtime(format!(
            "{}: fails verification: {e}",
            path.display()
        ))),
    }
}
