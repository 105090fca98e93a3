//! Volumes: named disks holding folders and files, the ground every actor
//! stands on.
//!
//! The [`Volume`] trait is modelled on the classic Mac OS File Manager. An
//! open carries an [`Access`] mode (`fsRdPerm`, `fsWrPerm`, `fsRdWrPerm`) and
//! [`Deny`] modes (`fsRdDenyPerm`, `fsWrDenyPerm`); an open that clashes with
//! one already in place fails with [`Error::DenyConflict`](crate::Error::DenyConflict) (`afpDenyConflict`).
//! As on the real File Manager, a writer that denies *writers* does not deny
//! new read-only paths: that is why a lock-unaware backup could read
//! "Microsoft Mail Data" while Mail held it. The holder of a file is told of
//! every *successful* open by someone else, a **foreign access**
//! ([`Volume::foreign_opens`]); an open refused by a deny conflict, or a probe
//! that asks who holds a file without opening it ([`Volume::writer`]), tells
//! nobody.
//!
//! Backends, one file each: [`SimVolume`] (in memory, deterministic) lives in
//! `volume/sim.rs`. What does not live here: who opens what and why (the
//! actors), and what the bytes mean (the data file format).

mod content;
#[cfg(feature = "real")]
pub(crate) mod os;
mod path;
mod reader;
mod sim;

use std::fmt;
use std::sync::Arc;

pub use content::{Content, PAGE_BYTES};
#[cfg(feature = "real")]
#[cfg_attr(docsrs, doc(cfg(feature = "real")))]
pub use os::{OsVolume, Tampering};
pub use path::VolumePath;
pub(crate) use reader::HandleReader;
pub use sim::{SimFaults, SimVolume, UnsyncedWrites};

pub use content::CopyBuilder;
pub(crate) use content::Stamper;

use crate::error::Result;
use crate::time::SimTime;

/// What an open may do with the file (the File Manager's permission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `fsRdPerm`: read only.
    Read,
    /// `fsWrPerm`: write only.
    Write,
    /// `fsRdWrPerm`: read and write.
    ReadWrite,
}

impl Access {
    /// Whether this access reads.
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

    /// Whether this access writes.
    pub fn writes(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// What an open forbids others to do while it lasts (`fsRdDenyPerm`,
/// `fsWrDenyPerm`, or both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Deny {
    /// Deny other readers (`fsRdDenyPerm`).
    pub read: bool,
    /// Deny other writers (`fsWrDenyPerm`).
    pub write: bool,
}

impl Deny {
    /// Deny nothing.
    pub const NONE: Deny = Deny {
        read: false,
        write: false,
    };
    /// Deny other writers: how Mail holds its data file.
    pub const WRITE: Deny = Deny {
        read: false,
        write: true,
    };
    /// Deny other readers.
    pub const READ: Deny = Deny {
        read: true,
        write: false,
    };
    /// Deny everyone.
    pub const ALL: Deny = Deny {
        read: true,
        write: true,
    };

    /// Whether this deny mode forbids an open with `access`.
    pub fn forbids(self, access: Access) -> bool {
        (self.read && access.reads()) || (self.write && access.writes())
    }
}

/// Who holds an open: the actor's name, as the narration shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner(Arc<str>);

impl Owner {
    /// An owner named `name` ("Microsoft Mail Server", "Retrospect Remote").
    pub fn new(name: &str) -> Owner {
        Owner(Arc::from(name))
    }

    /// The owner's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds a file for writing, as a probe reports it: one holder, or
/// several processes sharing one lock (a lock inherited across `fork`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// The holder's name.
    pub name: String,
    /// The holder's process id, where the system can tell.
    pub pid: Option<u32>,
    /// The other processes holding it as well, each once, by pid.
    pub others: Vec<Holder>,
}

impl Holder {
    /// A holder named `name`, with its process id where known, alone.
    pub fn new(name: impl Into<String>, pid: Option<u32>) -> Holder {
        Holder {
            name: name.into(),
            pid,
            others: Vec::new(),
        }
    }
}

impl fmt::Display for Holder {
    /// `tar (pid 4242)`, `Microsoft Mail Server`, or with others
    /// `flock (pid 10), sleep (pid 11)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "{} (pid {pid})", self.name)?,
            None => f.write_str(&self.name)?,
        }
        for other in &self.others {
            write!(f, ", {other}")?;
        }
        Ok(())
    }
}

