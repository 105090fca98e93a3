//! The format's vocabulary: the names of the data file and of its copies,
//! the constants of the layout, and [`VerifyError`], why bytes are not a
//! consistent file; also the little-endian reads every parser shares.
//!
//! What does not live here: the layout's documentation (the
//! [module's](super)), and the code that reads and writes the header
//! ([`Header`](super::Header)), the records and whole files.

/// The data file's name on its volume, as on the Mac.
pub const MAIL_DATA: &str = "Microsoft Mail Data";

/// The base name of MS Mail Backup's copies of the data file: "Mail Data
/// Backup #1" is the newest, then #2, ….
pub const COPY_BASE_NAME: &str = "Mail Data Backup";

/// The name of copy `n` of the data file: `"Mail Data Backup #n"`.
pub fn copy_name(n: u32) -> String {
    format!("{COPY_BASE_NAME} #{n}")
}

/// The number of a copy's name (`"Mail Data Backup #3"` is 3; `"#03"` and
/// `"#0"` are not copies).
pub fn copy_number(name: &str) -> Option<u32> {
    let n: u32 = name
        .strip_prefix(COPY_BASE_NAME)?
        .strip_prefix(" #")?
        .parse()
        .ok()?;
    (n >= 1 && name == copy_name(n)).then_some(n)
}

/// Whether a file of this name is the data file or a copy of it made
/// aside: the one place that decides it, for the runners' judgement, the
/// report's pictures and the demo. (A copy under another name is
/// recognised by its contents, by the oracle.)
pub fn is_mail_data_name(name: &str) -> bool {
    name == MAIL_DATA || name.starts_with(COPY_BASE_NAME)
}

/// The file's magic number, the first 8 bytes of each header slot.
pub const MAGIC: [u8; 8] = *b"MSMailDt";

/// The only format version this module reads and writes (2: two header
/// slots, records_start and a pending flag update; version 1 had one header).
pub const FORMAT_VERSION: u16 = 2;

/// Size of the header page, which holds the two header slots; the records of
/// a new file start at this offset.
pub const HEADER_BYTES: u64 = 4096;

/// Offsets of the two header slots in the header page: slot A holds the even
/// generations, slot B the odd ones.
pub const SLOT_OFFSETS: [u64; 2] = [0, 512];

/// Size of one encoded header slot.
pub const SLOT_BYTES: usize = 80;

/// The page size recorded in the header.
pub const PAGE_BYTES: u64 = PAGE_BYTES_U32 as u64;

/// Magic number at the start of every record (the bytes `"MR"` on disk).
pub const RECORD_MAGIC: u16 = 0x524D;

/// Size of a record's fixed header, before the payload.
pub const RECORD_HEADER_BYTES: u64 = RECORD_HEADER_LEN as u64;

/// Offset, within a record, of the flags byte and its complement (two bytes).
pub const FLAGS_OFFSET: u64 = 2;

/// The limit of the header's counters (`generation` and
/// `next_message_id`): a header holding it fails [`verify`](super::verify)
/// with [`VerifyError::CounterAtLimit`], and a transaction that would bring
/// a counter to it is refused
/// ([`Header::check_room`](super::Header::check_room)). Nothing wraps.
pub const COUNTER_LIMIT: u64 = u64::MAX;

/// Largest payload a record may carry (16 MiB); verify rejects larger lengths.
pub const MAX_PAYLOAD_BYTES: u32 = 16 << 20;

/// The page size as the header stores it.
pub(super) const PAGE_BYTES_U32: u32 = 4096;
/// [`HEADER_BYTES`] as an index.
pub(super) const HEADER_PAGE_LEN: usize = 4096;
/// [`RECORD_HEADER_BYTES`] as an index.
pub(super) const RECORD_HEADER_LEN: usize = 24;

