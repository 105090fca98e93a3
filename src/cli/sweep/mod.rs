//! `mailsim sweep`: many nights across threads, one JSON line or one row of
//! the summary each, in case order; and `--merge`, which adds up the JSON
//! lines of shards run elsewhere.
//!
//! Case k (0-based) is the scenario the flags describe with seed S + k, and
//! with `--faults N` the faults [`draw_faults`] draws from that seed (up to
//! N of every kind); each line names its faults. Workers claim cases in
//! order from a window of `4 × jobs` cases past the last one written, and
//! the writer holds the results that come early in a reorder buffer of at
//! most that size: memory stays the same however many nights run.
//!
//! A merge reads each file's lines (each at most [`MAX_LINE_BYTES`]) as
//! sorted runs and merges them with a heap, so it holds one line per run,
//! not the whole sweep. Files written by `sweep` are one run each; a file in
//! another order has many, and every [`MAX_OPEN_RUNS`] of them are merged
//! into a temporary file (and those, [`MAX_OPEN_RUNS`] at a time, into
//! another), so that memory does not grow with the lines or the runs either:
//! an external merge sort. Every `--merge` path is opened as a regular file
//! ([`input::open_regular`]): a FIFO, a device or a directory is refused at
//! once.

use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Instant;

use clap::Args;
use mailsim::sim::{Fault, draw_faults};
use mailsim::{Outcome, Report, Scenario};
use serde::{Deserialize, Serialize};

use super::args::ScenarioArgs;
use super::{CliError, input};

const AFTER_HELP: &str = "\
Case k (0-based, k < N) is the scenario the flags describe, with seed S + k.
With --shard I/N only the cases with k % N == I - 1 run, so N shards run on
separate machines (a CI matrix, a Slurm array, a Kubernetes Job) add up to the
whole, line for line. Results come out in case order, whatever --jobs.

With --faults N, each night also gets up to N faults of every kind
(read_error, write_error, disk_full, server_crash, backup_crash,
control_panel_not_loaded), drawn from its seed at points a KB night reaches:
the same case and seed always get the same faults, and the night's other
choices are drawn as without them. A fault that kills the server ends the
night in `crashed` (unless something worse happened).

--json writes exactly one line per night to stdout, in case order, and
nothing else there (the summary goes to stderr):
  {\"case\":k,\"seed\":s,\"outcome\":\"clean\"|\"graceful_shutdown\"|\"hang\"|\"crashed\"|\"corrupted\",
   \"server_downtime_s\":0.0,\"planned_downtime_s\":0.0,\"unplanned_downtime_s\":0.0,
   \"recovery_point_age_s\":97.1|null,\"messages_lost\":0,\"deliveries_deferred\":0,
   \"files_archived\":31,\"files_excluded\":0,\"files_skipped_busy\":0,
   \"bytes_archived\":31457280,
   \"faults\":[]|[{\"kind\":\"write_error\",\"nth\":212},…],
   \"violation\":null|{\"invariant\":\"no_unbounded_wait\",\"detail\":\"…\",\"event\":12|null}}
Durations are seconds. \"faults\" are written as in scenario files (so
`mailsim run --scenario` can replay a night with them). \"event\" indexes
the timeline of that night, which `mailsim run --seed s --json` with the
same scenario flags (and faults) prints whole.

Merging shards: --merge FILE… reads files written by `sweep --json` (in any
order, of any shards), checks every line, and prints the lines in case order
(with --json) and the summary (on stderr with --json, on stdout without).
A line that is not a sweep line, a line longer than 65536 bytes, a case found
twice, or a path that is not a regular file (a FIFO, a device, a directory)
is an error (exit 2). Lines without \"faults\" (from before --faults) merge as
nights without faults. Files in another order than the case's are merged
through temporary files in the system's temporary folder ($TMPDIR), removed
as soon as they are created (so nothing is left behind); memory stays the
same whatever the files' size.
  mailsim sweep --cases 100000 --shard 1/2 --json > 1.jsonl    # machine 1
  mailsim sweep --cases 100000 --shard 2/2 --json > 2.jsonl    # machine 2
  mailsim sweep --merge 1.jsonl 2.jsonl --json > all.jsonl