/// Successful opens of a held file by other owners, as its holder learns of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForeignOpens {
    /// How many, since the holder opened the file.
    pub count: u64,
    /// Who opened it, where the volume can tell: on an [`OsVolume`], the
    /// owners and processes that opened it since the count last grew
    /// (`Retrospect Remote`, `tar (pid 4242)`, several joined by `, `),
    /// named by fanotify where permitted, else by the processes that have
    /// it open (see [`OpenWatch`](crate::volume::os::OpenWatch)).
    pub last_by: Option<String>,
}

/// An open file on a volume. Only meaningful to the volume that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle(pub(crate) u64);

/// Whether a directory entry is a file or a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A file.
    File,
    /// A folder.
    Folder,
}

/// One entry of a folder listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: String,
    /// File or folder.
    pub kind: EntryKind,
}

/// What a volume knows of a path without opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// File or folder.
    pub kind: EntryKind,
    /// Length of a file (0 for a folder).
    pub len_bytes: u64,
    /// Last modification.
    pub modified: SimTime,
}

/// Bytes read from a file: a view of shared pages, so a simulated read of a
/// large file copies no bytes.
#[derive(Clone, Debug)]
pub struct Chunk {
    offset: u64,
    len: u64,
    /// Page `i` of `content` is page `base_page + i` of the file.
    base_page: usize,
    content: Content,
}

impl Chunk {
    /// Offset of the chunk in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of bytes read.
    pub fn len_bytes(&self) -> u64 {
        self.len
    }

    /// Copies the chunk's bytes into `buf`, which must be exactly
    /// [`len_bytes`](Chunk::len_bytes) long (false otherwise).
    pub fn copy_to(&self, buf: &mut [u8]) -> bool {
        if buf.len() as u64 != self.len {
            return false;
        }
        let at = self.offset - (self.base_page * PAGE_BYTES) as u64;
        crate::datafile::ReadAt::read_at(&self.content, at, buf)
    }

    /// The chunk's bytes, copied out.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0; self.len as usize];
        let at = self.offset - (self.base_page * PAGE_BYTES) as u64;
        let ok = crate::datafile::ReadAt::read_at(&self.content, at, &mut buf);
        debug_assert!(ok, "a chunk covers its own range");
        buf
    }

    pub(crate) fn parts(&self) -> (usize, &Content) {
        (self.base_page, &self.content)
    }

    /// A chunk holding a copy of `bytes`, read at `offset` (how a real
    /// volume returns what it read).
    pub fn from_bytes(offset: u64, bytes: &[u8]) -> Chunk {
        let lead = (offset % PAGE_BYTES as u64) as usize;
        let mut buf = vec![0; lead];
        buf.extend_from_slice(bytes);
        Chunk {
            offset,
            len: bytes.len() as u64,
            base_page: (offset / PAGE_BYTES as u64) as usize,
            content: Content::from_bytes(&buf),
        }
    }

    /// A chunk of `content`: up to `len` bytes at `offset` (fewer at its end).
    pub fn of(content: &Content, offset: u64, len: u64) -> Chunk {
        let end = offset.saturating_add(len).min(content.len_bytes());
        let offset = offset.min(end);
        Chunk {
            offset,
            len: end - offset,
            base_page: 0,
            content: content.clone(),
        }
    }
}

/// A disk with folders and files, opened after the File Manager's rules.
///
/// # The contract
///
/// - **Threads**: `Send + Sync`; every method takes `&self` and may be
///   called from any thread. Each call is atomic with respect to the
///   others on the same file (a read sees a write wholly or not at all);
///   there is no ordering between threads beyond that.
/// - **Walks and probes**: listings are sorted by name, so walks are
///   stable; [`Volume::writer`] and [`Volume::metadata`] never open the
///   file and notify nobody.
/// - **Opens**: [`Volume::open`] checks the access and deny modes against
///   every open in place and, when it succeeds, counts a foreign open on
///   every other owner's handle to the same file
///   ([`Volume::foreign_opens`]). A handle means something only to the
///   volume that issued it.
/// - **Errors**, always naming the path: a missing path is
///   [`Error::NotFound`](crate::Error::NotFound), a file where a folder was
///   wanted [`NotAFolder`](crate::Error::NotAFolder) and the other way
///   [`IsAFolder`](crate::Error::IsAFolder); an open that clashes
///   [`DenyConflict`](crate::Error::DenyConflict), naming the holder; a
///   write through a handle without write access
///   [`NotWritable`](crate::Error::NotWritable), a closed or foreign handle
///   [`BadHandle`](crate::Error::BadHandle); no room
///   [`DiskFull`](crate::Error::DiskFull), before anything is written where
///   the size is known; a failed read or write
///   [`VolumeIo`](crate::Error::VolumeIo) (simulated) or
///   [`Io`](crate::Error::Io) (on disk); a crash at a sync
///   [`Crashed`](crate::Error::Crashed).
/// - **What the backends do differently**: [`SimVolume`] keeps contents as
///   shared pages (an [`image`](Volume::image) is O(1), the same contents
///   until the file is written), counts foreign opens exactly, and injects
///   faults ([`SimFaults`]); [`OsVolume`] is a directory: images are reads
///   of the file, locks are `flock`s another process can see, foreign opens
///   come from inotify (Linux), and a whole-file write replaces the file's
///   inode (handles already open keep the old contents).
/// - **Other crates may implement it** — a volume over a network share, a
///   recording wrapper — and use it with the actors (`MailServer`,
///   `BackupClient`, policies) directly. The drivers of the night (`run`,
///   `run_real`, the explorer) run on mailsim's own volumes.
pub trait Volume: Send + Sync + fmt::Debug {
    /// The volume's name ("Server HD").
    fn name(&self) -> &str;

