//! Reading whole files: [`verify`] and [`verify_from`], the format's own
//! consistency check; [`scan`] and [`scan_verified`], which also list the
//! records; and [`record_at`], one record looked up on its own. All of them
//! accept arbitrary bytes and never panic.
//!
//! What does not live here: the header's own checks
//! ([`Header::decode`](super::Header::decode),
//! [`read_header`]), and writing files.

use crc32fast::Hasher;

use super::format::{
    COUNTER_LIMIT, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RECORD_HEADER_LEN, RECORD_MAGIC,
    VerifyError, le_u16, le_u32, le_u64,
};
use super::header::{Header, read_header};
use super::read_at::ReadAt;
use super::record::{RecordFlags, RecordInfo, record_len};

/// Largest piece of payload [`verify_from`] reads at once.
const STREAM_CHUNK: usize = 256 << 10;

/// Result of a successful verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verified {
    /// The header's generation.
    pub generation: u64,
    /// Number of live messages (the header's count, which the records match).
    pub message_count: u64,
}

/// Reads the current header, then walks every record header in
/// `[records_start, committed_len)`, checking structure, bounds and id order,
/// applying the pending flag update, and calling `visit` on each; finally
/// checks the pending update's offset and the counts.
fn walk<R: ReadAt + ?Sized>(
    file: &R,
    mut visit: impl FnMut(&RecordInfo, &[u8; RECORD_HEADER_LEN]) -> Result<(), VerifyError>,
) -> Result<Header, VerifyError> {
    let len_bytes = file.len_bytes();
    let header = read_header(file)?;
    check_counters(&header)?;
    let end = header.committed_len;
    if len_bytes < end {
        return Err(VerifyError::Truncated {
            committed_len: end,
            len_bytes,
        });
    }
    let mut offset = header.records_start;
    let mut prev_id: Option<u64> = None;
    let mut totals = Totals::default();
    while offset < end {
        let (info, rh) = next_record(file, &header, offset, prev_id)?;
        visit(&info, &rh)?;
        totals.add(&header, &info);
        prev_id = Some(info.message_id);
        offset += info.record_len;
    }
    totals.check(&header)?;
    Ok(header)
}

/// A header whose counter is at [`COUNTER_LIMIT`] is refused, naming the
/// counter: no server could have committed it.
fn check_counters(header: &Header) -> Result<(), VerifyError> {
    for (field, value) in [
        ("generation", header.generation),
        ("next_message_id", header.next_message_id),
    ] {
        if value == COUNTER_LIMIT {
            return Err(VerifyError::CounterAtLimit { field, value });
        }
    }
    Ok(())
}

/// Reads and checks the record header at `offset`, the records ending at
/// the header's committed_len and the previous one's id being `prev_id`;
/// the header's pending flags win over the record's flag bytes.
fn next_record<R: ReadAt + ?Sized>(
    file: &R,
    header: &Header,
    offset: u64,
    prev_id: Option<u64>,
) -> Result<(RecordInfo, [u8; RECORD_HEADER_LEN]), VerifyError> {
    let bad = |reason| Err(VerifyError::BadRecord { offset, reason });
    let remaining = header.committed_len - offset;
    if remaining < RECORD_HEADER_BYTES {
        return bad("record header runs past the committed length");
    }
    let mut rh = [0u8; RECORD_HEADER_LEN];
    if !file.read_at(offset, &mut rh) {
        return bad("record header cannot be read");
    }
    if le_u16(&rh, 0) != RECORD_MAGIC {
        return bad("bad record magic");
    }
    let flags = match header.pending {
        // The header's flags win over whatever the flag bytes hold.
        Some(p) if p.offset == offset => p.flags,
        _ => {
            if rh[3] != !rh[2] {
                return bad("flags byte does not match its complement");
            }
            let Some(flags) = RecordFlags::from_bits(rh[2]) else {
                return bad("reserved flag bits set");
            };
            flags
        }
    };
    if le_u32(&rh, 20) != 0 {
        return bad("reserved bytes are not zero");
    }
    let payload_len = le_u32(&rh, 4);
    if payload_len > MAX_PAYLOAD_BYTES {
        return bad("payload length exceeds the maximum");
    }
    let rec_len = record_len(payload_len);
    if rec_len > remaining {
        return bad("record runs past the committed length");
    }
    let message_id = le_u64(&rh, 8);
    if prev_id.is_some_and(|p| message_id <= p) {
        return bad("message ids are not strictly increasing");
    }
    if message_id >= header.next_message_id {
        return bad("message id is not below the header's next message id");
    }
    let info = RecordInfo {
        offset,
        message_id,
        flags,
        payload_len,
        record_len: rec_len,
    };
    Ok((info, rh))
}

