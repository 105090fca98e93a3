//! Exploration of the night itself: depth first over the moves the night
//! enables (and every other choice it makes), for any scenario and any
//! snapshot policy, a user's included.
//!
//! The world is the night's, made small ([`Bounds`]): Mail Data of `P`
//! pages at its place on Server HD — the header page and `P - 1` messages
//! of one page each — an empty Backup Drive, `W` requests, request `w`
//! marking read the message on page `1 + (w - 1) mod (P - 1)` (so that it
//! rewrites the header page and that page), and a backup that reads one
//! page per step. The rules are the night's own ([`crate::night`]): the
//! same server, backup client, policy session, oracle and judgement as a
//! simulated night.
//!
//! Its moves: a request may arrive at any moment — between any two of the
//! other actors' moves — while the backup, the policy's schedule, the hang
//! check and the administrator keep their own clocks, each acting when its
//! move is the next due (a request is served just before the next clocked
//! move, the latest it can: time is what the clocked moves make it). Every choice — which enabled
//! move, the request listed first, and every choice the night makes
//! inside a move (the KB's draw) — is a chooser's choice, so a path is a
//! [`Choices`] record and replays through the same machine
//! ([`Night`] with [`Chooser::replay`]).
//!
//! The search replays each path from the start (sessions are not cloned)
//! and stops a path at a state already seen ([`Night::fingerprint`]);
//! states are distinct by their fingerprint, which includes the session's
//! own key (a session without one is never merged).

use std::collections::{BTreeMap, HashSet};

use super::{Bounds, CopyVerdict, Counterexample, Exploration, ExploredNight};
use crate::chooser::{Choices, Chooser};
use crate::datafile::{self, RecordFlags};
use crate::error::{Error, Result};
use crate::event::RequestKind;
use crate::night::{Move, Night};
use crate::report::{Outcome, Report, Verdict};
use crate::scenario::{BACKUP_DRIVE, Options, SERVER_HD, Scenario, mail_data_path};
use crate::volume::{Content, PAGE_BYTES, SimVolume, Volume};

/// A message that fills exactly one page: its record header and payload.
const PAYLOAD_BYTES: u32 = PAGE_BYTES as u32 - datafile::RECORD_HEADER_BYTES as u32;

/// The small world's configuration: the scenario's policies and times, one
/// night, no faults.
fn options(scenario: &Scenario, bounds: Bounds) -> Result<Options> {
    if bounds.pages < 2 {
        return Err(Error::invalid(
            "pages",
            format!(
                "{} is fewer than the header and one message (exploring a policy of your own \
                 needs 2 pages at least)",
                bounds.pages
            ),
        ));
    }
    let mut o = scenario.opts.clone();
    o.nights = 1;
    o.faults.clear();
    Ok(o)
}

/// The small world's volumes: Mail Data of `pages` pages, an empty Backup
/// Drive.
fn volumes(bounds: Bounds) -> Result<(SimVolume, SimVolume)> {
    let hd = SimVolume::new(SERVER_HD);
    let live = mail_data_path();
    if let Some(folder) = live.parent() {
        hd.create_folder(&folder)?;
    }
    let messages = (1..u64::from(bounds.pages)).map(|id| (id, RecordFlags::empty(), PAYLOAD_BYTES));
    hd.put_file(
        &live,
        Content::from_bytes(&datafile::build_image(0, messages)),
    )?;
    Ok((hd, SimVolume::new(BACKUP_DRIVE)))
}

/// The requests: `w` marks read the message on page `1 + (w - 1) mod (P - 1)`.
fn script(bounds: Bounds) -> Vec<(RequestKind, Option<u64>)> {
    let m = u64::from(bounds.pages - 1);
    (1..=u64::from(bounds.transactions))
        .map(|w| (RequestKind::Read, Some(1 + (w - 1) % m)))
        .collect()
}

/// The moves enabled now, by their index on the agenda: a request may
/// come at any moment (arrival times are what is explored), the other
/// actors keep their own clocks — of the backup, the policy's schedule, the
/// hang check and the administrator, the one due first (in the order
/// scheduled, at a tie). Listed: the request first.
fn enabled(night: &Night<'_, SimVolume>) -> Vec<usize> {
    let agenda = night.agenda();
    let request = (0..agenda.len()).find(|&i| agenda[i].mv == Move::Traffic);
    let clocked = (0..agenda.len())
        .filter(|&i| agenda[i].mv != Move::Traffic)
        .min_by_key(|&i| (agenda[i].at, agenda[i].seq));
    request.into_iter().chain(clocked).collect()
}

/// How a run along a path ended.
enum Ended {
    /// At a state already seen, after the path's own choices.
    Seen,
    /// At the end of the night.
    Terminal {
        report: Box<Report>,
        fingerprint: u64,
    },
}

