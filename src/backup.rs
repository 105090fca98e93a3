//! [`BackupClient`]: Retrospect Remote, archiving whole volumes.
//!
//! The client walks the volumes it is given in a stable order (depth first,
//! by name), asks the [`ExclusionPolicy`] about every folder and file, opens
//! each remaining file per its [`OpenFilePolicy`], reads it in chunks of at
//! least 64 KiB at a modelled throughput, and writes the copy into its backup
//! set. It is a state machine: the runner calls [`BackupClient::step`] at the
//! times it asks for.
//!
//! Memory: by default the backup set holds each copy (in shared pages, so a
//! simulated copy costs pointers). An environment that writes the archive
//! itself takes each chunk as it is read ([`BackupEnv::archive_chunk`]);
//! then the client keeps nothing of the file, and its memory does not grow
//! with the file's size.
//!
//! What does not live here: the decision of what to exclude (the policy), and
//! whether a copy is consistent (the oracle).

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::policy::{ExclusionPolicy, Prepared};
use crate::time::SimTime;
use crate::volume::{
    Access, Chunk, Content, CopyBuilder, Deny, EntryKind, Handle, Owner, PAGE_BYTES, Volume,
    VolumePath,
};

/// What the backup client needs from the world it runs in: its volumes, a
/// timeline, and the snapshot policy's say over the live file.
pub trait BackupEnv {
    /// A volume by name.
    fn volume(&self, name: &str) -> Option<&dyn Volume>;
    /// Narrates a step of the backup.
    fn log(&mut self, time: SimTime, kind: EventKind, path: Option<&VolumePath>);
    /// Whether `path` is a live data file a server holds (the snapshot
    /// policy's business).
    fn is_live(&self, path: &VolumePath) -> bool {
        let _ = path;
        false
    }
    /// The backup is about to archive a live file: what should it read?
    fn before_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<Prepared> {
        let _ = (path, now);
        Ok(Prepared::ReadLive)
    }
    /// The snapshot policy's name, for an error about it
    /// ([`Error::SnapshotStalled`]).
    fn snapshot_policy_name(&self) -> String {
        "the snapshot policy".to_owned()
    }
    /// The backup has archived or skipped a live file.
    fn after_live_file(&mut self, path: &VolumePath, now: SimTime) -> Result<()> {
        let _ = (path, now);
        Ok(())
    }
    /// The backup has just opened `path`, before its first read: a real
    /// runner waits here (boundedly) for the holder to finish reacting, as
    /// the model promises.
    fn opened(&mut self, path: &VolumePath, now: SimTime) -> Result<()> {
        let _ = (path, now);
        Ok(())
    }
    /// The backup has read `chunk` of `path`, the file it is archiving.
    /// Chunks of one file come in order, each starting where the one before
    /// ended (the first at offset 0; an empty file has none); the file's
    /// [`BackupItem`] follows its last chunk in the backup set.
    ///
    /// `Ok(false)`, the default: the client keeps the chunk, and the item
    /// carries the whole copy. `Ok(true)`: the environment has stored the
    /// chunk itself (a real archive on disk); from then on the client keeps
    /// nothing of that file, so its memory does not grow with the file, and
    /// the file's item carries empty content (its length is in the
    /// `Archived` event and the stats). An error ends the backup: the client
    /// closes the file and returns the error from [`BackupClient::step`].
    fn archive_chunk(&mut self, path: &VolumePath, chunk: &Chunk) -> Result<bool> {
        let _ = (path, chunk);
        Ok(false)
    }
}

/// Longest a snapshot policy may keep the backup waiting for one live file
/// (answering [`Prepared::Wait`]), in the night's time: past it the run
/// ends with [`Error::SnapshotStalled`] naming the policy.
pub const MAX_POLICY_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Most answers a snapshot policy may give for one live file before the
/// run ends with [`Error::SnapshotStalled`] (a policy that answers
/// `Wait(0)` forever makes no time pass).
pub const MAX_POLICY_ANSWERS: u64 = 100_000;

