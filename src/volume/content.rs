//! [`Content`]: an immutable file image made of shared pages.
//!
//! A simulated night copies tens of megabytes (the backup archives whole
//! volumes, MS Mail Backup copies Mail Data aside), so contents are pages
//! behind reference counts: copying a file copies pointers, and writing to a
//! shared page copies that one page first. Every page carries a *stamp*, an
//! identifier of its bytes that changes whenever a write changes them; the
//! consistency oracle compares stamps instead of hashing pages.

use std::fmt;
use std::sync::Arc;

use crate::datafile::ReadAt;

/// Bytes per content page: the data file's page
/// ([`datafile::PAGE_BYTES`](crate::datafile::PAGE_BYTES)), the one page
/// size of the crate, as a `usize` for the page arithmetic of contents.
pub const PAGE_BYTES: usize = crate::datafile::PAGE_BYTES as usize;

/// One page of a file. Equal stamps mean equal bytes.
pub(crate) struct Page {
    pub(crate) stamp: u64,
    /// [`PAGE_BYTES`] long (empty only while the page is dropped). Boxed,
    /// so that an `Arc` of a page moves a pointer, not four kilobytes; the
    /// boxes are recycled through a per-thread pool (see [`PagePool`]).
    bytes: Box<[u8]>,
}

/// Buffers of pages dropped on this thread, for the next pages made here:
/// a night makes and drops a few hundred pages (appends, and copies of
/// pages shared with the archive), and four-kilobyte blocks are past the
/// allocator's fast per-thread caches.
struct PagePool;

impl PagePool {
    /// Buffers kept at most per thread (1 MiB).
    const MAX: usize = 256;

    thread_local! {
        static FREE: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// A page-sized buffer, contents unspecified.
    fn take() -> Option<Box<[u8]>> {
        Self::FREE.try_with(|f| f.borrow_mut().pop()).ok().flatten()
    }

    fn zeroed() -> Box<[u8]> {
        match Self::take() {
            Some(mut b) => {
                b.fill(0);
                b
            }
            None => vec![0; PAGE_BYTES].into_boxed_slice(),
        }
    }

    fn copy_of(bytes: &[u8]) -> Box<[u8]> {
        match Self::take() {
            Some(mut b) => {
                b.copy_from_slice(bytes);
                b
            }
            None => bytes.into(),
        }
    }

    fn give(b: Box<[u8]>) {
        if b.len() == PAGE_BYTES {
            // During the thread's teardown the pool may be gone: then the
            // buffer is simply freed.
            let _ = Self::FREE.try_with(|f| {
                let mut f = f.borrow_mut();
                if f.len() < Self::MAX {
                    f.push(b);
                }
            });
        }
    }
}

impl Page {
    /// A new page whose bytes outside `keep` are zeros and inside are
    /// unspecified (for the caller to fill).
    fn fresh(stamp: u64, keep: std::ops::Range<usize>) -> Arc<Page> {
        let bytes = match PagePool::take() {
            Some(mut b) => {
                b[..keep.start].fill(0);
                b[keep.end.max(keep.start)..].fill(0);
                b
            }
            None => vec![0; PAGE_BYTES].into_boxed_slice(),
        };
        Arc::new(Page { stamp, bytes })
    }

    fn zeroed(stamp: u64) -> Arc<Page> {
        Arc::new(Page {
            stamp,
            bytes: PagePool::zeroed(),
        })
    }

    /// The page's bytes.
    pub(crate) fn bytes(&self) -> &[u8; PAGE_BYTES] {
        (*self.bytes)
            .try_into()
            .expect("a live page is PAGE_BYTES long")
    }

