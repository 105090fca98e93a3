//! The on-disk format of "Microsoft Mail Data", the data file that the
//! Microsoft Mail for AppleTalk server keeps open (Microsoft KB Q98097).
//!
//! The server never closes the file while it runs. It updates the file **in
//! place**: it appends one record per delivery, sets a record's READ flag when
//! the recipient opens the message, sets its DELETED flag when the message is
//! thrown away, and compacts the file now and then. At the end of every
//! transaction it rewrites the header page, bumping the generation. A backup
//! program that copies the file while the server writes to it can therefore
//! get a *torn* copy: a header from one generation with records from another,
//! a flag byte that is newer than the header's counts, a record cut in half.
//!
//! [`verify`] is the format's own consistency check. It is deliberately
//! weaker than "this copy equals some state the server committed": bytes past
//! the committed length are ignored, so a copy whose header predates an
//! append still passes, and a READ flag set in place does not change any
//! count, so a copy that sees it early or late still passes too. What it does
//! catch is any copy that is not *internally* consistent: a bad header, a
//! record that does not parse, a payload whose checksum does not match, or
//! counts in the header that disagree with the flags in the records (for
//! example a DELETED flag copied after the server set it, with a header copied
//! before the server accounted for it).
//!
//! # Layout
//!
//! All integers are little-endian.
//!
//! ## Header page: bytes `0..4096` ([`HEADER_BYTES`])
//!
//! Only the first 64 bytes ([`Header::ENCODED_BYTES`]) are meaningful; the
//! rest of the page is written as zeros and ignored when read.
//!
//! | Bytes    | Type      | Field                                                                 |
//! |----------|-----------|-----------------------------------------------------------------------|
//! | `0..8`   | `[u8; 8]` | magic [`MAGIC`], `b"MSMailDt"`                                        |
//! | `8..10`  | `u16`     | format version, [`FORMAT_VERSION`] = 1                                |
//! | `10..12` | `u16`     | reserved, 0                                                           |
//! | `12..16` | `u32`     | page size, [`PAGE_BYTES`] = 4096                                      |
//! | `16..24` | `u64`     | generation: committed transactions since the file was created        |
//! | `24..32` | `u64`     | committed_len: end offset of the last committed record (>= 4096)     |
//! | `32..40` | `u64`     | message_count: number of live (not deleted) records                  |
//! | `40..48` | `u64`     | next_message_id: greater than every message id in the file (>= 1)    |
//! | `48..56` | `u64`     | dead_bytes: total [`record_len`] of deleted records still present    |
//! | `56..60` | `u32`     | header checksum: CRC-32 (`crc32fast`) of bytes `0..56`               |
//! | `60..64` | `[u8; 4]` | reserved, 0                                                           |
//! | `64..4096` |         | padding, written as zeros, ignored                                    |
//!
//! Bytes at or past committed_len are not part of the file's state: they may
//! hold a record being appended, or stale records left behind by compaction.
//!
//! ## Records: from byte 4096 up to committed_len, back to back
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
//! # Robustness
//!
//! [`verify`], [`verify_from`], [`scan`] and [`Header::decode`] accept
//! arbitrary bytes: they never panic, and never allocate in proportion to a
//! length field they have not checked against the bytes actually present.

use crc32fast::Hasher;

/// The file's magic number, the first 8 bytes of the header page.
pub const MAGIC: [u8; 8] = *b"MSMailDt";

/// The only format version this module reads and writes.
pub const FORMAT_VERSION: u16 = 1;

/// Size of the header page; records start at this offset.
pub const HEADER_BYTES: u64 = 4096;

/// The page size recorded in the header.
pub const PAGE_BYTES: u64 = PAGE_BYTES_U32 as u64;

/// Magic number at the start of every record (the bytes `"MR"` on disk).
pub const RECORD_MAGIC: u16 = 0x524D;

/// Size of a record's fixed header, before the payload.
pub const RECORD_HEADER_BYTES: u64 = RECORD_HEADER_LEN as u64;

/// Offset, within a record, of the flags byte and its complement (two bytes).
pub const FLAGS_OFFSET: u64 = 2;

