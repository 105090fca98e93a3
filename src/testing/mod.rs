//! A property-based test harness for other people's code (cargo feature
//! `proptest`): strategies over whole nights, the soundness and invariant
//! checkers, replay tokens and shrinking, and exhaustive exploration of
//! small nights.
//!
//! # Testing your own policy
//!
//! Fix your policy, let everything else vary — conflict behaviors, open-file
//! policies, exclusions, traffic, backup times, several nights, injected
//! faults — and check that every night is *sound*: no torn copy archived,
//! no shutdown or hang because of the backup, the live file never opened
//! while the server held it ([`check_sound`]):
//!
//! ```
//! use mailsim::policy::CopyOnWrite; // your own policy here
//! use mailsim::testing::{Scenarios, check_sound};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     # /*
//!     #[test]
//!     # */
//!     fn my_policy_keeps_every_night_sound(night in Scenarios::default().snapshot(CopyOnWrite).night_strategy()) {
//!         let report = night.run().unwrap();
//!         if let Err(v) = check_sound(&report) {
//!             prop_assert!(false, "{v}");
//!         }
//!     }
//! }
//! # fn main() { my_policy_keeps_every_night_sound(); }
//! ```
//!
//! [`check_invariants`] checks mailsim, not your policy: it allows a
//! shutdown, a hang or a torn copy whenever something opened the live file,
//! because that is what the server does then. [`check_sound`] checks the
//! invariants and then what a policy is for. Each [`Violation`] names what
//! broke and points at the event of the timeline that shows it. The
//! invariants: no acknowledged delivery is lost; the outcome is the one the
//! timeline shows; a night in which nothing opened Mail Data while the
//! server held it is clean (or crashed, under a fault); every archived copy
//! is judged; every wait ends.
//!
//! # Shrinking, saving, replaying
//!
//! A [`Night`] is a scenario and the choice record that drives it, each
//! stream of choices — arrivals, requests, the server's reaction, the order
//! of simultaneous events — a list of its own
//! ([`Stream`](crate::chooser::Stream)), so that simplifying one does not
//! scramble the others. When a night fails, proptest shrinks the scenario
//! (no exclusion, fault or extra night the failure does not need) and then
//! the record: all of it at once, each stream, to a short prefix, in
//! halves, each choice towards 0 ([`ChoicesTree`]). It then prints the
//! night as its replay token and the lines that replay it:
//!
//! ```text
//! Night { replay token: mailsim1.eyJiZWhhdmlvciI6InRvbGVyYXRlIn0.AQIDAAAA }
//! // replay it:
//! let night = mailsim::Scenario::from_replay_token("mailsim1.eyJiZWhhdmlvciI6InRvbGVyYXRlIn0.AQIDAAAA")?;
//! let report = night.snapshot(/* your policy "my copy" */).run()?;
//! mailsim::testing::check_sound(&report)?;
//! ```
//!
//! A policy of your own travels by name: supply it with
//! [`Scenario::snapshot`](crate::Scenario::snapshot) (running without it is
//! an error naming it). A night of built-in policies replays with
//! `mailsim run --replay TOKEN`. [`Report::replay_token`](crate::Report::replay_token)
//! gives any report's night the same way.
//!
//! [`explore`] visits every reachable state of a small night instead of
//! sampling, and proves bounded claims (copy-on-write is never corrupted);
//! its model covers the built-in policies.

mod explore;
mod shrink;
mod strategies;

pub use crate::invariants::{Invariant, Violation, check as check_invariants, check_sound};
pub use explore::*;
pub use shrink::{ChoicesStrategy, ChoicesTree, arb_choices};
pub use strategies::*;
