//! A property-based test harness for other people's code (cargo feature
//! `proptest`): strategies over whole nights, the invariant checker, replay
//! and shrinking, and exhaustive exploration of small nights.
//!
//! # Testing your own policy
//!
//! Fix your policy, let everything else vary — conflict behaviors, open-file
//! policies, exclusions, traffic, backup times, several nights, injected
//! faults — and check the invariants on every night:
//!
//! ```
//! use std::sync::Arc;
//! use mailsim::policy::CopyOnWrite; // your own policy here
//! use mailsim::testing::{Scenarios, check_invariants};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(16))]
//!     # /*
//!     #[test]
//!     # */
//!     fn my_policy_keeps_every_night_sound(night in Scenarios::default().snapshot(Arc::new(CopyOnWrite)).nights()) {
//!         let report = night.run().unwrap();
//!         prop_assert!(check_invariants(&report).is_ok(), "{:?}", check_invariants(&report));
//!     }
//! }
//! # fn main() { my_policy_keeps_every_night_sound(); }
//! ```
//!
//! A [`Night`] is a scenario and the choice record that drives it: when a
//! night fails, proptest shrinks both — the scenario's parameters, and the
//! record to a shorter prefix of smaller choices — and prints the night as a
//! scenario file, which `mailsim run --scenario FILE` (or
//! [`Scenario::from_json`](crate::Scenario::from_json)) replays exactly.
//! [`check_invariants`] names the invariant a night breaks and points at the
//! event of its timeline that shows it. The invariants: no acknowledged
//! delivery is lost; the outcome is the one the timeline shows; a night in
//! which nothing opened Mail Data while the server held it is clean (or
//! crashed, under a fault); every archived copy is judged; every wait ends.
//!
//! [`explore`] visits every reachable state of a small night instead of
//! sampling, and proves bounded claims (copy-on-write is never corrupted);
//! its model covers the built-in policies.

mod explore;
mod strategies;

pub use crate::invariants::{Invariant, Violation, check as check_invariants};
pub use explore::*;
pub use strategies::*;
