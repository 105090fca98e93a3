//! Choice records as proptest values, and how they shrink.
//!
//! A record is streamed ([`Choices::from_streams`]): each [`Stream`] —
//! arrivals, requests, the server's reaction, the order of simultaneous
//! events — is a list of its own, replayed on its own, so removing one
//! arrival's choices does not change what any request is or how the server
//! reacts. The shrinker works on the lists in passes, each kept only while
//! the night still fails:
//!
//! 1. the whole record at once (every list emptied: a quiet night);
//! 2. each list emptied;
//! 3. each list cut to a prefix: the short prefixes one by one (a list's
//!    meaning is not monotone in its length — one arrival more or less
//!    moves every later one), then the shortest failing prefix by halving;
//! 4. chunks of each list deleted, halves first, then quarters, down to
//!    single choices;
//! 5. each choice towards 0: straight to 0, then halved while it fails.
//!
//! Past a list's end replay answers 0 (the first option: the longest gap
//! between arrivals, the smallest message, the first event), so a shorter
//! list is a simpler night. Every pass is bounded, and so is the whole
//! shrink ([`ChoicesTree::MAX_STEPS`] candidates).

use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::TestRunner;

use crate::chooser::{Choices, Stream};

const STREAMS: usize = Stream::ALL.len();

/// The longest list generated for each stream, in the order of
/// [`Stream::ALL`]: enough arrivals and requests to fill a night's traffic
/// window, a few reactions, a few tie-breaks. Past a list's end replay
/// answers 0.
const MAX_LEN: [usize; STREAMS] = [2_500, 2_500, 8, 64];

/// Short prefixes tried one by one before halving.
const SCAN: usize = 32;

/// A choice record: any record is a night (see
/// [`Scenario::replay`](crate::Scenario::replay)), each stream's choices a
/// list of its own. It shrinks as the module [`crate::testing`] describes:
/// the whole record first, then each stream, to short prefixes, in halves,
/// and each choice towards 0.
pub fn arb_choices() -> ChoicesStrategy {
    ChoicesStrategy { max_len: MAX_LEN }
}

/// The strategy of [`arb_choices`].
#[derive(Clone, Copy, Debug)]
pub struct ChoicesStrategy {
    max_len: [usize; STREAMS],
}

impl Strategy for ChoicesStrategy {
    type Tree = ChoicesTree;
    type Value = Choices;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        use proptest::prelude::Rng as _;
        let rng = runner.rng();
        let lists: [Vec<u32>; STREAMS] = std::array::from_fn(|i| {
            let len = (rng.next_u64() % (self.max_len[i] as u64 + 1)) as usize;
            (0..len).map(|_| rng.next_u32()).collect()
        });
        Ok(ChoicesTree::new(lists))
    }
}

/// Where the shrinker is: the pass, and its place in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Every list emptied at once.
    Everything,
    /// List `s` emptied.
    Empty {
        s: usize,
    },
    /// List `s` cut to `len`, for `len` in `1..SCAN` (and below its length).
    Scan {
        s: usize,
        len: usize,
    },
    /// List `s`: the shortest failing prefix is in `lo..=hi` (`hi` fails).
    Halve {
        s: usize,
        lo: usize,
        hi: usize,
    },
    /// List `s`: deleting `size` choices at `at`.
    Delete {
        s: usize,
        size: usize,
        at: usize,
    },
    /// List `s`: choice `i` to 0, then halved.
    Value {
        s: usize,
        i: usize,
        halving: bool,
    },
    Done,
}

/// The shrinking state of a choice record.
#[derive(Clone, Debug)]
pub struct ChoicesTree {
    /// The smallest record known to fail.
    accepted: [Vec<u32>; STREAMS],
    /// The record under test.
    candidate: [Vec<u32>; STREAMS],
    /// The pass that proposed the candidate.
    pass: Pass,
    steps: u32,
}

impl ChoicesTree {
    /// Most candidates one shrink proposes.
    pub const MAX_STEPS: u32 = 600;

    fn new(lists: [Vec<u32>; STREAMS]) -> ChoicesTree {
        ChoicesTree {
            candidate: lists.clone(),
            accepted: lists,
            pass: Pass::Everything,
            steps: 0,
        }
    }

