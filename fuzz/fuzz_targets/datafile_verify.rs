//! Arbitrary bytes as a Microsoft Mail Data file: `verify`, `verify_from`,
//! `scan` and `Header::decode` never panic, and agree with each other.
//!
//! Each input is checked three ways:
//! 1. as the file itself;
//! 2. *compact*: bytes `0..80` are slot A, `80..160` slot B, the rest is
//!    what follows the 4096-byte header page, which is otherwise zeros (so
//!    the fuzzer does not spend its mutations on the ignored rest of the
//!    page, and small inputs reach the records);
//! 3. the compact file with its slot and record checksums recomputed, so
//!    that the fuzzer gets past the CRCs to the counts, the pending flag
//!    update and the id order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsim::datafile::{
    self, HEADER_BYTES, Header, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RecordFlags, SLOT_BYTES,
    SLOT_OFFSETS, VerifyError,
};

/// Bytes of the compact form that go to the two header slots.
const COMPACT_SLOTS: usize = 2 * SLOT_BYTES;
/// Where the slot checksum is.
const SLOT_CRC_AT: usize = SLOT_BYTES - 4;

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut file = expand(data);
    check(&file);
    if repair(&mut file) {
        check(&file);
    }
});

/// The compact form's file: a zero header page with the two slots from the
/// input, then the rest of the input.
fn expand(data: &[u8]) -> Vec<u8> {
    let mut file = vec![0u8; HEADER_BYTES as usize];
    let (slots, rest) = data.split_at(data.len().min(COMPACT_SLOTS));
    for (i, slot) in slots.chunks(SLOT_BYTES).enumerate() {
        let at = SLOT_OFFSETS[i] as usize;
        file[at..at + slot.len()].copy_from_slice(slot);
    }
    file.extend_from_slice(rest);
    file
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Recomputes both slots' checksums, then the checksum of every record the
/// current header commits (as far as they fit in the file). Returns whether
/// anything changed.
fn repair(file: &mut [u8]) -> bool {
    let before = file.to_vec();
    for at in SLOT_OFFSETS {
        let at = at as usize;
        let crc = crc32fast::hash(&file[at..at + SLOT_CRC_AT]);
        file[at + SLOT_CRC_AT..at + SLOT_BYTES].copy_from_slice(&crc.to_le_bytes());
    }
    if let Ok(h) = datafile::read_header(&*file) {
        let end = h.committed_len.min(file.len() as u64);
        let mut offset = h.records_start;
        while offset.saturating_add(RECORD_HEADER_BYTES) <= end {
            let at = offset as usize;
            let payload_len = le_u32(file, at + 4);
            if payload_len > MAX_PAYLOAD_BYTES {
                break;
            }
            let payload_end = at + RECORD_HEADER_BYTES as usize + payload_len as usize;
            if payload_end > file.len() {
                break;
            }
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&file[at + 4..at + 16]);
            hasher.update(&file[at + RECORD_HEADER_BYTES as usize..payload_end]);
            let crc = hasher.finalize();
            file[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
            offset += datafile::record_len(payload_len);
        }
    }
    file != before.as_slice()
}

fn check(file: &[u8]) {
    // Each slot: decode accepts only what encode writes.
    for at in SLOT_OFFSETS {
        let Some(slot) = file.get(at as usize..) else {
            continue;
        };
        if let Ok(h) = Header::decode(slot) {
            assert_eq!(
                h.encode()[..],
                slot[..SLOT_BYTES],
                "Header::decode accepted a slot that encode does not write: {h:?}"
            );
        }
    }

    let verified = datafile::verify(file);
    let streamed = datafile::verify_from(file);
    assert_eq!(verified, streamed, "verify and verify_from disagree");
    let scanned = datafile::scan(file);
    let header = datafile::read_header(file);

    match (&verified, &scanned) {
        (Ok(v), Ok((h, records))) => {
            assert_eq!(
                v.generation, h.generation,
                "verify and scan disagree on the generation"
            );
            assert_eq!(
                v.message_count, h.message_count,
                "verify and scan disagree on the message count"
            );
            let live = records
                .iter()
                .filter(|r| !r.flags.contains(RecordFlags::DELETED))
                .count() as u64;
            assert_eq!(
                live, h.message_count,
                "scan's records and its header's count disagree"
            );
            check_records(h, records);
            assert_eq!(
                header.as_ref().ok(),
                Some(h),
                "scan's header is not the current header"
            );
        }
        (Ok(v), Err(e)) => panic!("verify accepted the file ({v:?}) but scan rejected it: {e}"),
        // scan skips only the payload checksums: where verify fails for
        // another reason, so does scan, with the same error.
        (Err(e), Ok(_)) => assert!(
            matches!(e, VerifyError::RecordChecksum { .. }),
            "scan accepted a file that verify rejected with {e:?}"
        ),
        // verify stops at the first bad payload checksum; scan reads on.
        (Err(VerifyError::RecordChecksum { .. }), Err(_)) => {}
        (Err(ve), Err(se)) => assert_eq!(ve, se, "verify and scan fail differently"),
    }
    if let Err(e) = &header {
        assert_eq!(
            scanned.as_ref().err(),
            Some(e),
            "scan reports another header error"
        );
    }
}

/// What scan's records must look like when the file verifies.
fn check_records(h: &Header, records: &[datafile::RecordInfo]) {
    let mut offset = h.records_start;
    let mut dead = 0u64;
    let mut prev_id = None;
    for r in records {
        assert_eq!(r.offset, offset, "records are not back to back");
        assert_eq!(r.record_len, datafile::record_len(r.payload_len));
        assert!(r.payload_len <= MAX_PAYLOAD_BYTES);
        assert!(
            prev_id.is_none_or(|p| r.message_id > p),
            "ids not increasing"
        );
        assert!(
            r.message_id < h.next_message_id,
            "id not below next_message_id"
        );
        if r.flags.contains(RecordFlags::DELETED) {
            dead += r.record_len;
        }
        if let Some(p) = h.pending
            && p.offset == r.offset
        {
            assert_eq!(r.flags, p.flags, "the pending flags were not applied");
        }
        prev_id = Some(r.message_id);
        offset += r.record_len;
    }
    assert_eq!(
        offset, h.committed_len,
        "records do not end at committed_len"
    );
    assert_eq!(dead, h.dead_bytes, "dead bytes disagree");
}
