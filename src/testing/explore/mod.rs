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

mod fast;
mod machine;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::chooser::Choices;
use crate::error::{Error, Result};
use crate::invariants::Violation;
use crate::policy::ExclusionPolicy;
use crate::policy::find_in_combination;
use crate::report::{Outcome, Report};
use crate::server::ConflictBehavior;
use crate::sim::Scenario;

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
            ExploredStep::Commit { .. }
            | ExploredStep::Reacted { .. }
            | ExploredStep::AdministratorRestarts { .. } => self.fmt_server(f),
            ExploredStep::Excluded
            | ExploredStep::SkippedBusy
            | ExploredStep::IdleTimeout
            | ExploredStep::Opened { .. }
            | ExploredStep::CopiedPage { .. }
            | ExploredStep::Archived { .. }
            | ExploredStep::BackupFinished => self.fmt_backup(f),
            ExploredStep::CopiedAside { .. }
            | ExploredStep::PlannedStop { .. }
            | ExploredStep::PlannedStart
            | ExploredStep::SnapshotTaken { .. }
            | ExploredStep::OnlineCopyRestarted { .. }
            | ExploredStep::OnlineCopyGaveUp { .. } => self.fmt_policy(f),
        }
    }
}

/// The narration of each group of steps: `fmt` sends each step to its group
/// (exhaustively); a step of another group writes nothing.
impl ExploredStep {
    /// The Mail Server and its administrator: commits, the reaction to a
    /// foreign access, restarts.
    fn fmt_server(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            ExploredStep::AdministratorRestarts { hung } => write!(
                f,
                "the administrator restarts the Mail Server, which had {}",
                if hung { "hung" } else { "shut down" }
            ),
            _ => Ok(()),
        }
    }

    /// Retrospect Remote: what it passes by or skips, opens, copies and
    /// archives.
    fn fmt_backup(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExploredStep::Excluded => {
                f.write_str("Retrospect Remote passes Microsoft Mail Data by: excluded")
            }
            ExploredStep::SkippedBusy => f.write_str(
                "Retrospect Remote skips Microsoft Mail Data as busy: the Mail Server holds it",
            ),
            ExploredStep::IdleTimeout => f.write_str(
                "Retrospect Remote gives up waiting for Microsoft Mail Data to go quiet: skipped as busy",
            ),
            ExploredStep::Opened { foreign: true } => f.write_str(
                "Retrospect Remote opens Microsoft Mail Data for reading while the Mail Server holds it: a foreign access",
            ),
            ExploredStep::Opened { foreign: false } => f.write_str(
                "Retrospect Remote opens Microsoft Mail Data for reading; nobody holds it",
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
            ExploredStep::Archived { copy, verdict } => write!(
                f,
                "Retrospect Remote archives {}: {verdict}",
                match copy {
                    ArchivedCopy::MailData => "Microsoft Mail Data",
                    ArchivedCopy::ScheduledCopy => "Mail Data Backup #1",
                }
            ),
            ExploredStep::BackupFinished => f.write_str("Retrospect Remote finishes"),
            _ => Ok(()),
        }
    }

    /// The snapshot policy and MS Mail Backup: the copy aside, planned stops
    /// and starts, images, the online copy.
    fn fmt_policy(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExploredStep::CopiedAside { generation } => write!(
                f,
                "MS Mail Backup copies Mail Data aside as \"Mail Data Backup #1\", at generation {generation}"
            ),
            ExploredStep::PlannedStop { generation } => write!(
                f,
                "the snapshot policy stops the Mail Server (planned), at generation {generation}"
            ),
            ExploredStep::PlannedStart => {
                f.write_str("the snapshot policy restarts the Mail Server (planned)")
            }
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
            _ => Ok(()),
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
    /// The night's own report, when the path was replayed through the
    /// night itself (a policy of your own): its timeline tells what
    /// happened, and [`ExploredNight::steps`] is empty.
    pub report: Option<Report>,
}

impl ExploredNight {
    /// The steps as plain narration, one per line (the night's narration,
    /// for a night replayed through the night itself).
    pub fn narrate(&self) -> String {
        if let Some(r) = &self.report {
            return r.narrate();
        }
        let mut out = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = writeln!(out, "{:>4}. {s}", i + 1);
        }
        out
    }
}

/// Visits every reachable state of `scenario`'s night within `bounds`, depth
/// first with state deduplication: through the fast model for a built-in
/// snapshot policy at its defaults, through the night itself for any
/// other — a policy of your own included.
///
/// # Errors
///
/// [`Error::InvalidScenario`] for bounds out of range (fields
/// `transactions`, `pages`; the night itself needs 2 pages at least); an
/// error of the night itself (a policy's, say) as a run would give it.
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
    check_bounds(bounds)?;
    if fast_path(scenario) {
        let model = fast::Model::new(scenario, bounds)?;
        Ok(fast::search(&model, bounds.max_states, &stop))
    } else {
        machine::search(scenario, bounds, &stop)
    }
}

/// Explores the night itself whatever the policy: the path the fast model
/// takes for the built-ins, taken for them too (for comparing the two).
///
/// # Errors
///
/// As [`explore`].
pub fn explore_night(
    scenario: &Scenario,
    bounds: Bounds,
    stop: impl Fn(Outcome) -> bool,
) -> Result<Exploration> {
    check_bounds(bounds)?;
    machine::search(scenario, bounds, &stop)
}

/// Replays a path: `choices` as an explored example or counterexample
/// records them, through the model that found it (the fast model for a
/// built-in at its defaults, the night itself otherwise; its
/// [`ExploredNight::report`] is then the night's report). Replay is
/// forgiving, like [`Scenario::replay`]: a value too large for its choice
/// is clamped, and past the record's end every choice is 0.
///
/// # Errors
///
/// As [`explore`].
pub fn replay_explored(
    scenario: &Scenario,
    bounds: Bounds,
    choices: &Choices,
) -> Result<ExploredNight> {
    check_bounds(bounds)?;
    if fast_path(scenario) {
        Ok(fast::Model::new(scenario, bounds)?.replay(choices))
    } else {
        machine::replay(scenario, bounds, choices)
    }
}

/// Replays a path of [`explore_night`] through the night itself.
///
/// # Errors
///
/// As [`explore`].
pub fn replay_night(
    scenario: &Scenario,
    bounds: Bounds,
    choices: &Choices,
) -> Result<ExploredNight> {
    check_bounds(bounds)?;
    machine::replay(scenario, bounds, choices)
}

/// Whether the fast model answers for `scenario`: a built-in snapshot
/// policy at its defaults, built-in exclusions (the model asks about paths
/// only; an exclusion of one's own may look at sizes and times), and a
/// backup that ignores or respects locks (the model's wait-for-idle, at the
/// granularity of steps, does not agree with the night's timed one: the
/// night is explored for it).
fn fast_path(scenario: &Scenario) -> bool {
    let own = |p: &Arc<dyn ExclusionPolicy>| p.as_any().is_none().then_some(());
    fast::Policy::of(&**scenario.snapshot_policy()).is_some()
        && find_in_combination(scenario.exclusion_policy(), &own).is_none()
        && !matches!(
            scenario.open_file_policy(),
            crate::backup::OpenFilePolicy::WaitForIdle { .. }
        )
}

fn check_bounds(bounds: Bounds) -> Result<()> {
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
    Ok(())
}
