//! The writer and judge together on real files: reconciling, crashes,
//! the limit.

use std::fs::{self, File};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::datafile::PAGE_BYTES;
use crate::error::Error;

const P: u64 = PAGE_BYTES;

fn pages(bs: &[u8]) -> Vec<u8> {
    bs.iter().flat_map(|&b| vec![b; P as usize]).collect()
}

fn digest(b: u8) -> u64 {
    page_digest(&vec![b; P as usize])
}

struct Fixture {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    history: std::path::PathBuf,
}

fn fixture(initial: &[u8]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("Microsoft Mail Data");
    fs::write(&data, pages(initial)).unwrap();
    let history = dir.path().join(HISTORY_NAME);
    Fixture {
        _dir: dir,
        data,
        history,
    }
}

fn verdict(h: &std::path::Path, copy: &[u8]) -> Verdict {
    History::read(h).unwrap().judge(&mut &copy[..]).unwrap()
}

fn consistent_at(v: &Verdict) -> Option<u64> {
    match v {
        Verdict::Consistent { generation, .. } => Some(*generation),
        _ => None,
    }
}

#[test]
fn a_new_history_baselines_and_records_commits() {
    let f = fixture(b"ab");
    let data = File::open(&f.data).unwrap();
    let mut w = HistoryWriter::open(&f.history, &data, 5, MIN_LIMIT_BYTES).unwrap();
    assert_eq!(w.newest_generation(), 5);
    assert_eq!(w.len_bytes(), 32 + 8 + 40 + 16);
    let at = UNIX_EPOCH + Duration::from_millis(1_796_233_200_123);
    w.commit(6, at, 3 * P, [(1, digest(b'c')), (2, digest(b'd'))])
        .unwrap();
    w.sync().unwrap();
    assert_eq!(consistent_at(&verdict(&f.history, &pages(b"ab"))), Some(5));
    assert_eq!(
        verdict(&f.history, &pages(b"acd")),
        Verdict::Consistent {
            generation: 6,
            committed_at: at
        }
    );
    // Out of order, or growing without writing the new page: refused.
    assert!(matches!(
        w.commit(6, at, 3 * P, []),
        Err(Error::History { .. })
    ));
    let e = w.commit(7, at, 4 * P, []).unwrap_err().to_string();
    assert!(e.contains("grows from 3 to 4 pages"), "{e}");
    assert_eq!(w.newest_generation(), 6);
}

#[test]
fn reopening_reconciles_with_the_data_file() {
    let f = fixture(b"ab");
    let data = File::open(&f.data).unwrap();
    let mut w = HistoryWriter::open(&f.history, &data, 1, MIN_LIMIT_BYTES).unwrap();
    let t = UNIX_EPOCH;
    w.commit(2, t, 2 * P, [(0, digest(b'x'))]).unwrap();
    w.commit(3, t, 2 * P, [(0, digest(b'y'))]).unwrap();
    let full = w.len_bytes();
    drop(w);
    // A torn append after a crash: cut off, the rest kept. The data file
    // is still at generation 1 (the history ran ahead of it): 2 and 3 go,
    // and 1 agrees with the file, so no baseline is added.
    let mut bytes = fs::read(&f.history).unwrap();
    bytes.extend_from_slice(&[0x55; 30]);
    fs::write(&f.history, &bytes).unwrap();
    let w = HistoryWriter::open(&f.history, &data, 1, MIN_LIMIT_BYTES).unwrap();
    assert_eq!(w.newest_generation(), 1);
    assert_eq!(w.len_bytes(), full - 2 * (8 + 40 + 16));
    drop(w);
    let h = History::read(&f.history).unwrap();
    assert_eq!(h.generations().collect::<Vec<_>>(), [1]);
    assert_eq!(h.torn_tail_bytes(), 0);
    // The data file moved on without the history (a machine crash lost
    // the records): a baseline for where it is now, older records kept.
    fs::write(&f.data, pages(b"zb")).unwrap();
    let data = File::open(&f.data).unwrap();
    let w = HistoryWriter::open(&f.history, &data, 9, MIN_LIMIT_BYTES).unwrap();
    drop(w);
    let h = History::read(&f.history).unwrap();
    assert_eq!(h.generations().collect::<Vec<_>>(), [1, 9]);
    assert_eq!(consistent_at(&verdict(&f.history, &pages(b"zb"))), Some(9));
    assert_eq!(consistent_at(&verdict(&f.history, &pages(b"ab"))), Some(1));
    // Same generation, other contents: the data file wins.
    fs::write(&f.data, pages(b"qb")).unwrap();
    let data = File::open(&f.data).unwrap();
    drop(HistoryWriter::open(&f.history, &data, 9, MIN_LIMIT_BYTES).unwrap());
    assert_eq!(consistent_at(&verdict(&f.history, &pages(b"qb"))), Some(9));
    assert!(matches!(
        verdict(&f.history, &pages(b"zb")),
        Verdict::Unknown { .. }
    ));
}

