//! Testing your own policy the way a downstream test suite would: every kind
//! of night around it, each checked sound, a failure small and
//! replayable. (`cargo run --example harness --features proptest`; in your
//! own crate this is a ten-line `proptest!` test.)

use mailsim::policy::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use mailsim::testing::{Scenarios, check_sound};
use mailsim::volume::VolumePath;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A policy of one's own: pause, clone, resume — a correct one.
#[derive(Debug)]
struct PauseAndClone;

#[derive(Debug)]
struct Session;

impl SnapshotPolicy for PauseAndClone {
    fn name(&self) -> &str {
        "pause and clone"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(Session)
    }
}

impl SnapshotSession for Session {
    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        _: &VolumePath,
    ) -> mailsim::Result<Prepared> {
        server.pause("taking a clone");
        let content = server.clone_image();
        server.resume();
        Ok(Prepared::Image {
            content: content?,
            taken_at: server.now(),
        })
    }
}

fn main() {
    let nights = Scenarios::default()
        .snapshot(PauseAndClone)
        .night_strategy();
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&nights, |night| {
        let report = night
            .run()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_sound(&report).map_err(|v| TestCaseError::fail(v.to_string()))
    });
    match result {
        Ok(()) => println!("pause and clone: 200 nights of every kind, every one sound"),
        Err(e) => {
            // A failure arrives shrunk: print it, it replays exactly.
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
