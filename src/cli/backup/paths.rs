//! The checks of DIR and ARCHIVE, all made before anything is written:
//! DIR a readable directory; ARCHIVE never DIR, inside it or above it,
//! compared by file-system identity (device and inode, symlinks resolved);
//! no symlink, file or folder of DIR where the archive puts a folder; and
//! ARCHIVE writable.
//!
//! What does not live here: creating ARCHIVE and writing into it
//! (`archive`), which checks each folder again as it makes it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use mailsim::VolumePath;
use mailsim::policy::ExclusionPolicy;
use mailsim::real::TEMP_PREFIX;
use mailsim::sim::SERVER_HD;

use super::super::CliError;
use super::super::input;

/// What a directory is, whatever the path to it: its device and inode
/// (without inodes, its canonical path: no bind mounts to see through).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Id(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] PathBuf);

#[cfg(unix)]
pub(super) fn id_of(_path: &Path, meta: &fs::Metadata) -> Id {
    use std::os::unix::fs::MetadataExt;
    Id((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
pub(super) fn id_of(path: &Path, _meta: &fs::Metadata) -> Id {
    Id(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// The identity of the directory at `path` (symlinks followed).
fn id_at(path: &Path) -> io::Result<Id> {
    Ok(id_of(path, &fs::metadata(path)?))
}

/// Bad input when the error says the path is wrong, a runtime failure when
/// the machine failed.
pub(super) fn path_error(e: &io::Error, message: String) -> CliError {
    if input::is_bad_path(e) {
        CliError::Usage(message)
    } else {
        CliError::Runtime(message)
    }
}

/// What the checks found out: where to write, and what never to write into.
#[derive(Debug)]
pub(super) struct Checked {
    /// ARCHIVE's existing part, canonical (symlinks resolved, so that the
    /// run does not resolve them again).
    pub(super) base: PathBuf,
    /// The folders of ARCHIVE still to create below `base`.
    pub(super) tail: Vec<OsString>,
    /// DIR and every folder under it: the archive never writes into one.
    pub(super) served: HashSet<Id>,
}

/// Checks DIR and ARCHIVE (see the module docs), all before anything is
/// written; nothing is created.
pub(super) fn check_paths(
    dir: &Path,
    archive: &Path,
    exclusion: &dyn ExclusionPolicy,
) -> Result<Checked, CliError> {
    let (dir_real, dir_id) = check_dir(dir)?;
    let (base, tail) = archive_parts(archive)?;
    let archive_exists = tail.is_empty();
    let walked = walk_served(
        &dir_real,
        dir_id.clone(),
        archive_exists.then_some(&base),
        exclusion,
    );
    let served = walked.folders;
    let to = |what: String| CliError::Usage(format!("--to {}: {what}", archive.display()));
    // ARCHIVE is DIR or inside it: a folder on its way up is one of DIR's.
    for above in base.ancestors() {
        let id = id_at(above).map_err(|e| {
            path_error(
                &e,
                format!("--to {}: {}: {e}", archive.display(), above.display()),
            )
        })?;
        if id == dir_id && above == base && archive_exists {
            return Err(to(format!(
                "is --dir {} itself (the same directory): the backup never writes into what \
                 it archives",
                dir.display()
            )));
        }
        if served.contains(&id) {
            return Err(to(format!(
                "inside --dir {} ({} is {}): the backup never writes into what it archives",
                dir.display(),
                above.display(),
                if id == dir_id {
                    "that directory".to_owned()
                } else {
                    "one of its folders".to_owned()
                }
            )));
        }
    }
    // ARCHIVE is above DIR: DIR's files would be archived over themselves.
    if archive_exists {
        let id =
            id_at(&base).map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
        for above in dir_real.ancestors().skip(1) {
            if id_at(above).is_ok_and(|a| a == id) {
                return Err(to(format!(
                    "an ancestor of --dir {} (the same directory as {}): the archive of its \
                     files could land on the files themselves",
                    dir.display(),
                    above.display()
                )));
            }
        }
    }
    if let Some(e) = walked.problem {
        return Err(e);
    }
    // Writable? (A probe file in the deepest existing folder, removed at once.)
    input::check_writable_dir("--to", archive, &base)?;
    Ok(Checked { base, tail, served })
}

/// DIR's canonical path and identity, or why it cannot be archived.
fn check_dir(dir: &Path) -> Result<(PathBuf, Id), CliError> {
    let bad = |e: &io::Error| path_error(e, format!("--dir {}: {e}", dir.display()));
    let meta = fs::metadata(dir).map_err(|e| bad(&e))?;
    if !meta.is_dir() {
        return Err(CliError::Usage(format!(
            "--dir {}: not a directory ({})",
            dir.display(),
            input::kind_of(meta.file_type())
        )));
    }
    fs::read_dir(dir)
        .map_err(|e| path_error(&e, format!("--dir {}: cannot be read: {e}", dir.display())))?;
    let real = fs::canonicalize(dir).map_err(|e| bad(&e))?;
    Ok((real.clone(), id_of(&real, &meta)))
}

/// ARCHIVE split into its deepest existing directory, canonical, and the
/// names of the folders to create below it; or why it cannot be one.
fn archive_parts(archive: &Path) -> Result<(PathBuf, Vec<OsString>), CliError> {
    let to = |what: &dyn std::fmt::Display| {
        CliError::Usage(format!("--to {}: {what}", archive.display()))
    };
    if archive.as_os_str().is_empty() {
        return Err(to(&"an empty path"));
    }
    let abs = std::path::absolute(archive)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    let mut existing = PathBuf::new();
    let mut tail: Vec<OsString> = Vec::new();
    for c in abs.components() {
        if !tail.is_empty() {
            match c {
                Component::Normal(name) => tail.push(name.to_owned()),
                _ => {
                    return Err(to(&format!(
                        "'..' below {}, which does not exist",
                        existing.join(&tail[0]).display()
                    )));
                }
            }
            continue;
        }
        let next = existing.join(c);
        match fs::metadata(&next) {
            Ok(_) => existing = next,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(&next).is_ok() {
                    return Err(to(&format!(
                        "{} is a dangling symlink: the backup never creates through one",
                        next.display()
                    )));
                }
                match c {
                    Component::Normal(name) => tail.push(name.to_owned()),
                    _ => return Err(to(&format!("{}: {e}", next.display()))),
                }
            }
            Err(e) => {
                return Err(path_error(
                    &e,
                    format!("--to {}: {}: {e}", archive.display(), next.display()),
                ));
            }
        }
    }
    if let Some(long) = tail.iter().find(|n| n.len() > NAME_MAX_BYTES) {
        return Err(to(&format!(
            "file name too long ({} bytes, at most {NAME_MAX_BYTES})",
            long.len()
        )));
    }
    let meta = fs::metadata(&existing)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    if !meta.is_dir() {
        return Err(to(&if tail.is_empty() {
            format!(
                "exists and is not a directory ({})",
                input::kind_of(meta.file_type())
            )
        } else {
            format!("{} is not a directory", existing.display())
        }));
    }
    let base = fs::canonicalize(&existing)
        .map_err(|e| path_error(&e, format!("--to {}: {e}", archive.display())))?;
    Ok((base, tail))
}

/// Longest name of a folder the command creates: `NAME_MAX` of Linux.
const NAME_MAX_BYTES: usize = 255;

/// What a walk of DIR's folders found.
struct Walked {
    /// DIR and every folder under it (a folder met twice, through a bind
    /// mount, is walked once).
    folders: HashSet<Id>,
    /// The first folder of the archive, where the backup would put a folder
    /// of DIR, that is a symlink, not a directory, or one of DIR's own.
    problem: Option<CliError>,
}

/// Walks DIR's folders (by `lstat`: no symlink followed, nothing opened but
/// folders), noting each one's identity and, where `archive` exists,
/// checking the folder the backup would make for it there.
fn walk_served(
    dir: &Path,
    dir_id: Id,
    archive: Option<&PathBuf>,
    exclusion: &dyn ExclusionPolicy,
) -> Walked {
    let mut folders = HashSet::from([dir_id]);
    let mut counterparts = Vec::new();
    // (real path, path under DIR, whether the backup walks it)
    let mut stack = vec![(dir.to_path_buf(), Vec::<String>::new(), true)];
    while let Some((real, rel, walked)) = stack.pop() {
        // An unreadable folder is the backup's to report when it gets there.
        let Ok(entries) = fs::read_dir(&real) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let path = entry.path();
            if !folders.insert(id_of(&path, &meta)) {
                continue;
            }
            // As the volume lists it: UTF-8 names, no temporaries.
            let name = entry
                .file_name()
                .into_string()
                .ok()
                .filter(|n| !n.starts_with(TEMP_PREFIX));
            let (sub, walks) = match name {
                Some(n) if walked => {
                    let mut sub = rel.clone();
                    sub.push(n);
                    let excluded = exclusion.excludes(&VolumePath::new(SERVER_HD, sub.iter()));
                    (sub, !excluded)
                }
                _ => (rel.clone(), false),
            };
            if walks {
                counterparts.push(sub.clone());
            }
            stack.push((path, sub, walks));
        }
    }
    let problem = archive.and_then(|archive| {
        counterparts.iter().find_map(|rel| {
            let mut there = archive.clone();
            there.extend(rel);
            let what = match fs::symlink_metadata(&there) {
                Ok(m) if m.file_type().is_symlink() => {
                    "is a symlink: the backup never writes through one".to_owned()
                }
                Ok(m) if !m.is_dir() => format!(
                    "is {}, where the backup puts the folder {}",
                    input::kind_of(m.file_type()),
                    rel.join("/")
                ),
                Ok(m) if folders.contains(&id_of(&there, &m)) => {
                    "is a folder of --dir (a bind mount?): the backup never writes into what it \
                     archives"
                        .to_owned()
                }
                _ => return None,
            };
            Some(CliError::Usage(format!(
                "--to: {}: {what}",
                there.display()
            )))
        })
    });
    Walked { folders, problem }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::cli::backup::archive::create_archive;
    use mailsim::policy::ExcludeNothing;

    fn check(dir: &Path, archive: &Path) -> Result<Checked, CliError> {
        check_paths(dir, archive, &ExcludeNothing)
    }

    #[test]
    fn an_archive_at_inside_or_above_the_directory_is_refused_by_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir_all(dir.join("sub")).unwrap();
        let alias = tmp.path().join("alias");
        std::os::unix::fs::symlink(tmp.path(), &alias).unwrap();
        for bad in [
            dir.clone(),
            dir.join("a"),
            dir.join("sub"),
            dir.join("sub/new/deeper"),
            tmp.path().join("srv/./c"),
            tmp.path().to_path_buf(),
            alias.clone(),
            alias.join("srv"),
            alias.join("srv/x"),
            PathBuf::from("/"),
        ] {
            let e = check(&dir, &bad).unwrap_err();
            assert!(
                matches!(&e, CliError::Usage(m) if m.contains("--dir")),
                "{}: {e}",
                bad.display()
            );
        }
        assert!(!dir.join("a").exists() && !dir.join("c").exists());
        assert!(matches!(
            check(&dir, &dir.join("x/../y")),
            Err(CliError::Usage(m)) if m.contains("'..'")
        ));
        let outside = tmp.path().join("srv/../archive/x");
        let checked = check(&dir, &outside).unwrap();
        assert!(
            !tmp.path().join("archive").exists(),
            "checks create nothing"
        );
        let root = create_archive(&checked, &outside).unwrap();
        assert!(root.ends_with("archive/x") && root.is_dir());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }
}
