//! The invariants every night must keep, whatever the scenario, seed or
//! fault, checked against a [`Report`] alone.
//!
//! Available without any feature, so that the command's `sweep` and an
//! embedder's own harness can use it; [`crate::testing`] re-exports it for
//! proptest suites. Each [`Violation`] names the invariant it breaks and
//! points at the event of the timeline that shows it.

use std::fmt;

use crate::report::{Event, EventKind, Outcome, Report};

/// One of the invariants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Invariant {
    /// Every acknowledged delivery not deleted by its owner is in the live
    /// file at the end, through shutdowns, hangs, restarts and crashes.
    NoAcknowledgedDeliveryLost,
    /// The outcome is the one the timeline and the verdicts show.
    OutcomeMatchesTimeline,
    /// A night in which nothing opened Mail Data while the server held it
    /// ends clean (unless a fault alone explains otherwise).
    NoForeignAccessMeansClean,
    /// Every archived file has a verdict and an `Archived` event, and every
    /// `Archived` event an archive entry.
    EveryArchivedCopyJudged,
    /// Every wait ends: a busy or idle wait in an open or a skip, a pause in
    /// a resume, a stop or a hang in a restart.
    NoUnboundedWait,
    /// Soundness ([`check_sound`]): the backup never opened the live data
    /// file while the server held it (no foreign access).
    BackupNeverOpenedLiveFile,
    /// Soundness ([`check_sound`]): the server never shut down or hung
    /// because of the backup.
    ServerNeverStoppedByBackup,
    /// Soundness ([`check_sound`]): no archived copy of Mail Data is torn.
    NoTornCopy,
}

impl Invariant {
    /// Every invariant.
    pub const ALL: [Invariant; 5] = [
        Invariant::NoAcknowledgedDeliveryLost,
        Invariant::OutcomeMatchesTimeline,
        Invariant::NoForeignAccessMeansClean,
        Invariant::EveryArchivedCopyJudged,
        Invariant::NoUnboundedWait,
    ];

    /// What [`check_sound`] adds to the invariants: what a policy must
    /// achieve, not only what mailsim must.
    pub const SOUND: [Invariant; 3] = [
        Invariant::BackupNeverOpenedLiveFile,
        Invariant::ServerNeverStoppedByBackup,
        Invariant::NoTornCopy,
    ];

    /// The invariant's name, as in JSON (`no_acknowledged_delivery_lost`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::NoAcknowledgedDeliveryLost => "no_acknowledged_delivery_lost",
            Invariant::OutcomeMatchesTimeline => "outcome_matches_timeline",
            Invariant::NoForeignAccessMeansClean => "no_foreign_access_means_clean",
            Invariant::EveryArchivedCopyJudged => "every_archived_copy_judged",
            Invariant::NoUnboundedWait => "no_unbounded_wait",
            Invariant::BackupNeverOpenedLiveFile => "backup_never_opened_live_file",
            Invariant::ServerNeverStoppedByBackup => "server_never_stopped_by_backup",
            Invariant::NoTornCopy => "no_torn_copy",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broken invariant, and where the timeline shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// Index into [`Report::timeline`] of the event that breaks it, when one does.
    pub event: Option<usize>,
    /// What is wrong, in a sentence.
    pub detail: String,
}

impl Violation {
    fn new(invariant: Invariant, event: Option<usize>, detail: impl Into<String>) -> Violation {
        Violation {
            invariant,
            event,
            detail: detail.into(),
        }
    }

