//! [`ScaledClock`]: virtual time on a real clock, compressed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use crate::time::SimTime;

/// Maps real time to virtual time: `scale` virtual seconds pass per real
/// second, from an origin where the two agree, and idle stretches can be
/// skipped outright ([`ScaledClock::skip_to`]). A KB night (ten virtual
/// hours) at a scale of 7,200 takes five real seconds, less what is skipped.
///
/// Clones share the same clock (and its skips).
#[derive(Clone, Debug)]
pub struct ScaledClock {
    origin_real: Instant,
    origin_wall: SystemTime,
    origin_sim: SimTime,
    scale: u32,
    /// (wall time of the skip, total skipped after it), in order.
    skips: Arc<Mutex<Vec<(SystemTime, Duration)>>>,
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
            skips: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// How many virtual seconds pass per real second.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    fn skipped(&self) -> Duration {
        self.skips.lock().last().map_or(Duration::ZERO, |s| s.1)
    }

    /// The virtual time now.
    pub fn now(&self) -> SimTime {
        self.origin_sim + self.origin_real.elapsed() * self.scale + self.skipped()
    }

    /// Jumps the clock forward to `at` (nothing happens if it is past).
    pub fn skip_to(&self, at: SimTime) {
        let mut skips = self.skips.lock();
        let skipped = skips.last().map_or(Duration::ZERO, |s| s.1);
        let now = self.origin_sim + self.origin_real.elapsed() * self.scale + skipped;
        if at > now {
            skips.push((SystemTime::now(), skipped + (at - now)));
        }
    }

    /// The virtual time of a wall-clock instant (a file's modification time).
    pub fn at_wall(&self, wall: SystemTime) -> SimTime {
        let skipped = self
            .skips
            .lock()
            .iter()
            .rev()
            .find(|s| s.0 <= wall)
            .map_or(Duration::ZERO, |s| s.1);
        match wall.duration_since(self.origin_wall) {
            Ok(d) => self.origin_sim + d * self.scale + skipped,
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

    /// Sleeps until the clock reads `at`, in short steps so that a skip
    /// takes effect at once. Returns at once if `at` is past.
    pub fn sleep_until(&self, at: SimTime) {
        loop {
            let now = self.now();
            if now >= at {
                return;
            }
            std::thread::sleep(((at - now) / self.scale).min(Duration::from_millis(2)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_skips() {
        let c = ScaledClock::new(SimTime::from_micros(1_000_000), 3600);
        assert_eq!(c.real(Duration::from_secs(3600)), Duration::from_secs(1));
        let wall = c.origin_wall + Duration::from_millis(10);
        assert_eq!(
            c.at_wall(wall),
            SimTime::from_micros(1_000_000 + 36_000_000)
        );
        assert!(c.now() >= SimTime::from_micros(1_000_000));
        let target = SimTime::from_micros(10_000_000_000);
        c.clone().skip_to(target);
        assert!(c.now() >= target);
        c.sleep_until(target);
        // Wall times before the skip keep their place.
        assert_eq!(c.at_wall(c.origin_wall), SimTime::from_micros(1_000_000));
    }
}
