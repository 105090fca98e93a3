//! Arbitrary text as a scenario file: `Scenario::from_json` never panics (a
//! malformed file is an `Err`), and a file it accepts survives a round trip:
//! `to_json` of what it read is read again, to the same file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsim::Scenario;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(file) = Scenario::from_json(&text) else {
        return;
    };
    let choices = file.choices.as_ref();
    let json = file
        .scenario
        .to_json(choices)
        .unwrap_or_else(|e| panic!("a scenario read from a file cannot be written back: {e}"));
    let again = Scenario::from_json(&json)
        .unwrap_or_else(|e| panic!("a scenario file written by to_json is rejected: {e}\n{json}"));
    assert_eq!(
        again.choices, file.choices,
        "the choices changed in the round trip"
    );
    let json_again = again
        .scenario
        .to_json(again.choices.as_ref())
        .unwrap_or_else(|e| panic!("the re-read scenario cannot be written back: {e}"));
    assert_eq!(json, json_again, "the scenario changed in the round trip");
});
