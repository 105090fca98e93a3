//! [`HandleReader`]: a file open on a volume read as [`ReadAt`], through a
//! bounded window, so that a scan or a verification of a real file streams
//! it instead of reading it whole.

use std::cell::RefCell;

use super::{Handle, Volume};
use crate::datafile::ReadAt;
use crate::error::{Error, Result};

/// Bytes read ahead at once: record headers are read one by one, so they
/// come from the window, not from a system call each.
const WINDOW_BYTES: u64 = 256 << 10;

/// Reads an open file through its handle ([`Volume::image_at`]: no new open,
/// so no foreign access) as [`ReadAt`], at most [`WINDOW_BYTES`] held at a
/// time. The file's length is taken once, when the reader is made. The
/// first error of the volume is kept ([`HandleReader::take_error`]), so
/// that a file that cannot be read is told apart from one whose contents
/// are wrong.
pub(crate) struct HandleReader<'a> {
    volume: &'a dyn Volume,
    handle: Handle,
    len: u64,
    /// The bytes at `window.0`.
    window: RefCell<(u64, Vec<u8>)>,
    error: RefCell<Option<Error>>,
}

impl<'a> HandleReader<'a> {
    /// A reader of the file `handle` holds on `volume` (it needs read access).
    pub(crate) fn new(volume: &'a dyn Volume, handle: Handle) -> Result<HandleReader<'a>> {
        Ok(HandleReader {
            len: volume.len_of(handle)?,
            volume,
            handle,
            window: RefCell::new((0, Vec::new())),
            error: RefCell::new(None),
        })
    }

    /// The first error a read met, if any.
    pub(crate) fn take_error(&self) -> Option<Error> {
        self.error.borrow_mut().take()
    }

    fn read_direct(&self, offset: u64, buf: &mut [u8]) -> bool {
        match self.volume.image_at(self.handle, offset, buf.len() as u64) {
            Ok(chunk) => chunk.len_bytes() == buf.len() as u64 && chunk.copy_to(buf),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                false
            }
        }
    }
}

impl ReadAt for HandleReader<'_> {
    fn len_bytes(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let want = buf.len() as u64;
        let Some(end) = offset.checked_add(want).filter(|&e| e <= self.len) else {
            return false;
        };
        if want > WINDOW_BYTES {
            return self.read_direct(offset, buf);
        }
        let mut window = self.window.borrow_mut();
        let (start, bytes) = &mut *window;
        let inside = offset >= *start && end <= *start + bytes.len() as u64;
        if !inside {
            let len = WINDOW_BYTES.min(self.len - offset);
            match self.volume.image_at(self.handle, offset, len) {
                Ok(chunk) => {
                    bytes.resize(chunk.len_bytes() as usize, 0);
                    if !chunk.copy_to(bytes) {
                        bytes.clear();
                        return false;
                    }
                    *start = offset;
                }
                Err(e) => {
                    self.error.borrow_mut().get_or_insert(e);
                    return false;
                }
            }
            if end > *start + bytes.len() as u64 {
                // The file is shorter than it was: a short read.
                return false;
            }
        }
        let at = (offset - *start) as usize;
        buf.copy_from_slice(&bytes[at..at + buf.len()]);
        true
    }
}
