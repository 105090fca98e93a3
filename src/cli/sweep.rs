//! `mailsim sweep`: many nights across threads, one JSON line or one row of
//! the summary each, in case order; and `--merge`, which adds up the JSON
//! lines of shards run elsewhere.
//!
//! Case k (0-based) is the scenario the flags describe with seed S + k.
//! Workers claim cases in order from a window of `4 × jobs` cases past the
//! last one written, and the writer holds the results that come early in a
//! reorder buffer of at most that size: memory stays the same however many
//! nights run. A merge reads each file's lines as sorted runs and merges
//! them with a heap, so it holds one line per run, not the whole sweep.

use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Instant;

use clap::Args;
use mailsim::{Outcome, Report, Scenario};
use serde::{Deserialize, Serialize};

use super::CliError;
use super::args::ScenarioArgs;

const AFTER_HELP: &str = "\
Case k (0-based, k < N) is the scenario the flags describe, with seed S + k.
With --shard I/N only the cases with k % N == I - 1 run, so N shards run on
separate machines (a CI matrix, a Slurm array, a Kubernetes Job) add up to the
whole, line for line. Results come out in case order, whatever --jobs.

--json writes exactly one line per night to stdout, in case order, and
nothing else there (the summary goes to stderr):
  {\"case\":k,\"seed\":s,\"outcome\":\"clean\"|\"graceful_shutdown\"|\"hang\"|\"crashed\"|\"corrupted\",
   \"server_downtime_s\":0.0,\"planned_downtime_s\":0.0,\"unplanned_downtime_s\":0.0,
   \"recovery_point_age_s\":97.1|null,\"messages_lost\":0,\"deliveries_deferred\":0,
   \"files_archived\":31,\"files_excluded\":0,\"files_skipped_busy\":0,
   \"bytes_archived\":31457280,
   \"violation\":null|{\"invariant\":\"no_unbounded_wait\",\"detail\":\"…\",\"event\":12|null}}
Durations are seconds. \"event\" indexes the timeline of that night, which
`mailsim run --seed s --json` with the same scenario flags prints whole.

Merging shards: --merge FILE… reads files written by `sweep --json` (in any
order, of any shards), checks every line, and prints the lines in case order
(with --json) and the summary (on stderr with --json, on stdout without).
A line that is not a sweep line, or a case found twice, is an error (exit 2).
  mailsim sweep --cases 100000 --shard 1/2 --json > 1.jsonl    # machine 1
  mailsim sweep --cases 100000 --shard 2/2 --json > 2.jsonl    # machine 2
  mailsim sweep --merge 1.jsonl 2.jsonl --json > all.jsonl

Exit codes: 0 whatever the outcomes (invariant violations too: they are
results); 1 a runtime failure; 2 bad input (a bad shard spec, a bad line in
a merged file, a duplicate case).";

/// Flags of `mailsim sweep`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SweepArgs {
    /// Nights in the whole sweep, over all shards: cases 0 to N-1.
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "merge",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    cases: Option<u64>,

    /// Seed of case 0: case k runs with seed S + k.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed_start: u64,

    /// Run only the I-th of N slices (1 <= I <= N): the cases k with
    /// k % N == I - 1.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,

    /// Threads running nights [default: the available cores].
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,

    /// Print one JSON line per night on stdout and the summary on stderr.
    #[arg(long)]
    json: bool,

    /// Merge the JSON lines of `sweep --json` runs (shards) in FILEs, in
    /// case order, instead of running nights.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["cases", "seed_start", "shard", "jobs"]
    )]
    merge: Vec<PathBuf>,

    #[command(flatten)]
    scenario: ScenarioArgs,
}

/// `--merge` describes no scenario: every scenario flag conflicts with it.
pub fn command(cmd: clap::Command) -> clap::Command {
    cmd.mut_arg("merge", |a| a.conflicts_with_all(ScenarioArgs::ids()))
}

/// `--shard I/N`: the I-th (1-based) of N slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    index: u64,
    count: u64,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    const EXPECTED: &str = "expected I/N with 1 <= I <= N, such as 1/4";
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EXPECTED.to_owned());
        }
        s.parse().map_err(|_| format!("{s} is too large"))
    };
    let (i, n) = text.split_once('/').ok_or_else(|| EXPECTED.to_owned())?;
    let (index, count) = (number(i)?, number(n)?);
    if count == 0 {
        return Err(format!("N must be at least 1: {EXPECTED}"));
    }
    if index == 0 || index > count {
        return Err(format!("I must be between 1 and {count}: {EXPECTED}"));
    }
    Ok(Shard { index, count })
}

