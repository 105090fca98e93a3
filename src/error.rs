//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::datafile::VerifyError;
use crate::volume::VolumePath;

/// Convenience alias for `Result<T, mailsim::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in mailsim. Each file-system error names the
/// path it was about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path that does not exist on its volume.
    #[error("{path}: not found")]
    NotFound {
        /// The missing path.
        path: VolumePath,
    },
    /// A create where something already exists.
    #[error("{path}: already exists")]
    AlreadyExists {
        /// The existing path.
        path: VolumePath,
    },
    /// A file operation on a folder.
    #[error("{path}: is a folder")]
    IsAFolder {
        /// The folder.
        path: VolumePath,
    },
    /// A folder operation on a file, or a path through a file.
    #[error("{path}: not a folder")]
    NotAFolder {
        /// The file.
        path: VolumePath,
    },
    /// An open refused because it conflicts with the access or deny modes of
    /// an open already in place (the File Manager's `afpDenyConflict`).
    #[error("{path}: deny conflict: {holder} has it open")]
    DenyConflict {
        /// The file. For a real-file helper with no volume (such as
        /// `mailsim::real::LiveFileGuard`), `VolumePath::root` of the real
        /// path, so that the message names it.
        path: VolumePath,
        /// Who holds the conflicting open.
        holder: String,
        /// The file on disk, for an [`OsVolume`](crate::volume::OsVolume)
        /// or a real-file helper; `None` on a simulated volume.
        real_path: Option<PathBuf>,
    },
    /// A write through a handle opened without write access.
    #[error("{path}: not opened for writing")]
    NotWritable {
        /// The file.
        path: VolumePath,
    },
    /// A handle that is closed or belongs to another volume.
    #[error("stale or foreign file handle")]
    BadHandle,
    /// No volume of that name in the scenario.
    #[error("no volume named {name:?}")]
    NoSuchVolume {
        /// The name asked for.
        name: String,
    },
    /// Not enough room on the volume for a write or a copy.
    #[error("{path}: disk full ({needed_bytes} bytes needed, {available_bytes} available)")]
    DiskFull {
        /// The file being written. For a real-file helper with no volume
        /// (such as `mailsim::real::Rotation`), `VolumePath::root` of the
        /// real path, so that the message names it.
        path: VolumePath,
        /// Bytes the operation needed.
        needed_bytes: u64,
        /// Bytes the volume had free.
        available_bytes: u64,
        /// The file on disk, for an [`OsVolume`](crate::volume::OsVolume)
        /// or a real-file helper; `None` on a simulated volume.
        real_path: Option<PathBuf>,
    },
    /// An injected or real I/O failure on a volume path.
    #[error("{path}: I/O error: {reason}")]
    VolumeIo {
        /// The file.
        path: VolumePath,
        /// What failed.
        reason: String,
    },
    /// An injected crash of the writer at a sync (see
    /// [`SimFaults`](crate::volume::SimFaults)): the sync did not happen.
    #[error("{path}: crashed at sync {sync} (unsynced writes: {})", unsynced.as_str())]
    Crashed {
        /// The file being synced.
        path: VolumePath,
        /// Which sync, counted over the volume's life.
        sync: u64,
        /// What became of the writes not yet synced.
        unsynced: crate::volume::UnsyncedWrites,
    },
    /// A snapshot policy that kept the backup waiting for a live file past
    /// the bound ([`MAX_POLICY_WAIT`](crate::backup::MAX_POLICY_WAIT) of the
    /// night's time, or [`MAX_POLICY_ANSWERS`](crate::backup::MAX_POLICY_ANSWERS)
    /// answers): the same error from the simulator and the real runner.
    #[error(
        "{path}: the snapshot policy {policy:?} kept the backup waiting for {} s ({answers} \
         answers) without a copy or a refusal",
        waited.as_secs()
    )]
    SnapshotStalled {
        /// The policy's name.
        policy: String,
        /// The live file the backup was waiting to archive.
        path: VolumePath,
        /// How long, in the night's time, it had waited.
        waited: std::time::Duration,
        /// How many times the policy had answered.
        answers: u64,
    },
    /// A data file that fails verification.
    #[error("{path}: {source}")]
    DataFile {
        /// The data file.
        path: VolumePath,
        /// What the format check found.
        #[source]
        source: VerifyError,
    },
    /// A scenario whose settings make no sense.
    #[error("invalid scenario: {field}: {reason}")]
    InvalidScenario {
        /// The setting at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A volume path that cannot name a file on disk: a component that is
    /// empty, `.` or `..`, or contains `/` or NUL (also a file name given to
    /// a real-file helper, such as a rotation's base name). Nothing was
    /// touched on disk.
    #[error("{path}: invalid name {name:?}: {reason}")]
    InvalidName {
        /// The path (or, for a real-file helper, `VolumePath::root` of its
        /// folder) the name was part of.
        path: VolumePath,
        /// The offending component or name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
        /// The folder on disk the name was refused in (for an
        /// [`OsVolume`](crate::volume::OsVolume), the volume's folder joined
        /// with the components before the offending one); `None` on a
        /// simulated volume.
        real_path: Option<PathBuf>,
    },
    /// A path on an [`OsVolume`](crate::volume::OsVolume) that would lead out
    /// of the volume's folder through a symlink (one pointing outside, a
    /// dangling one, or a symlink as the final component). Nothing was
    /// touched on disk.
    #[error("{}: leads out of its volume's folder (through a symlink)", path.display())]
    PathEscapes {
        /// The real path asked for (below the volume's folder).
        path: PathBuf,
    },
    /// A scenario file that cannot be read as one: names the key at fault.
    #[error("scenario file: {}{reason}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    InvalidScenarioFile {
        /// The key at fault, as a path (`open_files.retries`), or empty.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file that is not a data file's history (or one that is
    /// corrupt): nothing was written to it.
    #[error("{}: not a history: {reason}", path.display())]
    NotAHistory {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A history that cannot be written or read as asked: a limit out of
    /// range, a data file too large for it, a commit out of order.
    #[error("{}: {reason}", path.display())]
    History {
        /// The history file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An operating-system error on a real path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The real path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidScenario {
            field,
            reason: reason.into(),
        }
    }

    /// The real path of the file (or folder) the error is about: the one
    /// on disk for an [`Io`](Error::Io), [`PathEscapes`](Error::PathEscapes),
    /// [`NotAHistory`](Error::NotAHistory) or [`History`](Error::History)
    /// error, and for a [`DenyConflict`](Error::DenyConflict),
    /// [`DiskFull`](Error::DiskFull) or [`InvalidName`](Error::InvalidName)
    /// on an [`OsVolume`](crate::volume::OsVolume) or from a real-file
    /// helper. `None` for an error about a simulated volume, or one that
    /// names no file at all (the volume path, when there is one, is in the
    /// variant's `path` field).
    ///
    /// ```
    /// use mailsim::volume::{Access, Deny, Owner, SimVolume, Volume};
    /// use mailsim::VolumePath;
    ///
    /// let hd = SimVolume::new("Server HD");
    /// let nothing = VolumePath::parse("Server HD:nothing").unwrap();
    /// let backup = Owner::new("Retrospect Remote");
    /// let err = hd.open(&nothing, &backup, Access::Read, Deny::NONE).unwrap_err();
    /// assert_eq!(err.path(), None); // a simulated volume has no real path
    /// ```
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. }
            | Error::PathEscapes { path }
            | Error::NotAHistory { path, .. }
            | Error::History { path, .. } => Some(path),
            Error::DenyConflict { real_path, .. }
            | Error::DiskFull { real_path, .. }
            | Error::InvalidName { real_path, .. } => real_path.as_deref(),
            Error::NotFound { .. }
            | Error::AlreadyExists { .. }
            | Error::IsAFolder { .. }
            | Error::NotAFolder { .. }
            | Error::NotWritable { .. }
            | Error::BadHandle
            | Error::NoSuchVolume { .. }
            | Error::VolumeIo { .. }
            | Error::Crashed { .. }
            | Error::SnapshotStalled { .. }
            | Error::DataFile { .. }
            | Error::InvalidScenario { .. }
            | Error::InvalidScenarioFile { .. } => None,
        }
    }

    /// The `io::ErrorKind` closest to this error.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::NotFound { .. } | Error::NoSuchVolume { .. } => io::ErrorKind::NotFound,
            Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            Error::IsAFolder { .. } => io::ErrorKind::IsADirectory,
            Error::NotAFolder { .. } => io::ErrorKind::NotADirectory,
            Error::DenyConflict { .. } | Error::NotWritable { .. } => {
                io::ErrorKind::PermissionDenied
            }
            Error::DiskFull { .. } => io::ErrorKind::StorageFull,
            Error::DataFile { .. } | Error::NotAHistory { .. } => io::ErrorKind::InvalidData,
            Error::History { .. } => io::ErrorKind::InvalidInput,
            Error::InvalidScenario { .. }
            | Error::InvalidScenarioFile { .. }
            | Error::BadHandle
            | Error::InvalidName { .. } => io::ErrorKind::InvalidInput,
            Error::PathEscapes { .. } => io::ErrorKind::PermissionDenied,
            Error::VolumeIo { .. } => io::ErrorKind::Other,
            Error::Crashed { .. } => io::ErrorKind::Interrupted,
            Error::SnapshotStalled { .. } => io::ErrorKind::TimedOut,
            Error::Io { source, .. } => source.kind(),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