#[test]
fn the_limit_drops_the_oldest_generations() {
    let f = fixture(b"abcd");
    let data = File::open(&f.data).unwrap();
    let mut w = HistoryWriter::open(&f.history, &data, 0, MIN_LIMIT_BYTES).unwrap();
    let t = UNIX_EPOCH;
    let mut max = 0;
    for g in 1..=5000u64 {
        w.commit(g, t, 4 * P, [(g % 4, g), (0, g)]).unwrap();
        max = max.max(w.len_bytes());
    }
    assert!(max <= MIN_LIMIT_BYTES, "{max}");
    drop(w);
    let h = History::read(&f.history).unwrap();
    let oldest = h.oldest_generation().unwrap();
    assert_eq!(h.newest_generation(), Some(5000));
    assert!(oldest > 4000 && oldest < 5000, "{oldest}");
    // The oldest kept generation is complete: the writer's pages equal
    // the versions the baseline gave them.
    assert!(oldest > 0);
    // A copy older than the history, whose header says so, is unknown.
    let old = crate::datafile::build_image(3, []);
    let Verdict::Unknown { reason } = h.judge(&mut &old[..]).unwrap() else {
        panic!()
    };
    assert!(reason.starts_with("older than the history"), "{reason}");
}

#[test]
fn what_is_not_a_history_is_refused_and_left_alone() {
    let f = fixture(b"a");
    let data = File::open(&f.data).unwrap();
    fs::write(&f.history, b"some other file, not a history at all").unwrap();
    let e = HistoryWriter::open(&f.history, &data, 0, MIN_LIMIT_BYTES).unwrap_err();
    assert!(matches!(e, Error::NotAHistory { .. }), "{e}");
    assert!(e.to_string().ends_with("not a history: bad magic"), "{e}");
    assert_eq!(
        fs::read(&f.history).unwrap(),
        b"some other file, not a history at all"
    );
    assert!(matches!(
        History::read(&f.history),
        Err(Error::NotAHistory { .. })
    ));
    fs::remove_file(&f.history).unwrap();
    fs::create_dir(&f.history).unwrap();
    let e = HistoryWriter::open(&f.history, &data, 0, MIN_LIMIT_BYTES).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    let e = History::read(&f.history).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    fs::remove_dir(&f.history).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&f.data, &f.history).unwrap();
        let e = HistoryWriter::open(&f.history, &data, 0, MIN_LIMIT_BYTES).unwrap_err();
        assert!(e.to_string().contains("a symlink"), "{e}");
        fs::remove_file(&f.history).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(&f.history)
            .status();
        if fifo.is_ok_and(|s| s.success()) {
            let e = HistoryWriter::open(&f.history, &data, 0, MIN_LIMIT_BYTES).unwrap_err();
            assert!(e.to_string().contains("a FIFO"), "{e}");
            let e = History::read(&f.history).unwrap_err();
            assert!(e.to_string().contains("a FIFO"), "{e}");
        }
    }
    let e = HistoryWriter::open(&f.data.with_extension("x"), &data, 0, 10).unwrap_err();
    assert!(matches!(e, Error::History { .. }), "{e}");
}

/// A data file truncated to nothing under the writer (by another process)
/// is recorded as it is, never a panic.
#[test]
fn a_file_emptied_under_the_writer_is_recorded_without_a_panic() {
    let f = fixture(b"ab");
    let data = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&f.data)
        .unwrap();
    let mut w = HistoryWriter::open(&f.history, &data, 1, MIN_LIMIT_BYTES).unwrap();
    data.set_len(0).unwrap();
    let commit = crate::server::Commit {
        generation: 2,
        message_id: None,
        touched: [0..80, 0..0, 0..0],
        reclaimed_bytes: 0,
    };
    w.commit_from(&commit, &data).unwrap();
    assert_eq!(w.newest_generation(), 2);
}
