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
//! Every choice is drawn for one [`Stream`]: the arrivals of requests, what
//! each request is, the server's reaction, the order of simultaneous events.
//! A night's record keeps each stream's choices apart, and a streamed record
//! replays each stream from its own list: removing or changing one arrival
//! leaves every reaction and every request as it was. That is what lets a
//! shrinker simplify one part of a night without scrambling the rest. A
//! record may also be one plain sequence, read in the order the night asks
//! (how the explorer walks a night, and how scenario files of earlier
//! versions saved it); a complete record replays alike either way.
//!
//! What does not live here: what the options *mean* (the actors decide that).

use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who draws a choice. Each stream has a list of its own in a streamed
/// [`Choices`] record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stream {
    /// When the mail clients' requests arrive (the gaps between them).
    Arrivals,
    /// What each request is: its kind, a message's size, which message a
    /// read or a deletion is about.
    Requests,
    /// The server's reaction to a foreign access (the KB's draw).
    Reaction,
    /// The order of simultaneous events.
    Order,
}

/// How many streams there are.
const STREAMS: usize = 4;

impl Stream {
    /// Every stream, in the order a record lists them.
    pub const ALL: [Stream; STREAMS] = [
        Stream::Arrivals,
        Stream::Requests,
        Stream::Reaction,
        Stream::Order,
    ];

    /// The stream's name in a record's JSON and in a replay token.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Arrivals => "arrivals",
            Stream::Requests => "requests",
            Stream::Reaction => "reaction",
            Stream::Order => "order",
        }
    }

    /// The stream of this name.
    pub fn from_name(name: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The choices a night made: each is the index of the option taken.
///
/// A record is either *streamed* — one list per [`Stream`], each replayed
/// on its own (what a night records, [`Choices::from_streams`]) — or one
/// plain *sequence* read in the order the night asks (`From<Vec<u32>>`, the
/// explorer's paths, scenario files of earlier versions). Feed it to
/// [`crate::Scenario::replay`] to run the night again. As JSON a sequence is
/// an array, a streamed record an object of arrays by stream name
/// (`{"arrivals": [3, 0, 17], "reaction": [1]}`; empty streams left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Choices {
    values: Vec<u32>,
    /// For a streamed record, where each stream's list ends in `values`.
    ends: Option<[usize; STREAMS]>,
}

impl Choices {
    /// A streamed record: each stream's choices, in order. Streams not
    /// given are empty; a stream given twice gets both lists, one after the
    /// other.
    pub fn from_streams<I, V>(streams: I) -> Choices
    where
        I: IntoIterator<Item = (Stream, V)>,
        V: Into<Vec<u32>>,
    {
        let mut lists: [Vec<u32>; STREAMS] = Default::default();
        for (s, v) in streams {
            lists[s.index()].extend(v.into());
        }
        Choices::of_lists(lists)
    }

    fn of_lists(lists: [Vec<u32>; STREAMS]) -> Choices {
        let mut values = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        let mut ends = [0; STREAMS];
        for (end, list) in ends.iter_mut().zip(lists) {
            values.extend(list);
            *end = values.len();
        }
        Choices {
            values,
            ends: Some(ends),
        }
    }

    /// Number of recorded choices (in every stream).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no choice was recorded.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The recorded option indices: a sequence's in order, a streamed
    /// record's stream by stream (in the order of [`Stream::ALL`]).
    pub fn as_slice(&self) -> &[u32] {
        &self.values
    }

    /// Whether the record keeps each stream apart.
    pub fn is_streamed(&self) -> bool {
        self.ends.is_some()
    }

    /// One stream's choices of a streamed record; `None` for a sequence.
    pub fn stream(&self, stream: Stream) -> Option<&[u32]> {
        let ends = self.ends?;
        let i = stream.index();
        let start = if i == 0 { 0 } else { ends[i - 1] };
        Some(&self.values[start..ends[i]])
    }

