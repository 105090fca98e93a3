//! One panel of the picture: its four lanes (the server's states, MS Mail
//! Backup's copies, the backup's runs and reads, the traffic in bins), the
//! marks, the time axis with its breaks, the conflicts over everything, and
//! the labels under the lanes, placed where they do not overlap.
//!
//! What does not live here: what the lanes show (the model), time to x
//! (the axis), and the panels' order in the picture.

use std::fmt::Write as _;

use super::axis::Axis;
use super::model::{Conflict, Lane, Model, Span, State};
use super::words::hm;
use super::writer::{Shape, Svg, n, text_width};
use super::{BIN_FULL, BIN_W, LABEL_X1, LANE_H, LANE_STEP, PLOT_X0, PLOT_X1};
use crate::time::{SimTime, human_duration};

/// Each lane's label and the line under it, in lane order.
const LANES: [(&str, &str); 4] = [
    ("Mail Server", "holds Mail Data open"),
    ("MS Mail Backup", "copies Mail Data aside"),
    ("Retrospect Remote", "the backup"),
    ("Mail traffic", "▲ served  ▼ deferred"),
];

/// Horizontal stretches already taken by labels in one row.
#[derive(Default)]
struct Row {
    taken: Vec<(f64, f64)>,
}

impl Row {
    /// Takes [x0, x1] if it is free (with a little air).
    fn take(&mut self, x0: f64, x1: f64) -> bool {
        if self
            .taken
            .iter()
            .any(|&(a, b)| x0 < b + 6.0 && a < x1 + 6.0)
        {
            return false;
        }
        self.taken.push((x0, x1));
        true
    }
}

/// A label under a lane, near `x`: placed after everything is drawn, the
/// most important first, where it does not overlap another.
struct Label {
    lane: usize,
    x: f64,
    /// The words, longest first: the first that fits is used.
    texts: Vec<String>,
    priority: u8,
}

const NOTE_SIZE: f64 = 10.5;
const BAR_LABEL_SIZE: f64 = 11.0;

/// A panel of `night` over the stretch of `axis`, drawn from `top` down.
pub(super) struct Panel<'m, 'a> {
    pub(super) model: &'m Model<'a>,
    pub(super) night: u32,
    pub(super) axis: Axis,
    pub(super) top: f64,
}

impl Panel<'_, '_> {
    const HEADER: f64 = 20.0;
    const BAND: f64 = 34.0;

    fn lane_y(&self, lane: usize) -> f64 {
        self.top + Self::HEADER + Self::BAND + lane as f64 * LANE_STEP
    }

    pub(super) fn lanes_span(&self) -> (f64, f64) {
        (self.lane_y(0), self.lane_y(3) + LANE_H)
    }

    pub(super) fn axis_y(&self) -> f64 {
        self.lane_y(3) + LANE_STEP - 6.0
    }

    /// Draws the panel; returns its height.
    pub(super) fn draw(&self, svg: &mut Svg, title: &str, note: &str) -> f64 {
        svg.text("panel-title", 24.0, self.top + 14.0, None, title);
        if !note.is_empty() {
            let x = 24.0 + text_width(title, 14.0) + 14.0;
            svg.text("panel-note", x, self.top + 14.0, None, note);
        }
        let (lanes_top, _) = self.lanes_span();
        let axis_y = self.axis_y();
        let ticks = self.ticks();
        self.backdrop(svg, &ticks);

        let mut labels = Vec::new();
        self.server_lane(svg, &mut labels);
        self.ms_mail_lane(svg);
        self.retrospect_lane(svg, &mut labels);
        self.traffic_lane(svg);
        self.marks(svg, &mut labels);
        self.breaks(svg, lanes_top, axis_y);
        self.labels(svg, labels);

        self.axis_line(svg, &ticks);
        self.conflicts(svg);
        axis_y + 28.0 - self.top
    }

    /// Lane backgrounds and labels, and grid lines at the labelled ticks:
    /// under everything else.
    fn backdrop(&self, svg: &mut Svg, ticks: &[(u64, bool)]) {
        let (lanes_top, _) = self.lanes_span();
        let axis_y = self.axis_y();
        for (i, (label, sub)) in LANES.iter().enumerate() {
            let y = self.lane_y(i);
            svg.rect_plain("lane-bg", PLOT_X0, y, PLOT_X1 - PLOT_X0, LANE_H);
            svg.text("lane-label", PLOT_X0 - 10.0, y + 12.0, None, label);
            svg.text("lane-sub", PLOT_X0 - 10.0, y + 24.0, None, sub);
        }
        for &(t, major) in ticks {
            if major {
                let x = self.axis.x(t);
                svg.line("grid", x, lanes_top, x, axis_y);
            }
        }
    }

