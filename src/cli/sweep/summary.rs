//! The summary of a sweep or a merge: how many nights ended in each
//! outcome, and the nights that broke an invariant ([`Summary`]), in a few
//! lines of text.
//!
//! What does not live here: where the summary goes (stdout, or stderr with
//! `--json`).

use std::fmt::Write as _;

use mailsim::Outcome;
use mailsim::sim::Fault;

use super::line::Line;

/// Most nights that broke an invariant the summary lists (it counts them
/// all; each is in its JSON line): memory does not grow with the sweep.
const MAX_LISTED_VIOLATIONS: usize = 100;

/// The outcome distribution and the invariant violations of many nights.
pub(super) struct Summary {
    pub(super) nights: u64,
    /// Per outcome name, in severity order.
    counts: Vec<(String, u64)>,
    /// Nights that broke an invariant.
    violated: u64,
    /// The first [`MAX_LISTED_VIOLATIONS`] of them.
    violations: Vec<Line>,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            nights: 0,
            counts: Outcome::ALL
                .iter()
                .map(|o| (o.as_str().to_owned(), 0))
                .collect(),
            violated: 0,
            violations: Vec::new(),
        }
    }
}

impl Summary {
    pub(super) fn add(&mut self, line: &Line) {
        self.nights = self.nights.saturating_add(1);
        match self
            .counts
            .iter_mut()
            .find(|(name, _)| *name == line.outcome)
        {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.counts.push((line.outcome.clone(), 1)),
        }
        if line.violation.is_some() {
            self.violated = self.violated.saturating_add(1);
            if self.violations.len() < MAX_LISTED_VIOLATIONS {
                self.violations.push(line.clone());
            }
        }
    }

    pub(super) fn render(&self, nights: &str, speed: Option<&str>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Nights:     {nights}");
        let _ = writeln!(s, "Outcomes:");
        for (name, n) in &self.counts {
            let share = if self.nights == 0 {
                0.0
            } else {
                100.0 * *n as f64 / self.nights as f64
            };
            let _ = writeln!(s, "  {name:<18} {n:>9} {share:>6.1}%");
        }
        if let Some(speed) = speed {
            let _ = writeln!(s, "Speed:      {speed}");
        }
        if self.violated == 0 {
            let _ = writeln!(s, "Invariants: no invariant violated");
        } else {
            let _ = writeln!(
                s,
                "Invariants: {} night{} violated one:",
                self.violated,
                if self.violated == 1 { "" } else { "s" }
            );
            for l in &self.violations {
                if let Some(v) = &l.violation {
                    let _ = write!(
                        s,
                        "  case {}, seed {} ({}): {}: {}",
                        l.case, l.seed, l.outcome, v.invariant, v.detail
                    );
                    if let Some(i) = v.event {
                        let _ = write!(s, " (timeline event {i})");
                    }
                    if !l.faults.is_empty() {
                        let kinds: Vec<&str> = l.faults.iter().map(Fault::kind).collect();
                        let _ = write!(s, " (faults: {})", kinds.join(", "));
                    }
                    s.push('\n');
                }
            }
            let unlisted = self.violated.saturating_sub(self.violations.len() as u64);
            if unlisted > 0 {
                let _ = writeln!(
                    s,
                    "  … and {unlisted} more (each is in its JSON line, with its \"violation\")"
                );
            }
            let _ = writeln!(
                s,
                "  (replay one with `mailsim run --seed SEED --json` and the same scenario flags)"
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::sweep::line::{ViolationLine, sample_line as line};

    #[test]
    fn the_summary_counts_outcomes_and_lists_violations() {
        let mut s = Summary::default();
        s.add(&line(0, "clean", None));
        s.add(&line(1, "clean", None));
        s.add(&line(2, "corrupted", None));
        s.add(&line(
            3,
            "hang",
            Some(ViolationLine {
                invariant: "no_unbounded_wait".into(),
                detail: "a wait never ends".into(),
                event: Some(7),
            }),
        ));
        let text = s.render("4", Some("9 nights/s"));
        assert!(
            text.contains("  clean                      2   50.0%"),
            "{text}"
        );
        assert!(
            text.contains("  corrupted                  1   25.0%"),
            "{text}"
        );
        assert!(
            text.contains("  crashed                    0    0.0%"),
            "{text}"
        );
        assert!(text.contains("Speed:      9 nights/s"), "{text}");
        assert!(
            text.contains(
                "case 3, seed 103 (hang): no_unbounded_wait: a wait never ends (timeline event 7)"
            ),
            "{text}"
        );
        assert!(!text.contains("no invariant violated"));
        let empty = Summary::default().render("0", None);
        assert!(empty.contains("no invariant violated") && !empty.contains("Speed"));
    }

    #[test]
    fn the_summary_counts_every_violation_and_lists_the_first_hundred() {
        let mut s = Summary::default();
        for case in 0..250 {
            let mut l = line(
                case,
                "crashed",
                Some(ViolationLine {
                    invariant: "no_lost_delivery".into(),
                    detail: "lost".into(),
                    event: None,
                }),
            );
            l.faults = vec![Fault::WriteError { nth: 3 }];
            s.add(&l);
        }
        assert_eq!(s.violations.len(), MAX_LISTED_VIOLATIONS);
        let text = s.render("250", None);
        assert!(
            text.contains("Invariants: 250 nights violated one:"),
            "{text}"
        );
        assert!(
            text.contains(
                "case 99, seed 199 (crashed): no_lost_delivery: lost (faults: write_error)"
            ),
            "{text}"
        );
        assert!(!text.contains("case 100,"), "{text}");
        assert!(text.contains("… and 150 more"), "{text}");
    }
}
