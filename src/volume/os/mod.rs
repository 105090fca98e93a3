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
//!   2. then, asked *without opening the file* (Linux `/proc/locks`, see
//!      [`proc_locks`]), when another open — another process,
//!      another `OsVolume`, a `LiveFileGuard` (`mailsim::real`) —
//!      holds a lock that conflicts: any lock for an open that writes, an
//!      exclusive lock for a reading open that denies (the holder is named
//!      `"command (pid N)"`, or `"another process"`);
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
//!   opens it made and then refused for a deny conflict. `last_by` names the
//!   most recent other owner that opened the file through this volume (an
//!   open by another process has no name). Other handles report 0. On
//!   systems other than Linux foreign opens cannot be detected and every
//!   count is 0.
//! - **Who writes** ([`Volume::writer`]): a writing open made through this
//!   volume (its owner, with this process's pid), else the first process
//!   holding an exclusive lock on the file per `/proc/locks`. Never opens
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
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{
    Access, Chunk, Content, Deny, DirEntry, EntryKind, ForeignOpens, Handle, Holder, Metadata,
    Owner, Volume, VolumePath,
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

pub use clock::ScaledClock;
pub use cow::FileSnapshot;
pub use files::{TEMP_PREFIX, remove_stale_temps};
pub use proc_locks::LockHolder;
pub use reflink::CloneOutcome;
pub use watch::{FileEvents, OpenWatch};

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
type FileId = PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockKind {
    Shared,
    Exclusive,
}

struct Open {
    file: Arc<File>,
    path: VolumePath,
    real: PathBuf,
    id: FileId,
    owner: Owner,
    access: Access,
    deny: Deny,
    lock: Option<LockKind>,
    watch: Option<OpenWatch>,
    /// Opens of this file the watch counted that are not foreign: made
    /// through this volume by the same owner, or refused after opening.
    not_foreign: u64,
    last_foreign: Option<Owner>,
    /// The watch's count of modifications when this handle last wrote (or
    /// was last checked): any beyond it that this handle did not make are
    /// another process's writes.
    modify_seen: u64,
    /// Modifications by others found so far.
    foreign_writes: u64,
    /// The file's length as this volume's own writes left it: a file of
    /// another length was written by someone else.
    len_expected: u64,
}

/// What happened to a held file behind its holder's back, as
/// [`OsVolume::check_file`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tampering {
    /// Its name is gone: unlinked (`rm`), or its folder removed.
    Removed,
    /// It was renamed away (`mv` of the file itself).
    Renamed,
    /// Another file now has its name (`mv`, `rsync`, `tar -x` or a restore
    /// onto the folder): the holder writes into a file that has no name.
    Replaced,
    /// Another process wrote or truncated it in place (`cp` over it, `dd`,
    /// `truncate`).
    WrittenByOther,
}

impl Tampering {
    /// What happened, as narration: `removed`, `renamed away`, `replaced
    /// by another file`, `written by another process`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tampering::Removed => "removed",
            Tampering::Renamed => "renamed away",
            Tampering::Replaced => "replaced by another file",
            Tampering::WrittenByOther => "written by another process",
        }
    }
}

