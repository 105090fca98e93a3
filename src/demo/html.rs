//! The demo as a web page ([`demo_to_html`]): the story, the remedies table
//! as an HTML table, and for each row the picture and narrated excerpt of
//! its first night ([`first_nights`]), shown when the row is chosen; then
//! the legend of the outcomes. One self-contained document, as
//! `mailsim demo --html FILE` writes it.
//!
//! What does not live here: the page's style sheet, the escaper and the
//! pictures (the report's), and the text the terminal shows (`table`,
//! `excerpt`).

use std::fmt::Write as _;

use super::cases::{DemoRow, cases};
use super::excerpt::excerpt;
use super::narration::narrate_condensed;
use super::table::percent;
use crate::error::Result;
use crate::report::html::{document, escape, figure};
use crate::report::{Outcome, Report};
use crate::time::human_duration;

/// Each row of [`cases`](super::cases)' first night, seed 0, in the same
/// order: the nights [`demo_to_html`] shows (and `mailsim demo --svg DIR`
/// draws).
pub fn first_nights() -> Result<Vec<Report>> {
    cases()
        .iter()
        .map(|c| c.scenario().clone().seed(0).run())
        .collect()
}

/// The demo as one self-contained HTML page: the story of KB Q98097; the
/// remedies table, a row per remedy with the figures of the demo's table
/// (nights ending in each outcome, median planned and unplanned downtime,
/// share of nights with a consistent Mail Data archived and median
/// recovery point age, median files excluded); for each row a section with
/// its explanation, the picture of `nights[i]` (its first night, as
/// [`first_nights`] runs them), the narrated excerpt around its conflict
/// or remedy, the command that replays it and its whole night narrated;
/// and the legend of the outcomes.
///
/// Each row's label is a link to its section. A few lines of script show
/// only the chosen row's section (the first at load, or the one the page's
/// address names, `#row-3`), highlighted in the table, and follow clicks
/// and the keyboard (the links are focusable). Without the script every
/// section is shown, and the links jump to them; printed, every section is
/// shown. Styles and pictures are inline: the page fetches nothing.
///
/// `rows` and `nights` pair by index; a row without a night (when `nights`
/// is shorter) has no section. All text is escaped.
///
/// ```
/// let rows = mailsim::demo::table(1)?;
/// let nights = mailsim::demo::first_nights()?;
/// let page = mailsim::demo::demo_to_html(&rows, &nights);
/// assert_eq!(page.matches("<svg ").count(), rows.len());
/// # Ok::<(), mailsim::Error>(())
/// ```
pub fn demo_to_html(rows: &[DemoRow], nights: &[Report]) -> String {
    let mut body = String::new();
    body.push_str("<h1>A backup meets a live mail server</h1>\n");
    for para in STORY {
        let _ = writeln!(body, "<p>{}</p>", escape(para));
    }
    body.push_str("<h2>The remedies</h2>\n");
    body.push_str(&table(rows, nights.len()));
    body.push_str("<h2>One night under each remedy</h2>\n");
    let _ = writeln!(
        body,
        "<p class=\"pg-muted pg-noprint\">{}</p>",
        escape(
            "Choose a remedy in the table to see its first night (seed 0): its picture, \
             the minutes that matter, narrated, and the command that replays it."
        )
    );
    let catalogue = cases();
    for (i, (row, night)) in rows.iter().zip(nights).enumerate() {
        let command = catalogue
            .iter()
            .find(|c| c.label == row.label)
            .and_then(|c| c.command(0));
        body.push_str(&section(i, row, night, command.as_deref()));
    }
    body.push_str("<h2>The outcomes</h2>\n<dl class=\"pg-legend\">\n");
    for (outcome, meaning) in OUTCOMES {
        let _ = writeln!(
            body,
            "<dt>{}</dt><dd>{}</dd>",
            escape(&outcome.to_string()),
            escape(meaning)
        );
    }
    body.push_str("</dl>\n<h2>The columns</h2>\n<dl class=\"pg-legend\">\n");
    for (column, meaning) in COLUMNS {
        let _ = writeln!(
            body,
            "<dt>{}</dt><dd>{}</dd>",
            escape(column),
            escape(meaning)
        );
    }
    body.push_str("</dl>\n");
    document(
        "mailsim demo: the KB Q98097 night under every remedy",
        &body,
        Some(SCRIPT),
    )
}

/// The id of row `i`'s section.
fn row_id(i: usize) -> String {
    format!("row-{}", i + 1)
}

