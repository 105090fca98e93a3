//! A history read back, and the judge of a copy against it: which
//! generations each of the copy's pages, and its length, equal.
//!
//! A page's version at generation `g` is its digest in the newest record at
//! or before `g` that wrote it (none once the file has shrunk below it). A
//! copy is consistent at `G` when `G` — the newest such — is a generation at
//! which every one of its pages and its length equal the file's; torn when
//! each of them equals some generation but no one generation fits all;
//! unknown when one of them equals none.
//!
//! What does not live here: the bytes of the file (the format) and writing
//! it (the writer).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::format::{self, HEADER_BYTES};
use crate::datafile::{self, PAGE_BYTES};
use crate::error::{Error, Result};

/// What a copy is, judged against a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Verdict {
    /// The copy equals the file as of `generation`: the newest generation
    /// whose pages and length all equal the copy's.
    Consistent {
        /// The generation.
        generation: u64,
        /// When it was committed (for a baseline the writer recorded at
        /// open, when the data file was last modified).
        committed_at: SystemTime,
    },
    /// Every page and the length equal some generation's, but no single
    /// generation's: the copy is a mixture the file never held.
    Torn {
        /// Maximal runs of consecutive pages that equal the same set of
        /// generations, in page order.
        pages: Vec<PageRange>,
        /// The copy's length in bytes.
        len_bytes: u64,
        /// The generations at which the file had that length.
        len_generations: Vec<u64>,
    },
    /// The history cannot tell: the copy is not a copy of this file, or is
    /// older (or newer) than the generations the history holds.
    Unknown {
        /// Which, and what did not match.
        reason: String,
    },
}

/// Consecutive pages `first..=last` of a copy that each equal the file's
/// version of the page at exactly `generations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageRange {
    /// The first page (0 is the file's first 4096 bytes).
    pub first: u64,
    /// The last page, inclusive.
    pub last: u64,
    /// The generations, in increasing order.
    pub generations: Vec<u64>,
}

/// One generation the history holds.
#[derive(Clone, Copy, Debug)]
struct Gen {
    generation: u64,
    committed_at_ms: u64,
    len_bytes: u64,
}

/// The top bit of [`Entry::at`]: the page left the file at that generation.
const ABSENT: u32 = 1 << 31;

/// A page's version from a generation on.
#[derive(Clone, Copy, Debug)]
struct Entry {
    page: u32,
    /// Index into [`History::gens`], [`ABSENT`] set when the file shrank
    /// below the page there.
    at: u32,
    digest: u64,
}

/// Half-open ranges of indices into [`History::gens`], sorted and disjoint.
type Spans = Vec<(u32, u32)>;

/// A history file read into memory, to judge copies with. Its memory is
/// about that of the file (16 bytes for each page version).
#[derive(Clone, Debug)]
pub struct History {
    gens: Vec<Gen>,
    /// Sorted by page, then by generation.
    entries: Vec<Entry>,
    /// Most pages the file ever had.
    max_pages: u64,
    limit_bytes: u64,
    torn_tail_bytes: u64,
}

