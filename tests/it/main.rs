//! mailsim's behaviour tests, as one integration binary.

mod api;
#[cfg(feature = "cli")]
mod backup_cmd;
#[cfg(feature = "cli")]
mod browser;
#[cfg(feature = "cli")]
mod cli;
#[cfg(feature = "cli")]
mod demo_screen;
#[cfg(feature = "proptest")]
mod explore;
mod faults;
mod fuzz_regressions;
#[cfg(feature = "cli")]
mod hardening;
#[cfg(feature = "proptest")]
mod harness;
#[cfg(feature = "real")]
mod history;
#[cfg(feature = "cli")]
mod holders;
mod html;
mod kb_matrix;
mod kept_true;
#[cfg(feature = "cli")]
mod processes;
mod properties;
#[cfg(feature = "real")]
mod real;
#[cfg(all(feature = "cli", target_os = "linux"))]
mod real_tools;
mod replay;
#[cfg(feature = "cli")]
mod serve_traffic;
mod snapshots;
mod support;
mod svg;
#[cfg(feature = "cli")]
mod sweep;
