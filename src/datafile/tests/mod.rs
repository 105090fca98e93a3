//! What the unit tests of the data file's modules share: sample images and
//! the flags they use, images read page by page ([`Paged`]), the check that
//! every reader reports the same error ([`expect`]), a strategy for lists of
//! messages; and, in `protocol`, the commit protocol played out with
//! crashes.
//!
//! What does not live here: the tests of one module's code, which sit in
//! that module.

mod protocol;

use proptest::prelude::*;

use super::{
    Header, ReadAt, RecordFlags, SLOT_BYTES, VerifyError, build_image, read_header, scan, verify,
    verify_from,
};

pub(super) const R: RecordFlags = RecordFlags::READ;
pub(super) const D: RecordFlags = RecordFlags::DELETED;
pub(super) const E: RecordFlags = RecordFlags::empty();

pub(super) const SAMPLE: [(u64, RecordFlags, u32); 5] = [
    (1, E, 100),
    (2, R, 0),
    (5, D, 37),
    (9, R.with(D), 300),
    (10, E, 8),
];

/// Generation 6: the header is in slot A, slot B is zeros.
pub(super) fn sample() -> Vec<u8> {
    build_image(6, SAMPLE)
}

pub(super) fn put_header(image: &mut [u8], header: &Header) {
    let at = header.slot_offset() as usize;
    image[at..at + SLOT_BYTES].copy_from_slice(&header.encode());
}

pub(super) fn header_of(image: &[u8]) -> Header {
    read_header(image).unwrap()
}

/// Contents split into 4 KiB pages, as a paged volume would hold them.
pub(super) struct Paged {
    pages: Vec<Vec<u8>>,
    len: u64,
}

impl Paged {
    pub(super) fn new(bytes: &[u8]) -> Paged {
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

pub(super) fn expect(image: &[u8], err: VerifyError) {
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

pub(super) fn bad_header(image: &[u8], reason: &'static str) {
    expect(image, VerifyError::BadHeader { reason });
}

pub(super) fn messages() -> impl Strategy<Value = Vec<(u64, RecordFlags, u32)>> {
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
