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
    /// Per page: (fingerprint, state from which the page held it).
    pages: Vec<History>,
    /// Every page's entries after its first, of all pages in one log (no
    /// allocation per page); each links back to its page's previous one.
    later: Vec<Later>,
    /// Every fingerprint page 0, the header page, has had, in order: the
    /// page changes with every transaction, and [`Oracle::recognizes`] asks
    /// about it for every file archived.
    header_page: Vec<u64>,
    /// Whether `header_page` is in increasing order, as a simulated
    /// volume's stamps are (they count up): then it is searched in halves.
    header_page_sorted: bool,
    /// (length in bytes, state from which the file had it).
    lens: Vec<(u64, u64)>,
    /// The data file's generation in each state, by state number. States
    /// are numbered in order; two states may share a generation (the file
    /// as a crash left it, and as the restart recovered it).
    generations: Vec<u64>,
    /// Pages are known by [`page_fingerprint`] of their bytes, not by their
    /// stamps: contents read from disk carry no stamps that mean anything
    /// across reads.
    by_bytes: bool,
}

/// One page's history: its first (fingerprint, first state) entry inline,
/// the rest in [`Oracle::later`], newest first by the links.
#[derive(Debug, Default, Clone, Copy)]
struct History {
    first: Option<(u64, u64)>,
    /// 1 + the index in `later` of the page's newest entry; 0 for none.
    newest: u32,
}

/// A (fingerprint, first state) entry of a page after its first.
#[derive(Debug, Clone, Copy)]
struct Later {
    fp: u64,
    state: u64,
    /// 1 + the index of the page's entry before this one in `later`; 0 when
    /// the one before is the page's first.
    prev: u32,
}

impl History {
    fn one(fp: u64, state: u64) -> History {
        History {
            first: Some((fp, state)),
            newest: 0,
        }
    }
}

impl Oracle {
    /// A page's newest entry.
    fn last_of(&self, h: &History) -> Option<(u64, u64)> {
        match h.newest {
            0 => h.first,
            n => {
                let e = self.later[n as usize - 1];
                Some((e.fp, e.state))
            }
        }
    }

    /// Appends an entry to page `p`'s history.
    fn push(&mut self, p: usize, e: (u64, u64)) {
        if p == 0 {
            self.header_page_sorted &= self.header_page.last().is_none_or(|&l| l < e.0);
            self.header_page.push(e.0);
        }
        let h = &mut self.pages[p];
        if h.first.is_none() {
            h.first = Some(e);
        } else {
            self.later.push(Later {
                fp: e.0,
                state: e.1,
                prev: h.newest,
            });
            h.newest = u32::try_from(self.later.len()).expect("fewer than 2^32 page changes");
        }
    }

    /// The states during which page `h` held `fp` (the last such stretch).
    fn interval(&self, h: &History, fp: u64) -> Option<Range<u64>> {
        let mut end = u64::MAX;
        let mut n = h.newest;
        while n != 0 {
            let e = self.later[n as usize - 1];
            if e.fp == fp {
                return Some(e.state..end);
            }
            end = e.state;
            n = e.prev;
        }
        let f = h.first.filter(|f| f.0 == fp)?;
        Some(f.1..end)
    }
}

/// A fingerprint of a page's bytes, for contents whose pages carry no stamp
/// (files read from disk): two CRC-32s with different seeds. The page is
/// taken zero-padded to its full size.
pub(crate) fn page_fingerprint(bytes: &[u8]) -> u64 {
    let mut a = crc32fast::Hasher::new();
    let mut b = crc32fast::Hasher::new_with_initial(0x9e37_79b9);
    a.update(bytes);
    b.update(bytes);
    let pad = PAGE_BYTES.saturating_sub(bytes.len());
    if pad > 0 {
        let zeros = [0u8; PAGE_BYTES];
        a.update(&zeros[..pad]);
        b.update(&zeros[..pad]);
    }
    (u64::from(a.finalize()) << 32) | u64::from(b.finalize())
}

