//! The fast model run: searched depth first over its states (each packed
//! into a key of 64 bits where it fits, 128 otherwise, hashed by a
//! multiply-xorshift), a terminal state's outcome counted and the first
//! path to each kept; and replayed along a path of choices, each archived
//! copy judged afresh from the pages it copied.
//!
//! What does not live here: the model's states, edges and steps (`model`).

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::super::{
    ArchivedCopy, CopyVerdict, Counterexample, Exploration, ExploredNight, ExploredStep,
};
use super::Model;
use super::model::{Edges, State};
use crate::chooser::Choices;
use crate::report::Outcome;
use crate::server::ConflictBehavior;

impl Model {
    /// The night along `choices`, as the explorer replays a path: each
    /// choice picks an edge (0 past the end), the copies judged from the
    /// pages they copied.
    pub(in crate::testing::explore) fn replay(&self, choices: &Choices) -> ExploredNight {
        let mut record = choices.as_slice().iter().copied();
        let mut take = |n: u32| record.next().unwrap_or(0).min(n - 1);
        let mut taken = Vec::new();
        let mut steps = Vec::new();
        let mut s = self.initial();
        loop {
            let edges = self.edges(&s);
            let Some(first) = edges.as_slice().first() else {
                break;
            };
            let index = if first.moves > 1 {
                take(u32::from(first.moves))
            } else {
                0
            };
            let mut picked = edges
                .as_slice()
                .iter()
                .copied()
                .find(|e| u32::from(e.index) == index)
                .expect("every index has an edge");
            if picked.draw.is_some() {
                picked.draw = Some(take(2) as u8);
            }
            picked.record(&mut taken);
            s = self.step(s, picked, &mut |e| steps.push(e));
        }
        // Judge the archived copies afresh from the pages copied.
        let mut copied: Vec<u32> = Vec::new();
        let mut aside_at = None;
        let (mut verdict, mut aside_verdict) = (None, None);
        let mut outcome = Outcome::Clean;
        for step in &mut steps {
            match step {
                ExploredStep::CopiedAside { generation } => aside_at = Some(*generation),
                ExploredStep::Opened { .. }
                | ExploredStep::SnapshotTaken { .. }
                | ExploredStep::OnlineCopyRestarted { .. } => copied.clear(),
                ExploredStep::CopiedPage { page, version, .. } => {
                    if *page == 0 {
                        copied.clear();
                    }
                    copied.push(*version);
                }
                ExploredStep::Reacted { behavior } => {
                    outcome = outcome.max(match behavior {
                        ConflictBehavior::Shutdown => Outcome::GracefulShutdown,
                        ConflictBehavior::Hang => Outcome::Hang,
                        ConflictBehavior::Tolerate => Outcome::Clean,
                    })
                }
                ExploredStep::Archived { copy, verdict: v } => {
                    let judged = match copy {
                        ArchivedCopy::MailData => {
                            let j = self.judge(&copied);
                            verdict = Some(j);
                            j
                        }
                        ArchivedCopy::ScheduledCopy => {
                            let j = aside_at.map_or(CopyVerdict::Torn, |g| self.judge_image(g));
                            *v = j;
                            aside_verdict = Some(j);
                            j
                        }
                    };
                    if !judged.is_consistent() {
                        outcome = Outcome::Corrupted;
                    }
                }
                _ => {}
            }
        }
        ExploredNight {
            steps,
            outcome,
            verdict,
            aside_verdict,
            choices: Choices::from(taken),
            violation: self.check(&s),
            report: None,
        }
    }
}

/// A multiply-xorshift hasher for the packed state keys (the keys are
/// already dense and unique: this only spreads their bits).
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xbf58_476d_1ce4_e5b9;

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(K1);
        self.0 = h ^ (h >> 29);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        let h = ((n as u64).wrapping_mul(K1) ^ (n >> 64) as u64).wrapping_mul(K2);
        self.0 = h ^ (h >> 31);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A packed state, as the set of seen states holds it.
trait Key: Copy + Eq + std::hash::Hash {
    fn from_wide(key: u128) -> Self;
}

impl Key for u64 {
    #[inline]
    fn from_wide(key: u128) -> u64 {
        key as u64
    }
}

impl Key for u128 {
    #[inline]
    fn from_wide(key: u128) -> u128 {
        key
    }
}

/// A state on the search's stack and the edges still to try.
struct Frame {
    state: State,
    edges: Edges,
    next: u8,
}

