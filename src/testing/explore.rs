//! Exhaustive exploration of small nights: every interleaving of the mail
//! server's commits with the backup's page reads, within bounds, with state
//! deduplication.
//!
//! [`explore`] visits every reachable state of a scenario's night at page
//! granularity, depth first, and returns how many distinct states it saw, the
//! outcomes of its terminal states, a replayable path to each outcome and the
//! first invariant violation. [`explore_until`] stops at the first terminal
//! state whose outcome you ask for; [`replay_explored`] follows a path and
//! narrates it. Together they prove, within bounds, what random nights can
//! only suggest: that [`CopyOnWrite`](crate::policy::CopyOnWrite) and
//! [`StopServer`](crate::policy::StopServer) never archive a torn copy, while a
//! server that tolerates the backup's open under
//! [`LiveRead`](crate::policy::LiveRead) sometimes does.
//!
//! ```
//! use mailsim::policy::{CopyOnWrite, LiveRead};
//! use mailsim::testing::{Bounds, explore, explore_until, replay_explored};
//! use mailsim::{ConflictBehavior, Outcome, Scenario};
//!
//! let tolerate = Scenario::kb98097().conflict_behavior(ConflictBehavior::Tolerate);
//! let bounds = Bounds::new(5, 4); // 5 transactions, a 4-page file
//!
//! // Every night under copy-on-write: none is corrupted.
//! let proof = explore(&tolerate.clone().snapshot(CopyOnWrite), bounds)?;
//! assert!(proof.complete);
//! assert!(!proof.terminal.contains_key(&Outcome::Corrupted));
//!
//! // Reading the live file: a torn copy exists, and its path replays.
//! let live = tolerate.snapshot(LiveRead);
//! let found = explore_until(&live, bounds, |o| o == Outcome::Corrupted)?;
//! let path = &found.examples[&Outcome::Corrupted];
//! let night = replay_explored(&live, bounds, path)?;
//! assert_eq!(night.outcome, Outcome::Corrupted);
//! println!("{}", night.narrate());
//! # Ok::<(), mailsim::Error>(())
//! ```
//!
//! # The model
//!
//! Mail Data is a file of `P` pages ([`Bounds::pages`]): page 0 the header,
//! pages `1..P` data. The server commits `W` transactions
//! ([`Bounds::transactions`]); transaction `w` (1-based) rewrites the header
//! and data page `1 + (w - 1) mod (P - 1)` (with `P = 1`, the header only) and
//! makes the generation `w`. The backup opens the file and copies its pages in
//! order, one page per step. At every state the enabled moves are listed in a
//! fixed order — the server (a commit, or the administrator's restart of a
//! server that is down or hung), then the backup's next step, then the
//! scheduled copy — and a [`Choices`] index picks one; the KB's draw (shut
//! down or hang) is a second choice of two options at the foreign access. A
//! choice with one option is not recorded, as in [`crate::chooser`].
//!
//! A copy is judged by the oracle's rule: each copied page holds a version
//! whose interval runs from the transaction that wrote it to the next one
//! that rewrites that page; the copy is consistent when all its intervals
//! share a generation, and torn otherwise.
//!
//! The scenario decides the rest:
//!
//! - **Conflict behavior.** The server reacts to the backup's open of the
//!   live file at once, before the first read (the simulator's promise):
//!   `Shutdown` stops committing (the remaining transactions are committed
//!   after the administrator's restart, once the backup is done); `Hang`
//!   stops answering while holding the file, past the hang threshold, until
//!   the administrator; `Tolerate` keeps committing between the reads. With
//!   no fixed behavior ([`Scenario::kb_conflict`]) both reactions are
//!   explored, whatever the probability.
//! - **Open files.** `IgnoreLocks` opens the file (a foreign access if the
//!   server holds it); `RespectLocks` finds the server holding it and skips
//!   it as busy, whatever its retries; `WaitForIdle` opens only when the
//!   file is quiet — at a step that follows a step that was not a commit, or
//!   once the server has nothing left to commit: its quiet period, at the
//!   granularity of steps — and, when its step comes while the file is not
//!   quiet, gives up (its timeout) and skips the file as busy. Before the
//!   backup starts the server's only steps are commits, so under `live read`
//!   it opens before the first commit or after the last (or right after the
//!   scheduled copy), and gives up otherwise.
//! - **Exclusion.** When the exclusion policy excludes
//!   [`mail_data_path`], the backup never touches the live file.
//! - **Snapshot policy**, by [`name`](crate::policy::SnapshotPolicy::name):
//!   `live read` reads the live file; `copy-on-write` and `freeze/thaw` take
//!   an image of the current generation at the open, atomically (freeze/thaw
//!   holds the server's writes for that step only) and copy the image;
//!   `stop server` stops the server at the open and restarts it when the copy
//!   is done; `online copy` reads live pages through the server's own handle
//!   (no foreign access), restarts from page 0 whenever a commit landed since
//!   its previous step, and gives up after
//!   [`OnlineCopy::default().max_restarts`](crate::policy::OnlineCopy)
//!   restarts (the file is skipped: clean, nothing archived); `scheduled
//!   copy` copies the whole file aside atomically at a step of its choosing
//!   before the backup starts, and the backup archives that copy (unless an
//!   exclusion covers "Mail Data Backup #1") and, unless Mail Data is
//!   excluded, also opens the live file as `live read` does.
//!
//! A state is terminal when nothing is left to do: every transaction
//! committed, the backup finished or skipped. Its outcome is `Corrupted` if an
//! archived copy is torn, else `Hang`, else `GracefulShutdown`, else `Clean`.
//! Every terminal state is checked against the invariants that apply here —
//! no committed transaction lost ([`Invariant::NoAcknowledgedDeliveryLost`]),
//! no foreign access ⇒ clean ([`Invariant::NoForeignAccessMeansClean`]), no
//! copy left unjudged ([`Invariant::EveryArchivedCopyJudged`]) — and the first
//! violation becomes the [`Counterexample`].
//!
//! # The abstraction, and why it is fast
//!
//! The simulated night has clocks, traffic, message sizes and a file format;
//! none of them decides the outcome once the order of commits and reads is
//! fixed, so the model keeps only that order. Its state is exact for the
//! outcome and nothing more, packed into one integer (a `u64` up to 510
//! transactions and 512 pages, a `u128` beyond): transactions committed,
//! the server's state, the backup's phase and page position, the copy so far
//! as the one interval of generations it could still equal (the oracle's
//! rule applied page by page — once the header is copied at generation `g`
//! that interval is `[g, g + 1)`) or a torn flag, the image's generation,
//! the online copy's restarts, and a few flags (scheduled copy taken,
//! foreign access, shutdown, hang, an archived copy torn). Fields that can no
//! longer matter are cleared, so that, for instance, all the ways of reaching
//! "copy archived consistent, 7 transactions committed" are one state. The
//! search is depth first on an explicit stack (the depth is a few hundred at
//! most), and a state already seen — by any interleaving — is not explored
//! again, as in stateright; the set of seen states is a `HashSet` of those
//! keys with a multiply-xorshift hasher. `benches/explore.rs` measures it
//! against stateright's depth-first checker on the same question.
//!
//! # Limits
//!
//! - Only the built-in snapshot policies are modelled, at their defaults
//!   (their knobs — timeouts, vetoes, restarts allowed, a control panel that
//!   fails to load — change costs or which clean night it is, not whether a
//!   copy can be torn, except the restarts an online copy is allowed, which
//!   are taken from `OnlineCopy::default()`). A user's own policy is refused
//!   with [`Error::InvalidScenario`]: test it with `arb_scenario` and
//!   `check_invariants`, which run the real policy.
//! - One night, one data file, one page per read and one page per commit;
//!   time, traffic, faults and the scenario's seed play no part.
//! - States are distinct by their key: the bounds allow at most 65,534
//!   transactions and 65,535 pages, and [`Bounds::max_states`] caps the
//!   search (the result then says it is not complete).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::backup::OpenFilePolicy;
use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::invariants::{Invariant, Violation};
use crate::policy::{OnlineCopy, ScheduledCopy};
use crate::report::Outcome;
use crate::server::ConflictBehavior;
use crate::sim::{Scenario, mail_data_path};

