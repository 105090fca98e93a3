//! The chooser: the one source of every nondeterministic decision in a
//! simulated night, and the record of what it chose.
//!
//! Traffic arrivals, message sizes, which reaction the server picks to a
//! foreign access and the order of simultaneous events are all drawn here and
//! nowhere else. In random mode a seeded ChaCha8 generator draws them; in
//! replay mode a recorded [`Choices`] supplies them, so any night can be run
//! again exactly. Replay is forgiving by design, which is what makes choice
//! records shrinkable: a value too large for its choice is taken modulo the
//! number of options, and a record that runs out answers 0 (the first
//! option) from then on. Any sequence of numbers describes some night, and
//! shorter sequences of smaller numbers describe simpler ones.
//!
//! What does not live here: what the options *mean* (the actors decide that).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// The choices a night made, in order: each is the index of the option taken.
///
/// Feed it to [`crate::Scenario::replay`] to run the same night again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Choices(pub Vec<u32>);

impl Choices {
    /// Number of recorded choices.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no choice was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded option indices.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }
}

impl From<Vec<u32>> for Choices {
    fn from(v: Vec<u32>) -> Self {
        Choices(v)
    }
}

#[derive(Clone, Debug)]
enum Source {
    Random(Box<ChaCha8Rng>),
    Replay { record: Vec<u32>, pos: usize },
}

/// Draws every nondeterministic decision of a night and records it.
#[derive(Clone, Debug)]
pub struct Chooser {
    source: Source,
    record: Vec<u32>,
    arities: Vec<u32>,
}

impl Chooser {
    /// A chooser drawing from a ChaCha8 generator seeded with `seed`.
    pub fn random(seed: u64) -> Chooser {
        Chooser {
            source: Source::Random(Box::new(ChaCha8Rng::seed_from_u64(seed))),
            record: Vec::with_capacity(1024),
            arities: Vec::with_capacity(1024),
        }
    }

    /// A chooser answering from `record` (each value modulo the number of
    /// options); past its end every answer is 0.
    pub fn replay(record: &Choices) -> Chooser {
        Chooser {
            source: Source::Replay {
                record: record.0.clone(),
                pos: 0,
            },
            record: Vec::with_capacity(record.len()),
            arities: Vec::with_capacity(record.len()),
        }
    }

    /// Picks one of `n` options, uniformly in random mode. A choice with one
    /// option (or none) is not a choice: it answers 0 and records nothing.
    pub fn choose(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        let v = match &mut self.source {
            // Lemire's multiply-shift: unbiased enough for 32-bit ranges and
            // identical on every platform.
            Source::Random(rng) => ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32,
            Source::Replay { record, pos } => {
                let v = record.get(*pos).copied().unwrap_or(0);
                *pos += 1;
                v % n
            }
        };
        self.record.push(v);
        self.arities.push(n);
        v
    }

    /// Picks an index into `weights` with probability proportional to its
    /// weight. Zero weights are never picked in random mode.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if weights.len() <= 1 || total == 0 {
            return 0;
        }
        match &mut self.source {
            Source::Random(rng) => {
                let total = u32::try_from(total).unwrap_or(u32::MAX);
                let mut x = ((u64::from(rng.next_u32()) * u64::from(total)) >> 32) as u32;
                let mut pick = weights.len() - 1;
                for (i, &w) in weights.iter().enumerate() {
                    if x < w {
                        pick = i;
                        break;
                    }
                    x -= w;
                }
                self.record.push(pick as u32);
                self.arities.push(weights.len() as u32);
                pick
            }
            Source::Replay { .. } => self.choose(weights.len() as u32) as usize,
        }
    }

    /// A value in `lo..=hi`, uniform in random mode.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span < u64::from(u32::MAX) {
            lo + u64::from(self.choose((span + 1) as u32))
        } else {
            // Wide ranges are drawn in 2^16 steps: still one recorded choice.
            let steps = 1u32 << 16;
            lo + span / u64::from(steps - 1) * u64::from(self.choose(steps))
        }
    }

    /// The choices recorded so far.
    pub fn record(&self) -> &[u32] {
        &self.record
    }

    /// How many options each recorded choice had (for exploration and shrinking).
    pub fn arities(&self) -> &[u32] {
        &self.arities
    }

    /// Drops the choices recorded so far (a stream that runs for hours keeps
    /// no record of them).
    pub(crate) fn forget(&mut self) {
        self.record.clear();
        self.arities.clear();
    }

    /// Consumes the chooser, returning its record.
    pub fn into_choices(self) -> Choices {
        Choices(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices() {
        let mut a = Chooser::random(7);
        let mut b = Chooser::random(7);
        let xs: Vec<u32> = (0..100).map(|_| a.choose(10)).collect();
        let ys: Vec<u32> = (0..100).map(|_| b.choose(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert!(xs.iter().any(|&x| x != xs[0]), "a seeded generator varies");
    }

    #[test]
    fn replay_reproduces_a_random_run() {
        let mut a = Chooser::random(42);
        let drawn: Vec<u64> = (0..50)
            .map(|i| match i % 3 {
                0 => u64::from(a.choose(7)),
                1 => a.weighted(&[900, 100]) as u64,
                _ => a.range(10, 20_000),
            })
            .collect();
        let mut b = Chooser::replay(&a.clone().into_choices());
        let again: Vec<u64> = (0..50)
            .map(|i| match i % 3 {
                0 => u64::from(b.choose(7)),
                1 => b.weighted(&[900, 100]) as u64,
                _ => b.range(10, 20_000),
            })
            .collect();
        assert_eq!(drawn, again);
        assert_eq!(a.record(), b.record());
    }

    #[test]
    fn replay_wraps_and_runs_out_to_zero() {
        let mut c = Chooser::replay(&Choices(vec![10, 9]));
        assert_eq!(c.choose(3), 1);
        assert_eq!(c.choose(20), 9);
        assert_eq!(c.choose(20), 0);
        assert_eq!(c.record(), &[1, 9, 0]);
    }

    #[test]
    fn single_option_is_not_recorded() {
        let mut c = Chooser::random(1);
        assert_eq!(c.choose(1), 0);
        assert_eq!(c.weighted(&[5]), 0);
        assert!(c.record().is_empty());
    }

    #[test]
    fn weighted_respects_weights() {
        let mut c = Chooser::random(3);
        let hits = (0..10_000).filter(|_| c.weighted(&[900, 100]) == 0).count();
        assert!((8_700..9_300).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| c.weighted(&[0, 1]) == 1));
    }
}
