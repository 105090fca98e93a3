//! Writing the archive: ARCHIVE's missing folders created one component at
//! a time (never through a symlink, never into a folder of DIR), and each
//! archived file streamed chunk by chunk into a temporary created
//! exclusively in its folder, blocks of zeros left as holes, then synced,
//! renamed into place and its folder synced. A file given up on loses its
//! temporary: no half-written file ever has a final name.
//!
//! What does not live here: the checks before anything is written
//! (`paths`), what to archive and when (the client, through `env`).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

use mailsim::VolumePath;
use mailsim::real::TEMP_PREFIX;
use mailsim::volume::Chunk;

use super::super::CliError;
use super::super::input;
use super::paths::{Checked, Id, id_of, path_error};

/// Bytes per block that is written, or left a hole when all zeros.
const BLOCK_BYTES: usize = 4096;

/// Creates ARCHIVE's missing folders, one at a time, never through a
/// symlink; returns ARCHIVE.
pub(super) fn create_archive(checked: &Checked, archive: &Path) -> Result<PathBuf, CliError> {
    let mut at = checked.base.clone();
    for name in &checked.tail {
        at.push(name);
        make_folder(&at, &checked.served).map_err(|e| match e {
            Made::Io(e) => path_error(
                &e,
                format!(
                    "--to {}: cannot be created: {}: {e}",
                    archive.display(),
                    at.display()
                ),
            ),
            Made::Refused(what) => CliError::Usage(format!(
                "--to {}: {}: {what}",
                archive.display(),
                at.display()
            )),
        })?;
    }
    Ok(at)
}

/// Why a folder of the archive could not be made.
enum Made {
    Io(io::Error),
    Refused(String),
}

