//! mailsim
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backup;
pub mod chooser;
pub mod datafile;
pub mod demo;
mod error;
mod oracle;
pub mod policy;
pub mod report;
pub mod server;
pub mod sim;
pub mod time;
pub mod volume;

pub use backup::{BackupClient, OpenFilePolicy};
pub use chooser::Choices;
pub use error::{Error, Result};
pub use report::{ArchivedFile, Event, Metrics, Outcome, Report, Verdict};
pub use server::{ConflictBehavior, MailServer};
pub use sim::{Scenario, Traffic};
pub use time::{SimTime, TimeOfDay};
pub use volume::{Volume, VolumePath};
