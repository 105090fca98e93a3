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

mod format;
mod header;
mod read_at;
mod record;
mod synthetic;
#[cfg(test)]
mod tests;
mod verify;

pub use format::{
    COPY_BASE_NAME, COUNTER_LIMIT, FLAGS_OFFSET, FORMAT_VERSION, HEADER_BYTES, MAGIC, MAIL_DATA,
    MAX_PAYLOAD_BYTES, PAGE_BYTES, RECORD_HEADER_BYTES, RECORD_MAGIC, SLOT_BYTES, SLOT_OFFSETS,
    VerifyError, copy_name, copy_number, is_mail_data_name,
};
pub use header::{Header, PendingFlags, read_header};
pub use read_at::ReadAt;
pub use record::{RecordFlags, RecordInfo, encode_record, flag_bytes, record_len};
pub use synthetic::build_image;
pub(crate) use synthetic::encode_synthetic_record;
#[cfg(test)]
use synthetic::synthetic_payload;
pub use verify::{Verified, record_at, scan, scan_verified, verify, verify_from};
