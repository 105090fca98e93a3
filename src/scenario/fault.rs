//! Faults a scenario can inject: the things that go wrong besides the
//! conflict itself, and [`draw_faults`], which draws a night's faults from
//! its seed (what `mailsim sweep --faults N` injects).

use std::sync::OnceLock;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::preset::{BACKUP_DRIVE, SERVER_HD};
use crate::volume::Volume as _;

pub use crate::volume::UnsyncedWrites;

/// A fault injected into a night, as part of a scenario.
///
/// Under every fault the invariants hold: no acknowledged delivery is lost,
/// errors are reported on the timeline, and nothing panics. A fault that
/// kills the server ends the night in [`Outcome::Crashed`](crate::Outcome::Crashed)
/// (unless something more severe happened).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// The `nth` read on a volume fails (the backup reports it and skips
    /// the file).
    ReadError {
        /// "Server HD" or "Backup Drive".
        volume: String,
        /// Which read, 1-based, counted over the run.
        nth: u64,
    },
    /// The `nth` write to the data file fails: the server stops rather than
    /// risk its file, and the administrator restarts it.
    WriteError {
        /// Which write, 1-based, counted over the run.
        nth: u64,
    },
    /// A volume has only this much room (MS Mail Backup's copy to a full
    /// "Backup Drive" is refused before a byte is written).
    DiskFull {
        /// The volume.
        volume: String,
        /// Its capacity.
        capacity_bytes: u64,
    },
    /// The server crashes at its `at_sync`th sync; the writes not yet
    /// synced are kept, dropped or garbled (after SQLite's crash-test file
    /// system). The administrator restarts it; it recovers from the file.
    ServerCrash {
        /// Which sync, 1-based, counted over the run.
        at_sync: u64,
        /// What becomes of the writes not yet synced.
        unsynced: UnsyncedWrites,
    },
    /// The backup crashes at its `at_step`th step (mid-archive: the file
    /// being copied is not archived, and nothing after it).
    BackupCrash {
        /// Which step of the backup, 1-based, counted over the run.
        at_step: u64,
    },
    /// The MS Mail Backup control panel fails to load on this night (KB
    /// Q68600): it silently makes no copy.
    ControlPanelNotLoaded {
        /// The 1-based night.
        night: u32,
    },
}

impl Fault {
    /// The fault's name, as in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::ReadError { .. } => "read_error",
            Fault::WriteError { .. } => "write_error",
            Fault::DiskFull { .. } => "disk_full",
            Fault::ServerCrash { .. } => "server_crash",
            Fault::BackupCrash { .. } => "backup_crash",
            Fault::ControlPanelNotLoaded { .. } => "control_panel_not_loaded",
        }
    }
}

/// The ChaCha stream [`draw_faults`] draws from. The chooser draws a night's
/// other choices from stream 0 of the same seed, so a night's faults are
/// independent of its traffic and reactions, and adding faults changes
/// nothing else that is drawn.
const FAULT_STREAM: u64 = u64::from_be_bytes(*b"faults\0\0");

/// Per night of the preset, a little more than the reads of Server HD
/// (backup chunks and the server's reads) a KB night makes: about 416.
const DRAWN_SERVER_HD_READS_PER_NIGHT: u64 = 450;
/// Per night, a little more than the reads of Backup Drive a KB night makes
/// when MS Mail Backup has put a copy there for the backup to read (48;
/// none without a copy).
const DRAWN_BACKUP_DRIVE_READS_PER_NIGHT: u64 = 60;
/// Per night, a little more than the data file's writes (and syncs) a KB
/// night makes: 520 to 650, depending on the traffic drawn.
const DRAWN_WRITES_PER_NIGHT: u64 = 700;
/// Per night, a little more than the backup's steps a KB night takes: about
/// 446, 495 with MS Mail Backup's copy to archive too.
const DRAWN_BACKUP_STEPS_PER_NIGHT: u64 = 500;
/// How far a drawn capacity of Server HD lies from what the preset's files
/// take: below, the data file cannot grow at all; above, it fills up once
/// the night's deliveries have grown it that much.
const DRAWN_SERVER_HD_SLACK_BYTES: u64 = 512 << 10;
/// Largest drawn capacity of Backup Drive, which starts empty: about twice
/// the preset's data file, so that some of MS Mail Backup's copies fit and
/// some do not.
const DRAWN_BACKUP_DRIVE_MAX_BYTES: u64 = 8 << 20;

