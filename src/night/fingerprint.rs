//! The fingerprint of a night's state, for the explorer: two states with
//! the same fingerprint have the same future, so one of them is explored.
//!
//! What it covers: the time, the agenda (moves and when they are due), the
//! server, the volumes' contents (by their bytes), the backup, the oracle's
//! states, the outage, the requests deferred, the deliveries acknowledged
//! and deleted, the metrics, the night's flags (a shutdown, a hang, a
//! crash), and the snapshot session's own key. What it leaves out: the
//! timeline and the choices, which are history, not state. A session that
//! offers no key ([`SnapshotSession::state_key`] is `None`) makes every
//! state unique: its states are never merged.
//!
//! [`SnapshotSession::state_key`]: crate::policy::SnapshotSession::state_key

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Night, NightVolume};
use crate::backup::content_digest;
use crate::volume::{EntryKind, VolumePath};

/// Distinct values for sessions without a key: never equal to another.
static UNIQUE: AtomicU64 = AtomicU64::new(1);

impl<V: NightVolume> Night<'_, V> {
    /// The state's fingerprint; see the module docs.
    #[cfg_attr(not(feature = "proptest"), allow(dead_code))]
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.now.as_micros().hash(&mut h);
        let mut agenda: Vec<(u64, super::Move)> = self
            .queue
            .iter()
            .map(|s| (s.at.as_micros(), s.mv))
            .collect();
        agenda.sort_unstable();
        agenda.hash(&mut h);
        self.server.digest(&mut h);
        for v in [&self.hd, &self.drive] {
            volume_digest(v, &VolumePath::root(v.name()), &mut h);
        }
        if let Some(t) = &self.tonight {
            t.backup.digest(&mut h);
            (
                t.night,
                t.backup_end.map(|e| e.as_micros()),
                t.shutdown,
                t.hang,
                t.visits,
            )
                .hash(&mut h);
        }
        self.oracle.digest(&mut h);
        (
            self.crashed,
            self.backup_steps,
            &self.last_opener,
            self.outage,
            &self.deferred,
            &self.acked,
            &self.deleted,
            self.episodes,
            self.outcome,
        )
            .hash(&mut h);
        let m = &self.metrics;
        (
            m.planned_downtime,
            m.unplanned_downtime,
            m.deliveries_deferred,
            m.files_archived,
            m.bytes_archived,
        )
            .hash(&mut h);
        for a in &self.archive {
            (a.path.to_string(), a.len_bytes, a.verdict).hash(&mut h);
        }
        let key = self.session.as_ref().map(|s| {
            s.state_key()
                .unwrap_or_else(|| UNIQUE.fetch_add(1, Ordering::Relaxed))
        });
        key.hash(&mut h);
        self.script.as_ref().map(|s| s.len()).hash(&mut h);
        h.finish()
    }
}

/// The files under `folder` (names and contents by their bytes).
fn volume_digest<V: NightVolume>(v: &V, folder: &VolumePath, h: &mut impl Hasher) {
    let Ok(entries) = v.list(folder) else {
        return;
    };
    for e in entries {
        let p = folder.join(e.name);
        p.to_string().hash(h);
        match e.kind {
            EntryKind::Folder => volume_digest(v, &p, h),
            EntryKind::File => {
                if let Ok(c) = v.contents(&p) {
                    content_digest(&c).hash(h);
                }
            }
        }
    }
}