/// Largest payload a record may carry (16 MiB); verify rejects larger lengths.
pub const MAX_PAYLOAD_BYTES: u32 = 16 << 20;

const PAGE_BYTES_U32: u32 = 4096;
const HEADER_PAGE_LEN: usize = 4096;
const RECORD_HEADER_LEN: usize = 24;
/// Largest piece of payload [`verify_from`] reads at once.
const STREAM_CHUNK: usize = 256 << 10;

/// Why a file image is not a consistent "Microsoft Mail Data" file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file is shorter than its header (64 meaningful bytes, or the
    /// whole 4096-byte header page).
    #[error("too short: the file has {len_bytes} bytes, not enough for the header page")]
    TooShort {
        /// Length of the file.
        len_bytes: u64,
    },
    /// The first 8 bytes are not [`MAGIC`].
    #[error("bad magic: not a microsoft mail data file")]
    BadMagic,
    /// A format version other than [`FORMAT_VERSION`].
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
    /// The header checksum does not match header bytes `0..56`.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// A header whose checksum matches but whose fields are impossible.
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

/// The meaningful fields of the header page.
///
/// `Default` is all zeros, which is *not* a valid header; use
/// [`Header::empty`] for the header of an empty file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Number of committed transactions since the file was created.
    pub generation: u64,
    /// End offset of the last committed record (at least [`HEADER_BYTES`]).
    pub committed_len: u64,
    /// Number of live (not deleted) records.
    pub message_count: u64,
    /// Greater than every message id in the file; at least 1.
    pub next_message_id: u64,
    /// Total [`record_len`] of the deleted records still present.
    pub dead_bytes: u64,
}

impl Header {
    /// Number of meaningful bytes (64).
    pub const ENCODED_BYTES: usize = 64;

    /// Header of an empty file: generation 0, committed_len HEADER_BYTES, next id 1.
    pub fn empty() -> Header {
        Header {
            generation: 0,
            committed_len: HEADER_BYTES,
            message_count: 0,
            next_message_id: 1,
            dead_bytes: 0,
        }
    }

