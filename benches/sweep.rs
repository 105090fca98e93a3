//! Sweep scaling: `mailsim sweep` on 2 threads against 1 thread, and its
//! peak memory for 10,000 nights against 100,000.
//!
//! A custom harness around the built command (`cargo bench --bench sweep`
//! builds it in the release profile, as `target/release/mailsim`), since what
//! is measured is a whole process: its wall time and its peak resident set.
//!
//! - Throughput: `mailsim sweep --cases 10000 --jobs J --json > /dev/null`
//!   for J = 1 and 2, run alternately, best of 3 each; nights per second is
//!   the cases over the wall time (process start to exit). Ten thousand
//!   nights take about two seconds on one thread: long enough that starting
//!   the process and building each thread's preset do not weigh on the
//!   ratio.
//! - Memory: `mailsim sweep --cases N --jobs 2 --json > /dev/null` for
//!   N = 10,000 and 100,000 under `/usr/bin/time` (`%M`, the same figure as
//!   `-v`'s "Maximum resident set size"); the lower of 2 runs each.
//!   (`apt-get install -y time` where `/usr/bin/time` is missing.)
//! - On a shared machine the 2-thread wall time depends on what else runs;
//!   each run's CPU time (user + system, from `/usr/bin/time`) is printed
//!   too: the CPU of 2 threads against 1 for the same nights is what running
//!   in parallel costs the sweep itself.
//!
//! Flags: `-- --cases N --runs R --mem 10000,100000 --no-mem`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailsim");
const TIME: &str = "/usr/bin/time";
const MARK: &str = "MAILSIM_BENCH_TIME";

fn sweep(cases: u64, jobs: u32) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "sweep",
        "--cases",
        &cases.to_string(),
        "--jobs",
        &jobs.to_string(),
        "--json",
    ]);
    c
}

/// One run of the command: wall time, and (through `/usr/bin/time`, where
/// it is installed) CPU time and peak resident set.
struct Run {
    wall: Duration,
    cpu: Option<Duration>,
    peak_rss_kib: Option<u64>,
}

fn run(cases: u64, jobs: u32) -> Run {
    let sweep = sweep(cases, jobs);
    let mut cmd = if Path::new(TIME).exists() {
        let mut c = Command::new(TIME);
        c.arg("-f")
            .arg(format!("{MARK} %U %S %M"))
            .arg(sweep.get_program())
            .args(sweep.get_args());
        c
    } else {
        sweep
    };
    let t = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the mailsim binary runs");
    let wall = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mailsim sweep failed: {stderr}");
    let fields: Vec<&str> = stderr
        .lines()
        .find_map(|l| l.strip_prefix(MARK))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let secs = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Run {
        wall,
        cpu: secs(0)
            .zip(secs(1))
            .map(|(u, s)| Duration::from_secs_f64(u + s)),
        peak_rss_kib: fields.get(2).and_then(|v| v.parse().ok()),
    }
}

fn main() {
    let mut cases = 10_000u64;
    let mut runs = 3usize;
    let mut mem = vec![10_000u64, 100_000];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cases" => cases = args.next().and_then(|v| v.parse().ok()).expect("--cases N"),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs R"),
            "--mem" => {
                mem = args
                    .next()
                    .expect("--mem 10000,100000")
                    .split(',')
                    .map(|s| s.parse().expect("a count"))
                    .collect()
            }
            "--no-mem" => mem.clear(),
            // `cargo bench` passes --bench.
            _ => {}
        }
    }

    println!("binary: {BIN}");
    let mut best = [Duration::MAX; 2];
    let mut best_cpu = [Duration::MAX; 2];
    for round in 1..=runs {
        for (i, jobs) in [1u32, 2].into_iter().enumerate() {
            let r = run(cases, jobs);
            let cpu = r
                .cpu
                .map(|c| format!(", CPU {:.3} s", c.as_secs_f64()))
                .unwrap_or_default();
            println!(
                "run {round}: --cases {cases} --jobs {jobs}: {:.3} s, {:.0} nights/s{cpu}",
                r.wall.as_secs_f64(),
                cases as f64 / r.wall.as_secs_f64()
            );
            best[i] = best[i].min(r.wall);
            if let Some(c) = r.cpu {
                best_cpu[i] = best_cpu[i].min(c);
            }
        }
    }
    let rate = best.map(|d| cases as f64 / d.as_secs_f64());
    println!(
        "best of {runs}: --jobs 1 {:.0} nights/s, --jobs 2 {:.0} nights/s, ratio {:.2}x (target >= 1.8x)",
        rate[0],
        rate[1],
        rate[1] / rate[0]
    );
    if best_cpu.iter().all(|&c| c < Duration::MAX) {
        println!(
            "CPU time (best): --jobs 1 {:.3} s, --jobs 2 {:.3} s: 2 threads spend {:.2}x the CPU of 1 on the same nights",
            best_cpu[0].as_secs_f64(),
            best_cpu[1].as_secs_f64(),
            best_cpu[1].as_secs_f64() / best_cpu[0].as_secs_f64()
        );
    }

    let mut peaks = Vec::new();
    for &n in &mem {
        match (0..2).filter_map(|_| run(n, 2).peak_rss_kib).min() {
            Some(kib) => {
                println!("--cases {n} --jobs 2: peak RSS {kib} KiB");
                peaks.push(kib);
            }
            None => println!("--cases {n}: {TIME} missing (apt-get install -y time)"),
        }
    }
    if let [small, large] = peaks[..] {
        println!(
            "peak RSS, {}x the cases: {:+.1}% (target <= +10%)",
            mem[1] / mem[0].max(1),
            (large as f64 / small as f64 - 1.0) * 100.0
        );
    }
}