/// Why a file image is not a consistent "Microsoft Mail Data" file.
///
/// The header variants (`TooShort` to `BadHeader`) describe one slot: from
/// [`Header::decode`](super::Header::decode) that slot, from
/// [`read_header`](super::read_header), [`verify`](super::verify) and
/// [`scan`](super::scan) slot A when neither slot is valid. `BadHeader` is also reported for a
/// valid header that does not fit the records (a pending flag update that is
/// not at the start of a record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file is shorter than its 4096-byte header page (or the bytes given
    /// to [`Header::decode`](super::Header::decode) are fewer than
    /// [`SLOT_BYTES`]).
    #[error("too short: the file has {len_bytes} bytes, not enough for the header page")]
    TooShort {
        /// Length of the file.
        len_bytes: u64,
    },
    /// The first 8 bytes of the slot are not [`MAGIC`].
    #[error("bad magic: not a microsoft mail data file")]
    BadMagic,
    /// A format version other than [`FORMAT_VERSION`] (1 for a file written
    /// before the two-slot header).
    #[error("unsupported format version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// A page size other than [`PAGE_BYTES`].
    #[error("bad page size {page_bytes}, expected {PAGE_BYTES}")]
    BadPageSize {
        /// The page size found.
        page_bytes: u32,
    },
    /// The slot checksum does not match slot bytes `0..76`.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// A header whose checksum matches but whose fields are impossible, or
    /// that does not fit the records.
    #[error("bad header: {reason}")]
    BadHeader {
        /// What is wrong.
        reason: &'static str,
    },
    /// The file is shorter than the length the header commits.
    #[error("truncated: header commits {committed_len} bytes but the file has {len_bytes}")]
    Truncated {
        /// The header's committed length.
        committed_len: u64,
        /// Length of the file.
        len_bytes: u64,
    },
    /// A record header that does not parse, or does not fit, or breaks the
    /// id order.
    #[error("bad record at offset {offset}: {reason}")]
    BadRecord {
        /// Offset of the record in the file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A record whose checksum does not match its length, id and payload.
    #[error("record checksum mismatch at offset {offset} (message {message_id})")]
    RecordChecksum {
        /// Offset of the record in the file.
        offset: u64,
        /// The message id the record claims.
        message_id: u64,
    },
    /// The header's message_count differs from the number of live records.
    #[error("count mismatch: header says {header} live messages but the records hold {found}")]
    CountMismatch {
        /// The header's message_count.
        header: u64,
        /// Live records found.
        found: u64,
    },
    /// A counter of the header (`generation`, `next_message_id`) is at the
    /// format's limit, [`COUNTER_LIMIT`]: no server could have committed
    /// it, and no transaction could follow it. A server that follows the
    /// protocol refuses the transaction that would get there
    /// ([`Header::check_room`](super::Header::check_room)).
    #[error("{field} is at the format's limit ({value}): no transaction can follow it")]
    CounterAtLimit {
        /// The header field: `generation` or `next_message_id`.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A valid header whose counter (`generation`, `next_message_id`)
    /// leaves no room for another transaction: the next one would bring it
    /// to [`COUNTER_LIMIT`]. The file verifies, but no server can commit to
    /// it ([`Header::check_room`](super::Header::check_room)).
    #[error(
        "{field} {value} leaves no room for another transaction (the format's limit is {})",
        COUNTER_LIMIT
    )]
    NoRoom {
        /// The header field: `generation`, `next_message_id`, or another counter a
        /// server's transaction would overflow (`committed_len`).
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The header's dead_bytes differs from the size of the deleted records.
    #[error("dead bytes mismatch: header says {header} but deleted records take {found}")]
    DeadBytesMismatch {
        /// The header's dead_bytes.
        header: u64,
        /// Total record_len of the deleted records found.
        found: u64,
    },
}

pub(super) fn le_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at.saturating_add(2)) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

pub(super) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at.saturating_add(4)) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(super) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at.saturating_add(8)) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        let e = VerifyError::Truncated {
            committed_len: 5_242_880,
            len_bytes: 4096,
        };
        assert_eq!(
            e.to_string(),
            "truncated: header commits 5242880 bytes but the file has 4096"
        );
        for e in [
            VerifyError::TooShort { len_bytes: 3 },
            VerifyError::BadMagic,
            VerifyError::UnsupportedVersion { version: 9 },
            VerifyError::BadPageSize { page_bytes: 1 },
            VerifyError::HeaderChecksum,
            VerifyError::BadHeader { reason: "x" },
            VerifyError::BadRecord {
                offset: 4096,
                reason: "bad record magic",
            },
            VerifyError::RecordChecksum {
                offset: 4096,
                message_id: 3,
            },
            VerifyError::CountMismatch {
                header: 1,
                found: 2,
            },
            VerifyError::DeadBytesMismatch {
                header: 1,
                found: 2,
            },
        ] {
            let s = e.to_string();
            assert!(!s.contains('\n'));
            assert!(s.chars().next().unwrap().is_lowercase(), "{s}");
        }
    }
}
