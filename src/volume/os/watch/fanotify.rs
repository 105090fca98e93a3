//! Linux, where permitted: a fanotify group with one `FAN_OPEN` mark on the
//! file's inode, which names the process of every open, since each event
//! carries the opener's pid. It only names: the count of opens stays
//! inotify's (see `linux`), so a machine without fanotify detects just as
//! well and names by the `/proc` scan instead.
//!
//! Permitted means `CAP_SYS_ADMIN` (root): a notification group that
//! reports file descriptors is refused to others with `EPERM`. The group is
//! `FAN_CLASS_NOTIF` (it never blocks an open), `FAN_NONBLOCK` and
//! `FAN_CLOEXEC`. Each event comes with a descriptor of the file that the
//! kernel opened for us without notifying anyone (it is no open in any
//! watch); it is closed as soon as the event is read.
//!
//! What does not live here: the count of opens, the `/proc` fallback
//! (`OpenWatch::drain_openers`).

use std::io;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sys::fanotify::{EventFFlags, Fanotify, InitFlags, MarkFlags, MaskFlags};

use super::{NamedBy, OpenedBy};
use crate::volume::os::proc_fds::command_of;

/// The most openers kept between two drains: each process once, so only a
/// storm of distinct processes fills it, and the first are named.
const MOST_KEPT: usize = 64;

pub(super) struct Names {
    group: Fanotify,
    me: u32,
    pending: Vec<OpenedBy>,
}

impl Names {
    /// A group marking `path`'s inode for opens; `None` where fanotify is
    /// not permitted (`EPERM`), not built in (`ENOSYS`), used up (`EMFILE`)
    /// or cannot mark this file system.
    pub(super) fn new(path: &Path) -> Option<Names> {
        let group = Fanotify::init(
            InitFlags::FAN_CLASS_NOTIF | InitFlags::FAN_NONBLOCK | InitFlags::FAN_CLOEXEC,
            EventFFlags::O_RDONLY | EventFFlags::O_CLOEXEC | EventFFlags::O_LARGEFILE,
        )
        .ok()?;
        group
            .mark(
                MarkFlags::FAN_MARK_ADD,
                MaskFlags::FAN_OPEN,
                AT_FDCWD,
                Some(path),
            )
            .ok()?;
        Some(Names {
            group,
            me: std::process::id(),
            pending: Vec::new(),
        })
    }

    /// Reads every queued event, keeping each opener other than this
    /// process once, with its command name read now (while it likely still
    /// runs). Never blocks.
    pub(super) fn drain(&mut self) -> io::Result<()> {
        loop {
            match self.group.read_events() {
                Ok(events) if events.is_empty() => return Ok(()),
                Ok(events) => {
                    for e in events {
                        // An overflow names nobody; the count is inotify's.
                        if e.mask().contains(MaskFlags::FAN_Q_OVERFLOW) {
                            continue;
                        }
                        let Ok(pid) = u32::try_from(e.pid()) else {
                            continue;
                        };
                        if pid == self.me
                            || pid == 0
                            || self.pending.len() >= MOST_KEPT
                            || self.pending.iter().any(|o| o.pid == pid)
                        {
                            continue;
                        }
                        self.pending.push(OpenedBy {
                            pid,
                            command: command_of(pid),
                            named_by: NamedBy::Fanotify,
                        });
                        // `e` drops here, closing its descriptor.
                    }
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The openers kept since the last call.
    pub(super) fn take(&mut self) -> Vec<OpenedBy> {
        std::mem::take(&mut self.pending)
    }
}