    fn bytes_mut(&mut self) -> &mut [u8; PAGE_BYTES] {
        (&mut *self.bytes)
            .try_into()
            .expect("a live page is PAGE_BYTES long")
    }
}

impl Clone for Page {
    fn clone(&self) -> Page {
        Page {
            stamp: self.stamp,
            bytes: PagePool::copy_of(&self.bytes),
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        PagePool::give(std::mem::take(&mut self.bytes));
    }
}

#[derive(Clone, Default)]
struct Inner {
    len: u64,
    pages: PageTable,
}

/// Pages per chunk of a [`PageTable`].
const CHUNK_PAGES: usize = 16;

/// A file's pages in shared chunks of [`CHUNK_PAGES`]: copying the table
/// copies one pointer per chunk, and a write to a shared table copies the
/// one chunk it lands in (16 pointers), not a pointer per page of the file.
/// Small chunks, because a night changes pages all over its data file (a
/// message marked read anywhere) and each first change copies a chunk.
#[derive(Clone, Default)]
struct PageTable {
    chunks: Vec<Arc<Vec<Arc<Page>>>>,
    len: usize,
}

impl PageTable {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, i: usize) -> Option<&Arc<Page>> {
        (i < self.len).then(|| &self.chunks[i / CHUNK_PAGES][i % CHUNK_PAGES])
    }

    /// Page `i` to change (its chunk copied first if shared).
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    fn page_mut(&mut self, i: usize) -> &mut Arc<Page> {
        assert!(i < self.len, "page {i} of {}", self.len);
        &mut Arc::make_mut(&mut self.chunks[i / CHUNK_PAGES])[i % CHUNK_PAGES]
    }

    fn push(&mut self, page: Arc<Page>) {
        if self.len.is_multiple_of(CHUNK_PAGES) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK_PAGES)));
        }
        let last = self.chunks.last_mut().expect("a chunk with room");
        Arc::make_mut(last).push(page);
        self.len += 1;
    }

    fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        self.chunks.truncate(n.div_ceil(CHUNK_PAGES));
        if !n.is_multiple_of(CHUNK_PAGES) {
            let last = self.chunks.last_mut().expect("a partial chunk");
            Arc::make_mut(last).truncate(n % CHUNK_PAGES);
        }
        self.len = n;
    }

    fn resize_with(&mut self, n: usize, mut page: impl FnMut() -> Arc<Page>) {
        self.truncate(n);
        while self.len < n {
            self.push(page());
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<Page>> {
        self.chunks.iter().flat_map(|c| c.iter())
    }
}

impl std::ops::Index<usize> for PageTable {
    type Output = Arc<Page>;

    fn index(&self, i: usize) -> &Arc<Page> {
        self.get(i)
            .unwrap_or_else(|| panic!("page {i} of {}", self.len))
    }
}

impl FromIterator<Arc<Page>> for PageTable {
    fn from_iter<I: IntoIterator<Item = Arc<Page>>>(pages: I) -> PageTable {
        let mut t = PageTable::default();
        for p in pages {
            t.push(p);
        }
        t
    }
}

/// An immutable image of a file's bytes, cheap to clone and share.
#[derive(Clone, Default)]
pub struct Content {
    inner: Arc<Inner>,
}

/// Hands out page stamps: each volume has its own tag, so stamps of
/// different volumes never collide.
#[derive(Clone, Debug)]
pub(crate) struct Stamper {
    tag: u64,
    next: u64,
}

impl Stamper {
    pub(crate) fn new() -> Stamper {
        use std::sync::atomic::{AtomicU64, Ordering};
        // Tag 0 is reserved for all-zero pages.
        static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
        Stamper {
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed) << 32,
            next: 0,
        }
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.next = (self.next + 1) & 0xffff_ffff;
        self.tag | self.next
    }
}

impl Content {
    /// Empty contents.
    pub fn new() -> Content {
        Content::default()
    }

    /// Contents holding a copy of `bytes` (fresh stamps from a private tag).
    pub fn from_bytes(bytes: &[u8]) -> Content {
        let mut c = Content::new();
        let mut stamper = Stamper::new();
        c.write_at(0, bytes, &mut stamper);
        c
    }

