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
//! around the moment the remedy acted. [`render_demo_with`] prints
//! `mailsim demo` as a [`DemoLayout`] says — by default on one screen of 80
//! columns and at most 50 lines: the problem in four lines, the narrow
//! table ([`render_table_narrow`]), a line per outcome, where to go next;
//! with `wide` the full table ([`render_table`]), with `explain` each row's
//! explanation and the excerpts — in plain text or with ANSI colours;
//! [`demo_to_json`] is its `--json`, whatever the layout; [`demo_to_html`]
//! is its `--html`, a web page of the table with each row's first night
//! ([`first_nights`]) drawn and narrated.
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
pub use table::{render_table, render_table_narrow};

// Public for the `mailsim` binary only (src/cli): `demo --svg` names its
// files by slug, and `run` prints the condensed narration and durations as
// the demo does, wrapped to the terminal's width. Not part of the API:
// `human_duration` lives in `mailsim::time`.
#[doc(hidden)]
pub use crate::time::human_duration;
#[doc(hidden)]
pub use cases::slug;
#[doc(hidden)]
pub use narration::{narrate_condensed, narrate_condensed_wrapped};
#[doc(hidden)]
pub use paint::wrap_text;

use excerpt::{EXCERPT_WIDTH, render_excerpts};
use paint::{Tone, bold, paint, wrap};
use table::{Style, explanations, narrow_table, wide_table};

use crate::report::Outcome;

/// How [`render_demo_with`] lays the demo out: the width it fits, which
/// table, whether the explanations and excerpts follow, and colours.
/// `DemoLayout::default()` is what `mailsim demo` prints to a pipe: 80
/// columns, the narrow table, no explanations, no colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoLayout {
    /// Columns every line fits, counted in characters (ANSI colours do not
    /// count): the narrow table takes the roomiest layout that fits, and
    /// prose is wrapped at this width, or at 100 columns on a wider
    /// screen. Below [`DemoLayout::MIN_WIDTH`] it counts as that.
    pub width: usize,
    /// The wide table — every column: planned and unplanned downtime,
    /// files excluded — and its legend, instead of the narrow table. It is
    /// as wide as it needs (144 columns for the built-in rows).
    pub wide: bool,
    /// After the screen, what each row shows and a narrated excerpt of a
    /// night of each outcome (`mailsim demo --explain`).
    pub explain: bool,
    /// ANSI colours: bold headings, outcome counts coloured when not zero,
    /// unplanned downtime in red, the excerpts' lines by what they tell.
    pub color: bool,
}

impl DemoLayout {
    /// The narrowest width honoured.
    pub const MIN_WIDTH: usize = 40;

    /// The default layout at `width` columns.
    pub fn new(width: usize) -> DemoLayout {
        DemoLayout {
            width,
            ..DemoLayout::default()
        }
    }

    /// With the wide table or not.
    pub fn wide(mut self, wide: bool) -> DemoLayout {
        self.wide = wide;
        self
    }

    /// With the explanations and excerpts or not.
    pub fn explain(mut self, explain: bool) -> DemoLayout {
        self.explain = explain;
        self
    }

    /// With ANSI colours or not.
    pub fn color(mut self, color: bool) -> DemoLayout {
        self.color = color;
        self
    }
}

impl Default for DemoLayout {
    fn default() -> DemoLayout {
        DemoLayout {
            width: 80,
            wide: false,
            explain: false,
            color: false,
        }
    }
}

/// The demo at 80 columns with the explanations and excerpts:
/// [`render_demo_with`] with `DemoLayout::default().explain(true)` and
/// `color`. What `mailsim demo --explain` prints to a pipe.
pub fn render_demo(rows: &[DemoRow], excerpts: &[Excerpt], color: bool) -> String {
    render_demo_with(
        rows,
        excerpts,
        &DemoLayout::default().explain(true).color(color),
    )
}