/// Draws the faults of one night (one run of `nights` nights) from `seed`:
/// for every kind of [`Fault`], between 0 and `max_per_kind` of it, each at
/// a point the KB preset's nights reach.
///
/// - `read_error`: on Server HD (three in four) the nth read in
///   1..=450 × nights (a KB night reads it about 416 times), or on Backup Drive in
///   1..=60 × nights (48 when MS Mail Backup put a copy there, none otherwise);
/// - `write_error`: the nth write in 1..=700 × nights (a KB night writes its data file 520 to 650 times);
/// - `disk_full`: Server HD with a capacity within
///   512 KiB of what the preset's files take, or
///   Backup Drive with 0..=8 MiB (the data file is about 3 MiB);
/// - `server_crash`: at a sync in 1..=700 × nights
///   (the server syncs about once a write), the unsynced writes kept,
///   dropped or garbled;
/// - `backup_crash`: at a step in 1..=500 × nights (a KB night takes about 446, 495 with a copy to archive too);
/// - `control_panel_not_loaded`: on a night in 1..=nights.
///
/// A point past what a night reaches (its traffic is drawn too) injects
/// nothing. The same arguments give the same faults, in the order above; a
/// larger `max_per_kind` may draw more. The draw comes from a ChaCha8
/// generator seeded with `seed` on a stream of its own, not the night's
/// chooser: adding faults to a night leaves its other choices as they were,
/// and the faults are not correlated with them. Every fault drawn passes
/// [`Scenario::validate`](crate::Scenario::validate). At most
/// 6 × `max_per_kind` faults are returned; `nights` 0 is taken as 1.
pub fn draw_faults(seed: u64, max_per_kind: u32, nights: u32) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(FAULT_STREAM);
    let nights = nights.max(1);
    let per_run = |per_night: u64| per_night.saturating_mul(u64::from(nights));
    let mut faults = Vec::new();
    let mut each = |rng: &mut ChaCha8Rng, draw: &mut dyn FnMut(&mut ChaCha8Rng) -> Fault| {
        let n = below(rng, u64::from(max_per_kind) + 1);
        for _ in 0..n {
            faults.push(draw(rng));
        }
    };
    each(&mut rng, &mut |rng| {
        if below(rng, 4) < 3 {
            Fault::ReadError {
                volume: SERVER_HD.to_owned(),
                nth: 1 + below(rng, per_run(DRAWN_SERVER_HD_READS_PER_NIGHT)),
            }
        } else {
            Fault::ReadError {
                volume: BACKUP_DRIVE.to_owned(),
                nth: 1 + below(rng, per_run(DRAWN_BACKUP_DRIVE_READS_PER_NIGHT)),
            }
        }
    });
    each(&mut rng, &mut |rng| Fault::WriteError {
        nth: 1 + below(rng, per_run(DRAWN_WRITES_PER_NIGHT)),
    });
    each(&mut rng, &mut |rng| {
        if below(rng, 2) == 0 {
            let used = preset_server_hd_bytes();
            let low = used.saturating_sub(DRAWN_SERVER_HD_SLACK_BYTES);
            let high = used.saturating_add(DRAWN_SERVER_HD_SLACK_BYTES);
            Fault::DiskFull {
                volume: SERVER_HD.to_owned(),
                capacity_bytes: low + below(rng, high - low + 1),
            }
        } else {
            Fault::DiskFull {
                volume: BACKUP_DRIVE.to_owned(),
                capacity_bytes: below(rng, DRAWN_BACKUP_DRIVE_MAX_BYTES + 1),
            }
        }
    });
    each(&mut rng, &mut |rng| Fault::ServerCrash {
        at_sync: 1 + below(rng, per_run(DRAWN_WRITES_PER_NIGHT)),
        unsynced: match below(rng, 3) {
            0 => UnsyncedWrites::Keep,
            1 => UnsyncedWrites::Drop,
            _ => UnsyncedWrites::Garble,
        },
    });
    each(&mut rng, &mut |rng| Fault::BackupCrash {
        at_step: 1 + below(rng, per_run(DRAWN_BACKUP_STEPS_PER_NIGHT)),
    });
    each(&mut rng, &mut |rng| Fault::ControlPanelNotLoaded {
        // `nights` is at least 1 and a u32, so this fits.
        night: 1 + below(rng, u64::from(nights)) as u32,
    });
    faults
}

