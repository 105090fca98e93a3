//! The history file's bytes: its header, its records, the page digest, and
//! the parse that turns bytes into [`Records`] without trusting them.
//!
//! ```text
//! header (32 bytes)
//!   0..8    magic  b"MSHIST\r\n"
//!   8..12   u32    format version (1)
//!   12..16  u32    page size (PAGE_BYTES)
//!   16..24  u64    limit in bytes the writer keeps the file under
//!   24..28  u32    reserved, zero
//!   28..32  u32    CRC-32 of bytes 0..28
//! records, each
//!   0..4    u32    body length in bytes
//!   4..8    u32    CRC-32 of the body
//!   8..     body
//!     0     u8     kind: 1 baseline, 2 commit
//!     1..8         zero
//!     8     u64    generation
//!     16    u64    committed at, unix milliseconds
//!     24    u64    the data file's length in bytes
//!     32    u64    entry count
//!     40..         baseline: count × u64 digest of pages 0, 1, …
//!                  commit: count × (u64 page, u64 digest)
//! ```
//!
//! All integers little-endian. Generations increase strictly from record to
//! record. A record that runs past the end of the file or fails its CRC ends
//! the history: it is a torn append (the writer truncates it at open; a
//! reader ignores it and says how many bytes it ignored).
//!
//! What does not live here: the file's life on disk (the writer) and what a
//! copy's pages mean against it (the judge).

use crate::datafile::PAGE_BYTES;

/// The header's first bytes.
pub(super) const MAGIC: [u8; 8] = *b"MSHIST\r\n";
/// The format version this crate writes and reads.
pub(super) const VERSION: u32 = 1;
/// Bytes of the file header.
pub(super) const HEADER_BYTES: u64 = 32;
/// Bytes of a record's frame (length and CRC) before its body.
pub(super) const FRAME_BYTES: u64 = 8;
/// Bytes of a record body before its entries.
pub(super) const BODY_HEAD_BYTES: u64 = 40;
/// Record kind: every page of the data file, in page order.
pub(super) const KIND_BASELINE: u8 = 1;
/// Record kind: the pages one commit wrote.
pub(super) const KIND_COMMIT: u8 = 2;

/// Largest limit a history may have: a reader holds the whole file in
/// memory, at most twice the limit.
pub const MAX_LIMIT_BYTES: u64 = 1 << 30;

/// A 64-bit digest of one page, `bytes` zero-padded to
/// [`PAGE_BYTES`](crate::datafile::PAGE_BYTES) (bytes past a page are
/// ignored).
///
/// Four lanes of 64-bit folded multiplies (the 128-bit product's halves
/// xored, as wyhash mixes), one word at a time, then the lanes folded
/// together. Two different pages collide with probability about 2⁻⁶⁴: it
/// tells accidental contents apart, as a 32-bit CRC cannot among the
/// millions of page versions a night's history holds. It is not a
/// cryptographic hash: a page crafted to collide can fool it.
pub fn page_digest(bytes: &[u8]) -> u64 {
    const PAGE: usize = PAGE_BYTES as usize;
    const K: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    let bytes = &bytes[..bytes.len().min(PAGE)];
    let mut lanes = [
        0x243f_6a88_85a3_08d3_u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let word = |i: usize| -> u64 {
        let at = i * 8;
        if at + 8 <= bytes.len() {
            u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]))
        } else {
            let mut w = [0u8; 8];
            if at < bytes.len() {
                w[..bytes.len() - at].copy_from_slice(&bytes[at..]);
            }
            u64::from_le_bytes(w)
        }
    };
    for i in 0..PAGE / 8 {
        let l = i % 4;
        lanes[l] = fold(lanes[l] ^ word(i), K[l]);
    }
    let mut h = fold(lanes[0] ^ lanes[2], K[1]) ^ fold(lanes[1] ^ lanes[3], K[0]);
    h = fold(h ^ PAGE as u64, K[2]);
    h ^ (h >> 29)
}

fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The file header for a history kept under `limit_bytes`.
pub(super) fn encode_header(limit_bytes: u64) -> [u8; HEADER_BYTES as usize] {
    let mut b = [0u8; HEADER_BYTES as usize];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&(PAGE_BYTES as u32).to_le_bytes());
    b[16..24].copy_from_slice(&limit_bytes.to_le_bytes());
    let crc = crc32fast::hash(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The limit a header records, or why the bytes are no history header.
pub(super) fn decode_header(b: &[u8]) -> Result<u64, String> {
    if b.len() < HEADER_BYTES as usize {
        return Err(format!(
            "{} bytes, shorter than a history header ({HEADER_BYTES})",
            b.len()
        ));
    }
    if b[0..8] != MAGIC {
        return Err("bad magic".into());
    }
    if crc32fast::hash(&b[..28]) != u32_at(b, 28) {
        return Err("header checksum mismatch".into());
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(format!("format version {version}, expected {VERSION}"));
    }
    let page = u32_at(b, 12);
    if u64::from(page) != PAGE_BYTES {
        return Err(format!("page size {page}, expected {PAGE_BYTES}"));
    }
    let limit = u64_at(b, 16);
    if limit > MAX_LIMIT_BYTES {
        return Err(format!(
            "limit of {limit} bytes, over the most a history may have ({MAX_LIMIT_BYTES})"
        ));
    }
    Ok(limit)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// One record's fixed fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RecordHead {
    pub(super) baseline: bool,
    pub(super) generation: u64,
    pub(super) committed_at_ms: u64,
    pub(super) len_bytes: u64,
}

/// Appends one framed record to `out`: a baseline (`pages` gives each
/// page's digest in page order, the page numbers ignored) or a commit.
pub(super) fn encode_record(
    out: &mut Vec<u8>,
    head: RecordHead,
    pages: impl IntoIterator<Item = (u64, u64)>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_BYTES as usize]);
    out.push(if head.baseline {
        KIND_BASELINE
    } else {
        KIND_COMMIT
    });
    out.extend_from_slice(&[0; 7]);
    out.extend_from_slice(&head.generation.to_le_bytes());
    out.extend_from_slice(&head.committed_at_ms.to_le_bytes());
    out.extend_from_slice(&head.len_bytes.to_le_bytes());
    let count_at = out.len();
    out.extend_from_slice(&[0; 8]);
    let mut count = 0u64;
    for (page, digest) in pages {
        if !head.baseline {
            out.extend_from_slice(&page.to_le_bytes());
        }
        out.extend_from_slice(&digest.to_le_bytes());
        count += 1;
    }
    out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    let body = &out[start + FRAME_BYTES as usize..];
    let body_len = body.len() as u32;
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Bytes of a framed record with `count` entries.
pub(super) fn record_bytes(baseline: bool, count: u64) -> u64 {
    FRAME_BYTES + BODY_HEAD_BYTES + count.saturating_mul(if baseline { 8 } else { 16 })
}

/// One checked record: where it lies in the bytes, its fields, its entries.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawRecord<'a> {
    /// Offset of its frame.
    pub(super) offset: u64,
    /// Bytes of the frame and body.
    pub(super) bytes: u64,
    pub(super) head: RecordHead,
    entries: &'a [u8],
}

impl<'a> RawRecord<'a> {
    /// Its (page, digest) entries.
    pub(super) fn pages(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let baseline = self.head.baseline;
        let width = if baseline { 8 } else { 16 };
        self.entries
            .chunks_exact(width)
            .enumerate()
            .map(move |(i, e)| {
                if baseline {
                    (i as u64, u64_at(e, 0))
                } else {
                    (u64_at(e, 0), u64_at(e, 8))
                }
            })
    }
}

/// A parsed history: its limit, its good records, and the bytes past them
/// (a torn append).
#[derive(Debug)]
pub(super) struct Records<'a> {
    pub(super) limit_bytes: u64,
    pub(super) records: Vec<RawRecord<'a>>,
    /// Bytes of header and good records; what follows is torn.
    pub(super) good_bytes: u64,
    /// Bytes parsed in all.
    pub(super) total_bytes: u64,
}

