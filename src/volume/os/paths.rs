//! Where a volume path lands on disk, and the checks that keep it inside
//! the volume's directory: [`OsVolume::real_path`] (the volume's name, each
//! component, no symlink leading out), the `lstat` of an existing entry, and
//! the typed errors an OS error about a path maps to.
//!
//! What does not live here: the operations that use these checks (`tree`
//! for names, `opens` and `handles` for open files).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{OsVolume, io_at};
use crate::error::{Error, Result};
use crate::volume::VolumePath;

impl OsVolume {
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
        for (i, c) in comps.iter().enumerate() {
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
                // The folder on disk the name was refused in.
                let mut folder = self.root.to_path_buf();
                folder.extend(comps[..i].iter().map(|c| c.as_str()));
                return Err(Error::InvalidName {
                    path: path.clone(),
                    name: c.clone(),
                    reason,
                    real_path: Some(folder),
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
    pub(super) fn os_error(&self, path: &VolumePath, real: &Path, e: io::Error) -> Error {
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

    /// The `lstat` of an existing path; `None` when it does not exist.
    pub(super) fn lstat(&self, path: &VolumePath, real: &Path) -> Result<Option<fs::Metadata>> {
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
    pub(super) fn existing_file(&self, path: &VolumePath) -> Result<(PathBuf, fs::Metadata)> {
        let real = self.real_path(path)?;
        match self.lstat(path, &real)? {
            Some(m) if m.is_file() => Ok((real, m)),
            Some(m) if m.is_dir() => Err(Error::IsAFolder { path: path.clone() }),
            _ => Err(Error::NotFound { path: path.clone() }),
        }
    }

    /// Checks that the folder `path` would be created in exists.
    pub(super) fn check_parent(&self, path: &VolumePath) -> Result<()> {
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
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;

    use super::super::tests::{HD, names, setup};
    use crate::error::Error;
    use crate::volume::{Access, Content, Deny, EntryKind, Owner, Volume, VolumePath};

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
}