/// Most transactions a bound may ask for.
const MAX_TRANSACTIONS: u32 = 0xFFFE;
/// Most pages a bound may ask for.
const MAX_PAGES: u32 = 0xFFFF;
/// Bits of a key for the online copy's restarts (at most 15).
const RESTART_BITS: u32 = 4;

/// How far [`explore`] may go: the night's size, and a cap on the search.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Transactions the server commits in the night (`W`), at most 65,534.
    pub transactions: u32,
    /// Pages of Mail Data (`P`): the header and `P - 1` data pages; 1 to 65,535.
    pub pages: u32,
    /// Distinct states visited at most; past it the search stops and is not
    /// [`complete`](Exploration::complete).
    pub max_states: u64,
}

impl Bounds {
    /// `transactions` commits over a file of `pages` pages, visiting at most
    /// 50,000,000 states.
    pub fn new(transactions: u32, pages: u32) -> Bounds {
        Bounds {
            transactions,
            pages,
            max_states: 50_000_000,
        }
    }

    /// Caps the distinct states visited.
    pub fn max_states(mut self, n: u64) -> Bounds {
        self.max_states = n;
        self
    }
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Distinct states visited, the initial one included.
    pub states: u64,
    /// Distinct terminal states, by outcome.
    pub terminal: BTreeMap<Outcome, u64>,
    /// The first path found to each outcome; [`replay_explored`] follows it.
    pub examples: BTreeMap<Outcome, Choices>,
    /// The first invariant violation found, if any.
    pub counterexample: Option<Counterexample>,
    /// Whether every reachable state was visited: false when
    /// [`Bounds::max_states`] stopped the search or [`explore_until`] stopped
    /// it early.
    pub complete: bool,
}

impl Exploration {
    /// Whether some terminal state had this outcome.
    pub fn reaches(&self, outcome: Outcome) -> bool {
        self.terminal.get(&outcome).is_some_and(|&n| n > 0)
    }

    /// The outcomes of the terminal states found, least severe first.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.terminal.keys().copied().collect()
    }
}

impl fmt::Display for Exploration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} states ({}); terminal:",
            self.states,
            if self.complete {
                "complete"
            } else {
                "incomplete"
            }
        )?;
        if self.terminal.is_empty() {
            f.write_str(" none")?;
        }
        for (o, n) in &self.terminal {
            write!(f, " {o} {n}")?;
        }
        if let Some(c) = &self.counterexample {
            write!(f, "; counterexample: {}", c.violation)?;
        }
        Ok(())
    }
}

/// An invariant violation and the path that reaches it.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// What is broken.
    pub violation: Violation,
    /// The path to the state that breaks it; [`replay_explored`] follows it.
    pub choices: Choices,
}

/// The oracle's verdict on a copy in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyVerdict {
    /// The copy equals the file as of this generation (the earliest, when it
    /// equals several).
    Consistent {
        /// The generation.
        generation: u32,
    },
    /// The copy equals no state the file held between transactions.
    Torn,
}

impl CopyVerdict {
    /// Whether the copy is consistent.
    pub fn is_consistent(self) -> bool {
        matches!(self, CopyVerdict::Consistent { .. })
    }
}

impl fmt::Display for CopyVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyVerdict::Consistent { generation } => {
                write!(f, "consistent as of generation {generation}")
            }
            CopyVerdict::Torn => f.write_str("torn"),
        }
    }
}

/// Where the backup read a page from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PageSource {
    /// The live file, opened by the backup.
    LiveFile,
    /// A point-in-time image (copy-on-write, freeze/thaw).
    Image,
    /// The live file through the server's own handle (online copy).
    ServerHandle,
}

/// Which copy the backup archived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArchivedCopy {
    /// Mail Data itself, or the image archived in its place.
    MailData,
    /// The scheduled copy, "Mail Data Backup #1".
    ScheduledCopy,
}

