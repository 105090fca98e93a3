//! # mailsim
//!
//! A mail server keeps its data file open; a backup program comes by at night
//! and reads it. mailsim simulates — and, on real files with real locks,
//! reproduces — what happens next.
//!
//! ## The problem
//!
//! Microsoft KB Q98097: Microsoft Mail for AppleTalk Networks 3.1 keeps
//! "Microsoft Mail Data" open for reading and writing while it runs. When
//! Retrospect Remote archives that file, Mail notices another process opening
//! it and *usually* shuts the server down to prevent corruption; sometimes it
//! stops responding (hangs) instead. Either way mail stops until the
//! administrator comes in. The article's cures: exclude the System Folder or
//! the Extensions folder, or Microsoft Mail Data itself, from the backup; make
//! sure the server is not running during the backup; or let the MS Mail Backup
//! control panel copy the data file aside at midnight and archive the copy.
//!
//! ## A night
//!
//! ```
//! use mailsim::policy::{ExcludeFile, LiveRead};
//! use mailsim::{ConflictBehavior, OpenFilePolicy, Outcome, Report, Scenario};
//!
//! // The KB's night, with the server's reaction fixed to "shut down".
//! let report: Report = Scenario::kb98097()
//!     .seed(7)
//!     .conflict_behavior(ConflictBehavior::Shutdown)
//!     .run()?;
//! assert_eq!(report.outcome(), Outcome::GracefulShutdown);
//!
//! // The same night with the data file excluded from the backup.
//! let report = Scenario::kb98097()
//!     .seed(7)
//!     .conflict_behavior(ConflictBehavior::Shutdown)
//!     .exclusion(ExcludeFile::new("Microsoft Mail Data"))
//!     .snapshot(LiveRead)
//!     .open_files(OpenFilePolicy::IgnoreLocks)
//!     .run()?;
//! assert_eq!(report.outcome(), Outcome::Clean);
//! assert_eq!(report.metrics().recovery_point_age, None); // but Mail Data is not archived
//! for event in report.timeline().iter().take(3) {
//!     println!("{event}");
//! }
//! println!("{}", report.to_json());
//! # Ok::<(), mailsim::Error>(())
//! ```
//!
//! ## The outcomes
//!
//! | outcome | when |
//! |---|---|
//! | [`Outcome::Corrupted`] | an archived copy of Mail Data equals no state the file held between transactions: only when the server tolerates the foreign access |
//! | [`Outcome::Hang`] | the server stopped answering while still holding its data file, for longer than the hang threshold (5 min) |
//! | [`Outcome::GracefulShutdown`] | the server shut itself down in reaction to the foreign access |
//! | [`Outcome::Clean`] | none of the above |
//!
//! The most severe outcome of a night wins. Consistency is judged by an
//! oracle that knows every state the data file held between transactions, not
//! by the file format's checksums alone.
//!
//! ## Design
//!
//! ```text
//! Scenario ──run()──▶ sim runner (virtual time, seeded) ──▶ Report
//!    actors: MailServer · BackupClient · policies
//!    over:   Volume (SimVolume in memory)
//! ```
//!
//! - [`volume`]: volumes after the classic Mac OS File Manager (access and
//!   deny modes, foreign-access notification); [`volume::SimVolume`] keeps
//!   file contents as shared pages, so copies cost pointers.
//! - [`datafile`]: the Mail Data format and [`datafile::verify`].
//! - [`server`]: the [`MailServer`] and its [`ConflictBehavior`].
//! - [`backup`]: Retrospect Remote, the [`BackupClient`], and its [`OpenFilePolicy`].
//! - [`policy`]: [`policy::ExclusionPolicy`] and [`policy::SnapshotPolicy`].
//! - [`sim`]: the [`Scenario`] builder and the discrete-event runner. All
//!   nondeterminism flows through one [`chooser::Chooser`], recorded in the
//!   report ([`Report::choices`]) so that [`Scenario::replay`] reproduces a
//!   night exactly.
//! - [`report`]: [`Outcome`], [`Metrics`], verdicts, the timeline, JSON.
//!
//! ## Limitations
//!
//! Time is virtual and coarse where it does not matter: a transaction is
//! atomic with respect to the backup's chunk reads, and the server reacts to a
//! foreign access between transactions. The network is a throughput, not a
//! protocol. Only the server writes Mail Data.
//!
//! ## Minimum supported Rust version
//!
//! Rust 1.89.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backup;
pub mod chooser;
pub mod datafile;
pub mod demo;
mod error;
pub mod invariants;
mod oracle;
pub mod policy;
pub mod real;
pub mod report;
pub mod server;
pub mod sim;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod testing;
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
