//! The on-disk format of "Microsoft Mail Data", the data file that the
//! Microsoft Mail for AppleTalk server keeps open (Microsoft KB Q98097).
//!
//! The server never closes the file while it runs. It appends one record per
//! delivery, sets a record's READ flag when the recipient opens the message,
//! sets its DELETED flag when the message is thrown away, and compacts the
//! file now and then; every transaction ends by committing a new header, which
//! bumps the generation. A backup program that copies the file while the
//! server writes to it can therefore get a *torn* copy: a header page from one
//! generation with records from another, a flag byte that is newer than the
//! header's counts, a record cut in half.
//!
//! This is format version 2 ([`FORMAT_VERSION`]), which is also **crash
//! safe**: a server that follows the [commit protocol](#commit-protocol) can
//! crash at any point, with the writes it has not yet synced kept, dropped, or
//! replaced by garbage (sector by sector: see the [crash model](#crash-model)),
//! and the file still [`verify`]s and holds either the
//! state before the interrupted transaction or the state after it. Version 1
//! rewrote its one header in place and compacted records in place, so one
//! garbled header or flag write lost the file; this module no longer reads it
//! (a version 1 file is [`VerifyError::UnsupportedVersion`]).
//!
//! [`verify`] is the format's own consistency check. It is deliberately
//! weaker than "this copy equals some state the server committed": bytes
//! outside the committed records are ignored, so a copy whose header predates
//! an append still passes, and a READ flag set in place does not change any
//! count, so a copy that sees it early or late still passes too. What it does
//! catch is any copy that is not *internally* consistent: no valid header, a
//! record that does not parse, a payload whose checksum does not match, or
//! counts in the header that disagree with the flags in the records (for
//! example a DELETED flag copied after the server set it, with a header page
//! copied before the server committed the deletion).
//!
//! # Layout
//!
//! All integers are little-endian.
//!
//! ## Header page: bytes `0..4096` ([`HEADER_BYTES`])
//!
//! The page holds two header slots of [`SLOT_BYTES`] = 80 bytes each
//! ([`SLOT_OFFSETS`]): slot A at offset 0 and slot B at offset 512. The rest
//! of the page is written as zeros and ignored when read.
//!
//! A header of generation `g` is always written to slot `g % 2`
//! ([`Header::slot_offset`]), so writing generation `g` never overwrites the
//! current header (generation `g - 1`, in the other slot). A slot is *valid*
//! when [`Header::decode`] accepts it (magic, version, page size, checksum,
//! reserved bytes, sane fields) and its generation's parity matches the slot;
//! a torn, garbled or never-written slot is simply not valid. The file's
//! **current header** ([`read_header`]) is the valid slot with the higher
//! generation. When neither slot is valid the file is rejected with the error
//! of slot A (random bytes give [`VerifyError::BadMagic`], a version 1 file
//! [`VerifyError::UnsupportedVersion`]); a file shorter than the header page
//! is [`VerifyError::TooShort`].
//!
//! Each slot ([`Header::encode`]):
//!
//! | Bytes    | Type      | Field                                                                       |
//! |----------|-----------|-----------------------------------------------------------------------------|
//! | `0..8`   | `[u8; 8]` | magic [`MAGIC`], `b"MSMailDt"`                                              |
//! | `8..10`  | `u16`     | format version, [`FORMAT_VERSION`] = 2                                      |
//! | `10..12` | `u16`     | reserved, 0                                                                 |
//! | `12..16` | `u32`     | page size, [`PAGE_BYTES`] = 4096                                            |
//! | `16..24` | `u64`     | generation: committed transactions since the file was created; its parity is the slot's index |
//! | `24..32` | `u64`     | committed_len: end offset of the last committed record (>= records_start)   |
//! | `32..40` | `u64`     | message_count: number of live (not deleted) records                         |
//! | `40..48` | `u64`     | next_message_id: greater than every message id in the file (>= 1)           |
//! | `48..56` | `u64`     | dead_bytes: total [`record_len`] of the deleted records still present       |
//! | `56..64` | `u64`     | records_start: offset of the first record (>= 4096, <= committed_len)       |
//! | `64..72` | `u64`     | pending offset: the record of the [pending flag update](#the-pending-flag-update), 0 for none |
//! | `72`     | `u8`      | pending flags (0 when there is none)                                        |
//! | `73`     | `u8`      | `!` pending flags (0 when there is none)                                    |
//! | `74..76` | `u16`     | reserved, 0                                                                 |
//! | `76..80` | `u32`     | slot checksum: CRC-32 (`crc32fast`) of bytes `0..76`                        |
//!
//! ## Records: from records_start up to committed_len, back to back
//!
//! A new file's records start right after the header page; compaction moves
//! them ([`Header::compaction_start`]). Outside the header page, bytes outside
//! `records_start..committed_len` are not part of the file's state: they may
//! hold a record being appended, compacted records not yet committed, or
//! records left behind by an earlier compaction.
//!
//! Each record is a 24-byte header ([`RECORD_HEADER_BYTES`]), the payload,
//! and zero padding up to a multiple of 8 bytes, so a record occupies
//! [`record_len`]`(payload_len) = 24 + round_up(payload_len, 8)` bytes.
//!
//! | Bytes    | Type  | Field                                                                      |
//! |----------|-------|----------------------------------------------------------------------------|
//! | `0..2`   | `u16` | record magic [`RECORD_MAGIC`] = `0x524D` (the bytes `"MR"`)                |
//! | `2`      | `u8`  | flags: bit 0 [`RecordFlags::READ`], bit 1 [`RecordFlags::DELETED`], others 0 |
//! | `3`      | `u8`  | `!flags`, the bitwise complement of byte 2                                 |
//! | `4..8`   | `u32` | payload_len, at most [`MAX_PAYLOAD_BYTES`]                                 |
//! | `8..16`  | `u64` | message_id, strictly increasing through the file, < next_message_id       |
//! | `16..20` | `u32` | checksum: CRC-32 of record bytes `4..16` followed by the payload           |
//! | `20..24` | `u32` | reserved, 0                                                                |
//! | `24..24+payload_len` | | payload                                                            |
//! | then     |       | zero padding to a multiple of 8, ignored                                   |
//!
//! The checksum covers the length, the id and the payload but not the flags,
//! so the server can set a flag by writing the two bytes at
//! `record_offset +` [`FLAGS_OFFSET`] ([`flag_bytes`]) without rewriting the
//! rest of the record; the complement byte still lets a reader check them.
//!
//! ## The pending flag update
//!
//! When the current header carries `pending: Some(`[`PendingFlags`]` { offset,
//! flags })`, the record at `offset` is taken to have `flags` **whatever its
//! flag bytes hold**: the old flags, the new ones, or garbage left by an
//! interrupted write. Those two bytes are not checked; [`verify`] and [`scan`]
//! apply the pending flags instead (the header's counts include them, and
//! [`scan`] reports them in [`RecordInfo::flags`]). The pending offset must be
//! the start of a record in `records_start..committed_len`.
//!
//! # Commit protocol
//!
//! "Write" is a positioned write; "sync" makes every earlier write durable
//! (`fdatasync`). A crash may keep, drop or garble any write not yet synced;
//! synced writes survive (the crash model below). Let `h` be the
//! current header, of generation `g`, and `h'` the header that commits the
//! transaction: generation `g + 1`, `pending: None` unless said otherwise,
//! written as `h'.encode()` at `h'.slot_offset()` (the slot `h` is *not* in).
//!
//! - **Delivery.** Write the record ([`encode_record`], flags empty) at
//!   `h.committed_len`; sync. Write `h'` with committed_len increased by the
//!   record's length, message_count + 1, next_message_id + 1; sync.
//! - **Flag update** (mark read, delete) of the record at offset `r`, whose
//!   flags become `f`. Write `h'` with `pending: Some(PendingFlags { offset: r,
//!   flags: f })` (for a deletion also message_count − 1 and dead_bytes + the
//!   record's length); sync. Write [`flag_bytes`]`(f)` at `r +`
//!   [`FLAGS_OFFSET`]; sync. The next header written clears the pending update:
//!   that is safe because the flag bytes are synced by then.
//! - **Compaction.** Let `n` be the total length of the live records and
//!   `s = h.`[`compaction_start`](Header::compaction_start)`(n)`: [`HEADER_BYTES`]
//!   when the live records fit before `h.records_start`, else
//!   `h.committed_len`. Write the live records back to back at `s` (each a copy
//!   of the record, its flag bytes set to its current flags); sync. Write `h'`
//!   with records_start `s`, committed_len `s + n`, dead_bytes 0; sync. After
//!   that sync the server may truncate the file to `s + n`.
//! - **Opening** (after a crash, or any time): read the file with [`scan`]. If
//!   its header has a pending update `p`, write `flag_bytes(p.flags)` at
//!   `p.offset + FLAGS_OFFSET` and sync **before committing any header**: after
//!   a crash the flag bytes may be old or garbage, and the next header clears
//!   the pending update.
//!
//! Why this is safe: until the sync after the write of `h'`, every write of a
//! transaction lands outside the state of `h` (past committed_len, before
//! records_start, or in the other slot), so a crash leaves `h` and its state
//! intact, and the slot of `h'` holds either all of `h'` (the state after)
//! or something that is not valid, or an older header, neither of which beats
//! `h` (the state before). After that sync, `h'` is valid and its state is
//! complete except for the flag bytes of its pending record, which it
//! overrides. A header without a pending update is only written when every
//! flag byte of its state is synced.
//!
//! The other slot is a fallback for a header write that did not complete, not
//! a backup: once `h'` is synced, the older header describes the file before
//! the flag write of `h'`, and its records may since have been overwritten, so
//! a file whose current slot is damaged later may verify as an older state or
//! not at all.
//!
//! ## Crash model
//!
//! The guarantee holds for the crash model of SQLite's crash-test file system
//! (`test6.c`) on a device with powersafe overwrite: at a crash, each
//! sector's share of each unsynced write is written, not written, or replaced
//! by garbage, independently, and no byte outside the unsynced writes
//! changes. Each slot lies inside one 512-byte sector (also inside one
//! 128- or 256-byte sector), so a crash leaves a slot whole, untouched or all
//! garbage. The module's tests check this model with 128-, 256- and 512-byte
//! sectors over random transactions, crashes, and crashes during recovery.
//!
//! Below a sector the protocol is not safe: if a crash could garble *part*
//! of a slot and keep the rest, the next attempt at that generation (after
//! the restart, a different transaction) writes mostly the same bytes there
//! (magic, version, page size, generation, ...), and a torn write of it can
//! complete the aborted header.
//!
//! # Robustness
//!
//! [`verify`], [`verify_from`], [`scan`], [`read_header`] and
//! [`Header::decode`] accept arbitrary bytes: they never panic, and never
//! allocate in proportion to a length field they have not checked against the
//! bytes actually present.