    /// A tree shrinking `choices` (a streamed record; a sequence is taken
    /// as the arrivals' list).
    pub(crate) fn of(choices: &Choices) -> ChoicesTree {
        let lists = match choices.is_streamed() {
            true => Stream::ALL.map(|s| choices.stream(s).unwrap_or_default().to_vec()),
            false => {
                let mut l: [Vec<u32>; STREAMS] = Default::default();
                l[0] = choices.as_slice().to_vec();
                l
            }
        };
        ChoicesTree::new(lists)
    }

    /// The smallest record known to fail.
    pub(crate) fn current_accepted(&self) -> Choices {
        Choices::from_streams(Stream::ALL.into_iter().zip(self.accepted.iter().cloned()))
    }

    /// Candidates proposed so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The pass after `p`, when `p` has nothing more to propose.
    fn after(&self, p: Pass) -> Pass {
        let next_stream = |s: usize, first: fn(usize) -> Pass, then: Pass| {
            if s + 1 < STREAMS { first(s + 1) } else { then }
        };
        match p {
            Pass::Everything => Pass::Empty { s: 0 },
            Pass::Empty { s } => next_stream(s, |s| Pass::Empty { s }, Pass::Scan { s: 0, len: 1 }),
            Pass::Scan { s, .. } | Pass::Halve { s, .. } => next_stream(
                s,
                |s| Pass::Scan { s, len: 1 },
                Pass::Delete {
                    s: 0,
                    size: usize::MAX,
                    at: 0,
                },
            ),
            Pass::Delete { s, .. } => next_stream(
                s,
                |s| Pass::Delete {
                    s,
                    size: usize::MAX,
                    at: 0,
                },
                Pass::Value {
                    s: 0,
                    i: 0,
                    halving: false,
                },
            ),
            Pass::Value { s, .. } => next_stream(
                s,
                |s| Pass::Value {
                    s,
                    i: 0,
                    halving: false,
                },
                Pass::Done,
            ),
            Pass::Done => Pass::Done,
        }
    }

    /// Proposes the next candidate from `self.pass` on, or answers false.
    fn propose(&mut self) -> bool {
        loop {
            if self.steps >= Self::MAX_STEPS {
                self.pass = Pass::Done;
            }
            let a = &self.accepted;
            let mut c = a.clone();
            match self.pass {
                Pass::Everything => {
                    if a.iter().all(Vec::is_empty) {
                        self.pass = self.after(self.pass);
                        continue;
                    }
                    c.iter_mut().for_each(Vec::clear);
                }
                Pass::Empty { s } => {
                    if a[s].is_empty() {
                        self.pass = self.after(self.pass);
                        continue;
                    }
                    c[s].clear();
                }
                Pass::Scan { s, len } => {
                    if len >= SCAN.min(a[s].len()) {
                        self.pass = if a[s].len() > SCAN + 1 {
                            Pass::Halve {
                                s,
                                lo: SCAN,
                                hi: a[s].len(),
                            }
                        } else {
                            self.after(self.pass)
                        };
                        continue;
                    }
                    c[s].truncate(len);
                }
                Pass::Halve { s, lo, hi } => {
                    if lo >= hi {
                        self.pass = self.after(self.pass);
                        continue;
                    }
                    c[s].truncate(lo + (hi - lo) / 2);
                }
                Pass::Delete { s, size, at } => {
                    let len = a[s].len();
                    let size = size.min(len / 2);
                    if size == 0 {
                        self.pass = self.after(self.pass);
                        continue;
                    }
                    if at + size > len {
                        self.pass = Pass::Delete {
                            s,
                            size: size / 2,
                            at: 0,
                        };
                        continue;
                    }
                    self.pass = Pass::Delete { s, size, at };
                    c[s].drain(at..at + size);
                }
                Pass::Value { s, i, halving } => {
                    let Some(&v) = a[s].get(i) else {
                        self.pass = self.after(self.pass);
                        continue;
                    };
                    if v == 0 || (halving && v == 1) {
                        self.pass = Pass::Value {
                            s,
                            i: i + 1,
                            halving: false,
                        };
                        continue;
                    }
                    c[s][i] = if halving { v / 2 } else { 0 };
                }
                Pass::Done => return false,
            }
            self.candidate = c;
            self.steps += 1;
            return true;
        }
    }
}

impl ValueTree for ChoicesTree {
    type Value = Choices;

    fn current(&self) -> Choices {
        Choices::from_streams(Stream::ALL.into_iter().zip(self.candidate.iter().cloned()))
    }