/// One step of an explored night, narrated by its `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExploredStep {
    /// The server commits transaction `transaction`, rewriting the header and
    /// data page `page` (none when the file is the header alone).
    Commit {
        /// The transaction, 1-based: also the generation it makes.
        transaction: u32,
        /// The data page it rewrites.
        page: Option<u32>,
    },
    /// The administrator restarts a server that shut down or hung.
    AdministratorRestarts {
        /// Whether the server had hung (else it had shut down).
        hung: bool,
    },
    /// MS Mail Backup copies the data file aside, atomically.
    CopiedAside {
        /// The generation copied.
        generation: u32,
    },
    /// The backup passes Mail Data by: excluded.
    Excluded,
    /// The backup skips Mail Data as busy: the server holds it.
    SkippedBusy,
    /// The backup gives up waiting for Mail Data to go quiet, and skips it.
    IdleTimeout,
    /// The snapshot policy stops the server (planned).
    PlannedStop {
        /// The generation at the stop.
        generation: u32,
    },
    /// The backup opens the live file.
    Opened {
        /// Whether the server held it: a foreign access.
        foreign: bool,
    },
    /// The server reacts to the foreign access.
    Reacted {
        /// How.
        behavior: ConflictBehavior,
    },
    /// A point-in-time image is taken.
    SnapshotTaken {
        /// Its generation.
        generation: u32,
        /// Whether the server's writes were held for it (freeze/thaw).
        frozen: bool,
    },
    /// The backup copies one page.
    CopiedPage {
        /// The page.
        page: u32,
        /// The version it held: the transaction that last wrote it (0 for
        /// the night's initial contents).
        version: u32,
        /// Where it was read.
        from: PageSource,
    },
    /// The online copy found a commit since its previous step and restarts.
    OnlineCopyRestarted {
        /// Restarts so far.
        restarts: u32,
        /// Restarts allowed.
        max_restarts: u32,
    },
    /// The online copy gives up: Mail Data is skipped.
    OnlineCopyGaveUp {
        /// Restarts made.
        restarts: u32,
    },
    /// The backup archives a copy, judged by the oracle's rule.
    Archived {
        /// Which copy.
        copy: ArchivedCopy,
        /// The verdict.
        verdict: CopyVerdict,
    },
    /// The snapshot policy restarts the server it stopped.
    PlannedStart,
    /// The backup is finished.
    BackupFinished,
}

impl fmt::Display for ExploredStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExploredStep::Commit {
                transaction,
                page: Some(page),
            } => write!(
                f,
                "the Mail Server commits transaction {transaction}: the header and page {page} (generation {transaction})"
            ),
            ExploredStep::Commit {
                transaction,
                page: None,
            } => write!(
                f,
                "the Mail Server commits transaction {transaction}: the header (generation {transaction})"
            ),
            ExploredStep::AdministratorRestarts { hung } => write!(
                f,
                "the administrator restarts the Mail Server, which had {}",
                if hung { "hung" } else { "shut down" }
            ),
            ExploredStep::CopiedAside { generation } => write!(
                f,
                "MS Mail Backup copies Mail Data aside as \"Mail Data Backup #1\", at generation {generation}"
            ),
            ExploredStep::Excluded => {
                f.write_str("Retrospect Remote passes Microsoft Mail Data by: excluded")
            }
            ExploredStep::SkippedBusy => f.write_str(
                "Retrospect Remote skips Microsoft Mail Data as busy: the Mail Server holds it",
            ),
            ExploredStep::IdleTimeout => f.write_str(
                "Retrospect Remote gives up waiting for Microsoft Mail Data to go quiet: skipped as busy",
            ),
            ExploredStep::PlannedStop { generation } => write!(
                f,
                "the snapshot policy stops the Mail Server (planned), at generation {generation}"
            ),
            ExploredStep::Opened { foreign: true } => f.write_str(
                "Retrospect Remote opens Microsoft Mail Data for reading while the Mail Server holds it: a foreign access",
            ),
            ExploredStep::Opened { foreign: false } => f.write_str(
                "Retrospect Remote opens Microsoft Mail Data for reading; nobody holds it",
            ),
            ExploredStep::Reacted { behavior } => f.write_str(match behavior {
                ConflictBehavior::Shutdown => {
                    "the Mail Server shuts down to prevent corruption; its transactions wait for the administrator"
                }
                ConflictBehavior::Hang => {
                    "the Mail Server stops answering (hangs), still holding its data file"
                }
                ConflictBehavior::Tolerate => {
                    "the Mail Server tolerates the foreign access and keeps committing"
                }
            }),
            ExploredStep::SnapshotTaken {
                generation,
                frozen: false,
            } => write!(
                f,
                "a copy-on-write image of Mail Data is taken, at generation {generation}"
            ),
            ExploredStep::SnapshotTaken {
                generation,
                frozen: true,
            } => write!(
                f,
                "freeze: the Mail Server holds its writes; a shadow copy is taken at generation {generation}; thaw"
            ),
            ExploredStep::CopiedPage {
                page,
                version,
                from,
            } => write!(
                f,
                "Retrospect Remote copies page {page} (version {version}) {}",
                match from {
                    PageSource::LiveFile => "from the live file",
                    PageSource::Image => "from the image",
                    PageSource::ServerHandle => "through the Mail Server's own handle",
                }
            ),
            ExploredStep::OnlineCopyRestarted {
                restarts,
                max_restarts,
            } => write!(
                f,
                "the Mail Server wrote during the online copy: it restarts from page 0 (restart {restarts} of {max_restarts})"
            ),
            ExploredStep::OnlineCopyGaveUp { restarts } => write!(
                f,
                "the online copy gives up after {restarts} restarts: Microsoft Mail Data is skipped"
            ),
            ExploredStep::Archived { copy, verdict } => write!(
                f,
                "Retrospect Remote archives {}: {verdict}",
                match copy {
                    ArchivedCopy::MailData => "Microsoft Mail Data",
                    ArchivedCopy::ScheduledCopy => "Mail Data Backup #1",
                }
            ),
            ExploredStep::PlannedStart => {
                f.write_str("the snapshot policy restarts the Mail Server (planned)")
            }
            ExploredStep::BackupFinished => f.write_str("Retrospect Remote finishes"),
        }
    }
}