/// One night's line of `sweep --json`, in the documented key order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Line {
    case: u64,
    seed: u64,
    outcome: String,
    server_downtime_s: f64,
    planned_downtime_s: f64,
    unplanned_downtime_s: f64,
    recovery_point_age_s: Option<f64>,
    messages_lost: u64,
    deliveries_deferred: u64,
    files_archived: u64,
    files_excluded: u64,
    files_skipped_busy: u64,
    bytes_archived: u64,
    violation: Option<ViolationLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ViolationLine {
    invariant: String,
    detail: String,
    event: Option<usize>,
}

impl Line {
    fn of(case: u64, report: &Report) -> Line {
        let m = report.metrics();
        Line {
            case,
            seed: report.seed(),
            outcome: report.outcome().as_str().to_owned(),
            server_downtime_s: m.server_downtime.as_secs_f64(),
            planned_downtime_s: m.planned_downtime.as_secs_f64(),
            unplanned_downtime_s: m.unplanned_downtime.as_secs_f64(),
            recovery_point_age_s: m.recovery_point_age.map(|d| d.as_secs_f64()),
            messages_lost: m.messages_lost,
            deliveries_deferred: m.deliveries_deferred,
            files_archived: m.files_archived,
            files_excluded: m.files_excluded,
            files_skipped_busy: m.files_skipped_busy,
            bytes_archived: m.bytes_archived,
            violation: mailsim::invariants::check(report)
                .err()
                .map(|v| ViolationLine {
                    invariant: v.invariant.as_str().to_owned(),
                    detail: v.detail,
                    event: v.event,
                }),
        }
    }

    fn to_json(&self) -> Result<String, CliError> {
        serde_json::to_string(self).map_err(|e| CliError::Runtime(format!("JSON: {e}")))
    }
}

pub fn run(args: &SweepArgs, out: &mut impl Write) -> Result<(), CliError> {
    if args.merge.is_empty() {
        sweep(args, out)
    } else {
        merge(&args.merge, args.json, out)
    }
}

/// Where the summary goes: stderr with `--json`, stdout without.
fn write_summary(text: &str, json: bool, out: &mut impl Write) -> Result<(), CliError> {
    if json {
        // Nobody is left to tell if stderr is gone.
        let _ = io::stderr().lock().write_all(text.as_bytes());
        Ok(())
    } else {
        Ok(out.write_all(text.as_bytes())?)
    }
}

// ---------------------------------------------------------------- sweep

fn sweep(args: &SweepArgs, out: &mut impl Write) -> Result<(), CliError> {
    // Clap requires --cases (at least 1) unless --merge is given.
    let Some(cases) = args.cases.filter(|&n| n > 0) else {
        return Err(CliError::Usage("'--cases <N>' is required".to_owned()));
    };
    let shard = args.shard.unwrap_or(Shard { index: 1, count: 1 });
    if args.seed_start.checked_add(cases - 1).is_none() {
        return Err(CliError::Usage(format!(
            "'--seed-start {}' with '--cases {cases}': the last seed would pass {}",
            args.seed_start,
            u64::MAX
        )));
    }
    let scenario = args.scenario.scenario()?;
    // The j-th night of this shard is case first + j × step.
    let first = shard.index - 1;
    let step = shard.count;
    let nights = cases.saturating_sub(first).div_ceil(step);
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        |j| j as usize,
    );
    let jobs = jobs.clamp(1, usize::try_from(nights).unwrap_or(usize::MAX).max(1));

    let bar = progress_bar(nights);
    let mut summary = Summary::default();
    let start = Instant::now();
    let result = run_in_order(
        nights,
        jobs,
        // The workers format the JSON lines too: the writer's thread only
        // writes them, so that it keeps up with any number of workers.
        |j| {
            let case = first + j * step;
            let seed = args.seed_start + case;
            let line = night(&scenario, case, seed)?;
            let json = if args.json {
                Some(line.to_json()?)
            } else {
                None
            };
            Ok((line, json))
        },
        |(line, json)| {
            if let Some(json) = json {
                writeln!(out, "{json}")?;
            }
            summary.add(&line);
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            Ok(())
        },
    );
    let elapsed = start.elapsed();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result?;

    let last = cases - 1;
    let header = if shard.count > 1 {
        format!(
            "{nights} of {cases}: shard {}/{}, the cases k with k % {} == {first}, seed {} + k",
            shard.index, shard.count, shard.count, args.seed_start
        )
    } else {
        format!(
            "{nights}: cases 0 to {last}, seeds {} to {}",
            args.seed_start,
            args.seed_start + last
        )
    };
    let secs = elapsed.as_secs_f64();
    let speed = format!(
        "{:.0} nights/s ({nights} nights in {secs:.2} s on {jobs} thread{})",
        if secs > 0.0 {
            nights as f64 / secs
        } else {
            0.0
        },
        if jobs == 1 { "" } else { "s" }
    );
    let text = summary.render(&header, Some(&speed));
    write_summary(&text, args.json, out)
}