/// What `mailsim demo` prints, laid out by `layout`: the problem in four
/// lines at most; the table — the narrow one ([`render_table_narrow`])
/// and a line on its columns, or with `wide` the wide one
/// ([`render_table`]'s columns and legend); a line per outcome saying what
/// it means; with `explain`, each row's explanation and the excerpts, each
/// under a heading naming its outcome, with its caption, its narrated
/// lines, its verdict and the command that replays the night; then where
/// to go next. With the default layout (80 columns, narrow) every line fits
/// 80 columns and the whole fits 50 lines.
///
/// ```
/// use mailsim::demo::{DemoLayout, render_demo_with, table_and_excerpts};
///
/// let (rows, excerpts) = table_and_excerpts(2)?;
/// let screen = render_demo_with(&rows, &excerpts, &DemoLayout::default());
/// assert!(screen.lines().all(|l| l.chars().count() <= 80));
/// assert!(screen.lines().count() <= 50);
/// let explained = render_demo_with(&rows, &excerpts, &DemoLayout::new(80).explain(true));
/// assert!(explained.contains(&rows[0].explanation[..20]));
/// # Ok::<(), mailsim::Error>(())
/// ```
pub fn render_demo_with(rows: &[DemoRow], excerpts: &[Excerpt], layout: &DemoLayout) -> String {
    let width = layout.width.max(DemoLayout::MIN_WIDTH);
    let prose = width.min(EXCERPT_WIDTH);
    let color = layout.color;
    let mut out = String::new();
    let lines = |out: &mut String, text: &str, indent: &str| {
        for line in wrap(text, prose, indent) {
            out.push_str(&line);
            out.push('\n');
        }
    };
    lines(&mut out, STORY, "");
    out.push('\n');
    let style = if layout.wide {
        out.push_str(&wide_table(rows, color).0);
        Style::WIDE
    } else {
        let (table, style) = narrow_table(rows, width, color);
        out.push_str(&table);
        out.push('\n');
        lines(&mut out, COLUMNS_LEGEND, "    ");
        style
    };
    out.push('\n');
    out.push_str(&outcome_legend(style, prose, color));
    if layout.explain {
        out.push('\n');
        out.push_str(&explanations(rows, prose, color));
        if !excerpts.is_empty() {
            out.push('\n');
            out.push_str(&render_excerpts(excerpts, prose, color));
        }
    }
    out.push('\n');
    // Two lines at 80 columns: the flags, then the pictures.
    let mut flags = Vec::new();
    if !layout.explain {
        flags.push("--explain (each row, a night per outcome)");
    }
    if !layout.wide {
        flags.push("--wide (all columns)");
    }
    // A command is never broken across lines.
    let next = format!(
        "Next: {}{}--html\u{a0}FILE (a web page), {} (one night drawn)",
        flags.join(", "),
        if flags.is_empty() { "" } else { ", " },
        "mailsim run --seed N --svg FILE".replace(' ', "\u{a0}"),
    );
    lines(&mut out, &next, "");
    out = out.replace('\u{a0}', " ");
    out
}

/// A line per outcome, under the table's heading for it.
fn outcome_legend(style: Style, width: usize, color: bool) -> String {
    let outcomes = [
        Outcome::Clean,
        Outcome::GracefulShutdown,
        Outcome::Hang,
        Outcome::Corrupted,
    ];
    let term = outcomes
        .iter()
        .map(|o| style.heading(*o).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for o in outcomes {
        let heading = style.heading(o);
        let named =
            heading == o.as_str() || (o == Outcome::GracefulShutdown && heading == "shutdown");
        let meaning = match o {
            Outcome::Clean => {
                "no harm: the server kept serving, and any archived copy is consistent"
            }
            Outcome::GracefulShutdown if named => {
                "the server noticed the backup open its file and shut itself down"
            }
            Outcome::GracefulShutdown => {
                "a graceful shutdown: the server noticed the backup and stopped itself"
            }
            Outcome::Hang => "the server stopped answering but kept its file open",
            _ if named => "the server kept writing during the copy, so the archived copy is torn",
            _ => "corrupted: the server kept writing during the copy, so the copy is torn",
        };
        let indent = " ".repeat(term + 2);
        let text = format!("{heading:<term$}  {meaning}");
        for (k, line) in wrap(&text, width, &indent).into_iter().enumerate() {
            if k == 0 {
                let (t, rest) = line.split_at(heading.len());
                let tone = match o {
                    Outcome::Clean => Tone::Good,
                    Outcome::Corrupted => Tone::Bad,
                    _ => Tone::Warn,
                };
                out.push_str(&bold(&paint(t, tone, color), color));
                out.push_str(rest);
            } else {
                out.push_str(&line);
            }
            out.push('\n');
        }
    }
    out
}

/// The problem, in four lines at most at 80 columns.
const STORY: &str = "At 01:00 a backup copies a mail server's disk, its open data file \
    included. As Microsoft's KB Q98097 tells, the server notices and shuts itself down to \
    prevent corruption, or hangs: no mail until the administrator restarts it at 08:00. Had \
    it kept writing, the archived copy would be torn.";

/// What the narrow table's other columns mean.
const COLUMNS_LEGEND: &str = "downtime: median, planned or not; consistent: share of nights \
    whose archive holds a consistent copy of Mail Data; age: how old that copy is when the \
    backup ends (median; \"-\": none archived).";

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
