//! The history of a data file on disk, kept beside it, and the exact judge
//! of copies it makes possible: `mailsim verify COPY --history FILE`.
//!
//! The simulation's oracle knows every state Mail Data held; on disk the
//! [`HistoryWriter`] records the same knowledge as the server commits — for
//! each generation, the pages it wrote and their [`page_digest`]s, and the
//! file's length — in a bounded, crash-safe file ([`HISTORY_NAME`] beside
//! the data file). A [`History`] read back [`judge`](History::judge)s a copy:
//! consistent at generation G, torn (which pages equal which generations),
//! or unknown (not a copy of this file, or older than the history).
//!
//! ```
//! # fn main() -> mailsim::Result<()> {
//! use mailsim::history::{self, History, HistoryWriter, Verdict};
//! use std::io::Write;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let data_path = dir.path().join("Microsoft Mail Data");
//! std::fs::write(&data_path, mailsim::datafile::build_image(0, [])).unwrap();
//! let data = std::fs::File::open(&data_path).unwrap();
//! let path = dir.path().join(history::HISTORY_NAME);
//! let mut w = HistoryWriter::open(&path, &data, 0, history::DEFAULT_LIMIT_BYTES)?;
//! w.sync()?;
//! let copy = std::fs::read(&data_path).unwrap();
//! let verdict = History::read(&path)?.judge(&mut &copy[..]).unwrap();
//! assert!(matches!(verdict, Verdict::Consistent { generation: 0, .. }));
//! # Ok(()) }
//! ```
//!
//! What is guaranteed (the [`HistoryWriter`]'s documentation has the
//! order of writes): a crash of the process loses no acknowledged record;
//! a crash of the machine loses at most the records of the last sync
//! interval, and the next open re-baselines from the data file, so the
//! history never claims a generation the data file never held, and every
//! state it holds is one the data file held. A copy taken in the lost
//! interval is judged unknown (or, where its pages equal versions the
//! history does hold, torn) — never consistent at a generation it is not.
//!
//! What does not live here: the oracle of simulated nights (it knows the
//! states without a file), and the command (`src/cli/verify.rs`).

mod format;
mod judge;
mod writer;

pub use format::{MAX_LIMIT_BYTES, page_digest};
pub use judge::{History, PageRange, Verdict, judge};
pub use writer::{DEFAULT_SYNC_INTERVAL, HistoryWriter, MIN_LIMIT_BYTES};

/// The history's file name, beside the data file.
pub const HISTORY_NAME: &str = "Microsoft Mail Data History";

/// The default bound on a history's size. When an append would pass it, the
/// oldest generations are dropped, keeping the newest in half of it.
pub const DEFAULT_LIMIT_BYTES: u64 = 64 << 20;

#[cfg(test)]
mod tests;