    /// Contents of `len_bytes` built by repeating `pattern_pages` (shared,
    /// not copied): how the preset's large static files are made once.
    pub(crate) fn from_pattern(
        len_bytes: u64,
        pattern_pages: &[Arc<Page>],
        start: usize,
    ) -> Content {
        let n = len_bytes.div_ceil(PAGE_BYTES as u64) as usize;
        let pages = (0..n)
            .map(|i| Arc::clone(&pattern_pages[(start + i) % pattern_pages.len()]))
            .collect();
        Content {
            inner: Arc::new(Inner {
                len: len_bytes,
                pages,
            }),
        }
    }

    /// Pages of fresh bytes for [`Content::from_pattern`].
    pub(crate) fn pattern_pages(count: usize, seed: u8) -> Vec<Arc<Page>> {
        let mut stamper = Stamper::new();
        (0..count)
            .map(|i| {
                let mut bytes = vec![0u8; PAGE_BYTES].into_boxed_slice();
                for (j, b) in bytes.iter_mut().enumerate() {
                    *b = (j as u8)
                        .wrapping_mul(31)
                        .wrapping_add(seed)
                        .wrapping_add(i as u8);
                }
                Arc::new(Page {
                    stamp: stamper.next(),
                    bytes,
                })
            })
            .collect()
    }