/// A value in `0..n` (0 when `n` is 0), by the widening multiply: no loop,
/// and a bias below n / 2^64, nothing for the ranges drawn here.
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// What the preset's files take on Server HD before a night begins.
fn preset_server_hd_bytes() -> u64 {
    static USED: OnceLock<u64> = OnceLock::new();
    *USED.get_or_init(|| {
        let (hd, _) = super::prototype_volumes();
        // A fresh SimVolume has room for u64::MAX bytes: what is missing is used.
        u64::MAX - hd.available_bytes().unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;
    use crate::event::EventKind;

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        for seed in [0, 1, 7, u64::MAX] {
            assert_eq!(draw_faults(seed, 3, 1), draw_faults(seed, 3, 1));
            assert_eq!(draw_faults(seed, 5, 4), draw_faults(seed, 5, 4));
        }
        assert!(draw_faults(9, 0, 1).is_empty());
        let differ = (0..50).filter(|&s| draw_faults(s, 3, 1) != draw_faults(s + 1, 3, 1));
        assert!(differ.count() > 45, "seeds draw different faults");
    }

    #[test]
    fn at_most_n_of_each_kind_and_every_kind_over_many_seeds() {
        let mut seen = std::collections::BTreeMap::<&str, u32>::new();
        for seed in 0..500 {
            let faults = draw_faults(seed, 3, 2);
            let mut per_kind = std::collections::BTreeMap::<&str, u32>::new();
            for f in &faults {
                *per_kind.entry(f.kind()).or_default() += 1;
                *seen.entry(f.kind()).or_default() += 1;
            }
            assert!(per_kind.values().all(|&n| n <= 3), "{seed}: {faults:?}");
            assert!(faults.len() <= 18);
        }
        for kind in [
            "read_error",
            "write_error",
            "disk_full",
            "server_crash",
            "backup_crash",
            "control_panel_not_loaded",
        ] {
            // 500 seeds × 1.5 on average of each kind.
            assert!(seen.get(kind).is_some_and(|&n| n > 500), "{kind}: {seen:?}");
        }
    }

    #[test]
    fn drawn_faults_are_valid_and_within_their_ranges() {
        let used = preset_server_hd_bytes();
        assert!((20 << 20..60 << 20).contains(&used), "{used}");
        for nights in [1, 3] {
            for seed in 0..300 {
                let faults = draw_faults(seed, 4, nights);
                let mut s = Scenario::kb98097().nights(nights);
                for f in &faults {
                    s = s.fault(f.clone());
                }
                s.validate()
                    .unwrap_or_else(|e| panic!("{seed}: {e}: {faults:?}"));
                let n = u64::from(nights);
                for f in &faults {
                    let ok = match f {
                        Fault::ReadError { volume, nth } if volume == SERVER_HD => {
                            (1..=DRAWN_SERVER_HD_READS_PER_NIGHT * n).contains(nth)
                        }
                        Fault::ReadError { volume, nth } => {
                            volume == BACKUP_DRIVE
                                && (1..=DRAWN_BACKUP_DRIVE_READS_PER_NIGHT * n).contains(nth)
                        }
                        Fault::WriteError { nth } => (1..=DRAWN_WRITES_PER_NIGHT * n).contains(nth),
                        Fault::DiskFull {
                            volume,
                            capacity_bytes,
                        } if volume == SERVER_HD => {
                            capacity_bytes.abs_diff(used) <= DRAWN_SERVER_HD_SLACK_BYTES
                        }
                        Fault::DiskFull { capacity_bytes, .. } => {
                            *capacity_bytes <= DRAWN_BACKUP_DRIVE_MAX_BYTES
                        }
                        Fault::ServerCrash { at_sync, .. } => {
                            (1..=DRAWN_WRITES_PER_NIGHT * n).contains(at_sync)
                        }
                        Fault::BackupCrash { at_step } => {
                            (1..=DRAWN_BACKUP_STEPS_PER_NIGHT * n).contains(at_step)
                        }
                        Fault::ControlPanelNotLoaded { night } => (1..=nights).contains(night),
                    };
                    assert!(ok, "{seed}, {nights} nights: {f:?}");
                }
            }
        }
    }

    #[test]
    fn the_fault_stream_is_not_the_choosers() {
        // The chooser draws from stream 0 of the seed; the faults from a
        // stream of their own, which shares none of its numbers.
        let mut from_chooser = ChaCha8Rng::seed_from_u64(11);
        let mut for_faults = ChaCha8Rng::seed_from_u64(11);
        for_faults.set_stream(FAULT_STREAM);
        let xs: Vec<u64> = (0..8).map(|_| from_chooser.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| for_faults.next_u64()).collect();
        assert!(xs.iter().all(|x| !ys.contains(x)), "{xs:?} {ys:?}");
    }

    /// Whether `fault` fires on the KB night of `seed`, as `hit` sees it.
    fn fires(seed: u64, fault: Fault, hit: fn(&EventKind) -> bool) -> bool {
        let r = Scenario::kb98097().seed(seed).fault(fault).run().unwrap();
        r.timeline().iter().any(|e| hit(&e.kind))
    }

    #[test]
    fn the_ranges_are_what_a_kb_night_reaches() {
        // Most of each range is reached (a fault there fires), and not much
        // more than the range (one just past it does not).
        let io = |k: &EventKind| matches!(k, EventKind::IoError { .. });
        let crashed = |k: &EventKind| matches!(k, EventKind::Crashed { .. });
        let backup = |k: &EventKind| matches!(k, EventKind::BackupFailed { .. });
        let hd_read = |nth| Fault::ReadError {
            volume: SERVER_HD.to_owned(),
            nth,
        };
        let sync = |at_sync| Fault::ServerCrash {
            at_sync,
            unsynced: UnsyncedWrites::Keep,
        };
        for seed in [0, 1, 2] {
            let r = DRAWN_SERVER_HD_READS_PER_NIGHT;
            assert!(fires(seed, hd_read(r * 8 / 10), io), "{seed}");
            assert!(!fires(seed, hd_read(r + 1), io), "{seed}");
            let w = DRAWN_WRITES_PER_NIGHT;
            assert!(fires(seed, Fault::WriteError { nth: w * 7 / 10 }, io));
            assert!(!fires(seed, Fault::WriteError { nth: w + 1 }, io));
            assert!(fires(seed, sync(w * 7 / 10), crashed), "{seed}");
            assert!(!fires(seed, sync(w + 1), crashed), "{seed}");
            let s = DRAWN_BACKUP_STEPS_PER_NIGHT;
            let step = |at_step| Fault::BackupCrash { at_step };
            assert!(fires(seed, step(s * 8 / 10), backup), "{seed}");
            assert!(!fires(seed, step(s + 1), backup), "{seed}");
        }
    }
}
