//! Exhaustive exploration against a general-purpose model checker.
//!
//! The question (issue 5): a Mail Data file of P pages; the server commits W
//! transactions, transaction w rewriting the header page and data page
//! 1 + (w - 1) mod (P - 1); the backup opens the file and copies its pages
//! in order, one page per step; the two interleave arbitrarily. Is every
//! copy consistent — do all copied pages hold the versions they had at one
//! generation (each page's version interval running from the transaction
//! that wrote it to the next one that rewrites it)?
//!
//! The same question is written here as a stateright 0.31 model and checked
//! with its depth-first checker, single-threaded, next to
//! `mailsim::testing::explore` on the scenario that poses it:
//!
//! - `tolerate_w40_p40_find_torn`: W = P = 40, a server that tolerates the
//!   open, the backup reading the live file: both stop at the first torn copy;
//! - `copy_on_write_w100_p100_prove`: W = P = 100, the backup reading an image
//!   taken at the open: both visit every state and find no torn copy.
//!
//! - `user_policy_pause_clone_resume_w8_p8_prove`: a snapshot policy written
//!   as a user writes one (pause the server, clone, resume), which the
//!   explorer drives through the night's own state machine: it visits every
//!   state at W = P = 8 and finds no torn copy. Printed once beside it: the
//!   largest W = P whose proof completes within 10 s.
//!
//! `cargo bench --bench explore --no-default-features --features proptest`
//! prints once, for each side, the distinct states visited and the states per
//! second of one run, then criterion's timings.

#[cfg(feature = "proptest")]
mod bench {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use mailsim::policy::{
        CopyOnWrite, LiveRead, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession,
    };
    use mailsim::testing::{Bounds, Exploration, explore, explore_until};
    use mailsim::{ConflictBehavior, Outcome, Scenario, VolumePath};
    use stateright::{Checker, HasDiscoveries, Model, Property};

    /// The question as a stateright model.
    #[derive(Clone, Copy, Debug)]
    pub struct Question {
        /// Transactions (W).
        pub transactions: u32,
        /// Pages (P).
        pub pages: u32,
        /// Copy-on-write: the backup copies an image taken at the open.
        pub image: bool,
    }

    /// Transactions committed; whether the backup has opened the file; the
    /// image's generation (copy-on-write); the versions of the pages copied so
    /// far (their count is the backup's position). The live file's page
    /// versions follow from the transactions committed and are computed
    /// when a page is read.
    #[derive(Clone, Debug, Hash, PartialEq, Eq)]
    pub struct Night {
        committed: u32,
        opened: bool,
        snapshot: u32,
        copied: Vec<u32>,
    }

