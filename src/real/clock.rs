//! [`ScaledClock`]: virtual time on a real clock, compressed.

use std::time::{Duration, Instant, SystemTime};

use crate::time::SimTime;

/// Maps real time to virtual time: `scale` virtual seconds pass per real
/// second, from an origin where the two agree. A KB night (ten virtual hours)
/// at a scale of 7,200 takes five real seconds.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    origin_real: Instant,
    origin_wall: SystemTime,
    origin_sim: SimTime,
    scale: u32,
}

impl ScaledClock {
    /// A clock reading `origin_sim` now, running `scale` times faster than
    /// real time (a scale of 0 is taken as 1).
    pub fn new(origin_sim: SimTime, scale: u32) -> ScaledClock {
        ScaledClock {
            origin_real: Instant::now(),
            origin_wall: SystemTime::now(),
            origin_sim,
            scale: scale.max(1),
        }
    }

    /// How many virtual seconds pass per real second.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The virtual time now.
    pub fn now(&self) -> SimTime {
        self.origin_sim + self.origin_real.elapsed() * self.scale
    }

    /// The virtual time of a wall-clock instant (a file's modification time).
    pub fn at_wall(&self, wall: SystemTime) -> SimTime {
        match wall.duration_since(self.origin_wall) {
            Ok(d) => self.origin_sim + d * self.scale,
            Err(e) => {
                let back = e.duration() * self.scale;
                SimTime::from_micros(
                    self.origin_sim
                        .as_micros()
                        .saturating_sub(u64::try_from(back.as_micros()).unwrap_or(u64::MAX)),
                )
            }
        }
    }

    /// The real duration of a virtual one.
    pub fn real(&self, virtual_duration: Duration) -> Duration {
        virtual_duration / self.scale
    }

    /// The real instant at which the clock reads `at` (now, if that is past).
    pub fn instant_of(&self, at: SimTime) -> Instant {
        let since = at.saturating_since(self.origin_sim);
        self.origin_real + since / self.scale
    }

    /// Sleeps until the clock reads `at`.
    pub fn sleep_until(&self, at: SimTime) {
        let deadline = self.instant_of(at);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_both_ways() {
        let c = ScaledClock::new(SimTime::from_micros(1_000_000), 3600);
        assert_eq!(c.real(Duration::from_secs(3600)), Duration::from_secs(1));
        let wall = c.origin_wall + Duration::from_millis(10);
        assert_eq!(c.at_wall(wall), SimTime::from_micros(1_000_000 + 36_000_000));
        assert!(c.now() >= SimTime::from_micros(1_000_000));
        assert!(c.instant_of(SimTime::ZERO) <= Instant::now());
    }
}