    /// Entries of a folder (or of the volume's root), sorted by name.
    fn list(&self, folder: &VolumePath) -> Result<Vec<DirEntry>>;

    /// Kind, length and modification time of a path, without opening it.
    fn metadata(&self, path: &VolumePath) -> Result<Metadata>;

    /// Creates a folder and any missing folders above it.
    fn create_folder(&self, path: &VolumePath) -> Result<()>;

    /// Creates or replaces a file with `content` (its folder must exist).
    fn put_file(&self, path: &VolumePath, content: Content) -> Result<()>;

    /// Removes a file that nobody holds open.
    fn remove_file(&self, path: &VolumePath) -> Result<()>;

    /// Renames a file, atomically replacing any file at `to`.
    fn rename(&self, from: &VolumePath, to: &VolumePath) -> Result<()>;

    /// Opens a file with an access mode and deny modes.
    fn open(&self, path: &VolumePath, owner: &Owner, access: Access, deny: Deny) -> Result<Handle>;

    /// Closes an open.
    fn close(&self, handle: Handle) -> Result<()>;

    /// Current length of an open file.
    fn len_of(&self, handle: Handle) -> Result<u64>;

    /// Reads up to `len` bytes at `offset` (fewer at the end of the file).
    fn read_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk>;

    /// Writes `data` at `offset`.
    fn write_at(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()>;

    /// Truncates or extends an open file.
    fn set_len(&self, handle: Handle, len_bytes: u64) -> Result<()>;

    /// Makes the file's writes durable.
    fn sync(&self, handle: Handle) -> Result<()>;

    /// Writes `data` at `offset`, then makes the file's writes durable: one
    /// step of the server's commit protocol, as one call. The same as
    /// [`Volume::write_at`] then [`Volume::sync`] (a write that fails is not
    /// synced); a volume that can do both at once overrides it.
    fn write_synced(&self, handle: Handle, offset: u64, data: &[u8]) -> Result<()> {
        self.write_at(handle, offset, data)?;
        self.sync(handle)
    }

    /// The whole current image of an open file, as the holder sees it.
    fn image(&self, handle: Handle) -> Result<Content>;

    /// `len` bytes at `offset` of [`Volume::image`] (fewer at the end): the
    /// holder's view of a piece of its file, read without making the whole
    /// image. Like `image`, it is the holder looking at its own file, not a
    /// read of the file's contents by anyone else: a fault-injecting volume
    /// does not count it among the reads it fails. The default reads the
    /// piece with [`Volume::read_at`].
    fn image_at(&self, handle: Handle, offset: u64, len: u64) -> Result<Chunk> {
        self.read_at(handle, offset, len)
    }

    /// Whether [`Volume::image`] hands out the file's own shared contents
    /// (in O(1), the very same [`Content`] until the file is written), as a
    /// simulated volume does, rather than reading the file afresh. A server
    /// remembers what it scanned only where this holds: elsewhere an image
    /// is a whole-file read, and never the same contents twice.
    fn shares_images(&self) -> bool {
        false
    }

    /// Who holds `path` open for writing, asked without opening it.
    fn writer(&self, path: &VolumePath) -> Result<Option<Holder>>;

    /// How many times another owner has successfully opened the file since
    /// `handle` was opened, and who did last.
    fn foreign_opens(&self, handle: Handle) -> Result<ForeignOpens>;

    /// Free space in bytes.
    fn available_bytes(&self) -> Result<u64>;

    /// The file on disk that `path` names, for a volume backed by real
    /// files, so that errors about it can carry it
    /// ([`Error::path`](crate::Error::path)); `None`, the default, for a
    /// simulated volume or a path that cannot name a file on disk.
    fn disk_path(&self, path: &VolumePath) -> Option<std::path::PathBuf> {
        let _ = path;
        None
    }
}
