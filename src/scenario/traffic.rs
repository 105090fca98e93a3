//! The night's schedule and its mail traffic, drawn from the chooser: shared
//! by the simulated and the real runner.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::Traffic;
use crate::chooser::{Chooser, Stream};
use crate::error::{Error, Result};
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
    let (lo, hi) = match chooser.weighted(Stream::Arrivals, &[10, 30, 60]) {
        0 => (mean_us * 176 / 100, mean_us * 880 / 100),
        1 => (mean_us * 44 / 100, mean_us * 176 / 100),
        _ => (mean_us * 3 / 100, mean_us * 44 / 100),
    };
    // Whole milliseconds keep choices small.
    let (lo, hi) = (lo / 1000, hi / 1000);
    let ms = hi - (chooser.range(Stream::Arrivals, lo, hi) - lo);
    Duration::from_millis(ms.max(1))
}

/// Half deliveries, a third reads, the rest deletions.
pub(crate) fn request_kind(chooser: &mut Chooser) -> RequestKind {
    RequestMix::NIGHT.draw(chooser)
}

/// The proportions of deliveries, reads and deletions in a stream of mail
/// requests, as weights: `deliver=50,read=35,delete=15` is the simulated
/// night's traffic ([`RequestMix::NIGHT`], the default).
///
/// ```
/// use mailsim::sim::RequestMix;
///
/// let mix: RequestMix = "deliver=1,read=0,delete=0".parse()?;
/// assert_eq!(mix, RequestMix::new(1, 0, 0)?);
/// assert_eq!(RequestMix::default().to_string(), "deliver=50,read=35,delete=15");
/// # Ok::<(), mailsim::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestMix {
    deliver: u32,
    read: u32,
    delete: u32,
}

impl RequestMix {
    /// The simulated night's mix: half deliveries, a third reads, the rest
    /// deletions.
    pub const NIGHT: RequestMix = RequestMix {
        deliver: 50,
        read: 35,
        delete: 15,
    };

    /// Most a weight may be (so that the three add up without overflow).
    pub const MAX_WEIGHT: u32 = 1_000_000;

    /// A mix of these weights.
    ///
    /// # Errors
    /// [`Error::InvalidScenario`] when every weight is 0, or one is above
    /// [`RequestMix::MAX_WEIGHT`].
    pub fn new(deliver: u32, read: u32, delete: u32) -> Result<RequestMix> {
        let bad = |why: String| Error::InvalidScenario {
            field: "mix",
            reason: why,
        };
        if let Some(w) = [deliver, read, delete]
            .into_iter()
            .find(|w| *w > Self::MAX_WEIGHT)
        {
            return Err(bad(format!(
                "a weight of {w} is above the most, {}",
                Self::MAX_WEIGHT
            )));
        }
        if deliver == 0 && read == 0 && delete == 0 {
            return Err(bad("every weight is 0: nothing would be served".to_owned()));
        }
        Ok(RequestMix {
            deliver,
            read,
            delete,
        })
    }

    /// The weight of deliveries.
    pub fn deliver(&self) -> u32 {
        self.deliver
    }

    /// The weight of reads (a message's read flag set in place).
    pub fn read(&self) -> u32 {
        self.read
    }

    /// The weight of deletions.
    pub fn delete(&self) -> u32 {
        self.delete
    }

    /// One request's kind, drawn by these weights.
    fn draw(&self, chooser: &mut Chooser) -> RequestKind {
        match chooser.weighted(Stream::Requests, &[self.deliver, self.read, self.delete]) {
            0 => RequestKind::Deliver,
            1 => RequestKind::Read,
            _ => RequestKind::Delete,
        }
    }
}

impl Default for RequestMix {
    fn default() -> RequestMix {
        RequestMix::NIGHT
    }
}

impl fmt::Display for RequestMix {
    /// `deliver=50,read=35,delete=15`: what [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deliver={},read={},delete={}",
            self.deliver, self.read, self.delete
        )
    }
}

impl FromStr for RequestMix {
    type Err = Error;

