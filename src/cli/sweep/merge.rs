//! `--merge`: every input file scanned once, checked line by line and cut
//! into runs of rising cases ([`scan`]); runs merged with a heap, at most
//! [`MAX_OPEN_RUNS`] at a time, through temporary runs when there are more
//! (an external merge sort); duplicate cases refused; then the lines
//! written in case order and summed up ([`merge`]).
//!
//! What does not live here: the runs themselves and reading them back
//! (`runs`).

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use super::line::parse_line;
use super::read_line::{MAX_LINE_BYTES, Read, read_line_bounded, trim_eol};
use super::runs::{Record, Run, RunReader, TempRun, temp_error};
use super::summary::Summary;
use super::write_summary;
use crate::cli::{CliError, input};

/// Most runs merged at once: one line (at most [`MAX_LINE_BYTES`]) and one
/// read buffer each are held.
pub const MAX_OPEN_RUNS: usize = 64;

/// Hands every record of `runs` (at most [`MAX_OPEN_RUNS`]) to `each` in
/// key order, holding one record per run.
fn merge_group(
    paths: &[PathBuf],
    runs: &[Run],
    mut each: impl FnMut(Record) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut readers = Vec::with_capacity(runs.len());
    let mut heads = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::new();
    let mut buf = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let mut r = RunReader::open(paths, run)?;
        let head = r.next(&mut buf)?;
        if let Some(record) = &head {
            heap.push(std::cmp::Reverse((record.key(), i)));
        }
        readers.push(r);
        heads.push(head);
    }
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        if let Some(record) = heads[i].take() {
            each(record)?;
        }
        heads[i] = readers[i].next(&mut buf)?;
        if let Some(record) = &heads[i] {
            heap.push(std::cmp::Reverse((record.key(), i)));
        }
    }
    Ok(())
}

/// Says when a case comes twice in a stream of records in key order,
/// naming both places.
#[derive(Default)]
struct Duplicates {
    last: Option<(u64, usize, u64)>,
}

impl Duplicates {
    fn check(&mut self, paths: &[PathBuf], r: &Record) -> Result<(), CliError> {
        let where_ = |file: usize, line_no: u64| format!("{}:{line_no}", paths[file].display());
        if let Some((case, f, l)) = self.last
            && case == r.case
        {
            let again = if f != r.file && paths[f] == paths[r.file] {
                format!(" ({} is given twice)", paths[f].display())
            } else {
                String::new()
            };
            return Err(CliError::Usage(format!(
                "case {case} appears twice: {} and {}{again}",
                where_(f, l),
                where_(r.file, r.line_no)
            )));
        }
        self.last = Some(r.key());
        Ok(())
    }
}

/// Merges `group` into one temporary run (finding the duplicates inside it
/// on the way); the group's temporary files go when it is dropped.
fn merge_into_temp(paths: &[PathBuf], group: Vec<Run>) -> Result<Run, CliError> {
    let mut temp = TempRun::create()?;
    let mut records = 0u64;
    {
        let mut w = BufWriter::new(&temp.file);
        let mut duplicates = Duplicates::default();
        merge_group(paths, &group, |r| {
            duplicates.check(paths, &r)?;
            write!(w, "{} {} {} ", r.case, r.file, r.line_no)
                .and_then(|()| w.write_all(&r.text))
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| temp_error(&e))?;
            records = records.saturating_add(1);
            Ok(())
        })?;
        w.flush().map_err(|e| temp_error(&e))?;
    }
    temp.records = records;
    Ok(Run::Temp(temp))
}

/// The runs found so far, by level: a run of level k+1 is
/// [`MAX_OPEN_RUNS`] runs of level k merged, so no level holds as many,
/// and a run of level k holds at least 64^k lines: a handful of levels
/// whatever the input.
struct Levels<'a> {
    paths: &'a [PathBuf],
    levels: Vec<Vec<Run>>,
}

impl Levels<'_> {
    fn push(&mut self, mut level: usize, mut run: Run) -> Result<(), CliError> {
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(run);
            if self.levels[level].len() < MAX_OPEN_RUNS {
                return Ok(());
            }
            let group = std::mem::take(&mut self.levels[level]);
            run = merge_into_temp(self.paths, group)?;
            level += 1;
        }
    }

    /// At most [`MAX_OPEN_RUNS`] runs holding every record: the smallest
    /// merged first, until few enough are left.
    fn finish(self) -> Result<Vec<Run>, CliError> {
        let mut all: Vec<Run> = self.levels.into_iter().flatten().collect();
        while all.len() > MAX_OPEN_RUNS {
            let n = (all.len() - MAX_OPEN_RUNS + 1).min(MAX_OPEN_RUNS);
            let group: Vec<Run> = all.drain(..n).collect();
            let merged = merge_into_temp(self.paths, group)?;
            all.push(merged);
        }
        Ok(all)
    }
}

