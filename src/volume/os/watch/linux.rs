//! Linux: an inotify instance with one watch on the file's inode, for opens
//! and for what else may happen to it: writes, a change of its link count,
//! its deletion, a rename; and, where permitted, the fanotify group that
//! names the openers (`fanotify`).

use std::fmt;
use std::io;
use std::path::Path;

use inotify::{EventMask, Inotify, WatchMask};

pub(super) const SUPPORTED: bool = true;

pub(super) struct Watch {
    inotify: Inotify,
    count: u64,
    events: super::FileEvents,
    buf: Box<[u8]>,
    names: Option<super::fanotify::Names>,
}

impl Watch {
    pub(super) fn new(path: &Path, fanotify: bool) -> io::Result<Watch> {
        // IN_NONBLOCK | IN_CLOEXEC: reads never block.
        let inotify = Inotify::init()?;
        inotify.watches().add(
            path,
            WatchMask::OPEN
                | WatchMask::MODIFY
                | WatchMask::ATTRIB
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF,
        )?;
        Ok(Watch {
            inotify,
            count: 0,
            events: super::FileEvents::default(),
            buf: vec![0; 4096].into_boxed_slice(),
            names: if fanotify {
                super::fanotify::Names::new(path)
            } else {
                None
            },
        })
    }

    pub(super) fn names_by(&self) -> super::NamedBy {
        match self.names {
            Some(_) => super::NamedBy::Fanotify,
            None => super::NamedBy::ProcScan,
        }
    }

    /// The openers fanotify named since the last call, `None` without it.
    pub(super) fn take_openers(&mut self) -> Option<Vec<super::OpenedBy>> {
        self.names.as_mut().map(super::fanotify::Names::take)
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }

    pub(super) fn events(&self) -> super::FileEvents {
        super::FileEvents {
            opens: self.count,
            ..self.events
        }
    }

    pub(super) fn drain(&mut self) -> io::Result<()> {
        // Names first: an opener the count shows is already named. A group
        // that fails to read only stops naming; the count goes on.
        if let Some(names) = self.names.as_mut()
            && names.drain().is_err()
        {
            self.names = None;
        }
        loop {
            match self.inotify.read_events(&mut self.buf) {
                Ok(events) => {
                    for e in events {
                        if e.mask.contains(EventMask::Q_OVERFLOW) {
                            // Lost events: at least one open, and perhaps
                            // a write, happened.
                            self.count += 1;
                            self.events.overflowed = true;
                        }
                        if e.mask.contains(EventMask::OPEN) {
                            self.count += 1;
                        }
                        if e.mask.contains(EventMask::MODIFY) {
                            self.events.modifications += 1;
                        }
                        if e.mask.contains(EventMask::ATTRIB) {
                            self.events.attribute_changes += 1;
                        }
                        if e.mask.contains(EventMask::DELETE_SELF) {
                            self.events.deleted = true;
                        }
                        if e.mask.contains(EventMask::MOVE_SELF) {
                            self.events.moved = true;
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
            .field("fanotify", &self.names.is_some())
            .finish_non_exhaustive()
    }
}
