//! The fast model itself: a state of the night packed into a key, the
//! file's history (which transaction rewrote which page, and the oracle's
//! rule over a copy), the moves each state enables and the edges out of it
//! in the order of their choices, the step along an edge (narrated as
//! [`ExploredStep`]s), and the invariants of a terminal state.
//!
//! What does not live here: which scenarios it models and its bounds
//! (`mod`), how it is searched or replayed (`search`).

use super::super::{ArchivedCopy, CopyVerdict, ExploredStep, PageSource, RESTART_BITS};
use super::{Gate, Model, Policy};
use crate::invariants::{Invariant, Violation};
use crate::report::Outcome;
use crate::server::ConflictBehavior;

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
pub(super) struct State {
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
    pub(super) fn outcome(&self) -> Outcome {
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
pub(super) struct Edge {
    mv: Move,
    /// The move's index among the enabled ones, and how many there are.
    pub(super) index: u8,
    pub(super) moves: u8,
    /// The KB draw: 0 shut down, 1 hang.
    pub(super) draw: Option<u8>,
}

impl Edge {
    /// Appends the choices a chooser records for this edge.
    pub(super) fn record(&self, out: &mut Vec<u32>) {
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
pub(super) struct Edges {
    pub(super) list: [Edge; 4],
    pub(super) len: u8,
}

impl Edges {
    pub(super) fn as_slice(&self) -> &[Edge] {
        &self.list[..usize::from(self.len)]
    }
}

impl Model {
    pub(super) fn initial(&self) -> State {
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
    pub(super) fn key(&self, s: &State) -> u128 {
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
    pub(super) fn narrow_keys(&self) -> bool {
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
    pub(super) fn judge(&self, versions: &[u32]) -> CopyVerdict {
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
    pub(super) fn judge_image(&self, g: u32) -> CopyVerdict {
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
    pub(super) fn edges(&self, s: &State) -> Edges {
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
    pub(super) fn step(
        &self,
        mut s: State,
        edge: Edge,
        out: &mut impl FnMut(ExploredStep),
    ) -> State {
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
    pub(super) fn check(&self, s: &State) -> Option<Violation> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LiveRead;
    use crate::sim::Scenario;
    use crate::testing::explore::Bounds;

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
}