/// The remedies table; rows `0..with_sections` link to their sections.
fn table(rows: &[DemoRow], with_sections: usize) -> String {
    let mut out = String::from("<table class=\"pg-table\">\n");
    let nights = rows.first().map_or(0, |r| r.nights);
    let _ = writeln!(
        out,
        "<caption class=\"pg-muted\">{}</caption>",
        escape(&format!(
            "Each row: the same night under one remedy, simulated over {nights} seed{} \
             (0 to {}).",
            if nights == 1 { "" } else { "s" },
            nights.saturating_sub(1)
        ))
    );
    out.push_str(
        "<thead>\n<tr><th rowspan=\"2\" scope=\"col\">remedy</th>\
         <th colspan=\"4\" scope=\"colgroup\">nights ending in</th>\
         <th colspan=\"2\" scope=\"colgroup\">median downtime</th>\
         <th colspan=\"2\" scope=\"colgroup\">Mail Data in the archive</th>\
         <th rowspan=\"2\" scope=\"col\">median files excluded</th></tr>\n\
         <tr><th scope=\"col\">clean</th><th scope=\"col\">shutdown</th><th scope=\"col\">hang</th>\
         <th scope=\"col\">corrupted</th><th scope=\"col\">planned</th><th scope=\"col\">unplanned</th>\
         <th scope=\"col\">consistent</th><th scope=\"col\">recovery point age</th></tr>\n</thead>\n<tbody>\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let label = if i < with_sections {
            format!(
                "<a href=\"#{id}\" aria-controls=\"{id}\">{}</a>",
                escape(&r.label),
                id = row_id(i)
            )
        } else {
            escape(&r.label)
        };
        let count = |o: Outcome| {
            let n = r.count(o);
            let bad = n > 0 && o != Outcome::Clean;
            format!("<td{}>{n}</td>", if bad { " class=\"pg-bad\"" } else { "" })
        };
        let _ = writeln!(
            out,
            "<tr data-row=\"{id}\"><th scope=\"row\">{label}</th>{}{}{}{}<td>{}</td><td{}>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            count(Outcome::Clean),
            count(Outcome::GracefulShutdown),
            count(Outcome::Hang),
            count(Outcome::Corrupted),
            escape(&human_duration(r.median_planned_downtime)),
            if r.median_unplanned_downtime.is_zero() {
                ""
            } else {
                " class=\"pg-bad\""
            },
            escape(&human_duration(r.median_unplanned_downtime)),
            escape(&percent(r.mail_data_consistent, r.nights)),
            escape(
                &r.median_recovery_point_age
                    .map_or_else(|| "-".to_owned(), human_duration)
            ),
            r.median_files_excluded,
            id = row_id(i)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// Row `i`'s section: what it shows, its first night's picture, excerpt,
/// command and whole narration.
fn section(i: usize, row: &DemoRow, night: &Report, command: Option<&str>) -> String {
    let id = row_id(i);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section class=\"pg-panel\" id=\"{id}\" aria-labelledby=\"{id}-heading\">\n\
         <h3 id=\"{id}-heading\">{}</h3>\n<p>{}</p>",
        escape(&row.label),
        escape(&row.explanation)
    );
    let m = night.metrics();
    let _ = writeln!(
        out,
        "<p class=\"pg-muted\">{}</p>",
        escape(&format!(
            "Its first night (seed {}): {}; downtime {} (planned {}, unplanned {}).",
            night.seed(),
            night.outcome(),
            human_duration(m.server_downtime),
            human_duration(m.planned_downtime),
            human_duration(m.unplanned_downtime)
        ))
    );
    out.push_str(&figure(night, &format!("{id}-")));
    match excerpt(night, &row.label, night.seed()) {
        Some(e) => {
            let _ = writeln!(out, "<p>{}</p>", escape(&e.caption));
            out.push_str("<ol class=\"pg-narration\">\n");
            for line in &e.lines {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ol>\n");
            let _ = writeln!(out, "<p>{}</p>", escape(&e.verdict));
        }
        None => {
            let _ = writeln!(
                out,
                "<p>{}</p>",
                escape(
                    "No conflict and no moment when a remedy acted on Mail Data: the whole \
                     night is narrated below."
                )
            );
        }
    }
    if let Some(command) = command {
        let _ = writeln!(out, "<p>Replay it: <code>{}</code></p>", escape(command));
    }
    let _ = writeln!(
        out,
        "<details class=\"pg-noprint\"><summary>The whole night, narrated</summary>\n\
         <pre class=\"pg-narration\">{}</pre></details>\n</section>",
        escape(&narrate_condensed(night.timeline()))
    );
    out
}

/// The story, for a reader who never heard of it.
const STORY: [&str; 2] = [
    "A mail server (Microsoft Mail for AppleTalk Networks 3.1) keeps its data file, \
     Microsoft Mail Data, open for reading and writing all night. At 01:00 a backup program, \
     Retrospect Remote, copies the server's disk, that file included. Microsoft's article \
     KB Q98097 tells what follows: the server notices the other program opening its file and \
     usually shuts itself down to prevent corruption, or sometimes hangs; either way mail \
     stops until the administrator restarts it in the morning (08:00 here). A server that \
     kept writing instead would leave a torn copy in the archive.",
    "The KB's remedies are to exclude the server's System Folder or Extensions Folder, or \
     Microsoft Mail Data itself, from the backup; to make sure the server is not running \
     during the backup; or to let the MS Mail Backup control panel copy the data file to \
     another volume at midnight and archive that copy. Modern snapshots (copy-on-write, \
     VSS-style freeze and thaw, SQLite-style online copy) hand the backup a consistent \
     image instead. Each row below is the same night under one of them, simulated over \
     many seeds: the traffic and the server's reaction are drawn from the seed.",
];

/// What each outcome the demo can show means.
const OUTCOMES: [(Outcome, &str); 4] = [
    (
        Outcome::Clean,
        "The server never shut down or hung because of the backup, and every archived copy \
         of Mail Data is consistent. Planned stops and pauses are its costs.",
    ),
    (
        Outcome::GracefulShutdown,
        "The backup opened the live data file and the server shut itself down to prevent \
         corruption; mail stopped until the administrator restarted it.",
    ),
    (
        Outcome::Hang,
        "The backup opened the live data file and the server stopped answering while still \
         holding it, for longer than the hang threshold (5 min).",
    ),
    (
        Outcome::Corrupted,
        "An archived copy of Mail Data equals no state the file held between transactions: \
         a torn copy, only possible when the server keeps writing while it is read.",
    ),
];

/// What the table's columns mean.
const COLUMNS: [(&str, &str); 5] = [
    (
        "nights ending in",
        "How many nights ended clean, in a graceful shutdown, a hang, or with a corrupted \
         copy archived.",
    ),
    (
        "median downtime",
        "Planned: stops and pauses a remedy asks for. Unplanned: a shutdown or a hang, until \
         the administrator restarts the server at 08:00.",
    ),
    (
        "consistent",
        "Share of nights whose archive holds a consistent copy of Mail Data.",
    ),
    (
        "recovery point age",
        "Median, over the nights that archived Mail Data, of the time from when the archived \
         copy was taken to the end of the backup (\"-\": no night archived it).",
    ),
    (
        "median files excluded",
        "Median number of files the backup skipped because of an exclusion.",
    ),
];

/// Shows the chosen row's section only (the first, or the one the address
/// names), marks its row, and follows the links.
const SCRIPT: &str = "
(function () {
  var rows = document.querySelectorAll('tr[data-row]');
  var panels = document.querySelectorAll('section.pg-panel');
  if (!panels.length) return;
  function show(id) {
    if (!document.getElementById(id)) id = panels[0].id;
    panels.forEach(function (p) { p.hidden = p.id !== id; });
    rows.forEach(function (r) {
      var on = r.getAttribute('data-row') === id;
      r.classList.toggle('pg-chosen', on);
      var a = r.querySelector('a');
      if (a) { if (on) a.setAttribute('aria-current', 'true'); else a.removeAttribute('aria-current'); }
    });
  }
  rows.forEach(function (r) {
    var a = r.querySelector('a');
    if (a) a.addEventListener('click', function (ev) {
      ev.preventDefault();
      var id = r.getAttribute('data-row');
      history.replaceState(null, '', '#' + id);
      show(id);
    });
  });
  var named = document.getElementById(location.hash.slice(1));
  show(location.hash.slice(1));
  if (named) named.scrollIntoView();
})();
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::cases::sample_row;

    #[test]
    fn rows_link_to_their_sections_and_text_is_escaped() {
        let night = crate::sim::Scenario::kb98097().seed(0).run().unwrap();
        let rows = [sample_row("a <b> & c", 2), sample_row("d", 2)];
        let page = demo_to_html(&rows, std::slice::from_ref(&night));
        assert!(
            page.contains("<a href=\"#row-1\" aria-controls=\"row-1\">a &lt;b&gt; &amp; c</a>")
        );
        assert!(!page.contains("<b>"));
        // The second row has no night, so no section and no link.
        assert!(page.contains("<th scope=\"row\">d</th>"));
        assert!(!page.contains("id=\"row-2\""));
        assert_eq!(page.matches("<section ").count(), 1);
        assert_eq!(page.matches("<tr data-row=").count(), 2);
        assert!(page.contains("aria-labelledby=\"row-1-svg-title row-1-svg-desc\""));
        // Every link stays in the page.
        for (at, _) in page.match_indices("href=\"") {
            assert!(page[at + 6..].starts_with('#'), "{}", &page[at..at + 40]);
        }
        assert!(!page.contains("src="));
    }
}
