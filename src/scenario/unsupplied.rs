//! Policies a scenario file or a replay token names but cannot build: a
//! user's own. A scenario holding one loads, keeps the name (a file saved
//! again names it again), and refuses to run until the caller supplies the
//! policy with `Scenario::snapshot` or `Scenario::exclusion`.

use std::any::Any;
use std::sync::Arc;

use super::Options;
use crate::error::{Error, Result};
use crate::policy::{
    ExcludeAny, ExclusionPolicy, Failure, NightInfo, Prepared, ServerControl, SnapshotPolicy,
    SnapshotSession,
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

/// The first exclusion `p` names without holding it.
fn missing_exclusion(p: &Arc<dyn ExclusionPolicy>) -> Option<&str> {
    let any = p.as_any()?;
    if let Some(u) = any.downcast_ref::<UnsuppliedExclusion>() {
        return Some(&u.name);
    }
    any.downcast_ref::<ExcludeAny>()?
        .policies()
        .iter()
        .find_map(missing_exclusion)
}

/// The names of the snapshot policy and the exclusion that `o` would hold
/// once saved and read back (in a file or a token) but cannot build: the
/// user's own, to be supplied.
#[cfg(feature = "proptest")]
pub(crate) fn own_policies(o: &Options) -> (Option<String>, Option<String>) {
    fn own_exclusion(p: &Arc<dyn ExclusionPolicy>) -> Option<String> {
        let Some(any) = p.as_any() else {
            return Some(format!("{p:?}"));
        };
        if let Some(u) = any.downcast_ref::<UnsuppliedExclusion>() {
            return Some(u.name.clone());
        }
        any.downcast_ref::<ExcludeAny>()?
            .policies()
            .iter()
            .find_map(own_exclusion)
    }
    let snapshot = match o.snapshot.as_any() {
        None => Some(o.snapshot.name().to_owned()),
        Some(a) => a
            .downcast_ref::<UnsuppliedSnapshot>()
            .map(|u| u.name.clone()),
    };
    (snapshot, own_exclusion(&o.exclusion))
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
    if let Some(name) = missing_exclusion(&o.exclusion) {
        return Err(Error::invalid(
            "exclusions",
            format!(
                "the scenario names the exclusion {name:?}, which is not built in: supply it with Scenario::exclusion before running"
            ),
        ));
    }
    Ok(())
}