    /// The event the violation points at, in `report`'s timeline.
    pub fn event_in<'r>(&self, report: &'r Report) -> Option<&'r Event> {
        self.event.and_then(|i| report.timeline().get(i))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)?;
        if let Some(i) = self.event {
            write!(f, " (timeline event {i})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// The outcome the timeline and the archive verdicts show, and the event that
/// shows it first, computed without the runner's bookkeeping.
pub fn outcome_from_timeline(report: &Report) -> (Outcome, Option<usize>) {
    let mut worst = (Outcome::Clean, None);
    let raise = |o: Outcome, i: Option<usize>, worst: &mut (Outcome, Option<usize>)| {
        if o > worst.0 {
            *worst = (o, i);
        }
    };
    for (i, e) in report.timeline().iter().enumerate() {
        match e.kind {
            EventKind::ShutDown { .. } => raise(Outcome::GracefulShutdown, Some(i), &mut worst),
            EventKind::HangDetected { .. } => raise(Outcome::Hang, Some(i), &mut worst),
            EventKind::Crashed { .. } => raise(Outcome::Crashed, Some(i), &mut worst),
            _ => {}
        }
    }
    for a in report.mail_data_archived() {
        if !a.verdict.is_consistent() {
            let at = report.timeline().iter().position(|e| {
                matches!(e.kind, EventKind::Archived { .. })
                    && e.night == a.night
                    && e.path.as_ref() == Some(&a.path)
            });
            raise(Outcome::Corrupted, at, &mut worst);
        }
    }
    worst
}

/// Checks every invariant; the first one broken is returned.
pub fn check(report: &Report) -> Result<(), Violation> {
    let tl = report.timeline();

    // No acknowledged delivery lost.
    if report.metrics().messages_lost > 0 {
        let lost = report.lost_messages().first().copied();
        let at = lost.and_then(|id| {
            tl.iter().position(
                |e| matches!(e.kind, EventKind::Delivered { message_id, .. } if message_id == id),
            )
        });
        return Err(Violation::new(
            Invariant::NoAcknowledgedDeliveryLost,
            at,
            format!(
                "{} acknowledged deliveries are missing from the live file (first: message {})",
                report.metrics().messages_lost,
                lost.map_or_else(|| "?".to_owned(), |id| id.to_string())
            ),
        ));
    }

    // The outcome matches the timeline.
    let (shown, at) = outcome_from_timeline(report);
    if shown != report.outcome() {
        return Err(Violation::new(
            Invariant::OutcomeMatchesTimeline,
            at,
            format!(
                "the report says {} but the timeline shows {shown}",
                report.outcome()
            ),
        ));
    }

    // Nothing opened Mail Data while the server held it ⇒ clean (a fault
    // that crashes the server is its own cause).
    let foreign = tl
        .iter()
        .any(|e| matches!(e.kind, EventKind::ForeignAccess { .. }));
    if !foreign && !matches!(report.outcome(), Outcome::Clean | Outcome::Crashed) {
        return Err(Violation::new(
            Invariant::NoForeignAccessMeansClean,
            at,
            format!(
                "nothing opened the data file while the server held it, yet the night is {}",
                report.outcome()
            ),
        ));
    }

    // Every archived copy judged, and the timeline agrees with the archive.
    let archived: Vec<(usize, &Event)> = tl
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.kind, EventKind::Archived { .. }))
        .collect();
    if archived.len() != report.archive().len() {
        return Err(Violation::new(
            Invariant::EveryArchivedCopyJudged,
            archived.last().map(|a| a.0),
            format!(
                "{} files archived on the timeline but {} in the archive",
                archived.len(),
                report.archive().len()
            ),
        ));
    }
    for a in report.archive() {
        let on_timeline = archived
            .iter()
            .any(|(_, e)| e.night == a.night && e.path.as_ref() == Some(&a.path));
        if !on_timeline {
            return Err(Violation::new(
                Invariant::EveryArchivedCopyJudged,
                None,
                format!(
                    "{} is in the archive of night {} but was never archived",
                    a.path, a.night
                ),
            ));
        }
    }

    // No wait without a bound.
    check_waits(report)
}