    /// `deliver=N,read=N,delete=N`, in any order; a kind left out weighs 0.
    fn from_str(text: &str) -> Result<RequestMix> {
        let bad = |why: String| Error::InvalidScenario {
            field: "mix",
            reason: why,
        };
        let mut weights: [Option<u32>; 3] = [None; 3];
        for part in text.split(',').map(str::trim) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("{part:?} is not KIND=WEIGHT")))?;
            let slot = match key.trim() {
                "deliver" => 0,
                "read" => 1,
                "delete" => 2,
                other => {
                    return Err(bad(format!(
                        "unknown kind {other:?} (expected deliver, read or delete)"
                    )));
                }
            };
            let w: u32 = value.trim().parse().map_err(|_| {
                bad(format!(
                    "{:?} is not a whole number of at most {}",
                    value.trim(),
                    Self::MAX_WEIGHT
                ))
            })?;
            if weights[slot].replace(w).is_some() {
                return Err(bad(format!("{} is given twice", key.trim())));
            }
        }
        let [d, r, x] = weights.map(|w| w.unwrap_or(0));
        RequestMix::new(d, r, x)
    }
}

/// One mail request drawn from a [`Requests`] stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// What it asks.
    pub kind: RequestKind,
    /// For a delivery, the message's payload size in bytes (0 otherwise).
    pub payload_len: u32,
    /// For a read or a deletion, which message, counted back from the
    /// newest (what [`MailServer::mark_read`](crate::MailServer::mark_read)
    /// and [`MailServer::delete`](crate::MailServer::delete) take).
    pub pick: u32,
}

/// The simulated night's mail traffic as an endless, seeded stream of
/// requests: kinds in a [`RequestMix`]'s proportions, message sizes and the
/// messages read or deleted drawn exactly as the simulation draws them.
/// What `mailsim serve` serves.
///
/// ```
/// use mailsim::event::RequestKind;
/// use mailsim::sim::{RequestMix, Requests};
///
/// let mut a = Requests::new(7, RequestMix::default());
/// let mut b = Requests::new(7, RequestMix::default());
/// let first: Vec<_> = (0..100).map(|_| a.next_request(40)).collect();
/// assert_eq!(first, (0..100).map(|_| b.next_request(40)).collect::<Vec<_>>());
/// assert!(first.iter().any(|r| r.kind == RequestKind::Delete));
/// ```
#[derive(Debug)]
pub struct Requests {
    chooser: Chooser,
    mix: RequestMix,
}

impl Requests {
    /// A stream drawn from `seed`.
    pub fn new(seed: u64, mix: RequestMix) -> Requests {
        Requests {
            chooser: Chooser::random(seed),
            mix,
        }
    }

    /// The next request, for a data file holding `live_messages` messages.
    /// The choices it draws are not kept: the stream runs in bounded
    /// memory however long it runs.
    pub fn next_request(&mut self, live_messages: u64) -> Request {
        let kind = self.mix.draw(&mut self.chooser);
        let (payload_len, pick) = match kind {
            RequestKind::Deliver => (payload_len(&mut self.chooser), 0),
            _ => (0, pick(&mut self.chooser, live_messages)),
        };
        self.chooser.forget();
        Request {
            kind,
            payload_len,
            pick,
        }
    }
}

/// A realistic message size: mostly short notes, some longer, a few with
/// attachments.
pub(crate) fn payload_len(chooser: &mut Chooser) -> u32 {
    let (lo, hi) = match chooser.weighted(Stream::Requests, &[70, 25, 5]) {
        0 => (200, 1_200),
        1 => (1_200, 4_000),
        _ => (4_000, 32_000),
    };
    chooser.range(Stream::Requests, lo, hi) as u32
}

/// Which message a read or a deletion is about, counted back from the
/// newest of `live` messages: people mostly read and delete recent mail.
pub(crate) fn pick(chooser: &mut Chooser, live: u64) -> u32 {
    let live = u32::try_from(live).unwrap_or(u32::MAX);
    match chooser.weighted(Stream::Requests, &[70, 30]) {
        0 => chooser.choose(Stream::Requests, live.min(64)),
        _ => chooser.choose(Stream::Requests, live),
    }
}
