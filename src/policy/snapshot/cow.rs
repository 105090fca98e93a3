//! [`CopyOnWrite`]: an atomic point-in-time clone archived in place of the
//! live file.

use super::{NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession};
use crate::error::Result;
use crate::event::EventKind;
use crate::volume::VolumePath;

/// An atomic point-in-time clone, as FICLONE or an LVM/btrfs snapshot: the
/// server pauses for no measurable time, and the backup archives the clone
/// under the live file's path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyOnWrite;

#[derive(Debug)]
struct CopyOnWriteSession;

impl SnapshotSession for CopyOnWriteSession {
    fn state_key(&self) -> Option<u64> {
        Some(0)
    }

    fn before_live_file(
        &mut self,
        server: &mut dyn ServerControl,
        path: &VolumePath,
    ) -> Result<Prepared> {
        let content = server.clone_image()?;
        let generation = server.generation();
        server.log(EventKind::SnapshotTaken { generation }, Some(path));
        Ok(Prepared::Image {
            content,
            taken_at: server.now(),
        })
    }
}

impl SnapshotPolicy for CopyOnWrite {
    fn name(&self) -> &str {
        "copy-on-write"
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(CopyOnWriteSession)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
