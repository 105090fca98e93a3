//! [`LiveRead`]: no snapshot — the backup reads the live file, the KB's
//! problem.

use super::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use crate::error::Result;
use crate::volume::VolumePath;

/// No snapshot: the backup reads the live file — the KB's problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveRead;

#[derive(Debug)]
struct LiveReadSession;

impl SnapshotSession for LiveReadSession {
    fn before_live_file(&mut self, _: &mut dyn ServerControl, _: &VolumePath) -> Result<Prepared> {
        Ok(Prepared::ReadLive)
    }

    fn state_key(&self) -> Option<u64> {
        Some(0)
    }
}

impl SnapshotPolicy for LiveRead {
    fn name(&self) -> &str {
        "live read"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(LiveReadSession)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