/// How the backup treats a file that another process may hold open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpenFilePolicy {
    /// Open it read-only whatever holds it, as in 1993: a foreign access.
    IgnoreLocks,
    /// Ask first, without opening, whether a writer holds it; if one does, it
    /// is busy: retry `retries` times `interval` apart, then skip it.
    RespectLocks {
        /// Retries after the first attempt.
        retries: u32,
        /// Time between attempts.
        interval: Duration,
    },
    /// Watch the file's modification time without opening it until it has
    /// been unwritten for `idle`, then open it (still a foreign access); skip
    /// it if that has not happened after `timeout`.
    WaitForIdle {
        /// How long the file must go unwritten.
        idle: Duration,
        /// How long to wait at most.
        timeout: Duration,
    },
}

impl OpenFilePolicy {
    /// `RespectLocks` with 3 retries a minute apart.
    pub const fn respect_locks() -> OpenFilePolicy {
        OpenFilePolicy::RespectLocks {
            retries: 3,
            interval: Duration::from_secs(60),
        }
    }

    /// `WaitForIdle` for 2 minutes of quiet, giving up after 30 minutes.
    pub const fn wait_for_idle() -> OpenFilePolicy {
        OpenFilePolicy::WaitForIdle {
            idle: Duration::from_secs(120),
            timeout: Duration::from_secs(30 * 60),
        }
    }

    /// The name used on the command line: `ignore-locks`, `respect-locks`,
    /// `wait-for-idle`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OpenFilePolicy::IgnoreLocks => "ignore-locks",
            OpenFilePolicy::RespectLocks { .. } => "respect-locks",
            OpenFilePolicy::WaitForIdle { .. } => "wait-for-idle",
        }
    }
}

/// How fast and in what pieces the backup reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupSpeed {
    /// File bytes per second over the wire. The default is LocalTalk: 230.4
    /// kbit/s on the wire, about 17,000 bytes a second of file data (a
    /// megabyte a minute) once AppleTalk's and the backup protocol's
    /// overheads are paid.
    pub throughput_bytes_per_sec: u64,
    /// Bytes per read (at least 64 KiB, a multiple of the page size).
    pub chunk_bytes: u64,
}

impl Default for BackupSpeed {
    fn default() -> Self {
        BackupSpeed {
            throughput_bytes_per_sec: 17_000,
            chunk_bytes: 64 * 1024,
        }
    }
}

