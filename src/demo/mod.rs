//! The demo's table: the KB night under each remedy, over many seeds, and a
//! narrated excerpt of a real night for each outcome.
//!
//! [`cases`] lists the rows — no remedy under each conflict behavior, each of
//! the KB's exclusions, a lock-aware backup, the KB's other remedies
//! (stopping the server, the MS Mail Backup copy with and without the
//! exclusion it needs) and the modern snapshot policies — as [`DemoCase`]s:
//! a label, a plain-English explanation of what the row shows and what the
//! remedy costs, the [`Scenario`](crate::sim::Scenario) behind it and the
//! `mailsim run` flags that replay it. [`run_case`] runs one case over seeds
//! `0..seeds` and sums the reports into a [`DemoRow`]; [`table`] does it for
//! every case; [`render_table`] displays the result.
//!
//! [`table_and_excerpts`] also picks, for each outcome of
//! [`EXCERPT_OUTCOMES`] (clean, graceful shutdown, hang, corrupted), the
//! first night of the table that ends that way and cuts an [`Excerpt`] of
//! its narration: the minutes around the conflict, or on a clean night
//! around the moment the remedy acted. [`render_demo`] prints the whole of
//! `mailsim demo` — a paragraph on the problem, the table, the excerpts —
//! in plain text or with ANSI colours; [`demo_to_json`] is its `--json`;
//! [`demo_to_html`] is its `--html`, a web page of the table with each
//! row's first night ([`first_nights`]) drawn and narrated.
//!
//! The catalogue and the running of its rows live in `cases`, the table in
//! `table`, the excerpts in `excerpt` (cut from the condensed narration of
//! `narration`), the JSON in `json`; `paint` paints and wraps text for a
//! terminal.
//!
//! What does not live here: the command line (the `mailsim` binary) and the
//! simulation itself ([`crate::sim`]).
//!
//! ```
//! let rows = mailsim::demo::table(2)?;
//! assert_eq!(rows.len(), mailsim::demo::cases().len());
//! println!("{}", mailsim::demo::render_table(&rows));
//! # Ok::<(), mailsim::Error>(())
//! ```

mod cases;
mod excerpt;
mod html;
mod json;
mod narration;
mod paint;
mod table;

pub use cases::{DemoCase, DemoRow, cases, run_case, table, table_and_excerpts};
pub use excerpt::{EXCERPT_OUTCOMES, Excerpt};
pub use html::{demo_to_html, first_nights};
pub use json::{SCHEMA_VERSION, demo_to_json};
pub use table::render_table;

// Public for the `mailsim` binary only (src/cli): `demo --svg` names its
// files by slug, and `run` prints the condensed narration and durations as
// the demo does. Not part of the API: `human_duration` lives in
// `mailsim::time`.
#[doc(hidden)]
pub use crate::time::human_duration;
#[doc(hidden)]
pub use cases::slug;
#[doc(hidden)]
pub use narration::narrate_condensed;

use excerpt::{EXCERPT_WIDTH, render_excerpts};
use paint::wrap;
use table::render_table_colored;

/// What `mailsim demo` prints: a paragraph on the problem for a reader who
/// never heard of it, the table (as [`render_table`] prints it, painted
/// with ANSI colours when `color` is on: bold headings and labels, outcome
/// counts coloured when not zero, unplanned downtime in red), then the
/// excerpts, each under a heading naming its outcome, with its caption,
/// its narrated lines, its verdict and the command that replays the night.
pub fn render_demo(rows: &[DemoRow], excerpts: &[Excerpt], color: bool) -> String {
    let mut out = String::new();
    for line in wrap(INTRO, EXCERPT_WIDTH, "") {
        out.push_str(&line);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&render_table_colored(rows, color));
    if !excerpts.is_empty() {
        out.push('\n');
        out.push_str(&render_excerpts(excerpts, color));
    }
    out
}

/// The problem, in a paragraph.
const INTRO: &str = "A mail server (Microsoft Mail for AppleTalk Networks) keeps its data \
    file, Microsoft Mail Data, open for reading and writing all night. At 01:00 a backup \
    program, Retrospect Remote, copies the server's disk, that file included. Microsoft's \
    article KB Q98097 tells what follows: the server notices the other program opening its \
    file and usually shuts itself down to prevent corruption, or sometimes hangs; either way \
    mail stops until the administrator restarts it in the morning (08:00 here). A server \
    that kept writing instead would leave a torn copy in the archive. Each row below is the \
    same night under one remedy, simulated over many seeds (the traffic and the server's \
    reaction are drawn from the seed).";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::ZERO), "0 s");
        assert_eq!(human_duration(Duration::from_millis(300)), "< 1 s");
        assert_eq!(human_duration(Duration::from_secs(40)), "40 s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2 min");
        assert_eq!(human_duration(Duration::from_secs(750)), "12 min 30 s");
        assert_eq!(
            human_duration(Duration::from_secs(6 * 3600 + 45 * 60 + 10)),
            "6 h 45 min"
        );
    }
}