use crc32fast::Hasher;

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
/// `next_message_id`): a header holding it fails [`verify`] with
/// [`VerifyError::CounterAtLimit`], and a transaction that would bring a
/// counter to it is refused ([`Header::check_room`]). Nothing wraps.
pub const COUNTER_LIMIT: u64 = u64::MAX;

/// Largest payload a record may carry (16 MiB); verify rejects larger lengths.
pub const MAX_PAYLOAD_BYTES: u32 = 16 << 20;

const PAGE_BYTES_U32: u32 = 4096;
const HEADER_PAGE_LEN: usize = 4096;
const RECORD_HEADER_LEN: usize = 24;
/// Slot bytes covered by the slot checksum.
const SLOT_CRC_AT: usize = 76;
/// Largest piece of payload [`verify_from`] reads at once.
const STREAM_CHUNK: usize = 256 << 10;

/// Why a file image is not a consistent "Microsoft Mail Data" file.
///
/// The header variants (`TooShort` to `BadHeader`) describe one slot: from
/// [`Header::decode`] that slot, from [`read_header`], [`verify`] and [`scan`]
/// slot A when neither slot is valid. `BadHeader` is also reported for a
/// valid header that does not fit the records (a pending flag update that is
/// not at the start of a record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file is shorter than its 4096-byte header page (or the bytes given
    /// to [`Header::decode`] are fewer than [`SLOT_BYTES`]).
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
    /// ([`Header::check_room`]).
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
    /// it ([`Header::check_room`]).
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

