//! Virtual time: [`SimTime`], an instant of the simulated night, and
//! [`TimeOfDay`], a wall-clock time used to configure schedules.
//!
//! Virtual time never reads the machine's clock. It counts microseconds from
//! midnight at the start of day 0; the first night opens on day 0 in the
//! evening and ends on day 1 in the morning.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

const MICROS_PER_SEC: u64 = 1_000_000;
const SECS_PER_DAY: u64 = 24 * 60 * 60;

/// An instant of simulated time: microseconds since midnight of day 0.
///
/// Displays as `HH:MM:SS`, the time of day the narration uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

impl SimTime {
    /// Midnight of day 0.
    pub const ZERO: SimTime = SimTime(0);

    /// The instant `micros` microseconds after midnight of day 0.
    pub const fn from_micros(micros: u64) -> SimTime {
        SimTime(micros)
    }

    /// Microseconds since midnight of day 0.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The instant `time` of day `day` (day 0 is the evening a first night starts).
    pub const fn at(day: u32, time: TimeOfDay) -> SimTime {
        SimTime((day as u64 * SECS_PER_DAY + time.secs as u64) * MICROS_PER_SEC)
    }

    /// Day number of this instant.
    pub const fn day(self) -> u32 {
        (self.0 / (SECS_PER_DAY * MICROS_PER_SEC)) as u32
    }

    /// Time of day of this instant, to the second.
    pub const fn time_of_day(self) -> TimeOfDay {
        TimeOfDay {
            secs: ((self.0 / MICROS_PER_SEC) % SECS_PER_DAY) as u32,
        }
    }

    /// Time elapsed since `earlier`, zero when `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// Seconds since midnight of day 0, as a float (for plots and JSON only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SEC as f64
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(duration_micros(d)))
    }
}

impl AddAssign<Duration> for SimTime {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub for SimTime {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, earlier: SimTime) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.time_of_day().fmt(f)
    }
}

/// A time of day, to the second, for schedules ("the backup runs at 01:00").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    secs: u32,
}

impl TimeOfDay {
    /// Midnight.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { secs: 0 };

    /// `hour:minute`; hours and minutes past their range wrap into the day.
    pub const fn hm(hour: u32, minute: u32) -> TimeOfDay {
        TimeOfDay::hms(hour, minute, 0)
    }

    /// `hour:minute:second`; values past their range wrap into the day.
    pub const fn hms(hour: u32, minute: u32, second: u32) -> TimeOfDay {
        let secs = (hour as u64 * 3600 + minute as u64 * 60 + second as u64) % SECS_PER_DAY;
        TimeOfDay { secs: secs as u32 }
    }

    /// Seconds since midnight.
    pub const fn secs_since_midnight(self) -> u32 {
        self.secs
    }

    /// Parses `HH:MM` or `HH:MM:SS` (24-hour clock).
    pub fn parse(text: &str) -> Option<TimeOfDay> {
        let field = |p: &str, max: u32| -> Option<u32> {
            if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: u32 = p.parse().ok()?;
            (v <= max).then_some(v)
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        let (h, m, s) = match parts.as_slice() {
            [h, m] => (field(h, 23)?, field(m, 59)?, 0),
            [h, m, s] => (field(h, 23)?, field(m, 59)?, field(s, 59)?),
            _ => return None,
        };
        Some(TimeOfDay::hms(h, m, s))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        write!(f, "{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

/// A duration as people say it: `6 h 45 min`, `12 min 30 s`, `40 s`, `0 s`
/// (to the minute past an hour, to the second below; `< 1 s` for a nonzero
/// duration under a second).
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{} h {} min", s / 3600, (s / 60) % 60)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s == 0 && !d.is_zero() {
        "< 1 s".to_owned()
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_time_of_day_across_midnight() {
        let t = SimTime::at(1, TimeOfDay::hm(1, 0)) + Duration::from_secs(61);
        assert_eq!(t.to_string(), "01:01:01");
        assert_eq!(t.day(), 1);
    }

    #[test]
    fn parses_clock_times() {
        assert_eq!(TimeOfDay::parse("00:00"), Some(TimeOfDay::MIDNIGHT));
        assert_eq!(
            TimeOfDay::parse("23:59:59"),
            Some(TimeOfDay::hms(23, 59, 59))
        );
        assert_eq!(TimeOfDay::parse("24:00"), None);
        assert_eq!(TimeOfDay::parse("1:00:00:00"), None);
        assert_eq!(TimeOfDay::parse("ab:cd"), None);
        assert_eq!(TimeOfDay::parse(""), None);
    }

    #[test]
    fn subtraction_saturates() {
        let a = SimTime::from_micros(5);
        let b = SimTime::from_micros(9);
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(b - a, Duration::from_micros(4));
    }
}
