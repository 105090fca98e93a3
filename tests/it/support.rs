//! Helpers shared by the behaviour tests.

use mailsim::report::{Actor, EventKind};
use mailsim::{Outcome, Report};

/// The outcome the timeline and the archive verdicts show, computed without
/// the runner's own bookkeeping.
pub fn outcome_from_timeline(r: &Report) -> Outcome {
    let mut o = Outcome::Clean;
    for e in r.timeline() {
        match e.kind {
            EventKind::ShutDown { .. } if e.actor == Actor::MailServer => {
                o = o.max(Outcome::GracefulShutdown)
            }
            EventKind::HangDetected { .. } => o = o.max(Outcome::Hang),
            _ => {}
        }
    }
    if r.mail_data_archived().any(|a| !a.verdict.is_consistent()) {
        o = o.max(Outcome::Corrupted);
    }
    o
}

/// Whether anything opened Mail Data while the server held it.
pub fn foreign_access(r: &Report) -> bool {
    r.timeline()
        .iter()
        .any(|e| matches!(e.kind, EventKind::ForeignAccess { .. }))
}

/// The mail-server traffic events (commits) of a report, as (time, kind).
pub fn commit_times(r: &Report) -> Vec<mailsim::SimTime> {
    r.timeline()
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Delivered { .. }
                    | EventKind::MarkedRead { .. }
                    | EventKind::Deleted { .. }
                    | EventKind::Compacted { .. }
            )
        })
        .map(|e| e.time)
        .collect()
}

/// Runs the built `mailsim` command with `args`.
#[cfg(feature = "cli")]
pub fn mailsim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(args)
        .output()
        .expect("the mailsim binary runs")
}

/// A command's standard output, as text.
#[cfg(feature = "cli")]
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// A command's standard error, as text.
#[cfg(feature = "cli")]
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Tallies a refused input the suite checked (its exit code, and that it
/// was one line): one line appended to the file `MAILSIM_TEST_TALLY` names,
/// when set, so that a run can count how many bad inputs it tries.
#[cfg(feature = "cli")]
pub fn tally_refusal(code: Option<i32>, stderr: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("MAILSIM_TEST_TALLY")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let one_line = stderr.lines().count() == 1;
        let _ = writeln!(f, "exit {code:?} one_line {one_line}");
    }
}