impl fmt::Display for Tampering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

    /// A point-in-time snapshot of an open file, taken in O(1): a reflink
    /// clone where the file system has them, otherwise copy-before-write
    /// (every write through this volume saves the pages it changes while the
    /// snapshot lives). Reading the snapshot never opens the live file, so
    /// its holder sees no foreign access.
    pub fn snapshot(&self, handle: Handle) -> Result<FileSnapshot> {
        let (file, path, real, _) = self.file_of(handle)?;
        let id = self.with_open(handle, |o| Ok(o.id))?;
        let reflinks = *self.reflinks.get_or_init(|| reflink::supported(&self.root));
        if reflinks {
            let tmp = real.with_file_name(format!("{}-snapshot-{}", self.temp_name(), handle.0));
            // The clone opens the live file by name: the holder's own open.
            for o in self.state.lock().opens.values_mut().filter(|o| o.id == id) {
                o.not_foreign += 1;
            }
            if let CloneOutcome::Cloned = reflink::reflink(&real, &tmp)? {
                let clone = File::open(&tmp).map_err(|e| self.os_error(&path, &tmp, e))?;
                return FileSnapshot::reflinked(clone, tmp)
                    .map_err(|e| self.os_error(&path, &real, e));
            }
        }
        self.cow
            .begin(cow_key(&id), file)
            .map_err(|e| self.os_error(&path, &real, e))
    }

    /// Closes every open of `owner`, as when its process dies: its locks
    /// released, its watches ended.
    pub fn close_all_of(&self, owner: &Owner) {
        let gone: Vec<Open> = {
            let mut s = self.state.lock();
            let handles: Vec<u64> = s
                .opens
                .iter()
                .filter(|(_, o)| o.owner == *owner)
                .map(|(h, _)| *h)
                .collect();
            handles.iter().filter_map(|h| s.opens.remove(h)).collect()
        };
        for o in gone {
            if o.lock.is_some() {
                let _ = lock::unlock(&o.file);
            }
        }
    }

    /// The whole current contents of a file, read through an open this
    /// volume already has of it when there is one (no new open: no holder's
    /// watch sees it), else through a fresh read-only open (nobody here
    /// holds it).
    pub fn contents(&self, path: &VolumePath) -> Result<Content> {
        let (real, meta) = self.existing_file(path)?;
        let id = file_id(&meta, &real);
        let held = {
            let s = self.state.lock();
            s.opens
                .values()
                .find(|o| o.id == id && o.access.reads())
                .map(|o| Arc::clone(&o.file))
        };
        let bytes = match held {
            Some(file) => files::read_all_at(&file),
            None => File::open(&real).and_then(|f| files::read_all_at(&f)),
        }
        .map_err(|e| self.os_error(path, &real, e))?;
        Ok(Content::from_bytes(&bytes))
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

    /// The real path of `path`, after the checks every operation makes: the
    /// volume's name, each component, and no symlink leading out of the
    /// directory (see the module docs). The path need not exist. Never opens
    /// anything (it `lstat`s each existing component and resolves the
    /// deepest).
    ///
    /// # Errors
    /// [`Error::NoSuchVolume`] for another volume's path;
    /// [`Error::InvalidName`] for a bad component; [`Error::PathEscapes`] for
    /// a symlink out, a dangling symlink, or a symlink as the final
    /// component; `Error::Io` when a component cannot be examined (e.g. no
    /// permission).
    pub fn real_path(&self, path: &VolumePath) -> Result<PathBuf> {
        if path.volume() != &*self.name {
            return Err(Error::NoSuchVolume {
                name: path.volume().to_owned(),
            });
        }
        let comps = path.components();
        for c in comps {
            let reason = if c.is_empty() {
                Some("empty")
            } else if c == "." || c == ".." {
                Some("names a folder relative to another")
            } else if c.contains(['/', '\0']) {
                Some("contains '/' or NUL")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::InvalidName {
                    path: path.clone(),
                    name: c.clone(),
                    reason,
                });
            }
        }
        let mut real = self.root.to_path_buf();
        let mut deepest = None;
        for (i, c) in comps.iter().enumerate() {
            real.push(c);
            match fs::symlink_metadata(&real) {
                Ok(m) => {
                    if m.file_type().is_symlink() && i + 1 == comps.len() {
                        return Err(Error::PathEscapes { path: real });
                    }
                    deepest = Some(real.clone());
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    // The rest does not exist (or runs through a file):
                    // nothing below can be a symlink.
                    real.extend(&comps[i + 1..]);
                    break;
                }
                Err(e) => return Err(io_at(&real)(e)),
            }
        }
        if let Some(deepest) = deepest {
            match fs::canonicalize(&deepest) {
                Ok(c) if c.starts_with(&*self.root) => {}
                // Outside, or a dangling symlink on the way.
                Ok(_) => return Err(Error::PathEscapes { path: real }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Error::PathEscapes { path: real });
                }
                Err(e) => return Err(io_at(&deepest)(e)),
            }
        }
        Ok(real)
    }

    /// Maps an OS error about `path` to the crate's typed errors where one
    /// fits, else `Error::Io` with the real path.
    fn os_error(&self, path: &VolumePath, real: &Path, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path: path.clone() },
            io::ErrorKind::IsADirectory => Error::IsAFolder { path: path.clone() },
            io::ErrorKind::NotADirectory => Error::NotAFolder { path: path.clone() },
            _ => Error::Io {
                path: real.to_path_buf(),
                source: e,
            },
        }
    }

    fn disk_full(&self, path: &VolumePath, needed_bytes: u64) -> Error {
        Error::DiskFull {
            path: path.clone(),
            needed_bytes,
            available_bytes: lock::available_space(&self.root).unwrap_or(0),
        }
    }

    /// The `lstat` of an existing path; `None` when it does not exist.
    fn lstat(&self, path: &VolumePath, real: &Path) -> Result<Option<fs::Metadata>> {
        match fs::symlink_metadata(real) {
            Ok(m) => Ok(Some(m)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.os_error(path, real, e)),
        }
    }

    /// The real path and metadata of an existing regular file.
    fn existing_file(&self, path: &VolumePath) -> Result<(PathBuf, fs::Metadata)> {
        let real = self.real_path(path)?;
        match self.lstat(path, &real)? {
            Some(m) if m.is_file() => Ok((real, m)),
            Some(m) if m.is_dir() => Err(Error::IsAFolder { path: path.clone() }),
            _ => Err(Error::NotFound { path: path.clone() }),
        }
    }

    /// Checks that the folder `path` would be created in exists.
    fn check_parent(&self, path: &VolumePath) -> Result<()> {
        let Some(parent) = path.parent() else {
            return Err(Error::IsAFolder { path: path.clone() });
        };
        let real = self.real_path(&parent)?;
        match fs::metadata(&real) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::NotAFolder { path: parent }),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Err(Error::NotFound { path: parent })
            }
            Err(e) => Err(io_at(&real)(e)),
        }
    }

    /// Locks on `real` held by others than this volume's opens, per the
    /// kernel's lock table (empty where there is none). This volume's own
    /// locks appear in the table under this process's pid; as many of those
    /// as this volume holds, of each kind, are left out.
    ///
    /// Where the table cannot be read (no `/proc`), the answer is "none",
    /// and a conflict is found only when the lock itself is refused.
    fn foreign_locks(s: &State, id: &FileId, real: &Path) -> Vec<LockHolder> {
        let mut all = proc_locks::holders(real).unwrap_or_default();
        let me = std::process::id();
        for kind in [LockKind::Shared, LockKind::Exclusive] {
            let mut mine = s
                .opens
                .values()
                .filter(|o| o.id == *id && o.lock == Some(kind))
                .count();
            all.retain(|h| {
                let ours = h.pid == Some(me) && h.write == (kind == LockKind::Exclusive);
                if ours && mine > 0 {
                    mine -= 1;
                    false
                } else {
                    true
                }
            });
        }
        all
    }

    /// A duplicate of an open's file descriptor: the holder reads its own
    /// file through it (to copy it aside, say) without a new open, so no
    /// foreign access is seen. Reads through it should be positional.
    pub fn try_clone_file(&self, handle: Handle) -> Result<File> {
        let (file, _, real, _) = self.file_of(handle)?;
        file.try_clone()
            .map_err(|source| Error::Io { path: real, source })
    }

    fn with_open<T>(&self, handle: Handle, f: impl FnOnce(&mut Open) -> Result<T>) -> Result<T> {
        let mut s = self.state.lock();
        let Some(o) = s.opens.get_mut(&handle.0) else {
            return Err(Error::BadHandle);
        };
        f(o)
    }

    /// Drains the handle's watch (if any) and counts the modifications
    /// since its last look: as another process's writes (`own` false), or
    /// as this handle's own (`own` true, right after it wrote).
    fn account_writes(&self, handle: Handle, own: bool) -> Result<()> {
        self.with_open(handle, |o| {
            let Some(watch) = o.watch.as_mut() else {
                return Ok(());
            };
            let events = watch.events().map_err(io_at(&o.real))?;
            let new = events.modifications.saturating_sub(o.modify_seen);
            if !own {
                o.foreign_writes = o.foreign_writes.saturating_add(new);
            }
            o.modify_seen = events.modifications;
            Ok(())
        })
    }

    /// A write through `handle` that leaves the file `len` long (`None`:
    /// at least as long as before and as `at_least`): writes already queued
    /// by others are counted as theirs first, the write's own events as its
    /// own after, and the length it leaves is noted for every open of the
    /// file through this volume.
    fn own_write<T>(
        &self,
        handle: Handle,
        len: Result<u64, u64>,
        write: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.account_writes(handle, false)?;
        let result = write();
        self.account_writes(handle, true)?;
        let mut s = self.state.lock();
        if let Some(id) = s.opens.get(&handle.0).map(|o| o.id) {
            for o in s.opens.values_mut().filter(|o| o.id == id) {
                o.len_expected = match len {
                    Ok(exact) => exact,
                    Err(at_least) => o.len_expected.max(at_least),
                };
            }
        }
        result
    }

    /// Whether the file `handle` holds is still the file at its path, and
    /// written by nobody else: [`None`] when all is well, else what
    /// happened (removed, renamed, replaced, written by another process).
    /// For a handle that writes and holds a lock, with a watch (Linux); a
    /// check of the path's inode against the handle's for every handle.
    /// Never opens anything: a `stat` of the path, an `fstat`, and the
    /// watch's queue.
    ///
    /// Writes by another process are told from the holder's own by the
    /// file's length (the volume knows the length its own writes leave: a
    /// truncation or an append by anyone else changes it) and by when they
    /// come: the volume reads the watch's queue before and after each of
    /// its own writes, so another process's write in place that lands
    /// during one of them (a few microseconds) is taken for the holder's;
    /// any other is found. Nothing can undo such a write: this only tells the holder at
    /// once, so that it stops acknowledging.
    pub fn check_file(&self, handle: Handle) -> Result<Option<Tampering>> {
        self.account_writes(handle, false)?;
        let (file, real, id, events, foreign_writes, len_expected) =
            self.with_open(handle, |o| {
                let events = match o.watch.as_mut() {
                    Some(w) => w.events().map_err(io_at(&o.real))?,
                    None => FileEvents::default(),
                };
                Ok((
                    Arc::clone(&o.file),
                    o.real.clone(),
                    o.id,
                    events,
                    o.foreign_writes,
                    o.len_expected,
                ))
            })?;
        let at_path = match fs::symlink_metadata(&real) {
            Ok(m) => Some(file_id(&m, &real)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                None
            }
            Err(e) => return Err(io_at(&real)(e)),
        };
        let meta = file.metadata().map_err(io_at(&real))?;
        let links = {
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                meta.nlink()
            }
            #[cfg(not(unix))]
            {
                1
            }
        };
        Ok(match at_path {
            Some(other) if other != id => Some(Tampering::Replaced),
            None if events.moved => Some(Tampering::Renamed),
            None => Some(Tampering::Removed),
            Some(_) if links == 0 || events.deleted => Some(Tampering::Removed),
            Some(_) if foreign_writes > 0 || events.overflowed || meta.len() != len_expected => {
                Some(Tampering::WrittenByOther)
            }
            Some(_) => None,
        })
    }

    fn file_of(&self, handle: Handle) -> Result<(Arc<File>, VolumePath, PathBuf, Access)> {
        self.with_open(handle, |o| {
            Ok((
                Arc::clone(&o.file),
                o.path.clone(),
                o.real.clone(),
                o.access,
            ))
        })
    }

    fn modified(&self, meta: &fs::Metadata) -> SimTime {
        meta.modified()
            .map(|t| self.clock.at_wall(t))
            .unwrap_or(SimTime::ZERO)
    }

    fn temp_name(&self) -> String {
        let mut s = self.state.lock();
        s.next_temp += 1;
        format!("{TEMP_PREFIX}-{}-{}", std::process::id(), s.next_temp)
    }

    fn sync_parent(&self, real: &Path) -> Result<()> {
        let dir = real.parent().unwrap_or(&self.root);
        files::sync_dir(dir).map_err(io_at(dir))
    }
}

