//! `mailsim sweep`, spawned as a process: one JSON line per night in case
//! order, shards that add up to the whole, faults drawn per night, merging
//! (of any order, in bounded memory, refusing what is not a regular file),
//! the summary, the flags' ranges, exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{mailsim, stderr, stdout};

use serde_json::Value;

/// Runs `mailsim sweep ARGS`, expecting exit 0, and returns stdout.
fn sweep(args: &[&str]) -> String {
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    let o = mailsim(&all);
    assert_eq!(o.status.code(), Some(0), "{args:?}: stderr {}", stderr(&o));
    stdout(&o)
}

/// Expects exit 2, exactly one line on stderr, nothing on stdout.
fn assert_usage_error(args: &[&str]) -> String {
    let o = mailsim(args);
    let err = stderr(&o);
    crate::support::tally_refusal(o.status.code(), &err);
    assert_eq!(o.status.code(), Some(2), "{args:?}: stderr {err}");
    assert!(o.stdout.is_empty(), "{args:?}: stdout {}", stdout(&o));
    assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
    assert!(err.starts_with("mailsim: error: "), "{err}");
    err
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn case_of(line: &str) -> u64 {
    serde_json::from_str::<Value>(line).expect("a JSON line")["case"]
        .as_u64()
        .expect("case is a number")
}

const KEYS: [&str; 15] = [
    "case",
    "seed",
    "outcome",
    "server_downtime_s",
    "planned_downtime_s",
    "unplanned_downtime_s",
    "recovery_point_age_s",
    "messages_lost",
    "deliveries_deferred",
    "files_archived",
    "files_excluded",
    "files_skipped_busy",
    "bytes_archived",
    "faults",
    "violation",
];

#[test]
fn json_is_one_line_per_night_in_case_order() {
    let o = mailsim(&["sweep", "--cases", "20", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.ends_with('\n'));
    let lines = parse_lines(&text);
    assert_eq!(lines.len(), 20);
    let outcomes = ["clean", "graceful_shutdown", "hang", "crashed", "corrupted"];
    for (k, v) in lines.iter().enumerate() {
        assert_eq!(v["case"], k as u64, "{v}");
        assert_eq!(v["seed"], k as u64, "{v}");
        let keys: Vec<&str> = v
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), KEYS.len(), "{keys:?}");
        for key in KEYS {
            assert!(keys.contains(&key), "{key} missing from {v}");
        }
        assert!(outcomes.contains(&v["outcome"].as_str().expect("outcome")));
        assert!(v["server_downtime_s"].is_f64());
        assert!(v["recovery_point_age_s"].is_f64() || v["recovery_point_age_s"].is_null());
        assert_eq!(v["messages_lost"], 0);
        assert_eq!(
            v["faults"],
            serde_json::json!([]),
            "no faults by default: {v}"
        );
        assert!(v["violation"].is_null(), "{v}");
    }
    // The keys come in the documented order.
    let first = text.lines().next().expect("a line");
    let positions: Vec<usize> = KEYS
        .iter()
        .map(|k| first.find(&format!("\"{k}\":")).expect("key"))
        .collect();
    assert!(positions.is_sorted(), "{first}");
    // The summary goes to stderr.
    let err = stderr(&o);
    assert!(
        err.contains("Outcomes:") && err.contains("no invariant violated"),
        "{err}"
    );
    // Each night is the night `run` gives for its seed.
    let night = mailsim(&["run", "--seed", "13", "--json"]);
    let night: Value = serde_json::from_slice(&night.stdout).expect("run --json");
    assert_eq!(lines[13]["outcome"], night["outcome"]);
    for key in ["server_downtime_s", "deliveries_deferred", "bytes_archived"] {
        assert_eq!(lines[13][key], night["metrics"][key], "{key}");
    }
}

