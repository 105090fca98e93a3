//! Opens and what they hold: the File Manager's deny modes checked against
//! this volume's opens and, without opening the file, against the locks
//! others hold (`proc_locks`: who holds each lock now); the `flock` an open takes; its inotify watch
//! and the accounting that tells foreign opens and foreign writes from the
//! holder's own; who writes a file; and [`OsVolume::check_file`], what
//! happened to a held file behind its holder's back ([`Tampering`]).
//!
//! What does not live here: reads and writes through an open (`handles`),
//! the lock and watch primitives themselves (`lock`, `proc_locks`,
//! `watch`).

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    FileEvents, FileId, LockHolder, OpenWatch, OsVolume, State, file_id, io_at, lock, proc_locks,
};
use crate::error::{Error, Result};
use crate::volume::{Access, Deny, ForeignOpens, Handle, Holder, Owner, VolumePath};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LockKind {
    Shared,
    Exclusive,
}

/// One open made through the volume: its descriptor, what it holds, and
/// what its watch has been told so far.
pub(super) struct Open {
    pub(super) file: Arc<File>,
    pub(super) path: VolumePath,
    pub(super) real: PathBuf,
    pub(super) id: FileId,
    owner: Owner,
    pub(super) access: Access,
    deny: Deny,
    lock: Option<LockKind>,
    watch: Option<OpenWatch>,
    /// Opens of this file the watch counted that are not foreign: made
    /// through this volume by the same owner, or refused after opening.
    pub(super) not_foreign: u64,
    /// Another owner of this volume opened the file since it was last
    /// named: its name is part of the next naming.
    last_foreign: Option<Owner>,
    /// The count of foreign opens when they were last named, and the name.
    named_upto: u64,
    last_by: Option<String>,
    /// The watch's count of modifications when this handle last wrote (or
    /// was last checked): any beyond it that this handle did not make are
    /// another process's writes.
    modify_seen: u64,
    /// Modifications by others found so far.
    foreign_writes: u64,
    /// The file's length as this volume's own writes left it: a file of
    /// another length was written by someone else.
    pub(super) len_expected: u64,
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

/// Locks on `real` held by others than this volume's opens, per the
/// kernel ([`proc_locks::holders`]; empty where there is none). This volume's own
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

/// Who holds the file `id` (at `real`) so that it cannot be removed or
/// replaced: an open through this volume (its owner), else a lock held
/// elsewhere.
pub(super) fn held_by(s: &State, id: &FileId, real: &Path) -> Option<String> {
    if let Some(o) = s.opens.values().find(|o| o.id == *id) {
        return Some(o.owner.name().to_owned());
    }
    proc_locks::names(&foreign_locks(s, id, real))
}

impl OsVolume {
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

    pub(super) fn with_open<T>(
        &self,
        handle: Handle,
        f: impl FnOnce(&mut Open) -> Result<T>,
    ) -> Result<T> {
        let mut s = self.state.lock();
        let Some(o) = s.opens.get_mut(&handle.0) else {
            return Err(Error::BadHandle);
        };
        f(o)
    }

    /// Drains the handle's watch (if any) and counts the modifications
    /// since its last look: as another process's writes (`own` false), or
    /// as this handle's own (`own` true, right after it wrote).
    pub(super) fn account_writes(&self, handle: Handle, own: bool) -> Result<()> {
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

    pub(super) fn file_of(
        &self,
        handle: Handle,
    ) -> Result<(Arc<File>, VolumePath, PathBuf, Access)> {
        self.with_open(handle, |o| {
            Ok((
                Arc::clone(&o.file),
                o.path.clone(),
                o.real.clone(),
                o.access,
            ))
        })
    }
}

/// [`Volume::open`](crate::volume::Volume::open) for [`OsVolume`]: the
/// module docs' three checks in their order, then the watch.
pub(super) fn open(
    vol: &OsVolume,
    path: &VolumePath,
    owner: &Owner,
    access: Access,
    deny: Deny,
) -> Result<Handle> {
    let (real, meta) = vol.existing_file(path)?;
    let id = file_id(&meta, &real);
    // The volume's lock is held throughout, so that the watches' counts
    // and the opens this volume subtracts from them move together.
    let mut s = vol.state.lock();
    let want = lock_for(access, deny);
    check_deny(&s, &id, &real, path, access, deny, want)?;
    let file = open_no_follow(&real, access).map_err(|e| vol.os_error(path, &real, e))?;
    let file = take_lock(&mut s, file, &id, &real, path, owner, want)?;
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
            named_upto: 0,
            last_by: None,
            modify_seen: 0,
            foreign_writes: 0,
            len_expected: meta.len(),
        },
    );
    Ok(Handle(handle))
}