/// Parses `b`, or says why it is not a history. Good records end at the
/// first that is cut short or fails its CRC; one that checks but breaks
/// the format's rules (kind, order, page numbers) makes the file no
/// history.
pub(super) fn parse(b: &[u8]) -> Result<Records<'_>, String> {
    let limit_bytes = decode_header(b)?;
    let mut records = Vec::new();
    let mut at = HEADER_BYTES as usize;
    let mut newest: Option<u64> = None;
    let mut pages_now = 0u64;
    while let Some(frame) = b.get(at..at + FRAME_BYTES as usize) {
        let body_len = u32_at(frame, 0) as usize;
        let Some(body) = b.get(at + 8..(at + 8).saturating_add(body_len)) else {
            break;
        };
        if crc32fast::hash(body) != u32_at(frame, 4) {
            break;
        }
        let offset = at as u64;
        let bad = |why: String| Err(format!("record at byte {offset}: {why}"));
        if body.len() < BODY_HEAD_BYTES as usize {
            return bad(format!("{} bytes, shorter than a record", body.len()));
        }
        let baseline = match body[0] {
            KIND_BASELINE => true,
            KIND_COMMIT => false,
            k => return bad(format!("unknown kind {k}")),
        };
        let head = RecordHead {
            baseline,
            generation: u64_at(body, 8),
            committed_at_ms: u64_at(body, 16),
            len_bytes: u64_at(body, 24),
        };
        let count = u64_at(body, 32);
        let entries = &body[BODY_HEAD_BYTES as usize..];
        if record_bytes(baseline, count) != FRAME_BYTES + body.len() as u64 {
            return bad(format!(
                "{count} entries do not fill its {} bytes",
                body.len()
            ));
        }
        if let Some(n) = newest
            && head.generation <= n
        {
            return bad(format!(
                "generation {} after generation {n}",
                head.generation
            ));
        }
        if newest.is_none() && !baseline {
            return bad("the first record is not a baseline".into());
        }
        let pages = head.len_bytes.div_ceil(PAGE_BYTES);
        let rec = RawRecord {
            offset,
            bytes: FRAME_BYTES + body.len() as u64,
            head,
            entries,
        };
        if baseline {
            if count != pages {
                return bad(format!(
                    "a baseline of {count} pages for a file of {} bytes",
                    head.len_bytes
                ));
            }
        } else {
            // Every page a commit brings into the file is among those it
            // wrote, so a page never has a version unknown to the history.
            if pages > pages_now.saturating_add(count) {
                return bad(format!(
                    "the file grows to {pages} pages but the commit writes {count}"
                ));
            }
            for (p, _) in rec.pages() {
                if p >= pages {
                    return bad(format!("page {p} past the file's {pages} pages"));
                }
            }
        }
        if pages > u64::from(u32::MAX) {
            return bad(format!("{pages} pages"));
        }
        pages_now = pages;
        newest = Some(head.generation);
        records.push(rec);
        at += FRAME_BYTES as usize + body.len();
    }
    Ok(Records {
        limit_bytes,
        records,
        good_bytes: at as u64,
        total_bytes: b.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_pad_with_zeros_and_tell_pages_apart() {
        let page = vec![7u8; PAGE_BYTES as usize];
        let mut short = vec![7u8; 100];
        assert_ne!(page_digest(&page), page_digest(&short));
        short.resize(PAGE_BYTES as usize, 0);
        assert_eq!(page_digest(&short[..100]), page_digest(&short));
        assert_eq!(page_digest(&[]), page_digest(&[0; 4096]));
        // One bit anywhere changes it; the figure is pinned.
        let zero = page_digest(&[]);
        assert_eq!(zero, 0x9162_4fa6_deb8_bfd9, "{zero:#x}");
        let mut seen = std::collections::HashSet::new();
        for bit in 0..PAGE_BYTES as usize * 8 {
            let mut p = vec![0u8; PAGE_BYTES as usize];
            p[bit / 8] ^= 1 << (bit % 8);
            assert!(seen.insert(page_digest(&p)), "bit {bit}");
        }
        assert!(!seen.contains(&zero));
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_ends_them() {
        let mut b = encode_header(1 << 20).to_vec();
        let base = RecordHead {
            baseline: true,
            generation: 3,
            committed_at_ms: 10,
            len_bytes: 5000,
        };
        encode_record(&mut b, base, [(0, 11), (1, 12)]);
        let commit = RecordHead {
            baseline: false,
            generation: 4,
            ..base
        };
        encode_record(&mut b, commit, [(1, 13)]);
        let good = b.len() as u64;
        b.extend_from_slice(&[1, 2, 3]);
        let r = parse(&b).unwrap();
        assert_eq!(r.limit_bytes, 1 << 20);
        assert_eq!(r.good_bytes, good);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].pages().collect::<Vec<_>>(), [(0, 11), (1, 12)]);
        assert_eq!(r.records[1].pages().collect::<Vec<_>>(), [(1, 13)]);
        assert_eq!(r.records[1].head, commit);
        assert_eq!(r.records[1].bytes, record_bytes(false, 1));
        // A commit out of order is no history.
        let mut c = b[..good as usize].to_vec();
        encode_record(&mut c, commit, [(1, 14)]);
        assert!(
            parse(&c)
                .unwrap_err()
                .contains("generation 4 after generation 4")
        );
        assert!(parse(b"MSHIST\r\n").is_err());
        assert_eq!(parse(&[0; 64]).unwrap_err(), "bad magic");
    }
}
