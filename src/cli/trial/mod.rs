//! `mailsim trial -- COMMAND ARG…`: any backup command against a fresh
//! `serve`, N times, each copy judged with the server's history.
//!
//! For each try: a new folder with a fresh `mailsim serve` in it (this very
//! binary), left to serve a few requests; then COMMAND, with `{dir}` in its
//! arguments replaced by the served folder and `{out}` by a fresh, empty
//! output folder; then the server's outcome (it shut down, hung, or served
//! on), the copy of `Microsoft Mail Data` the command left under `{out}`
//! (trial extracts nothing itself), judged against `Microsoft Mail Data
//! History` as `verify --history` judges it. One line per try (one JSON
//! object with `--json`), then a summary: the torn rate and its 95 % Wilson
//! interval.
//!
//! Every wait is bounded: the server's start (10 s), the warm-up and the
//! command (`--timeout` each; a command still running then is killed with
//! its whole process group, and the try recorded as timed out), the
//! server's stop (10 s, then it is killed).
//!
//! What does not live here: one try's processes (`one`), the verdict
//! ([`mailsim::history`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use mailsim::sim::RequestMix;
use serde::Serialize;

use super::CliError;
use super::args::parse_duration_within;
use super::serve::OnConflict;

mod one;

use one::{CopyState, Try};

/// Flags of `mailsim trial`.
#[derive(Args, Debug)]
#[command(
    after_help = "Each try starts a fresh 'mailsim serve' in a new folder, waits for it to \
                  serve --warm-up requests, runs COMMAND with '{dir}' replaced by the served \
                  folder and '{out}' by a fresh, empty output folder, and judges the copy of \
                  'Microsoft Mail Data' that COMMAND left under {out} against the server's \
                  history (as 'mailsim verify COPY --history H' does).\n\nOne line per try \
                  (with --json one JSON object: try, noticed, opener, server_outcome \
                  [clean|graceful_shutdown|hang|file_taken], copy \
                  [consistent|torn|unknown|missing], generation, command_status [the exit \
                  code, null when killed], timed_out, folder [with --keep, else null]), then a summary (with --json one \
                  object: tries, torn, torn_rate, torn_rate_ci95 [a 95% Wilson interval, \
                  [low, high]], consistent, unknown, missing, noticed, timed_out).\n\nExample:\n  \
                  mailsim trial --on-conflict tolerate --tries 30 --rate 500 -- \\\n    sh -c \
                  'tar -cf - -C {dir} . | tar -xf - -C {out}'\n\nExit status: 0 every copy \
                  was consistent; 1 a copy was torn, unknown or missing, or a command timed \
                  out (or a runtime failure); 2 bad input (a flag out of range, COMMAND not \
                  found, --work-dir not a writable directory)."
)]
pub struct TrialArgs {
    /// How each try's server reacts to a foreign open of its data file.
    #[arg(long, value_enum, default_value_t = OnConflict::Shutdown, value_name = "REACTION")]
    on_conflict: OnConflict,

    /// How many tries, from 1 to 100000.
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    tries: u32,

    /// Requests each server serves per second (as `serve --rate`).
    #[arg(long, default_value_t = 100.0, value_name = "R", value_parser = super::serve::parse_rate)]
    rate: f64,

    /// The proportions of deliveries, reads and deletions (as `serve --mix`).
    #[arg(
        long,
        value_name = "deliver=N,read=N,delete=N",
        default_value_t = RequestMix::NIGHT,
        value_parser = super::serve::parse_mix
    )]
    mix: RequestMix,

    /// Requests each server serves before COMMAND starts, from 0 to 100000
    /// (bounded by --timeout).
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    warm_up: u32,

    /// Longest a command may run (and the warm-up may take), from 1ms to
    /// 24h: seconds, or a number with a unit ms, s, min or h.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Duration,

    /// Where the tries' folders are made (each removed after its try).
    /// [default: the system's temporary folder]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,

    /// Keep each try's folder (its `served` folder, with the data file and
    /// its history, and its `out` folder) in --work-dir, and name it.
    #[arg(long)]
    keep: bool,

    /// One JSON object per try, then one for the summary.
    #[arg(long)]
    json: bool,

    /// The backup command and its arguments; `{dir}` and `{out}` in them
    /// are replaced by the served folder and the output folder.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_within(text, "timeout")
}

/// What the tries add up to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    tries: u32,
    consistent: u32,
    torn: u32,
    unknown: u32,
    missing: u32,
    noticed: u32,
    timed_out: u32,
}

impl Tally {
    fn add(&mut self, t: &Try) {
        self.tries += 1;
        match t.copy {
            CopyState::Consistent => self.consistent += 1,
            CopyState::Torn => self.torn += 1,
            CopyState::Unknown => self.unknown += 1,
            CopyState::Missing => self.missing += 1,
        }
        self.noticed += u32::from(t.noticed);
        self.timed_out += u32::from(t.timed_out);
    }

    fn torn_rate(&self) -> f64 {
        if self.tries == 0 {
            0.0
        } else {
            f64::from(self.torn) / f64::from(self.tries)
        }
    }
}

/// The 95 % Wilson score interval of `k` successes in `n` tries, `[low,
/// high]`; `[0, 1]` for no tries.
fn wilson95(k: u32, n: u32) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (f64::from(k), f64::from(n));
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    [(center - half).max(0.0), (center + half).min(1.0)]
}

