//! The faults a simulated volume injects — the nth read or write failing,
//! a crash at the nth sync keeping, dropping or garbling the writes not yet
//! synced — and the queue of those armed behind them, so that several
//! faults of one kind each fire in turn.
//!
//! What does not live here: where the counts are taken and the faults fire
//! (the reads in `mod`, the writes, syncs and the crash in `state`).

use super::SimVolume;
use super::state::State;

/// What becomes of writes not yet synced when the volume crashes (after
/// SQLite's crash-test file system).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsyncedWrites {
    /// They reached the disk after all.
    Keep,
    /// They never reached it: the file is as it was at its last sync.
    Drop,
    /// The bytes each one wrote are garbage.
    Garble,
}

impl UnsyncedWrites {
    /// The name used in scenario files: `keep`, `drop`, `garble`.
    pub fn as_str(self) -> &'static str {
        match self {
            UnsyncedWrites::Keep => "keep",
            UnsyncedWrites::Drop => "drop",
            UnsyncedWrites::Garble => "garble",
        }
    }
}

/// Faults a simulated volume injects: counted over the volume's life, 1-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimFaults {
    /// The nth `read_at` fails with an I/O error.
    pub read_error_at: Option<u64>,
    /// The nth `write_at` fails with an I/O error (nothing is written).
    pub write_error_at: Option<u64>,
    /// The nth `sync` crashes the volume's writer: it fails with
    /// [`Error::Crashed`](crate::Error::Crashed), and the writes not yet
    /// synced, on every file, are kept, dropped or garbled.
    pub crash_at_sync: Option<(u64, UnsyncedWrites)>,
    pub(super) reads: u64,
    pub(super) writes: u64,
    pub(super) syncs: u64,
}

impl SimFaults {
    /// Reads, writes and syncs seen so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.reads, self.writes, self.syncs)
    }
}

/// Faults armed behind the ones in [`SimFaults`], each kind in descending
/// order of its count (the next to arm last).
#[derive(Clone, Debug, Default)]
pub(super) struct Queued {
    pub(super) reads: Vec<u64>,
    pub(super) writes: Vec<u64>,
    pub(super) syncs: Vec<(u64, UnsyncedWrites)>,
}

impl SimVolume {
    /// Arms faults (replacing any armed before; counts start again).
    pub fn inject(&self, faults: SimFaults) {
        let mut s = self.state.lock();
        s.faults = SimFaults {
            reads: 0,
            writes: 0,
            syncs: 0,
            ..faults
        };
        s.queued = Queued::default();
        s.unsynced.clear();
    }

    /// Adds `faults` to those armed, keeping the counts so far: several
    /// faults of one kind each fire, in the order of their counts (the
    /// armed one is the next; [`SimVolume::faults`] shows it). A count
    /// already passed never fires.
    pub fn queue_faults(&self, faults: SimFaults) {
        let mut s = self.state.lock();
        let State {
            faults: armed,
            queued,
            ..
        } = &mut *s;
        let (reads, writes, syncs) = (armed.reads, armed.writes, armed.syncs);
        let mut r: Vec<u64> = queued.reads.drain(..).collect();
        r.extend(armed.read_error_at.filter(|&n| n > reads));
        r.extend(faults.read_error_at.filter(|&n| n > reads));
        let mut w: Vec<u64> = queued.writes.drain(..).collect();
        w.extend(armed.write_error_at.filter(|&n| n > writes));
        w.extend(faults.write_error_at.filter(|&n| n > writes));
        let mut c: Vec<(u64, UnsyncedWrites)> = queued.syncs.drain(..).collect();
        c.extend(armed.crash_at_sync.filter(|&(n, _)| n > syncs));
        c.extend(faults.crash_at_sync.filter(|&(n, _)| n > syncs));
        for v in [&mut r, &mut w] {
            v.sort_unstable_by(|a, b| b.cmp(a));
            v.dedup();
        }
        c.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
        c.dedup_by_key(|x| x.0);
        if let Some(n) = r.pop() {
            armed.read_error_at = Some(n);
        }
        if let Some(n) = w.pop() {
            armed.write_error_at = Some(n);
        }
        if let Some(x) = c.pop() {
            armed.crash_at_sync = Some(x);
        }
        *queued = Queued {
            reads: r,
            writes: w,
            syncs: c,
        };
    }

    /// The faults armed, with the counts so far.
    pub fn faults(&self) -> SimFaults {
        self.state.lock().faults
    }
}

/// What a crash that garbles leaves in place of `len` unsynced bytes at
/// `offset`: deterministic garbage (the same crash garbles the same way,
/// in the simulation and on disk).
pub(crate) fn garbage(offset: u64, len: u64) -> Vec<u8> {
    let mut x = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
