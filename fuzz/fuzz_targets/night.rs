//! Arbitrary bytes as a whole night: the first bytes build a scenario with
//! the public builder (every built-in policy with its knobs, faults, times,
//! speeds), the rest are the choice record it is replayed with. A scenario
//! built here always validates, so:
//!
//! - the run must succeed and `invariants::check` must pass (a violation is
//!   a bug in the simulator, the server or the oracle);
//! - the night saved as a scenario file with its recorded choices (unless
//!   `to_json` refuses it) must read back and replay to the same report
//!   (what `mailsim run --scenario` promises).
//!
//! Nights are kept cheap (at most two, at most 300 requests an hour) so the
//! fuzzer runs many per second.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mailsim::backup::BackupSpeed;
use mailsim::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing,
    ExclusionPolicy, FreezeThaw, LiveRead, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
};
use mailsim::sim::{BACKUP_DRIVE, Fault, SERVER_HD, UnsyncedWrites};
use mailsim::{
    Choices, ConflictBehavior, OpenFilePolicy, Scenario, TimeOfDay, Traffic, invariants,
};

/// Most choices the record holds.
const MAX_CHOICES: usize = 8_192;
/// The heaviest traffic a fuzzed night has.
const MAX_REQUESTS_PER_HOUR: u32 = 300;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(scenario) = scenario(&mut u) else {
        return;
    };
    let Ok(choices) = choices(&mut u) else {
        return;
    };
    // Settings the builder accepts but a run refuses (a sub-microsecond
    // threshold, say) are bad input, not a finding.
    if scenario.validate().is_err() {
        return;
    }
    let report = scenario
        .replay(&choices)
        .unwrap_or_else(|e| panic!("a valid scenario failed to run: {e}\n{scenario:?}"));
    if let Err(v) = invariants::check(&report) {
        panic!(
            "invariant broken: {v}\nat {:?}\n{scenario:?}\n{}",
            v.event_in(&report),
            report.narrate()
        );
    }

    // The night as a scenario file, with the choices it made. A scenario a
    // file cannot hold (a duration over a year, or finer than a
    // microsecond) may be refused; what is written must read back and
    // replay to the same night.
    let Ok(json) = scenario.to_json(Some(report.choices())) else {
        return;
    };
    let file = Scenario::from_json(&json)
        .unwrap_or_else(|e| panic!("a saved scenario does not read back: {e}\n{json}"));
    let again = file
        .run()
        .unwrap_or_else(|e| panic!("a saved scenario does not run: {e}\n{json}"));
    assert!(
        again.to_json() == report.to_json(),
        "a saved night replays differently\n{json}\n--- night ---\n{}\n--- replayed ---\n{}",
        report.narrate(),
        again.narrate()
    );
});

fn choices(u: &mut Unstructured<'_>) -> Result<Choices> {
    // Most choices have a handful of options: one byte each reaches them
    // all and lets the fuzzer's mutations line up with choices. Ranges
    // (times, sizes) want wide values now and then.
    let wide = u.ratio(1u8, 4u8)?;
    let mut v = Vec::new();
    while !u.is_empty() && v.len() < MAX_CHOICES {
        v.push(if wide {
            u.arbitrary::<u32>()?
        } else {
            u32::from(u.arbitrary::<u8>()?)
        });
    }
    Ok(Choices::from(v))
}

fn scenario(u: &mut Unstructured<'_>) -> Result<Scenario> {
    let mut s = Scenario::kb98097()
        .seed(u.arbitrary()?)
        .nights(u.int_in_range(1..=2)?);
    s = match u.int_in_range(0..=3u8)? {
        0 => s.kb_conflict(f64::from(u.arbitrary::<u8>()?) / 255.0),
        1 => s.conflict_behavior(ConflictBehavior::Shutdown),
        2 => s.conflict_behavior(ConflictBehavior::Hang),
        _ => s.conflict_behavior(ConflictBehavior::Tolerate),
    };
    s = s.open_files(match u.int_in_range(0..=2u8)? {
        0 => OpenFilePolicy::IgnoreLocks,
        1 => OpenFilePolicy::RespectLocks {
            retries: u.int_in_range(0..=6)?,
            interval: duration(u, 3_600)?,
        },
        _ => OpenFilePolicy::WaitForIdle {
            idle: duration(u, 3_600)?,
            timeout: duration(u, 4 * 3_600)?,
        },
    });
    s = s.exclusion_arc(exclusion(u)?);
    s = s.snapshot_arc(snapshot(u)?);
    s = s.backup_at(time(u)?).admin_at(time(u)?);
    s = s.traffic(Traffic::new(
        time(u)?,
        time(u)?,
        u.int_in_range(0..=MAX_REQUESTS_PER_HOUR)?,
    ));
    if u.arbitrary()? {
        s = s.backup_speed(BackupSpeed {
            throughput_bytes_per_sec: if u.arbitrary()? {
                u.int_in_range(1_000..=50_000_000)?
            } else {
                u.int_in_range(1..=u64::MAX)?
            },
            chunk_bytes: u.int_in_range(16..=1_024u64)? * 4_096,
        });
    }
    if u.arbitrary()? {
        // Virtual time counts microseconds: a shorter threshold is invalid.
        s = s.hang_threshold(duration(u, 2 * 3_600)?.max(Duration::from_micros(1)));
    }
    for _ in 0..u.int_in_range(0..=3u8)? {
        s = s.fault(fault(u)?);
    }
    Ok(s)
}

/// A time of day, on the hour, the minute or the second.
fn time(u: &mut Unstructured<'_>) -> Result<TimeOfDay> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => TimeOfDay::hm(u.int_in_range(0..=23)?, 0),
        1 => TimeOfDay::hm(u.int_in_range(0..=23)?, u.int_in_range(0..=59)?),
        _ => TimeOfDay::hms(0, 0, u.int_in_range(0..=86_399)?),
    })
}