/// One run along `prefix` (past its end, every choice 0). With `seen`, the
/// states it reaches past the prefix are recorded there, and the run stops
/// at the first it had seen. Returns how it ended and the choices made,
/// with their numbers of options.
fn run(
    opts: &Options,
    bounds: Bounds,
    prefix: &[u32],
    mut seen: Option<&mut HashSet<u64>>,
) -> Result<(Ended, Vec<u32>, Vec<u32>)> {
    let (hd, drive) = volumes(bounds)?;
    let chooser = Chooser::replay(&Choices::from(prefix.to_vec()));
    let mut night = Night::new(opts, hd, drive, chooser)?
        .scripted(script(bounds))
        .with_chunk_bytes(PAGE_BYTES as u64);
    night.begin(0)?;
    let record = |night: &Night<'_, SimVolume>| {
        let (r, a) = night.choices_so_far();
        (r.to_vec(), a.to_vec())
    };
    loop {
        if let Some(seen) = seen.as_deref_mut() {
            let fresh = night.choices_so_far().0.len() >= prefix.len();
            if !seen.insert(night.fingerprint()) && fresh {
                let (r, a) = record(&night);
                return Ok((Ended::Seen, r, a));
            }
        }
        let moves = enabled(&night);
        if moves.is_empty() {
            if night.settle() {
                continue;
            }
            night.end()?;
            let (r, a) = record(&night);
            let fingerprint = night.fingerprint();
            let report = Box::new(night.finish()?);
            return Ok((
                Ended::Terminal {
                    report,
                    fingerprint,
                },
                r,
                a,
            ));
        }
        let k = night.choose(moves.len() as u32) as usize;
        // A request arrives just before the next clocked move: the latest
        // it can, which is what a policy that watches the file's time
        // (wait-for-idle) feels.
        let at = match (moves.get(1), night.agenda()[moves[k]].mv) {
            (Some(&clocked), Move::Traffic) => night.agenda()[clocked].at,
            _ => night.agenda()[moves[k]].at,
        };
        let next = night.take(moves[k]);
        night.apply(at, next.mv)?;
    }
}

/// `choices` without the zeros at its end (replay answers 0 past the end).
fn trimmed(choices: &[u32]) -> Choices {
    let mut v = choices.to_vec();
    while v.last() == Some(&0) {
        v.pop();
    }
    Choices::from(v)
}

/// The depth-first search; see the module docs.
pub(super) fn search(
    scenario: &Scenario,
    bounds: Bounds,
    stop: &dyn Fn(Outcome) -> bool,
) -> Result<Exploration> {
    let opts = options(scenario, bounds)?;
    let mut ex = Exploration {
        states: 0,
        terminal: BTreeMap::new(),
        examples: BTreeMap::new(),
        counterexample: None,
        complete: true,
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut terminal_seen: HashSet<u64> = HashSet::new();
    let mut stack: Vec<Vec<u32>> = vec![Vec::new()];
    while let Some(prefix) = stack.pop() {
        if seen.len() as u64 >= bounds.max_states {
            ex.complete = false;
            break;
        }
        let (ended, record, arities) = run(&opts, bounds, &prefix, Some(&mut seen))?;
        // Every choice past the prefix is a branch: its other options are
        // paths of their own, explored smallest first.
        for i in (prefix.len()..record.len()).rev() {
            for v in (1..arities[i]).rev() {
                let mut p = record[..i].to_vec();
                p.push(v);
                stack.push(p);
            }
        }
        let Ended::Terminal {
            report,
            fingerprint,
        } = ended
        else {
            continue;
        };
        if !terminal_seen.insert(fingerprint) {
            continue;
        }
        let outcome = report.outcome();
        *ex.terminal.entry(outcome).or_insert(0) += 1;
        let path = trimmed(&record);
        if ex.counterexample.is_none()
            && let Err(violation) = crate::invariants::check(&report)
        {
            ex.counterexample = Some(Counterexample {
                violation,
                choices: path.clone(),
            });
        }
        ex.examples.entry(outcome).or_insert(path);
        if stop(outcome) {
            ex.complete = false;
            break;
        }
    }
    ex.states = seen.len() as u64;
    Ok(ex)
}

/// Replays a path through the night: the night's report, and the verdicts
/// on its archived copies.
pub(super) fn replay(
    scenario: &Scenario,
    bounds: Bounds,
    choices: &Choices,
) -> Result<ExploredNight> {
    let opts = options(scenario, bounds)?;
    let (ended, record, _) = run(&opts, bounds, choices.as_slice(), None)?;
    let Ended::Terminal { report, .. } = ended else {
        return Err(Error::invalid(
            "choices",
            "the night ended at no terminal state",
        ));
    };
    let report = *report;
    let verdict_of = |aside: bool| {
        report
            .mail_data_archived()
            .find(|a| crate::datafile::copy_number(a.path.name()).is_some() == aside)
            .map(|a| match a.verdict {
                Verdict::Consistent { generation, .. } => CopyVerdict::Consistent {
                    generation: u32::try_from(generation).unwrap_or(u32::MAX),
                },
                Verdict::Torn => CopyVerdict::Torn,
            })
    };
    Ok(ExploredNight {
        steps: Vec::new(),
        outcome: report.outcome(),
        verdict: verdict_of(false),
        aside_verdict: verdict_of(true),
        choices: Choices::from(record),
        violation: crate::invariants::check(&report).err(),
        report: Some(report),
    })
}
