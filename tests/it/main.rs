//! mailsim's behaviour tests, as one integration binary.

mod api;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "proptest")]
mod explore;
mod faults;
#[cfg(feature = "proptest")]
mod harness;
mod kb_matrix;
#[cfg(feature = "cli")]
mod processes;
mod properties;
mod real;
mod snapshots;
mod support;
#[cfg(feature = "cli")]
mod sweep;
