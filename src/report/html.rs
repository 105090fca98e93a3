//! The night as a web page: [`Report::to_html`](super::Report::to_html)
//! writes one self-contained HTML document — the night's summary, its
//! picture (the SVG of [`Report::to_svg`](super::Report::to_svg), inline)
//! and its narration — and the pieces the demo's page shares with it: the
//! HTML escaper, the page's style sheet (light and dark colour schemes, a
//! print style) and the document around a body.
//!
//! Nothing in the page is fetched: styles and pictures are inline, and it
//! needs no script. What does not live here: the picture itself (`svg`)
//! and the demo's page (`mailsim::demo`).

use std::fmt::Write as _;

use super::{EventKind, Report};
use crate::time::human_duration;

/// Text escaped for HTML content and attribute values; control characters
/// other than newline and tab become spaces.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The style sheet of mailsim's pages. Colours follow the system's scheme;
/// the pictures keep their own light background in both. Class names start
/// with `pg-` so that they never meet the pictures' own (an inline SVG's
/// style sheet applies to the whole page).
pub(crate) const STYLE: &str = "
:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fdfdfc;--muted:#5a5a5a;--line:#d4d4d4;
--card:#f3f3f1;--accent:#1f5fbf;--chosen:#fff3b8;--bad:#b2182b;--good:#1b6e32}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e6;--bg:#17181a;--muted:#a9a9a9;
--line:#3c3d40;--card:#222326;--accent:#8ab4ff;--chosen:#4a4120;--bad:#ff7b7b;--good:#7bd88f}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1260px;padding:1.5rem;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.25rem;margin:2rem 0 .5rem}
h3{font-size:1.05rem;margin:1rem 0 .4rem}
p{max-width:75ch}
a{color:var(--accent)}
code,pre,.pg-narration{font-family:ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace;font-size:.85rem}
.pg-muted{color:var(--muted)}
.pg-table{border-collapse:collapse;margin:.5rem 0;font-variant-numeric:tabular-nums}
.pg-table th,.pg-table td{border-bottom:1px solid var(--line);padding:.3rem .6rem;text-align:right;vertical-align:top}
.pg-table th[scope=row],.pg-table thead tr:first-child th:first-child{text-align:left}
.pg-table th[scope=row],.pg-table td{white-space:nowrap}
.pg-table thead th{font-weight:600;border-bottom:2px solid var(--line)}
.pg-table tbody tr.pg-chosen{background:var(--chosen)}
.pg-table a{display:block;text-decoration:none;font-weight:600}
.pg-table a:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.pg-bad{color:var(--bad);font-weight:600}.pg-good{color:var(--good)}
.pg-facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}
.pg-facts dt{font-weight:600}.pg-facts dd{margin:0}
.pg-figure{margin:1rem 0;padding:.5rem;background:#fff;border:1px solid var(--line);border-radius:6px;overflow-x:auto}
.pg-figure svg{display:block;max-width:100%;height:auto}
.pg-panel{border-top:2px solid var(--line);margin-top:1.5rem;padding-top:.5rem}
.pg-narration{list-style:none;padding:.5rem;margin:0;background:var(--card);border-radius:6px;white-space:pre-wrap}
.pg-narration li{padding:.05rem 0}
.pg-narration details summary{cursor:pointer;color:var(--muted)}
.pg-legend dt{font-weight:600}.pg-legend dd{margin:0 0 .4rem 1.5rem}
[hidden]{display:none!important}
@media print{
:root{--fg:#000;--bg:#fff;--muted:#444;--line:#999;--card:#fff;--chosen:#fff}
body{max-width:none;padding:0;font-size:11pt}
.pg-panel[hidden]{display:block!important}
.pg-panel,.pg-figure,tr{break-inside:avoid}
.pg-table a{color:#000}
.pg-narration{white-space:pre-wrap}
.pg-noprint{display:none!important}
}
";

/// A whole document: `title` (escaped here), the style sheet, `body` (HTML
/// already) and, when given, `script` (inline, run after the body).
pub(crate) fn document(title: &str, body: &str, script: Option<&str>) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 512);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    out.push_str(body);
    if let Some(script) = script {
        let _ = writeln!(out, "<script>{script}</script>");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// A picture of `report` in a figure, its SVG ids prefixed by `ids` so
/// that several can share a page.
pub(crate) fn figure(report: &Report, ids: &str) -> String {
    format!(
        "<figure class=\"pg-figure\">\n{}</figure>\n",
        super::svg::render_with_ids(report, ids)
    )
}

/// The night's page: heading, summary, picture, narration.
pub(super) fn render(report: &Report) -> String {
    let title = format!("mailsim: {} (seed {})", report.outcome(), report.seed());
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        body,
        "<p class=\"pg-muted\">Conflict behavior: {}; snapshot: {}; open files: {}; {} night{}.</p>",
        escape(&report.behavior),
        escape(&report.snapshot),
        escape(&report.open_files),
        report.nights(),
        if report.nights() == 1 { "" } else { "s" }
    );
    body.push_str("<h2>Summary</h2>\n");
    body.push_str(&summary(report));
    body.push_str("<h2>The night</h2>\n");
    body.push_str(&figure(report, "night-"));
    body.push_str("<h2>Narration</h2>\n");
    body.push_str(&narration(report));
    document(&title, &body, None)
}

/// The night's figures as a list of terms.
fn summary(report: &Report) -> String {
    let m = report.metrics();
    let mut facts: Vec<(&str, String)> = vec![
        ("Outcome", report.outcome().to_string()),
        (
            "Server downtime",
            format!(
                "{} (planned {}, unplanned {})",
                human_duration(m.server_downtime),
                human_duration(m.planned_downtime),
                human_duration(m.unplanned_downtime)
            ),
        ),
        ("Messages lost", m.messages_lost.to_string()),
        ("Requests deferred", m.deliveries_deferred.to_string()),
        (
            "Recovery point age",
            m.recovery_point_age.map_or_else(
                || "none: Mail Data was not archived".to_owned(),
                human_duration,
            ),
        ),
        (
            "Files",
            format!(
                "{} archived, {} excluded, {} skipped busy, {} skipped (snapshot gave up)",
                m.files_archived, m.files_excluded, m.files_skipped_busy, m.files_skipped_snapshot
            ),
        ),
        ("Bytes archived", m.bytes_archived.to_string()),
    ];
    let copies: Vec<String> = report
        .mail_data_archived()
        .map(|a| {
            let verdict = a.verdict;
            if report.nights() > 1 {
                format!("night {}, {}: {verdict}", a.night, a.path)
            } else {
                format!("{}: {verdict}", a.path)
            }
        })
        .collect();
    facts.push((
        "Mail Data archived",
        if copies.is_empty() {
            "none".to_owned()
        } else {
            copies.join("\n")
        },
    ));
    let mut out = String::from("<dl class=\"pg-facts\">\n");
    for (term, value) in facts {
        let value = escape(&value).replace('\n', "<br>");
        let _ = writeln!(out, "<dt>{term}</dt><dd>{value}</dd>");
    }
    out.push_str("</dl>\n");
    out
}

/// Routine mail traffic: folded, one fold per run of it.
fn is_traffic(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Delivered { .. }
            | EventKind::MarkedRead { .. }
            | EventKind::Deleted { .. }
            | EventKind::Deferred { .. }
    )
}

/// Runs of traffic shorter than this are not folded.
const MIN_FOLDED: usize = 3;

/// The whole timeline, one event a line, each run of routine traffic
/// folded under a line that counts it (opened with a click).
fn narration(report: &Report) -> String {
    let events = report.timeline();
    let mut out = String::from("<ol class=\"pg-narration\">\n");
    let mut i = 0;
    while i < events.len() {
        let run = events[i..]
            .iter()
            .take_while(|e| is_traffic(&e.kind))
            .count();
        if run >= MIN_FOLDED {
            let slice = &events[i..i + run];
            let _ = write!(
                out,
                "<li><details><summary>{}–{} {} mail requests</summary>",
                slice[0].time,
                slice[run - 1].time,
                run
            );
            for e in slice {
                let _ = write!(out, "<div>{}</div>", escape(&e.to_string()));
            }
            out.push_str("</details></li>\n");
            i += run;
        } else {
            let _ = writeln!(out, "<li>{}</li>", escape(&events[i].to_string()));
            i += 1;
        }
    }
    out.push_str("</ol>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::ConflictBehavior;
    use crate::sim::Scenario;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert_eq!(escape("x\u{1}y\u{7f}z"), "x y z");
    }

    #[test]
    fn a_night_page_holds_its_summary_picture_and_narration() {
        let report = Scenario::kb98097()
            .seed(7)
            .conflict_behavior(ConflictBehavior::Shutdown)
            .run()
            .unwrap();
        let page = report.to_html();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<h1>mailsim: graceful shutdown (seed 7)</h1>"));
        assert!(page.contains("<dt>Outcome</dt><dd>graceful shutdown</dd>"));
        assert_eq!(page.matches("<svg ").count(), 1);
        assert!(page.contains("aria-labelledby=\"night-svg-title night-svg-desc\""));
        assert!(page.contains("url(#night-unsafe)"));
        assert!(page.contains("shuts the server down to prevent corruption"));
        assert!(page.contains("prefers-color-scheme:dark"));
        assert!(page.contains("@media print"));
        // Nothing is fetched: no external address, no linked resource.
        assert!(!page.contains("src="));
        assert!(!page.contains("href="));
        assert!(page.ends_with("</html>\n"));
    }
}
