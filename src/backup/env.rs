//! What the backup client needs from the world it runs in, and how long a
//! snapshot policy may keep it waiting.

use std::time::Duration;

use crate::error::Result;
use crate::event::EventKind;
use crate::policy::Prepared;
use crate::time::SimTime;
use crate::volume::{Chunk, Volume, VolumePath};

#[cfg(doc)]
use super::{BackupClient, BackupItem};
#[cfg(doc)]
use crate::error::Error;

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