/// One night: the scenario with `seed`, run and checked.
fn night(scenario: &Scenario, case: u64, seed: u64) -> Result<Line, CliError> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scenario.clone().seed(seed).run()
    }));
    let about = |e: &dyn std::fmt::Display| format!("case {case} (seed {seed}): {e}");
    match run {
        Ok(Ok(report)) => Ok(Line::of(case, &report)),
        Ok(Err(e)) => Err(match CliError::from(e) {
            CliError::Usage(m) => CliError::Usage(about(&m)),
            CliError::Runtime(m) => CliError::Runtime(about(&m)),
            other => other,
        }),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(CliError::Runtime(about(&format!(
                "the night panicked: {what}"
            ))))
        }
    }
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {human_pos}/{human_len} nights, {rate} nights/s, {eta} left",
    ) {
        bar.set_style(style.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}", state.per_sec());
            },
        ));
    }
    Some(bar)
}

/// How far the workers may run ahead of the writer, per worker.
const WINDOW_PER_JOB: u64 = 4;

/// The workers' shared place: which item is next to claim and which is next
/// to be written.
struct Window {
    next_claim: u64,
    next_emit: u64,
    stop: bool,
}

fn lock(m: &Mutex<Window>) -> MutexGuard<'_, Window> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Computes `work(0)`, …, `work(n - 1)` on `jobs` threads and hands the
/// results to `emit` in that order. A worker claims item i only while
/// i < next written + window, so at most `window` results wait in the reorder
/// buffer or the channel: memory does not grow with `n`. The first error (of
/// `work` in order, or of `emit`) stops the workers and is returned.
fn run_in_order<T: Send>(
    n: u64,
    jobs: usize,
    work: impl Fn(u64) -> Result<T, CliError> + Sync,
    mut emit: impl FnMut(T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let window = WINDOW_PER_JOB * jobs as u64;
    let shared = (
        Mutex::new(Window {
            next_claim: 0,
            next_emit: 0,
            stop: false,
        }),
        Condvar::new(),
    );
    let (tx, rx) = mpsc::channel::<(u64, Result<T, CliError>)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (shared, work) = (&shared, &work);
            s.spawn(move || {
                loop {
                    let i = {
                        let mut w = lock(&shared.0);
                        while !w.stop && w.next_claim < n && w.next_claim >= w.next_emit + window {
                            w = shared.1.wait(w).unwrap_or_else(PoisonError::into_inner);
                        }
                        if w.stop || w.next_claim >= n {
                            break;
                        }
                        w.next_claim += 1;
                        w.next_claim - 1
                    };
                    if tx.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut written = || -> Result<(), CliError> {
            let mut early: BTreeMap<u64, Result<T, CliError>> = BTreeMap::new();
            let mut next = 0;
            while next < n {
                let (i, r) = rx.recv().map_err(|_| {
                    CliError::Runtime("the sweep's worker threads ended early".to_owned())
                })?;
                early.insert(i, r);
                let before = next;
                while let Some(r) = early.remove(&next) {
                    emit(r?)?;
                    next += 1;
                }
                if next > before {
                    lock(&shared.0).next_emit = next;
                    shared.1.notify_all();
                }
            }
            Ok(())
        };
        let result = written();
        lock(&shared.0).stop = true;
        shared.1.notify_all();
        result
    })
}

// ---------------------------------------------------------------- summary

/// The outcome distribution and the invariant violations of many nights.
struct Summary {
    nights: u64,
    /// Per outcome name, in severity order.
    counts: Vec<(String, u64)>,
    /// Every night that broke an invariant.
    violations: Vec<Line>,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            nights: 0,
            counts: Outcome::ALL
                .iter()
                .map(|o| (o.as_str().to_owned(), 0))
                .collect(),
            violations: Vec::new(),
        }
    }
}

