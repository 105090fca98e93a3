//! [`OsVolume`]: a volume mapped to a real directory, with real files and
//! real advisory locks.
//!
//! It keeps the [`Volume`] contract as far as the operating system allows,
//! and says where it cannot:
//!
//! - **Paths** are checked so nothing escapes the directory: a component that
//!   is empty, `.` or `..`, or contains `/` or NUL is refused
//!   ([`Error::InvalidName`]); so is a path through a symlink that leads out
//!   of the directory, a dangling symlink, or a symlink as the final component
//!   ([`Error::PathEscapes`]). Symlinked folders that stay inside are
//!   followed. The check is made before each operation, not atomically with
//!   it: someone who can replace a folder by a symlink between the check and
//!   the operation is not defended against.
//! - **Listings** are sorted by name and show regular files and folders
//!   only: symlinks, devices, sockets, names that are not UTF-8, and the
//!   temporary files mailsim writes (names starting with `.mailsim-tmp`) are
//!   left out.
//! - **Writes of whole files** ([`Volume::put_file`]) go to a temporary name
//!   in the same folder, are synced, renamed over the target, and the folder
//!   is synced: a crash leaves the old file or the new one. The target is
//!   replaced by a new inode: handles already open on it keep the old
//!   contents (the simulated volume changes the contents in place). Renames
//!   and removals sync the folder too.
//! - **Opens and deny modes.** Access maps to the open's read/write mode.
//!   Deny modes map to `flock` ([`lock`]): an open denying
//!   anything takes an exclusive lock if it writes, a shared one if it only
//!   reads; an open with [`Deny::NONE`] takes no lock at all — `flock` is
//!   advisory, as the Mac's read paths were, so a lock-unaware reader opens a
//!   held file. An open is refused with [`Error::DenyConflict`]:
//!   1. by the File Manager's exact rules against every open made through
//!      this `OsVolume` (the holder is named by its [`Owner`]);
//!   2. then, asked *without opening the file* (Linux `/proc/locks` and the
//!      holders' `/proc/PID/fdinfo`, see [`proc_locks`]), when another open — another process,
//!      another `OsVolume`, a `LiveFileGuard` (`mailsim::real`) —
//!      holds a lock that conflicts: any lock for an open that writes, an
//!      exclusive lock for a reading open that denies (the holders are
//!      named `"command (pid N)"`, several joined by `, `, or `"another
//!      process"`);
//!   3. last, when the lock itself cannot be taken after opening (a lock
//!      taken by someone else in between, or a system without
//!      `/proc/locks`, where check 2 finds nothing). That open was real:
//!      another holder's inotify watch saw it.
//!
//!   Across processes flock only approximates the deny modes: two readers
//!   that both deny readers each take a shared lock and do not conflict;
//!   two opens that both write and deny only readers do.
//! - **Foreign opens** ([`Volume::foreign_opens`]) are counted for a handle
//!   that writes and holds a lock: it starts an
//!   [`OpenWatch`] (inotify `IN_OPEN`) on the file,
//!   which counts every successful open of it by anyone from then on; the
//!   volume subtracts the opens it made itself for the same owner and the
//!   opens it made and then refused for a deny conflict. `last_by` names who
//!   opened it since the count last grew: another owner that opened the
//!   file through this volume, and the other processes the kernel names
//!   (`tar (pid 4242)`: fanotify's event where permitted, else the
//!   processes that still have it open, [`OpenWatch::drain_openers`]); an
//!   open by this process outside the volume has no name. Other handles
//!   report 0. On
//!   systems other than Linux foreign opens cannot be detected and every
//!   count is 0.
//! - **Who writes** ([`Volume::writer`]): a writing open made through this
//!   volume (its owner, with this process's pid), else the processes
//!   holding an exclusive lock on the file now, every one of them
//!   ([`proc_locks`]: an inherited lock names its live holders). Never opens
//!   the file. A writer elsewhere that took no lock is invisible; on systems
//!   other than Linux, so is every writer elsewhere.
//! - **Times**: a file's modification time is read with `stat` and mapped to
//!   virtual time through the volume's [`ScaledClock`]. **Free space** is
//!   fs2's `available_space` of the directory.
//! - Reads and writes of open files are positioned (`pread`/`pwrite`), so
//!   handles share no cursor, and run outside the volume's lock: a long read
//!   does not hold up other handles. [`Volume::image`] needs a handle with
//!   read access (the simulated volume also gives it to write-only handles).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{
    Access, Chunk, Content, Deny, DirEntry, ForeignOpens, Handle, Holder, Metadata, Owner, Volume,
    VolumePath,
};
use crate::error::{Error, Result};
use crate::time::SimTime;

mod clock;
pub(crate) mod cow;
pub(crate) mod faulty;
pub(crate) mod files;
pub mod lock;
pub mod proc_fds;
pub mod proc_locks;
pub mod reflink;
mod watch;

