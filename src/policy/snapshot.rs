//! Snapshot policies: how a consistent copy of the live file comes to exist.

use std::fmt::Debug;

/// How a consistent copy of the live data file comes to exist, and what the
/// backup archives in its place.
pub trait SnapshotPolicy: Send + Sync + Debug {
    /// Short name for tables and narration ("live read", "stop server").
    fn name(&self) -> &str;
}

/// No snapshot: the backup reads the live file, the KB's problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveRead;

impl SnapshotPolicy for LiveRead {
    fn name(&self) -> &str {
        "live read"
    }
}