impl BackupSpeed {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.throughput_bytes_per_sec == 0 {
            return Err(Error::invalid(
                "throughput_bytes_per_sec",
                "must be positive",
            ));
        }
        if self.chunk_bytes < 64 * 1024 || !self.chunk_bytes.is_multiple_of(PAGE_BYTES as u64) {
            return Err(Error::invalid(
                "chunk_bytes",
                format!(
                    "{} is not a multiple of 4096 of at least 65536",
                    self.chunk_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Time to move `bytes` over the wire.
    pub fn transfer_time(&self, bytes: u64) -> Duration {
        let per_sec = self.throughput_bytes_per_sec.max(1);
        // In 64 bits when the product fits (a chunk, a file); 128 otherwise.
        let micros = match bytes.checked_mul(1_000_000) {
            Some(x) => x / per_sec,
            None => {
                let m = u128::from(bytes) * 1_000_000 / u128::from(per_sec);
                u64::try_from(m).unwrap_or(u64::MAX)
            }
        };
        Duration::from_micros(micros)
    }
}

/// A file copied into the backup set.
#[derive(Clone, Debug)]
pub struct BackupItem {
    /// Where it was read.
    pub path: VolumePath,
    /// The copy; empty when the environment stored the file itself, chunk
    /// by chunk ([`BackupEnv::archive_chunk`] returned `Ok(true)`).
    pub content: Content,
    /// When the copy was taken (when reading began).
    pub taken_at: SimTime,
}

#[derive(Debug)]
enum Phase {
    Idle,
    NextFile,
    /// Asking the snapshot policy about a live file: since when, and how
    /// many answers so far.
    Preparing {
        since: SimTime,
        answers: u64,
    },
    Waiting {
        since: SimTime,
        attempt: u32,
    },
    Reading {
        source: Source,
        pos: u64,
        len: u64,
        taken_at: SimTime,
        copy: CopyBuilder,
        /// Whether the environment stores this file itself (then `copy`
        /// stays empty).
        streamed: bool,
    },
    Done,
}

#[derive(Debug)]
enum Source {
    /// An open file on the client's volume number `usize`.
    File(usize, Handle),
    /// A point-in-time image handed over by the snapshot policy.
    Image(Content),
}

/// Counts the backup keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Files archived.
    pub files_archived: u64,
    /// Bytes archived.
    pub bytes_archived: u64,
    /// Files skipped by an exclusion.
    pub files_excluded: u64,
    /// Files skipped as busy.
    pub files_skipped_busy: u64,
    /// Live files skipped because the snapshot policy gave up.
    pub files_skipped_snapshot: u64,
    /// Files that could not be read (an I/O error).
    pub files_failed: u64,
}

/// What the runner should do next for the backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Call `step` again at this time.
    At(SimTime),
    /// The backup is finished.
    Done,
}

/// Retrospect Remote.
#[derive(Debug)]
pub struct BackupClient {
    owner: Owner,
    volumes: Vec<String>,
    exclusion: Arc<dyn ExclusionPolicy>,
    open_files: OpenFilePolicy,
    speed: BackupSpeed,
    plan: Vec<(usize, VolumePath)>,
    cursor: usize,
    phase: Phase,
    set: Vec<BackupItem>,
    stats: BackupStats,
}

impl BackupClient {
    /// The owner name the client opens files under.
    pub const OWNER: &'static str = "Retrospect Remote";

    /// A client that will archive `volumes`, in that order.
    pub fn new(
        volumes: Vec<String>,
        exclusion: Arc<dyn ExclusionPolicy>,
        open_files: OpenFilePolicy,
        speed: BackupSpeed,
    ) -> BackupClient {
        BackupClient {
            owner: Owner::new(Self::OWNER),
            volumes,
            exclusion,
            open_files,
            speed,
            plan: Vec::new(),
            cursor: 0,
            phase: Phase::Idle,
            set: Vec::new(),
            stats: BackupStats::default(),
        }
    }

    /// A digest of where the backup is (its file, its phase, its copy so
    /// far, its backup set), for the explorer's fingerprint of a state:
    /// contents by their bytes, handles by what they are, not their numbers.
    pub(crate) fn digest(&self, h: &mut impl std::hash::Hasher) {
        use std::hash::Hash;
        self.cursor.hash(h);
        self.plan.len().hash(h);
        match &self.phase {
            Phase::Idle => 0u8.hash(h),
            Phase::NextFile => 1u8.hash(h),
            Phase::Preparing { since, answers } => (2u8, since.as_micros(), answers).hash(h),
            Phase::Waiting { since, attempt } => (3u8, since.as_micros(), attempt).hash(h),
            Phase::Reading {
                source,
                pos,
                len,
                taken_at,
                copy,
                streamed,
            } => {
                (4u8, pos, len, taken_at.as_micros(), streamed).hash(h);
                match source {
                    Source::File(vi, _) => (0u8, vi).hash(h),
                    Source::Image(c) => (1u8, content_digest(c)).hash(h),
                }
                copy.digest().hash(h);
            }
            Phase::Done => 5u8.hash(h),
        }
        let s = self.stats;
        (
            s.files_archived,
            s.bytes_archived,
            s.files_excluded,
            s.files_skipped_busy,
            s.files_skipped_snapshot,
            s.files_failed,
        )
            .hash(h);
        for item in &self.set {
            (item.path.to_string(), item.taken_at.as_micros()).hash(h);
            content_digest(&item.content).hash(h);
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> BackupStats {
        self.stats
    }

    /// The backup set written so far.
    pub fn backup_set(&self) -> &[BackupItem] {
        &self.set
    }

    /// Takes the backup set, leaving it empty.
    pub fn take_backup_set(&mut self) -> Vec<BackupItem> {
        std::mem::take(&mut self.set)
    }

    /// Whether the backup has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Resets the client for another night (the backup set is kept until taken).
    pub fn reset(&mut self) {
        self.plan.clear();
        self.cursor = 0;
        self.phase = Phase::Idle;
        self.stats = BackupStats::default();
    }

    fn count_files(volume: &dyn Volume, folder: &VolumePath) -> Result<u64> {
        let mut n = 0;
        for e in volume.list(folder)? {
            let p = folder.join(e.name);
            n += match e.kind {
                EntryKind::File => 1,
                EntryKind::Folder => Self::count_files(volume, &p)?,
            };
        }
        Ok(n)
    }

    fn walk(
        &mut self,
        vi: usize,
        env: &mut dyn BackupEnv,
        folder: &VolumePath,
        now: SimTime,
    ) -> Result<()> {
        let volume_of = |env: &dyn BackupEnv| -> Result<Vec<_>> {
            let v = env
                .volume(&self.volumes[vi])
                .ok_or_else(|| Error::NoSuchVolume {
                    name: self.volumes[vi].clone(),
                })?;
            v.list(folder)
        };
        for e in volume_of(env)? {
            let p = folder.join(e.name);
            let excluded = self.exclusion.excludes(&p);
            match (e.kind, excluded) {
                (EntryKind::Folder, true) => {
                    let v = env.volume(&self.volumes[vi]).expect("listed above");
                    let files = Self::count_files(v, &p)?;
                    self.stats.files_excluded += files;
                    env.log(now, EventKind::Excluded { files }, Some(&p));
                }
                (EntryKind::Folder, false) => self.walk(vi, env, &p, now)?,
                (EntryKind::File, true) => {
                    self.stats.files_excluded += 1;
                    env.log(now, EventKind::Excluded { files: 1 }, Some(&p));
                }
                (EntryKind::File, false) => self.plan.push((vi, p)),
            }
        }
        Ok(())
    }

    /// Advances the backup at `now`, in `env`'s volumes.
    pub fn step(&mut self, env: &mut dyn BackupEnv, now: SimTime) -> Result<Step> {
        loop {
            match &mut self.phase {
                Phase::Idle => {
                    for vi in 0..self.volumes.len() {
                        let root = VolumePath::root(self.volumes[vi].clone());
                        self.walk(vi, env, &root, now)?;
                    }
                    env.log(
                        now,
                        EventKind::BackupStarted {
                            files: self.plan.len() as u64,
                        },
                        None,
                    );
                    self.phase = Phase::NextFile;
                }
                Phase::NextFile => {
                    if self.cursor >= self.plan.len() {
                        env.log(
                            now,
                            EventKind::BackupFinished {
                                files: self.stats.files_archived,
                                bytes: self.stats.bytes_archived,
                            },
                            None,
                        );
                        self.phase = Phase::Done;
                        return Ok(Step::Done);
                    }
                    let path = &self.plan[self.cursor].1;
                    self.phase = if env.is_live(path) {
                        Phase::Preparing {
                            since: now,
                            answers: 0,
                        }
                    } else {
                        Phase::Waiting {
                            since: now,
                            attempt: 1,
                        }
                    };
                }
                Phase::Preparing { since, answers } => {
                    let (since, answers) = (*since, *answers);
                    let path = self.plan[self.cursor].1.clone();
                    let waited = now.saturating_since(since);
                    if waited > MAX_POLICY_WAIT || answers >= MAX_POLICY_ANSWERS {
                        return Err(Error::SnapshotStalled {
                            policy: env.snapshot_policy_name(),
                            path,
                            waited,
                            answers,
                        });
                    }
                    self.phase = Phase::Preparing {
                        since,
                        answers: answers + 1,
                    };
                    let prepared = match env.before_live_file(&path, now) {
                        Ok(p) => p,
                        Err(e @ (Error::VolumeIo { .. } | Error::Io { .. })) => {
                            // The policy could not read the file.
                            self.file_failed(env, &e, now)?;
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    match prepared {
                        Prepared::ReadLive => {
                            self.phase = Phase::Waiting {
                                since: now,
                                attempt: 1,
                            }
                        }
                        Prepared::Image { content, taken_at } => {
                            self.phase = Phase::Reading {
                                len: content.len_bytes(),
                                source: Source::Image(content),
                                pos: 0,
                                taken_at,
                                copy: CopyBuilder::default(),
                                streamed: false,
                            };
                        }
                        Prepared::Wait(d) => return Ok(Step::At(now + d)),
                        Prepared::GiveUp(failure) => {
                            self.stats.files_skipped_snapshot += 1;
                            env.log(
                                now,
                                EventKind::SnapshotGaveUp {
                                    reason: failure.reason,
                                },
                                Some(&path),
                            );
                            self.next_file(env, now)?;
                        }
                    }
                }
                Phase::Waiting { since, attempt } => {
                    let (since, attempt) = (*since, *attempt);
                    let (vi, path) = self.plan[self.cursor].clone();
                    let volume =
                        env.volume(&self.volumes[vi])
                            .ok_or_else(|| Error::NoSuchVolume {
                                name: self.volumes[vi].clone(),
                            })?;
                    match self.gate(volume, &path, since, attempt, now)? {
                        Gate::Wait(wake, event) => {
                            if let Some(e) = event {
                                env.log(now, e, Some(&path));
                            }
                            return Ok(Step::At(wake));
                        }
                        Gate::Skip(attempt, event) => {
                            self.stats.files_skipped_busy += 1;
                            if let Some(e) = attempt {
                                env.log(now, e, Some(&path));
                            }
                            env.log(now, event, Some(&path));
                            self.next_file(env, now)?;
                            continue;
                        }
                        Gate::Open(event) => {
                            if let Some(e) = event {
                                env.log(now, e, Some(&path));
                            }
                        }
                    }
                    let volume = env.volume(&self.volumes[vi]).expect("looked up above");
                    let deny = match self.open_files {
                        // A lock-aware reader takes a shared lock: it denies writers.
                        OpenFilePolicy::RespectLocks { .. } => Deny::WRITE,
                        _ => Deny::NONE,
                    };
                    match volume.open(&path, &self.owner, Access::Read, deny) {
                        Ok(handle) => {
                            let len = volume.len_of(handle)?;
                            // A file nobody writes is a copy of itself as of
                            // its last modification; a live one, of now.
                            let taken_at = if env.is_live(&path) {
                                now
                            } else {
                                volume.metadata(&path)?.modified
                            };
                            env.log(now, EventKind::Opened, Some(&path));
                            env.opened(&path, now)?;
                            self.phase = Phase::Reading {
                                source: Source::File(vi, handle),
                                pos: 0,
                                len,
                                taken_at,
                                copy: CopyBuilder::default(),
                                streamed: false,
                            };
                            // The holder learns of the open now; the first
                            // chunk is read in the next step, at the same time,
                            // after the holder has reacted.
                            return Ok(Step::At(now));
                        }
                        Err(Error::DenyConflict { holder, .. }) => {
                            self.stats.files_skipped_busy += 1;
                            env.log(now, EventKind::SkippedBusy { holder }, Some(&path));
                            self.next_file(env, now)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Phase::Reading {
                    source,
                    pos,
                    len,
                    taken_at,
                    copy,
                    streamed,
                } => {
                    let want = self.speed.chunk_bytes.min(*len - *pos);
                    let chunk: Option<Chunk> = match (want, &*source) {
                        (0, _) => None,
                        (_, Source::File(vi, handle)) => {
                            let Some(v) = env.volume(&self.volumes[*vi]) else {
                                return Err(Error::BadHandle);
                            };
                            match v.read_at(*handle, *pos, want) {
                                Ok(c) => Some(c),
                                Err(e @ (Error::VolumeIo { .. } | Error::Io { .. })) => {
                                    let _ = v.close(*handle);
                                    self.file_failed(env, &e, now)?;
                                    continue;
                                }
                                Err(e) => return Err(e),
                            }
                        }
                        (_, Source::Image(content)) => Some(Chunk::of(content, *pos, want)),
                    };
                    let got = chunk.as_ref().map_or(0, |c| c.len_bytes());
                    if let Some(c) = chunk.as_ref().filter(|c| c.len_bytes() > 0) {
                        match env.archive_chunk(&self.plan[self.cursor].1, c) {
                            Ok(true) => {
                                *streamed = true;
                                *copy = CopyBuilder::default();
                            }
                            Ok(false) if !*streamed => copy.push(c),
                            Ok(false) => {}
                            Err(e) => {
                                if let Source::File(vi, handle) = source
                                    && let Some(v) = env.volume(&self.volumes[*vi])
                                {
                                    let _ = v.close(*handle);
                                }
                                self.phase = Phase::Done;
                                return Err(e);
                            }
                        }
                    }
                    *pos += got;
                    let wake = now + self.speed.transfer_time(got);
                    if got == 0 || *pos >= *len {
                        // The whole file is read (or it shrank under us).
                        let (len, taken_at) = (*pos, *taken_at);
                        let copy = if *streamed {
                            Content::new()
                        } else {
                            std::mem::take(copy).finish(len)
                        };
                        if let Source::File(vi, handle) = source {
                            let Some(v) = env.volume(&self.volumes[*vi]) else {
                                return Err(Error::BadHandle);
                            };
                            v.close(*handle)?;
                        }
                        let path = self.plan[self.cursor].1.clone();
                        self.stats.files_archived += 1;
                        self.stats.bytes_archived += len;
                        self.set.push(BackupItem {
                            path: path.clone(),
                            content: copy,
                            taken_at,
                        });
                        env.log(wake, EventKind::Archived { bytes: len }, Some(&path));
                        self.next_file(env, wake)?;
                    }
                    if got > 0 {
                        return Ok(Step::At(wake));
                    }
                }
                Phase::Done => return Ok(Step::Done),
            }
        }
    }

    /// The backup crashes: the file being copied is not archived, nothing
    /// after it is, and its open closes with the process.
    pub fn crash(&mut self, env: &mut dyn BackupEnv, now: SimTime, reason: &str) {
        if let Phase::Reading {
            source: Source::File(vi, handle),
            ..
        } = &self.phase
            && let Some(v) = env.volume(&self.volumes[*vi])
        {
            let _ = v.close(*handle);
        }
        let path = self.plan.get(self.cursor).map(|p| p.1.clone());
        env.log(
            now,
            EventKind::BackupFailed {
                reason: reason.to_owned(),
            },
            path.as_ref(),
        );
        self.phase = Phase::Done;
    }

    /// The current file cannot be read: report it, skip it, go on.
    fn file_failed(&mut self, env: &mut dyn BackupEnv, e: &Error, now: SimTime) -> Result<()> {
        let path = self.plan[self.cursor].1.clone();
        self.stats.files_failed += 1;
        env.log(
            now,
            EventKind::IoError {
                reason: e.to_string(),
            },
            Some(&path),
        );
        self.next_file(env, now)
    }

    /// Done with the current file: tell the policy if it was live, move on.
    fn next_file(&mut self, env: &mut dyn BackupEnv, now: SimTime) -> Result<()> {
        let path = &self.plan[self.cursor].1;
        if env.is_live(path) {
            env.after_live_file(path, now)?;
        }
        self.cursor += 1;
        self.phase = Phase::NextFile;
        Ok(())
    }

    /// Applies the open-file policy before opening.
    fn gate(
        &mut self,
        volume: &dyn Volume,
        path: &VolumePath,
        since: SimTime,
        attempt: u32,
        now: SimTime,
    ) -> Result<Gate> {
        match self.open_files {
            OpenFilePolicy::IgnoreLocks => Ok(Gate::Open(None)),
            OpenFilePolicy::RespectLocks { retries, interval } => match volume.writer(path)? {
                None => Ok(Gate::Open(None)),
                Some(holder) => {
                    let attempts = retries.saturating_add(1);
                    let busy = EventKind::Busy {
                        holder: holder.to_string(),
                        attempt,
                        attempts,
                    };
                    if attempt >= attempts {
                        // Both events: the last attempt, then the skip.
                        Ok(Gate::Skip(
                            Some(busy),
                            EventKind::SkippedBusy {
                                holder: holder.to_string(),
                            },
                        ))
                    } else {
                        self.phase = Phase::Waiting {
                            since,
                            attempt: attempt + 1,
                        };
                        Ok(Gate::Wait(now + interval, Some(busy)))
                    }
                }
            },
            OpenFilePolicy::WaitForIdle { idle, timeout } => {
                let modified = volume.metadata(path)?.modified;
                let quiet_at = modified + idle;
                if quiet_at <= now {
                    return Ok(Gate::Open(None));
                }
                let give_up = since + timeout;
                if now >= give_up {
                    return Ok(Gate::Skip(None, EventKind::IdleTimeout));
                }
                let note = (attempt == 1).then_some(EventKind::WaitingForIdle {
                    last_write: modified,
                });
                self.phase = Phase::Waiting {
                    since,
                    attempt: attempt + 1,
                };
                Ok(Gate::Wait(quiet_at.min(give_up), note))
            }
        }
    }
}

/// A digest of contents by their bytes.
pub(crate) fn content_digest(c: &Content) -> u64 {
    let mut b = CopyBuilder::default();
    b.push(&Chunk::of(c, 0, c.len_bytes()));
    b.digest() ^ c.len_bytes()
}

/// What the open-file policy says about a file.
enum Gate {
    /// Open it now (after narrating the event, if any).
    Open(Option<EventKind>),
    /// Come back at this time (after narrating the event, if any).
    Wait(SimTime, Option<EventKind>),
    /// Skip it as busy, narrating the last attempt (if any) and why.
    Skip(Option<EventKind>, EventKind),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ExcludeNothing;
    use crate::volume::SimVolume;

    /// A world of one simulated volume that stores what the backup reads,
    /// chunk by chunk, when `streams`.
    struct Streaming {
        volume: SimVolume,
        streams: bool,
        stored: Vec<(VolumePath, u64, Vec<u8>)>,
        fail_at: Option<u64>,
    }

    impl BackupEnv for Streaming {
        fn volume(&self, name: &str) -> Option<&dyn Volume> {
            (name == self.volume.name()).then_some(&self.volume as &dyn Volume)
        }
        fn log(&mut self, _: SimTime, _: EventKind, _: Option<&VolumePath>) {}
        fn archive_chunk(&mut self, path: &VolumePath, chunk: &Chunk) -> Result<bool> {
            if self.fail_at == Some(chunk.offset()) {
                return Err(Error::invalid("archive", "full"));
            }
            if self.streams {
                self.stored
                    .push((path.clone(), chunk.offset(), chunk.to_vec()));
            }
            Ok(self.streams)
        }
    }

    fn night(streams: bool, fail_at: Option<u64>) -> (Streaming, BackupClient, Result<()>) {
        let volume = SimVolume::new("HD");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        volume
            .put_file(&VolumePath::new("HD", ["big"]), Content::from_bytes(&big))
            .unwrap();
        volume
            .put_file(&VolumePath::new("HD", ["empty"]), Content::new())
            .unwrap();
        let mut env = Streaming {
            volume,
            streams,
            stored: Vec::new(),
            fail_at,
        };
        let mut client = BackupClient::new(
            vec!["HD".to_owned()],
            Arc::new(ExcludeNothing),
            OpenFilePolicy::IgnoreLocks,
            BackupSpeed::default(),
        );
        let mut now = SimTime::ZERO;
        let result = loop {
            match client.step(&mut env, now) {
                Ok(Step::At(t)) => now = t,
                Ok(Step::Done) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        (env, client, result)
    }

    #[test]
    fn a_streaming_env_gets_every_chunk_in_order_and_the_client_keeps_none() {
        let (env, mut client, result) = night(true, None);
        result.unwrap();
        let want: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut got = Vec::new();
        for (path, offset, bytes) in &env.stored {
            assert_eq!(path.components(), ["big"]);
            assert_eq!(*offset, got.len() as u64, "in order, none missing");
            got.extend_from_slice(bytes);
        }
        assert_eq!(got, want);
        let set = client.take_backup_set();
        assert_eq!(set.len(), 2);
        assert!(set.iter().all(|i| i.content.len_bytes() == 0));
        assert_eq!(client.stats().bytes_archived, 200_000);

        // The default keeps the copy, as before.
        let (env, mut client, result) = night(false, None);
        result.unwrap();
        assert!(env.stored.is_empty());
        let set = client.take_backup_set();
        assert_eq!(set[0].content.to_vec(), want);
    }

    #[test]
    fn an_env_that_fails_to_store_a_chunk_ends_the_backup_with_its_error() {
        let (env, client, result) = night(true, Some(65_536));
        let e = result.unwrap_err();
        assert!(e.to_string().contains("full"), "{e}");
        assert_eq!(env.stored.len(), 1);
        assert!(client.is_done());
        assert_eq!(client.backup_set().len(), 0);
        // Its read is closed: an open denying readers succeeds.
        let big = VolumePath::new("HD", ["big"]);
        env.volume
            .open(&big, &Owner::new("x"), Access::ReadWrite, Deny::ALL)
            .expect("nothing holds the file any more");
    }

    #[test]
    fn transfer_time_is_exact_in_64_and_in_128_bits() {
        for (bytes, per_sec) in [
            (0, 17_000),
            (65_536, 17_000),
            (3_000_000, 1),
            (u64::MAX / 1_000_000, 3),
            (u64::MAX / 1_000_000 + 1, 3),
            (u64::MAX, u64::MAX),
            (u64::MAX, 1),
            (12_345, 0),
        ] {
            let speed = BackupSpeed {
                throughput_bytes_per_sec: per_sec,
                chunk_bytes: 65_536,
            };
            let want = u128::from(bytes) * 1_000_000 / u128::from(per_sec.max(1));
            let want = Duration::from_micros(u64::try_from(want).unwrap_or(u64::MAX));
            assert_eq!(
                speed.transfer_time(bytes),
                want,
                "{bytes} B at {per_sec} B/s"
            );
        }
    }
}
