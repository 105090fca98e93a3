//! What a night came to: the [`Outcome`], the [`Metrics`], a [`Verdict`] for
//! every archived file, and the timeline of [`Event`]s; serialized by
//! [`Report::to_json`] in one versioned schema.
//!
//! What does not live here: how a night is run (the runners) or judged (the
//! oracle); a report only carries the results.

pub(crate) mod html;
mod json;
mod svg;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

pub use crate::event::{
    Actor, Event, EventKind, RequestKind, Timeline, Unavailable, WaitLink, WriterState,
};
pub use json::SCHEMA_VERSION;

use crate::chooser::Choices;
use crate::scenario::Scenario;
use crate::time::SimTime;
use crate::volume::VolumePath;

/// How a night ended, in order of severity: the most severe that happened wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The server never shut down or hung because of the backup, and every
    /// archived copy of Mail Data is consistent.
    Clean,
    /// In reaction to a foreign access, the server shut itself down.
    GracefulShutdown,
    /// In reaction to a foreign access, the server stopped answering while
    /// still holding its data file, for longer than the hang threshold.
    Hang,
    /// An injected fault killed the server (see `mailsim::sim::Fault`).
    Crashed,
    /// An archived copy of Mail Data equals no state the file held between
    /// transactions.
    Corrupted,
}

impl Outcome {
    /// Every outcome, least severe first.
    pub const ALL: [Outcome; 5] = [
        Outcome::Clean,
        Outcome::GracefulShutdown,
        Outcome::Hang,
        Outcome::Crashed,
        Outcome::Corrupted,
    ];

    /// The name used in JSON and on the command line: `clean`,
    /// `graceful_shutdown`, `hang`, `crashed`, `corrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::GracefulShutdown => "graceful_shutdown",
            Outcome::Hang => "hang",
            Outcome::Crashed => "crashed",
            Outcome::Corrupted => "corrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Clean => "clean",
            Outcome::GracefulShutdown => "graceful shutdown",
            Outcome::Hang => "hang",
            Outcome::Crashed => "crashed",
            Outcome::Corrupted => "corrupted",
        })
    }
}

/// What a night cost and what it saved.
///
/// Non-exhaustive: metrics may be added, so outside mailsim read its fields
/// (or start from `Metrics::default()`) rather than build it whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// All time the server was not serving: `planned_downtime + unplanned_downtime`.
    pub server_downtime: Duration,
    /// Stops and pauses a policy asked for.
    pub planned_downtime: Duration,
    /// Shutdown or hang, until the administrator restarted the server.
    pub unplanned_downtime: Duration,
    /// Acknowledged deliveries missing from the live file (always 0).
    pub messages_lost: u64,
    /// Deliveries acknowledged to their senders.
    pub deliveries_acknowledged: u64,
    /// Requests that found the server down, hung or paused.
    pub deliveries_deferred: u64,
    /// `None` when Mail Data (or a copy of it) was not archived; otherwise the
    /// time from the moment the archived copy was taken to the end of the backup.
    pub recovery_point_age: Option<Duration>,
    /// Files copied into the backup set.
    pub files_archived: u64,
    /// Files skipped because of an exclusion (each file inside an excluded
    /// folder counts).
    pub files_excluded: u64,
    /// Files skipped because a writer held them, or they never went quiet.
    pub files_skipped_busy: u64,
    /// Live files skipped because the snapshot policy gave up.
    pub files_skipped_snapshot: u64,
    /// Files the backup could not read (an I/O error).
    pub files_failed: u64,
    /// Bytes copied into the backup set.
    pub bytes_archived: u64,
}

/// The oracle's judgement of an archived copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The copy equals a state the file held between transactions.
    Consistent {
        /// The data file's generation in that state (0 for files the model
        /// never writes).
        generation: u64,
        /// How old the archived state is at the end of the backup. For
        /// Mail Data or a copy of it: from the moment the copy was taken
        /// ([`ArchivedFile::taken_at`]: when a snapshot or copy-aside was
        /// made, or when the backup started reading the live file) to the
        /// end of the backup, so a stale copy is more than a day old. For a
        /// file the night never writes (generation 0): from the later of its
        /// last modification and the start of its night, the state it held
        /// all night, to the end of the backup.
        age: Duration,
        /// The copy was taken on an earlier night.
        stale: bool,
    },
    /// The copy equals no state the file ever held.
    Torn,
}

/// As the command's summary and the night's page say it: `consistent,
/// generation 52216, taken 5 min 48 s before the end of the backup` (and
/// `, stale (taken on an earlier night)`), or `TORN: equals no state the
/// file ever held`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Consistent {
                generation,
                age,
                stale,
            } => {
                write!(
                    f,
                    "consistent, generation {generation}, taken {} before the end of the backup",
                    crate::time::human_duration(*age)
                )?;
                if *stale {
                    f.write_str(", stale (taken on an earlier night)")?;
                }
                Ok(())
            }
            Verdict::Torn => f.write_str("TORN: equals no state the file ever held"),
        }
    }
}

impl Verdict {
    /// Whether the copy is consistent.
    pub fn is_consistent(&self) -> bool {
        matches!(self, Verdict::Consistent { .. })
    }
}

/// One file in the backup set.
///
/// Non-exhaustive: fields may be added; reports build it, users read it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchivedFile {
    /// Where the backup read it (a snapshot is archived under the live path).
    pub path: VolumePath,
    /// Bytes archived.
    pub len_bytes: u64,
    /// Whether this is Mail Data or a copy of it.
    pub mail_data: bool,
    /// The 1-based night whose backup archived it.
    pub night: u32,
    /// When the archived copy was taken: for Mail Data or a copy of it,
    /// when a snapshot or copy-aside was made, or when the backup started
    /// reading the live file; for a file nobody writes, its last
    /// modification (for the preset's files, the start of virtual time:
    /// midnight of the day the first night begins, hours before it does).
    pub taken_at: SimTime,
    /// The oracle's judgement.
    pub verdict: Verdict,
}