    /// The time axis with its ticks, labelled at the major ones.
    fn axis_line(&self, svg: &mut Svg, ticks: &[(u64, bool)]) {
        let axis_y = self.axis_y();
        svg.line("axis", PLOT_X0, axis_y, PLOT_X1, axis_y);
        for &(t, major) in ticks {
            let x = self.axis.x(t);
            if major {
                svg.line("tick", x, axis_y, x, axis_y + 5.0);
                svg.text(
                    "tick-label",
                    x,
                    axis_y + 17.0,
                    None,
                    &hm(SimTime::from_micros(t)),
                );
            } else {
                svg.line("minor-tick", x, axis_y, x, axis_y + 3.0);
            }
        }
    }

    /// The conflicts of the panel's stretch, over everything, each labelled
    /// in the band above the lanes where there is room; or, on a night
    /// without any, a line saying so.
    fn conflicts(&self, svg: &mut Svg) {
        let (lanes_top, lanes_bottom) = self.lanes_span();
        let mut band = Row::default();
        let conflicts: Vec<&Conflict> = self
            .model
            .conflicts
            .iter()
            .filter(|c| c.night == self.night && self.axis.contains(c.t))
            .collect();
        if conflicts.is_empty() && !self.model.conflicts.iter().any(|c| c.night == self.night) {
            svg.text(
                "no-conflict",
                PLOT_X0,
                self.top + Self::HEADER + 20.0,
                None,
                "No conflict: the backup never opens the live Mail Data while the server \
                 holds it.",
            );
        }
        for c in conflicts {
            let x = self.axis.x(c.t);
            svg.line("conflict", x, lanes_top - 4.0, x, lanes_bottom + 4.0);
            let w = text_width(&c.opened, 12.0).max(text_width(c.reaction, 12.0));
            let (x0, x1, tx, anchor) = if x + 4.0 + w > LABEL_X1 {
                (x - 4.0 - w, x - 4.0, x - 4.0, Some("end"))
            } else {
                (x + 4.0, x + 4.0 + w, x + 4.0, None)
            };
            if band.take(x0, x1) {
                svg.text(
                    "conflict-label",
                    tx,
                    self.top + Self::HEADER + 13.0,
                    anchor,
                    &c.opened,
                );
                svg.text(
                    "conflict-reaction",
                    tx,
                    self.top + Self::HEADER + 28.0,
                    anchor,
                    c.reaction,
                );
            }
        }
    }

    fn ticks(&self) -> Vec<(u64, bool)> {
        let mut out = Vec::new();
        for s in &self.axis.segments {
            let mut t = s.t0.div_ceil(self.axis.minor) * self.axis.minor;
            while t <= s.t1 {
                out.push((t, t.is_multiple_of(self.axis.major)));
                t += self.axis.minor;
            }
        }
        out
    }

    /// Clips [t0, t1] to the axis; `None` when it is outside.
    fn clip(&self, t0: u64, t1: u64) -> Option<(f64, f64)> {
        if t1 < self.axis.t_min() || t0 > self.axis.t_max() {
            return None;
        }
        let x0 = self.axis.x(t0.max(self.axis.t_min()));
        let x1 = self.axis.x(t1.min(self.axis.t_max()));
        Some((x0, x1))
    }

    /// Room for text inside a bar from `x0` to `x1`: up to its end or the
    /// first break, whichever comes first.
    fn room(&self, x0: f64, x1: f64) -> f64 {
        let stop = self
            .axis
            .segments
            .iter()
            .map(|s| s.x1)
            .filter(|&e| e > x0 + 1.0 && e < x1)
            .fold(x1, f64::min);
        stop - x0
    }

    /// `label` inside the bar at `x0` if one of `texts` fits (the first
    /// that does), else the last of them as a label under the lane.
    #[allow(clippy::too_many_arguments)]
    fn bar_label(
        &self,
        svg: &mut Svg,
        labels: &mut Vec<Label>,
        lane: usize,
        (x0, x1): (f64, f64),
        texts: &[String],
        class: &str,
        priority: u8,
    ) {
        let room = self.room(x0, x1);
        let y = self.lane_y(lane);
        if let Some(t) = texts
            .iter()
            .find(|t| text_width(t, BAR_LABEL_SIZE) + 10.0 <= room)
        {
            svg.text(class, x0 + 5.0, y + 16.0, None, t);
        } else if let Some(t) = texts.last() {
            labels.push(Label {
                lane,
                x: x0,
                texts: vec![t.clone()],
                priority,
            });
        }
    }