/// The choices along the stack: each frame's edge taken last.
fn path(stack: &[Frame]) -> Choices {
    let mut out = Vec::with_capacity(stack.len());
    for f in stack {
        f.edges.list[usize::from(f.next) - 1].record(&mut out);
    }
    // Replay answers 0 past the end: trailing zeros say nothing.
    while out.last() == Some(&0) {
        out.pop();
    }
    Choices::from(out)
}

/// Explores every state of `model` (at most `max_states`), until `stop`
/// says an outcome is enough.
pub(in crate::testing::explore) fn search(
    model: &Model,
    max_states: u64,
    stop: &dyn Fn(Outcome) -> bool,
) -> Exploration {
    if model.narrow_keys() {
        search_with::<u64>(model, max_states, stop)
    } else {
        search_with::<u128>(model, max_states, stop)
    }
}

fn search_with<K: Key>(
    model: &Model,
    max_states: u64,
    stop: &dyn Fn(Outcome) -> bool,
) -> Exploration {
    let mut ex = Exploration {
        states: 0,
        terminal: BTreeMap::new(),
        examples: BTreeMap::new(),
        counterexample: None,
        complete: true,
    };
    if max_states == 0 {
        ex.complete = false;
        return ex;
    }
    let capacity = (u64::from(model.transactions + 1) * u64::from(model.pages + 1))
        .min(max_states)
        .min(1 << 22) as usize;
    let mut seen: HashSet<K, BuildHasherDefault<KeyHasher>> =
        HashSet::with_capacity_and_hasher(capacity, Default::default());
    let mut stack: Vec<Frame> = Vec::with_capacity(256);
    let init = model.initial();
    seen.insert(K::from_wide(model.key(&init)));
    ex.states = 1;
    // Visits a new state: true to stop the search.
    let visit = |ex: &mut Exploration, stack: &mut Vec<Frame>, s: State| -> bool {
        let edges = model.edges(&s);
        if edges.len > 0 {
            stack.push(Frame {
                state: s,
                edges,
                next: 0,
            });
            return false;
        }
        let outcome = s.outcome();
        *ex.terminal.entry(outcome).or_insert(0) += 1;
        let first = !ex.examples.contains_key(&outcome);
        let violation = if ex.counterexample.is_none() {
            model.check(&s)
        } else {
            None
        };
        if first || violation.is_some() {
            let choices = path(stack);
            if let Some(violation) = violation {
                ex.counterexample = Some(Counterexample {
                    violation,
                    choices: choices.clone(),
                });
            }
            if first {
                ex.examples.insert(outcome, choices);
            }
        }
        if stop(outcome) {
            ex.complete = false;
            return true;
        }
        false
    };
    if visit(&mut ex, &mut stack, init) {
        return ex;
    }
    while let Some(top) = stack.last_mut() {
        if top.next == top.edges.len {
            stack.pop();
            continue;
        }
        let edge = top.edges.list[usize::from(top.next)];
        top.next += 1;
        let next = model.step(top.state, edge, &mut |_| {});
        if !seen.insert(K::from_wide(model.key(&next))) {
            continue;
        }
        if ex.states >= max_states {
            ex.complete = false;
            break;
        }
        ex.states += 1;
        if visit(&mut ex, &mut stack, next) {
            break;
        }
    }
    ex
}

#[cfg(test)]
mod tests {
    use crate::policy::{CopyOnWrite, LiveRead};
    use crate::report::Outcome;
    use crate::server::ConflictBehavior;
    use crate::sim::Scenario;
    use crate::testing::{Bounds, explore};

    #[test]
    fn a_tiny_night_by_hand() {
        // One transaction, header only, tolerated: open, commit and copy in
        // every order: 6 distinct states — (0, idle), (1, idle), (0, opened),
        // (1, opened), (0, archived), (1, archived) — one of them terminal.
        let s = Scenario::kb98097()
            .conflict_behavior(ConflictBehavior::Tolerate)
            .snapshot(CopyOnWrite);
        let e = explore(&s, Bounds::new(1, 1)).unwrap();
        assert!(e.complete);
        assert_eq!(e.terminal.get(&Outcome::Clean), Some(&1));
        let live = explore(&s.snapshot(LiveRead), Bounds::new(1, 1)).unwrap();
        assert_eq!(live.states, 6);
        assert_eq!(live.terminal.get(&Outcome::Clean), Some(&1));
    }
}
