//! Work done on many threads, handed out in order: [`run_in_order`] lets
//! workers claim items from a window past the last one handed out, and
//! holds the results that come early until their turn, so memory stays the
//! same however many items there are.
//!
//! What does not live here: what the work is (a night, in `nights`).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};

use crate::cli::CliError;

/// How far the workers may run ahead of the writer, per worker.
const WINDOW_PER_JOB: u64 = 4;

/// The workers' shared place: which item is next to claim and which is next
/// to be written.
struct Window {
    next_claim: u64,
    next_emit: u64,
    stop: bool,
}

fn lock(m: &Mutex<Window>) -> MutexGuard<'_, Window> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Computes `work(0)`, …, `work(n - 1)` on `jobs` threads and hands the
/// results to `emit` in that order. A worker claims item i only while
/// i < next written + window, so at most `window` results wait in the reorder
/// buffer or the channel: memory does not grow with `n`. The first error (of
/// `work` in order, or of `emit`) stops the workers and is returned.
pub(super) fn run_in_order<T: Send>(
    n: u64,
    jobs: usize,
    work: impl Fn(u64) -> Result<T, CliError> + Sync,
    mut emit: impl FnMut(T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let window = WINDOW_PER_JOB * jobs as u64;
    let shared = (
        Mutex::new(Window {
            next_claim: 0,
            next_emit: 0,
            stop: false,
        }),
        Condvar::new(),
    );
    let (tx, rx) = mpsc::channel::<(u64, Result<T, CliError>)>();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (shared, work) = (&shared, &work);
            s.spawn(move || {
                loop {
                    let i = {
                        let mut w = lock(&shared.0);
                        while !w.stop && w.next_claim < n && w.next_claim >= w.next_emit + window {
                            w = shared.1.wait(w).unwrap_or_else(PoisonError::into_inner);
                        }
                        if w.stop || w.next_claim >= n {
                            break;
                        }
                        w.next_claim += 1;
                        w.next_claim - 1
                    };
                    if tx.send((i, work(i))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut written = || -> Result<(), CliError> {
            let mut early: BTreeMap<u64, Result<T, CliError>> = BTreeMap::new();
            let mut next = 0;
            while next < n {
                let (i, r) = rx.recv().map_err(|_| {
                    CliError::Runtime("the sweep's worker threads ended early".to_owned())
                })?;
                early.insert(i, r);
                let before = next;
                while let Some(r) = early.remove(&next) {
                    emit(r?)?;
                    next += 1;
                }
                if next > before {
                    lock(&shared.0).next_emit = next;
                    shared.1.notify_all();
                }
            }
            Ok(())
        };
        let result = written();
        lock(&shared.0).stop = true;
        shared.1.notify_all();
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_out_in_order_whatever_the_jobs() {
        for jobs in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            run_in_order(
                100,
                jobs,
                |i| {
                    // Later items finish first.
                    std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
                    Ok(i * 2)
                },
                |v| {
                    seen.push(v);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0..100).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_first_error_stops_the_sweep() {
        let mut seen = Vec::new();
        let r = run_in_order(
            10_000,
            2,
            |i| {
                if i == 5 {
                    Err(CliError::Runtime("five".into()))
                } else {
                    Ok(i)
                }
            },
            |v| {
                seen.push(v);
                Ok(())
            },
        );
        assert!(matches!(r, Err(CliError::Runtime(m)) if m == "five"));
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_window_bounds_what_runs_ahead() {
        let max_ahead = std::sync::atomic::AtomicU64::new(0);
        let written = std::sync::atomic::AtomicU64::new(0);
        run_in_order(
            1_000,
            3,
            |i| {
                let w = written.load(std::sync::atomic::Ordering::SeqCst);
                max_ahead.fetch_max(i.saturating_sub(w), std::sync::atomic::Ordering::SeqCst);
                Ok(i)
            },
            |_| {
                written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        assert!(max_ahead.into_inner() <= WINDOW_PER_JOB * 3);
    }
}
