//! Policies: the administrator's decisions, as pluggable traits.
//!
//! - [`ExclusionPolicy`]: which paths the backup skips (KB remedies 1 and 2).
//! - [`SnapshotPolicy`]: how a consistent copy of the live file comes to exist
//!   and what the backup archives in its place.
//!
//! Policies are immutable configuration (`Send + Sync + Debug`), held by a
//! scenario behind `Arc<dyn …>`; the actors call them, and they never reach
//! into a runner. Whatever a policy tracks during a night lives in a per-night
//! object the runner creates, so clones of a scenario share no state.

mod exclusion;
mod snapshot;

pub use crate::volume::EntryKind;
pub use exclusion::Entry;
pub use exclusion::{
    ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing, ExclusionPolicy,
};
pub(crate) use snapshot::sealed;
pub use snapshot::{
    CopyOnWrite, Failure, FreezeThaw, LiveRead, Next, NightInfo, OnlineCopy, Prepared,
    ScheduledCopy, ServerControl, SnapshotPolicy, SnapshotSession, StopServer, WriterState,
};
