//! Policies to and from a scenario file: the built-in exclusions, open-file
//! and snapshot policies (and the conflict behaviour) as the document writes
//! them, and back. A policy of a user's own is saved by its name (a
//! snapshot policy's `name`, an exclusion's `Debug` form) and read back as
//! a placeholder that the caller must replace before the scenario runs.
//!
//! What does not live here: the document types and their units (`doc`).

use std::sync::Arc;

use super::super::unsupplied::{UnsuppliedExclusion, UnsuppliedSnapshot};
use super::doc::{ExclusionDoc, OpenFilesDoc, SnapshotDoc, Units, duration, hm, secs, time};
use crate::backup::OpenFilePolicy;
use crate::error::{Error, Result};
use crate::policy::{
    CopyOnWrite, ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeGlob, ExcludeNothing,
    ExclusionPolicy, FreezeThaw, LiveRead, OnlineCopy, ScheduledCopy, SnapshotPolicy, StopServer,
};
use crate::server::ConflictBehavior;

/// The exclusions of `p` as the file lists them, appended to `out`.
pub(super) fn exclusions_of(
    p: &Arc<dyn ExclusionPolicy>,
    out: &mut Vec<ExclusionDoc>,
) -> Result<()> {
    let custom = || ExclusionDoc::Custom(format!("{p:?}"));
    let Some(any) = p.as_any() else {
        out.push(custom());
        return Ok(());
    };
    if any.is::<ExcludeNothing>() {
    } else if let Some(f) = any.downcast_ref::<ExcludeFolder>() {
        out.push(ExclusionDoc::Folder(f.spec()));
    } else if let Some(f) = any.downcast_ref::<ExcludeFile>() {
        out.push(ExclusionDoc::File(f.spec()));
    } else if let Some(g) = any.downcast_ref::<ExcludeGlob>() {
        out.push(ExclusionDoc::Glob(g.pattern().to_owned()));
    } else if let Some(a) = any.downcast_ref::<ExcludeAny>() {
        for p in a.policies() {
            exclusions_of(p, out)?;
        }
    } else if let Some(u) = any.downcast_ref::<UnsuppliedExclusion>() {
        out.push(ExclusionDoc::Custom(u.name.clone()));
    } else {
        out.push(custom());
    }
    Ok(())
}

/// The open-file policy as the file writes it.
pub(super) fn open_files_of(p: OpenFilePolicy, units: Units) -> Result<OpenFilesDoc> {
    Ok(match p {
        OpenFilePolicy::IgnoreLocks => OpenFilesDoc::IgnoreLocks,
        OpenFilePolicy::RespectLocks { retries, interval } => OpenFilesDoc::RespectLocks {
            retries,
            interval_s: secs("open_files.interval_s", interval, units)?,
        },
        OpenFilePolicy::WaitForIdle { idle, timeout } => OpenFilesDoc::WaitForIdle {
            idle_s: secs("open_files.idle_s", idle, units)?,
            timeout_s: secs("open_files.timeout_s", timeout, units)?,
        },
    })
}

/// The open-file policy a file names.
pub(super) fn open_files_from(doc: OpenFilesDoc) -> Result<OpenFilePolicy> {
    Ok(match doc {
        OpenFilesDoc::IgnoreLocks => OpenFilePolicy::IgnoreLocks,
        OpenFilesDoc::RespectLocks {
            retries,
            interval_s,
        } => OpenFilePolicy::RespectLocks {
            retries,
            interval: duration("open_files.interval_s", interval_s)?,
        },
        OpenFilesDoc::WaitForIdle { idle_s, timeout_s } => OpenFilePolicy::WaitForIdle {
            idle: duration("open_files.idle_s", idle_s)?,
            timeout: duration("open_files.timeout_s", timeout_s)?,
        },
    })
}

/// The conflict behaviour a file names: `kb` (drawn) is `None`.
pub(super) fn behavior_from(b: &str) -> Result<Option<ConflictBehavior>> {
    Ok(match b {
        "kb" => None,
        "shutdown" => Some(ConflictBehavior::Shutdown),
        "hang" => Some(ConflictBehavior::Hang),
        "tolerate" => Some(ConflictBehavior::Tolerate),
        other => {
            return Err(Error::invalid(
                "behavior",
                format!("{other:?} is not one of kb, shutdown, hang, tolerate"),
            ));
        }
    })
}

/// The exclusions a file lists, any of them excluding.
pub(super) fn exclusion_from(ex: Vec<ExclusionDoc>) -> Result<Arc<dyn ExclusionPolicy>> {
    let mut any = ExcludeAny::new();
    for e in ex {
        any = match e {
            ExclusionDoc::Folder(n) => any.with(ExcludeFolder::new(n)),
            ExclusionDoc::File(n) => any.with(ExcludeFile::new(n)),
            ExclusionDoc::Glob(p) => any.with(ExcludeGlob::try_new(p)?),
            ExclusionDoc::Custom(name) => any.with(UnsuppliedExclusion { name }),
        };
    }
    Ok(Arc::new(any))
}