// Real files' errors, beside simulated ones: the tests need `real`.
#[cfg(all(test, feature = "real"))]
mod tests {
    use super::*;
    use crate::volume::os::faulty::FaultyVolume;
    use crate::volume::{Access, Content, Deny, OsVolume, Owner, SimVolume, Volume};

    const HD: &str = "Server HD";

    fn volume() -> (tempfile::TempDir, OsVolume, VolumePath) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir(dir.path().join(HD)).expect("the volume's folder");
        let v = OsVolume::open_dir(HD, &dir.path().join(HD)).expect("the volume");
        let data = VolumePath::parse("Server HD:Microsoft Mail Data").expect("a path");
        v.put_file(&data, Content::from_bytes(b"mail"))
            .expect("the data file");
        (dir, v, data)
    }

    /// The message names `path` on one line.
    fn names(err: &Error, path: &impl std::fmt::Display) {
        let msg = err.to_string();
        assert!(msg.contains(&path.to_string()), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn deny_conflict_on_disk_has_the_real_path() {
        let (_dir, v, data) = volume();
        let real = v.root().join("Microsoft Mail Data");
        let server = Owner::new("Microsoft Mail Server");
        let _h = v
            .open(&data, &server, Access::ReadWrite, Deny::WRITE)
            .expect("the server's open");
        let err = v
            .open(
                &data,
                &Owner::new("Retrospect Remote"),
                Access::Read,
                Deny::WRITE,
            )
            .unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        assert_eq!(err.path(), Some(real.as_path()));
        names(&err, &data);
        // Removing the held file: the same.
        let err = v.remove_file(&data).unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        assert_eq!(err.path(), Some(real.as_path()));
    }

    #[test]
    fn disk_full_on_disk_has_the_real_path() {
        let (_dir, v, data) = volume();
        let real = v.root().join("Microsoft Mail Data");
        let faulty = FaultyVolume::new(v).expect("the faulty layer");
        // The data file's 4 bytes and 10 more.
        faulty.set_capacity(14);
        let h = faulty
            .open(
                &data,
                &Owner::new("Microsoft Mail Server"),
                Access::ReadWrite,
                Deny::WRITE,
            )
            .expect("the open");
        let err = faulty.write_at(h, 4, &[7; 11]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DiskFull {
                    needed_bytes: 11,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.path(), Some(real.as_path()));
        names(&err, &data);
        // A whole-file write that does not fit: the same.
        let copy = VolumePath::parse("Server HD:Copy").expect("a path");
        let err = faulty
            .put_file(&copy, Content::from_bytes(&[1; 64]))
            .unwrap_err();
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert_eq!(
            err.path(),
            Some(faulty.inner().root().join("Copy").as_path())
        );
    }

    #[test]
    fn invalid_name_on_disk_has_the_real_folder() {
        let (_dir, v, _) = volume();
        let bad = VolumePath::root(HD).join("Mail").join("..");
        let err = v.real_path(&bad).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        assert_eq!(err.path(), Some(v.root().join("Mail").as_path()));
        names(&err, &bad);
    }

    #[test]
    fn simulated_errors_have_no_real_path() {
        let hd = SimVolume::new(HD);
        let data = VolumePath::parse("Server HD:Microsoft Mail Data").expect("a path");
        hd.put_file(&data, Content::from_bytes(b"mail"))
            .expect("the data file");
        let server = Owner::new("Microsoft Mail Server");
        let _h = hd
            .open(&data, &server, Access::ReadWrite, Deny::WRITE)
            .expect("the server's open");
        let err = hd
            .open(
                &data,
                &Owner::new("Retrospect Remote"),
                Access::Read,
                Deny::WRITE,
            )
            .unwrap_err();
        assert!(matches!(err, Error::DenyConflict { .. }), "{err}");
        assert_eq!(err.path(), None);
        names(&err, &data);
        let missing = VolumePath::root(HD).join("Mail Data Backup #1");
        let err = hd.metadata(&missing).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(err.path(), None);
    }

    #[test]
    fn io_errors_have_their_path() {
        let err = Error::Io {
            path: PathBuf::from("/nowhere/Microsoft Mail Data"),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            err.path(),
            Some(std::path::Path::new("/nowhere/Microsoft Mail Data"))
        );
        assert_eq!(Error::BadHandle.path(), None);
    }
}
