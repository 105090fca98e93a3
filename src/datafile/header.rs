//! The header page: [`Header`], the fields of one slot, its encoding and
//! decoding; [`PendingFlags`], the flag update a header may carry; and
//! [`read_header`], which picks the file's current header from its two
//! slots.
//!
//! What does not live here: whether a header fits the records that follow
//! it ([`verify`](super::verify)).

use super::format::{
    COUNTER_LIMIT, FORMAT_VERSION, HEADER_BYTES, MAGIC, PAGE_BYTES_U32, SLOT_BYTES, SLOT_OFFSETS,
    VerifyError, le_u16, le_u32, le_u64,
};
use super::read_at::ReadAt;
use super::record::{RecordFlags, flag_bytes};

/// Slot bytes covered by the slot checksum.
const SLOT_CRC_AT: usize = 76;

/// A flag update committed in the header but perhaps not yet (or not
/// completely) written to the record: the record at `offset` is taken to have
/// `flags`, whatever its flag bytes hold. See
/// [the pending flag update](super#the-pending-flag-update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingFlags {
    /// Offset of the record in the file (the record's first byte, not its
    /// flag bytes).
    pub offset: u64,
    /// The record's flags.
    pub flags: RecordFlags,
}

/// The fields of one header slot.
///
/// `Default` is all zeros, which is *not* a valid header; use
/// [`Header::empty`] for the header of an empty file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Number of committed transactions since the file was created; the
    /// header lives in slot `generation % 2`.
    pub generation: u64,
    /// End offset of the last committed record (at least `records_start`).
    pub committed_len: u64,
    /// Number of live (not deleted) records.
    pub message_count: u64,
    /// Greater than every message id in the file; at least 1.
    pub next_message_id: u64,
    /// Total [`record_len`](super::record_len) of the deleted records still
    /// present.
    pub dead_bytes: u64,
    /// Offset of the first record (at least [`HEADER_BYTES`]); the records
    /// fill `records_start..committed_len`.
    pub records_start: u64,
    /// A flag update that overrides the flag bytes of one record; `None`
    /// when every record's flag bytes are current.
    pub pending: Option<PendingFlags>,
}

impl Header {
    /// Number of bytes of an encoded slot ([`SLOT_BYTES`], 80).
    pub const ENCODED_BYTES: usize = SLOT_BYTES;

    /// Header of an empty file: generation 0, committed_len and records_start
    /// [`HEADER_BYTES`], next id 1, no pending update.
    pub fn empty() -> Header {
        Header {
            generation: 0,
            committed_len: HEADER_BYTES,
            message_count: 0,
            next_message_id: 1,
            dead_bytes: 0,
            records_start: HEADER_BYTES,
            pending: None,
        }
    }

    /// Offset of the slot this header is written to:
    /// `SLOT_OFFSETS[generation % 2]`.
    pub const fn slot_offset(&self) -> u64 {
        SLOT_OFFSETS[(self.generation % 2) as usize]
    }

    /// Where compaction writes `compacted_len` bytes of live records:
    /// [`HEADER_BYTES`] when they fit before `records_start` (so
    /// `HEADER_BYTES + compacted_len <= records_start`), else
    /// `committed_len`. Either way the region is outside the records this
    /// header commits.
    pub const fn compaction_start(&self, compacted_len: u64) -> u64 {
        if compacted_len <= self.records_start.saturating_sub(HEADER_BYTES) {
            HEADER_BYTES
        } else {
            self.committed_len
        }
    }

    /// Checks that one more transaction can be committed on this header:
    /// the generation it bumps and the message id a delivery takes stay
    /// below [`COUNTER_LIMIT`] after it. A server checks this before every
    /// transaction and before it starts, so that it never writes a header a
    /// later start would refuse.
    ///
    /// # Errors
    /// [`VerifyError::NoRoom`] naming the first counter with no room left.
    pub const fn check_room(&self) -> Result<(), VerifyError> {
        if self.generation >= COUNTER_LIMIT - 1 {
            return Err(VerifyError::NoRoom {
                field: "generation",
                value: self.generation,
            });
        }
        if self.next_message_id >= COUNTER_LIMIT - 1 {
            return Err(VerifyError::NoRoom {
                field: "next_message_id",
                value: self.next_message_id,
            });
        }
        Ok(())
    }

