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

mod env;
mod open_files;
mod reading;

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::policy::{Entry, ExclusionPolicy, Prepared};
use crate::time::SimTime;
use crate::volume::{Access, Content, Deny, EntryKind, Owner, Volume, VolumePath};

pub use env::{BackupEnv, MAX_POLICY_ANSWERS, MAX_POLICY_WAIT};
pub use open_files::{BackupSpeed, OpenFilePolicy};
pub(crate) use reading::content_digest;

use open_files::Gate;
use reading::{Reading, Source};

/// A file copied into the backup set.
///
/// Non-exhaustive: fields may be added; mailsim builds it, users read it.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    Reading(Reading),
    Done,
}

/// Counts the backup keeps.
///
/// Non-exhaustive: fields may be added; mailsim builds it, users read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Reads a file until the kernel gives no more, as a plain reader
    /// does, instead of the length it had at the open.
    to_end: bool,
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
            to_end: false,
        }
    }

    /// Reads each file as a plain reader (`cat`, `tar`, `dd`) does: chunk
    /// after chunk until a read comes back short, whatever length the file
    /// had at the open, so that a file growing under the read is read as
    /// far as it has grown. The default (`false`) is the model's: the
    /// length is taken at the open, and a file that grows is read to that
    /// length.
    pub fn read_to_end(mut self, yes: bool) -> BackupClient {
        self.to_end = yes;
        self
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
            Phase::Reading(r) => {
                (4u8, r.pos, r.len, r.taken_at.as_micros(), r.streamed).hash(h);
                match &r.source {
                    Source::File(vi, _) => (0u8, vi).hash(h),
                    Source::Image(c) => (1u8, content_digest(c)).hash(h),
                }
                r.copy.digest().hash(h);
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
            let v = self.volume(env, vi)?;
            // What the policy may weigh besides the path: the live file's
            // length as of now, as the volume tells without opening it.
            let meta = match v.metadata(&p) {
                Ok(m) => m,
                // Gone since the listing (a real directory changes under
                // the walk): nothing to archive or exclude.
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let excluded = self
                .exclusion
                .excludes_entry(&Entry::from_metadata(&p, &meta));
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
            let flow = match &self.phase {
                Phase::Idle => self.plan_night(env, now)?,
                Phase::NextFile => self.choose_next(env, now)?,
                &Phase::Preparing { since, answers } => self.prepare(env, since, answers, now)?,
                &Phase::Waiting { since, attempt } => self.try_open(env, since, attempt, now)?,
                Phase::Reading { .. } => self.read_chunk(env, now)?,
                Phase::Done => ControlFlow::Break(Step::Done),
            };
            if let ControlFlow::Break(step) = flow {
                return Ok(step);
            }
        }
    }

    /// Walks every volume into the plan.
    fn plan_night(&mut self, env: &mut dyn BackupEnv, now: SimTime) -> Result<ControlFlow<Step>> {
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
        Ok(ControlFlow::Continue(()))
    }

    /// Finishes the backup, or starts on the next file of the plan: a live
    /// one by asking the snapshot policy, any other by the open-file policy.
    fn choose_next(&mut self, env: &mut dyn BackupEnv, now: SimTime) -> Result<ControlFlow<Step>> {
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
            return Ok(ControlFlow::Break(Step::Done));
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
        Ok(ControlFlow::Continue(()))
    }

    /// Asks the snapshot policy what to read of the live file, within
    /// [`MAX_POLICY_WAIT`] and [`MAX_POLICY_ANSWERS`].
    fn prepare(
        &mut self,
        env: &mut dyn BackupEnv,
        since: SimTime,
        answers: u64,
        now: SimTime,
    ) -> Result<ControlFlow<Step>> {
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
                return Ok(ControlFlow::Continue(()));
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
                let content_len = content.len_bytes();
                self.phase =
                    Phase::Reading(Reading::new(Source::Image(content), content_len, taken_at));
            }
            Prepared::Wait(d) => return Ok(ControlFlow::Break(Step::At(now + d))),
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
        Ok(ControlFlow::Continue(()))
    }

    /// Applies the open-file policy, then opens the file: busy, it is
    /// skipped; open, its first chunk is read in the next step.
    fn try_open(
        &mut self,
        env: &mut dyn BackupEnv,
        since: SimTime,
        attempt: u32,
        now: SimTime,
    ) -> Result<ControlFlow<Step>> {
        let (vi, path) = self.plan[self.cursor].clone();
        let volume = self.volume(env, vi)?;
        match self.open_files.gate(volume, &path, since, attempt, now)? {
            Gate::Wait(wake, event) => {
                self.phase = Phase::Waiting {
                    since,
                    attempt: attempt + 1,
                };
                if let Some(e) = event {
                    env.log(now, e, Some(&path));
                }
                return Ok(ControlFlow::Break(Step::At(wake)));
            }
            Gate::Skip(attempt, event) => {
                self.stats.files_skipped_busy += 1;
                if let Some(e) = attempt {
                    env.log(now, e, Some(&path));
                }
                env.log(now, event, Some(&path));
                self.next_file(env, now)?;
                return Ok(ControlFlow::Continue(()));
            }
            Gate::Open(event) => {
                if let Some(e) = event {
                    env.log(now, e, Some(&path));
                }
            }
        }
        let volume = self.volume(env, vi)?;
        let deny = match self.open_files {
            // A lock-aware reader takes a shared lock: it denies writers.
            OpenFilePolicy::RespectLocks { .. } => Deny::WRITE,
            _ => Deny::NONE,
        };
        match volume.open(&path, &self.owner, Access::Read, deny) {
            Ok(handle) => {
                let len = if self.to_end {
                    u64::MAX
                } else {
                    volume.len_of(handle)?
                };
                // A file nobody writes is a copy of itself as of its last
                // modification; a live one, of now.
                let taken_at = if env.is_live(&path) {
                    now
                } else {
                    volume.metadata(&path)?.modified
                };
                env.log(now, EventKind::Opened, Some(&path));
                env.opened(&path, now)?;
                self.phase = Phase::Reading(Reading::new(Source::File(vi, handle), len, taken_at));
                // The holder learns of the open now; the first chunk is read
                // in the next step, at the same time, after the holder has
                // reacted.
                Ok(ControlFlow::Break(Step::At(now)))
            }
            Err(Error::DenyConflict { holder, .. }) => {
                self.stats.files_skipped_busy += 1;
                env.log(now, EventKind::SkippedBusy { holder }, Some(&path));
                self.next_file(env, now)?;
                Ok(ControlFlow::Continue(()))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the next chunk of the file being archived, hands it to the
    /// environment or keeps it, and archives the file after its last.
    fn read_chunk(&mut self, env: &mut dyn BackupEnv, now: SimTime) -> Result<ControlFlow<Step>> {
        let Phase::Reading(reading) = &mut self.phase else {
            return Ok(ControlFlow::Continue(()));
        };
        let chunk = match reading.next_chunk(env, &self.volumes, self.speed.chunk_bytes) {
            Ok(chunk) => chunk,
            Err(e @ (Error::VolumeIo { .. } | Error::Io { .. })) => {
                reading.close(env, &self.volumes);
                self.file_failed(env, &e, now)?;
                return Ok(ControlFlow::Continue(()));
            }
            Err(e) => return Err(e),
        };
        let got = chunk.as_ref().map_or(0, |c| c.len_bytes());
        // A plain reader's end of file: a read that comes back short.
        let short = self.to_end && got < self.speed.chunk_bytes;
        if let Some(c) = chunk.as_ref().filter(|c| c.len_bytes() > 0)
            && let Err(e) = reading.keep(env, &self.plan[self.cursor].1, c)
        {
            reading.close(env, &self.volumes);
            self.phase = Phase::Done;
            return Err(e);
        }
        reading.pos += got;
        let wake = now + self.speed.transfer_time(got);
        if got == 0 || reading.pos >= reading.len || short {
            // The whole file is read (or it shrank under us).
            let (len, taken_at) = (reading.pos, reading.taken_at);
            let copy = reading.finish();
            if let Source::File(vi, handle) = reading.source {
                self.volume(env, vi)
                    .map_err(|_| Error::BadHandle)?
                    .close(handle)?;
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
        Ok(if got > 0 {
            ControlFlow::Break(Step::At(wake))
        } else {
            ControlFlow::Continue(())
        })
    }

    /// The client's volume number `vi`.
    fn volume<'e>(&self, env: &'e dyn BackupEnv, vi: usize) -> Result<&'e dyn Volume> {
        env.volume(&self.volumes[vi])
            .ok_or_else(|| Error::NoSuchVolume {
                name: self.volumes[vi].clone(),
            })
    }

    /// The backup crashes: the file being copied is not archived, nothing
    /// after it is, and its open closes with the process.
    pub fn crash(&mut self, env: &mut dyn BackupEnv, now: SimTime, reason: &str) {
        if let Phase::Reading(reading) = &self.phase {
            reading.close(env, &self.volumes);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ExcludeNothing;
    use crate::volume::{Chunk, SimVolume};

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

    /// Skips files longer than its bound.
    #[derive(Debug)]
    struct LongerThan(u64);

    impl ExclusionPolicy for LongerThan {
        fn excludes(&self, _: &VolumePath) -> bool {
            false
        }
        fn excludes_entry(&self, entry: &Entry<'_>) -> bool {
            entry.is_file() && entry.len_bytes() > self.0
        }
    }

    #[test]
    fn an_exclusion_sees_the_length_a_held_file_has_grown_to() {
        let volume = SimVolume::new("HD");
        let log = VolumePath::new("HD", ["log"]);
        volume
            .put_file(&log, Content::from_bytes(&[1u8; 100_000]))
            .unwrap();
        // A writer holds it and has grown it, as Mail holds Mail Data.
        let w = volume
            .open(&log, &Owner::new("writer"), Access::ReadWrite, Deny::WRITE)
            .unwrap();
        volume.write_at(w, 100_000, &[2u8; 100_000]).unwrap();
        let mut env = Streaming {
            volume,
            streams: false,
            stored: Vec::new(),
            fail_at: None,
        };
        for (bound, excluded) in [(150_000, 1), (200_000, 0)] {
            let mut client = BackupClient::new(
                vec!["HD".to_owned()],
                Arc::new(LongerThan(bound)),
                OpenFilePolicy::IgnoreLocks,
                BackupSpeed::default(),
            );
            let mut now = SimTime::ZERO;
            while let Step::At(t) = client.step(&mut env, now).unwrap() {
                now = t;
            }
            assert_eq!(client.stats().files_excluded, excluded, "bound {bound}");
            assert_eq!(client.stats().files_archived, 1 - excluded);
        }
    }

    /// A world whose one file grows by `grow` bytes after the first chunk
    /// is read, through a writer of its own.
    struct Growing {
        volume: SimVolume,
        grow: usize,
        chunks: u32,
    }

    impl BackupEnv for Growing {
        fn volume(&self, name: &str) -> Option<&dyn Volume> {
            (name == self.volume.name()).then_some(&self.volume as &dyn Volume)
        }
        fn log(&mut self, _: SimTime, _: EventKind, _: Option<&VolumePath>) {}
        fn archive_chunk(&mut self, path: &VolumePath, chunk: &Chunk) -> Result<bool> {
            self.chunks += 1;
            if self.chunks == 1 {
                let w =
                    self.volume
                        .open(path, &Owner::new("writer"), Access::ReadWrite, Deny::NONE)?;
                let end = self.volume.len_of(w)?;
                self.volume.write_at(w, end, &vec![7u8; self.grow])?;
                self.volume.close(w)?;
            }
            let _ = chunk;
            Ok(false)
        }
    }

    fn archived_len(to_end: bool) -> u64 {
        let volume = SimVolume::new("HD");
        volume
            .put_file(
                &VolumePath::new("HD", ["log"]),
                Content::from_bytes(&[1u8; 100_000]),
            )
            .unwrap();
        let mut env = Growing {
            volume,
            grow: 50_000,
            chunks: 0,
        };
        let mut client = BackupClient::new(
            vec!["HD".to_owned()],
            Arc::new(ExcludeNothing),
            OpenFilePolicy::IgnoreLocks,
            BackupSpeed::default(),
        )
        .read_to_end(to_end);
        let mut now = SimTime::ZERO;
        while let Step::At(t) = client.step(&mut env, now).unwrap() {
            now = t;
        }
        let set = client.take_backup_set();
        assert_eq!(set[0].content.len_bytes(), client.stats().bytes_archived);
        client.stats().bytes_archived
    }

    #[test]
    fn a_plain_reader_reads_a_growing_file_to_its_end_the_model_to_its_length_at_the_open() {
        assert_eq!(archived_len(false), 100_000);
        assert_eq!(archived_len(true), 150_000);
    }
}
