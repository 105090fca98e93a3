//! A real server's history on disk: every copy of a committed state is
//! judged consistent at its generation, mixtures torn page by page, other
//! files unknown; `mailsim verify --history` says so with its exit codes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use mailsim::MailServer;
use mailsim::datafile::{self, PAGE_BYTES, RecordFlags};
use mailsim::history::{self, History, HistoryWriter, PageRange, Verdict};
use mailsim::server::Commit;
use mailsim::volume::{OsVolume, VolumePath};

struct Served {
    dir: tempfile::TempDir,
    history: PathBuf,
    /// (generation, the file's bytes just after it committed).
    copies: Vec<(u64, Vec<u8>)>,
}

fn bytes_of(f: &File) -> Vec<u8> {
    let mut b = vec![0; f.metadata().unwrap().len() as usize];
    f.read_exact_at(&mut b, 0).unwrap();
    b
}

/// A server on disk: three deliveries, a read, a deletion, a compaction,
/// two more deliveries, each commit recorded in the history.
fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Microsoft Mail Data"),
        datafile::build_image(0, []),
    )
    .unwrap();
    let hd = OsVolume::open_dir("Server HD", dir.path()).unwrap();
    let path = VolumePath::new("Server HD", ["Microsoft Mail Data"]);
    let mut server = MailServer::start(&hd, path).unwrap();
    let file = hd.try_clone_file(server.handle().unwrap()).unwrap();
    let history = dir.path().join(history::HISTORY_NAME);
    let mut w = HistoryWriter::open(
        &history,
        &file,
        server.generation(),
        history::DEFAULT_LIMIT_BYTES,
    )
    .unwrap();
    let mut copies = vec![(server.generation(), bytes_of(&file))];
    let mut record = |c: Commit, w: &mut HistoryWriter| {
        w.commit_from(&c, &file).unwrap();
        copies.push((c.generation, bytes_of(&file)));
    };
    let mut ids = Vec::new();
    for len in [3000, 9000, 500] {
        let c = server.deliver(&hd, len).unwrap();
        ids.push(c.message_id.unwrap());
        record(c, &mut w);
    }
    let c = server.mark_read_message(&hd, ids[0]).unwrap().unwrap();
    record(c, &mut w);
    let c = server.delete_message(&hd, ids[1]).unwrap().unwrap();
    record(c, &mut w);
    let c = server.compact(&hd).unwrap();
    record(c, &mut w);
    for len in [7000, 100] {
        let c = server.deliver(&hd, len).unwrap();
        record(c, &mut w);
    }
    w.sync().unwrap();
    assert_eq!(w.newest_generation(), server.generation());
    drop(w);
    server.stop(&hd).unwrap();
    Served {
        dir,
        history,
        copies,
    }
}

fn judged(history: &Path, copy: &[u8]) -> Verdict {
    History::read(history)
        .unwrap()
        .judge(&mut &copy[..])
        .unwrap()
}

fn page(b: &[u8], p: usize) -> &[u8] {
    let s = p * PAGE_BYTES as usize;
    &b[s..(s + PAGE_BYTES as usize).min(b.len())]
}

#[test]
fn every_committed_state_is_consistent_at_its_generation() {
    let s = serve();
    let gens: Vec<u64> = s.copies.iter().map(|c| c.0).collect();
    assert_eq!(gens, (0..=8).collect::<Vec<_>>());
    let lens: Vec<usize> = s.copies.iter().map(|c| c.1.len()).collect();
    assert_eq!(
        lens,
        [4096, 7120, 16144, 16672, 16672, 16672, 20224, 27248, 27376]
    );
    for (g, bytes) in &s.copies {
        match judged(&s.history, bytes) {
            Verdict::Consistent { generation, .. } => assert_eq!(generation, *g),
            v => panic!("generation {g}: {v:?}"),
        }
    }
    let h = History::read(&s.history).unwrap();
    assert_eq!(h.generations().collect::<Vec<_>>(), gens);
    assert_eq!(h.torn_tail_bytes(), 0);
}

