//! The harness as a downstream user meets it: your own policy, every kind of
//! night around it, the invariants checked, and a failure that is small and
//! replays exactly.

use std::time::Duration;

use mailsim::invariants::Invariant;
use mailsim::policy::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use mailsim::testing::{Night, Scenarios, arb_night, arb_scenario, check_invariants};
use mailsim::volume::{CopyBuilder, VolumePath};
use mailsim::{Outcome, Result};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// A broken policy: it copies the live file through the server's own handle,
/// a few pages at a time, without freezing it — writes land mid-copy.
#[derive(Debug)]
struct CopyWithoutFreezing;

#[derive(Debug, Default)]
struct Copying {
    copy: Option<(CopyBuilder, u64)>,
    started: Option<mailsim::SimTime>,
}

impl SnapshotPolicy for CopyWithoutFreezing {
    fn name(&self) -> &str {
        "copy without freezing"
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
    ) -> Result<Prepared> {
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

fn cases(n: u32) -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(n),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn a_broken_policy_is_caught_and_its_counterexample_is_small_and_replays() {
    let nights = Scenarios::default()
        .snapshot(CopyWithoutFreezing)
        .faults(Vec::new())
        .nights(1)
        .night_strategy();
    let mut runner = TestRunner::new(cases(64));
    let result = runner.run(&nights, |night| {
        let report = night
            .run()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_invariants(&report).map_err(|v| TestCaseError::fail(v.to_string()))
    });
    let Err(TestError::Fail(reason, night)) = result else {
        panic!("the broken policy went unnoticed: {result:?}");
    };
    // The shrunk night replays to the same violation.
    let report = night.run().unwrap();
    let violation = check_invariants(&report).expect_err("the shrunk night still fails");
    assert_eq!(violation.to_string(), reason.message());
    assert_eq!(violation.invariant, Invariant::NoForeignAccessMeansClean);
    assert_eq!(report.outcome(), Outcome::Corrupted);
    let event = violation
        .event_in(&report)
        .expect("the violation points at an event");
    assert!(
        matches!(event.kind, mailsim::report::EventKind::Archived { .. }),
        "{event}"
    );
    // Small: shrinking cut the choice record down.
    assert!(night.choices.len() <= 40, "{} choices", night.choices.len());
    // What proptest prints is the replay token and the code that replays
    // it, the policy supplied; the replay is the same night.
    let printed = format!("{night:?}");
    let token = night.replay_token();
    assert!(printed.contains(&token), "{printed}");
    assert!(printed.lines().count() <= 5, "{printed}");
    assert!(printed.contains("copy without freezing"), "{printed}");
    let unsupplied = mailsim::Scenario::from_replay_token(&token).unwrap();
    let missing = unsupplied.run().unwrap_err().to_string();
    assert!(missing.contains("\"copy without freezing\""), "{missing}");
    let again = unsupplied.snapshot(CopyWithoutFreezing).run().unwrap();
    assert_eq!(again.to_json(), report.to_json());
    // And from its scenario file, which names the policy to supply.
    let file = mailsim::Scenario::from_json(&night.scenario.to_json(Some(&night.choices)).unwrap())
        .unwrap();
    let again = file
        .scenario
        .snapshot(CopyWithoutFreezing)
        .replay(file.choices.as_ref().unwrap())
        .unwrap();
    assert_eq!(again.to_json(), report.to_json());
}

#[test]
fn replaying_a_thousand_random_nights_gives_identical_json() {
    let mut runner = TestRunner::new(cases(1000));
    runner
        .run(&arb_scenario(), |scenario| {
            let first = scenario
                .run()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let again = scenario
                .replay(first.choices())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(first.to_json(), again.to_json());
            Ok(())
        })
        .unwrap();
}

proptest! {
    #![proptest_config(cases(64))]

    /// Every kind of night, faults included: the invariants hold.
    #[test]
    fn every_night_keeps_the_invariants(night in arb_night()) {
        let report = night.run().unwrap();
        if let Err(v) = check_invariants(&report) {
            let at = v.event_in(&report).map(ToString::to_string);
            return Err(TestCaseError::fail(format!("{v}: {at:?}\n{night:?}")));
        }
    }

    /// A night saved to a scenario file, or as its replay token, replays
    /// to the same report.
    #[test]
    fn a_saved_night_replays_from_its_file_and_its_token(night in arb_night()) {
        let expected = night.run().unwrap().to_json();
        let json = night.scenario.to_json(Some(&night.choices)).unwrap();
        let file = mailsim::Scenario::from_json(&json).unwrap();
        prop_assert_eq!(&file.run().unwrap().to_json(), &expected);
        let token = night.replay_token();
        prop_assert!(token.starts_with("mailsim1.") && !token.contains(char::is_whitespace));
        let again = mailsim::Scenario::from_replay_token(&token).unwrap().run().unwrap();
        prop_assert_eq!(&again.to_json(), &expected);
        // A report's own token: the same night again.
        let report = night.run().unwrap();
        let again = mailsim::Scenario::from_replay_token(&report.replay_token()).unwrap().run().unwrap();
        prop_assert_eq!(again.to_json(), expected);
    }
}

#[test]
fn a_night_debug_prints_its_token_and_the_code_that_replays_it() {
    let night = Night {
        scenario: mailsim::Scenario::kb98097().seed(3),
        choices: vec![1, 2, 3].into(),
    };
    let text = format!("{night:?}");
    let token = night.replay_token();
    assert_eq!(
        text,
        format!(
            "Night {{ replay token: {token} }}\n// replay it:\n\
             let night = mailsim::Scenario::from_replay_token(\"{token}\")?;\n\
             let report = night.run()?;\n\
             mailsim::testing::check_sound(&report)?;"
        )
    );
    let replayed = mailsim::Scenario::from_replay_token(&token).unwrap();
    assert_eq!(replayed.replay_choices(), Some(&night.choices));
    assert_eq!(replayed.seed_value(), 3);
}
