//! The folder tree by name, no handle needed: listing a folder, the
//! metadata of an entry, creating folders, writing a whole file crash-safely
//! (a temporary name, synced, renamed over the target, the folder synced),
//! removing and renaming files that nobody holds.
//!
//! What does not live here: the path checks these begin with (`paths`), who
//! holds a file (`opens`), reads and writes through a handle (`handles`).

use std::fs;
use std::io;
use std::path::Path;

use super::handles::write_all_at;
use super::opens::held_by;
use super::{OsVolume, TEMP_PREFIX, file_id, files, io_at, lock};
use crate::error::{Error, Result};
use crate::time::SimTime;
use crate::volume::{Content, DirEntry, EntryKind, Metadata, VolumePath};

/// [`Volume::list`](crate::volume::Volume::list) for [`OsVolume`].
pub(super) fn list(vol: &OsVolume, folder: &VolumePath) -> Result<Vec<DirEntry>> {
    let real = vol.real_path(folder)?;
    let meta = fs::metadata(&real).map_err(|e| vol.os_error(folder, &real, e))?;
    if !meta.is_dir() {
        return Err(Error::NotAFolder {
            path: folder.clone(),
        });
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&real).map_err(|e| vol.os_error(folder, &real, e))? {
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

/// [`Volume::metadata`](crate::volume::Volume::metadata) for [`OsVolume`].
pub(super) fn metadata(vol: &OsVolume, path: &VolumePath) -> Result<Metadata> {
    let real = vol.real_path(path)?;
    let meta = fs::metadata(&real).map_err(|e| vol.os_error(path, &real, e))?;
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
        modified: vol.modified(&meta),
    })
}

/// [`Volume::create_folder`](crate::volume::Volume::create_folder) for [`OsVolume`].
pub(super) fn create_folder(vol: &OsVolume, path: &VolumePath) -> Result<()> {
    vol.real_path(path)?;
    let comps = path.components();
    for depth in 1..=comps.len() {
        let here = VolumePath::new(path.volume(), comps[..depth].iter().cloned());
        let real = vol.real_path(&here)?;
        match fs::metadata(&real) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(Error::NotAFolder { path: here }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&real) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && real.is_dir() => {}
                Err(e) => return Err(vol.os_error(&here, &real, e)),
            },
            Err(e) => return Err(vol.os_error(&here, &real, e)),
        }
    }
    Ok(())
}

/// [`Volume::put_file`](crate::volume::Volume::put_file) for [`OsVolume`].
pub(super) fn put_file(vol: &OsVolume, path: &VolumePath, content: Content) -> Result<()> {
    let real = vol.real_path(path)?;
    vol.check_parent(path)?;
    if vol.lstat(path, &real)?.is_some_and(|m| m.is_dir()) {
        return Err(Error::IsAFolder { path: path.clone() });
    }
    let len = content.len_bytes();
    let available = lock::available_space(&vol.root).map_err(io_at(&vol.root))?;
    if len > available {
        return Err(Error::DiskFull {
            path: path.clone(),
            needed_bytes: len,
            available_bytes: available,
            real_path: Some(real.clone()),
        });
    }
    let tmp = real.with_file_name(vol.temp_name());
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
            vol.disk_full(path, len)
        } else {
            vol.os_error(path, &real, e)
        });
    }
    vol.sync_parent(&real)
}

/// [`Volume::remove_file`](crate::volume::Volume::remove_file) for [`OsVolume`].
pub(super) fn remove_file(vol: &OsVolume, path: &VolumePath) -> Result<()> {
    let (real, meta) = vol.existing_file(path)?;
    let id = file_id(&meta, &real);
    {
        let s = vol.state.lock();
        if let Some(holder) = held_by(&s, &id, &real) {
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder,
                real_path: Some(real.clone()),
            });
        }
        fs::remove_file(&real).map_err(|e| vol.os_error(path, &real, e))?;
    }
    vol.sync_parent(&real)
}

/// [`Volume::rename`](crate::volume::Volume::rename) for [`OsVolume`].
pub(super) fn rename(vol: &OsVolume, from: &VolumePath, to: &VolumePath) -> Result<()> {
    let (real_from, _) = vol.existing_file(from)?;
    let real_to = vol.real_path(to)?;
    vol.check_parent(to)?;
    if from == to {
        return Ok(());
    }
    let mut s = vol.state.lock();
    if let Some(m) = vol.lstat(to, &real_to)? {
        if m.is_dir() {
            return Err(Error::IsAFolder { path: to.clone() });
        }
        let id = file_id(&m, &real_to);
        if let Some(holder) = held_by(&s, &id, &real_to) {
            return Err(Error::DenyConflict {
                path: to.clone(),
                holder,
                real_path: Some(real_to.clone()),
            });
        }
    }
    fs::rename(&real_from, &real_to).map_err(|e| vol.os_error(from, &real_from, e))?;
    for o in s.opens.values_mut().filter(|o| o.real == real_from) {
        o.path = to.clone();
        o.real = real_to.clone();
    }
    drop(s);
    vol.sync_parent(&real_from)?;
    if real_from.parent() != real_to.parent() {
        vol.sync_parent(&real_to)?;
    }
    Ok(())
}

impl OsVolume {
    fn modified(&self, meta: &fs::Metadata) -> SimTime {
        meta.modified()
            .map(|t| self.clock.at_wall(t))
            .unwrap_or(SimTime::ZERO)
    }

    fn sync_parent(&self, real: &Path) -> Result<()> {
        let dir = real.parent().unwrap_or(&self.root);
        files::sync_dir(dir).map_err(io_at(dir))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs;

    use super::super::tests::{HD, names, setup};
    use crate::error::Error;
    use crate::volume::{Content, EntryKind, Volume, VolumePath};

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
}
