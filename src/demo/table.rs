//! The table: one row per remedy, its columns ([`Column`]) under group
//! headings, painted when asked. The wide table ([`render_table_colored`])
//! has every column and a legend of them; the narrow one
//! ([`narrow_table`]) fits a width (80 columns by default) with the
//! outcomes, downtime, the share of consistent copies and their age. Then
//! what each row shows ([`explanations`]).
//!
//! What does not live here: running the rows (the catalogue), and the
//! excerpts printed after the table.

use std::fmt::Write as _;

use super::cases::DemoRow;
use super::excerpt::EXCERPT_WIDTH;
use super::paint::{Tone, bold, paint, wrap};
use crate::report::Outcome;
use crate::time::human_duration;

/// Short column heading for an outcome.
fn heading(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::GracefulShutdown => "shutdown",
        other => other.as_str(),
    }
}

pub(super) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    // Rounded to the nearest percent, but never 0% or 100% unless exact.
    let p = (part * 100 + whole / 2) / whole;
    let p = match p {
        0 if part > 0 => 1,
        100 if part < whole => 99,
        p => p,
    };
    format!("{p}%")
}

/// Columns of the table: a group heading shared with its neighbours, the
/// column's own heading, and its cell for a row.
struct Column {
    group: &'static str,
    heading: &'static str,
    cell: Box<dyn Fn(&DemoRow) -> String>,
    tone: fn(&DemoRow, &str) -> Tone,
}

/// A cell painted as it is.
fn plain(_: &DemoRow, _: &str) -> Tone {
    Tone::Plain
}

/// An outcome count that is not zero: clean in green, shutdowns and hangs
/// in yellow, corrupted copies in red.
fn count_tone<const I: usize>(_: &DemoRow, cell: &str) -> Tone {
    match Outcome::ALL[I] {
        _ if cell == "0" => Tone::Plain,
        Outcome::Clean => Tone::Good,
        Outcome::Corrupted => Tone::Bad,
        _ => Tone::Warn,
    }
}

/// Downtime in red when some of it was unplanned.
fn downtime_tone(r: &DemoRow, _: &str) -> Tone {
    if r.median_unplanned_downtime.is_zero() {
        Tone::Plain
    } else {
        Tone::Bad
    }
}

fn outcome<const I: usize>(r: &DemoRow) -> String {
    r.counts[I].to_string()
}

/// The columns of the wide table, today's full table.
fn columns() -> Vec<Column> {
    const NIGHTS: &str = "nights ending in";
    vec![
        Column {
            group: "",
            heading: "remedy",
            cell: Box::new(|r| r.label.clone()),
            tone: plain,
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[0]),
            cell: Box::new(outcome::<0>),
            tone: count_tone::<0>,
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[1]),
            cell: Box::new(outcome::<1>),
            tone: count_tone::<1>,
        },
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[2]),
            cell: Box::new(outcome::<2>),
            tone: count_tone::<2>,
        },
        // Index 3 is `Crashed`, which only an injected fault causes: the
        // demo injects none.
        Column {
            group: NIGHTS,
            heading: heading(Outcome::ALL[4]),
            cell: Box::new(outcome::<4>),
            tone: count_tone::<4>,
        },
        Column {
            group: "median downtime",
            heading: "planned",
            cell: Box::new(|r| human_duration(r.median_planned_downtime)),
            tone: plain,
        },
        Column {
            group: "median downtime",
            heading: "unplanned",
            cell: Box::new(|r| human_duration(r.median_unplanned_downtime)),
            tone: downtime_tone,
        },
        Column {
            group: "Mail Data in the archive",
            heading: "consistent",
            cell: Box::new(|r| percent(r.mail_data_consistent, r.nights)),
            tone: plain,
        },
        Column {
            group: "Mail Data in the archive",
            heading: "recovery point age",
            cell: Box::new(|r| {
                r.median_recovery_point_age
                    .map_or_else(|| "-".to_owned(), human_duration)
            }),
            tone: plain,
        },
        Column {
            group: "median",
            heading: "files excluded",
            cell: Box::new(|r| r.median_files_excluded.to_string()),
            tone: plain,
        },
    ]
}

/// How roomy the narrow table is: full labels or short ones, the outcomes'
/// names or their short forms, durations as `6 h 39 min` or `6h39m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Style {
    pub(super) full_labels: bool,
    pub(super) long_headings: bool,
    pub(super) human: bool,
}

