//! [`RotationWriter`]: crash-safe numbered copies, as the MS Mail Backup
//! control panel kept them ("Mail Data Backup #1" the newest, then #2, …).
//!
//! A copy is written under a temporary name in the rotation's folder, synced,
//! and only then renamed into place, after the older copies have moved up one
//! number; the folder is synced last. A crash at any moment therefore leaves
//! the rotation in one of these states: as before; as before with a stale
//! temporary file; shifted up by one with #1 missing (a crash between the
//! shift and the final rename); or complete. Never a half-written copy under
//! a numbered name.
//!
//! What does not live here: *when* copies are made (the `ScheduledCopy`
//! policy, `mailsim serve --copy-every`), and which file is copied.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::FileSnapshot;
use crate::volume::os::files::{TEMP_PREFIX, create_new_file, sync_dir};

use crate::error::{Error, Result};
use crate::volume::VolumePath;

/// Where free space is read from before a copy: [`super::lock::available_space`]
/// unless replaced with [`RotationWriter::with_space_check`].
pub type SpaceCheck = fn(&Path) -> io::Result<u64>;

/// Writes numbered copies of a file into a folder and keeps the newest few.
///
/// One writer per folder and base name at a time: two writers of the same
/// rotation would share the temporary name.
#[derive(Clone, Debug)]
pub struct RotationWriter {
    dir: PathBuf,
    base_name: String,
    keep: u32,
    space: SpaceCheck,
}

/// What [`RotationWriter::write_from`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationOutcome {
    /// Bytes copied (the source's length when the copy read its end).
    pub copied_bytes: u64,
    /// The new copy: always [`RotationWriter::path_of`]`(1)`.
    pub path: PathBuf,
}

