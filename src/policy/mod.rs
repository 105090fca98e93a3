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
//!
//! The types the traits speak in are re-exported here, so that one `use`
//! serves a policy author: the server's state ([`ServerState`]), the
//! timeline's event kinds ([`EventKind`]), virtual time ([`SimTime`]), and
//! the pages a snapshot hands the backup ([`Content`], [`Chunk`],
//! [`CopyBuilder`]).
//!
//! ```
//! use mailsim::policy::{Content, ServerState, SimTime};
//!
//! // The same types as at their homes, not copies of them.
//! let at: mailsim::SimTime = SimTime::from_micros(1_000_000);
//! assert_eq!(at.as_micros(), 1_000_000);
//! let state: mailsim::server::ServerState = ServerState::Serving;
//! assert_ne!(state, ServerState::Hung);
//! let image: mailsim::volume::Content = Content::default();
//! assert_eq!(image.len_bytes(), 0);
//! ```

mod exclusion;
mod snapshot;

pub use crate::volume::EntryKind;
pub use exclusion::Entry;
pub(crate) use exclusion::find_in_combination;
pub use exclusion::{
    ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing, ExclusionPolicy,
};
pub(crate) use snapshot::sealed;
pub use snapshot::{
    CopyOnWrite, Failure, FreezeThaw, LiveRead, Next, NightInfo, OnlineCopy, Prepared,
    ScheduledCopy, ServerControl, SnapshotPolicy, SnapshotSession, StopServer, WriterState,
};

// The types the traits' methods take and return, so that a policy author
// needs one `use mailsim::policy::{…}`.
pub use crate::event::EventKind;
pub use crate::server::ServerState;
pub use crate::time::SimTime;
pub use crate::volume::{Chunk, Content, CopyBuilder};