impl History {
    /// Reads the history at `path` (a regular file; a FIFO is refused
    /// without blocking). A file larger than twice the limit its header
    /// records is refused without being read past its header; a torn last
    /// record (a writer mid-append, or a crash) is ignored.
    pub fn read(path: &Path) -> Result<History> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = open_regular(path).map_err(|e| match e {
            Opened::Io(source) => io_err(source),
            Opened::Not(reason) => not_a_history(path, reason),
        })?;
        let size = file.metadata().map_err(io_err)?.len();
        let mut bytes = Vec::new();
        (&file)
            .take(HEADER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        let limit = format::decode_header(&bytes).map_err(|r| not_a_history(path, r))?;
        let bound = limit.saturating_mul(2).max(HEADER_BYTES);
        if size > bound {
            return Err(Error::History {
                path: path.to_path_buf(),
                reason: format!(
                    "{size} bytes, over twice the limit of {limit} bytes its header records"
                ),
            });
        }
        (&file)
            .take(bound + 1 - HEADER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > bound {
            return Err(Error::History {
                path: path.to_path_buf(),
                reason: format!("grew past {bound} bytes while being read"),
            });
        }
        History::parse(&bytes).map_err(|r| not_a_history(path, r))
    }

    /// A history from its bytes (what [`History::read`] reads), or
    /// [`Error::NotAHistory`] naming `(bytes)` as the path.
    pub fn from_bytes(bytes: &[u8]) -> Result<History> {
        History::parse(bytes).map_err(|r| not_a_history(Path::new("(bytes)"), r))
    }

    pub(super) fn parse(bytes: &[u8]) -> Result<History, String> {
        let recs = format::parse(bytes)?;
        History::from_records(&recs)
    }

    pub(super) fn from_records(recs: &format::Records<'_>) -> Result<History, String> {
        let mut gens = Vec::with_capacity(recs.records.len());
        let mut entries = Vec::new();
        let mut pages_now = 0u64;
        let mut max_pages = 0u64;
        for (i, r) in recs.records.iter().enumerate() {
            let at = u32::try_from(i)
                .ok()
                .filter(|&a| a < ABSENT)
                .ok_or("too many generations")?;
            gens.push(Gen {
                generation: r.head.generation,
                committed_at_ms: r.head.committed_at_ms,
                len_bytes: r.head.len_bytes,
            });
            // The format checked that every page fits in u32.
            entries.extend(r.pages().map(|(page, digest)| Entry {
                page: page as u32,
                at,
                digest,
            }));
            let pages = r.head.len_bytes.div_ceil(PAGE_BYTES);
            entries.extend((pages..pages_now).map(|page| Entry {
                page: page as u32,
                at: at | ABSENT,
                digest: 0,
            }));
            pages_now = pages;
            max_pages = max_pages.max(pages);
        }
        // Stable: each page's entries stay in generation order.
        entries.sort_by_key(|e| e.page);
        Ok(History {
            gens,
            entries,
            max_pages,
            limit_bytes: recs.limit_bytes,
            torn_tail_bytes: recs.total_bytes - recs.good_bytes,
        })
    }

    /// The generations the history holds, oldest first.
    pub fn generations(&self) -> impl Iterator<Item = u64> + '_ {
        self.gens.iter().map(|g| g.generation)
    }

    /// The oldest generation it holds.
    pub fn oldest_generation(&self) -> Option<u64> {
        self.gens.first().map(|g| g.generation)
    }

    /// The newest generation it holds.
    pub fn newest_generation(&self) -> Option<u64> {
        self.gens.last().map(|g| g.generation)
    }

    /// The limit its writer keeps it under, in bytes.
    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    /// Bytes past its last good record (a torn append), ignored.
    pub fn torn_tail_bytes(&self) -> u64 {
        self.torn_tail_bytes
    }

    /// The file's length at its newest generation.
    pub(super) fn newest_len(&self) -> Option<u64> {
        self.gens.last().map(|g| g.len_bytes)
    }

