//! mailsim's behaviour tests, as one integration binary.

mod api;
#[cfg(feature = "cli")]
mod cli;
mod kb_matrix;
mod properties;
mod real;
mod snapshots;
mod support;