#[test]
fn a_copy_of_two_generations_is_torn_page_by_page() {
    let s = serve();
    // The header page of generation 4 (the read), the rest of generation 3.
    let (g3, g4) = (&s.copies[3].1, &s.copies[4].1);
    let mut torn = page(g4, 0).to_vec();
    torn.extend_from_slice(&g3[PAGE_BYTES as usize..]);
    let v = judged(&s.history, &torn);
    let Verdict::Torn {
        pages,
        len_bytes,
        len_generations,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(len_bytes, 16672);
    assert_eq!(len_generations, [3, 4, 5]);
    // Page 1 holds the flag the read set; pages 2 and 3 were last written
    // by deliveries 2 and 3 and stayed until the compaction's file grew
    // past them; page 4 until the compaction wrote into it.
    let r = |first, last, generations: &[u64]| PageRange {
        first,
        last,
        generations: generations.to_vec(),
    };
    assert_eq!(
        pages,
        [
            r(0, 0, &[4]),
            r(1, 1, &[2, 3]),
            r(2, 2, &[2, 3, 4, 5, 6, 7, 8]),
            r(3, 3, &[3, 4, 5, 6, 7, 8]),
            r(4, 4, &[3, 4, 5]),
        ]
    );
}

#[test]
fn other_files_are_unknown_and_say_why() {
    let s = serve();
    let random: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let other = datafile::build_image(4, [(1, RecordFlags::default(), 300)]);
    let older = datafile::build_image(0, [(1, RecordFlags::default(), 300)]);
    for (copy, why) in [
        (&random, "not a copy of this file: page 0"),
        (&other, "not a copy of this file: page 0"),
        (&older, "not a copy of this file"),
    ] {
        let Verdict::Unknown { reason } = judged(&s.history, copy) else {
            panic!("{why}")
        };
        assert!(reason.starts_with(why), "{reason}");
    }
    drop(s.dir);
}

#[test]
fn a_crash_mid_append_and_a_history_ahead_of_its_file_reconcile() {
    let s = serve();
    let data = s.dir.path().join("Microsoft Mail Data");
    // A torn append: garbage after the last record.
    let mut bytes = std::fs::read(&s.history).unwrap();
    let good = bytes.len();
    bytes.extend_from_slice(&[0xA5; 77]);
    std::fs::write(&s.history, &bytes).unwrap();
    assert_eq!(History::read(&s.history).unwrap().torn_tail_bytes(), 77);
    // The data file rolled back to generation 5 under the history.
    std::fs::write(&data, &s.copies[5].1).unwrap();
    let f = File::open(&data).unwrap();
    let w = HistoryWriter::open(&s.history, &f, 5, history::DEFAULT_LIMIT_BYTES).unwrap();
    assert_eq!(w.newest_generation(), 5);
    assert!(w.len_bytes() < good as u64);
    drop(w);
    let h = History::read(&s.history).unwrap();
    assert_eq!(h.generations().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
    assert_eq!(h.torn_tail_bytes(), 0);
    let Verdict::Unknown { .. } = judged(&s.history, &s.copies[7].1) else {
        panic!()
    };
    assert!(matches!(
        judged(&s.history, &s.copies[5].1),
        Verdict::Consistent { generation: 5, .. }
    ));
}

#[test]
fn garbage_histories_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h");
    for bytes in [&b""[..], b"MSHIST\r\n\x01", &[0u8; 4096]] {
        std::fs::write(&p, bytes).unwrap();
        let e = History::read(&p).unwrap_err();
        assert!(matches!(e, mailsim::Error::NotAHistory { .. }), "{e}");
    }
    assert!(History::read(dir.path()).is_err());
    assert!(History::read(&dir.path().join("missing")).is_err());
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;
    use crate::support::{mailsim, stderr, stdout};

    fn write_copy(s: &Served, name: &str, bytes: &[u8]) -> String {
        let p = s.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }

    #[test]
    fn verify_history_judges_with_exit_codes_and_json() {
        let s = serve();
        let h = s.history.display().to_string();
        let good = write_copy(&s, "copy", &s.copies[6].1);
        let o = mailsim(&["verify", &good, "--history", &h]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let line = stdout(&o);
        assert!(
            line.starts_with("consistent: generation 6 (committed 20"),
            "{line}"
        );
        assert!(line.trim_end().ends_with("Z)"), "{line}");
        let o = mailsim(&["verify", &good, "--history", &h, "--json"]);
        assert_eq!(o.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["verdict"], "consistent");
        assert_eq!(v["generation"], 6);
        assert!(v["committed_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["pages"], serde_json::json!([]));
        assert!(v["length"].is_null() && v["reason"].is_null());

        let mut torn = page(&s.copies[4].1, 0).to_vec();
        torn.extend_from_slice(&s.copies[3].1[PAGE_BYTES as usize..]);
        let torn = write_copy(&s, "torn", &torn);
        let o = mailsim(&["verify", &torn, "--history", &h]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stdout(&o).starts_with("torn: pages 0-0 = generation 4; pages 1-"),
            "{}",
            stdout(&o)
        );
        assert!(
            stdout(&o)
                .trim_end()
                .ends_with("length 16672 bytes = generations 3-5")
        );
        let o = mailsim(&["verify", &torn, "--history", &h, "--json"]);
        assert_eq!(o.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{keys:?}");
        assert_eq!(v["verdict"], "torn");
        assert!(v["generation"].is_null() && v["committed_at"].is_null());
        assert_eq!(
            v["pages"][0],
            serde_json::json!({"first": 0, "last": 0, "generations": [4]})
        );
        assert_eq!(
            v["length"],
            serde_json::json!({"bytes": 16672, "generations": [3, 4, 5]})
        );

        let other = write_copy(&s, "other", &datafile::build_image(3, []));
        let o = mailsim(&["verify", &other, "--history", &h, "--json"]);
        assert_eq!(o.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["verdict"], "unknown");
        assert!(v["reason"].as_str().unwrap().contains("page 0"), "{v}");

        // Bad input: exit 2, one line on stderr naming the problem.
        let dir = s.dir.path().display().to_string();
        let missing = s.dir.path().join("missing").display().to_string();
        let garbage = write_copy(&s, "garbage", b"not a history");
        for (args, says) in [
            (vec!["verify", &good, "--history", &missing], "--history"),
            (vec!["verify", &good, "--history", &dir], "a directory"),
            (
                vec!["verify", &good, "--history", &garbage],
                "not a history",
            ),
            (vec!["verify", &missing, "--history", &h], "missing"),
            (vec!["verify", &dir, "--history", &h], "a directory"),
            (vec!["verify", &good, "--json"], "--history"),
        ] {
            let o = mailsim(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(o.stdout.is_empty());
        }
    }
}
