//! The consistency oracle: it knows every state Mail Data held between
//! transactions and judges archived copies against them.
//!
//! It never hashes the whole file per commit. For every page it keeps the
//! page's history as (stamp, first generation) pairs, appended only for the
//! pages a transaction touched, and the same for the file's length. A copy is
//! consistent when the generation intervals of all its pages (and its length)
//! share a generation: it then equals the file as of that generation. Stamps
//! are the volume's fingerprints of page bytes ([`Content::page_stamp`]).

use std::ops::Range;

use crate::time::SimTime;
use crate::volume::{Content, PAGE_BYTES};

#[derive(Debug, Default, Clone)]
pub(crate) struct Oracle {
    /// Per page: (stamp, generation from which the page held it).
    pages: Vec<Vec<(u64, u64)>>,
    /// (length in bytes, generation from which the file had it).
    lens: Vec<(u64, u64)>,
    /// (generation, commit time), in order.
    commits: Vec<(u64, SimTime)>,
}

impl Oracle {
    /// An oracle that knows `image` as the state of `generation`.
    pub(crate) fn new(image: &Content, generation: u64, at: SimTime) -> Oracle {
        let pages = (0..image.page_count())
            .map(|i| vec![(image.page_stamp(i).expect("in range"), generation)])
            .collect();
        Oracle {
            pages,
            lens: vec![(image.len_bytes(), generation)],
            commits: vec![(generation, at)],
        }
    }

    /// Records the state after a commit that wrote `touched` byte ranges.
    pub(crate) fn commit(
        &mut self,
        image: &Content,
        generation: u64,
        at: SimTime,
        touched: &[Range<u64>],
    ) {
        for r in touched {
            if r.is_empty() {
                continue;
            }
            let first = (r.start / PAGE_BYTES as u64) as usize;
            let last = ((r.end - 1) / PAGE_BYTES as u64) as usize;
            for p in first..=last.min(image.page_count().saturating_sub(1)) {
                let stamp = image.page_stamp(p).expect("in range");
                if p >= self.pages.len() {
                    self.pages.resize_with(p + 1, Vec::new);
                }
                let h = &mut self.pages[p];
                if h.last().map(|e| e.0) != Some(stamp) {
                    h.push((stamp, generation));
                }
            }
        }
        let len = image.len_bytes();
        if self.lens.last().map(|e| e.0) != Some(len) {
            self.lens.push((len, generation));
        }
        self.commits.push((generation, at));
    }

    fn interval(history: &[(u64, u64)], stamp: u64) -> Option<Range<u64>> {
        let i = history.iter().rposition(|e| e.0 == stamp)?;
        let end = history.get(i + 1).map_or(u64::MAX, |e| e.1);
        Some(history[i].1..end)
    }

    /// The generation whose state `copy` equals, or `None` for a torn copy.
    pub(crate) fn judge(&self, copy: &Content) -> Option<u64> {
        let len = copy.len_bytes();
        let i = self.lens.iter().rposition(|e| e.0 == len)?;
        // A length can recur (after a compaction); try each interval it held.
        let mut candidates: Vec<Range<u64>> = Vec::new();
        for (j, e) in self.lens.iter().enumerate().take(i + 1) {
            if e.0 == len {
                let end = self.lens.get(j + 1).map_or(u64::MAX, |n| n.1);
                candidates.push(e.1..end);
            }
        }
        let (mut lo, mut hi) = (0u64, u64::MAX);
        for p in 0..copy.page_count() {
            let stamp = copy.page_stamp(p).expect("in range");
            let r = Self::interval(self.pages.get(p)?, stamp)?;
            lo = lo.max(r.start);
            hi = hi.min(r.end);
            if lo >= hi {
                return None;
            }
        }
        candidates
            .iter()
            .map(|c| (c.start.max(lo), c.end.min(hi)))
            .find(|(a, b)| a < b)
            .map(|(a, _)| a)
    }

    /// Whether `copy` starts with a header page Mail Data once had.
    pub(crate) fn recognizes(&self, copy: &Content) -> bool {
        match (copy.page_stamp(0), self.pages.first()) {
            (Some(s), Some(h)) => h.iter().any(|e| e.0 == s),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Stamper;

    #[test]
    fn judges_states_and_mixtures() {
        let mut s = Stamper::new();
        let t = SimTime::ZERO;
        let mut live = Content::from_bytes(&[0u8; 3 * PAGE_BYTES]);
        let mut o = Oracle::new(&live, 10, t);
        let g10 = live.clone();
        live.write_at(0, b"gen 11", &mut s);
        live.write_at(2 * PAGE_BYTES as u64, b"rec", &mut s);
        o.commit(&live, 11, t, &[0..6, 8192..8195]);
        let g11 = live.clone();
        live.write_at(0, b"gen 12", &mut s);
        live.write_at(PAGE_BYTES as u64, b"rec", &mut s);
        o.commit(&live, 12, t, &[0..6, 4096..4099]);
        assert_eq!(o.judge(&g10), Some(10));
        assert_eq!(o.judge(&g11), Some(11));
        assert_eq!(o.judge(&live), Some(12));
        // Header of 10 with the record of 11: equals no state.
        let torn = Content::splice(&g10, 2, 3, &g11);
        assert_eq!(o.judge(&torn), None);
        // Header of 11 with page 1 of 12: torn as well.
        assert_eq!(o.judge(&Content::splice(&g11, 1, 2, &live)), None);
        assert!(o.recognizes(&g11));
        assert!(!o.recognizes(&Content::from_bytes(b"other")));
    }

    #[test]
    fn length_is_part_of_the_state() {
        let mut s = Stamper::new();
        let t = SimTime::ZERO;
        let mut live = Content::from_bytes(&[1u8; 100]);
        let mut o = Oracle::new(&live, 0, t);
        live.write_at(100, &[2u8; 10], &mut s);
        o.commit(&live, 1, t, &[100..110, 0..0]);
        assert_eq!(o.judge(&live), Some(1));
        // The new page-0 bytes cut to the old length never existed.
        assert_eq!(o.judge(&live.with_len(100)), None);
    }
}