    /// Every page's digest at generation index `at`, in page order: `None`
    /// for a page the history holds no version of there.
    pub(super) fn state_at(&self, at: usize) -> impl Iterator<Item = Option<u64>> + '_ {
        let pages = self.gens[at].len_bytes.div_ceil(PAGE_BYTES);
        (0..pages).map(move |p| self.version_at(p, at as u32))
    }

    fn page_entries(&self, page: u64) -> &[Entry] {
        let lo = self.entries.partition_point(|e| u64::from(e.page) < page);
        let hi = self.entries.partition_point(|e| u64::from(e.page) <= page);
        &self.entries[lo..hi]
    }

    fn version_at(&self, page: u64, at: u32) -> Option<u64> {
        let es = self.page_entries(page);
        let n = es.partition_point(|e| e.at & !ABSENT <= at);
        es[..n]
            .last()
            .filter(|e| e.at & ABSENT == 0)
            .map(|e| e.digest)
    }

    /// The generations (as index spans) at which `page` had `digest`.
    fn spans_of(&self, page: u64, digest: u64) -> Spans {
        let es = self.page_entries(page);
        let mut spans: Spans = Vec::new();
        for (i, e) in es.iter().enumerate() {
            if e.at & ABSENT != 0 || e.digest != digest {
                continue;
            }
            let end = es
                .get(i + 1)
                .map_or(self.gens.len() as u32, |n| n.at & !ABSENT);
            push_span(&mut spans, (e.at, end));
        }
        spans
    }

    fn generations_of(&self, spans: &Spans) -> Vec<u64> {
        spans
            .iter()
            .flat_map(|&(a, b)| (a..b).map(|i| self.gens[i as usize].generation))
            .collect()
    }

    /// Judges the copy `copy` reads, page by page: memory is bounded by
    /// the history and the copy's runs of pages (consecutive pages with
    /// the same generations are one run). A copy whose first page is no
    /// version of the file's is `Unknown`; a later page that is no version
    /// (read while being written, or cut short at the copy's end) is a run
    /// with no generation in a `Torn` verdict, as a length that is the
    /// file's at no generation is. Errors are the copy's read errors.
    pub fn judge(&self, copy: &mut impl Read) -> io::Result<Verdict> {
        let Some(oldest) = self.gens.first() else {
            return Ok(unknown("the history holds no generation".into()));
        };
        let mut page = vec![0u8; PAGE_BYTES as usize];
        let mut first_page: Option<Vec<u8>> = None;
        let mut runs: Vec<(u64, u64, Spans)> = Vec::new();
        let mut all = vec![(0u32, self.gens.len() as u32)];
        let mut len_bytes = 0u64;
        for p in 0u64.. {
            let n = read_full(copy, &mut page)?;
            if n == 0 {
                break;
            }
            len_bytes += n as u64;
            page[n..].fill(0);
            if p == 0 {
                first_page = Some(page[..n].to_vec());
            }
            let spans = if p < self.max_pages {
                self.spans_of(p, format::page_digest(&page))
            } else {
                Vec::new()
            };
            // A copy whose header page is no version of this file's is not
            // a copy of it. A later page that is no version of its own (a
            // page read while it was being written, or the last page of a
            // copy cut short) makes the copy torn: it is listed with no
            // generation.
            if spans.is_empty() && p == 0 {
                return Ok(unknown(self.no_match(p, first_page.as_deref(), oldest)));
            }
            all = intersect(&all, &spans);
            match runs.last_mut() {
                Some(run) if run.2 == spans => run.1 = p,
                _ => runs.push((p, p, spans)),
            }
            if n < page.len() {
                break;
            }
        }
        let mut lens: Spans = Vec::new();
        for (i, g) in self.gens.iter().enumerate() {
            if g.len_bytes == len_bytes {
                push_span(&mut lens, (i as u32, i as u32 + 1));
            }
        }
        if lens.is_empty() && runs.is_empty() {
            return Ok(unknown(format!(
                "its length, {len_bytes} bytes, is the file's at no generation the history \
                 holds (generations {} to {})",
                oldest.generation,
                self.gens[self.gens.len() - 1].generation
            )));
        }
        all = intersect(&all, &lens);
        if let Some(&(_, end)) = all.last() {
            let g = self.gens[end as usize - 1];
            return Ok(Verdict::Consistent {
                generation: g.generation,
                committed_at: UNIX_EPOCH + Duration::from_millis(g.committed_at_ms),
            });
        }
        Ok(Verdict::Torn {
            pages: runs
                .iter()
                .map(|(first, last, spans)| PageRange {
                    first: *first,
                    last: *last,
                    generations: self.generations_of(spans),
                })
                .collect(),
            len_bytes,
            len_generations: self.generations_of(&lens),
        })
    }

    /// Why page `p` of a copy matches nothing: the copy's own header says
    /// which generation it claims, when it has one.
    fn no_match(&self, p: u64, first_page: Option<&[u8]>, oldest: &Gen) -> String {
        let newest = self.gens[self.gens.len() - 1].generation;
        let claimed = first_page.and_then(|b| datafile::read_header(b).ok());
        match claimed {
            Some(h) if h.generation < oldest.generation => format!(
                "older than the history: the copy's header says generation {}, the history \
                 holds generations {} to {newest}",
                h.generation, oldest.generation
            ),
            Some(h) if h.generation > newest => format!(
                "newer than the history: the copy's header says generation {}, the history \
                 holds generations {} to {newest}",
                h.generation, oldest.generation
            ),
            _ => format!(
                "not a copy of this file: page {p} equals no version of it in generations {} \
                 to {newest}",
                oldest.generation
            ),
        }
    }
}

