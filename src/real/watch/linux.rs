//! Linux: an inotify instance with one `IN_OPEN` watch.

use std::fmt;
use std::io;
use std::path::Path;

use inotify::{EventMask, Inotify, WatchMask};

pub(super) const SUPPORTED: bool = true;

pub(super) struct Watch {
    inotify: Inotify,
    count: u64,
    buf: Box<[u8]>,
}

impl Watch {
    pub(super) fn new(path: &Path) -> io::Result<Watch> {
        // IN_NONBLOCK | IN_CLOEXEC: reads never block.
        let inotify = Inotify::init()?;
        inotify.watches().add(path, WatchMask::OPEN)?;
        Ok(Watch {
            inotify,
            count: 0,
            buf: vec![0; 4096].into_boxed_slice(),
        })
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }

    pub(super) fn drain(&mut self) -> io::Result<()> {
        loop {
            match self.inotify.read_events(&mut self.buf) {
                Ok(events) => {
                    for e in events {
                        if e.mask.contains(EventMask::OPEN)
                            || e.mask.contains(EventMask::Q_OVERFLOW)
                        {
                            self.count += 1;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}
