//! The README's and the crate docs' copies of the demo's table match what
//! `mailsim demo` prints by default: the 80-column table.

use mailsim::demo;

/// The lines of the demo's 80-column table, as printed: its headings, its
/// rule and its rows (not the title, which names the seeds).
fn table_lines() -> Vec<String> {
    let text = demo::render_table_narrow(&demo::table(100).unwrap(), 80);
    text.lines()
        .skip_while(|l| !l.trim().is_empty())
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn check(name: &str, doc: &str) {
    let lines = table_lines();
    assert!(
        lines.len() >= 3 + 14 && lines[2].starts_with("==="),
        "the demo prints headings, a rule and a row per remedy: {lines:?}"
    );
    for line in lines {
        assert!(line.chars().count() <= 80, "{line}");
        assert!(
            doc.lines().any(|l| l.trim_end() == line),
            "{name} no longer matches the demo: regenerate its table with `cargo run --release -- demo`.\nMissing line: {line}"
        );
    }
}

#[test]
fn the_readme_table_matches_the_demo() {
    check("README.md", include_str!("../../README.md"));
}

#[test]
fn the_crate_docs_table_matches_the_demo() {
    let docs: String = include_str!("../../src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! ").or_else(|| l.strip_prefix("//!")))
        .collect::<Vec<_>>()
        .join("\n");
    check("the crate docs", &docs);
}