    /// A move of either side.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Step {
        /// The server commits the next transaction.
        Commit,
        /// The backup opens the file (under copy-on-write, the image is taken).
        Open,
        /// The backup copies the next page.
        Copy,
    }

    impl Question {
        /// The version page `p` holds at generation `g`: the last
        /// transaction up to `g` that wrote it (0: the initial contents).
        fn version(&self, p: u32, g: u32) -> u32 {
            let m = self.pages - 1;
            match p {
                0 => g,
                _ if g < p => 0,
                _ => p + (g - p) / m * m,
            }
        }

        /// The next transaction after version `v` that rewrites page `p`.
        fn next_rewrite(&self, p: u32, v: u32) -> u32 {
            let next = match (p, v) {
                (0, _) => v + 1,
                (_, 0) => p,
                _ => v + (self.pages - 1),
            };
            if next > self.transactions {
                u32::MAX
            } else {
                next
            }
        }

        /// Whether the copied versions share a generation.
        fn consistent(&self, copied: &[u32]) -> bool {
            let (mut lo, mut hi) = (0, u32::MAX);
            for (p, &v) in (0u32..).zip(copied) {
                lo = lo.max(v);
                hi = hi.min(self.next_rewrite(p, v));
            }
            lo < hi
        }
    }

    impl Model for Question {
        type State = Night;
        type Action = Step;

        fn init_states(&self) -> Vec<Night> {
            vec![Night {
                committed: 0,
                opened: false,
                snapshot: 0,
                copied: Vec::new(),
            }]
        }

        fn actions(&self, s: &Night, actions: &mut Vec<Step>) {
            if s.committed < self.transactions {
                actions.push(Step::Commit);
            }
            if !s.opened {
                actions.push(Step::Open);
            } else if (s.copied.len() as u32) < self.pages {
                actions.push(Step::Copy);
            }
        }

        fn next_state(&self, s: &Night, action: Step) -> Option<Night> {
            let mut next = s.clone();
            match action {
                Step::Commit => next.committed += 1,
                Step::Open => {
                    next.opened = true;
                    next.snapshot = s.committed;
                }
                Step::Copy => {
                    let page = s.copied.len() as u32;
                    let at = if self.image { s.snapshot } else { s.committed };
                    next.copied.push(self.version(page, at));
                }
            }
            Some(next)
        }

        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::always(
                "copy is consistent",
                |q: &Question, s: &Night| {
                    (s.copied.len() as u32) < q.pages || q.consistent(&s.copied)
                },
            )]
        }
    }

    /// Stateright's depth-first checker, one thread, stopping at the first
    /// torn copy: (unique states, found).
    fn stateright_find(w: u32, p: u32) -> (usize, bool) {
        let c = Question {
            transactions: w,
            pages: p,
            image: false,
        }
        .checker()
        .finish_when(HasDiscoveries::AnyFailures)
        .spawn_dfs()
        .join();
        (
            c.unique_state_count(),
            c.discovery("copy is consistent").is_some(),
        )
    }

    /// Stateright's depth-first checker over the whole copy-on-write space:
    /// (unique states, a torn copy found).
    fn stateright_prove(w: u32, p: u32) -> (usize, bool) {
        let c = Question {
            transactions: w,
            pages: p,
            image: true,
        }
        .checker()
        .spawn_dfs()
        .join();
        assert!(c.is_done());
        (
            c.unique_state_count(),
            c.discovery("copy is consistent").is_some(),
        )
    }

    fn tolerate() -> Scenario {
        Scenario::kb98097()
            .conflict_behavior(ConflictBehavior::Tolerate)
            .snapshot(LiveRead)
    }

    fn copy_on_write() -> Scenario {
        Scenario::kb98097()
            .conflict_behavior(ConflictBehavior::Tolerate)
            .snapshot(CopyOnWrite)
    }

    fn ours_find(s: &Scenario, w: u32, p: u32) -> Exploration {
        let e = explore_until(s, Bounds::new(w, p), |o| o == Outcome::Corrupted)
            .expect("a built-in policy");
        assert!(e.reaches(Outcome::Corrupted));
        e
    }

    fn ours_prove(s: &Scenario, w: u32, p: u32) -> Exploration {
        let e = explore(s, Bounds::new(w, p)).expect("a built-in policy");
        assert!(e.complete && !e.reaches(Outcome::Corrupted));
        e
    }

    /// One timed run, printed: states and states per second.
    fn report(label: &str, f: impl FnOnce() -> u64) {
        let t = Instant::now();
        let states = f();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {states} states in {:.4} s, {:.2} million states/s",
            secs,
            states as f64 / secs / 1e6
        );
    }

    pub fn find_torn(c: &mut Criterion) {
        let (w, p) = (40, 40);
        let s = tolerate();
        report("tolerate_w40_p40_find_torn stateright dfs", || {
            let (n, found) = stateright_find(w, p);
            assert!(found, "stateright finds the torn copy");
            n as u64
        });
        report("tolerate_w40_p40_find_torn mailsim explore_until", || {
            ours_find(&s, w, p).states
        });
        let mut g = c.benchmark_group("tolerate_w40_p40_find_torn");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g.bench_function("stateright_dfs", |b| {
            b.iter(|| black_box(stateright_find(w, p)))
        });
        g.bench_function("mailsim_explore_until", |b| {
            b.iter(|| black_box(ours_find(&s, w, p).states))
        });
        g.finish();
    }

    pub fn prove_copy_on_write(c: &mut Criterion) {
        let (w, p) = (100, 100);
        let s = copy_on_write();
        report("copy_on_write_w100_p100_prove stateright dfs", || {
            let (n, found) = stateright_prove(w, p);
            assert!(!found, "no torn copy under copy-on-write");
            n as u64
        });
        report("copy_on_write_w100_p100_prove mailsim explore", || {
            ours_prove(&s, w, p).states
        });
        let mut g = c.benchmark_group("copy_on_write_w100_p100_prove");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4));
        g.bench_function("stateright_dfs", |b| {
            b.iter(|| black_box(stateright_prove(w, p)))
        });
        g.bench_function("mailsim_explore", |b| {
            b.iter(|| black_box(ours_prove(&s, w, p).states))
        });
        g.finish();
    }

    /// Pause the server, take a clone, resume: a user's policy, not a
    /// built-in, so the explorer runs the night's own machine.
    #[derive(Debug)]
    struct PauseCloneResume;

    #[derive(Debug)]
    struct PauseCloneResumeNight;

    impl SnapshotPolicy for PauseCloneResume {
        fn name(&self) -> &str {
            "pause, clone, resume"
        }
        fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
            Box::new(PauseCloneResumeNight)
        }
    }

    impl SnapshotSession for PauseCloneResumeNight {
        fn before_live_file(
            &mut self,
            server: &mut dyn ServerControl,
            _: &VolumePath,
        ) -> mailsim::Result<Prepared> {
            server.pause("a clone");
            let content = server.clone_image();
            server.resume();
            Ok(Prepared::Image {
                content: content?,
                taken_at: server.now(),
            })
        }
        fn state_key(&self) -> Option<u64> {
            Some(0)
        }
    }

    fn user_policy() -> Scenario {
        Scenario::kb98097()
            .conflict_behavior(ConflictBehavior::Tolerate)
            .snapshot(PauseCloneResume)
    }

    /// Proves the user's policy at W = P = n, or says it could not.
    fn ours_prove_user(s: &Scenario, n: u32, max_states: u64) -> Option<Exploration> {
        let e = explore(s, Bounds::new(n, n).max_states(max_states)).expect("any policy");
        assert!(!e.reaches(Outcome::Corrupted), "{e}");
        e.complete.then_some(e)
    }

    pub fn prove_user_policy(c: &mut Criterion) {
        let s = user_policy();
        report(
            "user_policy_pause_clone_resume_w8_p8_prove mailsim explore",
            || ours_prove_user(&s, 8, u64::MAX).expect("complete").states,
        );
        // The largest W = P proved within 10 s, growing n by one; a cap on
        // the states keeps the last try bounded.
        let budget = Duration::from_secs(10);
        let mut largest = None;
        for n in 2.. {
            let t = Instant::now();
            let Some(e) = ours_prove_user(&s, n, 20_000_000) else {
                break;
            };
            let took = t.elapsed();
            if took > budget {
                eprintln!(
                    "  W = P = {n}: {} states in {took:.1?}, over 10 s",
                    e.states
                );
                break;
            }
            largest = Some((n, e.states, took));
        }
        if let Some((n, states, took)) = largest {
            eprintln!(
                "user_policy_pause_clone_resume: largest W = P proved within 10 s: {n} ({states} states in {took:.1?})"
            );
        }
        let mut g = c.benchmark_group("user_policy_pause_clone_resume_w8_p8_prove");
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(4));
        g.bench_function("mailsim_explore", |b| {
            b.iter(|| black_box(ours_prove_user(&s, 8, u64::MAX).map(|e| e.states)))
        });
        g.finish();
    }
}

#[cfg(feature = "proptest")]
criterion::criterion_group!(
    benches,
    bench::find_torn,
    bench::prove_copy_on_write,
    bench::prove_user_policy
);
#[cfg(feature = "proptest")]
criterion::criterion_main!(benches);

/// Without the `proptest` feature there is no `mailsim::testing` to measure.
#[cfg(not(feature = "proptest"))]
fn main() {
    eprintln!(
        "benches/explore.rs needs the `proptest` feature: cargo bench --bench explore --features proptest"
    );
}
