//! Records: their [`RecordFlags`], the bytes one occupies
//! ([`record_len`]), the two flag bytes written in place ([`flag_bytes`]),
//! how one is encoded ([`encode_record`]), and where one is and what its
//! header says ([`RecordInfo`]).
//!
//! What does not live here: reading and checking records in a file
//! ([`verify`](super::verify), [`record_at`](super::record_at)), and the
//! synthetic mail a simulated delivery writes (`synthetic`).

use crc32fast::Hasher;

use super::format::{MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, RECORD_HEADER_LEN, RECORD_MAGIC};

/// The flags of a record: [`READ`](RecordFlags::READ) and
/// [`DELETED`](RecordFlags::DELETED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RecordFlags(u8);

impl RecordFlags {
    /// The recipient has opened the message (bit 0).
    pub const READ: RecordFlags = RecordFlags(1);
    /// The message is deleted; its record stays until compaction (bit 1).
    pub const DELETED: RecordFlags = RecordFlags(2);
    const ALL_BITS: u8 = 3;

    /// No flags set.
    pub const fn empty() -> RecordFlags {
        RecordFlags(0)
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: RecordFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` set as well.
    #[must_use]
    pub const fn with(self, other: RecordFlags) -> RecordFlags {
        RecordFlags(self.0 | other.0)
    }

    /// The flags byte as stored on disk.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from a stored byte; `None` if a bit other than READ or DELETED
    /// is set.
    pub const fn from_bits(bits: u8) -> Option<RecordFlags> {
        if bits & !Self::ALL_BITS == 0 {
            Some(RecordFlags(bits))
        } else {
            None
        }
    }
}

/// Bytes a record with a `payload_len`-byte payload occupies: the 24-byte
/// header plus the payload rounded up to a multiple of 8.
pub const fn record_len(payload_len: u32) -> u64 {
    RECORD_HEADER_BYTES + ((payload_len as u64 + 7) & !7)
}

/// The two bytes to write at `record_offset + FLAGS_OFFSET` to set `flags` in place.
pub const fn flag_bytes(flags: RecordFlags) -> [u8; 2] {
    [flags.0, !flags.0]
}

/// Appends one record whose payload `fill` appends (exactly `payload_len`
/// bytes), computing the checksum over what was written.
pub(super) fn push_record(
    message_id: u64,
    flags: RecordFlags,
    payload_len: u32,
    out: &mut Vec<u8>,
    fill: impl FnOnce(&mut Vec<u8>),
) {
    assert!(
        payload_len <= MAX_PAYLOAD_BYTES,
        "payload of {payload_len} bytes exceeds MAX_PAYLOAD_BYTES"
    );
    let start = out.len();
    let payload_start = start + RECORD_HEADER_LEN;
    let end = start + record_len(payload_len) as usize;
    out.reserve(end - start);
    let mut rh = [0u8; RECORD_HEADER_LEN];
    rh[0..2].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    rh[2..4].copy_from_slice(&flag_bytes(flags));
    rh[4..8].copy_from_slice(&payload_len.to_le_bytes());
    rh[8..16].copy_from_slice(&message_id.to_le_bytes());
    out.extend_from_slice(&rh);
    fill(out);
    assert_eq!(
        out.len() - payload_start,
        payload_len as usize,
        "payload filler wrote the wrong length"
    );
    let mut hasher = Hasher::new();
    hasher.update(&rh[4..16]);
    hasher.update(&out[payload_start..]);
    out[start + 16..start + 20].copy_from_slice(&hasher.finalize().to_le_bytes());
    out.resize(end, 0);
}

/// Appends the encoded record (header, payload, padding) to `out`.
///
/// # Panics
///
/// If `payload` is longer than [`MAX_PAYLOAD_BYTES`].
pub fn encode_record(message_id: u64, flags: RecordFlags, payload: &[u8], out: &mut Vec<u8>) {
    let payload_len = u32::try_from(payload.len())
        .ok()
        .filter(|&n| n <= MAX_PAYLOAD_BYTES)
        .unwrap_or_else(|| {
            panic!(
                "payload of {} bytes exceeds MAX_PAYLOAD_BYTES",
                payload.len()
            )
        });
    push_record(message_id, flags, payload_len, out, |out| {
        out.extend_from_slice(payload)
    });
}

/// Where a record is and what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Offset of the record's first byte in the file.
    pub offset: u64,
    /// The record's message id.
    pub message_id: u64,
    /// The record's flags.
    pub flags: RecordFlags,
    /// Length of the payload.
    pub payload_len: u32,
    /// Bytes the record occupies, padding included ([`record_len`]).
    pub record_len: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::tests::{D, R};

    #[test]
    fn record_len_and_encode_record() {
        assert_eq!(record_len(0), 24);
        assert_eq!(record_len(1), 32);
        assert_eq!(record_len(8), 32);
        assert_eq!(record_len(9), 40);
        assert_eq!(record_len(u32::MAX), 24 + (1u64 << 32));
        let mut out = vec![0xAA];
        encode_record(77, R, b"hello", &mut out);
        assert_eq!(out.len(), 1 + 32);
        assert_eq!(out[1..3], *b"MR");
        assert_eq!(out[3..5], flag_bytes(R));
        assert_eq!(out[3..5], [1, 0xFE]);
        assert_eq!(out[5..9], 5u32.to_le_bytes());
        assert_eq!(out[9..17], 77u64.to_le_bytes());
        let mut h = Hasher::new();
        h.update(&out[5..17]);
        h.update(b"hello");
        assert_eq!(out[17..21], h.finalize().to_le_bytes());
        assert_eq!(out[21..25], [0; 4]);
        assert_eq!(out[25..30], *b"hello");
        assert_eq!(out[30..], [0; 3]);
    }

    #[test]
    fn flags_api() {
        assert!(RecordFlags::empty().contains(RecordFlags::empty()));
        assert!(!RecordFlags::empty().contains(R));
        let rd = R.with(D);
        assert!(rd.contains(R) && rd.contains(D) && rd.contains(rd));
        assert_eq!(rd.bits(), 3);
        assert_eq!(RecordFlags::from_bits(3), Some(rd));
        assert_eq!(RecordFlags::from_bits(4), None);
        assert_eq!(RecordFlags::default(), RecordFlags::empty());
    }
}
