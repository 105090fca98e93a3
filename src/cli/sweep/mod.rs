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
//!
//! The nights run in `nights`, handed out in order by `in_order`; each
//! becomes a `line` and is added to the `summary`. A merge (`merge`) reads
//! lines to a bound (`read_line`) from the `runs` it cuts the files into.
//!
//! [`draw_faults`]: mailsim::sim::draw_faults
//! [`MAX_LINE_BYTES`]: read_line::MAX_LINE_BYTES
//! [`MAX_OPEN_RUNS`]: merge::MAX_OPEN_RUNS
//! [`input::open_regular`]: super::input::open_regular

mod in_order;
mod line;
mod merge;
mod nights;
mod read_line;
mod runs;
mod summary;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::args::ScenarioArgs;

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

pub fn run(args: &SweepArgs, out: &mut impl Write) -> Result<(), CliError> {
    if args.merge.is_empty() {
        nights::sweep(args, out)
    } else {
        merge::merge(&args.merge, args.json, out)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