fn unknown(reason: String) -> Verdict {
    Verdict::Unknown { reason }
}

fn push_span(spans: &mut Spans, (a, b): (u32, u32)) {
    match spans.last_mut() {
        Some(last) if last.1 == a => last.1 = b,
        _ => spans.push((a, b)),
    }
}

fn intersect(x: &Spans, y: &Spans) -> Spans {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < x.len() && j < y.len() {
        let a = x[i].0.max(y[j].0);
        let b = x[i].1.min(y[j].1);
        if a < b {
            out.push((a, b));
        }
        if x[i].1 < y[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// Fills `buf` from `r` as far as it goes: fewer bytes only at the end.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) fn not_a_history(path: &Path, reason: String) -> Error {
    Error::NotAHistory {
        path: path.to_path_buf(),
        reason,
    }
}

/// Why a path could not be opened as a regular file.
pub(super) enum Opened {
    Io(io::Error),
    Not(String),
}

/// Opens `path` for reading if it is a regular file; never blocks on a
/// FIFO (non-blocking open, type checked on what was opened).
pub(super) fn open_regular(path: &Path) -> Result<File, Opened> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC);
    }
    let meta = std::fs::metadata(path).map_err(Opened::Io)?;
    if !meta.is_file() {
        return Err(Opened::Not(format!(
            "not a regular file ({})",
            kind_of(&meta)
        )));
    }
    let file = opts.open(path).map_err(Opened::Io)?;
    let meta = file.metadata().map_err(Opened::Io)?;
    if !meta.is_file() {
        return Err(Opened::Not(format!(
            "not a regular file ({})",
            kind_of(&meta)
        )));
    }
    Ok(file)
}

pub(super) fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "not a regular file"
    }
}