    /// Length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.inner.len
    }

    /// Whether the contents are empty.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Whether two contents share the same image (a clone of one another, with
    /// no write in between).
    pub fn ptr_eq(&self, other: &Content) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.inner.pages.len()
    }

    /// Stamp of page `index` (the oracle's fingerprint of its bytes).
    pub fn page_stamp(&self, index: usize) -> Option<u64> {
        self.inner.pages.get(index).map(|p| p.stamp)
    }

    /// The bytes of page `index` that lie inside the contents.
    pub fn page_bytes(&self, index: usize) -> Option<&[u8]> {
        let p = self.inner.pages.get(index)?;
        let start = (index * PAGE_BYTES) as u64;
        let n = (self.inner.len - start).min(PAGE_BYTES as u64) as usize;
        Some(&p.bytes()[..n])
    }

    /// All bytes, copied into one buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.inner.len as usize);
        let mut left = self.inner.len as usize;
        for p in self.inner.pages.iter() {
            let take = left.min(PAGE_BYTES);
            out.extend_from_slice(&p.bytes()[..take]);
            left -= take;
        }
        out
    }

    /// Writes `data` at `offset`, growing the contents as needed. Pages that
    /// the write leaves unchanged keep their stamps; changed pages get fresh
    /// ones, and a page shared with another copy is copied first.
    pub(crate) fn write_at(&mut self, offset: u64, data: &[u8], stamper: &mut Stamper) {
        if data.is_empty() {
            return;
        }
        let old_len = self.inner.len;
        let end = offset + data.len() as u64;
        let inner = Arc::make_mut(&mut self.inner);
        // Pages the write adds are made here, zeroed only where the write
        // does not cover them (bytes past the end read as zeros).
        let old_pages = inner.pages.len();
        if end > old_len {
            let pages = end.div_ceil(PAGE_BYTES as u64) as usize;
            for i in old_pages..pages {
                let start = (i * PAGE_BYTES) as u64;
                let span = |x: u64| (x.clamp(start, start + PAGE_BYTES as u64) - start) as usize;
                inner
                    .pages
                    .push(Page::fresh(stamper.next(), span(offset)..span(end)));
            }
            inner.len = end;
        }
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let page = (pos / PAGE_BYTES as u64) as usize;
            let at = (pos % PAGE_BYTES as u64) as usize;
            let take = rest.len().min(PAGE_BYTES - at);
            let (now, later) = rest.split_at(take);
            if page >= old_pages {
                // A page just made (its own, freshly stamped): fill it.
                let p = Arc::get_mut(inner.pages.page_mut(page)).expect("a page just made");
                p.bytes_mut()[at..at + take].copy_from_slice(now);
            } else {
                // A page's stamp changes only when its bytes do. Past the
                // old end the file held zeros, so there the question is
                // whether `now` has a nonzero byte.
                let below = (old_len.saturating_sub(pos) as usize).min(take);
                let changed = inner.pages[page].bytes()[at..at + below] != now[..below]
                    || now[below..].iter().any(|&b| b != 0);
                if changed {
                    let p = Arc::make_mut(inner.pages.page_mut(page));
                    p.bytes_mut()[at..at + take].copy_from_slice(now);
                    p.stamp = stamper.next();
                }
            }
            pos += take as u64;
            rest = later;
        }
    }

    /// Truncates or extends (with zeros) to `len_bytes`.
    pub(crate) fn set_len(&mut self, len_bytes: u64, stamper: &mut Stamper) {
        let old = self.inner.len;
        if len_bytes == old {
            return;
        }
        let inner = Arc::make_mut(&mut self.inner);
        let pages = len_bytes.div_ceil(PAGE_BYTES as u64) as usize;
        if len_bytes < old {
            inner.pages.truncate(pages);
            // Bytes past the new end read as zero if the file grows again.
            let tail = (len_bytes % PAGE_BYTES as u64) as usize;
            if tail != 0 {
                let last = inner.pages.page_mut(pages - 1);
                if last.bytes()[tail..].iter().any(|&b| b != 0) {
                    let p = Arc::make_mut(last);
                    p.bytes_mut()[tail..].fill(0);
                    p.stamp = stamper.next();
                }
            }
        } else {
            while inner.pages.len() < pages {
                inner.pages.push(Page::zeroed(stamper.next()));
            }
        }
        inner.len = len_bytes;
    }

    /// A new image holding pages `[from, to)` of `src` and the rest of
    /// `base` (tests build torn copies with it).
    #[cfg(test)]
    pub(crate) fn splice(
        base: &Content,
        from_page: usize,
        to_page: usize,
        src: &Content,
    ) -> Content {
        let mut out = base.clone();
        let inner = Arc::make_mut(&mut out.inner);
        let to_page = to_page.min(src.inner.pages.len());
        if inner.pages.len() < to_page {
            inner.pages.resize_with(to_page, || Page::zeroed(0));
        }
        for i in from_page..to_page {
            *inner.pages.page_mut(i) = Arc::clone(&src.inner.pages[i]);
        }
        out
    }

    /// The same image cut (or zero-extended) to `len_bytes`, without new stamps
    /// for untouched pages.
    pub(crate) fn with_len(&self, len_bytes: u64) -> Content {
        if len_bytes == self.inner.len {
            return self.clone();
        }
        let mut out = self.clone();
        let inner = Arc::make_mut(&mut out.inner);
        let pages = len_bytes.div_ceil(PAGE_BYTES as u64) as usize;
        inner.pages.resize_with(pages, || Page::zeroed(0));
        inner.len = len_bytes;
        out
    }
}

impl ReadAt for Content {
    fn len_bytes(&self) -> u64 {
        self.inner.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(end) = offset.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.inner.len {
            return false;
        }
        let mut pos = offset;
        let mut filled = 0;
        while filled < buf.len() {
            let page = (pos / PAGE_BYTES as u64) as usize;
            let at = (pos % PAGE_BYTES as u64) as usize;
            let take = (buf.len() - filled).min(PAGE_BYTES - at);
            buf[filled..filled + take]
                .copy_from_slice(&self.inner.pages[page].bytes()[at..at + take]);
            filled += take;
            pos += take as u64;
        }
        true
    }
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Content")
            .field("len_bytes", &self.inner.len)
            .field("pages", &self.inner.pages.len())
            .finish()
    }
}

