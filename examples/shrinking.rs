//! How fast proptest finds a broken policy of one's own, and how small it
//! shrinks it, with proptest's default configuration: the figures the
//! testing module is built to (a median of at most 20 choices over 20
//! failures, never proptest's shrink cap).
//!
//! `cargo run --release --example shrinking --features proptest [-- SEEDS]`
//! prints one line per seed and the medians; it exits 1 when a target is
//! missed.

use std::cell::Cell;
use std::time::{Duration, Instant};

use mailsim::VolumePath;
use mailsim::policy::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use mailsim::testing::{Scenarios, check_sound};
use mailsim::volume::CopyBuilder;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// An online copy through the server's own handle that never starts over
/// when the server writes: a quarter of a megabyte every 20 seconds.
#[derive(Debug)]
struct BrokenOnlineCopy;

#[derive(Debug, Default)]
struct Copying {
    copy: Option<(CopyBuilder, u64)>,
    started: Option<mailsim::SimTime>,
}

impl SnapshotPolicy for BrokenOnlineCopy {
    fn name(&self) -> &str {
        "broken online copy"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(Copying::default())
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
        let chunk = server.read_own(pos, 256 * 1024)?;
        let pos = pos + chunk.len_bytes();
        builder.push(&chunk);
        if pos >= len {
            return Ok(Prepared::Image {
                content: builder.finish(len),
                taken_at: started,
            });
        }
        self.copy = Some((builder, pos));
        Ok(Prepared::Wait(Duration::from_secs(20)))
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

fn find(seed: u8) -> Option<Found> {
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
    let nights = Scenarios::default()
        .snapshot(BrokenOnlineCopy)
        .night_strategy();
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
    let cap = Config::default().max_shrink_iters();
    println!("seed  found in  cases  shrunk choices  shrink iterations  kept  token");
    let mut all = Vec::new();
    for seed in 1..=seeds {
        let Some(f) = find(seed) else {
            println!("{seed:>4}  not found in {} cases", Config::default().cases);
            std::process::exit(1);
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
    let choices: Vec<usize> = all.iter().map(|f| f.choices).collect();
    let iterations: Vec<u32> = all.iter().map(|f| f.iterations).collect();
    let times: Vec<Duration> = all.iter().map(|f| f.to_find).collect();
    let (med, max) = (
        median(choices.clone()),
        choices.iter().copied().max().unwrap_or(0),
    );
    let capped = iterations.iter().filter(|&&i| i >= cap).count();
    println!(
        "{} failures: found in a median of {:.2} s (max {:.2} s); shrunk to a median of {med} choices (max {max}); shrink iterations median {} (max {}, cap {cap}, reached {capped} times)",
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
