//! How fast proptest finds a broken policy of one's own, and how small it
//! shrinks it, with proptest's default configuration: the figures the
//! testing module is built to (a median of at most 20 choices over 20
//! failures, never proptest's shrink cap).
//!
//! `cargo run --release --example shrinking --features proptest [-- SEEDS [slow|sqlite]]`
//! prints one line per seed and the medians; it exits 1 when a target is
//! missed. `slow` (the default) copies a quarter of a megabyte every 20 s,
//! `sqlite` 100 pages every 250 ms, as SQLite's example does.

use std::cell::Cell;
use std::time::{Duration, Instant};

use mailsim::VolumePath;
use mailsim::policy::{
    CopyBuilder, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession,
};
use mailsim::testing::{Scenarios, check_sound};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// An online copy through the server's own handle that never starts over
/// when the server writes: `step_bytes` every `interval` (a quarter of a
/// megabyte every 20 seconds; or SQLite's pace, 100 pages every 250 ms).
#[derive(Clone, Copy, Debug)]
struct BrokenOnlineCopy {
    step_bytes: u64,
    interval: Duration,
}

#[derive(Debug)]
struct Copying {
    policy: BrokenOnlineCopy,
    copy: Option<(CopyBuilder, u64)>,
    started: Option<mailsim::SimTime>,
}

impl SnapshotPolicy for BrokenOnlineCopy {
    fn name(&self) -> &str {
        "broken online copy"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(Copying {
            policy: *self,
            copy: None,
            started: None,
        })
    }
}

impl SnapshotSession for Copying {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        let (mut builder, pos) = self.copy.take().unwrap_or_default();
        let started = *self.started.get_or_insert(server.now());
        let len = server.len_bytes()?;
        let chunk = server.read_own(pos, self.policy.step_bytes)?;
        let pos = pos + chunk.len_bytes();
        builder.push(&chunk);
        if pos >= len {
            return Ok(Prepared::Image {
                content: builder.finish(len),
                taken_at: started,
            });
        }
        self.copy = Some((builder, pos));
        Ok(Prepared::Wait(self.policy.interval))
    }
}

/// One failure found and shrunk.
struct Found {
    to_find: Duration,
    cases: u32,
    choices: usize,
    iterations: u32,
    token: String,
    /// What of the scenario the shrunk night kept that a failure of this
    /// policy does not need: exclusions, faults, nights past the first.
    extras: Vec<String>,
}

fn find(seed: u8, policy: BrokenOnlineCopy) -> Option<Found> {
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let cap = config.max_shrink_iters();
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let started = Instant::now();
    let found_at = Cell::new(None::<Duration>);
    let (calls, calls_at_failure) = (Cell::new(0u32), Cell::new(0u32));
    let nights = Scenarios::default().snapshot(policy).night_strategy();
    let result = runner.run(&nights, |night| {
        calls.set(calls.get() + 1);
        let report = night
            .run()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_sound(&report).map_err(|v| {
            if found_at.get().is_none() {
                found_at.set(Some(started.elapsed()));
                calls_at_failure.set(calls.get());
            }
            TestCaseError::fail(v.to_string())
        })
    });
    let Err(TestError::Fail(_, night)) = result else {
        return None;
    };
    let iterations = calls.get() - calls_at_failure.get();
    assert!(
        iterations <= cap,
        "{iterations} shrink iterations, over the cap {cap}"
    );
    Some(Found {
        to_find: found_at.get()?,
        cases: calls_at_failure.get(),
        choices: night.choices.len(),
        iterations,
        token: night.replay_token(),
        extras: extras(&night.scenario),
    })
}

/// What `s` holds beyond the preset's single night without exclusions or
/// faults, as its scenario file names it.
fn extras(s: &mailsim::Scenario) -> Vec<String> {
    let json = s.to_json(None).expect("a scenario file names every policy");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let mut out = Vec::new();
    if doc["exclusions"].as_array().is_some_and(|e| !e.is_empty()) {
        out.push(format!("exclusions {}", doc["exclusions"]));
    }
    if doc["faults"].as_array().is_some_and(|f| !f.is_empty()) {
        out.push(format!("faults {}", doc["faults"]));
    }
    if doc["nights"].as_u64().is_some_and(|n| n > 1) {
        out.push(format!("{} nights", doc["nights"]));
    }
    out
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> T {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let seeds: u8 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("SEEDS: a number of seeds, 1 to 255"))
        .unwrap_or(20);
    let policy = match std::env::args().nth(2).as_deref() {
        None | Some("slow") => BrokenOnlineCopy {
            step_bytes: 256 * 1024,
            interval: Duration::from_secs(20),
        },
        Some("sqlite") => BrokenOnlineCopy {
            step_bytes: 100 * 4096,
            interval: Duration::from_millis(250),
        },
        Some(other) => panic!("{other:?}: the pace is slow (the default) or sqlite"),
    };
    println!("{policy:?}");
    let cap = Config::default().max_shrink_iters();
    println!("seed  found in  cases  shrunk choices  shrink iterations  kept  token");
    let mut all = Vec::new();
    let mut missed = 0;
    for seed in 1..=seeds {
        let Some(f) = find(seed, policy) else {
            println!("{seed:>4}  not found in {} cases", Config::default().cases);
            missed += 1;
            continue;
        };
        println!(
            "{seed:>4}  {:>6.2} s  {:>5}  {:>14}  {:>17}  {}  {}",
            f.to_find.as_secs_f64(),
            f.cases,
            f.choices,
            f.iterations,
            if f.extras.is_empty() {
                "-".to_owned()
            } else {
                f.extras.join("; ")
            },
            f.token
        );
        all.push(f);
    }
    if all.is_empty() {
        println!("no failure found in {seeds} seeds");
        std::process::exit(1);
    }
    let choices: Vec<usize> = all.iter().map(|f| f.choices).collect();
    let iterations: Vec<u32> = all.iter().map(|f| f.iterations).collect();
    let times: Vec<Duration> = all.iter().map(|f| f.to_find).collect();
    let (med, max) = (
        median(choices.clone()),
        choices.iter().copied().max().unwrap_or(0),
    );
    let capped = iterations.iter().filter(|&&i| i >= cap).count();
    println!(
        "{} failures ({missed} seeds found none): found in a median of {:.2} s (max {:.2} s); shrunk to a median of {med} choices (max {max}); shrink iterations median {} (max {}, cap {cap}, reached {capped} times)",
        all.len(),
        median(times.clone()).as_secs_f64(),
        times
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        median(iterations.clone()),
        iterations.iter().max().copied().unwrap_or(0),
    );
    let extras = all.iter().filter(|f| !f.extras.is_empty()).count();
    println!("{extras} kept an exclusion, a fault or a second night");
    if med > 20 || capped > 0 || extras > 0 {
        eprintln!(
            "target missed: a median of at most 20 choices, never the cap, nothing kept that the failure does not need"
        );
        std::process::exit(1);
    }
}
