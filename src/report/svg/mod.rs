//! The picture of a night: [`Report::to_svg`](super::Report::to_svg) draws
//! the timeline as a self-contained SVG document.
//!
//! Layout, top to bottom: a title (the outcome) with the scenario and its
//! costs; for each night (at most [`MAX_NIGHTS`] are drawn, stacked), an
//! overview panel from a little before the first mail traffic to a little
//! after the night's end, in which quiet hours with nothing happening are
//! compressed into a marked break; then a close-up panel of the minutes
//! around the conflict (the first foreign access), or, on a night without
//! one, around the moment the remedy acted on Mail Data; then a legend.
//!
//! Each panel has four labelled lanes — **Mail Server** (its state:
//! serving, paused or stopped for a policy, shut down, hung, crashed),
//! **MS Mail Backup** (copies made aside, copies missed), **Retrospect
//! Remote** (the backup's run, its read of Mail Data, skips, snapshots,
//! the verdict on the archived copy) and **Mail traffic** (requests served
//! above the midline, deferred below, binned per few pixels) — and every
//! foreign access is a vertical line of class `conflict` labelled with who
//! opened what and how the server reacted.
//!
//! The output is deterministic (the same report gives the same bytes),
//! valid XML, fixed at [`WIDTH`] pixels wide, styled by one CSS class per
//! kind of element, and uses only system fonts.
//!
//! The model of what the picture shows is read from the report once
//! (`model`, with `retrospect` and `marks`); each panel maps its time to x
//! (`axis`) and draws the lanes (`panel`); `legend` and `words` add the
//! legend and the text, and `writer` writes the elements and the document.

mod axis;
mod legend;
mod marks;
mod model;
mod panel;
mod retrospect;
mod words;
mod writer;

use std::fmt::Write as _;

use super::Report;
use crate::time::SimTime;
use axis::Axis;
use legend::legend;
use model::{Focus, Model};
use panel::Panel;
use words::{description, headline, hm, scenario_line, summary_line, wrap};
use writer::{Svg, n};

/// Width of the picture, in pixels.
const WIDTH: f64 = 1200.0;
/// Left edge of the plotted time (lane labels sit left of it).
const PLOT_X0: f64 = 178.0;
/// Right edge of the plotted time.
const PLOT_X1: f64 = WIDTH - 28.0;
/// Labels may run past the plot up to here.
const LABEL_X1: f64 = WIDTH - 4.0;
/// Nights drawn at most; later ones are mentioned in a note.
const MAX_NIGHTS: usize = 7;
/// Height of a lane's bar.
const LANE_H: f64 = 24.0;
/// From one lane's top to the next (the bar, then a row of annotations).
const LANE_STEP: f64 = 44.0;
/// Width of a compressed stretch of quiet time on an overview axis.
const BREAK_W: f64 = 64.0;
/// Width of a bin of mail traffic.
const BIN_W: f64 = 3.0;
/// Requests in a bin that fill half a lane.
const BIN_FULL: f64 = 4.0;

/// The SVG document for `report`.
pub(super) fn render(report: &Report) -> String {
    render_with_ids(report, "")
}

/// The SVG document for `report`, its ids prefixed by `ids` (see
/// [`writer::document`]): how an HTML page holds several pictures.
pub(super) fn render_with_ids(report: &Report, ids: &str) -> String {
    let model = Model::new(report);
    let mut svg = Svg::default();
    let mut y = title_block(&mut svg, report, &model);
    let focus = model.focus();
    let zoom_box;
    (y, zoom_box) = overviews(&mut svg, &model, focus.as_ref(), y);
    if let Some(f) = &focus {
        y = close_up(&mut svg, &model, f, zoom_box, y);
    }
    y += 8.0;
    y += legend(&mut svg, y);
    y += 12.0;
    let title = format!("mailsim: {} (seed {})", report.outcome(), report.seed());
    writer::document(&title, &description(report, &model), &svg, y, ids)
}