impl PartialEq for Content {
    /// Byte equality (pages with equal stamps are equal without a compare).
    fn eq(&self, other: &Content) -> bool {
        if self.inner.len != other.inner.len {
            return false;
        }
        self.inner
            .pages
            .iter()
            .zip(other.inner.pages.iter())
            .all(|(a, b)| a.stamp == b.stamp || a.bytes() == b.bytes())
    }
}

impl Eq for Content {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_across_many_chunks_match_a_byte_model_and_snapshots_stay_put() {
        // Writes, truncations and extensions over more pages than one chunk
        // of the page table holds, each checked against a plain vector; a
        // clone taken at every step keeps its bytes.
        let mut s = Stamper::new();
        let mut c = Content::new();
        let mut model: Vec<u8> = Vec::new();
        let mut snapshots = Vec::new();
        let mut x = 12_345u64;
        for step in 0..200u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = (x >> 33) as usize;
            match step % 5 {
                0..=2 => {
                    let at = r % (300 * PAGE_BYTES);
                    let len = 1 + r % (3 * PAGE_BYTES);
                    let data = vec![(step % 251 + 1) as u8; len];
                    c.write_at(at as u64, &data, &mut s);
                    if model.len() < at + len {
                        model.resize(at + len, 0);
                    }
                    model[at..at + len].copy_from_slice(&data);
                }
                3 => {
                    let len = r % (model.len() + 1);
                    c.set_len(len as u64, &mut s);
                    model.truncate(len);
                }
                _ => {
                    let len = model.len() + r % (70 * PAGE_BYTES);
                    c.set_len(len as u64, &mut s);
                    model.resize(len, 0);
                }
            }
            assert_eq!(c.len_bytes(), model.len() as u64, "step {step}");
            assert_eq!(c.page_count(), model.len().div_ceil(PAGE_BYTES));
            snapshots.push((c.clone(), model.clone()));
        }
        assert!(
            c.page_count() > 2 * CHUNK_PAGES
                || snapshots.iter().any(|s| s.0.page_count() > 2 * CHUNK_PAGES)
        );
        for (i, (snap, bytes)) in snapshots.iter().enumerate() {
            assert!(snap.to_vec() == *bytes, "snapshot {i} changed");
        }
    }

    #[test]
    fn write_copies_only_shared_pages_and_restamps_changes() {
        let mut s = Stamper::new();
        let mut a = Content::new();
        a.write_at(0, &[7u8; 3 * PAGE_BYTES], &mut s);
        let snapshot = a.clone();
        let before: Vec<_> = (0..3).map(|i| a.page_stamp(i)).collect();
        a.write_at(PAGE_BYTES as u64 + 10, b"hello", &mut s);
        assert_eq!(a.page_stamp(0), before[0]);
        assert_ne!(a.page_stamp(1), before[1]);
        assert_eq!(a.page_stamp(2), before[2]);
        // The snapshot is untouched.
        assert_eq!(snapshot.to_vec(), vec![7u8; 3 * PAGE_BYTES]);
        let mut buf = [0u8; 5];
        assert!(a.read_at(PAGE_BYTES as u64 + 10, &mut buf));
        assert_eq!(&buf, b"hello");
        // Rewriting the same bytes keeps the stamp.
        let stamp = a.page_stamp(1);
        a.write_at(PAGE_BYTES as u64 + 10, b"hello", &mut s);
        assert_eq!(a.page_stamp(1), stamp);
    }

    #[test]
    fn set_len_truncates_and_zero_extends() {
        let mut s = Stamper::new();
        let mut a = Content::from_bytes(&[1u8; 5000]);
        a.set_len(10, &mut s);
        a.set_len(20, &mut s);
        let v = a.to_vec();
        assert_eq!(&v[..10], &[1u8; 10]);
        assert_eq!(&v[10..], &[0u8; 10]);
        assert!(!a.read_at(15, &mut [0u8; 6]));
    }

    #[test]
    fn splice_mixes_two_images() {
        let old = Content::from_bytes(&[1u8; 3 * PAGE_BYTES]);
        let mut new = old.clone();
        let mut s = Stamper::new();
        new.write_at(0, &[2u8; 3 * PAGE_BYTES], &mut s);
        let mixed = Content::splice(&old, 1, 2, &new);
        let v = mixed.to_vec();
        assert_eq!(v[0], 1);
        assert_eq!(v[PAGE_BYTES], 2);
        assert_eq!(v[2 * PAGE_BYTES], 1);
    }
}

