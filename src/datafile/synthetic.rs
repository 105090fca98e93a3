//! The synthetic mail of the simulation: [`synthetic_payload`], realistic
//! message bytes made from a message id; [`encode_synthetic_record`], the
//! record of one built in place; and [`build_image`], a whole valid file of
//! them (the preset's initial Mail Data).
//!
//! What does not live here: the format these follow (the
//! [module's](super) documentation, [`encode_record`](super::encode_record)),
//! and the traffic that decides which messages arrive when.

use super::format::{HEADER_PAGE_LEN, SLOT_BYTES};
use super::header::Header;
use super::record::{RecordFlags, push_record, record_len};

/// Appends the record of message `message_id` whose payload is the
/// [`synthetic_payload`] of `payload_len` bytes, built in place (what a
/// simulated delivery writes): the same bytes as `encode_record` of that
/// payload, without copying it twice.
///
/// # Panics
///
/// If `payload_len` exceeds [`MAX_PAYLOAD_BYTES`](super::MAX_PAYLOAD_BYTES).
pub(crate) fn encode_synthetic_record(
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
pub(crate) fn synthetic_payload(message_id: u64, len: u32, out: &mut Vec<u8>) {
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

/// A complete, valid data file of `generation` holding `messages`, each
/// given as (id, flags, payload length), ids strictly increasing: a file to
/// serve, back up or verify. Each payload is synthetic mail (an RFC
/// 822-style header block with a `Message-Id` holding the id, then body
/// text); the preset's initial Mail Data is built this way.
///
/// The header is written to its slot ([`Header::slot_offset`]) and the other
/// slot is zeros. Its records_start is [`HEADER_BYTES`](super::HEADER_BYTES),
/// its committed_len the image's length, message_count and dead_bytes match
/// the flags, next_message_id is one past the last id (1 for an empty list),
/// and there is no pending flag update.
///
/// # Panics
///
/// If the ids are not strictly increasing, an id is `u64::MAX` (there would
/// be no next id), or a payload length exceeds
/// [`MAX_PAYLOAD_BYTES`](super::MAX_PAYLOAD_BYTES).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datafile::encode_record;

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
}