/// Makes the folder `path` (its parent exists and was checked) unless it is
/// there, then checks by `symlink_metadata` that it is a directory, not a
/// symlink, and not one of DIR's folders.
fn make_folder(path: &Path, served: &HashSet<Id>) -> Result<(), Made> {
    match fs::create_dir(path) {
        Ok(()) => {
            if let Some(parent) = path.parent() {
                input::sync_dir(parent).map_err(Made::Io)?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Made::Io(e)),
    }
    let meta = fs::symlink_metadata(path).map_err(Made::Io)?;
    if meta.file_type().is_symlink() {
        return Err(Made::Refused(
            "a symlink: the backup never writes through one".to_owned(),
        ));
    }
    if !meta.is_dir() {
        return Err(Made::Refused(format!(
            "exists and is {}, where the backup puts a folder",
            input::kind_of(meta.file_type())
        )));
    }
    if served.contains(&id_of(path, &meta)) {
        return Err(Made::Refused(
            "a folder of --dir (a bind mount?): the backup never writes into what it archives"
                .to_owned(),
        ));
    }
    Ok(())
}

/// A file being archived: its temporary, removed when dropped unless it was
/// renamed into place.
struct Pending {
    path: VolumePath,
    folder: PathBuf,
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    /// Bytes of the file seen so far (its length when done).
    len_bytes: u64,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A failure writing `what` into the archive: a runtime failure, one line,
/// saying "disk full" when the file system is.
fn write_error(what: &Path, e: &io::Error) -> CliError {
    let full = matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    );
    CliError::Runtime(if full {
        format!("writing the archive: {}: disk full ({e})", what.display())
    } else {
        format!("writing the archive: {}: {e}", what.display())
    })
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_all_at(mut file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

/// The archive the run writes: ARCHIVE/<path under DIR> for each file.
pub(super) struct Archive {
    root: PathBuf,
    /// DIR and its folders, never written into.
    served: HashSet<Id>,
    /// Folders of the archive made and checked so far.
    made: HashSet<PathBuf>,
    /// The file being written.
    pending: Option<Pending>,
    /// Temporaries created, for fresh names.
    temps: u64,
}

impl Archive {
    /// The archive rooted at `root` (made and checked), never writing into
    /// a folder of `served`.
    pub(super) fn new(root: PathBuf, served: HashSet<Id>) -> Archive {
        Archive {
            root,
            served,
            made: HashSet::new(),
            pending: None,
            temps: 0,
        }
    }

    /// Gives up on the file being written, if any: its temporary goes.
    pub(super) fn abandon(&mut self) {
        self.pending = None;
    }

    /// The archive's folder for a file of DIR in `folders`, made and checked
    /// one component at a time.
    fn folder(&mut self, folders: &[String]) -> Result<PathBuf, CliError> {
        let mut at = self.root.clone();
        for name in folders {
            if !matches!(
                Path::new(name).components().collect::<Vec<_>>()[..],
                [Component::Normal(_)]
            ) {
                return Err(CliError::Runtime(format!(
                    "writing the archive: {name:?}: not a folder name"
                )));
            }
            at.push(name);
            if self.made.contains(&at) {
                continue;
            }
            make_folder(&at, &self.served).map_err(|e| match e {
                Made::Io(e) => write_error(&at, &e),
                Made::Refused(what) => {
                    CliError::Runtime(format!("writing the archive: {}: {what}", at.display()))
                }
            })?;
            self.made.insert(at.clone());
        }
        Ok(at)
    }

    /// Starts archiving `path`: a fresh temporary in its folder.
    fn begin(&mut self, path: &VolumePath) -> Result<(), CliError> {
        self.pending = None;
        let comps = path.components();
        let Some((name, folders)) = comps.split_last() else {
            return Err(CliError::Runtime(format!("{path}: not a file")));
        };
        let folder = self.folder(folders)?;
        let target = folder.join(name);
        loop {
            self.temps += 1;
            let tmp = folder.join(format!(
                "{TEMP_PREFIX}-backup-{}-{}",
                std::process::id(),
                self.temps
            ));
            match input::create_new(&tmp) {
                Ok(file) => {
                    self.pending = Some(Pending {
                        path: path.clone(),
                        folder,
                        target,
                        tmp,
                        file: Some(file),
                        len_bytes: 0,
                    });
                    return Ok(());
                }
                // Left by another run with this pid, or being made now.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(write_error(&tmp, &e)),
            }
        }
    }

    /// Writes `chunk` of `path` (the file begun, or a new one), leaving a
    /// hole for each block of zeros.
    pub(super) fn write(&mut self, path: &VolumePath, chunk: &Chunk) -> Result<(), CliError> {
        if self.pending.as_ref().is_none_or(|p| p.path != *path) {
            self.begin(path)?;
        }
        let p = self.pending.as_mut().expect("begun above");
        let file = p.file.as_ref().expect("open until done");
        let bytes = chunk.to_vec();
        let mut at = 0;
        while at < bytes.len() {
            // The next run of blocks that are not all zeros.
            // Without an early exit, so that it runs in vector registers.
            let is_zero = |b: &[u8]| b.iter().fold(0, |acc, &x| acc | x) == 0;
            let block = |i: usize| &bytes[i..(i + BLOCK_BYTES).min(bytes.len())];
            while at < bytes.len() && is_zero(block(at)) {
                at += BLOCK_BYTES;
            }
            let start = at;
            while at < bytes.len() && !is_zero(block(at)) {
                at += BLOCK_BYTES;
            }
            let end = at.min(bytes.len());
            if start < end {
                write_all_at(file, &bytes[start..end], chunk.offset() + start as u64)
                    .map_err(|e| write_error(&p.target, &e))?;
            }
        }
        p.len_bytes = p.len_bytes.max(chunk.offset() + chunk.len_bytes());
        Ok(())
    }

    /// `path` is read whole: its length set (the holes at its end), synced,
    /// renamed into place, its folder synced. An empty file, which has no
    /// chunks, is begun here. Returns its length.
    pub(super) fn finish(&mut self, path: &VolumePath) -> Result<u64, CliError> {
        if self.pending.as_ref().is_none_or(|p| p.path != *path) {
            self.begin(path)?;
        }
        let mut p = self.pending.take().expect("begun above");
        let file = p.file.as_ref().expect("open until done");
        file.set_len(p.len_bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| write_error(&p.target, &e))?;
        fs::rename(&p.tmp, &p.target).map_err(|e| write_error(&p.target, &e))?;
        // Renamed: nothing to remove any more.
        p.file = None;
        input::sync_dir(&p.folder).map_err(|e| write_error(&p.folder, &e))?;
        Ok(p.len_bytes)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::cli::backup::paths::check_paths;
    use mailsim::policy::{ExcludeFolder, ExcludeNothing};
    use mailsim::sim::SERVER_HD;

    fn check(dir: &Path, archive: &Path) -> Result<Checked, CliError> {
        check_paths(dir, archive, &ExcludeNothing)
    }

    #[test]
    fn archived_files_keep_their_holes_and_leave_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = Archive {
            root: tmp.path().to_path_buf(),
            served: HashSet::new(),
            made: HashSet::new(),
            pending: None,
            temps: 0,
        };
        let path = VolumePath::new(SERVER_HD, ["d", "f"]);
        let mut bytes = vec![0u8; 3 * 65_536];
        bytes[70_000] = 7;
        for (i, piece) in bytes.chunks(65_536).enumerate() {
            a.write(&path, &Chunk::from_bytes(i as u64 * 65_536, piece))
                .unwrap();
        }
        assert_eq!(a.finish(&path).unwrap(), bytes.len() as u64);
        let f = tmp.path().join("d/f");
        assert_eq!(fs::read(&f).unwrap(), bytes);
        assert_eq!(fs::read_dir(tmp.path().join("d")).unwrap().count(), 1);
        // An empty file has no chunk: it is made at the end.
        let empty = VolumePath::new(SERVER_HD, ["e"]);
        assert_eq!(a.finish(&empty).unwrap(), 0);
        assert_eq!(fs::metadata(tmp.path().join("e")).unwrap().len(), 0);
        // Given up on: its temporary goes.
        a.write(&path, &Chunk::from_bytes(0, b"x")).unwrap();
        a.pending = None;
        assert_eq!(fs::read_dir(tmp.path().join("d")).unwrap().count(), 1);
        assert_eq!(fs::read(&f).unwrap(), bytes, "the archived copy is kept");
    }

    #[test]
    fn a_symlink_where_the_archive_puts_a_folder_is_refused_before_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("srv");
        fs::create_dir_all(dir.join("System Folder/Extensions")).unwrap();
        let archive = tmp.path().join("archive");
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, archive.join("System Folder")).unwrap();
        let e = check(&dir, &archive).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("symlink")),
            "{e}"
        );
        // Excluded, it is none of the backup's business.
        check_paths(&dir, &archive, &ExcludeFolder::new("System Folder")).unwrap();
        // Made during the run: refused as it is found, nothing written there.
        let mut a = Archive {
            root: archive.clone(),
            served: HashSet::new(),
            made: HashSet::new(),
            pending: None,
            temps: 0,
        };
        let path = VolumePath::new(SERVER_HD, ["System Folder", "Extensions", "f"]);
        let e = a.begin(&path).unwrap_err();
        assert!(
            matches!(&e, CliError::Runtime(m) if m.contains("symlink")),
            "{e}"
        );
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
