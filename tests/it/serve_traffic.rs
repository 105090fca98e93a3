//! `mailsim serve` serves the simulated night's traffic: deliveries, reads
//! that set a flag in place, deletions and compactions, in `--mix`'s
//! proportions, every line stamped with the time.

use std::collections::BTreeSet;
use std::process::Command;

use mailsim::datafile::{self, RecordFlags};

use crate::processes::{BIN, DATA, Proc, SOON, ids_after, text, unstamped};

/// Serves `dir` at a high rate for `secs`, stopped by timeout(1)'s SIGTERM;
/// returns its stdout lines as printed.
fn serve_for(dir: &std::path::Path, secs: &str, extra: &[&str]) -> Vec<String> {
    let o = Command::new("timeout")
        .args(["--preserve-status", secs, BIN, "serve", "--dir"])
        .arg(dir)
        .args(["--rate", "2000"])
        .args(extra)
        .output()
        .expect("timeout(1) runs serve");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    text(&o.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_default_mix_delivers_reads_deletes_and_compacts_and_every_line_has_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = serve_for(tmp.path(), "3", &[]);
    let lines: Vec<String> = raw.iter().cloned().map(unstamped).collect();
    assert!(
        lines.iter().all(|l| !l.starts_with("UNSTAMPED")),
        "{lines:?}"
    );
    // The stamps are in order, to the millisecond.
    let stamps: Vec<&str> = raw.iter().map(|l| &l[..24]).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    assert!(lines[0].starts_with("ready: "), "{}", lines[0]);
    assert!(
        lines[0].contains("(deliver=50,read=35,delete=15)"),
        "{}",
        lines[0]
    );
    let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count() as f64;
    let (acks, reads, deletes) = (count("ack "), count("read "), count("deleted "));
    let compactions = count("compacted: ");
    let served = acks + reads + deletes;
    // Enough requests for the proportions below to mean something (not a
    // speed figure: those are in benches/; a loaded machine syncs slowly).
    assert!(served > 300.0, "{served} requests in 3 s at 2000 a second");
    // 50/35/15, less the reads and deletions of an empty file (nothing to
    // do, nothing said).
    assert!((0.40..0.62).contains(&(acks / served)), "{acks}/{served}");
    assert!((0.22..0.45).contains(&(reads / served)), "{reads}/{served}");
    assert!(
        (0.07..0.25).contains(&(deletes / served)),
        "{deletes}/{served}"
    );
    assert!(compactions >= 1.0, "no compaction in {served} requests");
    // Reads and deletions are of messages delivered before; each deleted
    // message is deleted once, and never read after.
    let acked: BTreeSet<u64> = ids_after("ack ", &lines).into_iter().collect();
    let deleted = ids_after("deleted ", &lines);
    assert!(deleted.iter().all(|id| acked.contains(id)));
    assert_eq!(deleted.len(), deleted.iter().collect::<BTreeSet<_>>().len());
    for (i, l) in lines.iter().enumerate() {
        if let Some(id) = l.strip_prefix("deleted ") {
            let later_read = lines[i..].iter().any(|m| m == &format!("read {id}"));
            assert!(!later_read, "message {id} read after its deletion");
        }
    }
    // The file holds exactly the messages acknowledged and not deleted.
    let bytes = std::fs::read(tmp.path().join(DATA)).unwrap();
    let (header, records) = datafile::scan(&bytes).expect("the file verifies");
    let live: BTreeSet<u64> = records
        .iter()
        .filter(|r| !r.flags.contains(RecordFlags::DELETED))
        .map(|r| r.message_id)
        .collect();
    let kept: BTreeSet<u64> = acked
        .iter()
        .copied()
        .filter(|id| !deleted.contains(id))
        .collect();
    assert_eq!(live, kept);
    assert!(header.generation > 0);
}

#[test]
fn a_mix_of_deliveries_only_only_delivers_and_never_compacts() {
    let tmp = tempfile::tempdir().unwrap();
    let lines: Vec<String> = serve_for(tmp.path(), "0.5", &["--mix", "deliver=1"])
        .into_iter()
        .map(unstamped)
        .collect();
    assert!(
        lines[0].contains("(deliver=1,read=0,delete=0)"),
        "{}",
        lines[0]
    );
    let acks = ids_after("ack ", &lines);
    assert!(acks.len() > 100, "{}", acks.len());
    // Consecutive ids, nothing else served.
    assert!(acks.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(lines.len(), acks.len() + 2, "{lines:?}");
    assert!(lines.last().unwrap().starts_with("stopped on a signal"));
}

#[test]
fn compaction_follows_compact_every() {
    let tmp = tempfile::tempdir().unwrap();
    let never: Vec<String> = serve_for(tmp.path(), "0.6", &["--compact-every", "never"])
        .into_iter()
        .map(unstamped)
        .collect();
    assert!(ids_after("deleted ", &never).len() > 10);
    assert!(!never.iter().any(|l| l.starts_with("compacted")));
    // Every 100 ms, with deleted mail to reclaim from the start.
    let tmp = tempfile::tempdir().unwrap();
    let every: Vec<String> = serve_for(tmp.path(), "1", &["--compact-every", "100ms"])
        .into_iter()
        .map(unstamped)
        .collect();
    let n = every
        .iter()
        .filter(|l| l.starts_with("compacted: "))
        .count();
    assert!((4..=11).contains(&n), "{n} compactions in 1 s every 100 ms");
}

#[test]
fn a_bad_mix_is_a_one_line_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    for (mix, says) in [
        ("deliver=0", "every weight is 0"),
        ("send=1", "unknown kind \"send\""),
        ("deliver=x", "\"x\" is not a whole number"),
        ("deliver=1,deliver=2", "deliver is given twice"),
        ("deliver=2000000", "above the most"),
    ] {
        let mut serve = Proc::serve(tmp.path(), &["--mix", mix]);
        let code = serve.exited_within(SOON).expect("a usage error exits");
        assert_eq!(code, Some(2), "--mix {mix}");
        let err = serve.stderr_now();
        assert!(err.contains(says), "--mix {mix}: {err}");
        assert!(serve.seen.is_empty(), "{:?}", serve.seen);
        // Nothing was created.
        assert!(!tmp.path().join(DATA).exists());
    }
}