// The volume itself, a concern a file: the path checks (`paths`), the
// folder tree by name (`tree`), opens with their locks and watches
// (`opens`), I/O through an open (`handles`). The `Volume` impl below only
// delegates to them.
mod handles;
mod opens;
mod paths;
mod tree;

use opens::Open;

pub use clock::ScaledClock;
pub use cow::FileSnapshot;
pub use files::{TEMP_PREFIX, remove_stale_temps};
pub use opens::Tampering;
pub use proc_locks::LockHolder;
pub use reflink::CloneOutcome;
pub use watch::{FileEvents, NamedBy, OpenWatch, OpenedBy};

/// A volume named `name` whose folders and files are those of a real
/// directory. Clones are handles to the same volume (same opens). `Send +
/// Sync`: share it between threads behind an `Arc` or by cloning.
#[derive(Clone)]
pub struct OsVolume {
    name: Arc<str>,
    root: Arc<Path>,
    clock: ScaledClock,
    state: Arc<Mutex<State>>,
    /// Active copy-before-write snapshots of this volume's files.
    cow: Arc<cow::Registry>,
    /// Whether the file system clones files (probed once, when first asked).
    reflinks: Arc<std::sync::OnceLock<bool>>,
}

/// The identity of a file, whatever path it is reached by.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = std::path::PathBuf;

/// What the volume's lock guards: its opens and the counters naming new
/// handles and temporary files.
struct State {
    opens: BTreeMap<u64, Open>,
    next_handle: u64,
    next_temp: u64,
}

fn file_id(meta: &fs::Metadata, _real: &Path) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        _real.to_path_buf()
    }
}

fn cow_key(id: &FileId) -> cow::Key {
    format!("{id:?}").into_bytes()
}

fn io_at(real: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: real.to_path_buf(),
        source,
    }
}

impl OsVolume {
    /// The volume `name` over the existing directory `dir`. Nothing on disk
    /// is created or changed. Modification times map to virtual time through
    /// a clock reading [`SimTime::ZERO`] now, at scale 1, until
    /// [`OsVolume::with_clock`] gives another.
    ///
    /// # Errors
    /// [`Error::NotFound`] when `dir` does not exist, [`Error::NotAFolder`]
    /// when it is not a directory (both name the root of `name`, whose real
    /// path is `dir`); `Error::Io` naming `dir` when it cannot be resolved.
    pub fn open_dir(name: &str, dir: &Path) -> Result<OsVolume> {
        let vroot = VolumePath::root(name);
        let meta = match fs::metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound { path: vroot });
            }
            Err(e) => return Err(io_at(dir)(e)),
        };
        if !meta.is_dir() {
            return Err(Error::NotAFolder { path: vroot });
        }
        let root = fs::canonicalize(dir).map_err(io_at(dir))?;
        Ok(OsVolume {
            name: Arc::from(name),
            root: Arc::from(root),
            clock: ScaledClock::new(SimTime::ZERO, 1),
            state: Arc::new(Mutex::new(State {
                opens: BTreeMap::new(),
                next_handle: 1,
                next_temp: 0,
            })),
            cow: Arc::new(cow::Registry::default()),
            reflinks: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// This volume, reporting modification times through `clock` (the real
    /// runner's scaled clock).
    pub fn with_clock(mut self, clock: ScaledClock) -> OsVolume {
        self.clock = clock;
        self
    }

    /// The clock modification times are read through.
    pub fn clock(&self) -> &ScaledClock {
        &self.clock
    }

    /// The directory the volume maps to, canonical (symlinks resolved).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn disk_full(&self, path: &VolumePath, needed_bytes: u64) -> Error {
        Error::DiskFull {
            path: path.clone(),
            needed_bytes,
            available_bytes: lock::available_space(&self.root).unwrap_or(0),
            real_path: self.real_path(path).ok(),
        }
    }

    fn temp_name(&self) -> String {
        let mut s = self.state.lock();
        s.next_temp += 1;
        format!("{TEMP_PREFIX}-{}-{}", std::process::id(), s.next_temp)
    }
}

impl Volume for OsVolume {
    fn name(&self) -> &str {
        &self.name
    }

    /// Regular files and folders of the directory, sorted by name (see the
    /// module docs for what is left out). Opens the directory, not its files.
    fn list(&self, folder: &VolumePath) -> Result<Vec<DirEntry>> {
        tree::list(self, folder)
    }

    /// `stat` of the path (no open). A folder's length is 0; anything that is
    /// neither a regular file nor a folder is [`Error::NotFound`].
    fn metadata(&self, path: &VolumePath) -> Result<Metadata> {
        tree::metadata(self, path)
    }

    fn create_folder(&self, path: &VolumePath) -> Result<()> {
        tree::create_folder(self, path)
    }

    /// Crash-safe: a temporary file in the same folder, synced, renamed over
    /// the target, the folder synced. Refused with [`Error::DiskFull`] before
    /// writing when the file system has less free space than the content's
    /// length.
    fn put_file(&self, path: &VolumePath, content: Content) -> Result<()> {
        tree::put_file(self, path, content)
    }

