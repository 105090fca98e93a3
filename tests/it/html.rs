//! The night and the demo as web pages (`Report::to_html`,
//! `demo::demo_to_html`, `mailsim run --html`, `mailsim demo --html`):
//! self-contained, escaped, with a picture per night shown, and the same
//! bad-input rules as `--svg`. How a real browser shows the demo's page is
//! `browser`'s.

use mailsim::{ConflictBehavior, Scenario, demo};

/// Every reference a page makes stays inside it: nothing is fetched.
fn assert_self_contained(page: &str) {
    for attr in ["src=", "href=\"http", "href=\"//", "url(http", "@import"] {
        assert!(!page.contains(attr), "the page fetches something: {attr}");
    }
    for (at, _) in page.match_indices("href=\"") {
        assert!(page[at + 6..].starts_with('#'), "{}", &page[at..at + 40]);
    }
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.ends_with("</html>\n"));
    assert!(page.contains("prefers-color-scheme:dark") && page.contains("@media print"));
}

#[test]
fn the_demo_page_has_a_table_row_picture_and_excerpt_per_remedy() {
    let rows = demo::table(2).unwrap();
    let nights = demo::first_nights().unwrap();
    assert_eq!(nights.len(), rows.len());
    let page = demo::demo_to_html(&rows, &nights);
    assert_self_contained(&page);
    assert_eq!(page.matches("<table ").count(), 1);
    assert_eq!(page.matches("<tr data-row=").count(), rows.len());
    assert_eq!(
        page.matches("<section class=\"pg-panel\"").count(),
        rows.len()
    );
    // Each picture is inline, titled and described for screen readers,
    // with ids of its own.
    assert_eq!(page.matches("<svg ").count(), rows.len());
    for i in 1..=rows.len() {
        let labelled =
            format!("role=\"img\" aria-labelledby=\"row-{i}-svg-title row-{i}-svg-desc\"");
        assert!(page.contains(&labelled), "{labelled}");
        assert_eq!(
            page.matches(&format!("id=\"row-{i}-svg-title\"")).count(),
            1
        );
        assert_eq!(page.matches(&format!("id=\"row-{i}-unsafe\"")).count(), 1);
    }
    // The first row: its figures, its night's conflict narrated, its command.
    let first = &page[page.find("id=\"row-1\"").unwrap()..page.find("id=\"row-2\"").unwrap()];
    assert!(first.contains("Retrospect Remote opens"), "the excerpt");
    assert!(first.contains("Replay it: <code>mailsim run"), "{first}");
    assert!(
        page.contains("<a href=\"#row-1\" aria-controls=\"row-1\">no remedy (KB reaction)</a>")
    );
    // The outcomes' legend.
    for outcome in ["clean", "graceful shutdown", "hang", "corrupted"] {
        assert!(page.contains(&format!("<dt>{outcome}</dt>")), "{outcome}");
    }
    // The same rows and nights give the same page.
    assert_eq!(page, demo::demo_to_html(&rows, &nights));
}

#[test]
fn a_night_page_has_its_summary_picture_and_narration() {
    let report = Scenario::kb98097()
        .seed(7)
        .conflict_behavior(ConflictBehavior::Shutdown)
        .run()
        .unwrap();
    let page = report.to_html();
    assert_self_contained(&page);
    assert!(page.contains(
        "<dt>Server downtime</dt><dd>6 h 39 min (planned 0 s, unplanned 6 h 39 min)</dd>"
    ));
    assert_eq!(page.matches("<svg ").count(), 1);
    assert!(
        page.contains("<title id=\"night-svg-title\">mailsim: graceful shutdown (seed 7)</title>")
    );
    // Every event of the timeline is told.
    for e in report.timeline() {
        let line = e
            .to_string()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(page.contains(&line), "missing: {line}");
    }
}

#[cfg(feature = "cli")]
mod cli {
    use crate::support::{mailsim, stderr, stdout};

    fn assert_usage_error(o: &std::process::Output) {
        let err = stderr(o);
        crate::support::tally_refusal(o.status.code(), &err);
        assert_eq!(o.status.code(), Some(2), "stderr: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.starts_with("mailsim: error: --html "), "{err}");
        assert!(o.stdout.is_empty());
    }

    #[test]
    fn run_html_writes_the_nights_page() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("night.html");
        let f = file.to_str().unwrap();
        let o = mailsim(&["run", "--seed", "7", "--behavior", "shutdown", "--html", f]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("Outcome:"));
        let page = std::fs::read_to_string(&file).unwrap();
        let report = mailsim::Scenario::kb98097()
            .seed(7)
            .conflict_behavior(mailsim::ConflictBehavior::Shutdown)
            .run()
            .unwrap();
        assert_eq!(page, report.to_html());
        // Nothing left behind but the page.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // With --json, stdout is the report, unchanged.
        let plain = mailsim(&["run", "--json", "--seed", "4"]);
        let with = mailsim(&["run", "--json", "--seed", "4", "--html", f]);
        assert_eq!(with.status.code(), Some(0), "{}", stderr(&with));
        assert_eq!(plain.stdout, with.stdout);
    }

    #[test]
    fn html_to_a_bad_path_is_bad_usage_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/page.html");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for bad in [&missing, &dir.path().to_owned(), &link] {
            let bad = bad.to_str().unwrap();
            assert_usage_error(&mailsim(&["run", "--html", bad]));
            assert_usage_error(&mailsim(&["demo", "--seeds", "1", "--html", bad]));
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["link.html", "target"]);
    }
}