Exit codes: 0 whatever the outcomes (invariant violations too: they are
results); 1 a runtime failure; 2 bad input (a number out of its range, a bad
shard spec, a bad line in a merged file, a duplicate case).";

/// Most nights a sweep runs: 10^12, weeks on a thousand cores.
const MAX_CASES: u64 = 1_000_000_000_000;
/// Most threads a sweep runs nights on.
const MAX_JOBS: u32 = 256;
/// Most faults of each kind `--faults` draws for a night.
const MAX_FAULTS_PER_KIND: u32 = 16;

/// Flags of `mailsim sweep`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct SweepArgs {
    /// Nights in the whole sweep, over all shards: cases 0 to N-1
    /// (1 to 10^12).
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "merge",
        value_parser = clap::value_parser!(u64).range(1..=MAX_CASES)
    )]
    cases: Option<u64>,

    /// Seed of case 0: case k runs with seed S + k (0 to 2^64 - 1, with
    /// S + N - 1 at most 2^64 - 1).
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed_start: u64,

    /// Faults per night: up to N of every kind, drawn from the night's
    /// seed (0 to 16; 0: none).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_FAULTS_PER_KIND))
    )]
    faults: u32,

    /// Run only the I-th of N slices (1 <= I <= N): the cases k with
    /// k % N == I - 1.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,

    /// Threads running nights (1 to 256) [default: the available cores].
    #[arg(long, value_name = "J", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_JOBS)))]
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
        conflicts_with_all = ["cases", "seed_start", "faults", "shard", "jobs"]
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
    /// The faults injected, as scenario files write them. Lines written
    /// before `--faults` existed have none.
    #[serde(default)]
    faults: Vec<Fault>,
    violation: Option<ViolationLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ViolationLine {
    invariant: String,
    detail: String,
    event: Option<usize>,
}

impl Line {
    fn of(case: u64, report: &Report, faults: Vec<Fault>) -> Line {
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
            faults,
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
    let nights_per_run = args.scenario.nights;

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
            let faults = draw_faults(seed, args.faults, nights_per_run);
            let line = night(&scenario, case, seed, faults)?;
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

/// One night: the scenario with `seed` and `faults`, run and checked.
fn night(scenario: &Scenario, case: u64, seed: u64, faults: Vec<Fault>) -> Result<Line, CliError> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        faults
            .iter()
            .fold(scenario.clone().seed(seed), |s, f| s.fault(f.clone()))
            .run()
    }));
    let about = |e: &dyn std::fmt::Display| format!("case {case} (seed {seed}): {e}");
    match run {
        Ok(Ok(report)) => Ok(Line::of(case, &report, faults)),
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

/// Most nights that broke an invariant the summary lists (it counts them
/// all; each is in its JSON line): memory does not grow with the sweep.
const MAX_LISTED_VIOLATIONS: usize = 100;

/// The outcome distribution and the invariant violations of many nights.
struct Summary {
    nights: u64,
    /// Per outcome name, in severity order.
    counts: Vec<(String, u64)>,
    /// Nights that broke an invariant.
    violated: u64,
    /// The first [`MAX_LISTED_VIOLATIONS`] of them.
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
            violated: 0,
            violations: Vec::new(),
        }
    }
}