/// What the walked records add up to, for the header's counts.
#[derive(Default)]
struct Totals {
    /// Whether a record starts at the pending flag update's offset.
    pending_seen: bool,
    live: u64,
    dead: u64,
}

impl Totals {
    fn add(&mut self, header: &Header, info: &RecordInfo) {
        if header.pending.is_some_and(|p| p.offset == info.offset) {
            self.pending_seen = true;
        }
        if info.flags.contains(RecordFlags::DELETED) {
            self.dead = self.dead.saturating_add(info.record_len);
        } else {
            self.live = self.live.saturating_add(1);
        }
    }

    /// The pending update names a record, and the counts match the records.
    fn check(&self, header: &Header) -> Result<(), VerifyError> {
        if header.pending.is_some() && !self.pending_seen {
            return Err(VerifyError::BadHeader {
                reason: "pending flag update is not at the start of a record",
            });
        }
        if self.live != header.message_count {
            return Err(VerifyError::CountMismatch {
                header: header.message_count,
                found: self.live,
            });
        }
        if self.dead != header.dead_bytes {
            return Err(VerifyError::DeadBytesMismatch {
                header: header.dead_bytes,
                found: self.dead,
            });
        }
        Ok(())
    }
}

/// Checks a record's stored checksum, `feed` supplying the payload to the
/// hasher (false if the payload cannot be read).
fn check_record(
    info: &RecordInfo,
    rh: &[u8; RECORD_HEADER_LEN],
    feed: impl FnOnce(&mut Hasher) -> bool,
) -> Result<(), VerifyError> {
    let mut hasher = Hasher::new();
    hasher.update(&rh[4..16]);
    if !feed(&mut hasher) {
        return Err(VerifyError::BadRecord {
            offset: info.offset,
            reason: "payload cannot be read",
        });
    }
    if hasher.finalize() != le_u32(rh, 16) {
        return Err(VerifyError::RecordChecksum {
            offset: info.offset,
            message_id: info.message_id,
        });
    }
    Ok(())
}

/// Checks a whole file image: the current header ([`read_header`]), every
/// record in `[records_start, committed_len)` (magic, flags/complement,
/// length in bounds, payload checksum, ids strictly increasing and <
/// next_message_id), that records end exactly at committed_len, that the
/// pending flag update (if any) is at the start of a record, whose flag bytes
/// it overrides, and that live count == message_count and deleted record_len
/// sum == dead_bytes. Never panics.
pub fn verify(bytes: &[u8]) -> Result<Verified, VerifyError> {
    let header = walk(bytes, |info, rh| {
        check_record(info, rh, |hasher| {
            let payload = usize::try_from(info.offset.saturating_add(RECORD_HEADER_BYTES))
                .ok()
                .and_then(|start| bytes.get(start..)?.get(..info.payload_len as usize));
            match payload {
                Some(payload) => {
                    hasher.update(payload);
                    true
                }
                None => false,
            }
        })
    })?;
    Ok(Verified {
        generation: header.generation,
        message_count: header.message_count,
    })
}

/// [`verify`] on contents read through [`ReadAt`]. Payloads are streamed
/// through one scratch buffer, grown only as far as the largest piece
/// actually read (at most 256 KiB at a time).
pub fn verify_from<R: ReadAt + ?Sized>(file: &R) -> Result<Verified, VerifyError> {
    let mut scratch: Vec<u8> = Vec::new();
    let header = walk(file, |info, rh| {
        check_streamed(file, info, rh, &mut scratch)
    })?;
    Ok(Verified {
        generation: header.generation,
        message_count: header.message_count,
    })
}

/// Checks a record's payload checksum, its payload read through `file` in
/// pieces of at most [`STREAM_CHUNK`] bytes into `scratch`.
fn check_streamed<R: ReadAt + ?Sized>(
    file: &R,
    info: &RecordInfo,
    rh: &[u8; RECORD_HEADER_LEN],
    scratch: &mut Vec<u8>,
) -> Result<(), VerifyError> {
    check_record(info, rh, |hasher| {
        let mut pos = info.offset.saturating_add(RECORD_HEADER_BYTES);
        let mut left = info.payload_len as usize;
        while left > 0 {
            let n = left.min(STREAM_CHUNK);
            if scratch.len() < n {
                scratch.resize(n, 0);
            }
            let Some(buf) = scratch.get_mut(..n) else {
                return false;
            };
            if !file.read_at(pos, buf) {
                return false;
            }
            hasher.update(buf);
            pos = pos.saturating_add(n as u64);
            left -= n;
        }
        true
    })
}