/// Rounds to 4 decimals for printing.
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub fn run(args: &TrialArgs, out: &mut impl Write) -> Result<(), CliError> {
    let program = one::resolve_program(&args.command[0])?;
    let work = match &args.work_dir {
        Some(d) => {
            super::input::check_writable_dir("--work-dir", d, d)?;
            d.clone()
        }
        None => std::env::temp_dir(),
    };
    let serve = std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find the mailsim binary: {e}")))?;
    let plan = one::Plan {
        serve: &serve,
        program: &program,
        args: &args.command[1..],
        on_conflict: args.on_conflict,
        rate: args.rate,
        mix: args.mix,
        warm_up: args.warm_up,
        timeout: args.timeout,
        work: &work,
        keep: args.keep,
    };
    let mut tally = Tally::default();
    for i in 1..=args.tries {
        let t = one::run(&plan, i)?;
        tally.add(&t);
        print_try(out, &t, args.json)?;
    }
    print_summary(out, &tally, args.json)?;
    let all_good = tally.consistent == tally.tries && tally.timed_out == 0;
    if all_good {
        Ok(())
    } else {
        Err(CliError::Status(1))
    }
}

/// One try as a JSON line, its keys in this order.
#[derive(Serialize)]
struct TryLine<'a> {
    r#try: u32,
    noticed: bool,
    opener: Option<&'a str>,
    server_outcome: &'static str,
    copy: &'static str,
    generation: Option<u64>,
    command_status: Option<i32>,
    timed_out: bool,
    folder: Option<&'a Path>,
}

/// The summary as a JSON line.
#[derive(Serialize)]
struct SummaryLine {
    tries: u32,
    torn: u32,
    torn_rate: f64,
    torn_rate_ci95: [f64; 2],
    consistent: u32,
    unknown: u32,
    missing: u32,
    noticed: u32,
    timed_out: u32,
}

fn print_try(out: &mut impl Write, t: &Try, json: bool) -> Result<(), CliError> {
    if json {
        let v = serde_json::to_string(&TryLine {
            r#try: t.index,
            noticed: t.noticed,
            opener: t.opener.as_deref(),
            server_outcome: t.server_outcome.as_str(),
            copy: t.copy.as_str(),
            generation: t.generation,
            command_status: t.command_status,
            timed_out: t.timed_out,
            folder: t.folder.as_deref(),
        })
        .map_err(|e| CliError::Runtime(e.to_string()))?;
        writeln!(out, "{v}")?;
    } else {
        let noticed = match (&t.noticed, &t.opener) {
            (true, Some(who)) => format!("noticed, opened by {who}"),
            (true, None) => "noticed".to_owned(),
            (false, _) => "not noticed".to_owned(),
        };
        let copy = match (t.copy, t.generation) {
            (CopyState::Consistent, Some(g)) => format!("consistent at generation {g}"),
            (c, _) => c.as_str().to_owned(),
        };
        let status = match (t.command_status, t.timed_out) {
            (_, true) => "killed at the time limit".to_owned(),
            (Some(code), false) => format!("exit {code}"),
            (None, false) => "killed by a signal".to_owned(),
        };
        let kept = t
            .folder
            .as_ref()
            .map(|f| format!(" (kept in {})", f.display()))
            .unwrap_or_default();
        writeln!(
            out,
            "try {}: {noticed}; server {}; copy {copy}; command {status}{kept}",
            t.index,
            t.server_outcome.as_str(),
        )?;
    }
    out.flush()?;
    Ok(())
}

fn print_summary(out: &mut impl Write, s: &Tally, json: bool) -> Result<(), CliError> {
    let [low, high] = wilson95(s.torn, s.tries);
    if json {
        let v = serde_json::to_string(&SummaryLine {
            tries: s.tries,
            torn: s.torn,
            torn_rate: r4(s.torn_rate()),
            torn_rate_ci95: [r4(low), r4(high)],
            consistent: s.consistent,
            unknown: s.unknown,
            missing: s.missing,
            noticed: s.noticed,
            timed_out: s.timed_out,
        })
        .map_err(|e| CliError::Runtime(e.to_string()))?;
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "{} tries: {} torn (torn rate {:.3}, 95% CI [{:.3}, {:.3}]), {} consistent, {} \
             unknown, {} missing; {} noticed; {} timed out",
            s.tries,
            s.torn,
            s.torn_rate(),
            low,
            high,
            s.consistent,
            s.unknown,
            s.missing,
            s.noticed,
            s.timed_out
        )?;
    }
    Ok(())
}

/// `arg` with every `{dir}` and `{out}` replaced.
fn substitute(arg: &str, dir: &Path, out: &Path) -> String {
    arg.replace("{dir}", &dir.to_string_lossy())
        .replace("{out}", &out.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_are_the_textbook_s() {
        // 5 of 30: (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n), by hand.
        let [lo, hi] = wilson95(5, 30);
        assert_eq!((r4(lo), r4(hi)), (0.0734, 0.3356));
        // None of 330: the upper bound is z²/(n+z²).
        let [lo, hi] = wilson95(0, 330);
        assert_eq!(lo, 0.0);
        assert_eq!(r4(hi), 0.0115);
        let [lo, hi] = wilson95(10, 10);
        assert_eq!((r4(lo), r4(hi)), (0.7225, 1.0));
        assert_eq!(wilson95(0, 0), [0.0, 1.0]);
    }

    #[test]
    fn placeholders_are_replaced_everywhere() {
        let (d, o) = (Path::new("/t/served"), Path::new("/t/out"));
        assert_eq!(
            substitute("tar -cf - -C {dir} . | tar -xf - -C {out}", d, o),
            "tar -cf - -C /t/served . | tar -xf - -C /t/out"
        );
        assert_eq!(
            substitute("{dir}/{dir}{out}", d, o),
            "/t/served//t/served/t/out"
        );
        assert_eq!(substitute("plain", d, o), "plain");
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(parse_timeout("60s"), Ok(Duration::from_secs(60)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("25h").is_err());
        assert!(parse_timeout("soon").is_err());
    }
}
