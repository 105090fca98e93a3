//! The merge's runs: a [`Run`] is a stretch of an input file whose cases
//! rise, or a temporary file of [`Record`]s already merged ([`TempRun`]);
//! a [`RunReader`] reads one back, a record at a time.
//!
//! What does not live here: splitting the input into runs and merging them
//! (`merge`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::line::{Line, parse_line};
use super::read_line::{MAX_LINE_BYTES, Read, read_line_bounded, trim_eol};
use crate::cli::{CliError, input};

/// One line on its way through the merge: its case, where it was read
/// (file index, 1-based line), its text, and the line parsed when at hand.
pub(super) struct Record {
    pub(super) case: u64,
    pub(super) file: usize,
    pub(super) line_no: u64,
    pub(super) text: Vec<u8>,
    pub(super) line: Option<Line>,
}

impl Record {
    /// Where the merge orders it: by case, then by where it was read, so
    /// the order (and which place a duplicate names first) does not depend
    /// on how the lines were split into runs.
    pub(super) fn key(&self) -> (u64, usize, u64) {
        (self.case, self.file, self.line_no)
    }
}

/// A sorted input of the merge.
pub(super) enum Run {
    /// `lines` lines of the `file`-th path whose cases rise, from byte
    /// `offset` (line `line_no`, 1-based) on.
    Input {
        file: usize,
        offset: u64,
        line_no: u64,
        lines: u64,
    },
    /// Records merged into a temporary file.
    Temp(TempRun),
}

/// A temporary file of records in key order, one a line:
/// `CASE FILE LINE TEXT`. On Unix its name is removed as soon as it is
/// created (only the open file is used), so nothing is left behind however
/// the merge ends; elsewhere it is removed when dropped.
pub(super) struct TempRun {
    pub(super) file: File,
    pub(super) path: Option<PathBuf>,
    pub(super) records: u64,
}

impl TempRun {
    /// A new temporary file in [`std::env::temp_dir`], under a name of its
    /// own created exclusively (never an existing file or a symlink).
    pub(super) fn create() -> Result<TempRun, CliError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        let failed = |e: &dyn std::fmt::Display| {
            CliError::Runtime(format!(
                "--merge: a temporary file in {}: {e}",
                dir.display()
            ))
        };
        for _ in 0..100 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("mailsim-merge-{}-{n}", std::process::id()));
            let mut opts = OpenOptions::new();
            opts.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .mode(0o600);
            }
            match opts.open(&path) {
                Ok(file) => {
                    let path = if cfg!(unix) && fs::remove_file(&path).is_ok() {
                        None
                    } else {
                        Some(path)
                    };
                    return Ok(TempRun {
                        file,
                        path,
                        records: 0,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(failed(&e)),
            }
        }
        Err(failed(&"no free name after 100 tries"))
    }
}

impl Drop for TempRun {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

/// Reads the records of a run, one at a time.
pub(super) enum RunReader<'a> {
    Input {
        reader: BufReader<File>,
        path: &'a Path,
        file: usize,
        left: u64,
        line_no: u64,
    },
    Temp {
        reader: BufReader<&'a File>,
        left: u64,
        /// How many input paths there are: a record names one of them.
        files: usize,
    },
}

impl<'a> RunReader<'a> {
    /// Opens `run` at its first record: an input path again as a regular
    /// file (it may have been replaced since it was scanned).
    pub(super) fn open(paths: &'a [PathBuf], run: &'a Run) -> Result<RunReader<'a>, CliError> {
        match run {
            Run::Input {
                file,
                offset,
                line_no,
                lines,
            } => {
                let path = &paths[*file];
                let mut f = input::open_regular("--merge", path)?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
                Ok(RunReader::Input {
                    reader: BufReader::new(f),
                    path,
                    file: *file,
                    left: *lines,
                    line_no: *line_no,
                })
            }
            Run::Temp(t) => {
                let mut f = &t.file;
                f.seek(SeekFrom::Start(0)).map_err(|e| temp_error(&e))?;
                Ok(RunReader::Temp {
                    reader: BufReader::new(f),
                    left: t.records,
                    files: paths.len(),
                })
            }
        }
    }

    /// The run's next record, or `None` at its end; `buf` is scratch.
    pub(super) fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Record>, CliError> {
        match self {
            RunReader::Input {
                reader,
                path,
                file,
                left,
                line_no,
            } => {
                if *left == 0 {
                    return Ok(None);
                }
                let record = next_input(reader, path, *file, *line_no, buf)?;
                *left -= 1;
                *line_no = line_no.saturating_add(1);
                Ok(Some(record))
            }
            RunReader::Temp {
                reader,
                left,
                files,
            } => {
                if *left == 0 {
                    return Ok(None);
                }
                let record = next_temp(reader, *files, buf)?;
                *left -= 1;
                Ok(Some(record))
            }
        }
    }
}

/// Reads line `line_no` of input `file` (at `path`) again, parsed: it was
/// checked when the file was scanned, so a line that is now gone, too long
/// or not a sweep line means the file changed under the merge.
fn next_input(
    reader: &mut BufReader<File>,
    path: &Path,
    file: usize,
    line_no: u64,
    buf: &mut Vec<u8>,
) -> Result<Record, CliError> {
    let changed = |e: &dyn std::fmt::Display| {
        CliError::Runtime(format!(
            "{}:{line_no}: changed while being merged: {e}",
            path.display()
        ))
    };
    let read = read_line_bounded(reader, buf, MAX_LINE_BYTES)
        .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
    if !matches!(read, Read::Line(_)) {
        return Err(changed(&"the line is gone or too long"));
    }
    let text = trim_eol(buf).to_vec();
    let line = parse_line(&text).map_err(|e| changed(&e))?;
    Ok(Record {
        case: line.case,
        file,
        line_no,
        text,
        line: Some(line),
    })
}

/// Reads the next record of a temporary run, `CASE FILE LINE TEXT`, where
/// FILE is one of the `files` input paths.
fn next_temp(
    reader: &mut BufReader<&File>,
    files: usize,
    buf: &mut Vec<u8>,
) -> Result<Record, CliError> {
    let bad = || temp_error(&"a record changed under the merge");
    // Room for the line and its three numbers.
    match read_line_bounded(reader, buf, MAX_LINE_BYTES + 64).map_err(|e| temp_error(&e))? {
        Read::Line(_) => {}
        _ => return Err(bad()),
    }
    let mut parts = trim_eol(buf).splitn(4, |&b| b == b' ');
    let mut number = || -> Option<u64> { std::str::from_utf8(parts.next()?).ok()?.parse().ok() };
    let (Some(case), Some(file), Some(line_no)) = (number(), number(), number()) else {
        return Err(bad());
    };
    let text = parts.next().ok_or_else(bad)?.to_vec();
    let file = usize::try_from(file)
        .ok()
        .filter(|f| *f < files)
        .ok_or_else(bad)?;
    Ok(Record {
        case,
        file,
        line_no,
        text,
        line: None,
    })
}

/// A temporary run failed to be written or read.
pub(super) fn temp_error(e: &dyn std::fmt::Display) -> CliError {
    CliError::Runtime(format!("--merge: a temporary file: {e}"))
}
