//! The sweep itself: this shard's nights, each the scenario with its seed
//! and its faults, run and checked on many threads ([`sweep`]), written in
//! case order as they come, with a progress bar on a terminal.
//!
//! What does not live here: handing work out in order (`in_order`), the
//! line a night becomes (`line`), and the summary (`summary`).

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use mailsim::Scenario;
use mailsim::sim::{Fault, draw_faults};

use super::in_order::run_in_order;
use super::line::Line;
use super::summary::Summary;
use super::{Shard, SweepArgs, write_summary};
use crate::cli::CliError;

/// Runs this shard's nights on `--jobs` threads, writes their JSON lines
/// in case order (with `--json`) and the summary.
pub(super) fn sweep(args: &SweepArgs, out: &mut impl Write) -> Result<(), CliError> {
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

    let header = shard_header(args, shard, cases, nights);
    let speed = speed(nights, elapsed, jobs);
    let text = summary.render(&header, Some(&speed));
    write_summary(&text, args.json, out)
}

/// The summary's first line: which nights of the sweep these are.
fn shard_header(args: &SweepArgs, shard: Shard, cases: u64, nights: u64) -> String {
    let first = shard.index - 1;
    let last = cases - 1;
    if shard.count > 1 {
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
    }
}

/// How fast the nights ran.
fn speed(nights: u64, elapsed: Duration, jobs: usize) -> String {
    let secs = elapsed.as_secs_f64();
    format!(
        "{:.0} nights/s ({nights} nights in {secs:.2} s on {jobs} thread{})",
        if secs > 0.0 {
            nights as f64 / secs
        } else {
            0.0
        },
        if jobs == 1 { "" } else { "s" }
    )
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