impl RotationWriter {
    /// A rotation of copies named `"{base_name} #{n}"` in `dir` (e.g.
    /// `"Mail Data Backup #1"`), keeping `keep` of them (0 is taken as 1).
    /// Touches nothing on disk; `dir` need not exist yet (writes fail until
    /// it does).
    ///
    /// # Errors
    /// [`Error::InvalidName`] when `base_name` is empty, `.` or `..`, starts
    /// with `.mailsim-tmp`, or contains `/` or NUL.
    pub fn new(dir: &Path, base_name: &str, keep: u32) -> Result<RotationWriter> {
        let reason = if base_name.is_empty() {
            Some("empty")
        } else if base_name == "." || base_name == ".." {
            Some("names a folder")
        } else if base_name.contains(['/', '\0']) {
            Some("contains '/' or NUL")
        } else if base_name.starts_with(TEMP_PREFIX) {
            Some("reserved for temporary files")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidName {
                path: VolumePath::root(dir.display().to_string()),
                name: base_name.to_owned(),
                reason,
                real_path: Some(dir.to_path_buf()),
            });
        }
        Ok(RotationWriter {
            dir: dir.to_path_buf(),
            base_name: base_name.to_owned(),
            keep: keep.max(1),
            space: super::lock::available_space,
        })
    }

    /// Replaces where free space is read before a copy (by default fs2's
    /// `available_space` of the folder). For tests and embedders that budget
    /// space themselves, e.g. `|_| Ok(0)` to see the refusal; the check is
    /// still the only thing standing between a copy and a full disk, so the
    /// function should not answer more than is really there.
    pub fn with_space_check(mut self, space: SpaceCheck) -> RotationWriter {
        self.space = space;
        self
    }

    /// The folder of the rotation.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many copies are kept.
    pub fn keep(&self) -> u32 {
        self.keep
    }

    /// The path of copy number `n` (1 is the newest): `"{dir}/{base_name} #{n}"`.
    pub fn path_of(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{} #{n}", self.base_name))
    }

    /// The temporary name a copy is written to before it joins the rotation.
    pub fn temp_path(&self) -> PathBuf {
        self.dir
            .join(format!("{TEMP_PREFIX}-{} #1", self.base_name))
    }

    /// Removes a temporary file left by an interrupted copy, if any.
    /// Called at the start of every write.
    ///
    /// # Errors
    /// `Error::Io` when the file exists but cannot be removed.
    pub fn clean_temp(&self) -> Result<()> {
        let tmp = self.temp_path();
        match std::fs::remove_file(&tmp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path: tmp, source }),
        }
    }

    /// Copies `src`, from its start to its end, into the rotation as #1.
    ///
    /// In order: removes a stale temporary file; checks the free space of the
    /// folder against `src`'s length and refuses before writing a byte;
    /// copies to the temporary name with `std::io::copy` (`copy_file_range`
    /// on Linux, so the bytes need not pass through user space) and syncs it;
    /// renames #(keep−1) over #keep, …, #1 over #2; renames the temporary
    /// file to #1; syncs the folder. Copies numbered above `keep` (left by a
    /// larger `keep` earlier) are not touched.
    ///
    /// `src`'s cursor is moved (to its start, then to where the copy ended);
    /// to copy a file held elsewhere without disturbing its cursor, pass a
    /// second open of it (see `LiveFileGuard::reopen_own`). The copy is not
    /// atomic with respect to writers of `src`: a writer during the copy can
    /// tear it, which is why MS Mail Backup copied at midnight.
    ///
    /// Blocks for the copy and two syncs (`sync_all` of the copy: seconds for
    /// a large file on a slow disk).
    ///
    /// # Errors
    /// [`Error::DiskFull`] (its `real_path`, and [`Error::path`], is the real
    /// path of #1; its `path` is `VolumePath::root` of it, displaying as
    /// that path) when the folder has less free space
    /// than `src`'s length, before anything is written, or when the disk
    /// fills during the copy (the temporary file is then removed);
    /// `Error::Io` naming the path for any other failure (the rotation is
    /// left in one of the states listed in the module docs).
    pub fn write_from(&self, src: &mut File) -> Result<RotationOutcome> {
        let needed_bytes = src
            .metadata()
            .map_err(|source| Error::Io {
                path: self.path_of(1),
                source,
            })?
            .len();
        self.write_with(needed_bytes, |out| {
            src.seek(SeekFrom::Start(0))?;
            io::copy(src, out)
        })
    }

    /// Copies a point-in-time snapshot of a live file into the rotation as
    /// #1, as [`RotationWriter::write_from`] does (the free space checked
    /// first, a temporary name, a sync, the renames), reading it in pieces
    /// of 1 MiB: the holder of the live file goes on writing meanwhile, and
    /// the copy is the file as it was when the snapshot was taken. Between
    /// pieces `cancel` is read: once it is set, the copy stops, its
    /// temporary file is removed, and the rotation is left as it was
    /// (`Error::Io` of kind `Interrupted`).
    ///
    /// # Errors
    /// As [`RotationWriter::write_from`]; `Interrupted` when cancelled.
    pub fn write_from_snapshot(
        &self,
        snapshot: &FileSnapshot,
        cancel: &AtomicBool,
    ) -> Result<RotationOutcome> {
        self.write_with(snapshot.len_bytes(), |out| {
            let mut buf = vec![0; 1 << 20];
            let mut at = 0u64;
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "the copy was cancelled",
                    ));
                }
                let n = snapshot.read_at(at, &mut buf)?;
                if n == 0 {
                    return Ok(at);
                }
                io::Write::write_all(out, &buf[..n])?;
                at += n as u64;
            }
        })
    }

    /// The steps every copy shares: the stale temporary removed, the free
    /// space checked against `needed_bytes`, `fill` writing the temporary
    /// file (created exclusively, never through a symlink), a sync, the
    /// renames into the rotation, the folder synced.
    fn write_with(
        &self,
        needed_bytes: u64,
        fill: impl FnOnce(&mut File) -> io::Result<u64>,
    ) -> Result<RotationOutcome> {
        self.clean_temp()?;
        let first = self.path_of(1);
        let available_bytes = (self.space)(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        if needed_bytes > available_bytes {
            return Err(self.disk_full(needed_bytes, available_bytes));
        }

        let tmp = self.temp_path();
        let copied = (|| -> io::Result<u64> {
            let mut out = create_new_file(&tmp)?;
            let n = fill(&mut out)?;
            out.sync_all()?;
            Ok(n)
        })();
        let copied_bytes = match copied {
            Ok(n) => n,
            Err(source) => {
                let _ = std::fs::remove_file(&tmp);
                if source.kind() == io::ErrorKind::StorageFull {
                    let available = (self.space)(&self.dir).unwrap_or(0);
                    return Err(self.disk_full(needed_bytes, available));
                }
                return Err(Error::Io { path: tmp, source });
            }
        };

        for k in self.numbers_below_keep()? {
            let (from, to) = (self.path_of(k), self.path_of(k + 1));
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Io { path: from, source }),
            }
        }
        std::fs::rename(&tmp, &first).map_err(|source| Error::Io {
            path: first.clone(),
            source,
        })?;
        sync_dir(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        Ok(RotationOutcome {
            copied_bytes,
            path: first,
        })
    }

    /// [`RotationWriter::write_from`] on a file opened for reading at `src`.
    /// Opening `src` is an open like any other: if a live server holds it
    /// under an inotify watch, this copy is a foreign open.
    ///
    /// # Errors
    /// `Error::Io` naming `src` when it cannot be opened; then as
    /// [`RotationWriter::write_from`].
    pub fn write_from_path(&self, src: &Path) -> Result<RotationOutcome> {
        let mut f = File::open(src).map_err(|source| Error::Io {
            path: src.to_path_buf(),
            source,
        })?;
        self.write_from(&mut f)
    }

    /// The numbers of the copies present that move up one, highest first:
    /// read from one listing of the folder, so that a rotation of many
    /// copies costs a rename per copy present, not one per number kept.
    fn numbers_below_keep(&self) -> Result<Vec<u32>> {
        let prefix = format!("{} #", self.base_name);
        let entries = std::fs::read_dir(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut numbers: Vec<u32> = entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let n: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
                // `#01` is not copy 1.
                (n >= 1 && n < self.keep && name == format!("{prefix}{n}")).then_some(n)
            })
            .collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        Ok(numbers)
    }

    fn disk_full(&self, needed_bytes: u64, available_bytes: u64) -> Error {
        Error::DiskFull {
            path: VolumePath::root(self.path_of(1).display().to_string()),
            needed_bytes,
            available_bytes,
            real_path: Some(self.path_of(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keeps_the_newest_as_number_one() {
        let src_dir = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let src = src_dir.path().join("Microsoft Mail Data");
        let w = RotationWriter::new(dir.path(), "Mail Data Backup", 3).unwrap();
        for night in 1..=5u8 {
            std::fs::write(&src, vec![night; 1000 + night as usize]).unwrap();
            let out = w.write_from_path(&src).unwrap();
            assert_eq!(out.copied_bytes, 1000 + night as u64);
            assert_eq!(out.path, w.path_of(1));
        }
        assert_eq!(
            names(dir.path()),
            [
                "Mail Data Backup #1",
                "Mail Data Backup #2",
                "Mail Data Backup #3"
            ]
        );
        for (n, night) in [(1, 5u8), (2, 4), (3, 3)] {
            assert_eq!(
                std::fs::read(w.path_of(n)).unwrap(),
                vec![night; 1000 + night as usize]
            );
        }
    }

    #[test]
    fn copies_from_the_start_and_cleans_a_stale_temp() {
        let dir = tempfile::tempdir().unwrap();
        let w = RotationWriter::new(dir.path(), "Mail Data Backup", 1).unwrap();
        std::fs::write(w.temp_path(), b"half a cop").unwrap();
        let mut f = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut f, b"whole copy").unwrap();
        w.write_from(&mut f).unwrap();
        assert_eq!(std::fs::read(w.path_of(1)).unwrap(), b"whole copy");
        assert_eq!(names(dir.path()), ["Mail Data Backup #1"]);
    }

    #[test]
    fn refuses_a_copy_that_cannot_fit_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let w = RotationWriter::new(dir.path(), "Mail Data Backup", 3)
            .unwrap()
            .with_space_check(|_| Ok(10));
        std::fs::write(w.path_of(1), b"old").unwrap();
        let mut f = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut f, &[7; 11]).unwrap();
        let err = w.write_from(&mut f).unwrap_err();
        assert!(
            matches!(
                err,
                Error::DiskFull {
                    needed_bytes: 11,
                    available_bytes: 10,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(err.path(), Some(w.path_of(1).as_path()));
        assert_eq!(names(dir.path()), ["Mail Data Backup #1"]);
        assert_eq!(std::fs::read(w.path_of(1)).unwrap(), b"old");
        // Exactly enough is enough.
        let w = w.with_space_check(|_| Ok(11));
        w.write_from(&mut f).unwrap();
        assert_eq!(std::fs::read(w.path_of(2)).unwrap(), b"old");
    }

    #[test]
    fn a_rotation_of_many_copies_costs_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let w = RotationWriter::new(dir.path(), "Mail Data Backup", u32::MAX).unwrap();
        std::fs::write(w.path_of(7), b"seven").unwrap();
        std::fs::write(dir.path().join("Mail Data Backup #07"), b"not a copy").unwrap();
        let mut f = tempfile::tempfile().unwrap();
        io::Write::write_all(&mut f, b"new").unwrap();
        let started = std::time::Instant::now();
        w.write_from(&mut f).unwrap();
        w.write_from(&mut f).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(
            names(dir.path()),
            [
                "Mail Data Backup #07",
                "Mail Data Backup #1",
                "Mail Data Backup #2",
                "Mail Data Backup #9"
            ]
        );
        assert_eq!(std::fs::read(w.path_of(9)).unwrap(), b"seven");
    }

    #[test]
    fn a_snapshot_copy_is_the_file_as_it_was_and_can_be_cancelled() {
        let src_dir = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let vol = crate::volume::OsVolume::open_dir("Server HD", src_dir.path()).unwrap();
        let path = crate::VolumePath::new("Server HD", ["Microsoft Mail Data"]);
        use crate::volume::{Access, Content, Deny, Owner, Volume};
        vol.put_file(&path, Content::from_bytes(&vec![5u8; 3 << 20]))
            .unwrap();
        let h = vol
            .open(&path, &Owner::new("Mail"), Access::ReadWrite, Deny::WRITE)
            .unwrap();
        let snap = vol.snapshot(h).unwrap();
        vol.write_at(h, 4096, &[9u8; 8192]).unwrap();
        let w = RotationWriter::new(dir.path(), "Mail Data Backup", 2).unwrap();
        let out = w
            .write_from_snapshot(&snap, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(out.copied_bytes, 3 << 20);
        assert!(std::fs::read(w.path_of(1)).unwrap() == vec![5u8; 3 << 20]);
        let e = w
            .write_from_snapshot(&snap, &AtomicBool::new(true))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Io { source, .. } if source.kind() == io::ErrorKind::Interrupted)
        );
        assert_eq!(names(dir.path()), ["Mail Data Backup #1"]);
    }

    #[test]
    fn refuses_bad_base_names() {
        let dir = Path::new("/nonexistent");
        for bad in ["", "..", "a/b", ".mailsim-tmp-x"] {
            let err = RotationWriter::new(dir, bad, 3).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{err}");
            // The folder the name was refused in.
            assert_eq!(err.path(), Some(dir));
        }
        assert_eq!(RotationWriter::new(dir, "x", 0).unwrap().keep(), 1);
        let missing = RotationWriter::new(dir, "x", 3).unwrap();
        assert!(matches!(
            missing.write_from_path(Path::new("/nonexistent/src")),
            Err(Error::Io { .. })
        ));
    }
}
