//! The fast path: an abstract model of the night for the built-in snapshot
//! policies (recognised by type), exact for the outcome and nothing more;
//! see the module docs of `explore` ("The abstraction, and why it is fast").
//! A differential test keeps it agreeing with the night itself.
//!
//! The model here (`model`: its states, the edges out of each, the steps
//! along them) is run two ways (`search`): searched depth first over every
//! state, and replayed along one path of choices.

use crate::backup::OpenFilePolicy;
use crate::error::{Error, Result};
use crate::policy::{OnlineCopy, ScheduledCopy};
use crate::server::ConflictBehavior;
use crate::sim::{Scenario, mail_data_path};

use super::{Bounds, RESTART_BITS};

mod model;
mod search;

pub(super) use search::search;

/// The snapshot policies the model knows: the built-ins at their defaults,
/// recognised by type ([`SnapshotPolicy::as_any`](crate::policy::SnapshotPolicy::as_any)),
/// never by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Policy {
    LiveRead,
    StopServer,
    ScheduledCopy,
    CopyOnWrite,
    FreezeThaw,
    OnlineCopy,
}

impl Policy {
    /// The built-in `policy` is, at the defaults the model assumes; `None`
    /// for a policy of one's own, or a built-in with other knobs (the night
    /// itself explores those).
    pub(super) fn of(policy: &dyn crate::policy::SnapshotPolicy) -> Option<Policy> {
        use crate::policy as p;
        let any = policy.as_any()?;
        if any.is::<p::LiveRead>() {
            Some(Policy::LiveRead)
        } else if any.downcast_ref::<p::StopServer>() == Some(&p::StopServer::default()) {
            Some(Policy::StopServer)
        } else if any.downcast_ref::<p::ScheduledCopy>() == Some(&p::ScheduledCopy::default()) {
            Some(Policy::ScheduledCopy)
        } else if any.is::<p::CopyOnWrite>() {
            Some(Policy::CopyOnWrite)
        } else if any.downcast_ref::<p::FreezeThaw>() == Some(&p::FreezeThaw::default()) {
            Some(Policy::FreezeThaw)
        } else if any.downcast_ref::<p::OnlineCopy>() == Some(&p::OnlineCopy::default()) {
            Some(Policy::OnlineCopy)
        } else {
            None
        }
    }
}

/// The open-file policy, as far as the model cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    IgnoreLocks,
    RespectLocks,
    WaitForIdle,
}

/// The question, fixed by a scenario and bounds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Model {
    transactions: u32,
    pages: u32,
    /// "No later rewrite": one past the last generation.
    inf: u32,
    conflict: Option<ConflictBehavior>,
    policy: Policy,
    gate: Gate,
    /// Mail Data is excluded from the backup.
    excluded: bool,
    /// The backup archives the scheduled copy.
    archive_aside: bool,
    max_restarts: u32,
    /// Bits per generation or page number in a key.
    bits: u32,
}

impl Model {
    pub(super) fn new(scenario: &Scenario, bounds: Bounds) -> Result<Model> {
        super::check_bounds(bounds)?;
        let policy = Policy::of(&**scenario.snapshot_policy()).ok_or_else(|| {
            Error::invalid(
                "snapshot",
                "the fast path models the built-in snapshot policies at their defaults",
            )
        })?;
        let exclusion = scenario.exclusion_policy();
        Ok(Model {
            transactions: bounds.transactions,
            pages: bounds.pages,
            inf: bounds.transactions + 1,
            conflict: scenario.conflict(),
            policy,
            gate: match scenario.open_file_policy() {
                OpenFilePolicy::IgnoreLocks => Gate::IgnoreLocks,
                OpenFilePolicy::RespectLocks { .. } => Gate::RespectLocks,
                OpenFilePolicy::WaitForIdle { .. } => Gate::WaitForIdle,
            },
            excluded: exclusion.excludes(&mail_data_path()),
            archive_aside: policy == Policy::ScheduledCopy
                && !exclusion.excludes(&ScheduledCopy::default().copy_path(1)),
            max_restarts: OnlineCopy::default()
                .max_restarts
                .min((1 << RESTART_BITS) - 1),
            bits: u32::BITS - (bounds.transactions + 1).max(bounds.pages).leading_zeros(),
        })
    }
}
