//! A property-based test harness for other people's code (cargo feature
//! `proptest`): strategies over whole nights, the invariant checker, replay
//! and shrinking, and exhaustive exploration of small nights.

mod explore;
mod strategies;

pub use crate::invariants::{Invariant, Violation, check as check_invariants};
pub use explore::*;
pub use strategies::*;
