//! The explorer on policies of a user's own, written as a user writes them
//! (only the public API): a sound one proved never torn, and three broken
//! ones each found with a counterexample that replays.

use mailsim::policy::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use mailsim::testing::{Bounds, explore, explore_until, replay_explored};
use mailsim::{ConflictBehavior, Outcome, Scenario, VolumePath};

/// Pause the server, take a clone, resume: what a careful user writes.
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

/// Named like the built-in, but hands the backup the live file.
#[derive(Debug)]
struct FakeCopyOnWrite;

#[derive(Debug)]
struct FakeNight;

impl SnapshotPolicy for FakeCopyOnWrite {
    fn name(&self) -> &str {
        "copy-on-write"
    }
    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(FakeNight)
    }
}

impl SnapshotSession for FakeNight {
    fn before_live_file(
        &mut self,
        _: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        Ok(Prepared::ReadLive)
    }
}

fn tolerate() -> Scenario {
    Scenario::kb98097().conflict_behavior(ConflictBehavior::Tolerate)
}

#[test]
fn a_sound_policy_of_ones_own_is_proved_never_torn() {
    let started = std::time::Instant::now();
    let proof = explore(&tolerate().snapshot(PauseCloneResume), Bounds::new(8, 8)).unwrap();
    eprintln!("{proof} in {:?}", started.elapsed());
    assert!(proof.complete);
    assert!(!proof.reaches(Outcome::Corrupted), "{proof}");
    assert!(proof.counterexample.is_none(), "{proof}");
}

#[test]
fn a_policy_named_like_a_built_in_is_judged_by_what_it_does() {
    let s = tolerate().snapshot(FakeCopyOnWrite);
    let found = explore_until(&s, Bounds::new(8, 8), |o| o == Outcome::Corrupted).unwrap();
    eprintln!("{found}");
    let path = &found.examples[&Outcome::Corrupted];
    let night = replay_explored(&s, Bounds::new(8, 8), path).unwrap();
    assert_eq!(night.outcome, Outcome::Corrupted);
}

/// An online copy through the server's own handle that never starts over
/// when the server writes: pages of different generations in one copy.
#[derive(Debug)]
struct NaiveOnlineCopy;

#[derive(Debug, Default)]
struct NaiveOnlineNight {
    copied: Vec<mailsim::volume::Chunk>,
    pos: u64,
}

impl SnapshotPolicy for NaiveOnlineCopy {
    fn name(&self) -> &str {
        "naive online copy"
    }
    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(NaiveOnlineNight::default())
    }
}

impl SnapshotSession for NaiveOnlineNight {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        let len = server.len_bytes()?;
        if self.pos < len {
            let chunk = server.read_own(self.pos, 4096)?;
            self.pos += chunk.len_bytes();
            self.copied.push(chunk);
            return Ok(Prepared::Wait(std::time::Duration::from_secs(1)));
        }
        let mut copy = mailsim::volume::CopyBuilder::default();
        for c in &self.copied {
            copy.push(c);
        }
        Ok(Prepared::Image {
            content: copy.finish(self.pos),
            taken_at: server.now(),
        })
    }
    // No state_key: its states are never merged.
}

/// Pauses the server for the copy and forgets to resume it.
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
        server.pause("a copy");
        Ok(Prepared::Image {
            content: server.clone_image()?,
            taken_at: server.now(),
        })
    }
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

#[test]
fn an_online_copy_that_never_starts_over_is_found_torn() {
    let s = tolerate().snapshot(NaiveOnlineCopy);
    let b = Bounds::new(6, 6);
    let found = explore_until(&s, b, |o| o == Outcome::Corrupted).unwrap();
    eprintln!("{found}");
    let path = &found.examples[&Outcome::Corrupted];
    assert_eq!(
        replay_explored(&s, b, path).unwrap().outcome,
        Outcome::Corrupted
    );
}

#[test]
fn a_policy_that_never_resumes_breaks_an_invariant() {
    let s = tolerate().snapshot(PauseForever);
    let b = Bounds::new(6, 6);
    let ex = explore(&s, b).unwrap();
    eprintln!("{ex}");
    let c = ex.counterexample.as_ref().expect("a counterexample");
    let night = replay_explored(&s, b, &c.choices).unwrap();
    assert_eq!(
        night.violation.as_ref().map(|v| v.invariant),
        Some(c.violation.invariant)
    );
}

/// Skips files over 8 KiB: an exclusion that looks at more than the path.
#[derive(Debug)]
struct SkipLargeFiles;

impl mailsim::policy::ExclusionPolicy for SkipLargeFiles {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }
    fn excludes_entry(&self, entry: &mailsim::policy::Entry<'_>) -> bool {
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