/// The title (the outcome), the scenario and the costs; returns where they
/// end.
fn title_block(svg: &mut Svg, report: &Report, model: &Model<'_>) -> f64 {
    let mut y = 0.0;
    y += 34.0;
    svg.text("title", 24.0, y, None, &headline(report));
    for line in wrap(&scenario_line(report, model), 13.0) {
        y += 20.0;
        svg.text("subtitle", 24.0, y, None, &line);
    }
    y += 20.0;
    svg.text("summary", 24.0, y, None, &summary_line(report));
    y += 18.0;
    y
}

/// One overview per night drawn, stacked from `y`, with the close-up's
/// stretch marked on its night. Returns where they end and, when the
/// close-up's night is the last one drawn (right above the close-up), the
/// zoom window to link to it: its left and right x, and the y the link
/// starts from.
fn overviews(
    svg: &mut Svg,
    model: &Model<'_>,
    focus: Option<&Focus>,
    mut y: f64,
) -> (f64, Option<(f64, f64, f64)>) {
    let mut zoom_box: Option<(f64, f64, f64)> = None;
    for span in model.nights.iter().take(MAX_NIGHTS) {
        let axis = Axis::overview(model, span);
        let title = if model.nights.len() > 1 {
            format!("Night {} of {}", span.night, model.nights.len())
        } else {
            "The whole night".to_owned()
        };
        let note = overview_note(&axis);
        let panel = Panel {
            model,
            night: span.night,
            axis,
            top: y,
        };
        let height = panel.draw(svg, &title, &note);
        zoom_box = None;
        if let Some(f) = focus.filter(|f| f.night == span.night) {
            let (x0, x1) = (panel.axis.x(f.t0), panel.axis.x(f.t1));
            let (l0, l1) = panel.lanes_span();
            svg.rect_plain(
                "zoom-window",
                x0,
                l0 - 2.0,
                (x1 - x0).max(2.0),
                l1 - l0 + 4.0,
            );
            zoom_box = Some((x0, x1, panel.axis_y() + 24.0));
        }
        y += height;
    }
    if model.nights.len() > MAX_NIGHTS {
        y += 4.0;
        svg.text(
            "panel-note",
            24.0,
            y,
            None,
            &format!(
                "Nights {} to {} are not drawn: see the report's timeline.",
                MAX_NIGHTS + 1,
                model.nights.len()
            ),
        );
        y += 16.0;
    }
    (y, zoom_box)
}

/// An overview's times: from when to when, and which quiet stretches are
/// compressed.
fn overview_note(axis: &Axis) -> String {
    let mut note = format!(
        "{}–{}",
        hm(SimTime::from_micros(axis.t_min())),
        hm(SimTime::from_micros(axis.t_max()))
    );
    for (a, b) in axis.breaks() {
        let _ = write!(
            note,
            "; quiet {}–{} compressed",
            hm(SimTime::from_micros(a)),
            hm(SimTime::from_micros(b))
        );
    }
    note
}

/// The close-up of `f`, from `y`, linked to the zoom window of its
/// overview when there is one; returns where it ends.
fn close_up(
    svg: &mut Svg,
    model: &Model<'_>,
    f: &Focus,
    zoom_box: Option<(f64, f64, f64)>,
    mut y: f64,
) -> f64 {
    y += 10.0;
    if let Some((x0, x1, from_y)) = zoom_box {
        let _ = write!(
            svg.out,
            "<path class=\"zoom-link\" d=\"M{} {}L{} {}M{} {}L{} {}\"/>",
            n(x0),
            n(from_y),
            n(PLOT_X0),
            n(y + 2.0),
            n(x1),
            n(from_y),
            n(PLOT_X1),
            n(y + 2.0)
        );
    }
    let axis = Axis::single(f.t0, f.t1);
    let title = format!(
        "Close-up{}: {}–{}, {}",
        if model.nights.len() > 1 {
            format!(" of night {}", f.night)
        } else {
            String::new()
        },
        hm(SimTime::from_micros(f.t0)),
        hm(SimTime::from_micros(f.t1)),
        f.what
    );
    let panel = Panel {
        model,
        night: f.night,
        axis,
        top: y,
    };
    y += panel.draw(svg, &title, "");
    y
}