impl Summary {
    fn add(&mut self, line: &Line) {
        self.nights += 1;
        match self
            .counts
            .iter_mut()
            .find(|(name, _)| *name == line.outcome)
        {
            Some((_, n)) => *n += 1,
            None => self.counts.push((line.outcome.clone(), 1)),
        }
        if line.violation.is_some() {
            self.violations.push(line.clone());
        }
    }

    fn render(&self, nights: &str, speed: Option<&str>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Nights:     {nights}");
        let _ = writeln!(s, "Outcomes:");
        for (name, n) in &self.counts {
            let share = if self.nights == 0 {
                0.0
            } else {
                100.0 * *n as f64 / self.nights as f64
            };
            let _ = writeln!(s, "  {name:<18} {n:>9} {share:>6.1}%");
        }
        if let Some(speed) = speed {
            let _ = writeln!(s, "Speed:      {speed}");
        }
        if self.violations.is_empty() {
            let _ = writeln!(s, "Invariants: no invariant violated");
        } else {
            let _ = writeln!(
                s,
                "Invariants: {} night{} violated one:",
                self.violations.len(),
                if self.violations.len() == 1 { "" } else { "s" }
            );
            for l in &self.violations {
                if let Some(v) = &l.violation {
                    let _ = write!(
                        s,
                        "  case {}, seed {} ({}): {}: {}",
                        l.case, l.seed, l.outcome, v.invariant, v.detail
                    );
                    if let Some(i) = v.event {
                        let _ = write!(s, " (timeline event {i})");
                    }
                    s.push('\n');
                }
            }
            let _ = writeln!(
                s,
                "  (replay one with `mailsim run --seed SEED --json` and the same scenario flags)"
            );
        }
        s
    }
}

// ---------------------------------------------------------------- merge

/// Parses one line of a merged file, or says why it is not a sweep line.
fn parse_line(text: &[u8]) -> Result<Line, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if !Outcome::ALL.iter().any(|o| o.as_str() == line.outcome) {
        return Err(format!("unknown outcome {:?}", line.outcome));
    }
    Ok(line)
}

/// A stretch of one file whose cases rise: merged as one sorted input.
struct Run {
    file: usize,
    offset: u64,
    /// 1-based number of its first line.
    line_no: u64,
    lines: u64,
}

/// Reads the lines of a run, one at a time.
struct RunReader {
    reader: BufReader<File>,
    left: u64,
    line_no: u64,
    buf: Vec<u8>,
}

impl RunReader {
    fn next(&mut self, path: &Path) -> Result<Option<(Line, Vec<u8>, u64)>, CliError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.buf.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
        let text = trim_eol(&self.buf[..read]).to_vec();
        let line = parse_line(&text).map_err(|e| {
            CliError::Runtime(format!(
                "{}:{}: changed while being merged: {e}",
                path.display(),
                self.line_no
            ))
        })?;
        self.left -= 1;
        self.line_no += 1;
        Ok(Some((line, text, self.line_no - 1)))
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    if let Some(rest) = b.strip_suffix(b"\n") {
        b = rest;
    }
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Reads every file once: checks each line and splits the file into runs of
/// rising cases.
fn scan(paths: &[PathBuf]) -> Result<Vec<Run>, CliError> {
    let mut runs = Vec::new();
    for (file, path) in paths.iter().enumerate() {
        let f = File::open(path)
            .map_err(|e| CliError::Usage(format!("--merge {}: {e}", path.display())))?;
        let mut reader = BufReader::new(f);
        let mut buf = Vec::new();
        let (mut offset, mut line_no) = (0u64, 0u64);
        let mut last_case: Option<u64> = None;
        loop {
            buf.clear();
            let read = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| CliError::Usage(format!("--merge {}: {e}", path.display())))?;
            if read == 0 {
                break;
            }
            line_no += 1;
            let line = parse_line(trim_eol(&buf)).map_err(|e| {
                CliError::Usage(format!(
                    "{}:{line_no}: not a line of `mailsim sweep --json`: {e}",
                    path.display()
                ))
            })?;
            if last_case.is_none_or(|c| line.case <= c) {
                runs.push(Run {
                    file,
                    offset,
                    line_no,
                    lines: 0,
                });
            }
            if let Some(run) = runs.last_mut() {
                run.lines += 1;
            }
            last_case = Some(line.case);
            offset += read as u64;
        }
    }
    Ok(runs)
}