/// The snapshot policy as the file writes it.
pub(super) fn snapshot_of(p: &Arc<dyn SnapshotPolicy>, units: Units) -> Result<SnapshotDoc> {
    let custom = || SnapshotDoc::Custom {
        name: p.name().to_owned(),
    };
    let Some(any) = p.as_any() else {
        return Ok(custom());
    };
    Ok(if any.is::<LiveRead>() {
        SnapshotDoc::Live
    } else if let Some(s) = any.downcast_ref::<StopServer>() {
        SnapshotDoc::StopServer {
            restart_after_file: s.restart_after_file,
        }
    } else if let Some(s) = any.downcast_ref::<ScheduledCopy>() {
        SnapshotDoc::ScheduledCopy {
            at: Some(hm(s.at)),
            destination: Some(s.destination.clone()),
            keep: Some(s.keep),
            disk_bytes_per_sec: Some(s.disk_bytes_per_sec),
            not_loaded_on: s.not_loaded_on.clone(),
        }
    } else if any.is::<CopyOnWrite>() {
        SnapshotDoc::CopyOnWrite
    } else if let Some(f) = any.downcast_ref::<FreezeThaw>() {
        SnapshotDoc::FreezeThaw {
            freeze_timeout_s: Some(secs("snapshot.freeze_timeout_s", f.freeze_timeout, units)?),
            hold_writes_limit_s: Some(secs(
                "snapshot.hold_writes_limit_s",
                f.hold_writes_limit,
                units,
            )?),
            freeze_time_s: Some(secs("snapshot.freeze_time_s", f.freeze_time, units)?),
            snapshot_time_s: Some(secs("snapshot.snapshot_time_s", f.snapshot_time, units)?),
            retries: Some(f.retries),
            retry_interval_s: Some(secs("snapshot.retry_interval_s", f.retry_interval, units)?),
            writer_vetoes: f.writer_vetoes,
        }
    } else if let Some(o) = any.downcast_ref::<OnlineCopy>() {
        SnapshotDoc::OnlineCopy {
            pages_per_step: Some(o.pages_per_step),
            step_interval_s: Some(secs("snapshot.step_interval_s", o.step_interval, units)?),
            max_restarts: Some(o.max_restarts),
        }
    } else {
        custom()
    })
}

/// The snapshot policy a file names, its knobs checked.
pub(super) fn snapshot_from(doc: SnapshotDoc) -> Result<Arc<dyn SnapshotPolicy>> {
    Ok(match doc {
        SnapshotDoc::Live => Arc::new(LiveRead),
        SnapshotDoc::StopServer { restart_after_file } => {
            Arc::new(StopServer::default().restart_after_file(restart_after_file))
        }
        SnapshotDoc::ScheduledCopy {
            at,
            destination,
            keep,
            disk_bytes_per_sec,
            not_loaded_on,
        } => {
            let mut p = ScheduledCopy::default();
            if let Some(at) = at {
                p = p.at(time("snapshot.at", &at)?);
            }
            if let Some(d) = destination {
                p = p.destination(d);
            }
            if let Some(k) = keep {
                if k == 0 {
                    return Err(Error::invalid("snapshot.keep", "must be at least 1"));
                }
                p = p.keep(k);
            }
            if let Some(b) = disk_bytes_per_sec {
                if b == 0 {
                    return Err(Error::invalid(
                        "snapshot.disk_bytes_per_sec",
                        "must be positive",
                    ));
                }
                p = p.disk_bytes_per_sec(b);
            }
            for n in not_loaded_on {
                p = p.not_loaded_on(n);
            }
            Arc::new(p)
        }
        SnapshotDoc::CopyOnWrite => Arc::new(CopyOnWrite),
        SnapshotDoc::Custom { name } => Arc::new(UnsuppliedSnapshot { name }),
        SnapshotDoc::FreezeThaw {
            freeze_timeout_s,
            hold_writes_limit_s,
            freeze_time_s,
            snapshot_time_s,
            retries,
            retry_interval_s,
            writer_vetoes,
        } => {
            let mut p = FreezeThaw::default().writer_vetoes(writer_vetoes);
            if let Some(s) = freeze_timeout_s {
                p = p.freeze_timeout(duration("snapshot.freeze_timeout_s", s)?);
            }
            if let Some(s) = hold_writes_limit_s {
                p = p.hold_writes_limit(duration("snapshot.hold_writes_limit_s", s)?);
            }
            if let Some(s) = freeze_time_s {
                p = p.freeze_time(duration("snapshot.freeze_time_s", s)?);
            }
            if let Some(s) = snapshot_time_s {
                p = p.snapshot_time(duration("snapshot.snapshot_time_s", s)?);
            }
            if let Some(r) = retries {
                p = p.retries(r);
            }
            if let Some(s) = retry_interval_s {
                p = p.retry_interval(duration("snapshot.retry_interval_s", s)?);
            }
            Arc::new(p)
        }
        SnapshotDoc::OnlineCopy {
            pages_per_step,
            step_interval_s,
            max_restarts,
        } => {
            let mut p = OnlineCopy::default();
            if let Some(n) = pages_per_step {
                p = p.pages_per_step(n);
            }
            if let Some(s) = step_interval_s {
                p = p.step_interval(duration("snapshot.step_interval_s", s)?);
            }
            if let Some(n) = max_restarts {
                p = p.max_restarts(n);
            }
            Arc::new(p)
        }
    })
}