/// Reads every file once: checks each line and splits the file into runs of
/// rising cases, merging them into temporary runs as they add up.
fn scan(paths: &[PathBuf]) -> Result<Vec<Run>, CliError> {
    let mut levels = Levels {
        paths,
        levels: Vec::new(),
    };
    let mut buf = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        let unreadable = |e: io::Error| {
            let m = format!("--merge {}: {e}", path.display());
            if input::is_bad_path(&e) {
                CliError::Usage(m)
            } else {
                CliError::Runtime(m)
            }
        };
        let mut reader = BufReader::new(input::open_regular("--merge", path)?);
        let (mut offset, mut line_no) = (0u64, 0u64);
        let mut last_case: Option<u64> = None;
        let mut current: Option<Run> = None;
        loop {
            let read =
                read_line_bounded(&mut reader, &mut buf, MAX_LINE_BYTES).map_err(unreadable)?;
            line_no = line_no.saturating_add(1);
            let read = match read {
                Read::End => break,
                Read::TooLong => {
                    return Err(CliError::Usage(format!(
                        "{}:{line_no}: not a line of `mailsim sweep --json`: longer than \
                         {MAX_LINE_BYTES} bytes",
                        path.display()
                    )));
                }
                Read::Line(n) => n,
            };
            let line = parse_line(trim_eol(&buf)).map_err(|e| {
                CliError::Usage(format!(
                    "{}:{line_no}: not a line of `mailsim sweep --json`: {e}",
                    path.display()
                ))
            })?;
            if last_case.is_none_or(|c| line.case <= c) {
                if let Some(run) = current.take() {
                    levels.push(0, run)?;
                }
                current = Some(Run::Input {
                    file,
                    offset,
                    line_no,
                    lines: 0,
                });
            }
            if let Some(Run::Input { lines, .. }) = &mut current {
                *lines += 1;
            }
            last_case = Some(line.case);
            offset = offset.saturating_add(read as u64);
        }
        if let Some(run) = current {
            levels.push(0, run)?;
        }
    }
    levels.finish()
}

/// `--merge`: refuses at once a path that is not a regular file; checks and
/// sums up every line first (so a duplicate case is reported before
/// anything is written), then, with `--json`, writes the lines in case
/// order.
pub(super) fn merge(paths: &[PathBuf], json: bool, out: &mut impl Write) -> Result<(), CliError> {
    // Every path before any is read: a FIFO named last is refused as soon
    // as one named first.
    for path in paths {
        input::open_regular("--merge", path)?;
    }
    let runs = scan(paths)?;
    let mut summary = Summary::default();
    let mut range: Option<(u64, u64)> = None;
    let mut duplicates = Duplicates::default();
    merge_group(paths, &runs, |r| {
        duplicates.check(paths, &r)?;
        let line = match r.line {
            Some(line) => line,
            None => parse_line(&r.text).map_err(|e| temp_error(&e))?,
        };
        summary.add(&line);
        range = Some(range.map_or((line.case, line.case), |(lo, _)| (lo, line.case)));
        Ok(())
    })?;
    if json {
        merge_group(paths, &runs, |r| {
            out.write_all(&r.text)?;
            Ok(out.write_all(b"\n")?)
        })?;
    }
    let files = paths.len();
    let mut header = format!(
        "{}: merged from {files} file{}",
        summary.nights,
        if files == 1 { "" } else { "s" }
    );
    if let Some((lo, hi)) = range {
        let _ = write!(header, ", cases {lo} to {hi}");
        // Sweeps start at case 0: a gap or a missing start means a shard
        // was left out. (The cases are distinct, so at most hi + 1 of them.)
        let missing = (u128::from(hi) + 1).saturating_sub(u128::from(summary.nights));
        if missing > 0 {
            let _ = write!(
                header,
                "\n            {missing} of the cases 0 to {hi} missing (a shard left out?)"
            );
        }
    }
    write_summary(&summary.render(&header, None), json, out)
}
