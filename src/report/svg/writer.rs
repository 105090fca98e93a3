//! Writing SVG: [`Svg`], the element writer every part of the picture
//! draws with (rectangles, lines, text, the [`Shape`]s of marks); the style
//! sheet and the document around the drawing ([`document`]); and the text
//! helpers the layout needs (a width estimate, coordinates, escaping).
//!
//! What does not live here: what is drawn where (the panels, the legend),
//! nor what it says.

use std::fmt::Write as _;

use super::WIDTH;

const STYLE: &str = "
text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;fill:#222}
.bg{fill:#fff}
.title{font-size:20px;font-weight:600}
.subtitle{font-size:13px;fill:#555}
.summary{font-size:13px;fill:#333}
.panel-title{font-size:14px;font-weight:600}
.panel-note{font-size:12px;fill:#666}
.lane-label{font-size:13px;font-weight:600;text-anchor:end}
.lane-sub{font-size:10.5px;fill:#777;text-anchor:end}
.lane-bg{fill:#f6f6f6}
.lane-note{font-size:11px;fill:#999;font-style:italic}
.axis{stroke:#444;stroke-width:1}
.tick{stroke:#444;stroke-width:1}
.minor-tick{stroke:#aaa;stroke-width:1}
.grid{stroke:#e4e4e4;stroke-width:1}
.tick-label{font-size:11px;fill:#444;text-anchor:middle}
.break{stroke:#888;stroke-width:1.5;fill:none}
.break-bg{fill:#fff}
.break-label{font-size:10px;fill:#777;text-anchor:middle}
.bar-label{font-size:11px;fill:#fff;font-weight:600}
.bar-label-dark{font-size:11px;fill:#222}
.note{font-size:10.5px;fill:#333}
.halo{stroke:#fff;stroke-width:6;fill:none;stroke-linecap:round}
.not-running{fill:#d9d9d9}
.serving{fill:#8fd19e}
.unsafe-serving{fill:url(#unsafe)}
.paused{fill:#6baed6}
.stopped{fill:#2171b5}
.shutdown{fill:#e6550d}
.hung{fill:#756bb1}
.crashed{fill:#3b3b3b}
.backup-run{fill:#c9ced8}
.file-boundary{stroke:#f6f6f6;stroke-width:1}
.read-live{fill:#d62728}
.read-safe{fill:#17a2b8}
.waiting{fill:#fdd49e}
.copy-aside{fill:#3182bd;stroke:#08519c}
.copy-missed{fill:#fff;stroke:#d62728;stroke-width:2}
.snapshot{fill:#17a2b8;stroke:#0b6e7d}
.archived-ok{fill:#31a354;stroke:#1b6e32}
.skipped{fill:#969696;stroke:#636363}
.skipped-minor{stroke:#969696;stroke-width:1.5}
.busy{stroke:#636363;stroke-width:1.5}
.online-restart{stroke:#0b6e7d;stroke-width:1.5}
.note-mark{stroke:#636363;stroke-width:1.5}
.snapshot-failed{stroke:#e6550d;stroke-width:2}
.gave-up{stroke:#d62728;stroke-width:3}
.failed{stroke:#d62728;stroke-width:3}
.torn{stroke:#d62728;stroke-width:3.5}
.stale{fill:#fdae6b;stroke:#a63603}
.restart{fill:#31a354;stroke:#1b6e32}
.hang-detected{fill:#756bb1;stroke:#3f007d}
.midline{stroke:#ccc;stroke-width:1}
.served{fill:#31a354}
.deferred{fill:#e6550d}
.conflict{stroke:#b2182b;stroke-width:2;stroke-dasharray:6 3}
.conflict-label{font-size:12px;fill:#b2182b;font-weight:600}
.conflict-reaction{font-size:12px;fill:#b2182b}
.no-conflict{font-size:12px;fill:#1b6e32}
.zoom-window{fill:#ffe97f;fill-opacity:.35;stroke:#c9a800;stroke-width:1}
.zoom-link{stroke:#c9a800;stroke-width:1;stroke-dasharray:3 3;fill:none}
.legend-title{font-size:13px;font-weight:600}
.legend-head{font-size:12px;font-weight:600;fill:#444}
.legend-label{font-size:11.5px;fill:#333}
";

/// How a mark is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Diamond,
    Circle,
    Cross,
    BigCross,
    TriangleDown,
    TriangleUp,
    Tick,
}

// ---------------------------------------------------------------------------
// Drawing.

#[derive(Default)]
pub(super) struct Svg {
    pub(super) out: String,
}

impl Svg {
    pub(super) fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, tooltip: &str) {
        let _ = write!(
            self.out,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            n(x),
            n(y),
            n(w),
            n(h)
        );
        if tooltip.is_empty() {
            self.out.push_str("/>\n");
        } else {
            let _ = writeln!(self.out, "><title>{}</title></rect>", esc(tooltip));
        }
    }

    pub(super) fn rect_plain(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64) {
        self.rect(class, x, y, w, h, "");
    }

    pub(super) fn line(&mut self, class: &str, x1: f64, y1: f64, x2: f64, y2: f64) {
        let _ = writeln!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
    }

    pub(super) fn text(&mut self, class: &str, x: f64, y: f64, anchor: Option<&str>, s: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\"",
            n(x),
            n(y)
        );
        if let Some(a) = anchor {
            let _ = write!(self.out, " text-anchor=\"{a}\"");
        }
        let _ = writeln!(self.out, ">{}</text>", esc(s));
    }

    /// A mark of `shape` centred on (x, y).
    pub(super) fn mark(&mut self, class: &str, shape: Shape, x: f64, y: f64, tooltip: &str) {
        let body = match shape {
            Shape::Diamond => format!(
                "<path class=\"{class}\" d=\"M{} {}l6 7l-6 7l-6 -7z\"",
                n(x),
                n(y - 7.0)
            ),
            Shape::Circle => format!(
                "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"5\"",
                n(x),
                n(y)
            ),
            Shape::Cross | Shape::BigCross => {
                let r = if shape == Shape::Cross { 4.0 } else { 6.0 };
                let d = format!(
                    "M{} {}l{s} {s}m0 -{s}l-{s} {s}",
                    n(x - r),
                    n(y - r),
                    s = n(2.0 * r)
                );
                // A white halo keeps the cross visible on any bar.
                let _ = writeln!(self.out, "<path class=\"halo\" d=\"{d}\"/>");
                format!("<path class=\"{class}\" d=\"{d}\"")
            }
            Shape::TriangleDown => format!(
                "<path class=\"{class}\" d=\"M{} {}l12 0l-6 10z\"",
                n(x - 6.0),
                n(y - 5.0)
            ),
            Shape::TriangleUp => format!(
                "<path class=\"{class}\" d=\"M{} {}l12 0l-6 -11z\"",
                n(x - 6.0),
                n(y + 6.0)
            ),
            Shape::Tick => format!(
                "<path class=\"{class}\" d=\"M{} {}l0 14\"",
                n(x),
                n(y - 7.0)
            ),
        };
        self.out.push_str(&body);
        if tooltip.is_empty() {
            self.out.push_str("/>\n");
        } else {
            let tag = if shape == Shape::Circle {
                "circle"
            } else {
                "path"
            };
            let _ = writeln!(self.out, "><title>{}</title></{tag}>", esc(tooltip));
        }
    }
}

/// The whole document: `body`, `height` px tall, under the `title` and
/// `desc` that a reader's tools show, with the style sheet and the pattern
/// of unsafe serving.
/// `ids` prefixes the document's ids (its title, description and pattern),
/// so that several pictures can sit in one HTML page: `""` gives
/// `svg-title`, `svg-desc` and `unsafe`.
pub(super) fn document(title: &str, desc: &str, body: &Svg, height: f64, ids: &str) -> String {
    let mut out = String::with_capacity(body.out.len() + 4096);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-labelledby=\"{ids}svg-title {ids}svg-desc\">",
        w = WIDTH,
        h = n(height),
        ids = esc(ids)
    );
    let ids = esc(ids);
    let _ = writeln!(out, "<title id=\"{ids}svg-title\">{}</title>", esc(title));
    let _ = writeln!(out, "<desc id=\"{ids}svg-desc\">{}</desc>", esc(desc));
    if ids.is_empty() {
        let _ = writeln!(out, "<style>{STYLE}</style>");
    } else {
        let style = STYLE.replace("url(#unsafe)", &format!("url(#{ids}unsafe)"));
        let _ = writeln!(out, "<style>{style}</style>");
    }
    let _ = writeln!(
        out,
        "<defs><pattern id=\"{ids}unsafe\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#8fd19e\"/>\
         <rect width=\"3\" height=\"6\" fill=\"#d62728\"/></pattern></defs>",
    );
    let _ = writeln!(
        out,
        "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>",
        WIDTH,
        n(height)
    );
    out.push_str(&body.out);
    out.push_str("</svg>\n");
    out
}

/// Rough width of `s` at `size` px in a proportional sans-serif font.
pub(super) fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// A coordinate, to a tenth of a pixel.
pub(super) fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}

/// Text escaped for XML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(esc("x\u{1}y"), "x y");
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(n(3.0), "3");
        assert_eq!(n(3.25), "3.2");
        assert_eq!(n(-0.04), "-0");
    }
}
