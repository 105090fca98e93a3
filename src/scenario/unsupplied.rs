//! Policies a scenario file or a replay token names but cannot build: a
//! user's own. A scenario holding one loads, keeps the name (a file saved
//! again names it again), and refuses to run until the caller supplies the
//! policy with `Scenario::snapshot` or `Scenario::exclusion`.

use std::any::Any;
use std::sync::Arc;

use super::Options;
use crate::error::{Error, Result};
use crate::policy::find_in_combination;
use crate::policy::{
    ExclusionPolicy, Failure, NightInfo, Prepared, ServerControl, SnapshotPolicy, SnapshotSession,
};
use crate::volume::VolumePath;

/// A snapshot policy known by its name only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnsuppliedSnapshot {
    pub(crate) name: String,
}

impl SnapshotPolicy for UnsuppliedSnapshot {
    fn name(&self) -> &str {
        &self.name
    }

    fn begin_night(&self, _: &NightInfo) -> Box<dyn SnapshotSession> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// Never reached: a scenario holding an unsupplied policy does not run.
/// Were it reached, the backup would skip the file, never read it live.
impl SnapshotSession for UnsuppliedSnapshot {
    fn before_live_file(&mut self, _: &mut dyn ServerControl, _: &VolumePath) -> Result<Prepared> {
        Ok(Prepared::GiveUp(Failure {
            reason: format!("the policy {:?} was not supplied", self.name),
            retryable: false,
        }))
    }
}

/// An exclusion policy known by its name (its `Debug` form) only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnsuppliedExclusion {
    pub(crate) name: String,
}

/// Never reached (see [`UnsuppliedSnapshot`]); it would exclude nothing.
impl ExclusionPolicy for UnsuppliedExclusion {
    fn excludes(&self, _: &VolumePath) -> bool {
        false
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The name of the exclusion `p` is, if it is one named but not held.
fn unsupplied_name(p: &Arc<dyn ExclusionPolicy>) -> Option<String> {
    p.as_any()?
        .downcast_ref::<UnsuppliedExclusion>()
        .map(|u| u.name.clone())
}

/// The names of the snapshot policy and the exclusion that `o` would hold
/// once saved and read back (in a file or a token) but cannot build: the
/// user's own, to be supplied.
#[cfg(feature = "proptest")]
pub(crate) fn own_policies(o: &Options) -> (Option<String>, Option<String>) {
    let snapshot = match o.snapshot.as_any() {
        None => Some(o.snapshot.name().to_owned()),
        Some(a) => a
            .downcast_ref::<UnsuppliedSnapshot>()
            .map(|u| u.name.clone()),
    };
    let exclusion = find_in_combination(&o.exclusion, &|p| match p.as_any() {
        None => Some(format!("{p:?}")),
        Some(_) => unsupplied_name(p),
    });
    (snapshot, exclusion)
}

/// Refuses a scenario that names a policy it does not hold.
pub(super) fn check(o: &Options) -> Result<()> {
    if let Some(u) = o
        .snapshot
        .as_any()
        .and_then(|a| a.downcast_ref::<UnsuppliedSnapshot>())
    {
        return Err(Error::invalid(
            "snapshot",
            format!(
                "the scenario names the snapshot policy {:?}, which is not built in: supply it with Scenario::snapshot before running",
                u.name
            ),
        ));
    }
    if let Some(name) = find_in_combination(&o.exclusion, &unsupplied_name) {
        return Err(Error::invalid(
            "exclusions",
            format!(
                "the scenario names the exclusion {name:?}, which is not built in: supply it with Scenario::exclusion before running"
            ),
        ));
    }
    Ok(())
}