impl Oracle {
    /// An oracle that knows a file of `len` bytes whose pages have
    /// `fingerprints`, as the state of `generation`.
    pub(crate) fn from_fingerprints(
        len: u64,
        fingerprints: impl IntoIterator<Item = u64>,
        generation: u64,
    ) -> Oracle {
        let pages: Vec<History> = fingerprints
            .into_iter()
            .map(|f| History::one(f, 0))
            .collect();
        let mut header_page = Vec::with_capacity(512);
        header_page.extend(pages.first().and_then(|h| h.first).map(|e| e.0));
        Oracle {
            pages,
            header_page,
            header_page_sorted: true,
            later: Vec::with_capacity(256),
            lens: vec![(len, 0)],
            generations: {
                let mut g = Vec::with_capacity(512);
                g.push(generation);
                g
            },
            by_bytes: false,
        }
    }

    /// An oracle that knows `image` as the state of `generation`, its pages
    /// known by their bytes ([`page_fingerprint`]): for files on disk.
    pub(crate) fn by_bytes(image: &Content, generation: u64) -> Oracle {
        let mut o = Oracle::from_fingerprints(
            image.len_bytes(),
            (0..image.page_count()).map(|p| fingerprint_of(image, p)),
            generation,
        );
        o.by_bytes = true;
        o
    }

    /// A digest of the states it knows, for the explorer's fingerprint:
    /// their generations and lengths (with a scripted night's requests the
    /// states follow from the commits made).
    pub(crate) fn digest(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        self.generations.hash(h);
        self.lens.hash(h);
    }

    /// Whether pages are known by their bytes (see [`Oracle::by_bytes`]).
    pub(crate) fn knows_bytes(&self) -> bool {
        self.by_bytes
    }

    /// Page `p` of `c` as an oracle knows pages: by their bytes, or by
    /// their stamps.
    fn id_of(by_bytes: bool, c: &Content, p: usize) -> u64 {
        if by_bytes {
            fingerprint_of(c, p)
        } else {
            c.page_stamp(p).expect("in range")
        }
    }

    /// An oracle that knows `image` (by its page stamps) as the state of `generation`.
    pub(crate) fn new(image: &Content, generation: u64, _at: SimTime) -> Oracle {
        Oracle::from_fingerprints(
            image.len_bytes(),
            (0..image.page_count()).map(|i| image.page_stamp(i).expect("in range")),
            generation,
        )
    }

    /// Records the state after a commit: the file's length and the
    /// fingerprints of the pages the commit may have changed.
    pub(crate) fn commit_pages(
        &mut self,
        generation: u64,
        len: u64,
        changed: impl IntoIterator<Item = (usize, u64)>,
    ) {
        let state = self.generations.len() as u64;
        self.generations.push(generation);
        for (p, fp) in changed {
            if p >= self.pages.len() {
                self.pages.resize_with(p + 1, History::default);
            }
            if self.last_of(&self.pages[p]).map(|e| e.0) != Some(fp) {
                self.push(p, (fp, state));
            }
        }
        if self.lens.last().map(|e| e.0) != Some(len) {
            self.lens.push((len, state));
        }
    }

    /// Records a state in which any page may have changed (after a crash,
    /// or a recovery): every page of `image`, by stamp.
    pub(crate) fn commit_all(&mut self, image: &Content, generation: u64) {
        let by_bytes = self.by_bytes;
        let ids = (0..image.page_count()).map(|p| (p, Self::id_of(by_bytes, image, p)));
        self.commit_pages(generation, image.len_bytes(), ids);
    }

    /// Records the state after a commit that wrote `touched` byte ranges of
    /// `image` (by page stamps).
    pub(crate) fn commit(
        &mut self,
        image: &Content,
        generation: u64,
        _at: SimTime,
        touched: &[Range<u64>],
    ) {
        let by_bytes = self.by_bytes;
        let ids = touched_pages(touched, image.page_count())
            .map(|p| (p, Self::id_of(by_bytes, image, p)));
        self.commit_pages(generation, image.len_bytes(), ids);
    }