/// Most runs merged by reading the files in place; past that, lines are
/// sorted in memory (only files that were not written by `sweep` get there).
const MAX_OPEN_RUNS: usize = 64;

/// Calls `each(line, text)` for every line of the runs in case order;
/// a case found twice is an error naming both places.
fn merge_runs(
    paths: &[PathBuf],
    runs: &[Run],
    mut each: impl FnMut(&Line, &[u8]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let where_ = |file: usize, line_no: u64| format!("{}:{line_no}", paths[file].display());
    let mut last: Option<(u64, usize, u64)> = None;
    let mut visit = |line: &Line, text: &[u8], file: usize, line_no: u64| {
        if let Some((case, f, l)) = last
            && case == line.case
        {
            let again = if f != file && paths[f] == paths[file] {
                format!(" ({} is given twice)", paths[f].display())
            } else {
                String::new()
            };
            return Err(CliError::Usage(format!(
                "case {case} appears twice: {} and {}{again}",
                where_(f, l),
                where_(file, line_no)
            )));
        }
        last = Some((line.case, file, line_no));
        each(line, text)
    };
    let open = |run: &Run| -> Result<RunReader, CliError> {
        let path = &paths[run.file];
        let mut f =
            File::open(path).map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
        f.seek(SeekFrom::Start(run.offset))
            .map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))?;
        Ok(RunReader {
            reader: BufReader::new(f),
            left: run.lines,
            line_no: run.line_no,
            buf: Vec::new(),
        })
    };
    if runs.len() > MAX_OPEN_RUNS {
        let mut all = Vec::new();
        for run in runs {
            let mut r = open(run)?;
            while let Some((line, text, line_no)) = r.next(&paths[run.file])? {
                all.push((line, text, run.file, line_no));
            }
        }
        all.sort_by_key(|(line, _, file, line_no)| (line.case, *file, *line_no));
        for (line, text, file, line_no) in &all {
            visit(line, text, *file, *line_no)?;
        }
        return Ok(());
    }
    let mut readers = Vec::with_capacity(runs.len());
    let mut heads = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::new();
    for (i, run) in runs.iter().enumerate() {
        let mut r = open(run)?;
        let head = r.next(&paths[run.file])?;
        if let Some((line, _, _)) = &head {
            heap.push(std::cmp::Reverse((line.case, i)));
        }
        readers.push(r);
        heads.push(head);
    }
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let file = runs[i].file;
        if let Some((line, text, line_no)) = heads[i].take() {
            visit(&line, &text, file, line_no)?;
        }
        heads[i] = readers[i].next(&paths[file])?;
        if let Some((line, _, _)) = &heads[i] {
            heap.push(std::cmp::Reverse((line.case, i)));
        }
    }
    Ok(())
}