    /// The candidate still fails: keep it, and try something smaller.
    fn simplify(&mut self) -> bool {
        let shorter = self.candidate[..] != self.accepted[..];
        self.accepted.clone_from(&self.candidate);
        if shorter {
            self.pass = match self.pass {
                // A failing prefix from the scan is the shortest found by
                // it: the shorter ones passed.
                Pass::Scan { s, .. } => self.after(Pass::Scan { s, len: 0 }),
                Pass::Halve { s, lo, .. } => Pass::Halve {
                    s,
                    lo,
                    hi: self.accepted[s].len(),
                },
                // Deleted: try the same place again, now holding what
                // came after.
                Pass::Value { s, i, .. } => Pass::Value {
                    s,
                    i,
                    halving: true,
                },
                p => p,
            };
        }
        self.propose()
    }

    /// The candidate passes: back to the last failing record, another try.
    fn complicate(&mut self) -> bool {
        self.pass = match self.pass {
            Pass::Everything | Pass::Empty { .. } => self.after(self.pass),
            Pass::Scan { s, len } => Pass::Scan { s, len: len + 1 },
            Pass::Halve { s, hi, .. } => Pass::Halve {
                s,
                lo: self.candidate[s].len() + 1,
                hi,
            },
            Pass::Delete { s, size, at } => Pass::Delete {
                s,
                size,
                at: at + size,
            },
            Pass::Value { s, i, .. } => Pass::Value {
                s,
                i: i + 1,
                halving: false,
            },
            Pass::Done => Pass::Done,
        };
        self.candidate.clone_from(&self.accepted);
        self.propose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shrinks `lists` against `fails`, as proptest drives a value tree.
    fn shrink(lists: [Vec<u32>; STREAMS], fails: impl Fn(&Choices) -> bool) -> (Choices, u32) {
        let mut tree = ChoicesTree::new(lists);
        let mut last = tree.current();
        assert!(fails(&last));
        let mut more = tree.simplify();
        while more {
            let c = tree.current();
            more = if fails(&c) {
                last = c;
                tree.simplify()
            } else {
                tree.complicate()
            };
        }
        (last, tree.steps())
    }

    fn random(len: usize, seed: u32) -> Vec<u32> {
        (0..len as u32)
            .map(|i| (i ^ seed).wrapping_mul(2_654_435_761))
            .collect()
    }

    #[test]
    fn a_failure_needing_one_choice_shrinks_to_it() {
        // Fails when some arrival choice is 7 mod 10: one choice is enough.
        let fails = |c: &Choices| {
            c.stream(Stream::Arrivals)
                .unwrap()
                .iter()
                .any(|v| v % 10 == 7)
        };
        let mut lists: [Vec<u32>; STREAMS] = Default::default();
        lists[0] = random(2_000, 1);
        lists[1] = random(1_500, 2);
        lists[2] = vec![1, 1];
        assert!(fails(&Choices::from_streams([(
            Stream::Arrivals,
            lists[0].clone()
        )])));
        let (shrunk, steps) = shrink(lists, fails);
        assert!(fails(&shrunk));
        assert_eq!(shrunk.len(), 1, "{shrunk:?}");
        assert!(steps < ChoicesTree::MAX_STEPS, "{steps} steps");
    }

    #[test]
    fn streams_shrink_apart() {
        // Fails when the reaction is 1 and there are at least 3 requests.
        let fails = |c: &Choices| {
            c.stream(Stream::Reaction).unwrap().first() == Some(&1)
                && c.stream(Stream::Requests).unwrap().len() >= 3
        };
        let lists = [random(900, 3), random(800, 4), vec![1, 0, 5], random(40, 5)];
        let (shrunk, steps) = shrink(lists, fails);
        assert_eq!(shrunk.stream(Stream::Arrivals), Some(&[][..]));
        assert_eq!(shrunk.stream(Stream::Order), Some(&[][..]));
        assert_eq!(shrunk.stream(Stream::Reaction), Some(&[1][..]));
        assert_eq!(shrunk.stream(Stream::Requests), Some(&[0, 0, 0][..]));
        assert!(steps < 200, "{steps} steps");
    }

    #[test]
    fn a_record_that_fails_empty_shrinks_to_nothing_at_once() {
        let (shrunk, steps) = shrink([random(100, 6), vec![], vec![], vec![]], |_| true);
        assert!(shrunk.is_empty());
        assert_eq!(steps, 1);
    }
}
