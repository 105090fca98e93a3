//! Arbitrary text as a replay token: `Scenario::from_replay_token` never
//! panics (nonsense is an `Err`), and a token it accepts survives a round
//! trip: the token of what it read reads back to the same scenario file and
//! the same choices.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsim::Scenario;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(scenario) = Scenario::from_replay_token(&text) else {
        return;
    };
    let choices = scenario
        .replay_choices()
        .expect("a scenario from a token replays its choices")
        .clone();
    let token = scenario.to_replay_token(&choices);
    let again = Scenario::from_replay_token(&token)
        .unwrap_or_else(|e| panic!("a token written by to_replay_token is rejected: {e}\n{token}"));
    assert_eq!(again.replay_choices(), Some(&choices.trimmed()));
    assert_eq!(
        again.to_json(None).ok(),
        scenario.to_json(None).ok(),
        "the scenario changed in the round trip"
    );
});
