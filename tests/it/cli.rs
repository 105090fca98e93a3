//! The `mailsim` command, spawned as a process: JSON output, exit codes,
//! one-line errors, the demo table.

use std::process::{Command, Output};

use serde_json::Value;

fn mailsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailsim"))
        .args(args)
        .output()
        .expect("the mailsim binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Runs `mailsim run --json ARGS`, expecting success, and parses the report.
fn run_json(args: &[&str]) -> Value {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    let o = mailsim(&all);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(o.stderr.is_empty(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1, "--json prints one line");
    serde_json::from_str(&text).expect("run --json prints JSON")
}

fn metric(v: &Value, key: &str) -> Value {
    v["metrics"]
        .get(key)
        .unwrap_or_else(|| panic!("metrics.{key} missing"))
        .clone()
}

fn count(v: &Value, key: &str) -> u64 {
    metric(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("metrics.{key} is a count"))
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

#[test]
fn run_json_has_the_documented_schema() {
    let v = run_json(&["--seed", "3"]);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["seed"], 3);
    let outcome = v["outcome"].as_str().expect("outcome is a string");
    assert!(
        ["clean", "graceful_shutdown", "hang", "corrupted"].contains(&outcome),
        "{outcome}"
    );
    for key in [
        "server_downtime_s",
        "planned_downtime_s",
        "unplanned_downtime_s",
    ] {
        assert!(metric(&v, key).is_number(), "{key}");
    }
    assert!(metric(&v, "recovery_point_age_s").is_number());
    for key in [
        "messages_lost",
        "deliveries_deferred",
        "files_archived",
        "files_excluded",
        "files_skipped_busy",
        "bytes_archived",
    ] {
        count(&v, key);
    }
    assert_eq!(count(&v, "messages_lost"), 0);
    let archive = v["archive"].as_array().expect("archive is a list");
    assert_eq!(archive.len() as u64, count(&v, "files_archived"));
    for a in archive {
        assert!(a["path"].is_string());
        assert!(["consistent", "torn"].contains(&a["verdict"].as_str().unwrap_or("")));
    }
    assert!(!v["timeline"].as_array().expect("timeline").is_empty());
}

#[test]
fn the_same_seed_prints_the_same_bytes() {
    for args in [
        &["run", "--seed", "11", "--json"][..],
        &["run", "--seed", "11"][..],
    ] {
        let a = mailsim(args);
        let b = mailsim(args);
        assert_eq!(a.status.code(), Some(0));
        assert_eq!(a.stdout, b.stdout, "{args:?}");
    }
}

#[test]
fn behaviors_decide_the_outcome() {
    let v = run_json(&["--behavior", "shutdown"]);
    assert_eq!(v["outcome"], "graceful_shutdown");
    assert!(count(&v, "deliveries_deferred") > 0);
    let v = run_json(&["--behavior", "hang", "--seed", "1"]);
    assert_eq!(v["outcome"], "hang");
}

#[test]
fn excluding_mail_data_keeps_the_night_clean() {
    let v = run_json(&["--exclude-file", "Microsoft Mail Data"]);
    assert_eq!(v["outcome"], "clean");
    assert!(metric(&v, "recovery_point_age_s").is_null());
    assert_eq!(count(&v, "files_excluded"), 1);
    assert_eq!(metric(&v, "server_downtime_s").as_f64(), Some(0.0));
}

#[test]
fn excluding_the_system_folder_skips_every_file_in_it() {
    let all = run_json(&["--behavior", "tolerate"]);
    let v = run_json(&["--exclude-folder", "System Folder"]);
    assert_eq!(v["outcome"], "clean");
    assert!(metric(&v, "recovery_point_age_s").is_null());
    let in_system_folder = all["archive"]
        .as_array()
        .expect("archive")
        .iter()
        .filter(|a| {
            a["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("Server HD:System Folder:"))
        })
        .count() as u64;
    assert!(in_system_folder > 1);
    assert_eq!(count(&v, "files_excluded"), in_system_folder);
    assert_eq!(
        count(&v, "files_archived") + in_system_folder,
        count(&all, "files_archived")
    );
}

#[test]
fn several_exclusions_all_apply() {
    let v = run_json(&[
        "--exclude-glob",
        "*Photos",
        "--exclude-file",
        "Microsoft Mail Data",
        "--exclude-folder",
        "Applications",
    ]);
    assert_eq!(v["outcome"], "clean");
    let paths: Vec<&str> = v["archive"]
        .as_array()
        .expect("archive")
        .iter()
        .filter_map(|a| a["path"].as_str())
        .collect();
    assert!(!paths.iter().any(|p| p.contains("Photos")));
    assert!(!paths.iter().any(|p| p.contains(":Applications:")));
    assert!(!paths.iter().any(|p| p.ends_with("Microsoft Mail Data")));
    assert!(count(&v, "files_excluded") > 2);
}

#[test]
fn respecting_locks_skips_mail_data_as_busy() {
    let v = run_json(&["--open-files", "respect-locks"]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(count(&v, "files_skipped_busy"), 1);
    assert!(metric(&v, "recovery_point_age_s").is_null());
}

#[test]
fn run_narrates_then_sums_up() {
    let o = mailsim(&["run", "--behavior", "shutdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(
        "Retrospect Remote opens Server HD:System Folder:Extensions:Microsoft Mail Data for reading"
    ));
    assert!(text.contains("shuts the server down to prevent corruption"));
    assert!(text.contains("restarts the Mail Server"));
    assert!(text.contains("Outcome:            graceful shutdown"));
    assert!(
        text.contains(
            "Mail Data archived:\n  Server HD:System Folder:Extensions:Microsoft Mail Data"
        )
    );
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    let err = assert_usage_error(&["run", "--behavior", "x"]);
    assert!(err.contains("--behavior"), "{err}");
    assert!(err.contains("shutdown, hang, tolerate, kb"), "{err}");
    assert_usage_error(&["run", "--no-such-flag"]);
    assert_usage_error(&["run", "--open-files", "sometimes"]);
    assert_usage_error(&["run", "--seed", "-1"]);
    assert_usage_error(&["frobnicate"]);
    assert_usage_error(&[]);
    assert_usage_error(&["demo", "--seeds", "many"]);
    let err = assert_usage_error(&["run", "--nights", "0"]);
    assert!(err.contains("nights"), "{err}");
    let err = assert_usage_error(&["run", "--exclude-glob", "["]);
    assert!(err.contains("--exclude-glob"), "{err}");
}

#[test]
fn help_and_version_succeed() {
    for args in [&["--help"][..], &["run", "--help"], &["--version"]] {
        let o = mailsim(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(!o.stdout.is_empty());
        assert!(o.stderr.is_empty());
    }
}

#[test]
fn demo_prints_the_table() {
    let o = mailsim(&["demo", "--seeds", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for heading in ["clean", "shutdown", "hang", "corrupted", "median downtime"] {
        assert!(text.contains(heading), "{heading}");
    }
    for case in mailsim::demo::cases() {
        assert!(text.contains(&case.label), "{}", case.label);
        assert!(text.contains(&case.explanation), "{}", case.label);
    }
}

#[test]
fn demo_json_parses() {
    let o = mailsim(&["demo", "--seeds", "3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("demo --json prints JSON");
    assert_eq!(v["schema"], 1);
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), mailsim::demo::cases().len());
    for r in rows {
        assert_eq!(r["nights"], 3);
        let total: u64 = ["clean", "graceful_shutdown", "hang", "corrupted"]
            .iter()
            .map(|k| r["counts"][k].as_u64().expect("count"))
            .sum();
        assert_eq!(total, 3);
        assert!(r["median_downtime_s"].is_number());
    }
}