impl Style {
    /// The wide table's: full labels, the outcomes' names, `6 h 39 min`.
    pub(super) const WIDE: Style = Style::ALL[0];

    /// From the roomiest to the narrowest: the narrow table takes the first
    /// that fits its width.
    const ALL: [Style; 3] = [
        Style {
            full_labels: true,
            long_headings: true,
            human: true,
        },
        Style {
            full_labels: true,
            long_headings: false,
            human: false,
        },
        Style {
            full_labels: false,
            long_headings: false,
            human: false,
        },
    ];

    /// An outcome's column heading in this style.
    pub(super) fn heading(self, outcome: Outcome) -> &'static str {
        match outcome {
            _ if self.long_headings => heading(outcome),
            Outcome::GracefulShutdown => "shut",
            Outcome::Corrupted => "torn",
            other => heading(other),
        }
    }
}

/// `6h39m` for `6 h 39 min`: the same figure as [`human_duration`], in
/// fewer columns.
fn compact_duration(d: std::time::Duration) -> String {
    human_duration(d)
        .replace(" min", "m")
        .replace(" h", "h")
        .replace(" s", "s")
        .replace(' ', "")
}

/// The columns of the narrow table in `style`: remedy, the four outcomes,
/// median downtime (planned or not), the share of nights whose archive
/// holds a consistent copy of Mail Data, and its median age.
fn narrow_columns(style: Style) -> Vec<Column> {
    let duration: fn(std::time::Duration) -> String = if style.human {
        human_duration
    } else {
        compact_duration
    };
    const NIGHTS: &str = "nights ending in";
    const ARCHIVE: &str = "archived copy";
    vec![
        Column {
            group: "",
            heading: "remedy",
            cell: if style.full_labels {
                Box::new(|r| r.label.clone())
            } else {
                Box::new(|r| r.short_label.clone())
            },
            tone: plain,
        },
        Column {
            group: NIGHTS,
            heading: style.heading(Outcome::ALL[0]),
            cell: Box::new(outcome::<0>),
            tone: count_tone::<0>,
        },
        Column {
            group: NIGHTS,
            heading: style.heading(Outcome::ALL[1]),
            cell: Box::new(outcome::<1>),
            tone: count_tone::<1>,
        },
        Column {
            group: NIGHTS,
            heading: style.heading(Outcome::ALL[2]),
            cell: Box::new(outcome::<2>),
            tone: count_tone::<2>,
        },
        // Index 3 is `Crashed`: the demo injects no fault.
        Column {
            group: NIGHTS,
            heading: style.heading(Outcome::ALL[4]),
            cell: Box::new(outcome::<4>),
            tone: count_tone::<4>,
        },
        Column {
            group: "",
            heading: "downtime",
            cell: Box::new(move |r| duration(r.median_downtime)),
            tone: downtime_tone,
        },
        Column {
            group: ARCHIVE,
            heading: "consistent",
            cell: Box::new(|r| percent(r.mail_data_consistent, r.nights)),
            tone: plain,
        },
        Column {
            group: ARCHIVE,
            heading: "age",
            cell: Box::new(move |r| {
                r.median_recovery_point_age
                    .map_or_else(|| "-".to_owned(), duration)
            }),
            tone: plain,
        },
    ]
}

