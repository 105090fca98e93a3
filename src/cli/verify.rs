//! `mailsim verify FILE`: the format's own consistency check of a data file
//! or a copy of one.
//!
//! Exit 0 with the generation and message count when the file verifies; 1
//! for a readable file that does not (bad magic, truncated, torn, random
//! bytes), the reason as one line on stderr; 2 when FILE is missing, is not a
//! regular file, or cannot be read.
//!
//! With `--history HISTORY` it judges FILE, a copy, exactly against the
//! history `mailsim serve` keeps beside its data file
//! ([`mailsim::history`]): one line (or, with `--json`, one JSON object) on
//! stdout, exit 0 when the copy is consistent at a generation, 1 when it is
//! torn or unknown, 2 on bad input.
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
                  opened).\n\nWith --history HISTORY (the \"Microsoft Mail Data History\" that \
                  `mailsim serve` keeps beside its data file), FILE is judged exactly against \
                  it, one line on stdout: \"consistent: generation G (committed TIME)\", \
                  \"torn: pages A-B = generations …; length N bytes = generations …\" or \
                  \"unknown: REASON\". --json prints one object instead: verdict \
                  (consistent|torn|unknown), generation, committed_at (RFC 3339), pages \
                  ([{first, last, generations}]), length ({bytes, generations}), reason; the \
                  keys that do not apply are null (pages []). Exit status: 0 consistent; 1 torn \
                  or unknown; 2 FILE or HISTORY missing, not a regular file, unreadable, or \
                  HISTORY not a history."
)]
pub struct VerifyArgs {
    /// The data file, or a copy of it ("Mail Data Backup #1", an archived one).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Judge FILE against this history of the data file (exactly: which
    /// generation, or which pages of which generations).
    #[arg(long, value_name = "HISTORY")]
    history: Option<PathBuf>,
    /// With --history: print the verdict as one JSON object.
    #[arg(long, requires = "history")]
    json: bool,
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
    let mut file = input::open_regular("", path)?;
    if let Some(history) = &args.history {
        return judge(args, history, &mut file, out);
    }
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

/// `verify FILE --history HISTORY`: the verdict, on stdout.
fn judge(
    args: &VerifyArgs,
    history: &std::path::Path,
    copy: &mut File,
    out: &mut impl Write,
) -> Result<(), CliError> {
    use mailsim::history::{History, Verdict};
    input::open_regular("--history", history)?;
    let h = History::read(history).map_err(|e| match e {
        mailsim::Error::Io { source, .. } => {
            CliError::Usage(format!("{}: {source}", input::named("--history", history)))
        }
        e => CliError::Usage(format!("--history {e}")),
    })?;
    let verdict = h
        .judge(copy)
        .map_err(|e| CliError::Usage(format!("{}: cannot be read: {e}", args.file.display())))?;
    if args.json {
        writeln!(out, "{}", verdict_json(&verdict))?;
    } else {
        writeln!(out, "{}", verdict_line(&verdict))?;
    }
    match verdict {
        Verdict::Consistent { .. } => Ok(()),
        _ => Err(CliError::Status(1)),
    }
}

/// `consistent: generation 7 (committed 2026-12-02T22:11:27.123Z)`, and
/// the like for torn and unknown copies.
fn verdict_line(v: &mailsim::history::Verdict) -> String {
    use mailsim::history::Verdict;
    match v {
        Verdict::Consistent {
            generation,
            committed_at,
        } => format!(
            "consistent: generation {generation} (committed {})",
            super::time::rfc3339_millis(*committed_at)
        ),
        Verdict::Torn {
            pages,
            len_bytes,
            len_generations,
        } => {
            let mut parts: Vec<String> = pages
                .iter()
                .map(|r| {
                    format!(
                        "pages {}-{} = {}",
                        r.first,
                        r.last,
                        generations(&r.generations)
                    )
                })
                .collect();
            parts.push(format!(
                "length {len_bytes} bytes = {}",
                generations(len_generations)
            ));
            format!("torn: {}", parts.join("; "))
        }
        Verdict::Unknown { reason } => format!("unknown: {reason}"),
        _ => "unknown: a verdict this command does not know".into(),
    }
}

/// `generation 12`, `generations 9-11, 14`: consecutive numbers as ranges.
fn generations(gens: &[u64]) -> String {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for &g in gens {
        match spans.last_mut() {
            Some(s) if s.1 + 1 == g => s.1 = g,
            _ => spans.push((g, g)),
        }
    }
    let text: Vec<String> = spans
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    let noun = if gens.len() == 1 {
        "generation"
    } else {
        "generations"
    };
    format!("{noun} {}", text.join(", "))
}

/// The verdict as one JSON object, every key present.
fn verdict_json(v: &mailsim::history::Verdict) -> serde_json::Value {
    use mailsim::history::Verdict;
    use serde_json::{Value, json};
    let (verdict, generation, committed_at, pages, length, reason) = match v {
        Verdict::Consistent {
            generation,
            committed_at,
        } => (
            "consistent",
            json!(generation),
            json!(super::time::rfc3339_millis(*committed_at)),
            json!([]),
            Value::Null,
            Value::Null,
        ),
        Verdict::Torn {
            pages,
            len_bytes,
            len_generations,
        } => (
            "torn",
            Value::Null,
            Value::Null,
            json!(pages),
            json!({"bytes": len_bytes, "generations": len_generations}),
            Value::Null,
        ),
        Verdict::Unknown { reason } => (
            "unknown",
            Value::Null,
            Value::Null,
            json!([]),
            Value::Null,
            json!(reason),
        ),
        _ => (
            "unknown",
            Value::Null,
            Value::Null,
            json!([]),
            Value::Null,
            json!("a verdict this command does not know"),
        ),
    };
    json!({
        "verdict": verdict,
        "generation": generation,
        "committed_at": committed_at,
        "pages": pages,
        "length": length,
        "reason": reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_read_as_ranges() {
        assert_eq!(generations(&[12]), "generation 12");
        assert_eq!(generations(&[9, 10, 11, 14]), "generations 9-11, 14");
    }
}