    /// The record without the zeros at the end of each list (replay answers
    /// 0 past a list's end, so the night is the same).
    pub fn trimmed(&self) -> Choices {
        fn trim(v: &[u32]) -> Vec<u32> {
            let end = v.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
            v[..end].to_vec()
        }
        match self.ends {
            None => Choices::from(trim(&self.values)),
            Some(_) => Choices::from_streams(
                Stream::ALL.map(|s| (s, trim(self.stream(s).unwrap_or_default()))),
            ),
        }
    }
}

impl From<Vec<u32>> for Choices {
    /// A sequence, read in the order the night asks.
    fn from(values: Vec<u32>) -> Self {
        Choices { values, ends: None }
    }
}

impl Serialize for Choices {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.ends.is_none() {
            return self.values.serialize(serializer);
        }
        let lists: Vec<(Stream, &[u32])> = Stream::ALL
            .into_iter()
            .filter_map(|s| self.stream(s).filter(|l| !l.is_empty()).map(|l| (s, l)))
            .collect();
        let mut map = serializer.serialize_map(Some(lists.len()))?;
        for (s, l) in lists {
            map.serialize_entry(s.name(), l)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChoicesVisitor;

        impl<'de> Visitor<'de> for ChoicesVisitor {
            type Value = Choices;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an array of choices, or an object of arrays by stream (arrivals, requests, reaction, order)",
                )
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Choices, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(v) = seq.next_element::<u32>()? {
                    values.push(v);
                }
                Ok(Choices::from(values))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Choices, A::Error> {
                let mut lists: [Option<Vec<u32>>; STREAMS] = Default::default();
                while let Some(key) = map.next_key::<String>()? {
                    let Some(s) = Stream::from_name(&key) else {
                        return Err(de::Error::unknown_field(
                            &key,
                            &["arrivals", "requests", "reaction", "order"],
                        ));
                    };
                    if lists[s.index()].is_some() {
                        return Err(de::Error::duplicate_field(s.name()));
                    }
                    lists[s.index()] = Some(map.next_value()?);
                }
                Ok(Choices::of_lists(lists.map(Option::unwrap_or_default)))
            }
        }

        deserializer.deserialize_any(ChoicesVisitor)
    }
}

#[derive(Clone, Debug)]
enum Source {
    Random(Box<ChaCha8Rng>),
    /// A record being replayed, and how far each list has been read (a
    /// sequence uses the first position only).
    Replay {
        record: Choices,
        pos: [usize; STREAMS],
    },
}

/// Draws every nondeterministic decision of a night and records it.
#[derive(Clone, Debug)]
pub struct Chooser {
    source: Source,
    /// Every choice, in the order drawn (the explorer's path).
    record: Vec<u32>,
    arities: Vec<u32>,
    /// The same choices, each in its stream's list.
    streams: [Vec<u32>; STREAMS],
}

impl Chooser {
    /// A chooser drawing from a ChaCha8 generator seeded with `seed`.
    pub fn random(seed: u64) -> Chooser {
        Chooser {
            source: Source::Random(Box::new(ChaCha8Rng::seed_from_u64(seed))),
            record: Vec::with_capacity(1024),
            arities: Vec::with_capacity(1024),
            streams: Default::default(),
        }
    }

    /// A chooser answering from `record` (each value modulo the number of
    /// options); past the end of a list every answer is 0. A streamed
    /// record answers each stream from its own list.
    pub fn replay(record: &Choices) -> Chooser {
        Chooser {
            source: Source::Replay {
                record: record.clone(),
                pos: [0; STREAMS],
            },
            record: Vec::with_capacity(record.len()),
            arities: Vec::with_capacity(record.len()),
            streams: Default::default(),
        }
    }

