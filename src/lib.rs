//! # mailsim
//!
//! A mail server keeps its data file open; a backup program comes by at night
//! and reads it. mailsim simulates — and, on real files with real locks,
//! reproduces — what happens next, and what each cure costs.
//!
//! ## The problem
//!
//! Microsoft KB Q98097: Microsoft Mail for AppleTalk Networks 3.1 keeps
//! "Microsoft Mail Data" open for reading and writing while it runs. When
//! Retrospect Remote archives the server's disk at night, it opens that file
//! too. Mail notices another process opening its data file and *usually*
//! shuts the server down to prevent corruption; sometimes it stops responding
//! (hangs) instead. Either way nobody gets mail until the administrator comes
//! in. The article's cures: exclude the System Folder or the Extensions folder
//! from the backup, or Microsoft Mail Data itself; make sure the server is not
//! running during the backup; or let the MS Mail Backup control panel copy the
//! data file to another volume at midnight, and archive that copy instead.
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
//! println!("{}", report.narrate()); // 01:20:05 Mail Server shuts the server down …
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
//! println!("{}", report.to_json());
//! # Ok::<(), mailsim::Error>(())
//! ```
//!
//! ## The outcomes
//!
//! The most severe outcome of a night wins: clean < graceful shutdown < hang
//! < crashed (an injected fault only) < corrupted. Excerpts of real nights
//! (seed 7; `mailsim run --seed 7 --behavior …`):
//!
//! **Graceful shutdown** — the server protects its file and stops serving
//! until the administrator arrives:
//!
//! ```text
//! 01:20:05 Retrospect Remote opens Server HD:System Folder:Extensions:Microsoft Mail Data for reading
//! 01:20:05 Mail Server notices Retrospect Remote opening Server HD:System Folder:Extensions:Microsoft Mail Data
//! 01:20:05 Mail Server shuts the server down to prevent corruption: finishes generation 52216, flushes and closes …
//! 08:00:00 The administrator restarts the Mail Server, down for 6 h 39 min
//! ```
//!
//! **Hang** — the server stops answering but keeps the file; the report
//! names the wait-for chain ([`Report::hang_chain`]):
//!
//! ```text
//! 01:20:05 Mail Server stops responding, still holding Server HD:System Folder:Extensions:Microsoft Mail Data
//! 01:25:05 Mail Server has not answered for 5 min: the server is hung; mail clients waiting for answers to …
//! 08:00:00 The administrator restarts the Mail Server, hung for 6 h 39 min
//! ```
//!
//! **Corrupted** — what the shutdown prevents: a server that keeps writing
//! while the backup copies leaves a copy that equals no state the file ever
//! held (`--behavior tolerate`):
//!
//! ```text
//! 01:20:05 Mail Server keeps serving while another process reads … (unsafe: writes may land mid-copy)
//! 01:21:24 Mail Server marks message 1444 read (generation 52223)
//! 01:23:13 Retrospect Remote archives Server HD:System Folder:Extensions:Microsoft Mail Data (3.0 MB)
//! ```
//!
//! **Clean** — a remedy kept the backup away from the live file, or gave it a
//! consistent copy:
//!
//! ```text
//! 01:00:00 Retrospect Remote skips Server HD:System Folder:Extensions:Microsoft Mail Data (excluded)
//! ```
//!
//! Consistency is judged by an oracle that knows every state the data file
//! held between transactions (per-page version intervals), not by the file
//! format's checksums alone ([`datafile::verify`] is the weaker, second line).
//!
//! ## The remedies and what they cost
//!
//! `mailsim demo` runs the KB night 100 times under each remedy. Its table
//! at 80 columns (kept true by a test; `shut` is a graceful shutdown, `torn`
//! a corrupted copy, `downtime` the median of all downtime, `age` the
//! archived copy's median recovery point age; `mailsim demo --wide` adds
//! planned and unplanned downtime and files excluded):
//!
//! ```text
//!                           -- nights ending in ---            - archived copy -
//! remedy                    clean  shut  hang  torn  downtime  consistent    age
//! ==============================================================================
//! no remedy (KB reaction)       0    90    10     0     6h39m        100%  5m48s
//! no remedy, shutdown           0   100     0     0     6h39m        100%  5m48s
//! no remedy, hang               0     0   100     0     6h39m        100%  5m48s
//! no remedy, tolerate          22     0     0    78        0s         22%  5m48s
//! exclude System Folder       100     0     0     0        0s          0%      -
//! exclude Extensions          100     0     0     0        0s          0%      -
//! exclude Mail Data           100     0     0     0        0s          0%      -
//! respect locks               100     0     0     0        0s          0%      -
//! stop the server             100     0     0     0     5m48s        100%  5m48s
//! MS Mail Backup, excluded    100     0     0     0        3s        100%  1h25m
//! MS Mail Backup alone          0    90    10     0     6h39m        100%  8m51s
//! copy-on-write snapshot      100     0     0     0        0s        100%  5m48s
//! freeze/thaw (VSS)           100     0     0     0        2s        100%  5m50s
//! online copy (SQLite)        100     0     0     0        0s        100%  5m50s
//! ```
//!
//! The KB's remedies each cost something: an exclusion keeps the mail out of
//! the backup; stopping the server costs planned downtime for the rest of the
//! backup; MS Mail Backup costs a short pause and an hour-old copy — and
//! cures nothing unless the live file is also excluded. The modern ones
//! ([`policy::CopyOnWrite`], [`policy::FreezeThaw`], [`policy::OnlineCopy`])
//! archive a fresh, consistent image for a pause of seconds or none.
//!
//! ## Your own policy
//!
//! Exclusions and snapshot policies are traits; yours plugs in like a
//! built-in ([`policy::SnapshotPolicy`] documents the contract):
//!
//! ```
//! use mailsim::policy::ExclusionPolicy;
//! use mailsim::{Outcome, Scenario, VolumePath};
//!
//! #[derive(Debug)]
//! struct SkipEverythingOfMail;
//!
//! impl ExclusionPolicy for SkipEverythingOfMail {
//!     fn excludes(&self, path: &VolumePath) -> bool {
//!         path.name().contains("Mail")
//!     }
//! }
//!
//! let report = Scenario::kb98097().seed(1).exclusion(SkipEverythingOfMail).run()?;
//! assert_eq!(report.outcome(), Outcome::Clean);
//! # Ok::<(), mailsim::Error>(())
//! ```
//!
//! ## Testing with proptest
//!
//! With the cargo feature `proptest`, [`testing`] gives strategies over whole
//! nights ([`testing::arb_scenario`], [`testing::arb_night`], and
//! [`testing::Scenarios`] to fix your policy and vary the rest), the
//! soundness checker for your policy ([`testing::check_sound`], also
//! [`invariants::check_sound`]) and the invariant checker for mailsim's own
//! ([`testing::check_invariants`]), choice records kept by stream that
//! shrink to a handful of choices, injected faults ([`sim::Fault`]), and
//! exhaustive exploration of small nights ([`testing::explore`]). A failing
//! night prints as its replay token ([`Report::replay_token`],
//! [`Scenario::from_replay_token`], `mailsim run --replay TOKEN`). The
//! [`testing`] module opens with a ten-line test.
//!
//! ## Design
//!
//! ```text
//! Scenario ──run()──────▶ sim runner (virtual time, one seeded chooser) ─┐
//!          ──run_real(dir)▶ real runner (threads, fs2 locks, inotify)  ─┴─▶ Report
//!    actors: MailServer · BackupClient · snapshot session
//!    over:   Volume (SimVolume in memory | OsVolume on disk)
//! ```
//!
//! - [`volume`]: volumes after the classic Mac OS File Manager (access and
//!   deny modes, foreign-access notification); [`volume::SimVolume`] keeps
//!   file contents as shared pages, so copies cost pointers;
//!   [`volume::OsVolume`] is a real directory.
//! - [`datafile`]: the Mail Data format, crash-safe, and [`datafile::verify`].
//! - [`server`]: the [`MailServer`] and its [`ConflictBehavior`].
//! - [`backup`]: Retrospect Remote, the [`BackupClient`], and its [`OpenFilePolicy`].
//! - [`policy`]: [`policy::ExclusionPolicy`] and [`policy::SnapshotPolicy`].
//! - [`sim`]: the [`Scenario`] builder, faults, scenario files, and the
//!   discrete-event runner. All nondeterminism flows through one
//!   [`chooser::Chooser`], recorded in the report ([`Report::choices`]) so
//!   that [`Scenario::replay`] reproduces a night exactly.
//! - [`real`] (feature `real`): the real runner's pieces: locks, lock
//!   holders (`/proc/locks` and `/proc/PID/fdinfo`), inotify and fanotify,
//!   the live-file guard, the crash-safe rotation writer, copy-before-write
//!   snapshots, the scaled clock.
//! - [`history`] (feature `real`): a real data file's history, kept beside
//!   it by the server, and the exact judge of copies against it
//!   (`mailsim verify --history`).
//! - [`report`]: [`Outcome`], [`Metrics`], verdicts, the timeline, JSON, and
//!   [`invariants`].
//!
//! ## Limitations
//!
//! What is modelled: the File Manager's open modes as they bear on the
//! conflict; the server's transactions and their durability (two syncs, two
//! header slots); the backup's walk, exclusions, open-file policies and
//! throughput; snapshot policies as their sources define them; faults after
//! SQLite's crash-test file system (at byte-range or sector granularity).
//! What is not: AppleTalk itself (the network is a throughput), the Mac's
//! real file system layout, Mail's internal database beyond what its data
//! file needs, several mail servers, or a backup that retries a crashed
//! archive. Time is virtual; a transaction is atomic with respect to the
//! backup's chunk reads, and the server reacts to a foreign access between
//! transactions. The real runner reproduces the policy-decided outcomes on
//! Linux (inotify, fanotify where permitted, `/proc`); elsewhere foreign opens cannot be
//! detected and lock holders cannot be named.
//!
//! ## The public surface
//!
//! The names downstream code relies on, as the design gives them:
//!
//! ```
//! use mailsim::{Scenario, Outcome, ConflictBehavior, OpenFilePolicy, Report, VolumePath};
//! use mailsim::policy::{ExclusionPolicy, SnapshotPolicy,
//!     ExcludeNothing, ExcludeFolder, ExcludeFile, ExcludeGlob,
//!     LiveRead, StopServer, ScheduledCopy, CopyOnWrite, FreezeThaw, OnlineCopy};
//!
//! let report: Report = Scenario::kb98097()          // the KB's night, as above
//!     .seed(7)
//!     .conflict_behavior(ConflictBehavior::Shutdown) // Shutdown | Hang | Tolerate
//!     .exclusion(ExcludeFile::new("Microsoft Mail Data"))
//!     .snapshot(LiveRead)
//!     .open_files(OpenFilePolicy::IgnoreLocks)
//!     .run()?;                                       // simulated; run_real(dir) on disk
//! assert_eq!(report.outcome(), Outcome::Clean);      // Clean | GracefulShutdown | Hang | Corrupted
//! report.metrics().server_downtime;                  // std::time::Duration
//! report.metrics().recovery_point_age;               // Option<Duration>: None when Mail Data was not archived
//! report.timeline();                                 // &[Event]: narrated, each Display-able
//! report.to_json();                                  // String
//! # let _ = (StopServer::default(), ScheduledCopy::default(), CopyOnWrite::default(),
//! #     FreezeThaw::default(), OnlineCopy::default(), ExcludeNothing,
//! #     ExcludeFolder::new("System Folder"), ExcludeGlob::new("*"), VolumePath::root("Server HD"));
//! # fn _policies(_: &dyn ExclusionPolicy, _: &dyn SnapshotPolicy) {}
//! # Ok::<(), mailsim::Error>(())
//! ```
//!
//! ## Cargo features
//!
//! - `cli` (default): the `mailsim` command; implies `real`.
//! - `real` (default): real files — [`volume::OsVolume`], [`real`] (the
//!   real runner behind `Scenario::run_real`, [`real::LiveFileGuard`], the
//!   rotation writer, locks, inotify and fanotify) and [`history`]. It
//!   brings fs2, reflink-copy, parking_lot, libc, and on Linux inotify and
//!   nix.
//! - `proptest`: [`testing`], strategies, checkers and exploration for
//!   proptest suites.
//!
//! With `default-features = false` the crate is the simulation alone:
//! [`Scenario::run`], the policies, reports and their JSON, scenario files,
//! the Mail Data format and [`volume::SimVolume`], with no file-system
//! dependency (22 third-party crates, against 36 with `real`; README.md
//! has the table).
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
pub mod event;
#[cfg(feature = "real")]
#[cfg_attr(docsrs, doc(cfg(feature = "real")))]
pub mod history;
pub mod invariants;
mod night;
mod oracle;
pub mod policy;
#[cfg(feature = "real")]
#[cfg_attr(docsrs, doc(cfg(feature = "real")))]
pub mod real;
pub mod report;
mod scenario;
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
