//! `mailsim sweep`, spawned as a process: one JSON line per night in case
//! order, shards that add up to the whole, merging, the summary, exit codes.

use std::path::Path;

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

const KEYS: [&str; 14] = [
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