/// [`scan`] with every payload checksum checked as well, streamed as
/// [`verify_from`] streams them: the format's full check and the server's
/// index in one pass over the file, holding at most 256 KiB of payload at a
/// time. What a server opening a real file uses.
pub fn scan_verified<R: ReadAt + ?Sized>(
    file: &R,
) -> Result<(Header, Vec<RecordInfo>), VerifyError> {
    let mut scratch: Vec<u8> = Vec::new();
    let mut records = Vec::new();
    let header = walk(file, |info, rh| {
        check_streamed(file, info, rh, &mut scratch)?;
        records.push(*info);
        Ok(())
    })?;
    Ok((header, records))
}

/// Reads the current header and walks the record headers (no payload
/// checksums: cheap), returning the header and every record in file order;
/// used by the server to rebuild its index on start. Checks record magic,
/// flags complement, bounds, id order.
///
/// Like [`verify`] it also checks that the records end exactly at
/// committed_len, that the pending flag update is at the start of a record,
/// and that the header's message_count and dead_bytes match the records; only
/// the payload checksums are skipped.
///
/// The header is returned as stored, `pending` included; the record it names
/// is reported with the pending flags (not its flag bytes, which may be stale
/// or garbage). A server opening the file must then rewrite those flag bytes
/// and sync before committing a header (see the
/// [commit protocol](super#commit-protocol)).
pub fn scan<R: ReadAt + ?Sized>(file: &R) -> Result<(Header, Vec<RecordInfo>), VerifyError> {
    let mut records = Vec::new();
    let header = walk(file, |info, _| {
        records.push(*info);
        Ok(())
    })?;
    Ok((header, records))
}

