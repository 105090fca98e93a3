//! The night's schedule and its mail traffic, drawn from the chooser: shared
//! by the simulated and the real runner.

use std::time::Duration;

use super::Traffic;
use crate::chooser::Chooser;
use crate::event::RequestKind;
use crate::time::{SimTime, TimeOfDay};

/// When a night begins, unless its traffic starts earlier.
pub(crate) const NIGHT_BEGINS: TimeOfDay = TimeOfDay::hm(22, 0);

/// A time of day during night `k` (0-based): evening times fall on day `k`,
/// morning times on day `k + 1`.
pub(crate) fn during(night: u32, t: TimeOfDay) -> SimTime {
    let evening = t.secs_since_midnight() >= 12 * 3600;
    SimTime::at(if evening { night } else { night + 1 }, t)
}

/// A gap between two arrivals: bursts of short gaps, some longer pauses,
/// now and then a quiet spell; the mean is the configured rate's. Choice 0
/// is the longest gap, so that a record of zeros (what replay answers past a
/// record's end) is a quiet night, the simplest one.
pub(crate) fn gap(chooser: &mut Chooser, traffic: &Traffic) -> Duration {
    let mean_us = 3_600_000_000 / u64::from(traffic.requests_per_hour.max(1));
    let (lo, hi) = match chooser.weighted(&[10, 30, 60]) {
        0 => (mean_us * 176 / 100, mean_us * 880 / 100),
        1 => (mean_us * 44 / 100, mean_us * 176 / 100),
        _ => (mean_us * 3 / 100, mean_us * 44 / 100),
    };
    // Whole milliseconds keep choices small.
    let (lo, hi) = (lo / 1000, hi / 1000);
    let ms = hi - (chooser.range(lo, hi) - lo);
    Duration::from_millis(ms.max(1))
}

/// Half deliveries, a third reads, the rest deletions.
pub(crate) fn request_kind(chooser: &mut Chooser) -> RequestKind {
    match chooser.weighted(&[50, 35, 15]) {
        0 => RequestKind::Deliver,
        1 => RequestKind::Read,
        _ => RequestKind::Delete,
    }
}

/// A realistic message size: mostly short notes, some longer, a few with
/// attachments.
pub(crate) fn payload_len(chooser: &mut Chooser) -> u32 {
    let (lo, hi) = match chooser.weighted(&[70, 25, 5]) {
        0 => (200, 1_200),
        1 => (1_200, 4_000),
        _ => (4_000, 32_000),
    };
    chooser.range(lo, hi) as u32
}

/// Which message a read or a deletion is about, counted back from the
/// newest of `live` messages: people mostly read and delete recent mail.
pub(crate) fn pick(chooser: &mut Chooser, live: u64) -> u32 {
    let live = u32::try_from(live).unwrap_or(u32::MAX);
    match chooser.weighted(&[70, 30]) {
        0 => chooser.choose(live.min(64)),
        _ => chooser.choose(live),
    }
}
