//! `mailsim demo` on one screen: 80 columns and 50 lines by default when
//! piped, wider only when `COLUMNS` says so; `--wide` and `--explain` bring
//! back every column, every row's explanation and the excerpts; `run`'s
//! narration fits the same width; `--json` does not depend on any of it.

use std::process::{Command, Output};

use crate::support::stderr;

/// Runs `mailsim ARGS` piped, with `COLUMNS` set to `columns` or unset.
fn mailsim_at(columns: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailsim"));
    cmd.args(args).env_remove("COLUMNS").env_remove("NO_COLOR");
    if let Some(c) = columns {
        cmd.env("COLUMNS", c);
    }
    let o: Output = cmd.output().expect("the mailsim binary runs");
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("stdout is UTF-8")
}

/// The widest line, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// The line that starts with `label` and two spaces, split into cells.
fn row(text: &str, label: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{label}  ")))
        .unwrap_or_else(|| panic!("no row {label:?} in\n{text}"));
    line[label.len()..]
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_demo_fits_80_columns_and_50_lines_when_piped() {
    let text = mailsim_at(None, &["demo", "--seeds", "20"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 50, "{} lines:\n{text}", lines.len());
    for l in &lines {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    // The story in four lines at most, before the first blank line.
    let story = lines.iter().take_while(|l| !l.is_empty()).count();
    assert!((1..=4).contains(&story), "{story} lines of story");
    // A row per remedy, with the outcomes, the downtime, the share and age.
    for case in mailsim::demo::cases() {
        let cells = row(&text, case.short_label());
        assert_eq!(cells.len(), 7, "{}: {cells:?}", case.short_label());
        let counts: u64 = cells[..4].iter().map(|c| c.parse::<u64>().unwrap()).sum();
        assert_eq!(counts, 20, "{cells:?}");
        assert!(cells[5].ends_with('%'), "{cells:?}");
    }
    assert_eq!(
        row(&text, "no remedy (KB reaction)")[4..],
        ["6h39m", "100%", "5m48s"]
    );
    assert_eq!(row(&text, "exclude Mail Data")[5..], ["0%", "-"]);
    // One line per outcome, under the table's heading for it.
    for heading in ["clean", "shut", "hang", "torn"] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{heading} ")))
                .count(),
            1,
            "{heading}"
        );
    }
    // Where to go next, in the last two lines.
    let next = lines[lines.len() - 2..].join(" ");
    for flag in [
        "--explain",
        "--wide",
        "--html FILE",
        "mailsim run --seed N --svg FILE",
    ] {
        assert!(next.contains(flag), "{flag} in {next:?}");
    }
    // Nothing of --wide or --explain.
    assert!(!text.contains("files excluded"));
    assert!(!text.contains("What each outcome looks like"));
}

#[test]
fn columns_lets_the_demo_use_a_wider_screen() {
    let text = mailsim_at(Some("120"), &["demo", "--seeds", "5"]);
    let w = widest(&text);
    assert!(w > 80 && w <= 120, "{w} columns");
    // Room for the full labels and the outcomes' names.
    for case in mailsim::demo::cases() {
        assert_eq!(row(&text, &case.label).len(), 7, "{}", case.label);
    }
    assert!(text.contains("shutdown  hang  corrupted"), "{text}");
    assert!(text.lines().count() <= 50);
    // A narrow COLUMNS is honoured by the prose (the story, the outcomes,
    // where to go next); the table takes its narrowest layout.
    let text = mailsim_at(Some("60"), &["demo", "--seeds", "5"]);
    let lines: Vec<&str> = text.lines().collect();
    let story = lines.iter().take_while(|l| !l.is_empty());
    let end = lines[lines.len() - 7..].iter();
    for l in story.chain(end) {
        assert!(l.chars().count() <= 60, "{l}");
    }
    assert_eq!(widest(&text), 78, "{text}");
}

#[test]
fn wide_shows_every_column_of_the_full_table() {
    let text = mailsim_at(None, &["demo", "--seeds", "5", "--wide"]);
    for heading in [
        "nights ending in",
        "clean",
        "shutdown",
        "hang",
        "corrupted",
        "median downtime",
        "planned",
        "unplanned",
        "Mail Data in the archive",
        "consistent",
        "recovery point age",
        "files excluded",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
    // The library's full table, row for row.
    let rows = mailsim::demo::table(5).unwrap();
    let full = mailsim::demo::render_table(&rows);
    for line in full.lines().skip_while(|l| !l.starts_with("===")).take(15) {
        assert!(text.lines().any(|l| l == line), "missing: {line}");
    }
    assert_eq!(row(&text, "MS Mail Backup, Mail Data excluded").len(), 9);
    assert!(!text.contains("What each outcome looks like"));
}

#[test]
fn explain_holds_every_explanation_and_the_excerpts() {
    let text = mailsim_at(None, &["demo", "--seeds", "5", "--explain"]);
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = words(&text);
    for case in mailsim::demo::cases() {
        assert!(
            flat.contains(&words(&format!("{}: {}", case.label, case.explanation))),
            "{}",
            case.label
        );
    }
    let (_, excerpts) = mailsim::demo::table_and_excerpts(5).unwrap();
    assert_eq!(excerpts.len(), 4);
    for e in &excerpts {
        assert!(
            text.contains(&format!(
                "── {} ── {}, seed {} ",
                e.outcome, e.label, e.seed
            )),
            "{}",
            e.outcome
        );
        assert!(flat.contains(&words(&e.caption)), "{}", e.caption);
        assert!(flat.contains(&words(&e.verdict)), "{}", e.verdict);
        for line in &e.lines {
            assert!(flat.contains(&words(line)), "{line}");
        }
    }
    // Still 80 columns, explanations and excerpts included.
    assert!(widest(&text) <= 80, "{}", widest(&text));
}

#[test]
fn run_narration_fits_the_width() {
    let args = [
        "run",
        "--seed",
        "13",
        "--nights",
        "2",
        "--snapshot",
        "online-copy",
    ];
    let text = mailsim_at(None, &args);
    assert!(widest(&text) <= 80, "{}", widest(&text));
    // Wrapped, not cut: continuation lines are indented under the text.
    assert!(text.lines().any(|l| l.starts_with("         Server HD:")));
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let report = mailsim::Scenario::kb98097()
        .seed(13)
        .nights(2)
        .snapshot(mailsim::policy::OnlineCopy::default())
        .run()
        .unwrap();
    let told = mailsim::demo::narrate_condensed(report.timeline());
    assert!(words(&text).starts_with(&words(&told)));
    for columns in ["60", "132"] {
        let text = mailsim_at(Some(columns), &args);
        let w: usize = columns.parse().unwrap();
        assert!(widest(&text) <= w, "COLUMNS={columns}: {}", widest(&text));
        assert!(words(&text).starts_with(&words(&told)));
    }
    assert!(widest(&mailsim_at(Some("132"), &args)) > 80);
}

#[test]
fn json_depends_on_no_width_nor_layout_flag() {
    let run = mailsim_at(None, &["run", "--seed", "3", "--json"]);
    let report = mailsim::Scenario::kb98097().seed(3).run().unwrap();
    assert_eq!(run, format!("{}\n", report.to_json()));
    assert_eq!(
        mailsim_at(Some("50"), &["run", "--seed", "3", "--json"]),
        run
    );

    let demo = mailsim_at(None, &["demo", "--seeds", "3", "--json"]);
    let (rows, excerpts) = mailsim::demo::table_and_excerpts(3).unwrap();
    assert_eq!(
        demo,
        format!("{}\n", mailsim::demo::demo_to_json(&rows, &excerpts))
    );
    for (columns, flags) in [
        (Some("200"), &["--wide"][..]),
        (Some("40"), &["--explain"][..]),
        (None, &["--wide", "--explain"][..]),
    ] {
        let mut args = vec!["demo", "--seeds", "3", "--json"];
        args.extend_from_slice(flags);
        assert_eq!(mailsim_at(columns, &args), demo, "{columns:?} {flags:?}");
    }
    // No short label in the JSON: its schema is unchanged.
    assert!(!demo.contains("short_label"));
}