/// The record at `offset` of a file whose current header is `header`, read
/// and checked on its own (magic, flags and their complement, bounds), with
/// the header's pending flag update applied: how to look one message up
/// without scanning the file. Its payload checksum is not checked.
pub fn record_at<R: ReadAt + ?Sized>(
    file: &R,
    header: &Header,
    offset: u64,
) -> Result<RecordInfo, VerifyError> {
    let bad = |reason| VerifyError::BadRecord { offset, reason };
    if offset < header.records_start || offset >= header.committed_len {
        return Err(bad("outside the committed records"));
    }
    let mut h = [0u8; RECORD_HEADER_LEN];
    if !file.read_at(offset, &mut h) {
        return Err(VerifyError::Truncated {
            committed_len: header.committed_len,
            len_bytes: file.len_bytes(),
        });
    }
    if le_u16(&h, 0) != RECORD_MAGIC {
        return Err(bad("bad record magic"));
    }
    let flags = match header.pending {
        Some(p) if p.offset == offset => p.flags,
        _ => {
            if h[3] != !h[2] {
                return Err(bad("flags and their complement disagree"));
            }
            RecordFlags::from_bits(h[2]).ok_or_else(|| bad("unknown flag bits"))?
        }
    };
    let payload_len = le_u32(&h, 4);
    let len = record_len(payload_len);
    if offset.saturating_add(len) > header.committed_len {
        return Err(bad("record runs past the committed end"));
    }
    Ok(RecordInfo {
        offset,
        message_id: le_u64(&h, 8),
        flags,
        payload_len,
        record_len: len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::tests::{
        D, E, Paged, R, SAMPLE, bad_header, expect, header_of, messages, put_header, sample,
    };
    use crate::datafile::{
        FLAGS_OFFSET, HEADER_BYTES, PendingFlags, SLOT_BYTES, SLOT_OFFSETS, build_image, flag_bytes,
    };
    use proptest::prelude::*;

    #[test]
    fn empty_image() {
        let image = build_image(0, []);
        assert_eq!(image.len() as u64, HEADER_BYTES);
        assert_eq!(
            verify(&image),
            Ok(Verified {
                generation: 0,
                message_count: 0
            })
        );
        assert_eq!(header_of(&image), Header::empty());
        assert_eq!(scan(&image), Ok((Header::empty(), vec![])));
        assert!(image[SLOT_BYTES..].iter().all(|&b| b == 0));

        // An odd generation lives in slot B; slot A is zeros.
        let image = build_image(1, []);
        assert_eq!(image.len() as u64, HEADER_BYTES);
        assert_eq!(header_of(&image).generation, 1);
        assert!(image[..512].iter().all(|&b| b == 0));
        assert!(image[512 + SLOT_BYTES..].iter().all(|&b| b == 0));
        assert_eq!(verify(&image).unwrap().generation, 1);
    }

    #[test]
    fn build_verify_scan_round_trip() {
        for generation in [6, 7] {
            let image = build_image(generation, SAMPLE);
            let expected = Verified {
                generation,
                message_count: 3,
            };
            assert_eq!(verify(&image), Ok(expected));
            assert_eq!(verify_from(&image), Ok(expected));
            assert_eq!(verify_from(&Paged::new(&image)), Ok(expected));
            let (header, records) = scan(&image).unwrap();
            assert_eq!(header.generation, generation);
            assert_eq!(header.next_message_id, 11);
            assert_eq!(header.committed_len, image.len() as u64);
            assert_eq!(header.records_start, HEADER_BYTES);
            assert_eq!(header.pending, None);
            assert_eq!(header.dead_bytes, record_len(37) + record_len(300));
            assert_eq!(header, header_of(&image));
            let mut offset = HEADER_BYTES;
            assert_eq!(records.len(), SAMPLE.len());
            for (rec, (id, flags, len)) in records.iter().zip(SAMPLE) {
                assert_eq!(
                    *rec,
                    RecordInfo {
                        offset,
                        message_id: id,
                        flags,
                        payload_len: len,
                        record_len: record_len(len),
                    }
                );
                assert_eq!(image[offset as usize..offset as usize + 2], *b"MR");
                offset += record_len(len);
            }
            assert_eq!(offset, image.len() as u64);
            assert_eq!(scan(&Paged::new(&image)), Ok((header, records)));
        }
    }

    #[test]
    fn large_payloads_stream_through_chunks() {
        let image = build_image(3, [(1, E, 600_000), (2, D, MAX_PAYLOAD_BYTES), (3, R, 5)]);
        let expected = Ok(Verified {
            generation: 3,
            message_count: 2,
        });
        assert_eq!(verify(&image), expected);
        assert_eq!(verify_from(&Paged::new(&image)), expected);
        let mut torn = image.clone();
        let last_payload = image.len() - 40;
        torn[last_payload] ^= 1;
        assert!(matches!(
            verify_from(&Paged::new(&torn)),
            Err(VerifyError::RecordChecksum { .. })
        ));
    }

    #[test]
    fn flags_set_in_place_without_the_protocol() {
        // What a backup can copy when it reads a record's flag bytes and the
        // header page at different moments.
        let mut image = build_image(2, [(1, E, 50), (2, E, 10), (3, E, 70)]);
        let (_, records) = scan(&image).unwrap();
        let at = |r: &RecordInfo| (r.offset + FLAGS_OFFSET) as usize;

        // READ changes no count: the image stays valid with the old header.
        image[at(&records[1])..at(&records[1]) + 2].copy_from_slice(&flag_bytes(R));
        assert_eq!(verify(&image).unwrap().message_count, 3);

        // DELETED without the header update: the torn state is caught.
        image[at(&records[2])..at(&records[2]) + 2].copy_from_slice(&flag_bytes(D));
        assert_eq!(
            verify(&image),
            Err(VerifyError::CountMismatch {
                header: 3,
                found: 2
            })
        );

        // A header that accounts for it completes the state.
        let mut h = header_of(&image);
        h.generation += 1;
        h.message_count -= 1;
        h.dead_bytes += records[2].record_len;
        put_header(&mut image, &h);
        assert_eq!(
            verify(&image),
            Ok(Verified {
                generation: 3,
                message_count: 2
            })
        );
        let (_, after) = scan(&image).unwrap();
        assert_eq!(after[1].flags, R);
        assert_eq!(after[2].flags, D);
    }

    #[test]
    fn pending_flags_override_the_flag_bytes() {
        let image = build_image(2, [(1, E, 50), (2, R, 10), (3, E, 70)]);
        let (h2, records) = scan(&image).unwrap();
        let rec = records[2];
        let at = (rec.offset + FLAGS_OFFSET) as usize;
        // The header of a deletion of message 3, committed before the flag write.
        let h3 = Header {
            generation: 3,
            message_count: 2,
            dead_bytes: rec.record_len,
            pending: Some(PendingFlags {
                offset: rec.offset,
                flags: D,
            }),
            ..h2
        };
        let mut b = image.clone();
        put_header(&mut b, &h3);
        let want = Verified {
            generation: 3,
            message_count: 2,
        };
        let want_records = vec![records[0], records[1], RecordInfo { flags: D, ..rec }];
        // Whatever the flag bytes hold: old, new, garbage.
        for bytes in [
            flag_bytes(E),
            flag_bytes(D),
            flag_bytes(R),
            [0xFF, 0x13],
            [0x80, 0x7F],
        ] {
            b[at..at + 2].copy_from_slice(&bytes);
            assert_eq!(verify(&b), Ok(want), "{bytes:?}");
            assert_eq!(verify_from(&Paged::new(&b)), Ok(want));
            assert_eq!(scan(&b), Ok((h3, want_records.clone())));
        }
        // Without the pending update, garbage flag bytes are an error.
        let mut b = image.clone();
        b[at..at + 2].copy_from_slice(&[0xFF, 0x13]);
        assert!(matches!(
            verify(&b),
            Err(VerifyError::BadRecord { offset, .. }) if offset == rec.offset
        ));
        // Pending flags can even say less than the flag bytes: they win.
        let mut b = image.clone();
        put_header(
            &mut b,
            &Header {
                generation: 3,
                pending: Some(PendingFlags {
                    offset: records[1].offset,
                    flags: E,
                }),
                ..h2
            },
        );
        assert_eq!(scan(&b).unwrap().1[1].flags, E);
    }

    #[test]
    fn appended_record_past_committed_len_is_ignored() {
        let old = build_image(4, [(1, E, 10)]);
        let new = build_image(5, [(1, E, 10), (2, E, 99)]);
        // Torn: old header page, new records.
        let mut torn = new.clone();
        torn[..4096].copy_from_slice(&old[..4096]);
        assert_eq!(verify(&torn).unwrap().generation, 4);
        // Torn the other way: new header page, old (shorter) file.
        let mut torn = old.clone();
        torn[..4096].copy_from_slice(&new[..4096]);
        assert_eq!(
            verify(&torn),
            Err(VerifyError::Truncated {
                committed_len: new.len() as u64,
                len_bytes: old.len() as u64
            })
        );
    }

    #[test]
    fn counters_at_their_limit_are_reported_and_leave_no_room() {
        // A header at the limit fails verification, naming the field.
        let at_limit = build_image(COUNTER_LIMIT, []);
        let e = VerifyError::CounterAtLimit {
            field: "generation",
            value: u64::MAX,
        };
        assert_eq!(verify(&at_limit), Err(e.clone()));
        assert_eq!(scan(&at_limit).map(|_| ()), Err(e));
        let mut image = build_image(4, []);
        let header = Header {
            generation: 4,
            next_message_id: u64::MAX,
            ..Header::empty()
        };
        image[..SLOT_BYTES].copy_from_slice(&header.encode());
        assert_eq!(
            verify(&image),
            Err(VerifyError::CounterAtLimit {
                field: "next_message_id",
                value: u64::MAX
            })
        );
        assert!(
            verify(&image)
                .unwrap_err()
                .to_string()
                .starts_with("next_message_id is at the format's limit")
        );
        // One short of it: a valid file, but no transaction has room.
        let last = build_image(COUNTER_LIMIT - 1, []);
        let v = verify(&last).unwrap();
        assert_eq!(v.generation, u64::MAX - 1);
        let (header, _) = scan(&last).unwrap();
        assert_eq!(
            header.check_room(),
            Err(VerifyError::NoRoom {
                field: "generation",
                value: u64::MAX - 1
            })
        );
        let (header, _) = scan(&build_image(COUNTER_LIMIT - 2, [])).unwrap();
        assert_eq!(header.check_room(), Ok(()));
        let ids = Header {
            next_message_id: COUNTER_LIMIT - 1,
            ..Header::empty()
        };
        assert!(matches!(
            ids.check_room(),
            Err(VerifyError::NoRoom {
                field: "next_message_id",
                ..
            })
        ));
    }

    /// `every_error_variant_*`: each variant of [`VerifyError`], from the
    /// readers' every path. First what breaks the header page as a whole.
    #[test]
    fn every_error_variant_of_the_header_page() {
        let good = sample();
        assert_eq!(header_of(&good).slot_offset(), 0);

        expect(&good[..10], VerifyError::TooShort { len_bytes: 10 });
        expect(&good[..1000], VerifyError::TooShort { len_bytes: 1000 });
        expect(&good[..4095], VerifyError::TooShort { len_bytes: 4095 });

        // Slot A is current and slot B is zeros, so slot A's error shows.
        let mut b = good.clone();
        b[0] = b'X';
        expect(&b, VerifyError::BadMagic);

        let mut b = good.clone();
        b[8] = 3;
        expect(&b, VerifyError::UnsupportedVersion { version: 3 });

        let mut b = good.clone();
        b[12..16].copy_from_slice(&512u32.to_le_bytes());
        expect(&b, VerifyError::BadPageSize { page_bytes: 512 });

        for at in [20, 60, 70, 77] {
            let mut b = good.clone();
            b[at] ^= 0x10;
            expect(&b, VerifyError::HeaderChecksum);
        }
    }

    /// Fields of a slot that are wrong under a matching checksum.
    #[test]
    fn every_error_variant_of_a_slot_field() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let rec = |i: usize| records[i].offset as usize;

        // Bad fields under a matching checksum.
        let with_bytes = |edit: &dyn Fn(&mut [u8; SLOT_BYTES])| {
            let mut s = header.encode();
            edit(&mut s);
            let crc = crc32fast::hash(&s[..76]);
            s[76..80].copy_from_slice(&crc.to_le_bytes());
            let mut b = good.clone();
            b[..SLOT_BYTES].copy_from_slice(&s);
            b
        };
        bad_header(
            &with_bytes(&|s| s[10] = 1),
            "reserved bytes 10..12 are not zero",
        );
        bad_header(
            &with_bytes(&|s| s[75] = 1),
            "reserved bytes 74..76 are not zero",
        );
        bad_header(
            &with_bytes(&|s| s[72] = 1),
            "pending flags without a pending offset",
        );
        bad_header(
            &with_bytes(&|s| s[73] = 0xFE),
            "pending flags without a pending offset",
        );
        let pending_at = rec(1) as u64;
        bad_header(
            &with_bytes(&|s| {
                s[64..72].copy_from_slice(&pending_at.to_le_bytes());
                s[72..74].copy_from_slice(&[1, 0xFF]);
            }),
            "pending flags do not match their complement",
        );
        bad_header(
            &with_bytes(&|s| {
                s[64..72].copy_from_slice(&pending_at.to_le_bytes());
                s[72..74].copy_from_slice(&[4, 0xFB]);
            }),
            "reserved pending flag bits set",
        );
    }

    /// A valid slot whose fields do not fit each other or the records.
    #[test]
    fn every_error_variant_of_a_header_that_does_not_fit() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let pending_at = records[1].offset;
        let with = |h: Header| {
            let mut b = good.clone();
            put_header(&mut b, &h);
            b
        };
        bad_header(
            &with(Header {
                committed_len: 100,
                records_start: 100,
                ..header
            }),
            "records start inside the header page",
        );
        bad_header(
            &with(Header {
                records_start: HEADER_BYTES - 8,
                ..header
            }),
            "records start inside the header page",
        );
        bad_header(
            &with(Header {
                committed_len: 100,
                ..header
            }),
            "records start past the committed length",
        );
        bad_header(
            &with(Header {
                records_start: header.committed_len + 8,
                ..header
            }),
            "records start past the committed length",
        );
        bad_header(
            &with(Header {
                next_message_id: 0,
                ..header
            }),
            "next message id is zero",
        );
        for offset in [1, HEADER_BYTES - 1, header.committed_len, u64::MAX] {
            bad_header(
                &with(Header {
                    pending: Some(PendingFlags { offset, flags: R }),
                    ..header
                }),
                "pending flag update outside the committed records",
            );
        }
        for offset in [pending_at + 1, pending_at + 8, pending_at - 8] {
            bad_header(
                &with(Header {
                    pending: Some(PendingFlags { offset, flags: R }),
                    ..header
                }),
                "pending flag update is not at the start of a record",
            );
        }
        let mut b = good.clone();
        b[..SLOT_BYTES].copy_from_slice(
            &Header {
                generation: 7,
                ..header
            }
            .encode(),
        );
        bad_header(&b, "generation does not belong in this slot");
    }

    /// A file shorter than its header commits.
    #[test]
    fn every_error_variant_of_the_committed_length() {
        let good = sample();
        let (header, _) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let with = |h: Header| {
            let mut b = good.clone();
            put_header(&mut b, &h);
            b
        };
        let b = with(Header {
            committed_len: u64::MAX,
            ..header
        });
        expect(
            &b,
            VerifyError::Truncated {
                committed_len: u64::MAX,
                len_bytes: good.len() as u64,
            },
        );
        expect(
            &good[..good.len() - 1],
            VerifyError::Truncated {
                committed_len: good.len() as u64,
                len_bytes: good.len() as u64 - 1,
            },
        );
    }

    /// A record header that does not parse, does not fit, or breaks the id
    /// order.
    #[test]
    fn every_error_variant_of_a_record() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let rec = |i: usize| records[i].offset as usize;
        let with = |h: Header| {
            let mut b = good.clone();
            put_header(&mut b, &h);
            b
        };
        let bad_record = |b: &[u8], i: usize| {
            assert!(
                matches!(verify(b), Err(VerifyError::BadRecord { offset, .. }) if offset == records[i].offset),
                "{:?}",
                verify(b)
            );
            assert_eq!(verify(b), verify_from(&Paged::new(b)));
            assert_eq!(verify(b).map(|_| ()), scan(b).map(|_| ()));
        };
        // Record magic.
        let mut b = good.clone();
        b[rec(1)] = 0;
        bad_record(&b, 1);
        // Flags without their complement.
        let mut b = good.clone();
        b[rec(1) + 2] = 0;
        bad_record(&b, 1);
        // Reserved flag bits, with a matching complement.
        let mut b = good.clone();
        b[rec(1) + 2..rec(1) + 4].copy_from_slice(&[0x85, 0x7A]);
        bad_record(&b, 1);
        // Reserved bytes.
        let mut b = good.clone();
        b[rec(3) + 22] = 1;
        bad_record(&b, 3);
        // Length over the maximum.
        let mut b = good.clone();
        b[rec(0) + 4..rec(0) + 8].copy_from_slice(&(MAX_PAYLOAD_BYTES + 1).to_le_bytes());
        bad_record(&b, 0);
        // Length past committed_len.
        let mut b = good.clone();
        b[rec(4) + 4..rec(4) + 8].copy_from_slice(&1000u32.to_le_bytes());
        bad_record(&b, 4);
        // Ids out of order.
        let mut b = good.clone();
        b[rec(2) + 8..rec(2) + 16].copy_from_slice(&1u64.to_le_bytes());
        bad_record(&b, 2);
        // Id not below next_message_id.
        let b = with(Header {
            next_message_id: 10,
            ..header
        });
        bad_record(&b, 4);
        // A record header cut by committed_len.
        let mut b = good.clone();
        b.truncate(records[4].offset as usize);
        b.extend_from_slice(&[0; 16]);
        let committed_len = b.len() as u64;
        put_header(
            &mut b,
            &Header {
                committed_len,
                ..header
            },
        );
        bad_record(&b, 4);
        // records_start not at a record.
        let b = with(Header {
            records_start: records[1].offset + 8,
            ..header
        });
        assert!(matches!(
            verify(&b),
            Err(VerifyError::BadRecord { offset, .. }) if offset == records[1].offset + 8
        ));
    }

    /// A payload that does not match its checksum, and counts that do not
    /// match the records.
    #[test]
    fn every_error_variant_of_a_checksum_or_a_count() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let rec = |i: usize| records[i].offset as usize;
        let with = |h: Header| {
            let mut b = good.clone();
            put_header(&mut b, &h);
            b
        };
        let mut b = good.clone();
        b[rec(3) + 24 + 100] ^= 0x40;
        expect(
            &b,
            VerifyError::RecordChecksum {
                offset: records[3].offset,
                message_id: 9,
            },
        );
        let mut b = good.clone();
        b[rec(0) + 17] ^= 1;
        assert_eq!(
            verify(&b),
            Err(VerifyError::RecordChecksum {
                offset: records[0].offset,
                message_id: 1,
            })
        );
        // scan skips payload checksums.
        assert_eq!(scan(&b), scan(&good));

        expect(
            &with(Header {
                message_count: 4,
                ..header
            }),
            VerifyError::CountMismatch {
                header: 4,
                found: 3,
            },
        );
        // A pending update counts: record 2 deleted by it, counts unchanged.
        expect(
            &with(Header {
                pending: Some(PendingFlags {
                    offset: records[1].offset,
                    flags: D,
                }),
                ..header
            }),
            VerifyError::CountMismatch {
                header: 3,
                found: 2,
            },
        );

        expect(
            &with(Header {
                dead_bytes: 0,
                ..header
            }),
            VerifyError::DeadBytesMismatch {
                header: 0,
                found: header.dead_bytes,
            },
        );
    }

    #[test]
    fn every_truncation_of_a_small_image() {
        for image in [sample(), build_image(7, SAMPLE)] {
            for cut in 0..image.len() {
                let err = verify(&image[..cut]).unwrap_err();
                let want = if cut < 4096 {
                    VerifyError::TooShort {
                        len_bytes: cut as u64,
                    }
                } else {
                    VerifyError::Truncated {
                        committed_len: image.len() as u64,
                        len_bytes: cut as u64,
                    }
                };
                assert_eq!(err, want, "{cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..16384)) {
            let r = verify(&bytes);
            prop_assert_eq!(&r, &verify_from(&bytes));
            if bytes.len() < 4096 {
                prop_assert_eq!(r, Err(VerifyError::TooShort { len_bytes: bytes.len() as u64 }));
            }
            let _ = scan(&bytes);
            let _ = read_header(&bytes);
            let _ = Header::decode(&bytes);
        }

        #[test]
        fn verify_never_panics_after_a_valid_header(
            generation in any::<u64>(),
            start_extra in prop_oneof![Just(0u64), 0u64..64, any::<u64>()],
            extra in prop_oneof![Just(0u64), 0u64..20_000, any::<u64>()],
            message_count in prop_oneof![0u64..4, any::<u64>()],
            next_message_id in prop_oneof![1u64..10, any::<u64>()],
            dead_bytes in prop_oneof![0u64..200, any::<u64>()],
            pending in prop::option::of((prop_oneof![0u64..200, any::<u64>()], 0u8..4)),
            // Skewed towards the bytes of a record magic and of zeros.
            tail in prop::collection::vec(any::<u8>(), 0..16384).prop_map(|v| {
                v.into_iter()
                    .map(|b| match b % 8 {
                        0 => 0x4D,
                        1 => 0x52,
                        2 | 3 => 0,
                        _ => b,
                    })
                    .collect::<Vec<u8>>()
            }),
        ) {
            let records_start = HEADER_BYTES.saturating_add(start_extra);
            let h = Header {
                generation,
                committed_len: records_start.saturating_add(extra),
                message_count,
                next_message_id,
                dead_bytes,
                records_start,
                pending: pending.map(|(delta, bits)| PendingFlags {
                    offset: records_start.saturating_add(delta),
                    flags: RecordFlags::from_bits(bits).unwrap(),
                }),
            };
            let mut bytes = build_image(0, []);
            put_header(&mut bytes, &h);
            bytes.extend_from_slice(&tail);
            let r = verify(&bytes);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&bytes)));
            let s = scan(&bytes);
            prop_assert_eq!(r.is_ok(), s.is_ok());
            let full = scan_verified(&Paged::new(&bytes));
            prop_assert_eq!(r.map(|v| v.generation), full.map(|(h, _)| h.generation));
        }

        #[test]
        fn verify_accepts_every_built_image(generation in 0..COUNTER_LIMIT, msgs in messages()) {
            let image = build_image(generation, msgs.clone());
            let live = msgs.iter().filter(|m| !m.1.contains(RecordFlags::DELETED)).count() as u64;
            let want = Verified { generation, message_count: live };
            prop_assert_eq!(verify(&image), Ok(want));
            prop_assert_eq!(verify_from(&Paged::new(&image)), Ok(want));
            let (header, records) = scan(&image).unwrap();
            prop_assert_eq!(header.committed_len, image.len() as u64);
            prop_assert_eq!(header.slot_offset(), SLOT_OFFSETS[(generation % 2) as usize]);
            let got: Vec<_> = records.iter().map(|r| (r.message_id, r.flags, r.payload_len)).collect();
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn verify_rejects_every_truncation(msgs in messages(), cut in any::<prop::sample::Index>()) {
            let image = build_image(1, msgs);
            let cut = cut.index(image.len());
            prop_assert!(verify(&image[..cut]).is_err());
            prop_assert!(verify_from(&Paged::new(&image[..cut])).is_err());
        }
    }
}
