//! The README's and the crate docs' copies of the demo's table match what
//! the demo prints.

use mailsim::demo;

/// The rows of the demo's table, as printed.
fn table_rows() -> Vec<String> {
    let text = demo::render_table(&demo::table(100).unwrap());
    text.lines()
        .skip_while(|l| !l.starts_with("==="))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn check(name: &str, doc: &str) {
    let rows = table_rows();
    assert!(
        rows.len() >= 14,
        "the demo prints a row per remedy: {rows:?}"
    );
    for row in rows {
        assert!(
            doc.lines().any(|l| l.trim_end() == row),
            "{name} no longer matches the demo: regenerate its table with `cargo run --release -- demo`.\nMissing row: {row}"
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