    fn server_lane(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        let y = self.lane_y(0);
        for &(t0, t1, state) in &self.model.states {
            let Some((x0, x1)) = self.clip(t0, t1) else {
                continue;
            };
            let mut w = x1 - x0;
            if state != State::Serving && state != State::NotRunning {
                w = w.max(2.5);
            }
            if w <= 0.0 {
                continue;
            }
            let dur = (t1 != u64::MAX)
                .then(|| human_duration(SimTime::from_micros(t1) - SimTime::from_micros(t0)));
            let tooltip = format!(
                "{}{} {}{}",
                SimTime::from_micros(t0),
                dur.as_ref()
                    .map_or_else(String::new, |_| format!("–{}", SimTime::from_micros(t1))),
                state.label(),
                dur.as_ref()
                    .map_or_else(String::new, |d| format!(" for {d}"))
            );
            svg.rect(state.class(), x0, y, w, LANE_H, &tooltip);
            let texts: Vec<String> = match (state, &dur) {
                (State::Serving | State::NotRunning, _) | (_, None) => {
                    vec![state.label().to_owned(), state.short().to_owned()]
                }
                (_, Some(d)) => vec![
                    format!("{} for {d}", state.label()),
                    format!("{} {d}", state.short()),
                ],
            };
            let class = match state {
                State::Serving | State::NotRunning | State::Paused => "bar-label-dark",
                _ => "bar-label",
            };
            // A state that begins inside the plot begins at an event whose
            // mark (a crash, a restart) may sit at its start.
            let inset = if x0 > PLOT_X0 + 1.0 { 8.0 } else { 0.0 };
            if matches!(state, State::Serving | State::NotRunning) {
                // Said inside when there is room; never worth a note.
                let room = self.room(x0, x1);
                if let Some(t) = texts
                    .iter()
                    .find(|t| text_width(t, BAR_LABEL_SIZE) + 10.0 + inset <= room)
                {
                    svg.text(class, x0 + 5.0 + inset, y + 16.0, None, t);
                }
            } else {
                self.bar_label(svg, labels, 0, (x0 + inset, x0 + w), &texts, class, 2);
            }
        }
        for s in self
            .model
            .unsafe_spans
            .iter()
            .filter(|s| s.night == self.night)
        {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                svg.rect(
                    s.class,
                    x0,
                    y + 6.0,
                    (x1 - x0).max(2.5),
                    LANE_H - 12.0,
                    &s.tooltip,
                );
            }
        }
    }

    fn ms_mail_lane(&self, svg: &mut Svg) {
        let used = self
            .model
            .marks
            .iter()
            .any(|m| m.lane == Lane::MsMailBackup);
        if !used {
            svg.text(
                "lane-note",
                PLOT_X0 + 8.0,
                self.lane_y(1) + 16.0,
                None,
                "not in use: no copy is made aside",
            );
        }
    }

    fn retrospect_lane(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        let y = self.lane_y(2);
        let mine = |s: &&Span| s.night == self.night;
        for s in self.model.runs.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(2.0);
                svg.rect(s.class, x0, y + 3.0, w, LANE_H - 6.0, &s.tooltip);
            }
        }
        // File boundaries, where there is room to see them.
        let mut last = f64::NEG_INFINITY;
        for &(t, night) in &self.model.file_starts {
            if night != self.night || !self.axis.contains(t) {
                continue;
            }
            let x = self.axis.x(t);
            if x - last >= 4.0 {
                svg.line("file-boundary", x, y + 3.0, x, y + LANE_H - 3.0);
                last = x;
            }
        }
        for s in self.model.waits.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(2.5);
                svg.rect(s.class, x0, y + 3.0, w, LANE_H - 6.0, &s.tooltip);
                let texts = [s.label.clone()];
                self.bar_label(svg, labels, 2, (x0, x0 + w), &texts, "bar-label-dark", 4);
            }
        }
        for s in self.model.reads.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(3.0);
                svg.rect(s.class, x0, y, w, LANE_H, &s.tooltip);
                let texts = [s.label.clone()];
                self.bar_label(svg, labels, 2, (x0, x0 + w), &texts, "bar-label", 1);
            }
        }
    }

    fn traffic_lane(&self, svg: &mut Svg) {
        let y = self.lane_y(3);
        let mid = y + LANE_H / 2.0;
        svg.line("midline", PLOT_X0, mid, PLOT_X1, mid);
        let bins = ((PLOT_X1 - PLOT_X0) / BIN_W).ceil() as usize + 1;
        let mut served = vec![0u32; bins];
        let mut deferred = vec![0u32; bins];
        for &(t, night, ok) in &self.model.traffic {
            if night != self.night || !self.axis.contains(t) {
                continue;
            }
            let b = ((self.axis.x(t) - PLOT_X0) / BIN_W) as usize;
            let b = b.min(bins - 1);
            if ok {
                served[b] += 1;
            } else {
                deferred[b] += 1;
            }
        }
        let half = LANE_H / 2.0 - 1.0;
        // One request: half the half-lane; BIN_FULL or more: all of it.
        let height = |c: u32| half * (0.5 + 0.5 * (f64::from(c) - 1.0) / (BIN_FULL - 1.0)).min(1.0);
        for b in 0..bins {
            let x = PLOT_X0 + b as f64 * BIN_W;
            if served[b] > 0 {
                let h = height(served[b]);
                svg.rect_plain("served", x, mid - h, BIN_W - 0.6, h);
            }
            if deferred[b] > 0 {
                let h = height(deferred[b]);
                svg.rect_plain("deferred", x, mid, BIN_W - 0.6, h);
            }
        }
    }

    fn marks(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        for m in self
            .model
            .marks
            .iter()
            .filter(|m| m.night == self.night && self.axis.contains(m.t))
        {
            let y = self.lane_y(m.lane as usize) + LANE_H / 2.0;
            let x = self.axis.x(m.t);
            if m.lane != Lane::Traffic || m.shape != Shape::Tick {
                svg.mark(m.class, m.shape, x, y, &m.tooltip);
            }
            if let Some(text) = &m.label {
                let mut texts = vec![text.clone()];
                texts.extend(m.short.iter().cloned());
                labels.push(Label {
                    lane: m.lane as usize,
                    x,
                    texts,
                    priority: m.priority,
                });
            }
        }
    }

    /// Places the labels under their lanes, most important first, each
    /// starting a little before its x or, failing that, ending a little
    /// after it; a label with no room is left out (the tooltips and the
    /// legend still tell).
    fn labels(&self, svg: &mut Svg, mut labels: Vec<Label>) {
        let mut rows: [Row; 4] = Default::default();
        for row in &mut rows {
            for w in self.axis.segments.windows(2) {
                row.taken.push((w[0].x1 - 2.0, w[1].x0 + 2.0));
            }
        }
        labels.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.x.total_cmp(&b.x)));
        for l in labels {
            let y = self.lane_y(l.lane) + LANE_H + 12.0;
            let row = &mut rows[l.lane];
            for text in &l.texts {
                let w = text_width(text, NOTE_SIZE);
                let start = (l.x - 6.0).max(PLOT_X0 - 4.0);
                if start + w <= LABEL_X1 && row.take(start, start + w) {
                    svg.text("note", start, y, None, text);
                    break;
                }
                let end = (l.x + 6.0).min(LABEL_X1);
                if end - w >= PLOT_X0 - 4.0 && row.take(end - w, end) {
                    svg.text("note", end, y, Some("end"), text);
                    break;
                }
            }
        }
    }

    fn breaks(&self, svg: &mut Svg, top: f64, axis_y: f64) {
        for w in self.axis.segments.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let mid = (a.x1 + b.x0) / 2.0;
            let h = axis_y - top + 8.0;
            // A white gap with slanted edges across the lanes and the axis.
            let _ = writeln!(
                svg.out,
                "<path class=\"break-bg\" d=\"M{} {}l10 0l-6 {h}l-10 0z\"/>",
                n(mid - 2.0),
                n(top - 2.0),
                h = n(h)
            );
            let _ = writeln!(
                svg.out,
                "<path class=\"break\" d=\"M{} {}l-6 {h}M{} {}l-6 {h}\"/>",
                n(mid - 2.0),
                n(top - 2.0),
                n(mid + 8.0),
                n(top - 2.0),
                h = n(h)
            );
            let gap = SimTime::from_micros(b.t0) - SimTime::from_micros(a.t1);
            let hidden = if gap.as_secs().is_multiple_of(3600) {
                format!("{} h", gap.as_secs() / 3600)
            } else {
                human_duration(gap)
            };
            svg.text("break-label", mid, axis_y + 17.0, None, &hidden);
        }
    }
}
