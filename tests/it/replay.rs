//! Replay tokens and scenarios that name a policy of one's own, through the
//! library and the command: a night saved as one line replays exactly.

use mailsim::invariants::check_sound;
use mailsim::policy::{CopyOnWrite, LiveRead, NightInfo, SnapshotPolicy, SnapshotSession};
use mailsim::{ConflictBehavior, Error, Outcome, Scenario};

#[cfg(feature = "cli")]
use crate::support::{mailsim, stderr, stdout};

/// A policy of one's own that behaves as copy-on-write.
#[derive(Debug)]
struct MyClone;

impl SnapshotPolicy for MyClone {
    fn name(&self) -> &str {
        "my clone"
    }

    fn begin_night(&self, night: &NightInfo) -> Box<dyn SnapshotSession> {
        CopyOnWrite.begin_night(night)
    }
}

#[test]
fn a_report_token_replays_the_same_report() {
    for (seed, behavior) in [(7, ConflictBehavior::Hang), (3, ConflictBehavior::Tolerate)] {
        let s = Scenario::kb98097()
            .seed(seed)
            .conflict_behavior(behavior)
            .nights(2);
        let report = s.run().unwrap();
        let token = report.replay_token();
        assert!(token.starts_with("mailsim1."), "{token}");
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{token}"
        );
        let again = Scenario::from_replay_token(&token).unwrap();
        assert_eq!(
            again.replay_choices(),
            Some(report.streamed_choices())
                .map(|c| c.trimmed())
                .as_ref()
        );
        assert_eq!(again.run().unwrap().to_json(), report.to_json());
        // The token of the replay is the same token.
        assert_eq!(again.run().unwrap().replay_token(), token);
    }
}

#[test]
fn the_preset_night_has_a_short_token_of_its_settings() {
    let report = Scenario::kb98097().seed(0).run().unwrap();
    let token = report.replay_token();
    let settings = token.split('.').nth(1).unwrap();
    // Only what differs from the preset: nothing.
    assert_eq!(settings, "e30", "{token}"); // base64url of "{}"
}

#[test]
fn a_token_naming_ones_own_policy_runs_once_it_is_supplied() {
    let s = Scenario::kb98097()
        .seed(11)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .snapshot(MyClone);
    let report = s.run().unwrap();
    assert_eq!(report.outcome(), Outcome::Clean);
    assert!(check_sound(&report).is_ok());
    let token = report.replay_token();
    let loaded = Scenario::from_replay_token(&token).unwrap();
    assert_eq!(loaded.snapshot_policy().name(), "my clone");
    let err = loaded.run().unwrap_err();
    assert!(matches!(err, Error::InvalidScenario { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"my clone\"") && msg.contains("supply"),
        "{msg}"
    );
    assert!(loaded.validate().is_err());
    let again = loaded.snapshot(MyClone).run().unwrap();
    assert_eq!(again.to_json(), report.to_json());
}

#[test]
fn a_scenario_file_names_ones_own_policy_and_loads() {
    let s = Scenario::kb98097().seed(5).snapshot(MyClone);
    let json = s.to_json(None).unwrap();
    assert!(
        json.contains("\"policy\": \"custom\"") && json.contains("\"name\": \"my clone\""),
        "{json}"
    );
    let file = Scenario::from_json(&json).unwrap();
    assert!(file.run().unwrap_err().to_string().contains("\"my clone\""));
    // Saved again, it names the policy again.
    assert_eq!(file.scenario.to_json(None).unwrap(), json);
    let supplied = file.scenario.snapshot(MyClone);
    assert_eq!(
        supplied.run().unwrap().to_json(),
        s.run().unwrap().to_json()
    );
    // A custom policy without its name is nonsense, named.
    let bad = json.replace("\"name\": \"my clone\"", "\"name\": \"\"");
    let err = Scenario::from_json(&bad).unwrap_err().to_string();
    assert!(err.contains("snapshot.name"), "{err}");
    let bad = json.replace("\"policy\": \"custom\",", "\"policy\": \"live\",");
    assert!(
        Scenario::from_json(&bad)
            .unwrap_err()
            .to_string()
            .contains("snapshot.name")
    );
}

#[derive(Debug)]
struct MyExclusion;

impl mailsim::policy::ExclusionPolicy for MyExclusion {
    fn excludes(&self, path: &mailsim::VolumePath) -> bool {
        path.name() == "Microsoft Mail Data"
    }
}

#[test]
fn an_exclusion_of_ones_own_travels_by_name_too() {
    let s = Scenario::kb98097()
        .seed(2)
        .exclusion(MyExclusion)
        .snapshot(LiveRead);
    let report = s.run().unwrap();
    let loaded = Scenario::from_replay_token(&report.replay_token()).unwrap();
    let msg = loaded.run().unwrap_err().to_string();
    assert!(
        msg.contains("\"MyExclusion\"") && msg.contains("exclusion"),
        "{msg}"
    );
    assert_eq!(
        loaded.exclusion(MyExclusion).run().unwrap().to_json(),
        report.to_json()
    );
}

#[cfg(feature = "cli")]
#[test]
fn mailsim_run_replay_replays_a_built_in_night() {
    let report = Scenario::kb98097()
        .seed(9)
        .conflict_behavior(ConflictBehavior::Hang)
        .run()
        .unwrap();
    let token = report.replay_token();
    let out = mailsim(&["run", "--replay", &token, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(printed, expected);
}

#[cfg(feature = "cli")]
#[test]
fn mailsim_run_replay_refuses_nonsense_and_ones_own_policy_with_exit_2() {
    let own = Scenario::kb98097()
        .snapshot(MyClone)
        .run()
        .unwrap()
        .replay_token();
    for (token, says) in [
        ("nonsense", "replay token"),
        ("mailsim1.e30.AAA.x", "replay token"),
        ("mailsim1.e30.Ag", "kind 2"),
        (own.as_str(), "\"my clone\""),
    ] {
        let out = mailsim(&["run", "--replay", token]);
        assert_eq!(out.status.code(), Some(2), "{token}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{token}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(stdout(&out).is_empty());
    }
    // A token describes the whole night: no scenario flag beside it.
    let out = mailsim(&["run", "--replay", "mailsim1.e30.AAA", "--behavior", "hang"]);
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "proptest")]
#[test]
fn a_night_prints_the_policies_to_supply() {
    use mailsim::testing::Night;
    let night = Night {
        scenario: Scenario::kb98097().exclusion(MyExclusion).snapshot(MyClone),
        choices: vec![1].into(),
    };
    let printed = format!("{night:?}");
    assert!(
        printed.contains(
            "let report = night.exclusion(/* your exclusion \"MyExclusion\" */).snapshot(/* your policy \"my clone\" */).run()?;"
        ),
        "{printed}"
    );
}
