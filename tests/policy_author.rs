//! What a policy author does, as a crate of their own would do it — only
//! mailsim's public API: write a sound snapshot policy and three broken
//! ones; find each broken one with proptest and `check_sound`, and with the
//! explorer; shrink it; print its replay token; replay the token with the
//! policy supplied; get the same report. The sound one passes both.

use std::time::Duration;

use mailsim::invariants::Invariant;
use mailsim::policy::{
    Chunk, CopyBuilder, Entry, ExclusionPolicy, NightInfo, Prepared, ServerControl, SimTime,
    SnapshotPolicy, SnapshotSession,
};
use mailsim::testing::{
    Bounds, Night, Scenarios, check_sound, explore, explore_until, replay_explored,
};
use mailsim::{ConflictBehavior, Outcome, Report, Scenario, VolumePath};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Sound: pause the server, take a point-in-time clone, resume.
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
        let content = server.clone_image_and_resume()?;
        Ok(Prepared::Image {
            content,
            taken_at: server.now(),
        })
    }
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

/// Broken: an online copy through the server's own handle that never
/// starts over when the server writes (SQLite's backup without its
/// restart): a torn copy.
#[derive(Debug)]
struct BrokenOnlineCopy;

#[derive(Debug, Default)]
struct BrokenOnlineNight {
    copied: Vec<Chunk>,
    pos: u64,
    started: Option<SimTime>,
}

impl SnapshotPolicy for BrokenOnlineCopy {
    fn name(&self) -> &str {
        "broken online copy"
    }
    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(BrokenOnlineNight::default())
    }
}

impl SnapshotSession for BrokenOnlineNight {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        let started = *self.started.get_or_insert(server.now());
        let len = server.len_bytes()?;
        if self.pos < len {
            // A page a second: slow enough for the explorer's small files
            // to be written mid-copy.
            let chunk = server.read_own(self.pos, 4096)?;
            self.pos += chunk.len_bytes();
            self.copied.push(chunk);
            return Ok(Prepared::Wait(Duration::from_secs(1)));
        }
        let mut copy = CopyBuilder::default();
        for c in &self.copied {
            copy.push(c);
        }
        Ok(Prepared::Image {
            content: copy.finish(self.pos),
            taken_at: started,
        })
    }
}

/// Broken: named like a snapshot, but hands the backup the live file.
#[derive(Debug)]
struct FakeSnapshot;

#[derive(Debug)]
struct FakeSnapshotNight;

impl SnapshotPolicy for FakeSnapshot {
    fn name(&self) -> &str {
        "fake snapshot"
    }
    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(FakeSnapshotNight)
    }
}

impl SnapshotSession for FakeSnapshotNight {
    fn before_live_file(
        &mut self,
        _: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        Ok(Prepared::ReadLive)
    }
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

/// Broken: pauses the server for the clone and forgets to resume it.
#[derive(Debug)]
struct PauseForever;

#[derive(Debug)]
struct PauseForeverNight;

impl SnapshotPolicy for PauseForever {
    fn name(&self) -> &str {
        "pause forever"
    }
    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(PauseForeverNight)
    }
}

impl SnapshotSession for PauseForeverNight {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        server.pause("a clone");
        Ok(Prepared::Image {
            content: server.clone_image()?,
            taken_at: server.now(),
        })
    }
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

/// proptest's default configuration, without a regressions file; the
/// number of cases from `PROPTEST_CASES` when set.
fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(Config::default().cases),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs the property "every night is sound" over nights of `policy`.
fn sound_nights(policy: impl SnapshotPolicy + 'static) -> Result<(), Box<TestError<Night>>> {
    let nights = Scenarios::default().snapshot(policy).night_strategy();
    TestRunner::new(config())
        .run(&nights, |night| {
            let report = night
                .run()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_sound(&report).map_err(|v| TestCaseError::fail(v.to_string()))
        })
        .map_err(Box::new)
}

/// Finds `policy` unsound with proptest, checks the shrunk night, and
/// replays its token with the policy supplied: the same report.
fn found_shrunk_and_replayed<P: SnapshotPolicy + 'static>(
    policy: fn() -> P,
    broken: &[Invariant],
) -> (Night, Report) {
    let Err(TestError::Fail(why, night)) = sound_nights(policy()).map_err(|e| *e) else {
        panic!("{} went unnoticed", policy().name());
    };
    let report = night.run().unwrap();
    let violation = check_sound(&report).expect_err("the shrunk night still fails");
    assert_eq!(violation.to_string(), why.message());
    assert!(broken.contains(&violation.invariant), "{violation}");
    assert!(
        violation.event_in(&report).is_some(),
        "{violation} points at no event"
    );
    // Small, and nothing kept that the failure does not need.
    assert!(night.choices.len() <= 64, "{} choices", night.choices.len());
    assert!(night.scenario.faults().is_empty(), "{night:?}");
    // Printed as its token and the code that replays it.
    let printed = format!("{night:?}");
    let token = night.replay_token();
    println!("{}: {violation}\n{printed}", policy().name());
    assert!(
        printed.contains(&format!("from_replay_token(\"{token}\")")),
        "{printed}"
    );
    assert!(printed.contains(policy().name()), "{printed}");
    assert!(token.len() < 1_000, "{token}");
    // The token without the policy is an error naming it; with it, the
    // same night.
    let loaded = Scenario::from_replay_token(&token).unwrap();
    let missing = loaded.run().unwrap_err().to_string();
    assert!(missing.contains(policy().name()), "{missing}");
    let again = loaded.snapshot(policy()).run().unwrap();
    assert_eq!(again.to_json(), report.to_json());
    assert_eq!(again.replay_token(), report.replay_token());
    (night, report)
}