/// Checks that the night was *sound* — what a backup policy is for, on top
/// of what every night keeps ([`check`], checked first):
///
/// 1. the backup never opened the live data file while the server held it
///    ([`Invariant::BackupNeverOpenedLiveFile`]);
/// 2. the server never shut down or hung because of the backup
///    ([`Invariant::ServerNeverStoppedByBackup`]);
/// 3. no archived copy of Mail Data is torn ([`Invariant::NoTornCopy`]).
///
/// [`check`] allows a shutdown, a hang or a torn copy whenever something
/// opened the live file, because that is what the server does when it is
/// opened: it checks mailsim. `check_sound` checks your policy. The first
/// property broken is returned, pointing at the timeline event that shows
/// it (the backup's open of the live file, the shutdown or the hang, the
/// archiving of the torn copy). A night that archives no Mail Data at all
/// (an exclusion, a busy file skipped) is sound: the recovery point is
/// another question ([`crate::Metrics::recovery_point_age`]).
///
/// ```
/// use mailsim::invariants::{Invariant, check_sound};
/// use mailsim::policy::{CopyOnWrite, LiveRead};
/// use mailsim::{ConflictBehavior, Scenario};
///
/// let kb = Scenario::kb98097().seed(7).conflict_behavior(ConflictBehavior::Shutdown);
/// assert!(check_sound(&kb.clone().snapshot(CopyOnWrite).run()?).is_ok());
/// let broken = check_sound(&kb.snapshot(LiveRead).run()?).unwrap_err();
/// assert_eq!(broken.invariant, Invariant::BackupNeverOpenedLiveFile);
/// # Ok::<(), mailsim::Error>(())
/// ```
pub fn check_sound(report: &Report) -> Result<(), Violation> {
    check(report)?;
    let tl = report.timeline();
    let live = report.live_path();
    if let Some(noticed) = tl
        .iter()
        .position(|e| matches!(e.kind, EventKind::ForeignAccess { .. }))
    {
        // Point at the open that the server noticed, when it is there.
        let open = tl[..=noticed]
            .iter()
            .rposition(|e| matches!(e.kind, EventKind::Opened) && e.path.as_ref() == Some(live));
        let by = match &tl[noticed].kind {
            EventKind::ForeignAccess { by } => by.clone(),
            _ => String::new(),
        };
        return Err(Violation::new(
            Invariant::BackupNeverOpenedLiveFile,
            Some(open.unwrap_or(noticed)),
            format!(
                "{by} opened the live {} while the server held it (night {})",
                live.name(),
                tl[noticed].night
            ),
        ));
    }
    if let Some(i) = tl.iter().position(|e| {
        matches!(
            e.kind,
            EventKind::ShutDown { .. } | EventKind::Hung | EventKind::HangDetected { .. }
        )
    }) {
        return Err(Violation::new(
            Invariant::ServerNeverStoppedByBackup,
            Some(i),
            format!(
                "the server stopped serving because of the backup: {}",
                tl[i]
            ),
        ));
    }
    if let Some(a) = report
        .mail_data_archived()
        .find(|a| !a.verdict.is_consistent())
    {
        let at = tl.iter().position(|e| {
            matches!(e.kind, EventKind::Archived { .. })
                && e.night == a.night
                && e.path.as_ref() == Some(&a.path)
        });
        return Err(Violation::new(
            Invariant::NoTornCopy,
            at,
            format!(
                "the copy of {} archived on night {} is torn: it equals no state the file held",
                a.path, a.night
            ),
        ));
    }
    Ok(())
}

fn check_waits(report: &Report) -> Result<(), Violation> {
    let tl = report.timeline();
    let ends_later = |i: usize, ends: &dyn Fn(&Event) -> bool| tl[i + 1..].iter().any(ends);
    for (i, e) in tl.iter().enumerate() {
        let same_path = |x: &Event| x.path == e.path;
        let unbounded = match &e.kind {
            EventKind::Busy { .. } | EventKind::WaitingForIdle { .. } => !ends_later(i, &|x| {
                same_path(x)
                    && matches!(
                        x.kind,
                        EventKind::Opened
                            | EventKind::SkippedBusy { .. }
                            | EventKind::IdleTimeout
                            | EventKind::BackupFailed { .. }
                    )
            }),
            EventKind::Paused { .. } => !ends_later(i, &|x| {
                matches!(
                    x.kind,
                    EventKind::Resumed | EventKind::Crashed { .. } | EventKind::Restarted { .. }
                )
            }),
            EventKind::PlannedStop
            | EventKind::ShutDown { .. }
            | EventKind::Hung
            | EventKind::Crashed { .. } => !ends_later(i, &|x| {
                matches!(
                    x.kind,
                    EventKind::PlannedStart
                        | EventKind::Restarted { .. }
                        | EventKind::ServerStarted { .. }
                )
            }),
            _ => false,
        };
        if unbounded {
            return Err(Violation::new(
                Invariant::NoUnboundedWait,
                Some(i),
                format!("a wait that never ends: {e}"),
            ));
        }
    }
    Ok(())
}
