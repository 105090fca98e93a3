//! Reading lines to a bound: a line longer than [`MAX_LINE_BYTES`] is not
//! a sweep line, and is refused without being held whole.
//!
//! What does not live here: what a line holds (`line`).

use std::io::{self, BufRead};

/// Longest line `--merge` reads, without its end of line: a sweep line with
/// every fault `--faults 16` draws is under 8 KiB, so a longer one is not a
/// sweep line (and a file without newlines is never read whole).
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// What [`read_line_bounded`] found.
pub(super) enum Read {
    /// The end of the input.
    End,
    /// A line of this many bytes, its end of line included.
    Line(usize),
    /// A line longer than the limit: the rest of it is left unread.
    TooLong,
}

/// Reads one line, through its `\n` (or to the end of the input), into
/// `buf`, unless it is longer than `limit` bytes without its end of line:
/// at most `limit` plus one buffer's worth of bytes is held.
pub(super) fn read_line_bounded(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Read> {
    buf.clear();
    let mut consumed = 0usize;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if consumed == 0 {
                Read::End
            } else {
                Read::Line(consumed)
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        consumed = consumed.saturating_add(take);
        if trim_eol(buf).len() > limit {
            return Ok(Read::TooLong);
        }
        if done {
            return Ok(Read::Line(consumed));
        }
    }
}

/// `b` without its end of line (`\n` or `\r\n`).
pub(super) fn trim_eol(mut b: &[u8]) -> &[u8] {
    if let Some(rest) = b.strip_suffix(b"\n") {
        b = rest;
    }
    b.strip_suffix(b"\r").unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn lines_are_read_to_a_bound() {
        let read_all = |input: &[u8], limit: usize| {
            let mut r = BufReader::with_capacity(4, input);
            let mut buf = Vec::new();
            let mut seen = Vec::new();
            loop {
                match read_line_bounded(&mut r, &mut buf, limit).unwrap() {
                    Read::End => return seen,
                    Read::TooLong => {
                        seen.push(("too long".to_owned(), 0));
                        return seen;
                    }
                    Read::Line(n) => {
                        seen.push((String::from_utf8(trim_eol(&buf).to_vec()).unwrap(), n))
                    }
                }
            }
        };
        let own = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
            v.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect()
        };
        assert_eq!(
            read_all(b"abc\r\nde\n\nfghij", 5),
            own(&[("abc", 5), ("de", 3), ("", 1), ("fghij", 5)])
        );
        assert_eq!(read_all(b"abcde\r\n", 5), own(&[("abcde", 7)]));
        assert_eq!(read_all(b"abcdef\n", 5), own(&[("too long", 0)]));
        assert_eq!(
            read_all(b"ab\nabcdefghijkl", 5),
            own(&[("ab", 3), ("too long", 0)])
        );
        assert_eq!(read_all(b"", 5), own(&[]));
        // A line of any length without a newline holds at most the limit
        // and one buffer.
        let mut r = BufReader::with_capacity(8, std::io::repeat(b'x'));
        let mut buf = Vec::new();
        assert!(matches!(
            read_line_bounded(&mut r, &mut buf, 100).unwrap(),
            Read::TooLong
        ));
        assert!(buf.len() <= 108, "{}", buf.len());
    }
}