/// The lock an open takes: none without deny modes, else exclusive if it
/// writes and shared if it only reads.
fn lock_for(access: Access, deny: Deny) -> Option<LockKind> {
    match (deny == Deny::NONE, access.writes()) {
        (true, _) => None,
        (false, true) => Some(LockKind::Exclusive),
        (false, false) => Some(LockKind::Shared),
    }
}

/// Checks 1 and 2 of the module docs, made before the file is opened so
/// that a refused open is seen by no watch: the File Manager's rules
/// against this volume's opens, then the conflicting locks held elsewhere.
fn check_deny(
    s: &State,
    id: &FileId,
    real: &Path,
    path: &VolumePath,
    access: Access,
    deny: Deny,
    want: Option<LockKind>,
) -> Result<()> {
    if let Some(o) = s
        .opens
        .values()
        .find(|o| o.id == *id && (o.deny.forbids(access) || deny.forbids(o.access)))
    {
        return Err(Error::DenyConflict {
            path: path.clone(),
            holder: o.owner.name().to_owned(),
            real_path: Some(real.to_path_buf()),
        });
    }
    if access.writes() || want.is_some() {
        let mut foreign = foreign_locks(s, id, real);
        foreign.retain(|h| access.writes() || h.write);
        if let Some(holder) = proc_locks::names(&foreign) {
            return Err(Error::DenyConflict {
                path: path.clone(),
                holder,
                real_path: Some(real.to_path_buf()),
            });
        }
    }
    Ok(())
}