/// A duration up to `max_secs`, in whole seconds, milliseconds,
/// microseconds (the finest a scenario file holds) or nanoseconds.
fn duration(u: &mut Unstructured<'_>, max_secs: u64) -> Result<Duration> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => Duration::from_secs(u.int_in_range(0..=max_secs)?),
        1 => Duration::from_millis(u.int_in_range(0..=max_secs * 1_000)?),
        2 => Duration::from_micros(u.int_in_range(0..=max_secs * 1_000_000)?),
        _ => Duration::from_nanos(u.int_in_range(0..=max_secs * 1_000_000_000)?),
    })
}

const NAMES: &[&str] = &[
    "System Folder",
    "Extensions",
    "Microsoft Mail Data",
    "Documents",
    "Applications",
    "Server HD:System Folder",
    "Server HD:System Folder:Extensions:Microsoft Mail Data",
    "server hd:system folder:extensions",
    "Backup Drive",
    "Mail Data Backup #1",
];

const GLOBS: &[&str] = &[
    "*Mail*",
    "Server HD:Applications:*",
    "*Data",
    "Microsoft Mail ?ata",
    "[MN]icrosoft*",
    "*",
    "Backup Drive:*",
];

fn name(u: &mut Unstructured<'_>, names: &[&str]) -> Result<String> {
    Ok(if u.ratio(1u8, 5u8)? {
        let len = u.int_in_range(0..=24usize)?;
        String::from_utf8_lossy(u.bytes(len)?).into_owned()
    } else {
        (*u.choose(names)?).to_owned()
    })
}

fn exclusion(u: &mut Unstructured<'_>) -> Result<Arc<dyn ExclusionPolicy>> {
    let n = u.int_in_range(0..=3u8)?;
    let mut all: Vec<Arc<dyn ExclusionPolicy>> = Vec::new();
    for _ in 0..n {
        all.push(match u.int_in_range(0..=2u8)? {
            0 => Arc::new(ExcludeFolder::new(name(u, NAMES)?)),
            1 => Arc::new(ExcludeFile::new(name(u, NAMES)?)),
            _ => Arc::new(ExcludeGlob::new(name(u, GLOBS)?)),
        });
    }
    Ok(match all.len() {
        0 => Arc::new(ExcludeNothing),
        1 => all.pop().unwrap(),
        _ => Arc::new(
            all.into_iter()
                .fold(ExcludeAny::new(), ExcludeAny::with_arc),
        ),
    })
}

fn snapshot(u: &mut Unstructured<'_>) -> Result<Arc<dyn SnapshotPolicy>> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => Arc::new(LiveRead),
        1 => Arc::new(StopServer::default().restart_after_file(u.arbitrary()?)),
        2 => {
            let mut p = ScheduledCopy::default()
                .at(time(u)?)
                .destination(match u.int_in_range(0..=3u8)? {
                    0 | 1 => BACKUP_DRIVE.to_owned(),
                    2 => SERVER_HD.to_owned(),
                    _ => name(u, NAMES)?,
                })
                .keep(u.int_in_range(0..=5)?)
                .disk_bytes_per_sec(if u.arbitrary()? {
                    u.int_in_range(100_000..=200_000_000)?
                } else {
                    u.int_in_range(0..=u64::MAX)?
                });
            for _ in 0..u.int_in_range(0..=2u8)? {
                p = p.not_loaded_on(u.int_in_range(0..=3)?);
            }
            Arc::new(p)
        }
        3 => Arc::new(CopyOnWrite),
        4 => Arc::new(
            FreezeThaw::default()
                .freeze_timeout(duration(u, 600)?)
                .hold_writes_limit(duration(u, 600)?)
                .freeze_time(duration(u, 600)?)
                .snapshot_time(duration(u, 600)?)
                .retries(u.int_in_range(0..=5)?)
                .retry_interval(duration(u, 3_600)?)
                .writer_vetoes(u.arbitrary()?),
        ),
        _ => Arc::new(
            OnlineCopy::default()
                .pages_per_step(if u.arbitrary()? {
                    u.int_in_range(1..=1_000)?
                } else {
                    u.int_in_range(0..=u64::MAX)?
                })
                .step_interval(duration(u, 10)?)
                .max_restarts(u.int_in_range(0..=30)?),
        ),
    })
}

fn fault(u: &mut Unstructured<'_>) -> Result<Fault> {
    let volume = |u: &mut Unstructured<'_>| -> Result<String> {
        Ok(if u.arbitrary()? {
            SERVER_HD
        } else {
            BACKUP_DRIVE
        }
        .to_owned())
    };
    Ok(match u.int_in_range(0..=5u8)? {
        0 => Fault::ReadError {
            volume: volume(u)?,
            nth: u.int_in_range(1..=2_000)?,
        },
        1 => Fault::WriteError {
            nth: u.int_in_range(1..=1_000)?,
        },
        2 => Fault::DiskFull {
            volume: volume(u)?,
            capacity_bytes: u.int_in_range(0..=64 << 20)?,
        },
        3 => Fault::ServerCrash {
            at_sync: u.int_in_range(1..=1_000)?,
            unsynced: *u.choose(&[
                UnsyncedWrites::Keep,
                UnsyncedWrites::Drop,
                UnsyncedWrites::Garble,
            ])?,
        },
        4 => Fault::BackupCrash {
            at_step: u.int_in_range(1..=1_000)?,
        },
        _ => Fault::ControlPanelNotLoaded {
            night: u.int_in_range(1..=3)?,
        },
    })
}