/// Judges the copy at `copy` against the history at `history`. A copy that
/// is not a regular file is [`Error::Io`] with kind `InvalidInput`.
pub fn judge(history: &Path, copy: &Path) -> Result<Verdict> {
    let h = History::read(history)?;
    let io_err = |source| Error::Io {
        path: PathBuf::from(copy),
        source,
    };
    let mut file = open_regular(copy).map_err(|e| match e {
        Opened::Io(source) => io_err(source),
        Opened::Not(reason) => io_err(io::Error::new(io::ErrorKind::InvalidInput, reason)),
    })?;
    h.judge(&mut file).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::format::{RecordHead, encode_header, encode_record};
    use super::*;

    const P: usize = PAGE_BYTES as usize;

    fn page(b: u8) -> Vec<u8> {
        vec![b; P]
    }

    /// Generation 1: pages a b c; 2 writes page 1 = d; 3 writes page 2 = e
    /// and page 0 = f; 4 shrinks to two pages, page 0 = g.
    fn sample() -> History {
        let d = |b| format::page_digest(&page(b));
        let mut h = encode_header(1 << 20).to_vec();
        let head = |g, len, baseline| RecordHead {
            baseline,
            generation: g,
            committed_at_ms: 1000 * g,
            len_bytes: len,
        };
        let l3 = 3 * PAGE_BYTES;
        encode_record(
            &mut h,
            head(1, l3, true),
            [(0, d(b'a')), (1, d(b'b')), (2, d(b'c'))],
        );
        encode_record(&mut h, head(2, l3, false), [(1, d(b'd'))]);
        encode_record(&mut h, head(3, l3, false), [(2, d(b'e')), (0, d(b'f'))]);
        encode_record(&mut h, head(4, 2 * PAGE_BYTES, false), [(0, d(b'g'))]);
        History::from_bytes(&h).unwrap()
    }

    fn judge_pages(h: &History, pages: &[u8]) -> Verdict {
        let bytes: Vec<u8> = pages.iter().flat_map(|&b| page(b)).collect();
        h.judge(&mut &bytes[..]).unwrap()
    }

    #[test]
    fn a_copy_of_a_state_is_consistent_at_the_newest_generation_that_fits() {
        let h = sample();
        let at = |g: u64| UNIX_EPOCH + Duration::from_millis(1000 * g);
        for (pages, g) in [(&b"abc"[..], 1), (b"adc", 2), (b"fde", 3), (b"gd", 4)] {
            assert_eq!(
                judge_pages(&h, pages),
                Verdict::Consistent {
                    generation: g,
                    committed_at: at(g)
                },
                "{pages:?}"
            );
        }
        assert_eq!(h.generations().collect::<Vec<_>>(), [1, 2, 3, 4]);
    }

    #[test]
    fn a_mixture_is_torn_with_exact_runs() {
        let h = sample();
        // Page 0 of generation 3, page 1 of 2-4, page 2 of 1.
        assert_eq!(
            judge_pages(&h, b"fdc"),
            Verdict::Torn {
                pages: vec![
                    PageRange {
                        first: 0,
                        last: 0,
                        generations: vec![3]
                    },
                    PageRange {
                        first: 1,
                        last: 1,
                        generations: vec![2, 3, 4]
                    },
                    PageRange {
                        first: 2,
                        last: 2,
                        generations: vec![1, 2]
                    },
                ],
                len_bytes: 3 * PAGE_BYTES,
                len_generations: vec![1, 2, 3],
            }
        );
        // The right pages, the wrong length: generation 4's two pages with
        // a third of generation 3 is torn in its length.
        let v = judge_pages(&h, b"gde");
        let Verdict::Torn {
            len_generations, ..
        } = v
        else {
            panic!("{v:?}")
        };
        assert_eq!(len_generations, [1, 2, 3]);
    }

    #[test]
    fn what_the_history_cannot_place_is_unknown() {
        let h = sample();
        for (pages, why) in [
            (&b"zbc"[..], "page 0 equals no version"),
            (b"", "its length, 0 bytes"),
        ] {
            let Verdict::Unknown { reason } = judge_pages(&h, pages) else {
                panic!("{pages:?}")
            };
            assert!(reason.contains(why), "{reason}");
        }
        // A later page that is no version: torn, that page placed nowhere.
        for (pages, at) in [(&b"abz"[..], 2), (b"gdez", 3)] {
            let Verdict::Torn { pages: runs, .. } = judge_pages(&h, pages) else {
                panic!("{pages:?}")
            };
            let last = runs.last().unwrap();
            assert_eq!((last.first, last.last), (at, at), "{runs:?}");
            assert!(last.generations.is_empty(), "{runs:?}");
        }
        let mut half = page(b'g');
        half.truncate(100);
        let v = h.judge(&mut &half[..]).unwrap();
        assert!(matches!(v, Verdict::Unknown { .. }), "{v:?}");
        // A data file whose header says it is older than the history.
        let old = datafile::build_image(0, []);
        let Verdict::Unknown { reason } = h.judge(&mut &old[..]).unwrap() else {
            panic!()
        };
        assert!(reason.starts_with("older than the history: the copy's header says generation 0, the history holds generations 1 to 4"), "{reason}");
    }

    #[test]
    fn garbage_is_no_history_and_never_a_panic() {
        for b in [&b""[..], b"MSHIST\r\n", &[0xff; 100]] {
            assert!(matches!(
                History::from_bytes(b),
                Err(Error::NotAHistory { .. })
            ));
        }
        let empty = History::from_bytes(&encode_header(4096)).unwrap();
        assert!(matches!(
            empty.judge(&mut &b"x"[..]).unwrap(),
            Verdict::Unknown { .. }
        ));
    }
}