impl Summary {
    fn add(&mut self, line: &Line) {
        self.nights = self.nights.saturating_add(1);
        match self
            .counts
            .iter_mut()
            .find(|(name, _)| *name == line.outcome)
        {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.counts.push((line.outcome.clone(), 1)),
        }
        if line.violation.is_some() {
            self.violated = self.violated.saturating_add(1);
            if self.violations.len() < MAX_LISTED_VIOLATIONS {
                self.violations.push(line.clone());
            }
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
        if self.violated == 0 {
            let _ = writeln!(s, "Invariants: no invariant violated");
        } else {
            let _ = writeln!(
                s,
                "Invariants: {} night{} violated one:",
                self.violated,
                if self.violated == 1 { "" } else { "s" }
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
                    if !l.faults.is_empty() {
                        let kinds: Vec<&str> = l.faults.iter().map(Fault::kind).collect();
                        let _ = write!(s, " (faults: {})", kinds.join(", "));
                    }
                    s.push('\n');
                }
            }
            let unlisted = self.violated.saturating_sub(self.violations.len() as u64);
            if unlisted > 0 {
                let _ = writeln!(
                    s,
                    "  … and {unlisted} more (each is in its JSON line, with its \"violation\")"
                );
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

/// Longest line `--merge` reads, without its end of line: a sweep line with
/// every fault `--faults 16` draws is under 8 KiB, so a longer one is not a
/// sweep line (and a file without newlines is never read whole).
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// Most runs merged at once: one line (at most [`MAX_LINE_BYTES`]) and one
/// read buffer each are held.
pub const MAX_OPEN_RUNS: usize = 64;

/// Parses one line of a merged file, or says why it is not a sweep line.
fn parse_line(text: &[u8]) -> Result<Line, String> {
    let line: Line = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    if !Outcome::ALL.iter().any(|o| o.as_str() == line.outcome) {
        return Err(format!("unknown outcome {:?}", line.outcome));
    }
    if !line.faults.is_empty() {
        line.faults
            .iter()
            .fold(Scenario::kb98097(), |s, f| s.fault(f.clone()))
            .validate()
            .map_err(|e| e.to_string())?;
    }
    Ok(line)
}

/// What [`read_line_bounded`] found.
enum Read {
    /// The end of the input.
    End,
    /// A line of this many bytes, its end of line included.
    Line(usize),
    /// A line longer than the limit: the rest of it is left unread.
    TooLong,
}

/// Reads one line, through its `\n` (or to the end of the input), into
/// `buf`, unless it is longer than `limit` bytes without its end of line:
/// at most `limit` plus one buffer's worth of bytes is held.
fn read_line_bounded(r: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> io::Result<Read> {
    buf.clear();
    let mut consumed = 0usize;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if consumed == 0 {
                Read::End
            } else {
                Read::Line(consumed)
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        consumed = consumed.saturating_add(take);
        if trim_eol(buf).len() > limit {
            return Ok(Read::TooLong);
        }
        if done {
            return Ok(Read::Line(consumed));
        }
    }
}

fn trim_eol(mut b: &[u8]) -> &[u8] {
    if let Some(rest) = b.strip_suffix(b"\n") {
        b = rest;
    }
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// One line on its way through the merge: its case, where it was read
/// (file index, 1-based line), its text, and the line parsed when at hand.
struct Record {
    case: u64,
    file: usize,
    line_no: u64,
    text: Vec<u8>,
    line: Option<Line>,
}

impl Record {
    /// Where the merge orders it: by case, then by where it was read, so
    /// the order (and which place a duplicate names first) does not depend
    /// on how the lines were split into runs.
    fn key(&self) -> (u64, usize, u64) {
        (self.case, self.file, self.line_no)
    }
}

/// A sorted input of the merge.
enum Run {
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
struct TempRun {
    file: File,
    path: Option<PathBuf>,
    records: u64,
}

impl TempRun {
    /// A new temporary file in [`std::env::temp_dir`], under a name of its
    /// own created exclusively (never an existing file or a symlink).
    fn create() -> Result<TempRun, CliError> {
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
enum RunReader<'a> {
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
    fn open(paths: &'a [PathBuf], run: &'a Run) -> Result<RunReader<'a>, CliError> {
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

    fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Record>, CliError> {
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
                let record = Record {
                    case: line.case,
                    file: *file,
                    line_no: *line_no,
                    text,
                    line: Some(line),
                };
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
                let bad = || temp_error(&"a record changed under the merge");
                // Room for the line and its three numbers.
                match read_line_bounded(reader, buf, MAX_LINE_BYTES + 64)
                    .map_err(|e| temp_error(&e))?
                {
                    Read::Line(_) => {}
                    _ => return Err(bad()),
                }
                let mut parts = trim_eol(buf).splitn(4, |&b| b == b' ');
                let mut number =
                    || -> Option<u64> { std::str::from_utf8(parts.next()?).ok()?.parse().ok() };
                let (Some(case), Some(file), Some(line_no)) = (number(), number(), number()) else {
                    return Err(bad());
                };
                let text = parts.next().ok_or_else(bad)?.to_vec();
                let file = usize::try_from(file)
                    .ok()
                    .filter(|f| f < files)
                    .ok_or_else(bad)?;
                *left -= 1;
                Ok(Some(Record {
                    case,
                    file,
                    line_no,
                    text,
                    line: None,
                }))
            }
        }
    }
}

fn temp_error(e: &dyn std::fmt::Display) -> CliError {
    CliError::Runtime(format!("--merge: a temporary file: {e}"))
}

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
fn merge(paths: &[PathBuf], json: bool, out: &mut impl Write) -> Result<(), CliError> {
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
            faults: Vec::new(),
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
    fn the_summary_counts_every_violation_and_lists_the_first_hundred() {
        let mut s = Summary::default();
        for case in 0..250 {
            let mut l = line(
                case,
                "crashed",
                Some(ViolationLine {
                    invariant: "no_lost_delivery".into(),
                    detail: "lost".into(),
                    event: None,
                }),
            );
            l.faults = vec![Fault::WriteError { nth: 3 }];
            s.add(&l);
        }
        assert_eq!(s.violations.len(), MAX_LISTED_VIOLATIONS);
        let text = s.render("250", None);
        assert!(
            text.contains("Invariants: 250 nights violated one:"),
            "{text}"
        );
        assert!(
            text.contains(
                "case 99, seed 199 (crashed): no_lost_delivery: lost (faults: write_error)"
            ),
            "{text}"
        );
        assert!(!text.contains("case 100,"), "{text}");
        assert!(text.contains("… and 150 more"), "{text}");
    }

    #[test]
    fn lines_are_read_to_a_bound() {
        let read_all = |input: &[u8], limit: usize| {
            let mut r = BufReader::with_capacity(4, input);
            let mut buf = Vec::new();
            let mut seen = Vec::new();
            loop {
                match read_line_bounded(&mut r, &mut buf, limit).unwrap() {
                    Read::End => return seen,
                    Read::TooLong => {
                        seen.push(("too long".to_owned(), 0));
                        return seen;
                    }
                    Read::Line(n) => {
                        seen.push((String::from_utf8(trim_eol(&buf).to_vec()).unwrap(), n))
                    }
                }
            }
        };
        let own = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
            v.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
        };
        assert_eq!(
            read_all(b"abc\r\nde\n\nfghij", 5),
            own(&[("abc", 5), ("de", 3), ("", 1), ("fghij", 5)])
        );
        assert_eq!(read_all(b"abcde\r\n", 5), own(&[("abcde", 7)]));
        assert_eq!(read_all(b"abcdef\n", 5), own(&[("too long", 0)]));
        assert_eq!(
            read_all(b"ab\nabcdefghijkl", 5),
            own(&[("ab", 3), ("too long", 0)])
        );
        assert_eq!(read_all(b"", 5), own(&[]));
        // A line of any length without a newline holds at most the limit
        // and one buffer.
        let mut r = BufReader::with_capacity(8, std::io::repeat(b'x'));
        let mut buf = Vec::new();
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 100).unwrap(),
            Read::TooLong
        ));
        assert!(buf.len() <= 108, "{}", buf.len());
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
