//! Random-access reads of a file's contents ([`ReadAt`]), so that the
//! checks work on paged contents as well as on one buffer.
//!
//! What does not live here: the checks themselves
//! ([`verify_from`](super::verify_from), [`scan`](super::scan)), and the
//! volumes whose files implement it.

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
