//! The simulator: the rules of the night (`night`) driven by an event queue
//! in virtual time, over in-memory volumes.
//!
//! [`Scenario::run`] builds a fresh world from a scenario (volumes forked
//! from a shared prototype, a server, a backup client, the traffic, and one
//! [`Chooser`] for every nondeterministic
//! decision), runs it night by night, and returns a [`Report`]. No wall
//! clock is read, and nothing depends on hash order: the same scenario and
//! seed give the same report, byte for byte. The driver holds no rule of
//! its own: it takes the earliest move the night has scheduled (ties broken
//! by the chooser) and applies it.
//!
//! The scenario's types are here too, where users have always found them
//! (they live in `scenario`).

mod driver;

pub use crate::scenario::{
    BACKUP_DRIVE, Fault, MAIL_DATA, MAX_SCENARIO_FILE_BYTES, Request, RequestMix, Requests,
    SCENARIO_SCHEMA, SCENARIO_VERSION, SERVER_HD, Scenario, ScenarioFile, Traffic, UnsyncedWrites,
    draw_faults, mail_data_path,
};

use crate::chooser::{Choices, Chooser};
use crate::error::Result;
use crate::report::Report;

impl Scenario {
    /// Simulates the scenario's nights, drawing every choice from the seed
    /// — or, for a scenario rebuilt from a replay token
    /// ([`Scenario::from_replay_token`]), replaying the token's choices.
    ///
    /// # Errors
    /// The error [`validate`](Scenario::validate) gives for the settings,
    /// naming the one at fault (and a policy a token or a file named but
    /// nobody supplied); errors of the night's volumes and policies.
    pub fn run(&self) -> Result<Report> {
        self.validate()?;
        let chooser = match &self.opts.choices {
            Some(c) => Chooser::replay(c),
            None => Chooser::random(self.opts.seed),
        };
        driver::run(&self.opts, chooser)
    }

    /// Runs the night a choice record describes, exactly. Choices past the
    /// record's end are taken as 0, and too-large ones modulo their number of
    /// options, so any record (a shrunk one, say) describes some night.
    pub fn replay(&self, choices: &Choices) -> Result<Report> {
        self.validate()?;
        driver::run(&self.opts, Chooser::replay(choices))
    }
}

impl ScenarioFile {
    /// Replays the saved night exactly, or runs the scenario from its seed.
    pub fn run(&self) -> Result<Report> {
        match &self.choices {
            Some(c) => self.scenario.replay(c),
            None => self.scenario.run(),
        }
    }
}