#[test]
fn the_sound_policy_keeps_every_night_sound() {
    if let Err(e) = sound_nights(PauseCloneResume) {
        panic!("{e}");
    }
}

#[test]
fn the_broken_online_copy_is_found_torn_and_replays() {
    let (_, report) = found_shrunk_and_replayed(|| BrokenOnlineCopy, &[Invariant::NoTornCopy]);
    assert_eq!(report.outcome(), Outcome::Corrupted);
}

#[test]
fn the_fake_snapshot_is_found_opening_the_live_file_and_replays() {
    let (_, report) =
        found_shrunk_and_replayed(|| FakeSnapshot, &[Invariant::BackupNeverOpenedLiveFile]);
    assert!(
        report
            .timeline()
            .iter()
            .any(|e| matches!(e.kind, mailsim::report::EventKind::ForeignAccess { .. }))
    );
}

#[test]
fn the_policy_that_never_resumes_is_found_and_replays() {
    found_shrunk_and_replayed(|| PauseForever, &[Invariant::NoUnboundedWait]);
}

fn night_of(behavior: ConflictBehavior) -> Scenario {
    Scenario::kb98097().conflict_behavior(behavior)
}

#[test]
fn the_explorer_proves_the_sound_policy_sound_in_small_nights() {
    for behavior in [ConflictBehavior::Shutdown, ConflictBehavior::Tolerate] {
        let s = night_of(behavior).snapshot(PauseCloneResume);
        let proof = explore(&s, Bounds::new(6, 6)).unwrap();
        assert!(proof.complete, "{proof}");
        assert_eq!(proof.outcomes(), vec![Outcome::Clean], "{proof}");
        assert!(proof.counterexample.is_none(), "{proof}");
    }
}

/// Explores `policy` under `behavior` until a night ends in `outcome` (or
/// breaks an invariant), then replays that path: its report is unsound.
fn explored_unsound(s: Scenario, outcome: Outcome, broken: Invariant) {
    let b = Bounds::new(6, 6);
    let found = explore_until(&s, b, |o| o == outcome).unwrap();
    let path = match (&found.counterexample, found.examples.get(&outcome)) {
        (Some(c), _) => c.choices.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => panic!("not found: {found}"),
    };
    let night = replay_explored(&s, b, &path).unwrap();
    let report = night
        .report
        .expect("a policy of one's own replays through the night");
    let violation = check_sound(&report).expect_err("the explored night is unsound");
    assert_eq!(violation.invariant, broken, "{violation}");
}

#[test]
fn the_explorer_finds_each_broken_policy() {
    explored_unsound(
        night_of(ConflictBehavior::Tolerate).snapshot(BrokenOnlineCopy),
        Outcome::Corrupted,
        Invariant::NoTornCopy,
    );
    explored_unsound(
        night_of(ConflictBehavior::Shutdown).snapshot(FakeSnapshot),
        Outcome::GracefulShutdown,
        Invariant::BackupNeverOpenedLiveFile,
    );
    let s = night_of(ConflictBehavior::Tolerate).snapshot(PauseForever);
    let ex = explore(&s, Bounds::new(6, 6)).unwrap();
    let c = ex.counterexample.as_ref().expect("a counterexample");
    assert_eq!(c.violation.invariant, Invariant::NoUnboundedWait);
    let night = replay_explored(&s, Bounds::new(6, 6), &c.choices).unwrap();
    let report = night.report.expect("replayed through the night");
    assert_eq!(
        check_sound(&report).unwrap_err().invariant,
        Invariant::NoUnboundedWait
    );
}

/// Skips files over 8 KiB: an exclusion that looks at more than the path.
#[derive(Debug)]
struct SkipLargeFiles;

impl ExclusionPolicy for SkipLargeFiles {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }
    fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
        entry.is_file() && entry.len_bytes() > 8 * 1024
    }
}

#[test]
fn an_exclusion_that_looks_at_sizes_is_explored_as_the_night_applies_it() {
    // Built-in snapshot policy, exclusion of one's own: the night decides,
    // not the path-only fast model (which would have the backup read the
    // live file, and the server shut down).
    let s = Scenario::kb98097()
        .conflict_behavior(ConflictBehavior::Shutdown)
        .exclusion(SkipLargeFiles);
    assert_eq!(s.run().unwrap().outcome(), Outcome::Clean);
    let proof = explore(&s, Bounds::new(4, 4)).unwrap();
    assert!(proof.complete, "{proof}");
    assert_eq!(proof.outcomes(), vec![Outcome::Clean], "{proof}");
    let without = explore(
        &Scenario::kb98097().conflict_behavior(ConflictBehavior::Shutdown),
        Bounds::new(4, 4),
    )
    .unwrap();
    assert!(without.reaches(Outcome::GracefulShutdown), "{without}");
}
