//! The timeline actors write into while a night runs.

use super::{Actor, Event, EventKind};
use crate::time::SimTime;
use crate::volume::VolumePath;

/// Events of a run, appended by the actors as they act.
#[derive(Debug, Default)]
pub struct Timeline {
    pub(crate) night: u32,
    pub(crate) events: Vec<Event>,
}

impl Timeline {
    /// An empty timeline for night 1.
    pub fn new() -> Timeline {
        Timeline {
            night: 1,
            events: Vec::new(),
        }
    }

    /// The events so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Appends an event.
    pub fn push(
        &mut self,
        time: SimTime,
        actor: Actor,
        kind: EventKind,
        path: Option<&VolumePath>,
    ) {
        self.events.push(Event {
            time,
            night: self.night,
            actor,
            kind,
            path: path.cloned(),
        });
    }
}
