//! `History::from_bytes` on arbitrary bytes, then a judge of a small copy:
//! neither panics, and a consistent verdict names a generation the history
//! holds.
//!
//! The first byte picks the shape: odd, the rest is the file as it is;
//! even, the rest is a list of record bodies (each a length byte, then
//! that many bytes, its entries padded to a record's size) behind a valid
//! header, every frame's length and CRC repaired, so that the fuzzer gets
//! past the checksums to the format's rules. The copy is the input's last
//! bytes, up to three pages.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsim::history::{History, Verdict};

fn header() -> Vec<u8> {
    let mut b = vec![0u8; 32];
    b[0..8].copy_from_slice(b"MSHIST\r\n");
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&4096u32.to_le_bytes());
    b[16..24].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let crc = crc32fast::hash(&b[..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let bytes = if shape & 1 == 1 {
        rest.to_vec()
    } else {
        let mut out = header();
        let mut input = rest;
        while let Some((&n, tail)) = input.split_first() {
            let n = (n as usize).min(tail.len());
            let mut body = tail[..n].to_vec();
            input = &tail[n..];
            body.resize(40.max(body.len()), 0);
            // Make the count agree with the size, as the writer would.
            let width = if body[0] == 1 { 8 } else { 16 };
            let count = (body.len() - 40) / width;
            body.truncate(40 + count * width);
            body[32..40].copy_from_slice(&(count as u64).to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    };
    let Ok(h) = History::from_bytes(&bytes) else {
        return;
    };
    let copy = &data[data.len().saturating_sub(3 * 4096)..];
    let verdict = h.judge(&mut &copy[..]).expect("a slice reads");
    if let Verdict::Consistent { generation, .. } = verdict {
        assert!(h.generations().any(|g| g == generation));
    }
});