    /// The generation of the state a copy of `len` bytes with page
    /// `fingerprints` equals, or `None` for a torn copy.
    pub(crate) fn judge_fingerprints(
        &self,
        len: u64,
        fingerprints: impl IntoIterator<Item = u64>,
    ) -> Option<u64> {
        // A length can recur (after a compaction); each interval it held counts.
        let candidates: Vec<Range<u64>> = self
            .lens
            .iter()
            .enumerate()
            .filter(|(_, e)| e.0 == len)
            .map(|(j, e)| e.1..self.lens.get(j + 1).map_or(u64::MAX, |n| n.1))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (mut lo, mut hi) = (0u64, u64::MAX);
        for (p, fp) in fingerprints.into_iter().enumerate() {
            let r = self.interval(self.pages.get(p)?, fp)?;
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
            .and_then(|(a, _)| self.generations.get(a as usize).copied())
    }

    /// The generation of the state `copy` equals (by page stamps), or `None`.
    pub(crate) fn judge(&self, copy: &Content) -> Option<u64> {
        self.judge_fingerprints(
            copy.len_bytes(),
            (0..copy.page_count()).map(|p| Self::id_of(self.by_bytes, copy, p)),
        )
    }

    /// Whether page 0 of a copy has a fingerprint Mail Data's header page once had.
    pub(crate) fn recognizes_fingerprint(&self, first_page: u64) -> bool {
        if self.header_page_sorted {
            self.header_page.binary_search(&first_page).is_ok()
        } else {
            self.header_page.contains(&first_page)
        }
    }

    /// Whether `copy` starts with a header page Mail Data once had.
    pub(crate) fn recognizes(&self, copy: &Content) -> bool {
        copy.page_count() > 0 && self.recognizes_fingerprint(Self::id_of(self.by_bytes, copy, 0))
    }
}

/// [`page_fingerprint`] of page `p` of `c` (its bytes, the last page
/// zero-padded).
fn fingerprint_of(c: &Content, p: usize) -> u64 {
    let start = (p * PAGE_BYTES) as u64;
    let len = c.len_bytes().saturating_sub(start).min(PAGE_BYTES as u64) as usize;
    let mut buf = [0u8; PAGE_BYTES];
    let read = crate::datafile::ReadAt::read_at(c, start, &mut buf[..len]);
    debug_assert!(read, "page {p} is inside the contents");
    page_fingerprint(&buf[..len])
}

/// Page indices covered by byte ranges, below `page_count`.
pub(crate) fn touched_pages(
    touched: &[Range<u64>],
    page_count: usize,
) -> impl Iterator<Item = usize> + '_ {
    touched
        .iter()
        .filter(|r| !r.is_empty())
        .flat_map(move |r| {
            let first = (r.start / PAGE_BYTES as u64) as usize;
            let last = ((r.end - 1) / PAGE_BYTES as u64) as usize;
            first..=last.min(page_count.saturating_sub(1))
        })
        .filter(move |&p| p < page_count)
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

    #[test]
    fn a_page_that_returns_to_old_bytes_is_judged_by_its_last_stretch() {
        let (a, b, c, x, y) = (0xa, 0xb, 0xc, 0x1, 0x2);
        let len = 2 * PAGE_BYTES as u64;
        let mut o = Oracle::from_fingerprints(len, [a, x], 100);
        o.commit_pages(101, len, [(0, b)]);
        o.commit_pages(102, len, [(0, a), (1, y)]);
        o.commit_pages(103, len, [(0, c)]);
        // Page 0 held `a` in states 0 and 2; page 1 held `x` until state 2.
        assert_eq!(o.judge_fingerprints(len, [a, y]), Some(102));
        assert_eq!(o.judge_fingerprints(len, [b, x]), Some(101));
        assert_eq!(o.judge_fingerprints(len, [c, y]), Some(103));
        assert_eq!(o.judge_fingerprints(len, [c, x]), None);
        assert_eq!(o.judge_fingerprints(len, [0xd, y]), None);
        assert_eq!(o.judge_fingerprints(len + 1, [a, y]), None);
        assert!(o.recognizes_fingerprint(b));
        assert!(!o.recognizes_fingerprint(y));
        // Header fingerprints in increasing order (a simulated volume's) are
        // searched in halves, and found alike.
        let mut o = Oracle::from_fingerprints(len, [1, x], 1);
        for (g, fp) in [(2, 3), (3, 5), (4, 8)] {
            o.commit_pages(g, len, [(0, fp)]);
        }
        assert!([1, 3, 5, 8].iter().all(|&fp| o.recognizes_fingerprint(fp)));
        assert!([0, 2, 4, 9].iter().all(|&fp| !o.recognizes_fingerprint(fp)));
    }
}