    /// Refused with [`Error::DenyConflict`] while an open made through this
    /// volume, or (Linux) a lock held elsewhere, holds the file.
    fn remove_file(&self, path: &VolumePath) -> Result<()> {
        tree::remove_file(self, path)
    }

    /// `rename(2)`, atomically replacing a file at `to` unless that file is
    /// held (as for [`Volume::remove_file`]); open handles follow the file.
    fn rename(&self, from: &VolumePath, to: &VolumePath) -> Result<()> {
        tree::rename(self, from, to)
    }

    /// Opens the file (never creates it) and, unless `deny` is
    /// [`Deny::NONE`], takes a lock without waiting; see the module docs for
    /// the three checks behind [`Error::DenyConflict`] and for which handles
    /// count foreign opens. Never blocks on a lock.
    fn open(&self, path: &VolumePath, owner: &Owner, access: Access, deny: Deny) -> Result<Handle> {
        opens::open(self, path, owner, access, deny)
    }

    /// Releases the handle's lock, if any, and closes it.
    fn close(&self, handle: Handle) -> Result<()> {
        opens::close(self, handle)
    }

    fn len_of(&self, handle: Handle) -> Result<u64> {
        handles::len_of(self, handle)
    }

    /// `pread` until `len` bytes or the end of the file. [`Error::BadHandle`]
    /// for a handle without read access.
    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        handles::read_at(self, handle, offset, len)
    }

    /// `pwrite` of all of `data`. [`Error::NotWritable`] for a handle without
    /// write access; [`Error::DiskFull`] when the file system fills.
    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        handles::write_at(self, handle, offset, data)
    }

    /// `ftruncate`. [`Error::NotWritable`] without write access.
    fn set_len(&self, handle: Handle, len_bytes: u64) -> Result<()> {
        handles::set_len(self, handle, len_bytes)
    }

    /// `fdatasync`: blocks until the file's data is on disk.
    fn sync(&self, handle: Handle) -> Result<()> {
        handles::sync(self, handle)
    }

    /// The whole file, read through the handle (no new open).
    /// [`Error::BadHandle`] for a handle without read access.
    fn image(&self, handle: Handle) -> Result<Content> {
        handles::image(self, handle)
    }

    /// A writing open through this volume (its owner, this process's pid),
    /// else the processes holding an exclusive lock elsewhere now, per
    /// [`proc_locks`] (each one's command or `"another process"`, and its
    /// pid; the first in `name` and `pid`, the rest in `others`). Never
    /// opens the file.
    fn writer(&self, path: &VolumePath) -> Result<Option<Holder>> {
        opens::writer(self, path)
    }

    /// Successful opens of the file by others since `handle` was opened, for
    /// a handle that writes and holds a lock (others: 0); see the module
    /// docs. Never blocks.
    fn foreign_opens(&self, handle: Handle) -> Result<ForeignOpens> {
        opens::foreign_opens(self, handle)
    }

    fn available_bytes(&self) -> Result<u64> {
        lock::available_space(&self.root).map_err(io_at(&self.root))
    }

    fn disk_path(&self, path: &VolumePath) -> Option<std::path::PathBuf> {
        self.real_path(path).ok()
    }
}

impl fmt::Debug for OsVolume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("OsVolume")
            .field("name", &&*self.name)
            .field("root", &self.root)
            .field("opens", &s.opens.len())
            .finish()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    pub(super) const HD: &str = "Server HD";

    pub(super) fn setup() -> (tempfile::TempDir, OsVolume, VolumePath) {
        let dir = tempfile::tempdir().unwrap();
        let v = OsVolume::open_dir(HD, dir.path()).unwrap();
        let ext = VolumePath::new(HD, ["System Folder", "Extensions"]);
        v.create_folder(&ext).unwrap();
        let data = ext.join("Microsoft Mail Data");
        v.put_file(&data, Content::from_bytes(b"mail")).unwrap();
        (dir, v, data)
    }

    pub(super) fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
    #[test]
    fn open_dir_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = OsVolume::open_dir(HD, &dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        fs::write(dir.path().join("file"), b"x").unwrap();
        let err = OsVolume::open_dir(HD, &dir.path().join("file")).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
        let v = OsVolume::open_dir(HD, dir.path()).unwrap();
        assert_eq!(v.root(), fs::canonicalize(dir.path()).unwrap());
        assert!(format!("{v:?}").contains("Server HD"));
        assert!(v.available_bytes().unwrap() > 0);
    }

    #[test]
    fn modified_times_go_through_the_clock() {
        let (_dir, v, data) = setup();
        let v = v.with_clock(ScaledClock::new(SimTime::from_micros(3_600_000_000), 100));
        let m = v.metadata(&data).unwrap();
        // Written just before the clock started: within a second of its origin.
        let origin = SimTime::from_micros(3_600_000_000);
        assert!(m.modified.saturating_since(origin) < std::time::Duration::from_secs(100));
        assert!(origin.saturating_since(m.modified) < std::time::Duration::from_secs(100));
    }
}