#[test]
fn shards_add_up_to_the_whole_line_for_line() {
    let whole = sweep(&["--cases", "20", "--json"]);
    let one = sweep(&["--cases", "20", "--shard", "1/2", "--json"]);
    let two = sweep(&["--cases", "20", "--shard", "2/2", "--json"]);
    assert_eq!(one.lines().count(), 10);
    assert_eq!(two.lines().count(), 10);
    assert!(one.lines().all(|l| case_of(l).is_multiple_of(2)));
    assert!(two.lines().all(|l| case_of(l) % 2 == 1));

    // Merged by sorting on the case…
    let mut lines: Vec<&str> = one.lines().chain(two.lines()).collect();
    lines.sort_by_key(|l| case_of(l));
    assert_eq!(lines, whole.lines().collect::<Vec<_>>());

    // …and by `--merge`, whatever the order of the files.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (a, b) = (dir.path().join("1.jsonl"), dir.path().join("2.jsonl"));
    std::fs::write(&a, &one).expect("write shard 1");
    std::fs::write(&b, &two).expect("write shard 2");
    let (a, b) = (path(&a), path(&b));
    let merged = mailsim(&["sweep", "--merge", b, a, "--json"]);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    assert_eq!(stdout(&merged), whole);
    assert!(stderr(&merged).contains("20: merged from 2 files"));
    // Without --json, the summary alone, on stdout.
    let summary = sweep(&["--merge", a, b]);
    assert!(summary.contains("Outcomes:"), "{summary}");
    assert!(!summary.contains("\"case\""), "{summary}");

    // Uneven shards add up too.
    let parts: Vec<String> = (1..=3)
        .map(|i| sweep(&["--cases", "20", "--shard", &format!("{i}/3"), "--json"]))
        .collect();
    assert_eq!(
        parts.iter().map(|p| p.lines().count()).collect::<Vec<_>>(),
        [7, 7, 6]
    );
    let mut lines: Vec<&str> = parts.iter().flat_map(|p| p.lines()).collect();
    lines.sort_by_key(|l| case_of(l));
    assert_eq!(lines, whole.lines().collect::<Vec<_>>());
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn jobs_do_not_change_the_output() {
    let args = |jobs: &str| {
        let o = mailsim(&["sweep", "--cases", "24", "--jobs", jobs, "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        o.stdout
    };
    let one = args("1");
    assert_eq!(one, args("2"));
    assert_eq!(one, args("5"));
}

#[test]
fn seed_start_shifts_the_seeds() {
    let lines = parse_lines(&sweep(&["--cases", "3", "--seed-start", "100", "--json"]));
    let seeds: Vec<u64> = lines.iter().map(|v| v["seed"].as_u64().unwrap()).collect();
    let cases: Vec<u64> = lines.iter().map(|v| v["case"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [100, 101, 102]);
    assert_eq!(cases, [0, 1, 2]);
    let lines = parse_lines(&sweep(&[
        "--cases",
        "4",
        "--seed-start",
        "100",
        "--shard",
        "2/2",
        "--json",
    ]));
    let seeds: Vec<u64> = lines.iter().map(|v| v["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [101, 103]);
}

#[test]
fn bad_shard_specs_are_one_line_and_exit_2() {
    for spec in ["0/2", "3/2", "a/b", "1/0", "1-2"] {
        let err = assert_usage_error(&["sweep", "--cases", "4", "--shard", spec]);
        assert!(err.contains("--shard"), "{spec}: {err}");
    }
    assert_usage_error(&["sweep"]);
    assert_usage_error(&["sweep", "--cases", "0"]);
    assert_usage_error(&["sweep", "--cases", "4", "--jobs", "0"]);
    assert_usage_error(&["sweep", "--merge", "x", "--behavior", "hang"]);
    assert_usage_error(&["sweep", "--merge", "x", "--cases", "3"]);
    assert_usage_error(&["sweep", "--merge", "/no/such/file"]);
    assert_usage_error(&[
        "sweep",
        "--cases",
        "2",
        "--seed-start",
        &u64::MAX.to_string(),
    ]);
    let err = assert_usage_error(&["sweep", "--cases", "2", "--nights", "0"]);
    assert!(err.contains("nights"), "{err}");
}

#[test]
fn corrupted_nights_are_results_not_violations() {
    let o = mailsim(&["sweep", "--behavior", "tolerate", "--cases", "10", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines = parse_lines(&stdout(&o));
    assert_eq!(lines.len(), 10);
    assert!(
        lines.iter().any(|v| v["outcome"] == "corrupted"),
        "no corrupted night under tolerate"
    );
    assert!(lines.iter().all(|v| v["violation"].is_null()));

    let text = sweep(&["--behavior", "tolerate", "--cases", "10", "--jobs", "2"]);
    assert!(text.contains("Outcomes:"), "{text}");
    let corrupted = text
        .lines()
        .find(|l| l.trim_start().starts_with("corrupted"))
        .expect("a corrupted row");
    assert!(!corrupted.contains(" 0.0%"), "{corrupted}");
    assert!(text.contains("nights/s"), "{text}");
    assert!(text.contains("no invariant violated"), "{text}");
}

#[test]
fn merge_refuses_duplicates_and_bad_lines() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let whole = sweep(&["--cases", "6", "--json"]);
    let one = sweep(&["--cases", "6", "--shard", "1/2", "--json"]);
    let (all, part) = (dir.path().join("all.jsonl"), dir.path().join("1.jsonl"));
    std::fs::write(&all, &whole).unwrap();
    std::fs::write(&part, &one).unwrap();
    let err = assert_usage_error(&["sweep", "--merge", path(&all), path(&part), "--json"]);
    assert!(err.contains("case 0 appears twice"), "{err}");
    let err = assert_usage_error(&["sweep", "--merge", path(&all), path(&all)]);
    assert!(err.contains("appears twice"), "{err}");

    let bad = dir.path().join("bad.jsonl");
    let mut text = one.clone();
    text.push_str("{\"case\":\n");
    std::fs::write(&bad, &text).unwrap();
    let err = assert_usage_error(&["sweep", "--merge", path(&bad), "--json"]);
    assert!(err.contains(&format!("{}:4:", path(&bad))), "{err}");

    // Lines out of order within a file are still merged in case order.
    let mut reversed: Vec<&str> = whole.lines().collect();
    reversed.reverse();
    let rev = dir.path().join("rev.jsonl");
    std::fs::write(&rev, reversed.join("\n") + "\n").unwrap();
    assert_eq!(sweep(&["--merge", path(&rev), "--json"]), whole);
}

/// Runs the built `mailsim` with `args` (and `TMPDIR` set to `tmp`, when
/// given), killing it if it has not ended within `limit`: a test of
/// something that used to block never hangs the suite.
fn mailsim_within(limit: Duration, args: &[&str], tmp: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailsim"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(tmp) = tmp {
        cmd.env("TMPDIR", tmp);
    }
    let mut child = cmd.spawn().expect("the mailsim binary runs");
    // Drained as it comes, so that a full pipe never stops the child.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for mailsim") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout drained"),
        stderr: err.join().expect("stderr drained"),
    }
}

/// Expects exit 2 within a few seconds, one line on stderr, nothing on
/// stdout; returns the line.
fn assert_usage_error_within(args: &[&str], tmp: Option<&Path>) -> String {
    let o = mailsim_within(Duration::from_secs(20), args, tmp);
    let err = stderr(&o);
    crate::support::tally_refusal(o.status.code(), &err);
    assert_eq!(o.status.code(), Some(2), "{args:?}: stderr {err}");
    assert!(o.stdout.is_empty(), "{args:?}: stdout {}", stdout(&o));
    assert_eq!(err.lines().count(), 1, "{args:?}: stderr {err:?}");
    err
}

const FAULT_KINDS: [&str; 6] = [
    "read_error",
    "write_error",
    "disk_full",
    "server_crash",
    "backup_crash",
    "control_panel_not_loaded",
];

/// The count of `outcome` in a summary's row.
fn summary_count(summary: &str, outcome: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(outcome)).then(|| words.next())?
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {outcome} row in {summary}"))
}

#[test]
fn faulty_nights_are_drawn_from_the_seed_and_named_on_their_lines() {
    let o = mailsim(&["sweep", "--cases", "300", "--faults", "3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines = parse_lines(&text);
    assert_eq!(lines.len(), 300);

    // Every kind of fault somewhere, never more than 3 of a kind a night.
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    for v in &lines {
        let faults = v["faults"].as_array().unwrap_or_else(|| panic!("{v}"));
        let mut per_night = std::collections::BTreeMap::<&str, u64>::new();
        for f in faults {
            let kind = f["kind"].as_str().expect("a fault has a kind");
            assert!(FAULT_KINDS.contains(&kind), "{f}");
            *per_night.entry(kind).or_default() += 1;
            *kinds.entry(kind.to_owned()).or_default() += 1;
        }
        assert!(per_night.values().all(|&n| n <= 3), "{v}");
        // Every invariant holds under faults: a violation is a library bug.
        assert!(v["violation"].is_null(), "{v}");
        assert_eq!(v["messages_lost"], 0, "{v}");
    }
    for kind in FAULT_KINDS {
        assert!(
            kinds.contains_key(kind),
            "no {kind} in 300 nights: {kinds:?}"
        );
    }
    let crashed = lines.iter().filter(|v| v["outcome"] == "crashed").count() as u64;
    assert!(crashed > 0, "no night crashed under 300 nights of faults");
    let err = stderr(&o);
    assert_eq!(summary_count(&err, "crashed"), crashed, "{err}");
    assert!(err.contains("no invariant violated"), "{err}");

    // The same seeds give the same faults and nights, whatever the jobs…
    let again = sweep(&["--cases", "300", "--faults", "3", "--json", "--jobs", "1"]);
    assert_eq!(again, text);
    // …and whatever the case: the faults come from the seed.
    let shifted = parse_lines(&sweep(&[
        "--cases",
        "5",
        "--seed-start",
        "295",
        "--faults",
        "3",
        "--json",
    ]));
    for (k, v) in shifted.iter().enumerate() {
        let mut same = lines[295 + k].clone();
        same["case"] = serde_json::json!(k);
        assert_eq!(*v, same);
    }
    // Fewer faults at most: --faults 1 never draws two of a kind.
    for v in parse_lines(&sweep(&["--cases", "50", "--faults", "1", "--json"])) {
        let faults = v["faults"].as_array().expect("faults");
        assert!(faults.len() <= FAULT_KINDS.len(), "{v}");
    }
}

#[test]
fn a_faulty_night_replays_from_a_scenario_file_with_its_faults() {
    let lines = parse_lines(&sweep(&["--cases", "12", "--faults", "2", "--json"]));
    let v = lines
        .iter()
        .find(|v| v["outcome"] == "crashed")
        .expect("a crashed night in 12");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("night.json");
    let scenario = serde_json::json!({
        "schema": "mailsim-scenario",
        "version": 1,
        "seed": v["seed"],
        "faults": v["faults"],
    });
    std::fs::write(&file, scenario.to_string()).expect("write the scenario");
    let o = mailsim(&["run", "--scenario", path(&file), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let night: Value = serde_json::from_slice(&o.stdout).expect("run --json");
    assert_eq!(night["outcome"], v["outcome"]);
    for key in ["server_downtime_s", "deliveries_deferred", "bytes_archived"] {
        assert_eq!(night["metrics"][key], v[key], "{key}");
    }
}

#[test]
fn numbers_out_of_their_range_are_refused_naming_the_flag() {
    for (args, flag) in [
        (vec!["--cases", "4", "--faults", "17"], "--faults"),
        (vec!["--cases", "4", "--faults=-1"], "--faults"),
        (vec!["--cases", "4", "--jobs", "257"], "--jobs"),
        (vec!["--cases", "4", "--jobs", "0"], "--jobs"),
        (vec!["--cases", "1000000000001"], "--cases"),
        (vec!["--cases", "0"], "--cases"),
        (vec!["--cases", "99999999999999999999999"], "--cases"),
    ] {
        let mut all = vec!["sweep"];
        all.extend(&args);
        let err = assert_usage_error(&all);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    // The last seed would pass 2^64 - 1: both flags are named.
    let max = u64::MAX.to_string();
    let near = (u64::MAX - 1).to_string();
    for (seed, cases) in [(near.as_str(), "3"), (max.as_str(), "2")] {
        let err = assert_usage_error(&["sweep", "--seed-start", seed, "--cases", cases]);
        assert!(
            err.contains("--seed-start") && err.contains("--cases"),
            "{err}"
        );
    }
    // Exactly at the end is fine.
    let lines = parse_lines(&sweep(&["--seed-start", &near, "--cases", "2", "--json"]));
    assert_eq!(lines[1]["seed"], u64::MAX);
    assert_usage_error(&["sweep", "--merge", "x", "--faults", "1"]);
    // Every range is in --help.
    let help = stdout(&mailsim(&["sweep", "--help"]));
    for range in ["1 to 10^12", "0 to 16", "1 to 256", "0 to 2^64 - 1"] {
        assert!(help.contains(range), "{range} missing from {help}");
    }
}

#[cfg(unix)]
#[test]
fn merge_of_a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fifo = dir.path().join("shard.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let err = assert_usage_error_within(&["sweep", "--merge", path(&fifo)], None);
    assert!(err.contains("a FIFO") && err.contains(path(&fifo)), "{err}");
    // Named after a good file, too: every path is checked before any is read.
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, sweep(&["--cases", "2", "--json"])).expect("write");
    let err = assert_usage_error_within(&["sweep", "--merge", path(&good), path(&fifo)], None);
    assert!(err.contains("a FIFO"), "{err}");
}

#[cfg(unix)]
#[test]
fn merge_of_dev_zero_is_refused_at_once_not_read_until_memory_runs_out() {
    let err = assert_usage_error_within(&["sweep", "--merge", "/dev/zero", "--json"], None);
    assert!(
        err.contains("/dev/zero") && err.contains("character device"),
        "{err}"
    );
}

#[test]
fn merge_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let err = assert_usage_error_within(&["sweep", "--merge", path(dir.path())], None);
    assert!(err.contains("a directory"), "{err}");
}

#[test]
fn merge_of_a_line_longer_than_the_limit_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // A file with no newline at all is not read whole: the limit stops it.
    let no_newline = dir.path().join("no-newline.jsonl");
    std::fs::write(&no_newline, vec![b'x'; 4 << 20]).expect("write");
    let err = assert_usage_error_within(&["sweep", "--merge", path(&no_newline)], None);
    assert!(
        err.contains(&format!("{}:1:", path(&no_newline))) && err.contains("65536"),
        "{err}"
    );
    // A good line, then one padded past the limit with white space (valid
    // JSON, but no sweep line is that long).
    let mut text = sweep(&["--cases", "1", "--json"]);
    let padded = text.replacen("{", &format!("{{{}", " ".repeat(70_000)), 1);
    text.push_str(&padded);
    let long = dir.path().join("long.jsonl");
    std::fs::write(&long, &text).expect("write");
    let err = assert_usage_error_within(&["sweep", "--merge", path(&long)], None);
    assert!(err.contains(&format!("{}:2:", path(&long))), "{err}");
    // Just under the limit is a line like any other.
    let mut text = sweep(&["--cases", "1", "--json"]);
    let under = text.replacen("{", &format!("{{{}", " ".repeat(60_000)), 1);
    text = under.replace("\"case\":0", "\"case\":1") + &text;
    let ok = dir.path().join("ok.jsonl");
    std::fs::write(&ok, &text).expect("write");
    assert_eq!(sweep(&["--merge", path(&ok), "--json"]).lines().count(), 2);
}

/// `n` sweep lines: the nights of a short sweep, repeated with cases (and
/// seeds) 0 to n-1, so that a large merge needs no large sweep.
fn many_lines(n: u64) -> Vec<String> {
    let nights = parse_lines(&sweep(&["--cases", "16", "--faults", "1", "--json"]));
    (0..n)
        .map(|k| {
            let mut v = nights[(k % 16) as usize].clone();
            v["case"] = serde_json::json!(k);
            v["seed"] = serde_json::json!(k);
            v.to_string()
        })
        .collect()
}

#[test]
fn merge_of_a_reversed_file_of_many_runs_is_in_case_order_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tmp = tempfile::tempdir().expect("a temporary directory for the merge");
    let lines = many_lines(5_000);
    let whole = lines.join("\n") + "\n";
    // 5,000 runs of one line each: far more than are merged at once.
    let mut reversed = lines.clone();
    reversed.reverse();
    let rev = dir.path().join("rev.jsonl");
    std::fs::write(&rev, reversed.join("\n") + "\n").expect("write");
    let o = mailsim_within(
        Duration::from_secs(60),
        &["sweep", "--merge", path(&rev), "--json"],
        Some(tmp.path()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o) == whole, "not in case order");
    let err = stderr(&o);
    assert!(
        err.contains("5000: merged from 1 file, cases 0 to 4999"),
        "{err}"
    );
    assert!(!err.contains("missing"), "{err}");
    for outcome in ["clean", "graceful_shutdown", "hang", "crashed"] {
        let n = lines
            .iter()
            .filter(|l| l.contains(&format!("\"outcome\":\"{outcome}\"")))
            .count() as u64;
        assert_eq!(summary_count(&err, outcome), n, "{outcome}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .expect("the merge's TMPDIR")
            .count(),
        0,
        "a temporary file was left behind"
    );

    // Two shards, each shuffled in its own way, merge to the whole.
    let (evens, odds): (Vec<&String>, Vec<&String>) =
        lines.iter().partition(|l| case_of(l).is_multiple_of(2));
    let shuffle = |v: &[&String]| -> String {
        // Every third line first, then the rest backwards: many runs.
        let mut out: Vec<&str> = v.iter().step_by(3).map(|s| s.as_str()).collect();
        out.extend(v.iter().rev().map(|s| s.as_str()));
        out.dedup();
        let mut seen = std::collections::HashSet::new();
        out.retain(|l| seen.insert(*l));
        out.join("\n") + "\n"
    };
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, shuffle(&evens)).expect("write");
    std::fs::write(&b, shuffle(&odds)).expect("write");
    let o = mailsim_within(
        Duration::from_secs(60),
        &["sweep", "--merge", path(&b), path(&a), "--json"],
        Some(tmp.path()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o) == whole,
        "shuffled shards not merged in case order"
    );

    // A case twice, far apart in an unsorted file: found, both places named,
    // and the temporary files gone on that error too.
    let mut dup = reversed.clone();
    dup.push(lines[1234].clone());
    let dup_file = dir.path().join("dup.jsonl");
    std::fs::write(&dup_file, dup.join("\n") + "\n").expect("write");
    let err = assert_usage_error_within(&["sweep", "--merge", path(&dup_file)], Some(tmp.path()));
    let first = 5_000 - 1234;
    assert!(
        err.contains(&format!(
            "case 1234 appears twice: {0}:{first} and {0}:5001",
            path(&dup_file)
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).expect("TMPDIR").count(), 0);
}

#[test]
fn old_lines_without_faults_still_merge() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let new = sweep(&["--cases", "6", "--json"]);
    assert!(new.contains(",\"faults\":[],"), "{new}");
    let old = new.replace(",\"faults\":[]", "");
    let file = dir.path().join("old.jsonl");
    std::fs::write(&file, &old).expect("write");
    let o = mailsim(&["sweep", "--merge", path(&file), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), old, "old lines come out as they were");
    assert!(stderr(&o).contains("6: merged from 1 file, cases 0 to 5"));
    // Old and new together.
    let mut mixed: Vec<&str> = old.lines().step_by(2).collect();
    mixed.extend(new.lines().skip(1).step_by(2));
    let mixed_file = dir.path().join("mixed.jsonl");
    std::fs::write(&mixed_file, mixed.join("\n") + "\n").expect("write");
    let text = sweep(&["--merge", path(&mixed_file), "--json"]);
    assert_eq!(
        text.lines().map(case_of).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn merge_refuses_a_line_with_a_fault_no_night_could_have() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = sweep(&["--cases", "2", "--json"]).replacen(
        "\"faults\":[]",
        "\"faults\":[{\"kind\":\"write_error\",\"nth\":0}]",
        1,
    );
    let file = dir.path().join("bad.jsonl");
    std::fs::write(&file, text).expect("write");
    let err = assert_usage_error(&["sweep", "--merge", path(&file)]);
    assert!(
        err.contains(&format!("{}:1:", path(&file))) && err.contains("write_error"),
        "{err}"
    );
}