fn le_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at.saturating_add(2)) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at.saturating_add(4)) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at.saturating_add(8)) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// A flag update committed in the header but perhaps not yet (or not
/// completely) written to the record: the record at `offset` is taken to have
/// `flags`, whatever its flag bytes hold. See
/// [the pending flag update](self#the-pending-flag-update).
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
    /// Total [`record_len`] of the deleted records still present.
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
fn read_slot<R: ReadAt + ?Sized>(file: &R, index: usize) -> Result<Header, VerifyError> {
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
/// header alone, not whether it fits the records ([`verify`] does). Never
/// panics.
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
fn push_record(
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

/// Appends the record of message `message_id` whose payload is the
/// [`synthetic_payload`] of `payload_len` bytes, built in place (what a
/// simulated delivery writes): the same bytes as `encode_record` of that
/// payload, without copying it twice.
///
/// # Panics
///
/// If `payload_len` exceeds [`MAX_PAYLOAD_BYTES`].
pub fn encode_synthetic_record(
    message_id: u64,
    flags: RecordFlags,
    payload_len: u32,
    out: &mut Vec<u8>,
) {
    push_record(message_id, flags, payload_len, out, |out| {
        synthetic_payload(message_id, payload_len, out)
    });
}

const FROMS: [&[u8]; 8] = [
    b"Ellen Park <EllenP@Finance.AppleTalk>",
    b"Marcus Webb <MarcusW@Sales.AppleTalk>",
    b"Dana Ortiz <DanaO@Engineering.AppleTalk>",
    b"Priya Raman <PriyaR@Legal.AppleTalk>",
    b"Tom Kowalski <TomK@Facilities.AppleTalk>",
    b"Grace Liu <GraceL@Marketing.AppleTalk>",
    b"Sam Adeyemi <SamA@Support.AppleTalk>",
    b"Network Administrator <Admin@MIS.AppleTalk>",
];

const TOS: [&[u8]; 7] = [
    b"Design Review Group <DesignReview@Engineering.AppleTalk>",
    b"Frank Moreau <FrankM@Finance.AppleTalk>",
    b"All Staff <AllStaff@Headquarters.AppleTalk>",
    b"Helen Brandt <HelenB@Sales.AppleTalk>",
    b"Ivan Petrov <IvanP@MIS.AppleTalk>",
    b"Julia Santos <JuliaS@Marketing.AppleTalk>",
    b"Kevin O'Neill <KevinO@Support.AppleTalk>",
];

const SUBJECTS: [&[u8]; 11] = [
    b"Q3 budget figures, revised",
    b"Re: Printer on the second floor",
    b"Minutes of Tuesday's staff meeting",
    b"Server maintenance this weekend",
    b"Re: Re: Trade show booth layout",
    b"Contract draft for review",
    b"Lunch order for Friday",
    b"Backup schedule change",
    b"Fwd: Customer complaint, ticket 4471",
    b"New hire orientation packet",
    b"Re: Quarterly forecast spreadsheet",
];

const DATES: [&[u8]; 5] = [
    b"Mon, 12 Apr 93 09:14:02 PDT",
    b"Tue, 13 Apr 93 16:41:37 PDT",
    b"Wed, 14 Apr 93 11:05:59 PDT",
    b"Thu, 15 Apr 93 08:30:12 PDT",
    b"Fri, 16 Apr 93 17:52:44 PDT",
];

const GREETINGS: [&[u8]; 3] = [
    b"Hello,\r\n\r\n",
    b"Hi all,\r\n\r\n",
    b"Good morning,\r\n\r\n",
];

const PARAGRAPHS: [&[u8]; 5] = [
    b"As discussed at the meeting, please find the details below. The numbers in the \
attached worksheet supersede the ones circulated last week; the totals for the \
western region were double counted, which is why the forecast looked so high.\r\n\r\n",
    b"The Mail server will be unavailable on Saturday between 10 PM and 2 AM while the \
file server is backed up. Messages sent during that window will be held at the \
gateway and delivered when the server comes back. If you have anything urgent, \
please send it before Friday evening or call the help desk at extension 4400.\r\n\r\n",
    b"A reminder that the backup program cannot copy files that are open, so please \
quit your applications and log off the AppleShare volumes before you leave. The \
Mail Data file on the server is an exception that MIS handles separately.\r\n\r\n",
    b"Action items from last time: Dana to confirm the vendor quote, Marcus to update \
the customer list, and Ellen to circulate the revised expense policy. We will go \
over the open issues on Tuesday at 10 AM in the large conference room.\r\n\r\n",
    b"Thanks, and let me know if you have any questions.\r\n\r\n",
];

/// The paragraphs one after another, twice, and where each starts in the
/// first run: the body starting at paragraph `k` (all of them, in turn) is
/// one slice of it.
static BODY: std::sync::LazyLock<(Vec<u8>, [usize; PARAGRAPHS.len()])> =
    std::sync::LazyLock::new(|| {
        let mut text = Vec::new();
        let mut starts = [0; PARAGRAPHS.len()];
        for (k, p) in PARAGRAPHS.iter().enumerate() {
            starts[k] = text.len();
            text.extend_from_slice(p);
        }
        text.extend_from_within(..);
        (text, starts)
    });

/// A synthetic message's header block in as few pieces as the id allows:
/// each pick with the fixed text that follows it, up to the Message-Id's
/// digits; then the rest of the block with the greeting.
struct HeaderLines {
    /// `From: …\r\nTo: `, by sender.
    from: Vec<Vec<u8>>,
    /// `…\r\nDate: `, by recipient.
    to: Vec<Vec<u8>>,
    /// `…\r\nSubject: `, by date.
    date: Vec<Vec<u8>>,
    /// `…\r\nMessage-Id: <`, by subject.
    subject: Vec<Vec<u8>>,
    /// The rest of the Message-Id, the X-Mailer line, the blank line and
    /// the greeting, by greeting.
    tail: Vec<Vec<u8>>,
}

static HEADER_LINES: std::sync::LazyLock<HeaderLines> = std::sync::LazyLock::new(|| {
    let join = |picks: &[&[u8]], before: &[u8], after: &[u8]| -> Vec<Vec<u8>> {
        picks.iter().map(|p| [before, p, after].concat()).collect()
    };
    HeaderLines {
        from: join(&FROMS, b"From: ", b"\r\nTo: "),
        to: join(&TOS, b"", b"\r\nDate: "),
        date: join(&DATES, b"", b"\r\nSubject: "),
        subject: join(&SUBJECTS, b"", b"\r\nMessage-Id: <"),
        tail: join(
            &GREETINGS,
            b".mailsim@Mail.AppleTalk>\r\nX-Mailer: Microsoft Mail for AppleTalk 3.1\r\n\r\n",
            b"",
        ),
    }
});

/// Appends `piece` to `out`, truncated so that `out` never grows past `end`.
fn put_capped(out: &mut Vec<u8>, end: usize, piece: &[u8]) {
    let room = end.saturating_sub(out.len());
    out.extend_from_slice(piece.get(..room).unwrap_or(piece));
}

/// Deterministic, realistic message bytes for a synthetic message: an RFC
/// 822-style header block (From, To, Date, Subject, and a Message-Id
/// containing the id) then body text, exactly `len` bytes (the header block
/// is truncated if `len` is small). Cheap: built by copying from static text
/// (the body is doubled from what was already written). Appends to `out`.
pub fn synthetic_payload(message_id: u64, len: u32, out: &mut Vec<u8>) {
    let len = len as usize;
    let end = out.len().saturating_add(len);
    out.reserve(len);
    let pick = |n: usize| (message_id % n as u64) as usize;
    let mut digits = [0u8; 20];
    let mut first = digits.len();
    let mut id = message_id;
    loop {
        first -= 1;
        digits[first] = b'0' + (id % 10) as u8;
        id /= 10;
        if id == 0 {
            break;
        }
    }
    let lines = &*HEADER_LINES;
    let header: [&[u8]; 6] = [
        &lines.from[pick(FROMS.len())],
        &lines.to[pick(TOS.len())],
        &lines.date[pick(DATES.len())],
        &lines.subject[pick(SUBJECTS.len())],
        &digits[first..],
        &lines.tail[pick(GREETINGS.len())],
    ];
    for piece in header {
        put_capped(out, end, piece);
    }
    if out.len() >= end {
        return;
    }
    // The paragraphs start at one that depends on the id, so bodies differ:
    // one rotated copy of them, then doubled from what is already written.
    let body_start = out.len();
    let (text, starts) = &*BODY;
    let first = starts[pick(PARAGRAPHS.len())];
    put_capped(out, end, &text[first..first + text.len() / 2]);
    while out.len() < end {
        let n = (out.len() - body_start).min(end - out.len());
        out.extend_from_within(body_start..body_start + n);
    }
}

/// Random-access reads, so that verify and scans work on paged contents without first copying a whole file into one buffer.
pub trait ReadAt {
    /// Length in bytes.
    fn len_bytes(&self) -> u64;
    /// Fills `buf` from `offset`; false when the range is not entirely inside the contents (then buf is unspecified).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool;
}

impl ReadAt for [u8] {
    fn len_bytes(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        match start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

impl ReadAt for Vec<u8> {
    fn len_bytes(&self) -> u64 {
        self.as_slice().len_bytes()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        self.as_slice().read_at(offset, buf)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn len_bytes(&self) -> u64 {
        (**self).len_bytes()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        (**self).read_at(offset, buf)
    }
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
    for (field, value) in [
        ("generation", header.generation),
        ("next_message_id", header.next_message_id),
    ] {
        if value == COUNTER_LIMIT {
            return Err(VerifyError::CounterAtLimit { field, value });
        }
    }
    let end = header.committed_len;
    if len_bytes < end {
        return Err(VerifyError::Truncated {
            committed_len: end,
            len_bytes,
        });
    }
    let mut offset = header.records_start;
    let mut prev_id: Option<u64> = None;
    let mut pending_seen = false;
    let mut live = 0u64;
    let mut dead = 0u64;
    while offset < end {
        let bad = |reason| Err(VerifyError::BadRecord { offset, reason });
        let remaining = end - offset;
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
            Some(p) if p.offset == offset => {
                pending_seen = true;
                p.flags
            }
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
        visit(&info, &rh)?;
        if flags.contains(RecordFlags::DELETED) {
            dead = dead.saturating_add(rec_len);
        } else {
            live = live.saturating_add(1);
        }
        prev_id = Some(message_id);
        offset += rec_len;
    }
    if header.pending.is_some() && !pending_seen {
        return Err(VerifyError::BadHeader {
            reason: "pending flag update is not at the start of a record",
        });
    }
    if live != header.message_count {
        return Err(VerifyError::CountMismatch {
            header: header.message_count,
            found: live,
        });
    }
    if dead != header.dead_bytes {
        return Err(VerifyError::DeadBytesMismatch {
            header: header.dead_bytes,
            found: dead,
        });
    }
    Ok(header)
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
/// [commit protocol](self#commit-protocol)).
pub fn scan<R: ReadAt + ?Sized>(file: &R) -> Result<(Header, Vec<RecordInfo>), VerifyError> {
    let mut records = Vec::new();
    let header = walk(file, |info, _| {
        records.push(*info);
        Ok(())
    })?;
    Ok((header, records))
}

/// Builds a complete, valid file image from messages (id strictly increasing, flags, payload length), payloads from synthetic_payload, generation as given. Used to build the preset's initial Mail Data once.
///
/// The header is written to its slot ([`Header::slot_offset`]) and the other
/// slot is zeros. Its records_start is [`HEADER_BYTES`], its committed_len
/// the image's length, message_count and dead_bytes match the flags,
/// next_message_id is one past the last id (1 for an empty list), and there
/// is no pending flag update.
///
/// # Panics
///
/// If the ids are not strictly increasing, an id is `u64::MAX` (there would
/// be no next id), or a payload length exceeds [`MAX_PAYLOAD_BYTES`].
pub fn build_image(
    generation: u64,
    messages: impl IntoIterator<Item = (u64, RecordFlags, u32)>,
) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_PAGE_LEN];
    let mut header = Header {
        generation,
        ..Header::empty()
    };
    let mut prev_id: Option<u64> = None;
    for (message_id, flags, payload_len) in messages {
        assert!(
            prev_id.is_none_or(|p| message_id > p),
            "build_image: message ids must be strictly increasing ({message_id} after {prev_id:?})"
        );
        assert!(
            message_id < u64::MAX,
            "build_image: message id u64::MAX leaves no next id"
        );
        push_record(message_id, flags, payload_len, &mut out, |out| {
            synthetic_payload(message_id, payload_len, out)
        });
        if flags.contains(RecordFlags::DELETED) {
            header.dead_bytes += record_len(payload_len);
        } else {
            header.message_count += 1;
        }
        prev_id = Some(message_id);
    }
    header.committed_len = out.len() as u64;
    header.next_message_id = prev_id.map_or(1, |p| p + 1);
    let slot = header.slot_offset() as usize;
    out[slot..slot + SLOT_BYTES].copy_from_slice(&header.encode());
    out
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
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    const R: RecordFlags = RecordFlags::READ;
    const D: RecordFlags = RecordFlags::DELETED;
    const E: RecordFlags = RecordFlags::empty();

    const SAMPLE: [(u64, RecordFlags, u32); 5] = [
        (1, E, 100),
        (2, R, 0),
        (5, D, 37),
        (9, R.with(D), 300),
        (10, E, 8),
    ];

    /// Generation 6: the header is in slot A, slot B is zeros.
    fn sample() -> Vec<u8> {
        build_image(6, SAMPLE)
    }

    fn put_header(image: &mut [u8], header: &Header) {
        let at = header.slot_offset() as usize;
        image[at..at + SLOT_BYTES].copy_from_slice(&header.encode());
    }

    fn header_of(image: &[u8]) -> Header {
        read_header(image).unwrap()
    }

    fn slot(image: &[u8], index: usize) -> &[u8] {
        let at = SLOT_OFFSETS[index] as usize;
        &image[at..at + SLOT_BYTES]
    }

    /// Contents split into 4 KiB pages, as a paged volume would hold them.
    struct Paged {
        pages: Vec<Vec<u8>>,
        len: u64,
    }

    impl Paged {
        fn new(bytes: &[u8]) -> Paged {
            Paged {
                pages: bytes.chunks(4096).map(<[u8]>::to_vec).collect(),
                len: bytes.len() as u64,
            }
        }
    }

    impl ReadAt for Paged {
        fn len_bytes(&self) -> u64 {
            self.len
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
            if offset
                .checked_add(buf.len() as u64)
                .is_none_or(|e| e > self.len)
            {
                return false;
            }
            let mut pos = offset as usize;
            let mut done = 0;
            while done < buf.len() {
                let page = &self.pages[pos / 4096];
                let within = pos % 4096;
                let n = (page.len() - within).min(buf.len() - done);
                buf[done..done + n].copy_from_slice(&page[within..within + n]);
                done += n;
                pos += n;
            }
            true
        }
    }

    // ---- The commit protocol, as a server runs it, and a reference model ----

    /// One transaction. Picks choose among the live records, in file order,
    /// modulo their number; with no live record a pick is no transaction.
    #[derive(Clone, Copy, Debug)]
    enum Op {
        Deliver(u32),
        Read(usize),
        Delete(usize),
        Compact,
    }

    /// The writes between two syncs; a transaction is a list of them, each
    /// ended by a sync.
    type Interval = Vec<(u64, Vec<u8>)>;

    fn header_write(h: &Header) -> (u64, Vec<u8>) {
        (h.slot_offset(), h.encode().to_vec())
    }

    /// The server's side of the protocol: what it knows of the file.
    struct Writer {
        header: Header,
        records: Vec<RecordInfo>,
    }

    impl Writer {
        /// Opens the file as the server does: scan, then the recovery writes
        /// (redo the pending flag update) to run before any header commit.
        fn open(image: &[u8]) -> (Writer, Vec<Interval>) {
            let (header, records) = scan(image).expect("the writer opens a valid file");
            let recovery = header
                .pending
                .map(|p| {
                    vec![vec![(
                        p.offset + FLAGS_OFFSET,
                        flag_bytes(p.flags).to_vec(),
                    )]]
                })
                .unwrap_or_default();
            (Writer { header, records }, recovery)
        }

        /// The writes of `op` against `image` (the file, all synced), or
        /// `None` when there is nothing to do. Updates the writer as if the
        /// transaction committed.
        fn plan(&mut self, op: Op, image: &[u8]) -> Option<Vec<Interval>> {
            let mut h = Header {
                generation: self.header.generation + 1,
                pending: None,
                ..self.header
            };
            let live: Vec<usize> = (0..self.records.len())
                .filter(|&i| !self.records[i].flags.contains(D))
                .collect();
            let intervals = match op {
                Op::Deliver(len) => {
                    let id = h.next_message_id;
                    let mut payload = Vec::new();
                    synthetic_payload(id, len, &mut payload);
                    let mut rec = Vec::new();
                    encode_record(id, E, &payload, &mut rec);
                    let offset = h.committed_len;
                    let n = rec.len() as u64;
                    h.committed_len += n;
                    h.message_count += 1;
                    h.next_message_id += 1;
                    self.records.push(RecordInfo {
                        offset,
                        message_id: id,
                        flags: E,
                        payload_len: len,
                        record_len: n,
                    });
                    vec![vec![(offset, rec)], vec![header_write(&h)]]
                }
                Op::Read(pick) | Op::Delete(pick) => {
                    if live.is_empty() {
                        return None;
                    }
                    let flag = if matches!(op, Op::Read(_)) { R } else { D };
                    let r = &mut self.records[live[pick % live.len()]];
                    r.flags = r.flags.with(flag);
                    if flag == D {
                        h.message_count -= 1;
                        h.dead_bytes += r.record_len;
                    }
                    h.pending = Some(PendingFlags {
                        offset: r.offset,
                        flags: r.flags,
                    });
                    let flag_write = (r.offset + FLAGS_OFFSET, flag_bytes(r.flags).to_vec());
                    vec![vec![header_write(&h)], vec![flag_write]]
                }
                Op::Compact => {
                    let n: u64 = live.iter().map(|&i| self.records[i].record_len).sum();
                    let start = self.header.compaction_start(n);
                    let mut out = Vec::new();
                    let mut kept = Vec::new();
                    for &i in &live {
                        let r = self.records[i];
                        let at = out.len();
                        out.extend_from_slice(
                            &image[r.offset as usize..(r.offset + r.record_len) as usize],
                        );
                        out[at + 2..at + 4].copy_from_slice(&flag_bytes(r.flags));
                        kept.push(RecordInfo {
                            offset: start + at as u64,
                            ..r
                        });
                    }
                    h.records_start = start;
                    h.committed_len = start + n;
                    h.dead_bytes = 0;
                    self.records = kept;
                    vec![vec![(start, out)], vec![header_write(&h)]]
                }
            };
            self.header = h;
            Some(intervals)
        }
    }

    /// A positioned write; a write past the end extends the file (a hole
    /// reads as zeros).
    fn write_at(image: &mut Vec<u8>, at: u64, bytes: &[u8]) {
        let at = at as usize;
        let end = at + bytes.len();
        if image.len() < end {
            image.resize(end, 0);
        }
        image[at..end].copy_from_slice(bytes);
    }

    fn run_all(image: &mut Vec<u8>, intervals: &[Interval]) {
        for (at, bytes) in intervals.iter().flatten() {
            write_at(image, *at, bytes);
        }
    }

    /// What a crash does to the part of an unsynced write that falls in one
    /// sector. This is the crash model of SQLite's crash-test file system
    /// (`test6.c`), with powersafe overwrite: each sector's part of a write
    /// is written, not written, or replaced by garbage, and no byte outside
    /// the unsynced writes changes. Writes are atomic at no larger grain
    /// than a sector, so one write may land torn. (Below a sector the format
    /// is not safe: see `sub_sector_garbage_can_resurrect_an_aborted_header`.)
    #[derive(Clone, Copy, Debug)]
    enum Fate {
        Kept,
        Dropped,
        Garbage,
    }

    /// A crash at the sync that ends interval `at` (modulo the transaction's
    /// intervals). The sector-sized pieces of that interval's writes meet
    /// `fates` in turn (cycling), garbage drawn from `seed`. With `again`,
    /// the recovery that follows crashes the same way.
    #[derive(Clone, Debug)]
    struct Crash {
        at: usize,
        sector: u64,
        fates: Vec<Fate>,
        seed: u64,
        again: bool,
    }

    /// Pseudo-random bytes (splitmix64).
    fn garbage(mut seed: u64, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// Runs a transaction that crashes: the intervals before the crash are
    /// synced, the writes of the interrupted one meet their fates, sector
    /// piece by sector piece.
    fn crash_in(image: &mut Vec<u8>, intervals: &[Interval], crash: &Crash) {
        let k = crash.at % intervals.len();
        run_all(image, &intervals[..k]);
        let mut piece = 0usize;
        for (at, bytes) in &intervals[k] {
            let end = at + bytes.len() as u64;
            let mut pos = *at;
            while pos < end {
                let next = ((pos / crash.sector + 1) * crash.sector).min(end);
                let part = &bytes[(pos - at) as usize..(next - at) as usize];
                match crash.fates[piece % crash.fates.len()] {
                    Fate::Kept => write_at(image, pos, part),
                    Fate::Dropped => {}
                    Fate::Garbage => write_at(
                        image,
                        pos,
                        &garbage(crash.seed ^ pos.rotate_left(32), part.len()),
                    ),
                }
                piece += 1;
                pos = next;
            }
        }
    }

    /// The reference model: what the file holds between transactions.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct State {
        generation: u64,
        next_id: u64,
        messages: Vec<(u64, RecordFlags, u32)>,
    }

    impl State {
        fn initial(generation: u64, messages: &[(u64, RecordFlags, u32)]) -> State {
            State {
                generation,
                next_id: messages.last().map_or(1, |m| m.0 + 1),
                messages: messages.to_vec(),
            }
        }

        /// The state after `op` commits; `None` when `op` is no transaction.
        fn after(&self, op: Op) -> Option<State> {
            let mut s = self.clone();
            s.generation += 1;
            match op {
                Op::Deliver(len) => {
                    s.messages.push((s.next_id, E, len));
                    s.next_id += 1;
                }
                Op::Read(pick) | Op::Delete(pick) => {
                    let live: Vec<usize> = (0..s.messages.len())
                        .filter(|&i| !s.messages[i].1.contains(D))
                        .collect();
                    if live.is_empty() {
                        return None;
                    }
                    let flag = if matches!(op, Op::Read(_)) { R } else { D };
                    let m = &mut s.messages[live[pick % live.len()]];
                    m.1 = m.1.with(flag);
                }
                Op::Compact => s.messages.retain(|m| !m.1.contains(D)),
            }
            Some(s)
        }

        /// The state a file holds, checked by verify, verify_from and scan.
        fn of(image: &[u8]) -> Result<State, TestCaseError> {
            let verified =
                verify(image).map_err(|e| TestCaseError::fail(format!("verify fails: {e}")))?;
            prop_assert_eq!(verify_from(&Paged::new(image)), Ok(verified));
            let (header, records) =
                scan(image).map_err(|e| TestCaseError::fail(format!("scan fails: {e}")))?;
            prop_assert_eq!(scan(&Paged::new(image)), Ok((header, records.clone())));
            prop_assert_eq!(header.generation, verified.generation);
            Ok(State {
                generation: header.generation,
                next_id: header.next_message_id,
                messages: records
                    .iter()
                    .map(|r| (r.message_id, r.flags, r.payload_len))
                    .collect(),
            })
        }
    }

    /// Runs `ops` on `image` through the protocol, crashing where told, and
    /// checks after every transaction that the file holds the state before or
    /// after it (after, when it did not crash). Returns the final state.
    fn run_ops(
        image: &mut Vec<u8>,
        mut state: State,
        ops: &[(Op, Option<Crash>)],
    ) -> Result<State, TestCaseError> {
        let (mut w, recovery) = Writer::open(image);
        prop_assert!(recovery.is_empty());
        prop_assert_eq!(&State::of(image)?, &state);
        for (op, crash) in ops {
            let after = state.after(*op);
            let planned = w.plan(*op, image);
            prop_assert_eq!(after.is_some(), planned.is_some());
            let (Some(after), Some(intervals)) = (after, planned) else {
                continue;
            };
            let Some(crash) = crash else {
                run_all(image, &intervals);
                state = after;
                prop_assert_eq!(&State::of(image)?, &state, "after {:?}", op);
                continue;
            };
            crash_in(image, &intervals, crash);
            let got = State::of(image)?;
            prop_assert!(
                got == state || got == after,
                "crash in {:?} ({:?}) left {:?}, neither {:?} nor {:?}",
                op,
                crash,
                got,
                state,
                after
            );
            state = got;
            // The server restarts: it opens the file and redoes a pending
            // flag update (and may crash doing so).
            let (_, recovery) = Writer::open(image);
            if crash.again && !recovery.is_empty() {
                crash_in(image, &recovery, crash);
                prop_assert_eq!(&State::of(image)?, &state, "recovery crashed");
            }
            let (reopened, recovery) = Writer::open(image);
            run_all(image, &recovery);
            prop_assert_eq!(&State::of(image)?, &state, "after recovery");
            w = reopened;
        }
        Ok(state)
    }

    /// Runs `op` to completion.
    fn commit(w: &mut Writer, image: &mut Vec<u8>, op: Op) {
        let intervals = w.plan(op, image).expect("a transaction");
        run_all(image, &intervals);
    }

    fn run_clean(image: &mut Vec<u8>, ops: &[Op]) {
        let (mut w, recovery) = Writer::open(image);
        run_all(image, &recovery);
        for &op in ops {
            if let Some(intervals) = w.plan(op, image) {
                run_all(image, &intervals);
            }
        }
    }

    // ---- Unit tests ----

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

    #[test]
    fn a_synthetic_record_is_the_record_of_its_synthetic_payload() {
        for (id, len) in [(1, 0), (7, 37), (12_345, 1_200), (u64::MAX, 40_000)] {
            let mut payload = Vec::new();
            synthetic_payload(id, len, &mut payload);
            let mut want = b"prefix".to_vec();
            encode_record(id, RecordFlags::READ, &payload, &mut want);
            let mut got = b"prefix".to_vec();
            encode_synthetic_record(id, RecordFlags::READ, len, &mut got);
            assert_eq!(got, want, "id {id}, {len} bytes");
        }
    }

    #[test]
    fn synthetic_payload_is_exact_and_deterministic() {
        for len in [0u32, 1, 5, 40, 200, 2_000, 100_000] {
            let mut a = b"prefix".to_vec();
            synthetic_payload(12_345, len, &mut a);
            assert_eq!(a.len(), 6 + len as usize);
            assert_eq!(&a[..6], b"prefix");
            let mut b = b"prefix".to_vec();
            synthetic_payload(12_345, len, &mut b);
            assert_eq!(a, b);
        }
        let mut p = Vec::new();
        synthetic_payload(12_345, 4_000, &mut p);
        let text = String::from_utf8(p).unwrap();
        assert!(text.starts_with("From: "));
        assert!(text.contains("\r\nTo: "));
        assert!(text.contains("\r\nSubject: "));
        assert!(text.contains("Message-Id: <12345."));
        assert!(text.contains("\r\n\r\n"));
        let mut q = Vec::new();
        synthetic_payload(u64::MAX, 300, &mut q);
        assert!(
            String::from_utf8(q)
                .unwrap()
                .contains("<18446744073709551615.")
        );
        let mut z = Vec::new();
        synthetic_payload(0, 300, &mut z);
        assert!(String::from_utf8(z).unwrap().contains("<0."));
        let mut other = Vec::new();
        synthetic_payload(12_346, 4_000, &mut other);
        assert_ne!(text.as_bytes(), &other[..]);
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
    fn delivery_through_the_protocol() {
        let mut image = build_image(4, [(1, E, 10)]);
        let (mut w, _) = Writer::open(&image);
        let intervals = w.plan(Op::Deliver(99), &image).unwrap();
        // The record at the old committed_len, then the header in slot B.
        assert_eq!(intervals[0][0].0, image.len() as u64);
        assert_eq!(intervals[1][0].0, 512);
        run_all(&mut image, &intervals[..1]);
        assert_eq!(verify(&image).unwrap().generation, 4);
        run_all(&mut image, &intervals[1..]);
        assert_eq!(
            verify(&image),
            Ok(Verified {
                generation: 5,
                message_count: 2
            })
        );
        // Both slots are valid now.
        assert_eq!(Header::decode(slot(&image, 0)).unwrap().generation, 4);
        assert_eq!(Header::decode(slot(&image, 1)).unwrap().generation, 5);
    }

    #[test]
    fn compaction_writes_a_fresh_region() {
        let msgs = [(1, D, 100), (2, E, 50), (3, D, 10), (4, R, 20)];
        let mut image = build_image(0, msgs);
        let old_len = image.len() as u64;
        let (mut w, _) = Writer::open(&image);
        assert_eq!(w.header.compaction_start(0), HEADER_BYTES);
        assert_eq!(w.header.compaction_start(1), old_len);

        // Records start at the header page: the live ones go past the end.
        let intervals = w.plan(Op::Compact, &image).unwrap();
        assert_eq!(intervals[0][0].0, old_len);
        run_all(&mut image, &intervals[..1]);
        assert_eq!(
            State::of(&image).unwrap(),
            State::initial(0, &msgs),
            "compacted records not yet committed"
        );
        run_all(&mut image, &intervals[1..]);
        let h = header_of(&image);
        assert_eq!(h.records_start, old_len);
        assert_eq!(h.committed_len, image.len() as u64);
        assert_eq!(h.dead_bytes, 0);
        let want = State {
            generation: 1,
            next_id: 5,
            messages: vec![(2, E, 50), (4, R, 20)],
        };
        assert_eq!(State::of(&image).unwrap(), want);

        // Now they fit before records_start: back to the header page.
        let intervals = w.plan(Op::Compact, &image).unwrap();
        assert_eq!(intervals[0][0].0, HEADER_BYTES);
        run_all(&mut image, &intervals);
        let h = header_of(&image);
        assert_eq!(h.records_start, HEADER_BYTES);
        assert_eq!(
            h.committed_len,
            HEADER_BYTES + record_len(50) + record_len(20)
        );
        assert_eq!(
            State::of(&image).unwrap(),
            State {
                generation: 2,
                ..want
            }
        );
        // Bytes past committed_len are no part of the state: the file may be
        // truncated, and deliveries overwrite them.
        let mut cut = image.clone();
        cut.truncate(h.committed_len as usize);
        assert_eq!(verify(&cut), verify(&image));
        commit(&mut w, &mut image, Op::Deliver(500));
        assert_eq!(verify(&image).unwrap().message_count, 3);
    }

    #[test]
    fn the_other_slot_is_a_fallback_not_a_backup() {
        let mut image = build_image(4, [(1, E, 40), (2, E, 40)]);
        let (mut w, _) = Writer::open(&image);
        commit(&mut w, &mut image, Op::Deliver(10));
        // Right after a delivery the older slot still describes a state of
        // the file: damage to the current slot falls back to it.
        let mut damaged = image.clone();
        damaged[512 + 30] ^= 4;
        assert_eq!(
            verify(&damaged),
            Ok(Verified {
                generation: 4,
                message_count: 2
            })
        );
        // After a deletion, the older slot predates the flag bytes written
        // in place: falling back to it is an error (or, for a READ flag, a
        // state the server never committed). Only the current slot counts.
        commit(&mut w, &mut image, Op::Delete(0));
        assert_eq!(header_of(&image).generation, 6);
        let mut damaged = image.clone();
        damaged[30] ^= 4;
        assert_eq!(
            verify(&damaged),
            Err(VerifyError::CountMismatch {
                header: 3,
                found: 2
            })
        );
        assert_eq!(verify(&image).unwrap().message_count, 2);
    }

    #[test]
    fn pending_update_must_be_redone_on_open() {
        let mut image = build_image(2, [(1, E, 40), (2, E, 40)]);
        let (mut w, _) = Writer::open(&image);
        let intervals = w.plan(Op::Delete(1), &image).unwrap();
        // Crash after the header sync: the flag write is lost.
        run_all(&mut image, &intervals[..1]);
        let deleted = State {
            generation: 3,
            next_id: 3,
            messages: vec![(1, E, 40), (2, D, 40)],
        };
        assert_eq!(State::of(&image).unwrap(), deleted);

        // A server that skips the recovery write and commits a delivery
        // (whose header clears the pending update) loses the deletion.
        let mut careless = image.clone();
        let (mut w, recovery) = Writer::open(&careless);
        assert_eq!(recovery.len(), 1);
        commit(&mut w, &mut careless, Op::Deliver(5));
        assert_eq!(
            verify(&careless),
            Err(VerifyError::CountMismatch {
                header: 2,
                found: 3
            })
        );

        // Following the protocol, the deletion survives.
        let (mut w, recovery) = Writer::open(&image);
        run_all(&mut image, &recovery);
        commit(&mut w, &mut image, Op::Deliver(5));
        assert_eq!(
            State::of(&image).unwrap(),
            State {
                generation: 4,
                next_id: 4,
                messages: vec![(1, E, 40), (2, D, 40), (3, E, 5)],
            }
        );
    }

    /// Why the crash model is per sector: the format assumes that a crash
    /// leaves each header slot (80 bytes, inside one 512-byte sector) whole,
    /// untouched or all garbage. Below that grain an aborted header can come
    /// back: here a deletion's header, garbled in its first 8 bytes only, is
    /// completed by the first 8 bytes of the next attempt at that generation
    /// (a mark read, whose write is torn after them), which are the same.
    #[test]
    fn sub_sector_garbage_can_resurrect_an_aborted_header() {
        let msgs = [(1, E, 10), (2, E, 10)];
        let mut image = build_image(0, msgs);
        let (mut w, _) = Writer::open(&image);
        let x = w.plan(Op::Delete(0), &image).unwrap();
        let (at, bytes) = &x[0][0];
        write_at(&mut image, *at, bytes);
        write_at(&mut image, *at, &garbage(1, 8));
        // The deletion did not commit.
        assert_eq!(State::of(&image).unwrap(), State::initial(0, &msgs));
        let (mut w, recovery) = Writer::open(&image);
        assert!(recovery.is_empty());
        let y = w.plan(Op::Read(1), &image).unwrap();
        let (at, bytes) = &y[0][0];
        write_at(&mut image, *at, &bytes[..8]);
        // Neither before nor after the mark read: the deletion is back.
        assert_eq!(
            State::of(&image).unwrap(),
            State {
                generation: 1,
                next_id: 3,
                messages: vec![(1, D, 10), (2, E, 10)],
            }
        );
    }

    fn expect(image: &[u8], err: VerifyError) {
        assert_eq!(verify(image), Err(err.clone()));
        assert_eq!(verify_from(image), Err(err.clone()));
        assert_eq!(verify_from(&Paged::new(image)), Err(err.clone()));
        if matches!(err, VerifyError::RecordChecksum { .. }) {
            // scan skips payload checksums.
            assert!(scan(image).is_ok());
        } else {
            assert_eq!(scan(image).map(|_| ()), Err(err));
        }
    }

    fn bad_header(image: &[u8], reason: &'static str) {
        expect(image, VerifyError::BadHeader { reason });
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

    #[test]
    fn every_error_variant() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        assert_eq!(header.slot_offset(), 0);
        let rec = |i: usize| records[i].offset as usize;

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

    // ---- Properties ----

    /// Bytes of `image` that the format reads from its current state: the
    /// current slot, and each record's header and payload (not the padding,
    /// nor the flag bytes of the record of a pending update).
    fn meaningful(image: &[u8]) -> Vec<bool> {
        let (header, records) = scan(image).unwrap();
        let mut m = vec![false; image.len()];
        let slot = header.slot_offset() as usize;
        m[slot..slot + SLOT_BYTES].fill(true);
        for r in records {
            let start = r.offset as usize;
            m[start..start + 24 + r.payload_len as usize].fill(true);
        }
        if let Some(p) = header.pending {
            let at = (p.offset + FLAGS_OFFSET) as usize;
            m[at..at + 2].fill(false);
        }
        m
    }

    fn messages() -> impl Strategy<Value = Vec<(u64, RecordFlags, u32)>> {
        prop::collection::vec((1u64..1000, 0u8..4, 0u32..300), 0..10).prop_map(|v| {
            let mut id = 0;
            v.into_iter()
                .map(|(gap, bits, len)| {
                    id += gap;
                    (id, RecordFlags::from_bits(bits).unwrap(), len)
                })
                .collect()
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u32..200).prop_map(Op::Deliver),
            2 => any::<usize>().prop_map(Op::Read),
            2 => any::<usize>().prop_map(Op::Delete),
            1 => Just(Op::Compact),
        ]
    }

    fn fate() -> impl Strategy<Value = Fate> {
        prop_oneof![Just(Fate::Kept), Just(Fate::Dropped), Just(Fate::Garbage)]
    }

    fn crash() -> impl Strategy<Value = Crash> {
        (
            any::<usize>(),
            prop_oneof![Just(128u64), Just(256), Just(512)],
            prop::collection::vec(fate(), 1..6),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(at, sector, fates, seed, again)| Crash {
                at,
                sector,
                fates,
                seed,
                again,
            })
    }

    /// An image written through the protocol: both slots may be valid, and
    /// the current header may carry a pending update.
    fn protocol_image() -> impl Strategy<Value = Vec<u8>> {
        (0u64..4, messages(), prop::collection::vec(op(), 0..8)).prop_map(
            |(generation, msgs, ops)| {
                let mut image = build_image(generation, msgs);
                run_clean(&mut image, &ops);
                image
            },
        )
    }

    proptest! {
        #[test]
        fn crash_at_any_sync_leaves_the_state_before_or_after(
            generation in 0u64..4,
            msgs in messages(),
            ops in prop::collection::vec((op(), prop::option::weighted(0.3, crash())), 0..16),
        ) {
            let mut image = build_image(generation, msgs.clone());
            let state = State::initial(generation, &msgs);
            let end = run_ops(&mut image, state, &ops)?;
            prop_assert_eq!(State::of(&image)?, end);
        }

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

        #[test]
        fn single_bit_flips_are_detected_where_meaningful(
            image in protocol_image(),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let want = verify(&image).unwrap();
            let m = meaningful(&image);
            let current = header_of(&image).slot_offset() as usize;
            let at = at.index(image.len());
            let mut flipped = image.clone();
            flipped[at] ^= 1 << bit;
            let r = verify(&flipped);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&flipped)));
            if (current..current + SLOT_BYTES).contains(&at) {
                // The current slot is no longer valid: the other slot
                // decides. If it is valid, the file verifies (or not) as
                // with that header; if not, the file is rejected (with the
                // error of slot A, whichever that is).
                let mut fallback = image.clone();
                fallback[current..current + SLOT_BYTES].fill(0);
                let other_valid = read_slot(&image, 1 - current / 512).is_ok();
                if other_valid || current != 0 {
                    prop_assert_eq!(&r, &verify(&fallback));
                } else {
                    prop_assert!(r.is_err());
                }
                prop_assert_ne!(r, Ok(want));
            } else if m[at] {
                prop_assert!(r.is_err(), "flip at {} undetected", at);
            } else {
                prop_assert_eq!(r, Ok(want));
            }
        }

        #[test]
        fn verify_never_panics_on_spliced_images(
            image in protocol_image(),
            at in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 1..64),
        ) {
            let mut image = image;
            let at = at.index(image.len());
            let end = (at + junk.len()).min(image.len());
            image[at..end].copy_from_slice(&junk[..end - at]);
            let r = verify(&image);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&image)));
            let _ = scan(&image);
        }
    }
}