    /// Picks one of `n` options for `stream`, uniformly in random mode. A
    /// choice with one option (or none) is not a choice: it answers 0 and
    /// records nothing.
    pub fn choose(&mut self, stream: Stream, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        let v = match &mut self.source {
            // Lemire's multiply-shift: unbiased enough for 32-bit ranges and
            // identical on every platform.
            Source::Random(rng) => ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32,
            Source::Replay { record, pos } => {
                let (list, pos) = match record.stream(stream) {
                    Some(list) => (list, &mut pos[stream.index()]),
                    None => (record.as_slice(), &mut pos[0]),
                };
                let v = list.get(*pos).copied().unwrap_or(0);
                *pos += 1;
                v % n
            }
        };
        self.push(stream, v, n);
        v
    }

    fn push(&mut self, stream: Stream, v: u32, n: u32) {
        self.record.push(v);
        self.arities.push(n);
        self.streams[stream.index()].push(v);
    }

    /// Picks an index into `weights` for `stream` with probability
    /// proportional to its weight. Zero weights are never picked in random
    /// mode.
    pub fn weighted(&mut self, stream: Stream, weights: &[u32]) -> usize {
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
                self.push(stream, pick as u32, weights.len() as u32);
                pick
            }
            Source::Replay { .. } => self.choose(stream, weights.len() as u32) as usize,
        }
    }

    /// A value in `lo..=hi` for `stream`, uniform in random mode.
    pub fn range(&mut self, stream: Stream, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span < u64::from(u32::MAX) {
            lo + u64::from(self.choose(stream, (span + 1) as u32))
        } else {
            // Wide ranges are drawn in 2^16 steps: still one recorded choice.
            let steps = 1u32 << 16;
            lo + span / u64::from(steps - 1) * u64::from(self.choose(stream, steps))
        }
    }

    /// The choices recorded so far, in the order drawn.
    pub(crate) fn record(&self) -> &[u32] {
        &self.record
    }

    /// How many options each recorded choice had (for exploration).
    pub(crate) fn arities(&self) -> &[u32] {
        &self.arities
    }

    /// Drops the choices recorded so far (a stream that runs for hours keeps
    /// no record of them).
    pub(crate) fn forget(&mut self) {
        self.record.clear();
        self.arities.clear();
        self.streams.iter_mut().for_each(Vec::clear);
    }

    /// Consumes the chooser, returning its record, each stream's choices
    /// kept apart.
    pub fn into_choices(self) -> Choices {
        Choices::of_lists(self.streams)
    }

    /// Consumes the chooser, returning its record twice: as the sequence
    /// drawn, and streamed.
    pub(crate) fn into_records(self) -> (Choices, Choices) {
        (Choices::from(self.record), Choices::of_lists(self.streams))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices() {
        let mut a = Chooser::random(7);
        let mut b = Chooser::random(7);
        let xs: Vec<u32> = (0..100).map(|_| a.choose(Stream::Order, 10)).collect();
        let ys: Vec<u32> = (0..100).map(|_| b.choose(Stream::Order, 10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10));
        assert!(xs.iter().any(|&x| x != xs[0]), "a seeded generator varies");
    }

    #[test]
    fn replay_reproduces_a_random_run() {
        let mut a = Chooser::random(42);
        let drawn: Vec<u64> = (0..50)
            .map(|i| match i % 3 {
                0 => u64::from(a.choose(Stream::Order, 7)),
                1 => a.weighted(Stream::Requests, &[900, 100]) as u64,
                _ => a.range(Stream::Arrivals, 10, 20_000),
            })
            .collect();
        let (sequence, streamed) = a.clone().into_records();
        assert!(!sequence.is_streamed() && streamed.is_streamed());
        let mut b = Chooser::replay(&streamed);
        let again: Vec<u64> = (0..50)
            .map(|i| match i % 3 {
                0 => u64::from(b.choose(Stream::Order, 7)),
                1 => b.weighted(Stream::Requests, &[900, 100]) as u64,
                _ => b.range(Stream::Arrivals, 10, 20_000),
            })
            .collect();
        assert_eq!(drawn, again);
        assert_eq!(a.record(), b.record());
    }

    #[test]
    fn replay_wraps_and_runs_out_to_zero() {
        let mut c = Chooser::replay(&Choices::from(vec![10, 9]));
        assert_eq!(c.choose(Stream::Order, 3), 1);
        assert_eq!(c.choose(Stream::Order, 20), 9);
        assert_eq!(c.choose(Stream::Order, 20), 0);
        assert_eq!(c.record(), &[1, 9, 0]);
    }

    #[test]
    fn single_option_is_not_recorded() {
        let mut c = Chooser::random(1);
        assert_eq!(c.choose(Stream::Order, 1), 0);
        assert_eq!(c.weighted(Stream::Requests, &[5]), 0);
        assert!(c.record().is_empty());
    }

    #[test]
    fn weighted_respects_weights() {
        let mut c = Chooser::random(3);
        let hits = (0..10_000)
            .filter(|_| c.weighted(Stream::Requests, &[900, 100]) == 0)
            .count();
        assert!((8_700..9_300).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| c.weighted(Stream::Requests, &[0, 1]) == 1));
    }

    #[test]
    fn each_stream_replays_from_its_own_list() {
        let record =
            Choices::from_streams([(Stream::Arrivals, vec![5, 6]), (Stream::Reaction, vec![1])]);
        let mut c = Chooser::replay(&record);
        // Interleaved as a night asks: the reaction is unaffected by how
        // many arrivals came before it.
        assert_eq!(c.choose(Stream::Arrivals, 10), 5);
        assert_eq!(c.choose(Stream::Reaction, 2), 1);
        assert_eq!(c.choose(Stream::Requests, 10), 0);
        assert_eq!(c.choose(Stream::Arrivals, 10), 6);
        assert_eq!(c.choose(Stream::Arrivals, 10), 0);
        assert_eq!(c.record(), &[5, 1, 0, 6, 0]);
        let streamed = c.into_choices();
        assert_eq!(streamed.stream(Stream::Arrivals), Some(&[5, 6, 0][..]));
        assert_eq!(streamed.stream(Stream::Requests), Some(&[0][..]));
        assert_eq!(streamed.stream(Stream::Reaction), Some(&[1][..]));
        assert_eq!(streamed.trimmed(), record);
    }

    #[test]
    fn a_sequence_is_read_in_the_order_asked() {
        let mut c = Chooser::replay(&Choices::from(vec![5, 1, 6]));
        assert_eq!(c.choose(Stream::Arrivals, 10), 5);
        assert_eq!(c.choose(Stream::Reaction, 2), 1);
        assert_eq!(c.choose(Stream::Arrivals, 10), 6);
        assert_eq!(
            Choices::from(vec![5, 0, 3, 0, 0]).trimmed().as_slice(),
            &[5, 0, 3]
        );
    }

    #[test]
    fn records_read_and_write_as_json() {
        let seq = Choices::from(vec![3, 0, 17]);
        assert_eq!(serde_json::to_string(&seq).unwrap(), "[3,0,17]");
        let streamed =
            Choices::from_streams([(Stream::Arrivals, vec![3, 0]), (Stream::Order, vec![1])]);
        let json = serde_json::to_string(&streamed).unwrap();
        assert_eq!(json, r#"{"arrivals":[3,0],"order":[1]}"#);
        assert_eq!(serde_json::from_str::<Choices>(&json).unwrap(), streamed);
        assert_eq!(serde_json::from_str::<Choices>("[3,0,17]").unwrap(), seq);
        let bad = serde_json::from_str::<Choices>(r#"{"arrival":[1]}"#).unwrap_err();
        assert!(bad.to_string().contains("arrival"), "{bad}");
        assert!(serde_json::from_str::<Choices>(r#"{"order":[1],"order":[2]}"#).is_err());
        assert!(serde_json::from_str::<Choices>("[-1]").is_err());
    }
}