/// One night of the model, replayed along a path by [`replay_explored`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExploredNight {
    /// What happened, in order.
    pub steps: Vec<ExploredStep>,
    /// How the night ended.
    pub outcome: Outcome,
    /// The verdict on the archived copy of Mail Data (or the image archived
    /// in its place), judged afresh from the versions of the pages copied;
    /// `None` when it was not archived.
    pub verdict: Option<CopyVerdict>,
    /// The verdict on the archived scheduled copy, when one was archived.
    pub aside_verdict: Option<CopyVerdict>,
    /// The choices the night took, as a chooser records them: clamped, one
    /// entry per choice of several options.
    pub choices: Choices,
    /// The invariant the night's last state breaks, if any.
    pub violation: Option<Violation>,
}

impl ExploredNight {
    /// The steps as plain narration, one per line.
    pub fn narrate(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = writeln!(out, "{:>4}. {s}", i + 1);
        }
        out
    }
}

/// Visits every reachable state of `scenario`'s night within `bounds`, depth
/// first with state deduplication.
///
/// # Errors
///
/// [`Error::InvalidScenario`] for a snapshot policy that is not a built-in
/// (field `snapshot`) or bounds out of range (fields `transactions`, `pages`).
pub fn explore(scenario: &Scenario, bounds: Bounds) -> Result<Exploration> {
    explore_until(scenario, bounds, |_| false)
}

/// Like [`explore`], but stops at the first terminal state whose outcome
/// satisfies `stop` (the result is then not complete, and its example for
/// that outcome is the path found).
///
/// # Errors
///
/// As [`explore`].
pub fn explore_until(
    scenario: &Scenario,
    bounds: Bounds,
    stop: impl Fn(Outcome) -> bool,
) -> Result<Exploration> {
    let model = Model::new(scenario, bounds)?;
    Ok(search(&model, bounds.max_states, &stop))
}

/// Replays a path of the model: `choices` as an explored example or
/// counterexample records them. Replay is forgiving, like
/// [`Scenario::replay`]: a value too large for its choice is clamped, and
/// past the record's end every choice is 0.
///
/// # Errors
///
/// As [`explore`].
pub fn replay_explored(
    scenario: &Scenario,
    bounds: Bounds,
    choices: &Choices,
) -> Result<ExploredNight> {
    let model = Model::new(scenario, bounds)?;
    Ok(model.replay(choices))
}

/// The snapshot policies the model knows, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    LiveRead,
    StopServer,
    ScheduledCopy,
    CopyOnWrite,
    FreezeThaw,
    OnlineCopy,
}

impl Policy {
    const NAMES: [(&'static str, Policy); 6] = [
        ("live read", Policy::LiveRead),
        ("stop server", Policy::StopServer),
        ("scheduled copy", Policy::ScheduledCopy),
        ("copy-on-write", Policy::CopyOnWrite),
        ("freeze/thaw", Policy::FreezeThaw),
        ("online copy", Policy::OnlineCopy),
    ];

    fn named(name: &str) -> Option<Policy> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, p)| p)
    }
}

/// The open-file policy, as far as the model cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    IgnoreLocks,
    RespectLocks,
    WaitForIdle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Server {
    Serving = 0,
    /// Shut down in reaction to a foreign access.
    Down = 1,
    /// Hung in reaction to a foreign access.
    Hung = 2,
    /// Stopped by the snapshot policy (planned).
    Stopped = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Idle = 0,
    Copying = 1,
    Done = 2,
}

/// A state of the night, kept canonical (see [`Model::canon`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    /// Transactions committed: the generation.
    w: u32,
    server: Server,
    phase: Phase,
    /// The next page the copy reads.
    pos: u32,
    /// The generations the copy so far could equal: `lo..hi` (`hi` may be
    /// `Model::inf`, meaning no later rewrite).
    lo: u32,
    hi: u32,
    /// The copy so far equals no state.
    torn: bool,
    /// The image's generation (copy-on-write, freeze/thaw).
    snap: u32,
    /// Online copy: restarts so far, and whether a commit landed since its
    /// previous step.
    restarts: u32,
    dirty: bool,
    /// The previous step was a commit (wait-for-idle).
    last_commit: bool,
    /// The scheduled copy is taken, and whether it is torn.
    aside_taken: bool,
    aside_torn: bool,
    /// Something opened the live file while the server held it.
    foreign: bool,
    shutdown: bool,
    hang: bool,
    /// An archived copy is torn.
    archived_torn: bool,
}

impl State {
    fn outcome(&self) -> Outcome {
        if self.archived_torn {
            Outcome::Corrupted
        } else if self.hang {
            Outcome::Hang
        } else if self.shutdown {
            Outcome::GracefulShutdown
        } else {
            Outcome::Clean
        }
    }

    /// Whether the server holds the data file.
    fn held(&self) -> bool {
        matches!(self.server, Server::Serving | Server::Hung)
    }
}

/// Who moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Move {
    /// A commit, or the administrator's restart.
    Server,
    /// The backup's next step.
    Backup,
    /// The scheduled copy.
    Scheduled,
}

/// One way out of a state: a move and, for the KB's draw, its reaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edge {
    mv: Move,
    /// The move's index among the enabled ones, and how many there are.
    index: u8,
    moves: u8,
    /// The KB draw: 0 shut down, 1 hang.
    draw: Option<u8>,
}

impl Edge {
    /// Appends the choices a chooser records for this edge.
    fn record(&self, out: &mut Vec<u32>) {
        if self.moves > 1 {
            out.push(u32::from(self.index));
        }
        if let Some(d) = self.draw {
            out.push(u32::from(d));
        }
    }
}

/// The edges out of a state, in the order of their choices.
#[derive(Clone, Copy, Debug)]
struct Edges {
    list: [Edge; 4],
    len: u8,
}

impl Edges {
    fn as_slice(&self) -> &[Edge] {
        &self.list[..usize::from(self.len)]
    }
}