    /// Encodes the slot: magic, version, page size, the fields and the
    /// checksum. Written at [`slot_offset`](Header::slot_offset).
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut b = [0u8; SLOT_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&PAGE_BYTES_U32.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..32].copy_from_slice(&self.committed_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.message_count.to_le_bytes());
        b[40..48].copy_from_slice(&self.next_message_id.to_le_bytes());
        b[48..56].copy_from_slice(&self.dead_bytes.to_le_bytes());
        b[56..64].copy_from_slice(&self.records_start.to_le_bytes());
        if let Some(p) = self.pending {
            b[64..72].copy_from_slice(&p.offset.to_le_bytes());
            b[72..74].copy_from_slice(&flag_bytes(p.flags));
        }
        let crc = crc32fast::hash(&b[..SLOT_CRC_AT]);
        b[SLOT_CRC_AT..SLOT_BYTES].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes one slot from the start of `slot_bytes` (at least
    /// [`SLOT_BYTES`]; any more are ignored). Checks the length, magic,
    /// version, page size, checksum, reserved bytes, and that the fields are
    /// sane: `HEADER_BYTES <= records_start <= committed_len`,
    /// next_message_id >= 1, and a pending update (if any) with flags and
    /// complement that match and an offset in `records_start..committed_len`.
    /// Never panics.
    ///
    /// To read a file's current header, which may be in either slot, use
    /// [`read_header`]; `Header::decode(file)` only reads slot A.
    pub fn decode(slot_bytes: &[u8]) -> Result<Header, VerifyError> {
        let Some(b) = slot_bytes.get(..SLOT_BYTES) else {
            return Err(VerifyError::TooShort {
                len_bytes: slot_bytes.len() as u64,
            });
        };
        if b.get(0..8) != Some(&MAGIC[..]) {
            return Err(VerifyError::BadMagic);
        }
        let version = le_u16(b, 8);
        if version != FORMAT_VERSION {
            return Err(VerifyError::UnsupportedVersion { version });
        }
        let page_bytes = le_u32(b, 12);
        if page_bytes != PAGE_BYTES_U32 {
            return Err(VerifyError::BadPageSize { page_bytes });
        }
        if b.get(..SLOT_CRC_AT).map(crc32fast::hash) != Some(le_u32(b, SLOT_CRC_AT)) {
            return Err(VerifyError::HeaderChecksum);
        }
        let bad = |reason| Err(VerifyError::BadHeader { reason });
        if le_u16(b, 10) != 0 {
            return bad("reserved bytes 10..12 are not zero");
        }
        if le_u16(b, 74) != 0 {
            return bad("reserved bytes 74..76 are not zero");
        }
        let pending_offset = le_u64(b, 64);
        let (flags_byte, complement) = (b.get(72).copied(), b.get(73).copied());
        let pending = if pending_offset == 0 {
            if flags_byte != Some(0) || complement != Some(0) {
                return bad("pending flags without a pending offset");
            }
            None
        } else {
            let (Some(bits), Some(complement)) = (flags_byte, complement) else {
                return bad("pending flags cannot be read");
            };
            if complement != !bits {
                return bad("pending flags do not match their complement");
            }
            let Some(flags) = RecordFlags::from_bits(bits) else {
                return bad("reserved pending flag bits set");
            };
            Some(PendingFlags {
                offset: pending_offset,
                flags,
            })
        };
        let header = Header {
            generation: le_u64(b, 16),
            committed_len: le_u64(b, 24),
            message_count: le_u64(b, 32),
            next_message_id: le_u64(b, 40),
            dead_bytes: le_u64(b, 48),
            records_start: le_u64(b, 56),
            pending,
        };
        if header.records_start < HEADER_BYTES {
            return bad("records start inside the header page");
        }
        if header.records_start > header.committed_len {
            return bad("records start past the committed length");
        }
        if header.next_message_id == 0 {
            return bad("next message id is zero");
        }
        if let Some(p) = header.pending
            && !(header.records_start..header.committed_len).contains(&p.offset)
        {
            return bad("pending flag update outside the committed records");
        }
        Ok(header)
    }
}

/// Reads the slot at `SLOT_OFFSETS[index]` of a file at least a header page long.
pub(super) fn read_slot<R: ReadAt + ?Sized>(file: &R, index: usize) -> Result<Header, VerifyError> {
    let mut slot = [0u8; SLOT_BYTES];
    if !file.read_at(SLOT_OFFSETS[index], &mut slot) {
        return Err(VerifyError::TooShort {
            len_bytes: file.len_bytes(),
        });
    }
    let header = Header::decode(&slot)?;
    if header.generation % 2 != index as u64 {
        return Err(VerifyError::BadHeader {
            reason: "generation does not belong in this slot",
        });
    }
    Ok(header)
}

/// The file's current header: of the two slots that are valid, the one with
/// the higher generation. When neither is valid, the error of slot A; a file
/// shorter than the header page is [`VerifyError::TooShort`]. Checks the
/// header alone, not whether it fits the records
/// ([`verify`](super::verify) does). Never panics.
pub fn read_header<R: ReadAt + ?Sized>(file: &R) -> Result<Header, VerifyError> {
    let len_bytes = file.len_bytes();
    if len_bytes < HEADER_BYTES {
        return Err(VerifyError::TooShort { len_bytes });
    }
    match (read_slot(file, 0), read_slot(file, 1)) {
        (Ok(a), Ok(b)) => Ok(if b.generation > a.generation { b } else { a }),
        (Ok(a), Err(_)) => Ok(a),
        (Err(_), Ok(b)) => Ok(b),
        (Err(e), Err(_)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::build_image;
    use crate::datafile::tests::{D, E, Paged, R, expect, header_of, put_header};

    #[test]
    fn header_round_trip() {
        let h = Header {
            generation: 42,
            committed_len: 123_456,
            message_count: 17,
            next_message_id: 99,
            dead_bytes: 512,
            records_start: 8192,
            pending: Some(PendingFlags {
                offset: 100_000,
                flags: R.with(D),
            }),
        };
        let bytes = h.encode();
        assert_eq!(bytes.len(), SLOT_BYTES);
        assert_eq!(Header::ENCODED_BYTES, 80);
        assert_eq!(&bytes[..8], b"MSMailDt");
        assert_eq!(bytes[8..10], 2u16.to_le_bytes());
        assert_eq!(bytes[10..12], [0, 0]);
        assert_eq!(bytes[12..16], 4096u32.to_le_bytes());
        assert_eq!(bytes[16..24], 42u64.to_le_bytes());
        assert_eq!(bytes[24..32], 123_456u64.to_le_bytes());
        assert_eq!(bytes[32..40], 17u64.to_le_bytes());
        assert_eq!(bytes[40..48], 99u64.to_le_bytes());
        assert_eq!(bytes[48..56], 512u64.to_le_bytes());
        assert_eq!(bytes[56..64], 8192u64.to_le_bytes());
        assert_eq!(bytes[64..72], 100_000u64.to_le_bytes());
        assert_eq!(bytes[72..74], [3, 0xFC]);
        assert_eq!(bytes[74..76], [0, 0]);
        assert_eq!(bytes[76..80], crc32fast::hash(&bytes[..76]).to_le_bytes());
        assert_eq!(Header::decode(&bytes), Ok(h));

        let none = Header { pending: None, ..h };
        let bytes = none.encode();
        assert_eq!(bytes[64..74], [0; 10]);
        assert_eq!(Header::decode(&bytes), Ok(none));
        // Extra bytes are ignored.
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[0xEE; 100]);
        assert_eq!(Header::decode(&longer), Ok(none));

        assert_eq!(
            Header::decode(&Header::empty().encode()),
            Ok(Header::empty())
        );
        assert_eq!(
            Header::decode(&bytes[..79]),
            Err(VerifyError::TooShort { len_bytes: 79 })
        );
    }

    #[test]
    fn slots_by_generation() {
        assert_eq!(SLOT_OFFSETS, [0, 512]);
        let at = |generation| {
            Header {
                generation,
                ..Header::empty()
            }
            .slot_offset()
        };
        assert_eq!(at(0), 0);
        assert_eq!(at(1), 512);
        assert_eq!(at(2), 0);
        assert_eq!(at(u64::MAX), 512);
        // The slots fit in the header page without overlapping.
        assert!(SLOT_OFFSETS[0] + SLOT_BYTES as u64 <= SLOT_OFFSETS[1]);
        assert!(SLOT_OFFSETS[1] + SLOT_BYTES as u64 <= HEADER_BYTES);
    }

    #[test]
    fn read_header_picks_the_valid_slot_with_the_higher_generation() {
        let image = build_image(4, [(1, E, 10)]);
        let h4 = header_of(&image);
        let h5 = Header {
            generation: 5,
            ..h4
        };

        // Both valid: the higher generation wins, whichever slot it is in.
        let mut both = image.clone();
        put_header(&mut both, &h5);
        assert_eq!(read_header(&both), Ok(h5));
        let h6 = Header {
            generation: 6,
            ..h4
        };
        put_header(&mut both, &h6);
        assert_eq!(read_header(&both), Ok(h6));

        // A garbled newer slot is not valid: the older one is current.
        let mut garbled = both.clone();
        garbled[20] ^= 0x55;
        assert_eq!(read_header(&garbled), Ok(h5));
        // So is a torn one (half of the new slot written over an old one).
        let mut torn = both.clone();
        let h8 = Header {
            generation: 8,
            message_count: 0,
            ..h4
        };
        torn[40..80].copy_from_slice(&h8.encode()[40..80]);
        assert_eq!(read_header(&torn), Ok(h5));

        // A header in the wrong slot for its generation is not valid.
        let mut wrong = image.clone();
        wrong[..SLOT_BYTES].copy_from_slice(&h5.encode());
        assert_eq!(
            read_header(&wrong),
            Err(VerifyError::BadHeader {
                reason: "generation does not belong in this slot"
            })
        );
        wrong[512..512 + SLOT_BYTES].copy_from_slice(&h4.encode());
        assert!(read_header(&wrong).is_err());

        // Neither valid: the error of slot A.
        assert_eq!(read_header(&vec![0u8; 4096]), Err(VerifyError::BadMagic));
        let mut b_only = build_image(5, []);
        assert_eq!(header_of(&b_only).generation, 5);
        b_only[520] ^= 1;
        assert_eq!(read_header(&b_only), Err(VerifyError::BadMagic));
        let mut a_bad = both.clone();
        a_bad[8] = 9;
        a_bad[512] = 0;
        assert_eq!(
            read_header(&a_bad),
            Err(VerifyError::UnsupportedVersion { version: 9 })
        );

        // Shorter than the header page.
        assert_eq!(
            read_header(&both[..4095]),
            Err(VerifyError::TooShort { len_bytes: 4095 })
        );
        assert_eq!(
            read_header(&both[..0]),
            Err(VerifyError::TooShort { len_bytes: 0 })
        );
        assert_eq!(read_header(&Paged::new(&both)), Ok(h6));
    }

    /// A version 1 file: one 64-byte header at offset 0, as the previous
    /// version of this module wrote it.
    fn v1_image() -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&1u16.to_le_bytes());
        b[12..16].copy_from_slice(&4096u32.to_le_bytes());
        b[24..32].copy_from_slice(&4096u64.to_le_bytes());
        b[40..48].copy_from_slice(&1u64.to_le_bytes());
        let crc = crc32fast::hash(&b[..56]);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn version_1_files_are_unsupported() {
        expect(&v1_image(), VerifyError::UnsupportedVersion { version: 1 });
    }

    #[test]
    fn header_decode_errors() {
        let h = Header::empty().encode();
        let mut b = h;
        b[3] = 0;
        assert_eq!(Header::decode(&b), Err(VerifyError::BadMagic));
        let mut b = h;
        b[8] = 1;
        assert_eq!(
            Header::decode(&b),
            Err(VerifyError::UnsupportedVersion { version: 1 })
        );
        let mut b = h;
        b[13] = 0;
        assert_eq!(
            Header::decode(&b),
            Err(VerifyError::BadPageSize { page_bytes: 0 })
        );
        let mut b = h;
        b[79] ^= 1;
        assert_eq!(Header::decode(&b), Err(VerifyError::HeaderChecksum));
        assert_eq!(
            Header::decode(&v1_image()),
            Err(VerifyError::UnsupportedVersion { version: 1 })
        );
        assert_eq!(
            Header::decode(&[]),
            Err(VerifyError::TooShort { len_bytes: 0 })
        );
    }
}