/// Everything a run found: outcome, metrics, archive verdicts and timeline.
///
/// [`Report`], [`Metrics`], [`ArchivedFile`], [`Verdict`] and [`Outcome`]
/// implement `serde::Serialize` as their parts of the schema of
/// [`Report::to_json`].
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) outcome: Outcome,
    pub(crate) seed: u64,
    pub(crate) choices: Choices,
    /// The same choices, each stream's kept apart (the replay token's).
    pub(crate) streams: Choices,
    /// The scenario that ran, without a record to replay.
    pub(crate) scenario: Scenario,
    pub(crate) metrics: Metrics,
    pub(crate) archive: Vec<ArchivedFile>,
    pub(crate) timeline: Vec<Event>,
    pub(crate) nights: u32,
    pub(crate) events_processed: u64,
    pub(crate) lost: Vec<u64>,
    pub(crate) behavior: String,
    pub(crate) snapshot: String,
    pub(crate) open_files: String,
    /// Where the live data file is.
    pub(crate) live: VolumePath,
}

impl Report {
    /// Where the live data file is (`Server HD:System Folder:Extensions:Microsoft Mail Data`
    /// in the preset).
    pub fn live_path(&self) -> &VolumePath {
        &self.live
    }

    /// The most severe outcome of the run.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The seed the run was drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every choice the run made, in the order made: replay it to get
    /// this report again.
    pub fn choices(&self) -> &Choices {
        &self.choices
    }

    /// The same choices, each [`Stream`](crate::chooser::Stream)'s kept
    /// apart: what a shrinker edits, and what the replay token holds.
    pub fn streamed_choices(&self) -> &Choices {
        &self.streams
    }

    /// The night as one short printable line: the scenario's settings
    /// (those that differ from the KB preset), its policies' names and the
    /// choices. [`Scenario::from_replay_token`] rebuilds it, and
    /// `mailsim run --replay TOKEN` replays it; a policy of your own is
    /// supplied with [`Scenario::snapshot`]:
    ///
    /// ```
    /// use mailsim::Scenario;
    /// let report = Scenario::kb98097().seed(3).run()?;
    /// let token = report.replay_token();
    /// assert!(token.starts_with("mailsim1.") && !token.contains(char::is_whitespace));
    /// assert_eq!(Scenario::from_replay_token(&token)?.run()?.to_json(), report.to_json());
    /// # Ok::<(), mailsim::Error>(())
    /// ```
    pub fn replay_token(&self) -> String {
        self.scenario.to_replay_token(&self.streams)
    }

    /// Costs and counts.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every archived file, with the oracle's verdict.
    pub fn archive(&self) -> &[ArchivedFile] {
        &self.archive
    }

    /// The archived copies of Mail Data (the live file, a snapshot of it, or a
    /// copy-aside).
    pub fn mail_data_archived(&self) -> impl Iterator<Item = &ArchivedFile> {
        self.archive.iter().filter(|a| a.mail_data)
    }

    /// What happened, in order.
    pub fn timeline(&self) -> &[Event] {
        &self.timeline
    }

    /// Discrete events the runner processed (arrivals, backup steps, …):
    /// the unit of the simulator's speed.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Ids of acknowledged deliveries missing from the live file at the end
    /// (always empty: see [`Metrics::messages_lost`]).
    pub fn lost_messages(&self) -> &[u64] {
        &self.lost
    }

    /// Why the server hung, when it did: the wait-for chain of the first
    /// hang detected — who waits for what, held by whom, since when.
    pub fn hang_chain(&self) -> Option<&[WaitLink]> {
        self.timeline.iter().find_map(|e| match &e.kind {
            EventKind::HangDetected { chain, .. } => Some(chain.as_slice()),
            _ => None,
        })
    }

    /// Number of nights run.
    pub fn nights(&self) -> u32 {
        self.nights
    }

    /// The whole timeline as plain narration, one event per line.
    pub fn narrate(&self) -> String {
        let mut out = String::new();
        for e in &self.timeline {
            use std::fmt::Write as _;
            let _ = writeln!(out, "{e}");
        }
        out
    }

    /// The report in the versioned JSON schema (see [`SCHEMA_VERSION`]):
    /// its `serde::Serialize` impl, printed with object keys sorted, so that
    /// `serde_json::to_value(&report)` is the value this prints.
    pub fn to_json(&self) -> String {
        json::to_json(self)
    }

    /// The night as a picture: an SVG timeline with a lane for the Mail
    /// Server (serving, paused, stopped, shut down, hung), MS Mail Backup,
    /// Retrospect Remote and the mail traffic, each foreign access marked
    /// by a line of class `conflict`, a time axis and a legend.
    /// Deterministic, self-contained, 1200 pixels wide.
    pub fn to_svg(&self) -> String {
        svg::render(self)
    }

    /// The night as a web page: one self-contained HTML document (styles
    /// and the picture of [`Report::to_svg`] inline, no script, nothing
    /// fetched) with the outcome, the scenario's policies, the summary of
    /// the metrics and of the archived copies of Mail Data, the picture,
    /// and the whole timeline narrated one event a line (each run of
    /// routine mail traffic folded under a line that counts it). Its
    /// colours follow the reader's light or dark scheme, and it prints.
    ///
    /// ```
    /// let report = mailsim::Scenario::kb98097().seed(7).run()?;
    /// let page = report.to_html();
    /// assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg "));
    /// # Ok::<(), mailsim::Error>(())
    /// ```
    pub fn to_html(&self) -> String {
        html::render(self)
    }
}
