//! Sweep scaling: `mailsim sweep` on 2 threads against 1 thread, and its
//! peak memory for 10,000 nights against 100,000.
//!
//! A custom harness around the built command (`cargo bench --bench sweep`
//! builds it in the release profile, as `target/release/mailsim`), since what
//! is measured is a whole process: its wall time and its peak resident set.
//!
//! - Throughput: `mailsim sweep --cases 2000 --jobs J --json > /dev/null`
//!   for J = 1 and 2, run alternately, best of 3 each; nights per second is
//!   the cases over the wall time (process start to exit).
//! - Memory: `/usr/bin/time -v mailsim sweep --cases N --jobs 2 --json >
//!   /dev/null` for N = 10,000 and 100,000; "Maximum resident set size".
//!   (`apt-get install -y time` where `/usr/bin/time` is missing.)
//!
//! Flags: `-- --cases N --runs R --mem 10000,100000 --no-mem`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailsim");

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

fn wall(cases: u64, jobs: u32) -> Duration {
    let t = Instant::now();
    let out = sweep(cases, jobs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the mailsim binary runs");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "mailsim sweep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

/// Peak resident set in KiB, per `/usr/bin/time -v`.
fn peak_rss_kib(cases: u64, jobs: u32) -> Option<u64> {
    let sweep = sweep(cases, jobs);
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(sweep.get_program())
        .args(sweep.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "mailsim sweep failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

fn main() {
    let mut cases = 2000u64;
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
    for run in 1..=runs {
        for (i, jobs) in [1u32, 2].into_iter().enumerate() {
            let d = wall(cases, jobs);
            println!(
                "run {run}: --cases {cases} --jobs {jobs}: {:.3} s, {:.0} nights/s",
                d.as_secs_f64(),
                cases as f64 / d.as_secs_f64()
            );
            best[i] = best[i].min(d);
        }
    }
    let rate = best.map(|d| cases as f64 / d.as_secs_f64());
    println!(
        "best of {runs}: --jobs 1 {:.0} nights/s, --jobs 2 {:.0} nights/s, ratio {:.2}x (target >= 1.8x)",
        rate[0],
        rate[1],
        rate[1] / rate[0]
    );

    let mut peaks = Vec::new();
    for &n in &mem {
        match peak_rss_kib(n, 2) {
            Some(kib) => {
                println!("--cases {n} --jobs 2: peak RSS {kib} KiB");
                peaks.push(kib);
            }
            None => {
                println!("--cases {n}: /usr/bin/time -v unavailable (apt-get install -y time)");
            }
        }
    }
    if let [small, large] = peaks[..] {
        println!(
            "peak RSS growth {}x cases: {:+.1}% (target <= +10%)",
            mem[1] / mem[0].max(1),
            (large as f64 / small as f64 - 1.0) * 100.0
        );
    }
}
