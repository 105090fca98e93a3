//! Real files and real locks: the conflict reproduced on this machine's file
//! system.
//!
//! What lives here:
//!
//! - [`ScaledClock`]: the scaled wall clock of a real run.
//! - [`lock`]: advisory `flock` locks, preallocation and free space — the
//!   crate's only calls into fs2, in fully qualified form, because std's own
//!   `File::lock_shared`, `try_lock_shared` and `unlock` (Rust 1.89) shadow
//!   fs2's methods of the same names.
//! - [`proc_locks`]: who holds a lock on a file, asked without opening it
//!   (device and inode looked up in `/proc/locks`, then in the `lock:` lines
//!   of `/proc/PID/fdinfo`, so the processes holding it now are named, with
//!   their pids and commands). Elsewhere there is no such table: it answers "nobody", and a
//!   lock-aware reader finds the lock only by opening the file and trying
//!   [`lock::try_lock_shared`], an open the holder could see.
//! - [`proc_fds`]: who has a file open, asked without opening it (the
//!   `/proc/PID/fd` links that lead to its inode): a reader that was there
//!   before the server, the opener a watch just saw.
//! - [`OpenedBy`], [`NamedBy`]: who opened a watched file, as
//!   [`OpenWatch::drain_openers`] names it (fanotify where permitted, else
//!   the `/proc/PID/fd` scan).
//! - [`OpenWatch`]: counts the opens of one file through inotify `IN_OPEN`
//!   (Linux), so the holder of an advisory lock learns of a lock-unaware
//!   reader. Elsewhere foreign opens cannot be detected: the count stays 0.
//! - [`LiveFileGuard`]: for embedders, a live file held read/write under an
//!   exclusive lock, with its foreign opens counted; its own copies and
//!   snapshots ([`LiveFileGuard::snapshot_to`], [`OwnSnapshot`]) go through
//!   the held descriptor and are not counted.
//! - [`RotationWriter`]: for embedders and `ScheduledCopy` on disk,
//!   crash-safe numbered copies ("Mail Data Backup #1" the newest): a
//!   temporary name, a sync, a rename into the rotation; free space checked
//!   before a byte is written.
//! - [`reflink()`](reflink::reflink), and [`reflink_from`](reflink::reflink_from)
//!   through a descriptor already open: copy-on-write clones where the file system has
//!   them (btrfs, XFS, APFS), reporting [`CloneOutcome::Unsupported`] — not
//!   an error — where it does not (ext4), so the caller falls back to
//!   copy-before-write.
//!
//! - [`FileSnapshot`]: a point-in-time image of a live file taken in O(1):
//!   a reflink where the file system clones files, otherwise
//!   copy-before-write, as the VSS system provider does (the volume saves a
//!   page's old contents before a write changes it while the snapshot
//!   lives). [`OsVolume::snapshot`](crate::volume::OsVolume::snapshot) takes one.
//!
//! What does not: the volume backend (`volume/os.rs`, [`OsVolume`](crate::volume::OsVolume),
//! built on these pieces), the runner, and the actors.

mod guard;
mod rotation;
mod runner;

pub use crate::volume::os::{
    CloneOutcome, FileEvents, FileSnapshot, LockHolder, NamedBy, OpenWatch, OpenedBy, ScaledClock,
    TEMP_PREFIX, lock, proc_fds, proc_locks, reflink, remove_stale_temps,
};
pub use guard::{LiveFileGuard, OwnSnapshot};
pub use rotation::{RotationOutcome, RotationWriter, SpaceCheck};

pub(crate) use crate::volume::os::files::create_new_file;