    /// Encodes the 64 meaningful bytes of the header page: magic, version,
    /// page size, the fields and the checksum. The rest of the page is zeros.
    pub fn encode(&self) -> [u8; Self::ENCODED_BYTES] {
        let mut b = [0u8; Self::ENCODED_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&PAGE_BYTES_U32.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..32].copy_from_slice(&self.committed_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.message_count.to_le_bytes());
        b[40..48].copy_from_slice(&self.next_message_id.to_le_bytes());
        b[48..56].copy_from_slice(&self.dead_bytes.to_le_bytes());
        let crc = crc32fast::hash(&b[..56]);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header from the start of `bytes` (at least 64 bytes; any
    /// more are ignored). Checks the length, magic, version, page size,
    /// checksum, the reserved bytes, committed_len >= [`HEADER_BYTES`] and
    /// next_message_id >= 1. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Header, VerifyError> {
        let Some(b) = bytes.get(..Self::ENCODED_BYTES) else {
            return Err(VerifyError::TooShort {
                len_bytes: bytes.len() as u64,
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
        if b.get(..56).map(crc32fast::hash) != Some(le_u32(b, 56)) {
            return Err(VerifyError::HeaderChecksum);
        }
        if le_u16(b, 10) != 0 {
            return Err(VerifyError::BadHeader {
                reason: "reserved bytes 10..12 are not zero",
            });
        }
        if le_u32(b, 60) != 0 {
            return Err(VerifyError::BadHeader {
                reason: "reserved bytes 60..64 are not zero",
            });
        }
        let header = Header {
            generation: le_u64(b, 16),
            committed_len: le_u64(b, 24),
            message_count: le_u64(b, 32),
            next_message_id: le_u64(b, 40),
            dead_bytes: le_u64(b, 48),
        };
        if header.committed_len < HEADER_BYTES {
            return Err(VerifyError::BadHeader {
                reason: "committed length ends inside the header page",
            });
        }
        if header.next_message_id == 0 {
            return Err(VerifyError::BadHeader {
                reason: "next message id is zero",
            });
        }
        Ok(header)
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
    let header: [&[u8]; 13] = [
        b"From: ",
        FROMS[pick(FROMS.len())],
        b"\r\nTo: ",
        TOS[pick(TOS.len())],
        b"\r\nDate: ",
        DATES[pick(DATES.len())],
        b"\r\nSubject: ",
        SUBJECTS[pick(SUBJECTS.len())],
        b"\r\nMessage-Id: <",
        &digits[first..],
        b".mailsim@Mail.AppleTalk>\r\n",
        b"X-Mailer: Microsoft Mail for AppleTalk 3.1\r\n",
        b"\r\n",
    ];
    for piece in header {
        put_capped(out, end, piece);
    }
    if out.len() >= end {
        return;
    }
    put_capped(out, end, GREETINGS[pick(GREETINGS.len())]);
    // The paragraphs start at one that depends on the id, so bodies differ:
    // one rotated copy of them, then doubled from what is already written.
    let body_start = out.len();
    let first_paragraph = pick(PARAGRAPHS.len());
    let (before, from) = PARAGRAPHS.split_at(first_paragraph);
    for paragraph in from.iter().chain(before) {
        put_capped(out, end, paragraph);
    }
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

/// Reads and checks the header, then walks every record header in
/// `[HEADER_BYTES, committed_len)`, checking structure, bounds and id order,
/// and calling `visit` on each; finally checks the counts.
fn walk<R: ReadAt + ?Sized>(
    file: &R,
    mut visit: impl FnMut(&RecordInfo, &[u8; RECORD_HEADER_LEN]) -> Result<(), VerifyError>,
) -> Result<Header, VerifyError> {
    let len_bytes = file.len_bytes();
    let mut page = [0u8; Header::ENCODED_BYTES];
    if len_bytes < Header::ENCODED_BYTES as u64 || !file.read_at(0, &mut page) {
        return Err(VerifyError::TooShort { len_bytes });
    }
    let header = Header::decode(&page)?;
    if len_bytes < HEADER_BYTES {
        return Err(VerifyError::TooShort { len_bytes });
    }
    let end = header.committed_len;
    if len_bytes < end {
        return Err(VerifyError::Truncated {
            committed_len: end,
            len_bytes,
        });
    }
    let mut offset = HEADER_BYTES;
    let mut prev_id: Option<u64> = None;
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
        if rh[3] != !rh[2] {
            return bad("flags byte does not match its complement");
        }
        let Some(flags) = RecordFlags::from_bits(rh[2]) else {
            return bad("reserved flag bits set");
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

/// Checks a whole file image: header, every record in [HEADER_BYTES, committed_len) (magic, flags/complement, length in bounds, payload checksum, ids strictly increasing and < next_message_id), that records end exactly at committed_len, that live count == message_count and deleted record_len sum == dead_bytes. Never panics.
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
    })?;
    Ok(Verified {
        generation: header.generation,
        message_count: header.message_count,
    })
}

/// Reads the header and walks the record headers (no payload checksums: cheap) returning every record; used by the server to rebuild its index on start. Checks record magic, flags complement, bounds, id order.
///
/// Like [`verify`] it also checks that the records end exactly at
/// committed_len and that the header's message_count and dead_bytes match the
/// records; only the payload checksums are skipped.
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
/// The header's committed_len is the image's length, message_count and
/// dead_bytes match the flags, and next_message_id is one past the last id
/// (1 for an empty list).
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
    out[..Header::ENCODED_BYTES].copy_from_slice(&header.encode());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const R: RecordFlags = RecordFlags::READ;
    const D: RecordFlags = RecordFlags::DELETED;
    const E: RecordFlags = RecordFlags::empty();

    fn sample() -> Vec<u8> {
        build_image(
            7,
            [
                (1, E, 100),
                (2, R, 0),
                (5, D, 37),
                (9, R.with(D), 300),
                (10, E, 8),
            ],
        )
    }

    fn put_header(image: &mut [u8], header: &Header) {
        image[..Header::ENCODED_BYTES].copy_from_slice(&header.encode());
    }

    fn header_of(image: &[u8]) -> Header {
        Header::decode(image).unwrap()
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

    #[test]
    fn header_round_trip() {
        let h = Header {
            generation: 42,
            committed_len: 123_456,
            message_count: 17,
            next_message_id: 99,
            dead_bytes: 512,
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"MSMailDt");
        assert_eq!(Header::decode(&bytes), Ok(h));
        assert_eq!(
            Header::decode(&Header::empty().encode()),
            Ok(Header::empty())
        );
        assert_eq!(
            Header::decode(&bytes[..63]),
            Err(VerifyError::TooShort { len_bytes: 63 })
        );
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
        assert!(image[64..].iter().all(|&b| b == 0));
    }

    #[test]
    fn build_verify_scan_round_trip() {
        let image = sample();
        let expected = Verified {
            generation: 7,
            message_count: 3,
        };
        assert_eq!(verify(&image), Ok(expected));
        assert_eq!(verify_from(&image), Ok(expected));
        assert_eq!(verify_from(&Paged::new(&image)), Ok(expected));
        let (header, records) = scan(&image).unwrap();
        assert_eq!(header.generation, 7);
        assert_eq!(header.next_message_id, 11);
        assert_eq!(header.committed_len, image.len() as u64);
        assert_eq!(header.dead_bytes, record_len(37) + record_len(300));
        let mut offset = HEADER_BYTES;
        let want = [
            (1, E, 100),
            (2, R, 0),
            (5, D, 37),
            (9, R.with(D), 300),
            (10, E, 8),
        ];
        assert_eq!(records.len(), want.len());
        for (rec, (id, flags, len)) in records.iter().zip(want) {
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
    fn flags_set_in_place() {
        let mut image = build_image(1, [(1, E, 50), (2, E, 10), (3, E, 70)]);
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

        // The server's header rewrite completes the transaction.
        let mut h = header_of(&image);
        h.generation += 1;
        h.message_count -= 1;
        h.dead_bytes += records[2].record_len;
        put_header(&mut image, &h);
        assert_eq!(
            verify(&image),
            Ok(Verified {
                generation: 2,
                message_count: 2
            })
        );
        let (_, after) = scan(&image).unwrap();
        assert_eq!(after[1].flags, R);
        assert_eq!(after[2].flags, D);
    }

    #[test]
    fn appended_record_past_committed_len_is_ignored() {
        let old = build_image(4, [(1, E, 10)]);
        let new = build_image(5, [(1, E, 10), (2, E, 99)]);
        // Torn: old header, new records.
        let mut torn = new.clone();
        torn[..64].copy_from_slice(&old[..64]);
        assert_eq!(verify(&torn).unwrap().generation, 4);
        // Torn the other way: new header, old (shorter) file.
        let mut torn = old.clone();
        torn[..64].copy_from_slice(&new[..64]);
        assert_eq!(
            verify(&torn),
            Err(VerifyError::Truncated {
                committed_len: new.len() as u64,
                len_bytes: old.len() as u64
            })
        );
    }

    fn expect(image: &[u8], err: VerifyError) {
        assert_eq!(verify(image), Err(err.clone()));
        assert_eq!(verify_from(image), Err(err.clone()));
        assert_eq!(verify_from(&Paged::new(image)), Err(err));
    }

    #[test]
    fn every_error_variant() {
        let good = sample();
        let (header, records) = scan(&good).unwrap();
        let rec = |i: usize| records[i].offset as usize;

        expect(&good[..10], VerifyError::TooShort { len_bytes: 10 });
        expect(&good[..1000], VerifyError::TooShort { len_bytes: 1000 });

        let mut b = good.clone();
        b[0] = b'X';
        expect(&b, VerifyError::BadMagic);

        let mut b = good.clone();
        b[8] = 2;
        expect(&b, VerifyError::UnsupportedVersion { version: 2 });

        let mut b = good.clone();
        b[12..16].copy_from_slice(&512u32.to_le_bytes());
        expect(&b, VerifyError::BadPageSize { page_bytes: 512 });

        let mut b = good.clone();
        b[20] ^= 0x10;
        expect(&b, VerifyError::HeaderChecksum);

        let mut b = good.clone();
        b[62] = 1;
        assert!(matches!(verify(&b), Err(VerifyError::BadHeader { .. })));

        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                committed_len: 100,
                ..header
            },
        );
        assert!(matches!(verify(&b), Err(VerifyError::BadHeader { .. })));

        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                next_message_id: 0,
                ..header
            },
        );
        assert!(matches!(verify(&b), Err(VerifyError::BadHeader { .. })));

        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                committed_len: u64::MAX,
                ..header
            },
        );
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
        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                next_message_id: 10,
                ..header
            },
        );
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
        expect(
            &b,
            VerifyError::RecordChecksum {
                offset: records[0].offset,
                message_id: 1,
            },
        );

        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                message_count: 4,
                ..header
            },
        );
        expect(
            &b,
            VerifyError::CountMismatch {
                header: 4,
                found: 3,
            },
        );

        let mut b = good.clone();
        put_header(
            &mut b,
            &Header {
                dead_bytes: 0,
                ..header
            },
        );
        expect(
            &b,
            VerifyError::DeadBytesMismatch {
                header: 0,
                found: header.dead_bytes,
            },
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
        let image = sample();
        for cut in 0..image.len() {
            let err = verify(&image[..cut]).unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::TooShort { .. } | VerifyError::Truncated { .. }
                ),
                "{cut}: {err}"
            );
        }
    }

    /// Bytes of `image` that the format reads: the 64 header bytes and each
    /// record's header and payload (not the padding).
    fn meaningful(image: &[u8]) -> Vec<bool> {
        let mut m = vec![false; image.len()];
        m[..64].fill(true);
        for r in scan(&image).unwrap().1 {
            let start = r.offset as usize;
            m[start..start + 24 + r.payload_len as usize].fill(true);
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

    proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..16384)) {
            let r = verify(&bytes);
            prop_assert_eq!(&r, &verify_from(&bytes));
            let _ = scan(&bytes);
            let _ = Header::decode(&bytes);
        }

        #[test]
        fn verify_never_panics_after_a_valid_header(
            generation in any::<u64>(),
            extra in prop_oneof![Just(0u64), 0u64..20_000, any::<u64>()],
            message_count in prop_oneof![0u64..4, any::<u64>()],
            next_message_id in prop_oneof![1u64..10, any::<u64>()],
            dead_bytes in prop_oneof![0u64..200, any::<u64>()],
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
            let h = Header {
                generation,
                committed_len: HEADER_BYTES.saturating_add(extra),
                message_count,
                next_message_id,
                dead_bytes,
            };
            let mut bytes = build_image(0, []);
            put_header(&mut bytes, &h);
            bytes.extend_from_slice(&tail);
            let r = verify(&bytes);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&bytes)));
            let _ = scan(&bytes);
        }

        #[test]
        fn verify_accepts_every_built_image(generation in any::<u64>(), msgs in messages()) {
            let image = build_image(generation, msgs.clone());
            let live = msgs.iter().filter(|m| !m.1.contains(RecordFlags::DELETED)).count() as u64;
            let want = Verified { generation, message_count: live };
            prop_assert_eq!(verify(&image), Ok(want));
            prop_assert_eq!(verify_from(&Paged::new(&image)), Ok(want));
            let (header, records) = scan(&image).unwrap();
            prop_assert_eq!(header.committed_len, image.len() as u64);
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
            msgs in messages(),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let image = build_image(3, msgs);
            let want = verify(&image).unwrap();
            let m = meaningful(&image);
            let at = at.index(image.len());
            let mut flipped = image;
            flipped[at] ^= 1 << bit;
            let r = verify(&flipped);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&flipped)));
            if m[at] {
                prop_assert!(r.is_err(), "flip at {} undetected", at);
            } else {
                prop_assert_eq!(r, Ok(want));
            }
        }

        #[test]
        fn verify_never_panics_on_spliced_images(
            msgs in messages(),
            at in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 1..64),
        ) {
            let mut image = build_image(3, msgs);
            let at = at.index(image.len());
            let end = (at + junk.len()).min(image.len());
            image[at..end].copy_from_slice(&junk[..end - at]);
            let r = verify(&image);
            prop_assert_eq!(&r, &verify_from(&Paged::new(&image)));
            let _ = scan(&image);
        }
    }
}