/// Assembles a copy read in chunks, possibly from different images of the
/// file (when the file changed between chunks), without copying bytes: push
/// each [`Chunk`](super::Chunk) as it is read, then [`finish`](CopyBuilder::finish).
#[derive(Debug, Default)]
pub struct CopyBuilder {
    /// (first page, end page, base page of `content`, content)
    segments: Vec<(usize, usize, usize, Content)>,
}

impl CopyBuilder {
    /// Adds a chunk read from the file.
    pub fn push(&mut self, chunk: &super::Chunk) {
        if chunk.len_bytes() == 0 {
            return;
        }
        let (base, content) = chunk.parts();
        let from = (chunk.offset() / PAGE_BYTES as u64) as usize;
        let to = (chunk.offset() + chunk.len_bytes()).div_ceil(PAGE_BYTES as u64) as usize;
        if let Some(last) = self.segments.last_mut()
            && last.3.ptr_eq(content)
            && last.2 == base
            && last.1 >= from
        {
            last.1 = last.1.max(to);
            return;
        }
        self.segments.push((from, to, base, content.clone()));
    }

    /// A digest of what the copy holds so far: the pages it read and their
    /// bytes (not the stamps, which mean nothing across runs).
    pub(crate) fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (from, to, base, c) in &self.segments {
            (from, to).hash(&mut h);
            for page in *from..*to {
                let at = ((page - base) * PAGE_BYTES) as u64;
                let len = c.len_bytes().saturating_sub(at).min(PAGE_BYTES as u64) as usize;
                let mut buf = [0u8; PAGE_BYTES];
                if crate::datafile::ReadAt::read_at(c, at, &mut buf[..len]) {
                    buf[..len].hash(&mut h);
                }
            }
        }
        h.finish()
    }

    /// The copy, `len_bytes` long.
    ///
    /// A copy holds only the bytes it read. When the file grew after the
    /// copy began, the last page it read may carry appended bytes past
    /// `len_bytes`; if its bytes up to `len_bytes` are those of the image the
    /// copy began with, that page is taken from there, so the copy equals the
    /// state it really holds.
    pub fn finish(self, len_bytes: u64) -> Content {
        let mut out = match self.segments.as_slice() {
            [] => return Content::new(),
            [(0, _, 0, c)] => c.with_len(len_bytes),
            segs => {
                let n = len_bytes.div_ceil(PAGE_BYTES as u64) as usize;
                let mut pages = PageTable::default();
                for (from, to, base, c) in segs {
                    for i in *from..*to {
                        if pages.len() == i && i < n {
                            pages.push(Arc::clone(&c.inner.pages[i - base]));
                        }
                    }
                }
                pages.resize_with(n, || Page::zeroed(0));
                Content {
                    inner: Arc::new(Inner {
                        len: len_bytes,
                        pages,
                    }),
                }
            }
        };
        let tail = (len_bytes % PAGE_BYTES as u64) as usize;
        let last = out.inner.pages.len().saturating_sub(1);
        if let (true, Some((_, _, 0, first))) = (tail != 0, self.segments.first())
            && let (Some(mine), Some(theirs)) =
                (out.inner.pages.get(last), first.inner.pages.get(last))
            && mine.stamp != theirs.stamp
            && mine.bytes()[..tail] == theirs.bytes()[..tail]
        {
            let theirs = Arc::clone(theirs);
            *Arc::make_mut(&mut out.inner).pages.page_mut(last) = theirs;
        }
        out
    }
}