/// What the columns mean, printed under the table.
const LEGEND: &str = "\
nights ending in: how many nights ended clean, in a graceful shutdown, a hang, or with a corrupted copy archived.
median downtime: planned (stops and pauses a remedy asks for) and unplanned (a shutdown or a hang, until the administrator restarts the server at 08:00).
consistent: share of nights whose archive holds a consistent copy of Mail Data.
recovery point age: median, over the nights that archived Mail Data, of the time from when the archived copy was taken to the end of the backup (\"-\": no night archived it).
files excluded: median number of files the backup skipped because of an exclusion.
";

/// The rows as a plain-text table with aligned columns — remedy; how many
/// nights ended in each outcome; median planned and unplanned downtime;
/// share of nights with a consistent Mail Data in the archive and median
/// recovery point age; median files excluded — under group headings, then
/// a legend of the columns and a `label: explanation` paragraph per row
/// (lines longer than the table, or than 100 columns, are wrapped with a
/// hanging indent). This is the table of `mailsim demo --wide --explain`;
/// [`render_table_narrow`] is the one `mailsim demo` prints by default.
pub fn render_table(rows: &[DemoRow]) -> String {
    render_table_colored(rows, false)
}

/// [`render_table`], painted with ANSI colours when `color` is on: bold
/// headings and labels, outcome counts coloured when not zero (clean in
/// green, shutdown and hang in yellow, corrupted in red), unplanned
/// downtime in red. With `color` off the text is [`render_table`]'s.
pub(super) fn render_table_colored(rows: &[DemoRow], color: bool) -> String {
    let (mut out, width) = wide_table(rows, color);
    out.push('\n');
    out.push_str(&explanations(rows, width, color));
    out
}

/// The table in at most `width` columns (each line counted in characters),
/// as `mailsim demo` prints it by default: a title line, then per row the
/// remedy, how many nights ended clean, in a shutdown, a hang or with a
/// torn (corrupted) copy, the median downtime (planned or not), the share
/// of nights whose archive holds a consistent copy of Mail Data and that
/// copy's median recovery point age. It takes the roomiest of three
/// layouts that fits — full labels, outcome names and `6 h 39 min`; full
/// labels, short headings (`shut`, `torn`) and `6h39m`; the rows' short
/// labels ([`DemoRow::short_label`]) too, which fits 80 columns — and the
/// narrowest when none does. The figures are those of [`render_table`].
pub fn render_table_narrow(rows: &[DemoRow], width: usize) -> String {
    narrow_table(rows, width, false).0
}

/// The title line over the table, when every row has as many nights.
fn title(rows: &[DemoRow]) -> Option<String> {
    let n = rows.first()?.nights;
    rows.iter().all(|r| r.nights == n).then(|| {
        format!(
            "The night of KB Q98097 under each remedy, {n} nights per row (seeds 0 to {}):",
            n.saturating_sub(1)
        )
    })
}

/// The wide table — title, every column, the legend of the columns — and
/// the width its text is wrapped to (the table's, at least 100).
pub(super) fn wide_table(rows: &[DemoRow], color: bool) -> (String, usize) {
    let mut out = String::new();
    if let Some(t) = title(rows) {
        let _ = writeln!(out, "{t}");
        out.push('\n');
    }
    let (grid, total) = grid(&columns(), rows, color);
    out.push_str(&grid);
    let width = total.max(EXCERPT_WIDTH);
    out.push('\n');
    for entry in LEGEND.lines() {
        out.push_str(&term_and_text(entry, width, color));
    }
    (out, width)
}

/// The narrow table ([`render_table_narrow`]), painted when `color` is on,
/// and the style it took.
pub(super) fn narrow_table(rows: &[DemoRow], width: usize, color: bool) -> (String, Style) {
    let narrowest = Style::ALL[Style::ALL.len() - 1];
    let (grid, style) = Style::ALL
        .iter()
        .map(|&style| (grid(&narrow_columns(style), rows, color), style))
        .find(|((_, total), _)| *total <= width)
        .map_or_else(
            || (grid(&narrow_columns(narrowest), rows, color).0, narrowest),
            |((text, _), style)| (text, style),
        );
    let mut out = String::new();
    if let Some(t) = title(rows) {
        for line in wrap(&t, width, "") {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
    out.push_str(&grid);
    (out, style)
}

/// `label: explanation` for each row, wrapped at `width` with a hanging
/// indent.
pub(super) fn explanations(rows: &[DemoRow], width: usize, color: bool) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&term_and_text(
            &format!("{}: {}", r.label, r.explanation),
            width,
            color,
        ));
    }
    out
}

/// The group headings, the headings, a rule and a line per row, and the
/// width of the rule (no line is wider).
fn grid(columns: &[Column], rows: &[DemoRow], color: bool) -> (String, usize) {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| (c.cell)(r)).collect())
        .collect();
    let (widths, spans) = layout(columns, &body);
    let plain = |_: usize, _: &str| Tone::Plain;
    let mut out = String::new();
    let groups = group_headings(&spans, &widths);
    let _ = writeln!(out, "{}", bold(groups.trim_end(), color));
    let headings: Vec<String> = columns.iter().map(|c| c.heading.to_owned()).collect();
    let _ = writeln!(
        out,
        "{}",
        bold(&line(&headings, &widths, &plain, color), color)
    );
    let total = span_width(&widths, 0, widths.len() - 1);
    let _ = writeln!(out, "{}", "=".repeat(total));
    for (r, cells) in rows.iter().zip(&body) {
        let tones = |i: usize, cell: &str| (columns[i].tone)(r, cell);
        let _ = writeln!(out, "{}", line(cells, &widths, &tones, color));
    }
    (out, total)
}