/// `--merge`: checks and sums up every line first (so a duplicate case is
/// reported before anything is written), then, with `--json`, writes the
/// lines in case order.
fn merge(paths: &[PathBuf], json: bool, out: &mut impl Write) -> Result<(), CliError> {
    let runs = scan(paths)?;
    let mut summary = Summary::default();
    let mut range: Option<(u64, u64)> = None;
    merge_runs(paths, &runs, |line, _| {
        summary.add(line);
        range = Some(range.map_or((line.case, line.case), |(lo, _)| (lo, line.case)));
        Ok(())
    })?;
    if json {
        merge_runs(paths, &runs, |_, text| {
            out.write_all(text)?;
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
        // was left out.
        let missing = hi + 1 - summary.nights;
        if missing > 0 {
            let _ = write!(
                header,
                "\n            {missing} of the cases 0 to {hi} missing (a shard left out?)"
            );
        }
    }
    write_summary(&summary.render(&header, None), json, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(case: u64, outcome: &str, violation: Option<ViolationLine>) -> Line {
        Line {
            case,
            seed: 100 + case,
            outcome: outcome.to_owned(),
            server_downtime_s: 1.5,
            planned_downtime_s: 0.0,
            unplanned_downtime_s: 1.5,
            recovery_point_age_s: None,
            messages_lost: 0,
            deliveries_deferred: 2,
            files_archived: 29,
            files_excluded: 0,
            files_skipped_busy: 0,
            bytes_archived: 1,
            violation,
        }
    }

    #[test]
    fn lines_round_trip_and_are_checked() {
        let l = line(
            3,
            "hang",
            Some(ViolationLine {
                invariant: "no_unbounded_wait".into(),
                detail: "a wait never ends".into(),
                event: Some(7),
            }),
        );
        let text = l.to_json().unwrap();
        assert!(text.starts_with("{\"case\":3,\"seed\":103,\"outcome\":\"hang\","));
        assert!(text.contains("\"recovery_point_age_s\":null"));
        assert_eq!(parse_line(text.as_bytes()), Ok(l));
        let e = parse_line(text.replace("hang", "melted").as_bytes()).unwrap_err();
        assert!(e.contains("melted"), "{e}");
        assert!(parse_line(b"{\"case\":1}").is_err());
    }

    #[test]
    fn the_summary_counts_outcomes_and_lists_violations() {
        let mut s = Summary::default();
        s.add(&line(0, "clean", None));
        s.add(&line(1, "clean", None));
        s.add(&line(2, "corrupted", None));
        s.add(&line(
            3,
            "hang",
            Some(ViolationLine {
                invariant: "no_unbounded_wait".into(),
                detail: "a wait never ends".into(),
                event: Some(7),
            }),
        ));
        let text = s.render("4", Some("9 nights/s"));
        assert!(
            text.contains("  clean                      2   50.0%"),
            "{text}"
        );
        assert!(
            text.contains("  corrupted                  1   25.0%"),
            "{text}"
        );
        assert!(
            text.contains("  crashed                    0    0.0%"),
            "{text}"
        );
        assert!(text.contains("Speed:      9 nights/s"), "{text}");
        assert!(
            text.contains(
                "case 3, seed 103 (hang): no_unbounded_wait: a wait never ends (timeline event 7)"
            ),
            "{text}"
        );
        assert!(!text.contains("no invariant violated"));
        let empty = Summary::default().render("0", None);
        assert!(empty.contains("no invariant violated") && !empty.contains("Speed"));
    }

    #[test]
    fn shard_specs() {
        assert_eq!(parse_shard("1/2"), Ok(Shard { index: 1, count: 2 }));
        assert_eq!(parse_shard("3/3"), Ok(Shard { index: 3, count: 3 }));
        for bad in [
            "0/2", "3/2", "a/b", "1/0", "1-2", "", "/", "1/", "+1/2", "1/2/3",
        ] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn results_come_out_in_order_whatever_the_jobs() {
        for jobs in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            run_in_order(
                100,
                jobs,
                |i| {
                    // Later items finish first.
                    std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
                    Ok(i * 2)
                },
                |v| {
                    seen.push(v);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_first_error_stops_the_sweep() {
        let mut seen = Vec::new();
        let r = run_in_order(
            10_000,
            2,
            |i| {
                if i == 5 {
                    Err(CliError::Runtime("five".into()))
                } else {
                    Ok(i)
                }
            },
            |v| {
                seen.push(v);
                Ok(())
            },
        );
        assert!(matches!(r, Err(CliError::Runtime(m)) if m == "five"));
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_window_bounds_what_runs_ahead() {
        let max_ahead = std::sync::atomic::AtomicU64::new(0);
        let written = std::sync::atomic::AtomicU64::new(0);
        run_in_order(
            1_000,
            3,
            |i| {
                let w = written.load(std::sync::atomic::Ordering::SeqCst);
                max_ahead.fetch_max(i.saturating_sub(w), std::sync::atomic::Ordering::SeqCst);
                Ok(i)
            },
            |_| {
                written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        assert!(max_ahead.into_inner() <= WINDOW_PER_JOB * 3);
    }
}