/// Writes all of `data` at `offset` with positioned writes.
#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

/// Writes all of `data` at `offset` (Windows: `seek_write`).
#[cfg(windows)]
fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !data.is_empty() {
        match file.seek_write(data, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Volume for OsVolume {
    fn name(&self) -> &str {
        &self.name
    }

    /// Regular files and folders of the directory, sorted by name (see the
    /// module docs for what is left out). Opens the directory, not its files.
    fn list(&self, folder: &VolumePath) -> Result<Vec<DirEntry>> {
        let real = self.real_path(folder)?;
        let meta = fs::metadata(&real).map_err(|e| self.os_error(folder, &real, e))?;
        if !meta.is_dir() {
            return Err(Error::NotAFolder {
                path: folder.clone(),
            });
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&real).map_err(|e| self.os_error(folder, &real, e))? {
            let entry = entry.map_err(io_at(&real))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let kind = match entry.file_type() {
                Ok(t) if t.is_dir() => EntryKind::Folder,
                Ok(t) if t.is_file() => EntryKind::File,
                _ => continue,
            };
            out.push(DirEntry { name, kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `stat` of the path (no open). A folder's length is 0; anything that is
    /// neither a regular file nor a folder is [`Error::NotFound`].
    fn metadata(&self, path: &VolumePath) -> Result<Metadata> {
        let real = self.real_path(path)?;
        let meta = fs::metadata(&real).map_err(|e| self.os_error(path, &real, e))?;
        let kind = if meta.is_dir() {
            EntryKind::Folder
        } else if meta.is_file() {
            EntryKind::File
        } else {
            return Err(Error::NotFound { path: path.clone() });
        };
        Ok(Metadata {
            kind,
            len_bytes: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            modified: self.modified(&meta),
        })
    }

    fn create_folder(&self, path: &VolumePath) -> Result<()> {
        self.real_path(path)?;
        let comps = path.components();
        for depth in 1..=comps.len() {
            let here = VolumePath::new(path.volume(), comps[..depth].iter().cloned());
            let real = self.real_path(&here)?;
            match fs::metadata(&real) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(Error::NotAFolder { path: here }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&real) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && real.is_dir() => {}
                    Err(e) => return Err(self.os_error(&here, &real, e)),
                },
                Err(e) => return Err(self.os_error(&here, &real, e)),
            }
        }
        Ok(())
    }

    /// Crash-safe: a temporary file in the same folder, synced, renamed over
    /// the target, the folder synced. Refused with [`Error::DiskFull`] before
    /// writing when the file system has less free space than the content's
    /// length.
    fn put_file(&self, path: &VolumePath, content: Content) -> Result<()> {
        let real = self.real_path(path)?;
        self.check_parent(path)?;
        if self.lstat(path, &real)?.is_some_and(|m| m.is_dir()) {
            return Err(Error::IsAFolder { path: path.clone() });
        }
        let len = content.len_bytes();
        let available = lock::available_space(&self.root).map_err(io_at(&self.root))?;
        if len > available {
            return Err(Error::DiskFull {
                path: path.clone(),
                needed_bytes: len,
                available_bytes: available,
            });
        }
        let tmp = real.with_file_name(self.temp_name());
        let write = || -> io::Result<()> {
            let f = files::create_new_file(&tmp)?;
            let mut buf = vec![0; 1 << 20];
            let mut at = 0;
            while at < len {
                let n = (len - at).min(buf.len() as u64) as usize;
                let ok = crate::datafile::ReadAt::read_at(&content, at, &mut buf[..n]);
                debug_assert!(ok, "reads inside the content's length");
                write_all_at(&f, &buf[..n], at)?;
                at += n as u64;
            }
            f.sync_all()?;
            fs::rename(&tmp, &real)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(if e.kind() == io::ErrorKind::StorageFull {
                self.disk_full(path, len)
            } else {
                self.os_error(path, &real, e)
            });
        }
        self.sync_parent(&real)
    }

    /// Refused with [`Error::DenyConflict`] while an open made through this
    /// volume, or (Linux) a lock held elsewhere, holds the file.
    fn remove_file(&self, path: &VolumePath) -> Result<()> {
        let (real, meta) = self.existing_file(path)?;
        let id = file_id(&meta, &real);
        {
            let s = self.state.lock();
            if let Some(o) = s.opens.values().find(|o| o.id == id) {
                return Err(Error::DenyConflict {
                    path: path.clone(),
                    holder: o.owner.name().to_owned(),
                });
            }
            if let Some(h) = Self::foreign_locks(&s, &id, &real).first() {
                return Err(Error::DenyConflict {
                    path: path.clone(),
                    holder: h.to_string(),
                });
            }
            fs::remove_file(&real).map_err(|e| self.os_error(path, &real, e))?;
        }
        self.sync_parent(&real)
    }

    /// `rename(2)`, atomically replacing a file at `to` unless that file is
    /// held (as for [`Volume::remove_file`]); open handles follow the file.
    fn rename(&self, from: &VolumePath, to: &VolumePath) -> Result<()> {
        let (real_from, _) = self.existing_file(from)?;
        let real_to = self.real_path(to)?;
        self.check_parent(to)?;
        if from == to {
            return Ok(());
        }
        let mut s = self.state.lock();
        if let Some(m) = self.lstat(to, &real_to)? {
            if m.is_dir() {
                return Err(Error::IsAFolder { path: to.clone() });
            }
            let id = file_id(&m, &real_to);
            if let Some(o) = s.opens.values().find(|o| o.id == id) {
                return Err(Error::DenyConflict {
                    path: to.clone(),
                    holder: o.owner.name().to_owned(),
                });
            }
            if let Some(h) = Self::foreign_locks(&s, &id, &real_to).first() {
                return Err(Error::DenyConflict {
                    path: to.clone(),
                    holder: h.to_string(),
                });
            }
        }
        fs::rename(&real_from, &real_to).map_err(|e| self.os_error(from, &real_from, e))?;
        for o in s.opens.values_mut().filter(|o| o.real == real_from) {
            o.path = to.clone();
            o.real = real_to.clone();
        }
        drop(s);
        self.sync_parent(&real_from)?;
        if real_from.parent() != real_to.parent() {
            self.sync_parent(&real_to)?;
        }
        Ok(())
    }

    /// Opens the file (never creates it) and, unless `deny` is
    /// [`Deny::NONE`], takes a lock without waiting; see the module docs for
    /// the three checks behind [`Error::DenyConflict`] and for which handles
    /// count foreign opens. Never blocks on a lock.
    fn open(&self, path: &VolumePath, owner: &Owner, access: Access, deny: Deny) -> Result<Handle> {
        let (real, meta) = self.existing_file(path)?;
        let id = file_id(&meta, &real);
        // The volume's lock is held throughout, so that the watches' counts
        // and the opens this volume subtracts from them move together.
        let mut s = self.state.lock();
        if let Some(o) = s
            .opens
            .values()
            .find(|o| o.id == id && (o.deny.forbids(access) || deny.forbids(o.access)))
        {
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder: o.owner.name().to_owned(),
            });
        }
        let want = match (deny == Deny::NONE, access.writes()) {
            (true, _) => None,
            (false, true) => Some(LockKind::Exclusive),
            (false, false) => Some(LockKind::Shared),
        };
        if access.writes() || want.is_some() {
            let foreign = Self::foreign_locks(&s, &id, &real);
            if let Some(h) = foreign.iter().find(|h| access.writes() || h.write) {
                return Err(Error::DenyConflict {
                    path: path.clone(),
                    holder: h.to_string(),
                });
            }
        }

        let mut opts = File::options();
        opts.read(access.reads()).write(access.writes());
        #[cfg(unix)]
        {
            // Never through a symlink put there since the check above.
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file = opts
            .open(&real)
            .map_err(|e| self.os_error(path, &real, e))?;
        // This open is now in every watch on the file: note whether it is
        // foreign to each.
        let refused = match want {
            None => false,
            Some(LockKind::Exclusive) => !lock::try_lock_exclusive(&file).map_err(io_at(&real))?,
            Some(LockKind::Shared) => !lock::try_lock_shared(&file).map_err(io_at(&real))?,
        };
        for o in s.opens.values_mut().filter(|o| o.id == id) {
            if refused || o.owner == *owner {
                o.not_foreign += 1;
            } else {
                o.last_foreign = Some(owner.clone());
            }
        }
        if refused {
            drop(file);
            let holder = Self::foreign_locks(&s, &id, &real)
                .into_iter()
                .next()
                .map_or_else(|| "another process".to_owned(), |h| h.to_string());
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder,
            });
        }
        let watch = if access.writes() && want.is_some() && OpenWatch::is_supported() {
            // On error `file` is dropped, which releases its lock.
            Some(OpenWatch::new(&real).map_err(io_at(&real))?)
        } else {
            None
        };
        let handle = s.next_handle;
        s.next_handle += 1;
        s.opens.insert(
            handle,
            Open {
                file: Arc::new(file),
                path: path.clone(),
                real,
                id,
                owner: owner.clone(),
                access,
                deny,
                lock: want,
                watch,
                not_foreign: 0,
                last_foreign: None,
                modify_seen: 0,
                foreign_writes: 0,
                len_expected: meta.len(),
            },
        );
        Ok(Handle(handle))
    }

    /// Releases the handle's lock, if any, and closes it.
    fn close(&self, handle: Handle) -> Result<()> {
        let o = self
            .state
            .lock()
            .opens
            .remove(&handle.0)
            .ok_or(Error::BadHandle)?;
        if o.lock.is_some() {
            // Explicitly, in case a read in flight still holds the `Arc`.
            lock::unlock(&o.file).map_err(io_at(&o.real))?;
        }
        Ok(())
    }

    fn len_of(&self, handle: Handle) -> Result<u64> {
        let (file, path, real, _) = self.file_of(handle)?;
        let meta = file
            .metadata()
            .map_err(|e| self.os_error(&path, &real, e))?;
        Ok(meta.len())
    }

    /// `pread` until `len` bytes or the end of the file. [`Error::BadHandle`]
    /// for a handle without read access.
    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        let (file, path, real, access) = self.file_of(handle)?;
        if !access.reads() {
            return Err(Error::BadHandle);
        }
        let file_len = file
            .metadata()
            .map_err(|e| self.os_error(&path, &real, e))?
            .len();
        let end = offset.saturating_add(len).min(file_len);
        let start = offset.min(end);
        let mut buf = vec![0; usize::try_from(end - start).unwrap_or(usize::MAX)];
        let n = files::read_full_at(&file, &mut buf, start)
            .map_err(|e| self.os_error(&path, &real, e))?;
        buf.truncate(n);
        Ok(Chunk::from_bytes(start, &buf))
    }

    /// `pwrite` of all of `data`. [`Error::NotWritable`] for a handle without
    /// write access; [`Error::DiskFull`] when the file system fills.
    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        let (file, path, real, access) = self.file_of(handle)?;
        if !access.writes() {
            return Err(Error::NotWritable { path });
        }
        let end = offset.saturating_add(data.len() as u64);
        self.own_write(handle, Err(end), || {
            let write = || write_all_at(&file, data, offset);
            let result = if self.cow.is_idle() {
                write()
            } else {
                let id = self.with_open(handle, |o| Ok(o.id))?;
                self.cow.write(&cow_key(&id), &file, offset, end, write)
            };
            result.map_err(|e| {
                if e.kind() == io::ErrorKind::StorageFull {
                    self.disk_full(&path, data.len() as u64)
                } else {
                    self.os_error(&path, &real, e)
                }
            })
        })
    }

    /// `ftruncate`. [`Error::NotWritable`] without write access.
    fn set_len(&self, handle: Handle, len_bytes: u64) -> Result<()> {
        let (file, path, real, access) = self.file_of(handle)?;
        if !access.writes() {
            return Err(Error::NotWritable { path });
        }
        self.own_write(handle, Ok(len_bytes), || {
            let truncate = || file.set_len(len_bytes);
            let result = if self.cow.is_idle() {
                truncate()
            } else {
                let id = self.with_open(handle, |o| Ok(o.id))?;
                self.cow
                    .write(&cow_key(&id), &file, len_bytes, u64::MAX, truncate)
            };
            result.map_err(|e| {
                if e.kind() == io::ErrorKind::StorageFull {
                    self.disk_full(&path, len_bytes)
                } else {
                    self.os_error(&path, &real, e)
                }
            })
        })
    }

    /// `fdatasync`: blocks until the file's data is on disk.
    fn sync(&self, handle: Handle) -> Result<()> {
        let (file, path, real, _) = self.file_of(handle)?;
        file.sync_data().map_err(|e| self.os_error(&path, &real, e))
    }

    /// The whole file, read through the handle (no new open).
    /// [`Error::BadHandle`] for a handle without read access.
    fn image(&self, handle: Handle) -> Result<Content> {
        let (file, path, real, access) = self.file_of(handle)?;
        if !access.reads() {
            return Err(Error::BadHandle);
        }
        let bytes = files::read_all_at(&file).map_err(|e| self.os_error(&path, &real, e))?;
        Ok(Content::from_bytes(&bytes))
    }

    /// A writing open through this volume (its owner, this process's pid),
    /// else the first exclusive lock held elsewhere per `/proc/locks` (the
    /// holder's command or `"another process"`, and its pid). Never opens
    /// the file.
    fn writer(&self, path: &VolumePath) -> Result<Option<Holder>> {
        let (real, meta) = self.existing_file(path)?;
        let id = file_id(&meta, &real);
        let s = self.state.lock();
        if let Some(o) = s.opens.values().find(|o| o.id == id && o.access.writes()) {
            return Ok(Some(Holder {
                name: o.owner.name().to_owned(),
                pid: Some(std::process::id()),
            }));
        }
        Ok(Self::foreign_locks(&s, &id, &real)
            .into_iter()
            .find(|h| h.write)
            .map(|h| Holder {
                name: h.command.unwrap_or_else(|| "another process".to_owned()),
                pid: h.pid,
            }))
    }

    /// Successful opens of the file by others since `handle` was opened, for
    /// a handle that writes and holds a lock (others: 0); see the module
    /// docs. Never blocks.
    fn foreign_opens(&self, handle: Handle) -> Result<ForeignOpens> {
        self.with_open(handle, |o| {
            let Some(watch) = o.watch.as_mut() else {
                return Ok(ForeignOpens::default());
            };
            let seen = watch.opens().map_err(io_at(&o.real))?;
            let count = seen.saturating_sub(o.not_foreign);
            Ok(ForeignOpens {
                count,
                last_by: o
                    .last_foreign
                    .as_ref()
                    .filter(|_| count > 0)
                    .map(|w| w.name().to_owned()),
            })
        })
    }

    fn available_bytes(&self) -> Result<u64> {
        lock::available_space(&self.root).map_err(io_at(&self.root))
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

    const HD: &str = "Server HD";

    fn setup() -> (tempfile::TempDir, OsVolume, VolumePath) {
        let dir = tempfile::tempdir().unwrap();
        let v = OsVolume::open_dir(HD, dir.path()).unwrap();
        let ext = VolumePath::new(HD, ["System Folder", "Extensions"]);
        v.create_folder(&ext).unwrap();
        let data = ext.join("Microsoft Mail Data");
        v.put_file(&data, Content::from_bytes(b"mail")).unwrap();
        (dir, v, data)
    }

    fn names(dir: &Path) -> Vec<String> {
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
    fn refuses_escapes() {
        let (dir, v, _) = setup();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = VolumePath::root(HD);

        for bad in ["..", ".", "", "a/b", "nul\0"] {
            let err = v.metadata(&root.join(bad)).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        }
        let err = v
            .create_folder(&VolumePath::new(HD, ["..", "escaped"]))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        assert!(!dir.path().parent().unwrap().join("escaped").exists());

        let err = v
            .metadata(&VolumePath::new("Backup Drive", ["x"]))
            .unwrap_err();
        assert!(matches!(err, Error::NoSuchVolume { .. }), "{err}");

        // A symlinked folder leading out: refused for every operation.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        let through = VolumePath::new(HD, ["out", "secret"]);
        for err in [
            v.metadata(&through).unwrap_err(),
            v.list(&root.join("out")).unwrap_err(),
            v.open(&through, &Owner::new("x"), Access::Read, Deny::NONE)
                .unwrap_err(),
            v.create_folder(&VolumePath::new(HD, ["out", "new"]))
                .unwrap_err(),
            v.put_file(
                &VolumePath::new(HD, ["out", "new"]),
                Content::from_bytes(b"x"),
            )
            .unwrap_err(),
        ] {
            assert!(matches!(err, Error::PathEscapes { .. }), "{err}");
        }
        assert_eq!(names(outside.path()), ["secret"]);

        // A symlink to a file outside, to one inside, and a dangling one.
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("s")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("System Folder"), dir.path().join("inside"))
            .unwrap();
        std::os::unix::fs::symlink("/nonexistent/dir", dir.path().join("dangling")).unwrap();
        let err = v.metadata(&root.join("s")).unwrap_err();
        assert!(matches!(err, Error::PathEscapes { .. }), "{err}");
        let err = v.metadata(&root.join("inside")).unwrap_err();
        assert!(
            matches!(err, Error::PathEscapes { .. }),
            "final symlink: {err}"
        );
        let err = v
            .create_folder(&VolumePath::new(HD, ["dangling", "x"]))
            .unwrap_err();
        assert!(matches!(err, Error::PathEscapes { .. }), "{err}");
        // A symlinked folder that stays inside is followed.
        assert_eq!(
            v.metadata(&VolumePath::new(HD, ["inside", "Extensions"]))
                .unwrap()
                .kind,
            EntryKind::Folder
        );
        // Symlinks are not listed.
        let listed: Vec<_> = v.list(&root).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(listed, ["System Folder"]);
    }

    #[test]
    fn lists_sorted_and_put_file_leaves_no_temp() {
        let (dir, v, data) = setup();
        let root = VolumePath::root(HD);
        for name in ["b", "A", "a", "Z"] {
            v.put_file(&root.join(name), Content::from_bytes(name.as_bytes()))
                .unwrap();
        }
        v.create_folder(&root.join("Applications")).unwrap();
        fs::write(dir.path().join(".mailsim-tmp-stale"), b"x").unwrap();
        let listed: Vec<_> = v.list(&root).unwrap();
        let names_listed: Vec<_> = listed.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names_listed,
            ["A", "Applications", "System Folder", "Z", "a", "b"]
        );
        assert_eq!(listed[1].kind, EntryKind::Folder);
        assert_eq!(listed[0].kind, EntryKind::File);
        fs::remove_file(dir.path().join(".mailsim-tmp-stale")).unwrap();

        // Replacing a file: no temporary file left.
        v.put_file(&data, Content::from_bytes(&vec![3; 100_000]))
            .unwrap();
        let ext = dir.path().join("System Folder").join("Extensions");
        assert_eq!(names(&ext), ["Microsoft Mail Data"]);
        assert_eq!(
            fs::read(ext.join("Microsoft Mail Data")).unwrap(),
            vec![3; 100_000]
        );
        let m = v.metadata(&data).unwrap();
        assert_eq!((m.kind, m.len_bytes), (EntryKind::File, 100_000));

        // Errors as the simulated volume gives them.
        let err = v
            .put_file(&VolumePath::new(HD, ["nowhere", "x"]), Content::new())
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err = v.put_file(&data.join("x"), Content::new()).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
        let err = v
            .put_file(&root.join("Applications"), Content::new())
            .unwrap_err();
        assert!(matches!(err, Error::IsAFolder { .. }), "{err}");
        let err = v.create_folder(&data.join("x")).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
        let err = v.list(&data).unwrap_err();
        assert!(matches!(err, Error::NotAFolder { .. }), "{err}");
        let err = v.metadata(&root.join("missing")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }

    #[test]
    fn reads_writes_and_renames_through_handles() {
        let (_dir, v, data) = setup();
        let mail = Owner::new("Microsoft Mail Server");
        let h = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap();
        v.write_at(h, 4, b" data").unwrap();
        v.sync(h).unwrap();
        assert_eq!(v.len_of(h).unwrap(), 9);
        let c = v.read_at(h, 2, 100).unwrap();
        assert_eq!((c.offset(), c.to_vec()), (2, b"il data".to_vec()));
        assert_eq!(v.read_at(h, 50, 10).unwrap().len_bytes(), 0);
        assert_eq!(v.image(h).unwrap().to_vec(), b"mail data");
        v.set_len(h, 4).unwrap();
        assert_eq!(v.image(h).unwrap().to_vec(), b"mail");

        // A held file cannot be removed, nor replaced by a rename; it can
        // itself be renamed, and its handle follows it.
        let other = data.parent().unwrap().join("Other");
        v.put_file(&other, Content::from_bytes(b"o")).unwrap();
        assert!(matches!(
            v.remove_file(&data),
            Err(Error::DenyConflict { .. })
        ));
        assert!(matches!(
            v.rename(&other, &data),
            Err(Error::DenyConflict { .. })
        ));
        let moved = data.parent().unwrap().join("Moved");
        v.rename(&data, &moved).unwrap();
        assert!(matches!(v.metadata(&data), Err(Error::NotFound { .. })));
        assert_eq!(
            v.writer(&moved).unwrap().unwrap().name,
            "Microsoft Mail Server"
        );
        v.close(h).unwrap();
        assert!(matches!(v.close(h), Err(Error::BadHandle)));
        v.rename(&other, &moved).unwrap();
        assert_eq!(v.writer(&moved).unwrap(), None);
        v.remove_file(&moved).unwrap();
        assert!(matches!(v.remove_file(&moved), Err(Error::NotFound { .. })));

        // Access is enforced.
        let r = v.open(
            &other.parent().unwrap().join("x"),
            &mail,
            Access::Read,
            Deny::NONE,
        );
        assert!(matches!(r, Err(Error::NotFound { .. })));
        v.put_file(&other, Content::from_bytes(b"o")).unwrap();
        let r = v.open(&other, &mail, Access::Read, Deny::NONE).unwrap();
        assert!(matches!(
            v.write_at(r, 0, b"x"),
            Err(Error::NotWritable { .. })
        ));
        let w = v.open(&other, &mail, Access::Write, Deny::NONE).unwrap();
        assert!(matches!(v.read_at(w, 0, 1), Err(Error::BadHandle)));
        for x in [r, w] {
            v.close(x).unwrap();
        }
    }

    /// Every way a held file can be taken from its holder is told, and the
    /// holder's own writes are not.
    #[test]
    fn a_file_removed_renamed_replaced_or_written_under_its_holder_is_told() {
        if !OpenWatch::is_supported() {
            return;
        }
        let owner = Owner::new("Mail");
        let fresh = |v: &OsVolume, p: &VolumePath| {
            v.put_file(
                p,
                Content::from_bytes(&[1u8; 3 * crate::volume::PAGE_BYTES]),
            )
            .unwrap();
            v.open(p, &owner, Access::ReadWrite, Deny::WRITE).unwrap()
        };
        let (dir, v, p) = setup();
        let real = v.real_path(&p).unwrap();
        let h = fresh(&v, &p);
        for i in 0..50u8 {
            v.write_at(h, u64::from(i) * 7, &[i; 9]).unwrap();
            v.write_synced(h, 4096, &[i; 100]).unwrap();
            v.set_len(h, 3 * crate::volume::PAGE_BYTES as u64 + u64::from(i))
                .unwrap();
        }
        // Opens and reads by others are not tampering.
        drop(fs::read(&real).unwrap());
        assert_eq!(v.check_file(h).unwrap(), None, "its own writes");

        // Written in place by another descriptor (as `dd conv=notrunc`).
        std::os::unix::fs::FileExt::write_at(
            &File::options().write(true).open(&real).unwrap(),
            b"x",
            10,
        )
        .unwrap();
        v.write_at(h, 0, b"own").unwrap();
        assert_eq!(v.check_file(h).unwrap(), Some(Tampering::WrittenByOther));
        v.close(h).unwrap();

        let h = fresh(&v, &p);
        File::options()
            .write(true)
            .open(&real)
            .unwrap()
            .set_len(5)
            .unwrap();
        assert_eq!(v.check_file(h).unwrap(), Some(Tampering::WrittenByOther));
        v.close(h).unwrap();

        let h = fresh(&v, &p);
        fs::rename(&real, dir.path().join("elsewhere")).unwrap();
        assert_eq!(v.check_file(h).unwrap(), Some(Tampering::Renamed));
        v.close(h).unwrap();

        let h = fresh(&v, &p);
        fs::remove_file(&real).unwrap();
        assert_eq!(v.check_file(h).unwrap(), Some(Tampering::Removed));
        v.close(h).unwrap();

        let h = fresh(&v, &p);
        let other = dir.path().join("last night's copy");
        fs::write(&other, b"old").unwrap();
        fs::rename(&other, &real).unwrap();
        assert_eq!(v.check_file(h).unwrap(), Some(Tampering::Replaced));
        v.close(h).unwrap();
    }

    #[test]
    fn a_held_file_admits_unlocked_readers_and_its_holder_is_told() {
        let (dir, v, data) = setup();
        // A second volume over the same directory stands for another process.
        let other = OsVolume::open_dir(HD, dir.path()).unwrap();
        let mail = Owner::new("Microsoft Mail Server");
        let backup = Owner::new("Retrospect Remote");
        let h = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap();
        assert_eq!(v.foreign_opens(h).unwrap(), ForeignOpens::default());

        // Probes notify nobody.
        let w = other.writer(&data).unwrap().expect("a writer");
        assert_eq!(w.pid, Some(std::process::id()));
        assert_eq!(
            v.writer(&data).unwrap().unwrap().name,
            "Microsoft Mail Server"
        );
        other.metadata(&data).unwrap();
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);

        // Refused opens notify nobody: by this volume's rules (the owner is
        // named) and by the lock held elsewhere (the pid is named).
        let err = v
            .open(&data, &backup, Access::Read, Deny::WRITE)
            .unwrap_err();
        match err {
            Error::DenyConflict { holder, .. } => assert_eq!(holder, "Microsoft Mail Server"),
            e => panic!("{e}"),
        }
        for (access, deny) in [
            (Access::Read, Deny::WRITE),
            (Access::ReadWrite, Deny::NONE),
            (Access::Write, Deny::ALL),
        ] {
            let err = other.open(&data, &backup, access, deny).unwrap_err();
            match err {
                Error::DenyConflict { holder, .. } => {
                    assert!(
                        holder.contains(&format!("(pid {})", std::process::id())),
                        "{holder}"
                    );
                }
                e => panic!("{e}"),
            }
        }
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);

        // The holder's own second open is not foreign.
        let own = v.open(&data, &mail, Access::Read, Deny::NONE).unwrap();
        assert_eq!(v.foreign_opens(h).unwrap().count, 0);

        // A read-only open without deny succeeds: a foreign access.
        let r = other
            .open(&data, &backup, Access::Read, Deny::NONE)
            .unwrap();
        assert_eq!(other.read_at(r, 0, 64 * 1024).unwrap().to_vec(), b"mail");
        let seen = v.foreign_opens(h).unwrap();
        if OpenWatch::is_supported() {
            assert_eq!(
                seen,
                ForeignOpens {
                    count: 1,
                    last_by: None
                }
            );
        } else {
            assert_eq!(seen.count, 0);
        }
        // Through the same volume, the opener is named.
        let r2 = v.open(&data, &backup, Access::Read, Deny::NONE).unwrap();
        if OpenWatch::is_supported() {
            assert_eq!(
                v.foreign_opens(h).unwrap(),
                ForeignOpens {
                    count: 2,
                    last_by: Some("Retrospect Remote".into())
                }
            );
        }
        // Outside any volume: a plain open counts too.
        drop(
            File::open(
                dir.path()
                    .join("System Folder/Extensions/Microsoft Mail Data"),
            )
            .unwrap(),
        );
        if OpenWatch::is_supported() {
            assert_eq!(v.foreign_opens(h).unwrap().count, 3);
        }
        // Handles that do not hold a writer's lock are told nothing.
        assert_eq!(v.foreign_opens(own).unwrap().count, 0);

        for x in [own, r2, h] {
            v.close(x).unwrap();
        }
        other.close(r).unwrap();
        assert_eq!(other.writer(&data).unwrap(), None);
        // Once released, a lock-aware reader gets in.
        let r = other
            .open(&data, &backup, Access::Read, Deny::WRITE)
            .unwrap();
        assert_eq!(v.writer(&data).unwrap(), None);
        let err = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        // Two lock-aware readers share.
        let r3 = v.open(&data, &backup, Access::Read, Deny::WRITE).unwrap();
        v.close(r3).unwrap();
        other.close(r).unwrap();
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