/// Columns sharing a group heading: (group, first, last).
type Spans = Vec<(&'static str, usize, usize)>;

/// The width of each column, as wide as its widest cell and heading, and
/// the spans of columns sharing a group heading; a group heading wider
/// than its columns widens the first of them.
fn layout(columns: &[Column], body: &[Vec<String>]) -> (Vec<usize>, Spans) {
    let mut widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            body.iter()
                .map(|row| row[i].chars().count())
                .chain([c.heading.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut spans: Spans = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        match spans.last_mut() {
            Some((g, _, last)) if *g == c.group && !g.is_empty() => *last = i,
            _ => spans.push((c.group, i, i)),
        }
    }
    for &(group, first, last) in &spans {
        let need = group.chars().count();
        let have = span_width(&widths, first, last);
        if need > have {
            widths[first] += need - have;
        }
    }
    (widths, spans)
}

/// The width of columns `first..=last`, the two spaces between them
/// included.
fn span_width(widths: &[usize], first: usize, last: usize) -> usize {
    widths[first..=last].iter().sum::<usize>() + 2 * (last - first)
}

/// One line of the table: the first cell aligned left, the others right,
/// each painted in the tone `tones` gives it.
fn line(
    cells: &[String],
    widths: &[usize],
    tones: &dyn Fn(usize, &str) -> Tone,
    color: bool,
) -> String {
    let mut s = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let tone = tones(i, cell);
        if i == 0 {
            let padded = format!("{cell:<w$}");
            let _ = write!(s, "{}", paint(&padded, tone, color));
        } else {
            let _ = write!(s, "  {}", paint(&format!("{cell:>w$}"), tone, color));
        }
    }
    s.trim_end().to_owned()
}

/// Group headings, centered over their columns and ruled out to their
/// width: `--- median downtime ---`.
fn group_headings(spans: &[(&str, usize, usize)], widths: &[usize]) -> String {
    let mut groups = String::new();
    for (k, &(group, first, last)) in spans.iter().enumerate() {
        if k > 0 {
            groups.push_str("  ");
        }
        let w = span_width(widths, first, last);
        if group.is_empty() {
            groups.push_str(&" ".repeat(w));
        } else if group.chars().count() + 2 > w {
            let _ = write!(groups, "{group:^w$}");
        } else {
            let _ = write!(groups, "{:-^w$}", format!(" {group} "));
        }
    }
    groups
}

/// `term: text`, wrapped at `width` with a hanging indent, the term in
/// bold when `color` is on.
fn term_and_text(entry: &str, width: usize, color: bool) -> String {
    let mut out = String::new();
    for (k, line) in wrap(entry, width, "    ").into_iter().enumerate() {
        match line.split_once(": ").filter(|_| k == 0) {
            Some((term, rest)) => {
                let _ = writeln!(out, "{}: {rest}", bold(term, color));
            }
            None => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::cases::sample_row as row;
    use std::time::Duration;

    #[test]
    fn percentages_are_never_rounded_to_all_or_nothing() {
        assert_eq!(percent(0, 100), "0%");
        assert_eq!(percent(1, 1000), "1%");
        assert_eq!(percent(999, 1000), "99%");
        assert_eq!(percent(5, 5), "100%");
        assert_eq!(percent(0, 0), "-");
    }

    #[test]
    fn the_table_shows_what_each_remedy_costs() {
        let mut archived = row("a remedy that archives", 4);
        archived.mail_data_archived = 4;
        archived.mail_data_consistent = 3;
        archived.median_recovery_point_age = Some(Duration::from_secs(3600 + 18 * 60));
        archived.counts = [3, 1, 0, 0, 0];
        archived.median_unplanned_downtime = Duration::from_secs(6 * 3600 + 45 * 60);
        let text = render_table(&[row("skip it", 4), archived]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "The night of KB Q98097 under each remedy, 4 nights per row (seeds 0 to 3):"
        );
        // Group headings ruled over their columns, then the columns.
        assert!(lines[2].contains("- nights ending in -"), "{}", lines[2]);
        assert!(lines[2].contains("- median downtime -"), "{}", lines[2]);
        assert!(
            lines[2].contains("- Mail Data in the archive -"),
            "{}",
            lines[2]
        );
        let headings: Vec<&str> = lines[3]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            headings,
            [
                "remedy",
                "clean",
                "shutdown",
                "hang",
                "corrupted",
                "planned",
                "unplanned",
                "consistent",
                "recovery point age",
                "files excluded"
            ]
        );
        assert!(lines[4].chars().all(|c| c == '='));
        let cells = |line: &str| -> Vec<String> {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            cells(lines[5]),
            ["skip it", "4", "0", "0", "0", "3 s", "0 s", "0%", "-", "1"]
        );
        assert_eq!(
            cells(lines[6]),
            [
                "a remedy that archives",
                "3",
                "1",
                "0",
                "0",
                "3 s",
                "6 h 45 min",
                "75%",
                "1 h 18 min",
                "1"
            ]
        );
        // Every line of the table is as wide as the rule, at most.
        let rule = lines[4].len();
        assert!(lines[2..7].iter().all(|l| l.chars().count() <= rule));
        assert!(text.contains("recovery point age: median"));
        assert!(text.ends_with("a remedy that archives: a remedy that archives explained.\n"));
    }

    #[test]
    fn the_narrow_table_takes_the_roomiest_layout_that_fits() {
        let mut long = row("a remedy with a label far too long for 80 columns", 100);
        long.short_label = "a short label".to_owned();
        long.counts = [10, 60, 30, 0, 0];
        long.median_downtime = Duration::from_secs(6 * 3600 + 39 * 60 + 5);
        long.median_unplanned_downtime = long.median_downtime;
        long.mail_data_archived = 100;
        long.mail_data_consistent = 100;
        long.median_recovery_point_age = Some(Duration::from_secs(348));
        let rows = [row("skip it", 100), long];
        let cells = |text: &str, label: &str| -> Vec<String> {
            let line = text.lines().find(|l| l.starts_with(label)).unwrap();
            line[label.len()..]
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        // 80 columns: short labels, short headings, compact durations.
        let (text, style) = narrow_table(&rows, 80, false);
        assert!(!style.full_labels && !style.human);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("clean  shut  hang  torn  downtime"), "{text}");
        assert_eq!(
            cells(&text, "a short label"),
            ["10", "60", "30", "0", "6h39m", "100%", "5m48s"]
        );
        assert_eq!(
            cells(&text, "skip it"),
            ["100", "0", "0", "0", "3s", "0%", "-"]
        );
        // A wide screen: the labels, the outcomes' names, `6 h 39 min`.
        let (text, style) = narrow_table(&rows, 200, false);
        assert_eq!(style, Style::WIDE);
        assert!(text.contains("clean  shutdown  hang  corrupted"), "{text}");
        let label = "a remedy with a label far too long for 80 columns";
        assert_eq!(
            cells(&text, label).join(" "),
            "10 60 30 0 6 h 39 min 100% 5 min 48 s"
        );
        // Colours do not change the layout: only escapes are added.
        let (painted, _) = narrow_table(&rows, 80, true);
        assert!(painted.contains("\x1b[31m"), "unplanned downtime in red");
        let stripped = painted.replace("\x1b[0m", "").replace("\x1b[1m", "");
        let stripped = [
            "\x1b[2m",
            "\x1b[31m",
            "\x1b[32m",
            "\x1b[33m",
            "\x1b[36m",
            "\x1b[1;31m",
        ]
        .iter()
        .fold(stripped, |t, e| t.replace(e, ""));
        assert_eq!(stripped, narrow_table(&rows, 80, false).0);
    }

    #[test]
    fn compact_durations_keep_the_figures() {
        let s = Duration::from_secs;
        assert_eq!(compact_duration(Duration::ZERO), "0s");
        assert_eq!(compact_duration(Duration::from_millis(300)), "<1s");
        assert_eq!(compact_duration(s(3)), "3s");
        assert_eq!(compact_duration(s(120)), "2m");
        assert_eq!(compact_duration(s(348)), "5m48s");
        assert_eq!(compact_duration(s(6 * 3600 + 39 * 60 + 5)), "6h39m");
    }
}