/// Opens `real` with `access`, never creating it.
fn open_no_follow(real: &Path, access: Access) -> io::Result<File> {
    let mut opts = File::options();
    opts.read(access.reads()).write(access.writes());
    #[cfg(unix)]
    {
        // Never through a symlink put there since the check above.
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts.open(real)
}

/// Check 3 of the module docs: takes the lock `want` without waiting, and
/// notes for every open of the file whether this one is foreign to it.
/// Refused, `file` is closed and the open fails with the holder's name.
fn take_lock(
    s: &mut State,
    file: File,
    id: &FileId,
    real: &Path,
    path: &VolumePath,
    owner: &Owner,
    want: Option<LockKind>,
) -> Result<File> {
    // This open is now in every watch on the file: note whether it is
    // foreign to each.
    let refused = match want {
        None => false,
        Some(LockKind::Exclusive) => !lock::try_lock_exclusive(&file).map_err(io_at(real))?,
        Some(LockKind::Shared) => !lock::try_lock_shared(&file).map_err(io_at(real))?,
    };
    for o in s.opens.values_mut().filter(|o| o.id == *id) {
        if refused || o.owner == *owner {
            o.not_foreign += 1;
        } else {
            o.last_foreign = Some(owner.clone());
        }
    }
    if refused {
        drop(file);
        let holder = proc_locks::names(&foreign_locks(s, id, real))
            .unwrap_or_else(|| "another process".to_owned());
        return Err(Error::DenyConflict {
            path: path.clone(),
            holder,
            real_path: Some(real.to_path_buf()),
        });
    }
    Ok(file)
}

/// [`Volume::close`](crate::volume::Volume::close) for [`OsVolume`].
pub(super) fn close(vol: &OsVolume, handle: Handle) -> Result<()> {
    let o = vol
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

/// [`Volume::writer`](crate::volume::Volume::writer) for [`OsVolume`].
pub(super) fn writer(vol: &OsVolume, path: &VolumePath) -> Result<Option<Holder>> {
    let (real, meta) = vol.existing_file(path)?;
    let id = file_id(&meta, &real);
    let s = vol.state.lock();
    if let Some(o) = s.opens.values().find(|o| o.id == id && o.access.writes()) {
        return Ok(Some(Holder::new(o.owner.name(), Some(std::process::id()))));
    }
    // Every process holding an exclusive lock: several share an inherited one.
    let mut writers: Vec<Holder> = Vec::new();
    for h in foreign_locks(&s, &id, &real)
        .into_iter()
        .filter(|h| h.write)
    {
        let known = writers
            .iter()
            .any(|w| w.pid == h.pid && (h.pid.is_some() || w.name == "another process"));
        if !known {
            let name = h.command.unwrap_or_else(|| "another process".to_owned());
            writers.push(Holder::new(name, h.pid));
        }
    }
    let mut writers = writers.into_iter();
    Ok(writers.next().map(|mut first| {
        first.others = writers.collect();
        first
    }))
}

/// [`Volume::foreign_opens`](crate::volume::Volume::foreign_opens) for [`OsVolume`].
pub(super) fn foreign_opens(vol: &OsVolume, handle: Handle) -> Result<ForeignOpens> {
    vol.with_open(handle, |o| {
        let Some(watch) = o.watch.as_mut() else {
            return Ok(ForeignOpens::default());
        };
        let seen = watch.opens().map_err(io_at(&o.real))?;
        let count = seen.saturating_sub(o.not_foreign);
        if count > o.named_upto {
            // Who opened it since the last naming: an owner of this volume,
            // and the other processes the kernel names (fanotify where
            // permitted, else those that still have it open).
            let mut names: Vec<String> = o
                .last_foreign
                .take()
                .map(|w| w.name().to_owned())
                .into_iter()
                .collect();
            for by in watch.drain_openers().unwrap_or_default() {
                let name = by.to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            o.last_by = (!names.is_empty()).then(|| names.join(", "));
            o.named_upto = count;
        }
        Ok(ForeignOpens {
            count,
            last_by: o.last_by.clone().filter(|_| count > 0),
        })
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::fs::{self, File};

    use super::super::tests::{HD, setup};
    use super::*;
    use crate::volume::{Content, Volume};

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

    /// Another process's open is named by its pid: fanotify's event where
    /// permitted, else the scan while it still holds the file.
    #[test]
    fn a_foreign_process_that_opened_the_file_is_named() {
        if !OpenWatch::is_supported() {
            return;
        }
        let (_dir, v, data) = setup();
        let mail = Owner::new("Microsoft Mail Server");
        let h = v
            .open(&data, &mail, Access::ReadWrite, Deny::WRITE)
            .unwrap();
        let real = v.real_path(&data).unwrap();
        // The child opens the file, then runs `sleep` holding it: whoever
        // names, it is named.
        let mut child = std::process::Command::new("sh")
            .args(["-c", r#"exec 3<"$1"; exec sleep 30"#, "sh"])
            .arg(&real)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = v.foreign_opens(h).unwrap();
        while seen.count == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
            seen = v.foreign_opens(h).unwrap();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen.count, 1);
        let by = seen.last_by.expect("named");
        let pid = child.id();
        // sh opened it; named before its exec, it shows as `sh`.
        assert!(
            by == format!("sleep (pid {pid})") || by == format!("sh (pid {pid})"),
            "{by}"
        );
        // Nothing new: the same name stays.
        assert_eq!(v.foreign_opens(h).unwrap().last_by.as_deref(), Some(&*by));
    }
}
