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

/// The README's picture (`docs/kb-night-shutdown.svg`) is the night it
/// says it is. Regenerate it with
/// `cargo run --release -- run --seed 7 --behavior shutdown --svg docs/kb-night-shutdown.svg`.
const README_PICTURE: &str = include_str!("../../docs/kb-night-shutdown.svg");

/// The README's picture, byte for byte, as the library draws its night.
fn the_readme_night() -> String {
    mailsim::Scenario::kb98097()
        .seed(7)
        .conflict_behavior(mailsim::ConflictBehavior::Shutdown)
        .run()
        .unwrap()
        .to_svg()
}

#[test]
fn the_readme_picture_is_the_night_it_shows() {
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains("](docs/kb-night-shutdown.svg)"),
        "the README shows the picture"
    );
    assert!(
        the_readme_night() == README_PICTURE,
        "docs/kb-night-shutdown.svg no longer matches its night: regenerate it with \
         `cargo run --release -- run --seed 7 --behavior shutdown --svg docs/kb-night-shutdown.svg`"
    );
}

#[cfg(feature = "cli")]
#[test]
fn the_readme_picture_is_what_its_command_draws() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("night.svg");
    let o = super::support::mailsim(&[
        "run",
        "--seed",
        "7",
        "--behavior",
        "shutdown",
        "--svg",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", super::support::stderr(&o));
    assert!(
        std::fs::read_to_string(&file).unwrap() == README_PICTURE,
        "the README's regeneration command no longer draws docs/kb-night-shutdown.svg"
    );
}
