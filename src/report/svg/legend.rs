//! The legend under the panels: what each bar, mark and line means, in
//! four columns (the Mail Server, Retrospect Remote, MS Mail Backup, the
//! traffic and the other marks).
//!
//! What does not live here: the classes' colours (the style sheet, in the
//! writer).

use super::WIDTH;
use super::writer::{Shape, Svg};
use Swatch::{Bar, Line, Mark};

/// The sample drawn before an entry of the legend, in a class of the style
/// sheet.
enum Swatch {
    Bar(&'static str),
    Mark(&'static str, Shape),
    Line(&'static str),
}

/// The legend's columns: a heading and its entries. An entry with the
/// class `""` continues the one above it.
fn columns() -> [(&'static str, Vec<(Swatch, &'static str)>); 4] {
    [
        (
            "Mail Server",
            vec![
                (Bar("serving"), "serving mail"),
                (Bar("paused"), "paused for a copy or a freeze (planned)"),
                (Bar("stopped"), "stopped for the backup (planned)"),
                (Bar("shutdown"), "shut down by the conflict (unplanned)"),
                (Bar("hung"), "hung, still holding Mail Data (unplanned)"),
                (Bar("crashed"), "crashed (an injected fault)"),
                (
                    Bar("unsafe-serving"),
                    "writing while the backup reads (unsafe)",
                ),
                (
                    Mark("restart", Shape::TriangleUp),
                    "the administrator restarts it",
                ),
                (Mark("hang-detected", Shape::TriangleDown), "hang detected"),
            ],
        ),
        (
            "Retrospect Remote",
            vec![
                (Bar("backup-run"), "backup running"),
                (Bar("read-live"), "reads the live Mail Data (the conflict)"),
                (
                    Bar("read-safe"),
                    "reads a snapshot, a copy, or a stopped file",
                ),
                (Bar("waiting"), "waits for Mail Data to go quiet"),
                (
                    Mark("skipped", Shape::TriangleDown),
                    "skips Mail Data (excluded, busy)",
                ),
                (Mark("snapshot", Shape::Circle), "snapshot taken"),
                (
                    Mark("gave-up", Shape::BigCross),
                    "snapshot gave up, backup failed",
                ),
                (
                    Mark("archived-ok", Shape::Circle),
                    "consistent copy archived",
                ),
                (
                    Mark("stale", Shape::Circle),
                    "stale copy archived (earlier night)",
                ),
                (
                    Mark("torn", Shape::BigCross),
                    "torn copy archived (corrupted)",
                ),
            ],
        ),
        (
            "MS Mail Backup",
            vec![
                (
                    Mark("copy-aside", Shape::Diamond),
                    "copy of Mail Data made aside",
                ),
                (
                    Mark("copy-missed", Shape::Diamond),
                    "no copy made (control panel",
                ),
                (Bar(""), "did not load, or the copy failed)"),
            ],
        ),
        (
            "Mail traffic and marks",
            vec![
                (Bar("served"), "requests served (above the line)"),
                (Bar("deferred"), "requests deferred (below the line)"),
                (Line("conflict"), "the backup opens the live data file"),
                (Bar("zoom-window"), "the stretch shown in the close-up"),
            ],
        ),
    ]
}

/// Draws the legend from `top`; returns its height.
pub(super) fn legend(svg: &mut Svg, top: f64) -> f64 {
    let columns = columns();
    svg.text("legend-title", 24.0, top + 14.0, None, "Legend");
    let col_w = (WIDTH - 48.0) / 4.0;
    let mut height: f64 = 0.0;
    for (c, (head, items)) in columns.iter().enumerate() {
        let x = 24.0 + c as f64 * col_w;
        let mut y = top + 36.0;
        svg.text("legend-head", x, y, None, head);
        y += 8.0;
        for (swatch, label) in items {
            match swatch {
                Bar("") => {}
                // `swatch` tells the legend's samples from the marks.
                Bar(class) => svg.rect_plain(&format!("{class} swatch"), x, y + 2.0, 18.0, 10.0),
                Mark(class, shape) => {
                    svg.mark(&format!("{class} swatch"), *shape, x + 9.0, y + 7.0, "")
                }
                Line(class) => svg.line(
                    &format!("{class} swatch"),
                    x + 9.0,
                    y - 1.0,
                    x + 9.0,
                    y + 15.0,
                ),
            }
            svg.text("legend-label", x + 26.0, y + 11.5, None, label);
            y += 18.0;
        }
        height = height.max(y - top);
    }
    height
}