/// The question, fixed by a scenario and bounds.
#[derive(Clone, Copy, Debug)]
struct Model {
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
    fn new(scenario: &Scenario, bounds: Bounds) -> Result<Model> {
        if bounds.transactions > MAX_TRANSACTIONS {
            return Err(Error::invalid(
                "transactions",
                format!(
                    "{} is more than exploration's {MAX_TRANSACTIONS}",
                    bounds.transactions
                ),
            ));
        }
        if bounds.pages == 0 || bounds.pages > MAX_PAGES {
            return Err(Error::invalid(
                "pages",
                format!("{} is not in 1..={MAX_PAGES}", bounds.pages),
            ));
        }
        let name = scenario.snapshot_policy().name();
        let policy = Policy::named(name).ok_or_else(|| {
            Error::invalid(
                "snapshot",
                format!(
                    "exploration covers the built-in snapshot policies (live read, stop server, \
                     scheduled copy, copy-on-write, freeze/thaw, online copy); {name:?} is a \
                     policy of your own: check it with arb_scenario and check_invariants"
                ),
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

    fn initial(&self) -> State {
        State {
            w: 0,
            server: Server::Serving,
            phase: Phase::Idle,
            pos: 0,
            lo: 0,
            hi: 0,
            torn: false,
            snap: 0,
            restarts: 0,
            dirty: false,
            last_commit: false,
            aside_taken: false,
            aside_torn: false,
            foreign: false,
            shutdown: false,
            hang: false,
            archived_torn: false,
        }
    }

    /// The state packed into its key, exactly: five numbers of `bits` bits
    /// each (generations and pages), the restarts, the server's state, the
    /// backup's phase, nine flags.
    #[inline]
    fn key(&self, s: &State) -> u128 {
        let b = self.bits;
        let flags = u128::from(s.torn)
            | u128::from(s.dirty) << 1
            | u128::from(s.last_commit) << 2
            | u128::from(s.aside_taken) << 3
            | u128::from(s.aside_torn) << 4
            | u128::from(s.foreign) << 5
            | u128::from(s.shutdown) << 6
            | u128::from(s.hang) << 7
            | u128::from(s.archived_torn) << 8;
        let small = u128::from(s.restarts)
            | (s.server as u128) << RESTART_BITS
            | (s.phase as u128) << (RESTART_BITS + 2)
            | flags << (RESTART_BITS + 4);
        u128::from(s.w)
            | u128::from(s.pos) << b
            | u128::from(s.lo) << (2 * b)
            | u128::from(s.hi) << (3 * b)
            | u128::from(s.snap) << (4 * b)
            | small << (5 * b)
    }

    /// Whether keys fit in 64 bits.
    fn narrow_keys(&self) -> bool {
        5 * self.bits + RESTART_BITS + 4 + 9 <= 64
    }

    // ---- The file's history: which transaction wrote what. ----

    /// The data page transaction `w` rewrites.
    #[inline]
    fn data_page(&self, w: u32) -> Option<u32> {
        (self.pages > 1).then(|| 1 + (w - 1) % (self.pages - 1))
    }

    /// The version page `p` holds at generation `g`: the last transaction
    /// up to `g` that wrote it, 0 for the initial contents.
    #[inline]
    fn version(&self, p: u32, g: u32) -> u32 {
        if p == 0 {
            return g;
        }
        let m = self.pages - 1;
        if g < p { 0 } else { p + (g - p) / m * m }
    }

    /// The next transaction after `v` that rewrites page `p`, or `inf`.
    #[inline]
    fn next_rewrite(&self, p: u32, v: u32) -> u32 {
        let next = if p == 0 {
            v + 1
        } else if v == 0 {
            p
        } else {
            v + (self.pages - 1)
        };
        next.min(self.inf)
    }

    /// The oracle's rule over a whole copy: `versions[p]` is the version of
    /// page `p`; the copy is consistent when the intervals share a generation.
    fn judge(&self, versions: &[u32]) -> CopyVerdict {
        if versions.len() != self.pages as usize {
            return CopyVerdict::Torn;
        }
        let (mut lo, mut hi) = (0, self.inf);
        for (p, &v) in (0u32..).zip(versions) {
            lo = lo.max(v);
            hi = hi.min(self.next_rewrite(p, v));
        }
        if lo < hi {
            CopyVerdict::Consistent { generation: lo }
        } else {
            CopyVerdict::Torn
        }
    }

    /// The verdict on an atomic copy of the whole file at generation `g`.
    fn judge_image(&self, g: u32) -> CopyVerdict {
        let versions: Vec<u32> = (0..self.pages).map(|p| self.version(p, g)).collect();
        self.judge(&versions)
    }

    // ---- Moves. ----

    /// The backup's first step opens the live file through the open-file
    /// policy (not through an image, a stop or the server's handle).
    #[inline]
    fn opens_live(&self) -> bool {
        !self.excluded && matches!(self.policy, Policy::LiveRead | Policy::ScheduledCopy)
    }

    #[inline]
    fn can_commit(&self, s: &State) -> bool {
        s.server == Server::Serving && s.w < self.transactions
    }

    #[inline]
    fn server_moves(&self, s: &State) -> bool {
        self.can_commit(s)
            || (s.phase == Phase::Done && matches!(s.server, Server::Down | Server::Hung))
    }

    /// Wait-for-idle finds the file written at the previous step, and more
    /// to come: not quiet.
    #[inline]
    fn not_quiet(&self, s: &State) -> bool {
        self.gate == Gate::WaitForIdle && self.opens_live() && s.last_commit && self.can_commit(s)
    }

    #[inline]
    fn backup_moves(&self, s: &State) -> bool {
        match s.phase {
            Phase::Idle => self.policy != Policy::ScheduledCopy || s.aside_taken,
            Phase::Copying => true,
            Phase::Done => false,
        }
    }

    #[inline]
    fn scheduled_moves(&self, s: &State) -> bool {
        self.policy == Policy::ScheduledCopy && !s.aside_taken && s.phase == Phase::Idle
    }

    /// Whether the backup's next step is an open the KB's draw reacts to.
    #[inline]
    fn draws(&self, s: &State) -> bool {
        self.conflict.is_none()
            && s.phase == Phase::Idle
            && self.opens_live()
            && self.gate != Gate::RespectLocks
            && !self.not_quiet(s)
            && s.server == Server::Serving
    }

    #[inline]
    fn edges(&self, s: &State) -> Edges {
        let mut moves = [Move::Server; 3];
        let mut n = 0u8;
        if self.server_moves(s) {
            moves[usize::from(n)] = Move::Server;
            n += 1;
        }
        if self.backup_moves(s) {
            moves[usize::from(n)] = Move::Backup;
            n += 1;
        }
        if self.scheduled_moves(s) {
            moves[usize::from(n)] = Move::Scheduled;
            n += 1;
        }
        let blank = Edge {
            mv: Move::Server,
            index: 0,
            moves: 0,
            draw: None,
        };
        let mut out = Edges {
            list: [blank; 4],
            len: 0,
        };
        for (index, &mv) in moves[..usize::from(n)].iter().enumerate() {
            let edge = Edge {
                mv,
                index: index as u8,
                moves: n,
                draw: None,
            };
            if mv == Move::Backup && self.draws(s) {
                for d in 0..2 {
                    out.list[usize::from(out.len)] = Edge {
                        draw: Some(d),
                        ..edge
                    };
                    out.len += 1;
                }
            } else {
                out.list[usize::from(out.len)] = edge;
                out.len += 1;
            }
        }
        out
    }

    /// Clears what can no longer matter, so that equal futures share a key.
    #[inline]
    fn canon(&self, mut s: State) -> State {
        if s.phase == Phase::Copying {
            if s.torn {
                s.lo = 0;
                s.hi = 0;
            }
            if !matches!(self.policy, Policy::CopyOnWrite | Policy::FreezeThaw) {
                s.snap = 0;
            }
        } else {
            s.pos = 0;
            s.lo = 0;
            s.hi = 0;
            s.torn = false;
            s.snap = 0;
            s.restarts = 0;
            s.dirty = false;
        }
        if !(s.phase == Phase::Idle
            && self.gate == Gate::WaitForIdle
            && self.opens_live()
            && s.w < self.transactions)
        {
            s.last_commit = false;
        }
        s
    }

    /// The state after `edge`, narrating its steps to `out`.
    #[inline]
    fn step(&self, mut s: State, edge: Edge, out: &mut impl FnMut(ExploredStep)) -> State {
        match edge.mv {
            Move::Server => {
                if self.can_commit(&s) {
                    s.w += 1;
                    s.last_commit = true;
                    if s.phase == Phase::Copying && self.policy == Policy::OnlineCopy {
                        s.dirty = true;
                    }
                    out(ExploredStep::Commit {
                        transaction: s.w,
                        page: self.data_page(s.w),
                    });
                } else {
                    out(ExploredStep::AdministratorRestarts {
                        hung: s.server == Server::Hung,
                    });
                    s.server = Server::Serving;
                    s.last_commit = false;
                }
            }
            Move::Scheduled => {
                s.last_commit = false;
                s.aside_taken = true;
                s.aside_torn = !self.judge_image(s.w).is_consistent();
                out(ExploredStep::CopiedAside { generation: s.w });
            }
            Move::Backup => {
                s = match s.phase {
                    Phase::Idle => self.start_backup(s, edge.draw, out),
                    Phase::Copying => self.copy_step(s, out),
                    Phase::Done => s,
                };
                s.last_commit = false;
            }
        }
        self.canon(s)
    }

    /// Starts a copy at page 0.
    #[inline]
    fn begin_copy(&self, mut s: State) -> State {
        s.phase = Phase::Copying;
        s.pos = 0;
        s.lo = 0;
        s.hi = self.inf;
        s.torn = false;
        s
    }

    fn start_backup(
        &self,
        mut s: State,
        draw: Option<u8>,
        out: &mut impl FnMut(ExploredStep),
    ) -> State {
        if self.excluded {
            out(ExploredStep::Excluded);
            return self.finish_backup(s, out);
        }
        match self.policy {
            Policy::LiveRead | Policy::ScheduledCopy if self.not_quiet(&s) => {
                out(ExploredStep::IdleTimeout);
                self.finish_backup(s, out)
            }
            Policy::LiveRead | Policy::ScheduledCopy => self.open_live(s, draw, out),
            Policy::StopServer => {
                if s.server == Server::Serving {
                    s.server = Server::Stopped;
                    out(ExploredStep::PlannedStop { generation: s.w });
                }
                self.open_live(s, None, out)
            }
            Policy::CopyOnWrite | Policy::FreezeThaw => {
                s.snap = s.w;
                out(ExploredStep::SnapshotTaken {
                    generation: s.w,
                    frozen: self.policy == Policy::FreezeThaw,
                });
                self.begin_copy(s)
            }
            Policy::OnlineCopy => {
                s = self.begin_copy(s);
                s.restarts = 0;
                s.dirty = false;
                self.copy_step(s, out)
            }
        }
    }

    fn open_live(
        &self,
        mut s: State,
        draw: Option<u8>,
        out: &mut impl FnMut(ExploredStep),
    ) -> State {
        let held = s.held();
        if held && self.gate == Gate::RespectLocks {
            out(ExploredStep::SkippedBusy);
            return self.finish_backup(s, out);
        }
        out(ExploredStep::Opened { foreign: held });
        if held {
            s.foreign = true;
            if s.server == Server::Serving {
                let behavior = self.conflict.unwrap_or(if draw == Some(1) {
                    ConflictBehavior::Hang
                } else {
                    ConflictBehavior::Shutdown
                });
                out(ExploredStep::Reacted { behavior });
                match behavior {
                    ConflictBehavior::Shutdown => {
                        s.server = Server::Down;
                        s.shutdown = true;
                    }
                    ConflictBehavior::Hang => {
                        s.server = Server::Hung;
                        s.hang = true;
                    }
                    ConflictBehavior::Tolerate => {}
                }
            }
        }
        self.begin_copy(s)
    }

    #[inline]
    fn copy_step(&self, mut s: State, out: &mut impl FnMut(ExploredStep)) -> State {
        let (generation, from) = match self.policy {
            Policy::CopyOnWrite | Policy::FreezeThaw => (s.snap, PageSource::Image),
            Policy::OnlineCopy => {
                if s.dirty {
                    if s.restarts >= self.max_restarts {
                        out(ExploredStep::OnlineCopyGaveUp {
                            restarts: s.restarts,
                        });
                        return self.finish_backup(s, out);
                    }
                    s.restarts += 1;
                    s.dirty = false;
                    out(ExploredStep::OnlineCopyRestarted {
                        restarts: s.restarts,
                        max_restarts: self.max_restarts,
                    });
                    s = self.begin_copy(s);
                }
                (s.w, PageSource::ServerHandle)
            }
            _ => (s.w, PageSource::LiveFile),
        };
        let page = s.pos;
        let version = self.version(page, generation);
        out(ExploredStep::CopiedPage {
            page,
            version,
            from,
        });
        if !s.torn {
            s.lo = s.lo.max(version);
            s.hi = s.hi.min(self.next_rewrite(page, version));
            s.torn = s.lo >= s.hi;
        }
        s.pos += 1;
        if s.pos < self.pages {
            return s;
        }
        s.archived_torn |= s.torn;
        out(ExploredStep::Archived {
            copy: ArchivedCopy::MailData,
            verdict: if s.torn {
                CopyVerdict::Torn
            } else {
                CopyVerdict::Consistent { generation: s.lo }
            },
        });
        self.finish_backup(s, out)
    }

    fn finish_backup(&self, mut s: State, out: &mut impl FnMut(ExploredStep)) -> State {
        if self.archive_aside && s.aside_taken {
            // Judged when it was taken (the state keeps the verdict, not the
            // generation: `replay`, which knows it, fills it in).
            s.archived_torn |= s.aside_torn;
            out(ExploredStep::Archived {
                copy: ArchivedCopy::ScheduledCopy,
                verdict: if s.aside_torn {
                    CopyVerdict::Torn
                } else {
                    CopyVerdict::Consistent { generation: 0 }
                },
            });
        }
        if s.server == Server::Stopped {
            s.server = Server::Serving;
            out(ExploredStep::PlannedStart);
        }
        s.phase = Phase::Done;
        out(ExploredStep::BackupFinished);
        s
    }

    /// The invariants that apply to a terminal state.
    fn check(&self, s: &State) -> Option<Violation> {
        let violation = |invariant, detail: String| {
            Some(Violation {
                invariant,
                event: None,
                detail,
            })
        };
        if s.w != self.transactions {
            return violation(
                Invariant::NoAcknowledgedDeliveryLost,
                format!(
                    "{} of {} committed transactions are in the live file at the end",
                    s.w, self.transactions
                ),
            );
        }
        if !s.foreign && s.outcome() != Outcome::Clean {
            return violation(
                Invariant::NoForeignAccessMeansClean,
                format!(
                    "nothing opened Mail Data while the server held it, yet the night is {}",
                    s.outcome()
                ),
            );
        }
        if s.phase != Phase::Done {
            return violation(
                Invariant::EveryArchivedCopyJudged,
                "the backup never finished its copy of Mail Data".to_owned(),
            );
        }
        None
    }

    // ---- Replay. ----

    fn replay(&self, choices: &Choices) -> ExploredNight {
        let mut record = choices.as_slice().iter().copied();
        let mut take = |n: u32| record.next().unwrap_or(0).min(n - 1);
        let mut taken = Vec::new();
        let mut steps = Vec::new();
        let mut s = self.initial();
        loop {
            let edges = self.edges(&s);
            let Some(first) = edges.as_slice().first() else {
                break;
            };
            let index = if first.moves > 1 {
                take(u32::from(first.moves))
            } else {
                0
            };
            let mut picked = edges
                .as_slice()
                .iter()
                .copied()
                .find(|e| u32::from(e.index) == index)
                .expect("every index has an edge");
            if picked.draw.is_some() {
                picked.draw = Some(take(2) as u8);
            }
            picked.record(&mut taken);
            s = self.step(s, picked, &mut |e| steps.push(e));
        }
        // Judge the archived copies afresh from the pages copied.
        let mut copied: Vec<u32> = Vec::new();
        let mut aside_at = None;
        let (mut verdict, mut aside_verdict) = (None, None);
        let mut outcome = Outcome::Clean;
        for step in &mut steps {
            match step {
                ExploredStep::CopiedAside { generation } => aside_at = Some(*generation),
                ExploredStep::Opened { .. }
                | ExploredStep::SnapshotTaken { .. }
                | ExploredStep::OnlineCopyRestarted { .. } => copied.clear(),
                ExploredStep::CopiedPage { page, version, .. } => {
                    if *page == 0 {
                        copied.clear();
                    }
                    copied.push(*version);
                }
                ExploredStep::Reacted { behavior } => {
                    outcome = outcome.max(match behavior {
                        ConflictBehavior::Shutdown => Outcome::GracefulShutdown,
                        ConflictBehavior::Hang => Outcome::Hang,
                        ConflictBehavior::Tolerate => Outcome::Clean,
                    })
                }
                ExploredStep::Archived { copy, verdict: v } => {
                    let judged = match copy {
                        ArchivedCopy::MailData => {
                            let j = self.judge(&copied);
                            verdict = Some(j);
                            j
                        }
                        ArchivedCopy::ScheduledCopy => {
                            let j = aside_at.map_or(CopyVerdict::Torn, |g| self.judge_image(g));
                            *v = j;
                            aside_verdict = Some(j);
                            j
                        }
                    };
                    if !judged.is_consistent() {
                        outcome = Outcome::Corrupted;
                    }
                }
                _ => {}
            }
        }
        ExploredNight {
            steps,
            outcome,
            verdict,
            aside_verdict,
            choices: Choices(taken),
            violation: self.check(&s),
        }
    }
}

/// A multiply-xorshift hasher for the packed state keys (the keys are
/// already dense and unique: this only spreads their bits).
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xbf58_476d_1ce4_e5b9;

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(K1);
        self.0 = h ^ (h >> 29);
    }

    #[inline]
    fn write_u128(&mut self, n: u128) {
        let h = ((n as u64).wrapping_mul(K1) ^ (n >> 64) as u64).wrapping_mul(K2);
        self.0 = h ^ (h >> 31);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A packed state, as the set of seen states holds it.
trait Key: Copy + Eq + std::hash::Hash {
    fn from_wide(key: u128) -> Self;
}

impl Key for u64 {
    #[inline]
    fn from_wide(key: u128) -> u64 {
        key as u64
    }
}

impl Key for u128 {
    #[inline]
    fn from_wide(key: u128) -> u128 {
        key
    }
}

/// A state on the search's stack and the edges still to try.
struct Frame {
    state: State,
    edges: Edges,
    next: u8,
}

/// The choices along the stack: each frame's edge taken last.
fn path(stack: &[Frame]) -> Choices {
    let mut out = Vec::with_capacity(stack.len());
    for f in stack {
        f.edges.list[usize::from(f.next) - 1].record(&mut out);
    }
    // Replay answers 0 past the end: trailing zeros say nothing.
    while out.last() == Some(&0) {
        out.pop();
    }
    Choices(out)
}

fn search(model: &Model, max_states: u64, stop: &dyn Fn(Outcome) -> bool) -> Exploration {
    if model.narrow_keys() {
        search_with::<u64>(model, max_states, stop)
    } else {
        search_with::<u128>(model, max_states, stop)
    }
}

fn search_with<K: Key>(
    model: &Model,
    max_states: u64,
    stop: &dyn Fn(Outcome) -> bool,
) -> Exploration {
    let mut ex = Exploration {
        states: 0,
        terminal: BTreeMap::new(),
        examples: BTreeMap::new(),
        counterexample: None,
        complete: true,
    };
    if max_states == 0 {
        ex.complete = false;
        return ex;
    }
    let capacity = (u64::from(model.transactions + 1) * u64::from(model.pages + 1))
        .min(max_states)
        .min(1 << 22) as usize;
    let mut seen: HashSet<K, BuildHasherDefault<KeyHasher>> =
        HashSet::with_capacity_and_hasher(capacity, Default::default());
    let mut stack: Vec<Frame> = Vec::with_capacity(256);
    let init = model.initial();
    seen.insert(K::from_wide(model.key(&init)));
    ex.states = 1;
    // Visits a new state: true to stop the search.
    let visit = |ex: &mut Exploration, stack: &mut Vec<Frame>, s: State| -> bool {
        let edges = model.edges(&s);
        if edges.len > 0 {
            stack.push(Frame {
                state: s,
                edges,
                next: 0,
            });
            return false;
        }
        let outcome = s.outcome();
        *ex.terminal.entry(outcome).or_insert(0) += 1;
        let first = !ex.examples.contains_key(&outcome);
        let violation = if ex.counterexample.is_none() {
            model.check(&s)
        } else {
            None
        };
        if first || violation.is_some() {
            let choices = path(stack);
            if let Some(violation) = violation {
                ex.counterexample = Some(Counterexample {
                    violation,
                    choices: choices.clone(),
                });
            }
            if first {
                ex.examples.insert(outcome, choices);
            }
        }
        if stop(outcome) {
            ex.complete = false;
            return true;
        }
        false
    };
    if visit(&mut ex, &mut stack, init) {
        return ex;
    }
    while let Some(top) = stack.last_mut() {
        if top.next == top.edges.len {
            stack.pop();
            continue;
        }
        let edge = top.edges.list[usize::from(top.next)];
        top.next += 1;
        let next = model.step(top.state, edge, &mut |_| {});
        if !seen.insert(K::from_wide(model.key(&next))) {
            continue;
        }
        if ex.states >= max_states {
            ex.complete = false;
            break;
        }
        ex.states += 1;
        if visit(&mut ex, &mut stack, next) {
            break;
        }
    }
    ex
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{CopyOnWrite, LiveRead};

    fn model(w: u32, p: u32) -> Model {
        Model::new(
            &Scenario::kb98097()
                .conflict_behavior(ConflictBehavior::Tolerate)
                .snapshot(LiveRead),
            Bounds::new(w, p),
        )
        .expect("built-in")
    }

    #[test]
    fn versions_follow_the_schedule() {
        let m = model(10, 4);
        // Transactions 1..=10 rewrite pages 1,2,3,1,2,3,1,2,3,1.
        let pages: Vec<u32> = (1..=10).map(|w| m.data_page(w).unwrap()).collect();
        assert_eq!(pages, [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]);
        for p in 1..4 {
            for g in 0..=10 {
                let brute = (1..=g).filter(|&w| m.data_page(w) == Some(p)).max();
                assert_eq!(m.version(p, g), brute.unwrap_or(0), "page {p} at {g}");
                let v = m.version(p, g);
                let next = (v + 1..=10).find(|&w| m.data_page(w) == Some(p));
                assert_eq!(m.next_rewrite(p, v), next.unwrap_or(m.inf));
            }
        }
        assert_eq!(m.version(0, 7), 7);
        assert_eq!(m.next_rewrite(0, 10), m.inf);
    }

    #[test]
    fn the_oracle_rule() {
        let m = model(3, 3);
        for g in 0..=3 {
            assert_eq!(m.judge_image(g), CopyVerdict::Consistent { generation: g });
        }
        // Header of 0 with page 1 of transaction 1: torn.
        assert_eq!(m.judge(&[0, 1, 0]), CopyVerdict::Torn);
        assert_eq!(m.judge(&[0, 0]), CopyVerdict::Torn, "short copy");
    }

    #[test]
    fn keys_are_exact() {
        let m = model(3, 3);
        let a = m.initial();
        let b = State { w: 1, ..a };
        let c = State { hang: true, ..a };
        assert_ne!(m.key(&a), m.key(&b));
        assert_ne!(m.key(&a), m.key(&c));
        assert_ne!(m.key(&b), m.key(&c));
        assert!(m.narrow_keys());
        assert!(!model(1000, 1000).narrow_keys());
    }

    #[test]
    fn a_tiny_night_by_hand() {
        // One transaction, header only, tolerated: open, commit and copy in
        // every order: 6 distinct states — (0, idle), (1, idle), (0, opened),
        // (1, opened), (0, archived), (1, archived) — one of them terminal.
        let s = Scenario::kb98097()
            .conflict_behavior(ConflictBehavior::Tolerate)
            .snapshot(CopyOnWrite);
        let e = explore(&s, Bounds::new(1, 1)).unwrap();
        assert!(e.complete);
        assert_eq!(e.terminal.get(&Outcome::Clean), Some(&1));
        let live = explore(&s.snapshot(LiveRead), Bounds::new(1, 1)).unwrap();
        assert_eq!(live.states, 6);
        assert_eq!(live.terminal.get(&Outcome::Clean), Some(&1));
    }
}
