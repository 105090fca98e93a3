//! The vocabulary of a night: who acts ([`Actor`]), what happens
//! ([`EventKind`], [`RequestKind`], [`Unavailable`], [`WriterState`]), the
//! [`Event`]s actors append to the [`Timeline`] as they act, and the
//! wait-for chain of a hang ([`WaitLink`]).
//!
//! The actors (server, backup client, snapshot policies) and the night's
//! rules speak it; the report carries it and narrates it. What does not live
//! here: the report itself, its outcome and metrics (`report`).

mod kinds;
mod timeline;

pub use kinds::{Actor, Event, EventKind, RequestKind, Unavailable, WaitLink, WriterState};
pub use timeline::Timeline;

use crate::time::SimTime;
use crate::volume::VolumePath;

/// The wait-for chain of a hung server: the clients wait for answers the
/// hung server holds back; the server holds its data file and answers
/// nothing since the backup's open; the administrator ends it.
pub(crate) fn hang_chain(
    live: &VolumePath,
    hung_since: SimTime,
    deferred: u64,
    opened_by: &str,
    admin_at: SimTime,
) -> Vec<WaitLink> {
    let mut chain = Vec::new();
    if deferred > 0 {
        chain.push(WaitLink {
            waiter: "mail clients".to_owned(),
            resource: format!(
                "answers to {deferred} deferred request{}",
                if deferred == 1 { "" } else { "s" }
            ),
            holder: "the Mail Server".to_owned(),
            since: hung_since,
        });
    }
    let who = if opened_by.is_empty() {
        "another process"
    } else {
        opened_by
    };
    chain.push(WaitLink {
        waiter: "the Mail Server".to_owned(),
        resource: format!("nothing (it stopped answering when {who} opened its data file)"),
        holder: format!("itself, still holding {live} for reading and writing"),
        since: hung_since,
    });
    chain.push(WaitLink {
        waiter: format!("{live}"),
        resource: "its holder to let go".to_owned(),
        holder: format!("the hung Mail Server until the administrator restarts it at {admin_at}"),
        since: hung_since,
    });
    chain
}
