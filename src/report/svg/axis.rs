//! Time to x: an [`Axis`] is the visible stretches of a panel's time laid
//! end to end across the plot, with a gap of [`BREAK_W`] where quiet
//! hours are left out; and the units of time the axes tick in.
//!
//! What does not live here: drawing the axis, its ticks and its breaks
//! (the panel does).

use super::model::{Model, NightSpan};
use super::{BREAK_W, PLOT_X0, PLOT_X1};

const MICROS: u64 = 1_000_000;
pub(super) const MINUTE: u64 = 60 * MICROS;
pub(super) const QUARTER: u64 = 15 * MINUTE;
pub(super) const HOUR: u64 = 60 * MINUTE;

/// A visible stretch of time, `t0..=t1`, and where it lies on the plot.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub(super) t0: u64,
    pub(super) t1: u64,
    pub(super) x0: f64,
    pub(super) x1: f64,
}

/// The visible stretches of a panel, left to right.
#[derive(Clone, Debug)]
pub(super) struct Axis {
    pub(super) segments: Vec<Segment>,
    /// Ticks: labelled every `major`, unlabelled every `minor`.
    pub(super) major: u64,
    pub(super) minor: u64,
}

impl Axis {
    /// A night from a little before its first activity to a little after
    /// its end, with every quiet stretch of more than two hours compressed.
    pub(super) fn overview(model: &Model<'_>, span: &NightSpan) -> Axis {
        let mut points = span.activity.clone();
        points.push(span.end);
        points.sort_unstable();
        points.dedup();
        let first = points.first().copied().unwrap_or(span.begin);
        let last = points.last().copied().unwrap_or(span.end);
        let start = (first.saturating_sub(QUARTER) / QUARTER) * QUARTER;
        let end = (last + 20 * MINUTE).div_ceil(QUARTER) * QUARTER;
        let mut visible = Vec::new();
        let mut from = start;
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b - a > 2 * HOUR {
                let b0 = (a + QUARTER).div_ceil(QUARTER) * QUARTER;
                let b1 = (b - QUARTER) / QUARTER * QUARTER;
                if b1 > b0 + HOUR {
                    visible.push((from, b0));
                    from = b1;
                }
            }
        }
        visible.push((from, end.max(from + QUARTER)));
        let _ = model;
        Axis::from_visible(&visible, HOUR, QUARTER)
    }

    /// One stretch, ticked every minute.
    pub(super) fn single(t0: u64, t1: u64) -> Axis {
        let minutes = (t1 - t0) / MINUTE;
        let major = if minutes > 30 { 5 * MINUTE } else { MINUTE };
        Axis::from_visible(&[(t0, t1.max(t0 + MINUTE))], major, major)
    }

    fn from_visible(visible: &[(u64, u64)], major: u64, minor: u64) -> Axis {
        let breaks = visible.len().saturating_sub(1) as f64;
        let total: u64 = visible.iter().map(|(a, b)| b - a).sum();
        let per = (PLOT_X1 - PLOT_X0 - breaks * BREAK_W) / total.max(1) as f64;
        let mut x = PLOT_X0;
        let segments = visible
            .iter()
            .map(|&(t0, t1)| {
                let x0 = x;
                let x1 = x0 + (t1 - t0) as f64 * per;
                x = x1 + BREAK_W;
                Segment { t0, t1, x0, x1 }
            })
            .collect();
        Axis {
            segments,
            major,
            minor,
        }
    }

    pub(super) fn t_min(&self) -> u64 {
        self.segments[0].t0
    }

    pub(super) fn t_max(&self) -> u64 {
        self.segments[self.segments.len() - 1].t1
    }

    /// The compressed stretches, as (from, to).
    pub(super) fn breaks(&self) -> Vec<(u64, u64)> {
        self.segments
            .windows(2)
            .map(|w| (w[0].t1, w[1].t0))
            .collect()
    }

    /// The x of `t`, clamped to the plot; a time inside a break maps
    /// linearly across the break.
    pub(super) fn x(&self, t: u64) -> f64 {
        let mut prev: Option<&Segment> = None;
        for s in &self.segments {
            if t < s.t0 {
                return match prev {
                    None => s.x0,
                    Some(p) => p.x1 + (s.x0 - p.x1) * (t - p.t1) as f64 / (s.t0 - p.t1) as f64,
                };
            }
            if t <= s.t1 {
                return s.x0 + (s.x1 - s.x0) * (t - s.t0) as f64 / (s.t1 - s.t0).max(1) as f64;
            }
            prev = Some(s);
        }
        PLOT_X1
    }

    pub(super) fn contains(&self, t: u64) -> bool {
        t >= self.t_min() && t <= self.t_max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_maps_breaks_linearly() {
        let axis = Axis::from_visible(&[(0, HOUR), (3 * HOUR, 4 * HOUR)], HOUR, QUARTER);
        assert_eq!(axis.x(0), PLOT_X0);
        assert_eq!(axis.x(4 * HOUR), PLOT_X1);
        let a = axis.x(HOUR);
        let b = axis.x(3 * HOUR);
        assert!((b - a - BREAK_W).abs() < 1e-9);
        assert!((axis.x(2 * HOUR) - (a + b) / 2.0).abs() < 1e-9);
        assert_eq!(axis.breaks(), vec![(HOUR, 3 * HOUR)]);
    }
}
