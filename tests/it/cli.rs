//! The `mailsim` command, spawned as a process: JSON output, exit codes,
//! one-line errors, the demo table.

use crate::support::{mailsim, stderr, stdout};

use serde_json::Value;

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

/// `run`'s text with its wrapped lines joined again: a line that starts
/// with four spaces or more continues the one before.
fn unwrapped(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("    ") && !out.is_empty() {
            out.pop();
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
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
    // Narration wraps to the terminal's width: compare words.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(
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
    let help = stdout(&mailsim(&["run", "--help"]));
    for flag in [
        "--snapshot",
        "--restart-after-file",
        "--copy-at",
        "--keep",
        "--copy-to",
        "--control-panel-fails-on",
        "--freeze-timeout",
        "--hold-writes-limit",
        "--snapshot-time",
        "--retries",
        "--retry-interval",
        "--writer-vetoes",
        "--max-restarts",
        "--pages-per-step",
        "--step-interval",
        "--requests-per-hour",
        "--nights",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
}

#[test]
fn demo_prints_the_table() {
    // The full table and the explanations: `--wide --explain`.
    let o = mailsim(&["demo", "--seeds", "5", "--wide", "--explain"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for heading in [
        "clean",
        "shutdown",
        "hang",
        "corrupted",
        "median downtime",
        "planned",
        "unplanned",
        "Mail Data in the archive",
        "consistent",
        "recovery point age",
        "files excluded",
    ] {
        assert!(text.contains(heading), "{heading}");
    }
    // Explanations are wrapped to the table's width: compare words.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = words(&text);
    for case in mailsim::demo::cases() {
        assert!(text.contains(&case.label), "{}", case.label);
        assert!(
            flat.contains(&format!("{}: {}", case.label, words(&case.explanation))),
            "{}",
            case.label
        );
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
        for key in [
            "median_planned_downtime_s",
            "median_unplanned_downtime_s",
            "mail_data_archived",
            "mail_data_consistent",
            "median_files_excluded",
            "snapshot_gave_up",
        ] {
            assert!(r[key].is_number(), "{key}");
        }
        let age = &r["median_recovery_point_age_s"];
        assert!(age.is_number() || age.is_null());
        assert_eq!(age.is_null(), r["mail_data_archived"] == 0);
        assert!(r["label"].is_string() && r["explanation"].is_string());
    }
}

/// The remedies that issue 3 added, in the order the table shows them.
const SNAPSHOT_ROWS: [&str; 6] = [
    "stop the server",
    "MS Mail Backup, Mail Data excluded",
    "MS Mail Backup, Mail Data not excluded",
    "copy-on-write snapshot",
    "freeze/thaw (VSS)",
    "online copy (SQLite backup API)",
];

#[test]
fn demo_has_a_row_for_every_remedy() {
    let o = mailsim(&["demo", "--seeds", "3", "--wide"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let mut last = text.find("respect locks").expect("the existing rows stay");
    for label in SNAPSHOT_ROWS {
        let at = text
            .find(&format!("\n{label}  "))
            .unwrap_or_else(|| panic!("{label}"));
        assert!(at > last, "{label} out of order");
        last = at;
    }
    // Rows whose remedy archives no Mail Data say so with "-".
    let row = |label: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{label}  ")))
            .unwrap_or_else(|| panic!("{label}"));
        line[label.len()..]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    // clean shutdown hang corrupted planned unplanned consistent age excluded
    let excluded = row("exclude Microsoft Mail Data");
    assert_eq!(excluded[6], "0%");
    assert_eq!(excluded[7], "-");
    let cow = row("copy-on-write snapshot");
    assert_eq!(cow[..4], ["3", "0", "0", "0"]);
    assert_eq!(cow[4..7], ["0 s", "0 s", "100%"]);
    let ms_mail = row("MS Mail Backup, Mail Data excluded");
    assert_eq!(ms_mail[0], "3");
    assert_eq!(ms_mail[6], "100%");
    assert!(ms_mail[7].starts_with("1 h "), "{ms_mail:?}");
    assert_eq!(ms_mail[8], "1");
    let not_excluded = row("MS Mail Backup, Mail Data not excluded");
    assert_eq!(not_excluded[0], "0");
    let o = mailsim(&["demo", "--seeds", "1", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("demo --json prints JSON");
    let labels: Vec<&str> = v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["label"].as_str())
        .collect();
    assert_eq!(labels[labels.len() - SNAPSHOT_ROWS.len()..], SNAPSHOT_ROWS);
}

/// `run --json --behavior shutdown --seed 1 ARGS`.
fn night(args: &[&str]) -> Value {
    let mut all = vec!["--behavior", "shutdown", "--seed", "1"];
    all.extend_from_slice(args);
    run_json(&all)
}

fn seconds(v: &Value, key: &str) -> f64 {
    metric(v, key)
        .as_f64()
        .unwrap_or_else(|| panic!("metrics.{key} is a number"))
}

fn archived<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v["archive"]
        .as_array()
        .expect("archive")
        .iter()
        .find(|a| a["path"] == path)
}

#[test]
fn every_snapshot_policy_runs_from_the_command_line() {
    let v = night(&["--snapshot", "live"]);
    assert_eq!(v["outcome"], "graceful_shutdown");
    assert_eq!(v["scenario"]["snapshot"], "live read");

    let v = night(&["--snapshot", "stop-server"]);
    assert_eq!(v["outcome"], "clean");
    assert!(seconds(&v, "planned_downtime_s") > 0.0);
    assert_eq!(seconds(&v, "unplanned_downtime_s"), 0.0);

    let v = night(&[
        "--snapshot",
        "scheduled-copy",
        "--exclude-file",
        "Microsoft Mail Data",
    ]);
    assert_eq!(v["outcome"], "clean");
    let copy = archived(&v, "Backup Drive:Mail Data Backup #1").expect("the midnight copy");
    assert_eq!(copy["verdict"], "consistent");
    assert_eq!(copy["stale"], false);
    assert_eq!(copy["mail_data"], true);

    let v = night(&["--snapshot", "scheduled-copy"]);
    assert_eq!(v["outcome"], "graceful_shutdown");

    let v = night(&["--snapshot", "copy-on-write"]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(seconds(&v, "server_downtime_s"), 0.0);

    let v = night(&["--snapshot", "freeze-thaw"]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(count(&v, "files_skipped_snapshot"), 0);

    let v = night(&[
        "--snapshot",
        "freeze-thaw",
        "--hold-writes-limit",
        "1",
        "--snapshot-time",
        "2",
    ]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(count(&v, "files_skipped_snapshot"), 1);
    assert!(metric(&v, "recovery_point_age_s").is_null());

    let v = night(&["--snapshot", "online-copy"]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(count(&v, "files_skipped_snapshot"), 0);
}

#[test]
fn an_online_copy_under_heavy_traffic_reports_its_livelock() {
    let v = night(&[
        "--snapshot",
        "online-copy",
        "--requests-per-hour",
        "20000",
        "--max-restarts",
        "3",
    ]);
    assert_eq!(count(&v, "files_skipped_snapshot"), 1);
    let texts: Vec<&str> = v["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("livelock")),
        "no livelock in the timeline"
    );
}

#[test]
fn knobs_change_the_night() {
    // Fewer copies kept, and a control panel that fails to load on the last
    // night: the backup archives yesterday's copy, consistent but stale.
    let v = run_json(&[
        "--snapshot",
        "scheduled-copy",
        "--exclude-file",
        "Microsoft Mail Data",
        "--nights",
        "2",
        "--keep",
        "1",
        "--copy-at",
        "00:30",
        "--control-panel-fails-on",
        "2",
    ]);
    assert_eq!(v["outcome"], "clean");
    let last: Vec<&Value> = v["archive"]
        .as_array()
        .expect("archive")
        .iter()
        .filter(|a| a["night"] == 2 && a["mail_data"] == true)
        .collect();
    assert_eq!(last.len(), 1, "--keep 1");
    assert_eq!(last[0]["path"], "Backup Drive:Mail Data Backup #1");
    assert_eq!(last[0]["stale"], true);
    assert!(last[0]["age_s"].as_f64().expect("age") > 24.0 * 3600.0);
    let first = v["archive"]
        .as_array()
        .expect("archive")
        .iter()
        .find(|a| a["night"] == 1 && a["mail_data"] == true)
        .expect("night 1's copy");
    // Taken when the copy, made during a pause of a few seconds, is done.
    let taken = first["taken_at"].as_str().expect("taken_at");
    assert!(taken.starts_with("00:30:0"), "{taken}");

    // No traffic: nothing to deliver, nothing deferred.
    let v = run_json(&["--requests-per-hour", "0", "--behavior", "shutdown"]);
    assert_eq!(count(&v, "deliveries_acknowledged"), 0);
    assert_eq!(count(&v, "deliveries_deferred"), 0);

    // A vetoing writer: the policy gives up, the night stays clean.
    let v = night(&["--snapshot", "freeze-thaw", "--writer-vetoes"]);
    assert_eq!(v["outcome"], "clean");
    assert_eq!(count(&v, "files_skipped_snapshot"), 1);

    // Restarting after the file costs less downtime than after the backup.
    let after_backup = night(&["--snapshot", "stop-server"]);
    let after_file = night(&["--snapshot", "stop-server", "--restart-after-file"]);
    assert!(
        seconds(&after_file, "planned_downtime_s") < seconds(&after_backup, "planned_downtime_s")
    );
}

#[test]
fn the_summary_tells_skips_and_stale_copies() {
    let o = mailsim(&[
        "run",
        "--seed",
        "1",
        "--snapshot",
        "freeze-thaw",
        "--hold-writes-limit",
        "1",
        "--snapshot-time",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = unwrapped(&stdout(&o));
    assert!(text.contains("VSS_WS_FAILED_AT_FREEZE"), "{text}");
    assert!(
        text.contains("0 skipped busy, 1 skipped (snapshot gave up)"),
        "{text}"
    );
    assert!(text.contains("  Server HD:System Folder:Extensions:Microsoft Mail Data: skipped at "));
    assert!(text.contains("Mail Data archived: none"));

    let o = mailsim(&[
        "run",
        "--snapshot",
        "scheduled-copy",
        "--exclude-file",
        "Microsoft Mail Data",
        "--nights",
        "2",
        "--control-panel-fails-on",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = unwrapped(&stdout(&o));
    let copy = |night: u32| -> &str {
        let prefix =
            format!("  night {night}, Backup Drive:Mail Data Backup #1: consistent, generation ");
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("night {night}: {text}"))
    };
    assert!(
        copy(1).ends_with(" before the end of the backup"),
        "{}",
        copy(1)
    );
    assert!(copy(1).contains(", taken 1 h "), "{}", copy(1));
    assert!(
        copy(2).ends_with(" before the end of the backup, stale (taken on an earlier night)"),
        "{}",
        copy(2)
    );
    assert!(text.contains("did not load (KB Q68600)"), "{text}");
}

#[test]
fn snapshot_flags_are_checked() {
    let err = assert_usage_error(&["run", "--keep", "3", "--snapshot", "live"]);
    assert!(err.contains("'--keep'"), "{err}");
    assert!(err.contains("'--snapshot live'"), "{err}");
    assert!(err.contains("'--snapshot scheduled-copy'"), "{err}");
    let err = assert_usage_error(&["run", "--max-restarts", "3", "--snapshot", "freeze-thaw"]);
    assert!(
        err.contains("'--max-restarts'") && err.contains("online-copy"),
        "{err}"
    );
    assert_usage_error(&["run", "--writer-vetoes"]);
    let err = assert_usage_error(&["run", "--snapshot", "scheduled-copy", "--copy-at", "25:00"]);
    assert!(err.contains("--copy-at"), "{err}");
    assert_usage_error(&["run", "--copy-at", "25:00"]);
    for bad in ["-1", "nan", "ten", "5 days", "1e9", ""] {
        let err =
            assert_usage_error(&["run", "--snapshot", "freeze-thaw", "--freeze-timeout", bad]);
        assert!(err.contains("--freeze-timeout"), "{err}");
    }
    assert_usage_error(&["run", "--freeze-timeout", "-1"]);
    let err = assert_usage_error(&["run", "--snapshot", "sometimes"]);
    assert!(
        err.contains("stop-server, scheduled-copy, copy-on-write"),
        "{err}"
    );
    assert_usage_error(&["run", "--snapshot", "scheduled-copy", "--keep", "0"]);
    assert_usage_error(&["run", "--snapshot", "scheduled-copy", "--copy-to", "Floppy"]);
    assert_usage_error(&[
        "run",
        "--snapshot",
        "scheduled-copy",
        "--control-panel-fails-on",
        "2",
    ]);
    assert_usage_error(&["run", "--snapshot", "online-copy", "--pages-per-step", "0"]);
    assert_usage_error(&["run", "--requests-per-hour", "-5"]);
    assert_usage_error(&["run", "--requests-per-hour", "1000000"]);
}

#[test]
fn the_real_file_subcommands_are_documented_and_checked() {
    let help = stdout(&mailsim(&["--help"]));
    for sub in ["serve", "backup", "verify"] {
        assert!(help.contains(sub), "{sub}");
        let o = mailsim(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0), "{sub}");
        assert!(stdout(&o).contains("Exit status"), "{sub}");
    }
    let serve = stdout(&mailsim(&["serve", "--help"]));
    for flag in [
        "--dir",
        "--on-conflict",
        "--rate",
        "--copy-aside-to",
        "--copy-every",
        "--keep",
    ] {
        assert!(serve.contains(flag), "{flag}");
    }
    let backup = stdout(&mailsim(&["backup", "--help"]));
    for flag in [
        "--dir",
        "--to",
        "--exclude-file",
        "--exclude-folder",
        "--exclude-glob",
        "--open-files",
        "--idle",
        "--timeout",
        "--retries",
    ] {
        assert!(backup.contains(flag), "{flag}");
    }
    assert!(stdout(&mailsim(&["run", "--help"])).contains("--real-scale"));

    // Flags that make no sense are refused before anything runs.
    assert_usage_error(&["run", "--real-scale", "100"]);
    assert_usage_error(&["run", "--real", "/nonexistent/x", "--real-scale", "0"]);
    assert_usage_error(&["serve"]);
    assert_usage_error(&["serve", "--dir", "/nonexistent", "--rate", "0"]);
    assert_usage_error(&["serve", "--dir", "/nonexistent", "--on-conflict", "panic"]);
    assert_usage_error(&["serve", "--dir", "/nonexistent", "--copy-every", "1"]);
    assert_usage_error(&["serve", "--dir", "/nonexistent", "--keep", "2"]);
    assert_usage_error(&[
        "serve",
        "--dir",
        "/nonexistent",
        "--copy-aside-to",
        "/nonexistent",
        "--copy-every",
        "-1",
    ]);
    assert_usage_error(&["backup", "--dir", "/nonexistent"]);
    let err = assert_usage_error(&[
        "backup",
        "--dir",
        "/nonexistent",
        "--to",
        "/nonexistent/a",
        "--idle",
        "5",
    ]);
    assert!(err.contains("wait-for-idle"), "{err}");
    let err = assert_usage_error(&[
        "backup",
        "--dir",
        "/nonexistent",
        "--to",
        "/nonexistent/a",
        "--open-files",
        "wait-for-idle",
        "--retries",
        "2",
    ]);
    assert!(err.contains("respect-locks"), "{err}");
    assert_usage_error(&["backup", "--dir", "/x", "--to", "/y", "--exclude-glob", "["]);
    assert_usage_error(&["verify"]);
    assert_usage_error(&["verify", "/nonexistent/Microsoft Mail Data"]);
}

#[test]
fn a_saved_night_replays_byte_for_byte() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("night.json");
    let file = file.to_str().expect("a UTF-8 path");
    for args in [
        &["--seed", "7"][..],
        &[
            "--seed",
            "3",
            "--behavior",
            "tolerate",
            "--requests-per-hour",
            "2000",
        ],
        &[
            "--seed",
            "1",
            "--nights",
            "2",
            "--snapshot",
            "scheduled-copy",
        ],
        &[
            "--exclude-folder",
            "System Folder",
            "--open-files",
            "respect-locks",
        ],
    ] {
        let mut first = vec!["run", "--json", "--save", file];
        first.extend_from_slice(args);
        let original = mailsim(&first);
        assert_eq!(original.status.code(), Some(0), "{}", stderr(&original));
        let saved: Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("--save writes the file"))
                .expect("a scenario file is JSON");
        assert_eq!(saved["schema"], "mailsim-scenario");
        assert!(saved["choices"].is_array(), "{saved}");

        let replayed = mailsim(&["run", "--scenario", file, "--json"]);
        assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
        assert!(replayed.stderr.is_empty(), "{}", stderr(&replayed));
        assert_eq!(stdout(&replayed), stdout(&original), "{args:?}");

        // The narrated form works from a file too.
        let told = mailsim(&["run", "--scenario", file]);
        assert_eq!(told.status.code(), Some(0), "{}", stderr(&told));
        assert!(stdout(&told).contains("Outcome:"));
    }
    // Nothing but the file itself is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["night.json"]);

    // Re-saving a replayed night gives the same file.
    let again = dir.path().join("again.json");
    let again = again.to_str().unwrap();
    let o = mailsim(&["run", "--scenario", file, "--save", again]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        std::fs::read_to_string(again).unwrap()
    );
}

#[test]
fn a_scenario_file_without_choices_runs_from_its_seed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("s.json");
    std::fs::write(
        &file,
        r#"{"schema":"mailsim-scenario","version":1,"seed":5,"behavior":"shutdown"}"#,
    )
    .unwrap();
    let o = mailsim(&["run", "--scenario", file.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        stdout(&mailsim(&[
            "run",
            "--seed",
            "5",
            "--behavior",
            "shutdown",
            "--json"
        ]))
    );
}

#[test]
fn bad_scenario_files_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let write = |name: &str, text: &str| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let bad_type = write(
        "type.json",
        r#"{"schema":"mailsim-scenario","version":1,"open_files":{"policy":"respect-locks","retries":"x","interval_s":1}}"#,
    );
    let err = assert_usage_error(&["run", "--scenario", &bad_type]);
    assert!(err.contains("open_files.retries"), "{err}");

    let unknown = write(
        "unknown.json",
        r#"{"schema":"mailsim-scenario","version":1,"frobnicate":true}"#,
    );
    let err = assert_usage_error(&["run", "--scenario", &unknown, "--json"]);
    assert!(err.contains("frobnicate"), "{err}");

    let version = write(
        "version.json",
        r#"{"schema":"mailsim-scenario","version":99}"#,
    );
    let err = assert_usage_error(&["run", "--scenario", &version]);
    assert!(err.contains("version"), "{err}");

    let not_json = write("not.json", "nights = 2\n");
    assert_usage_error(&["run", "--scenario", &not_json]);

    let missing = dir.path().join("missing.json");
    let err = assert_usage_error(&["run", "--scenario", missing.to_str().unwrap()]);
    assert!(err.contains("missing.json"), "{err}");
    assert_usage_error(&["run", "--scenario", dir.path().to_str().unwrap()]);
}

#[test]
fn scenario_flags_do_not_mix_with_a_scenario_file() {
    for flags in [
        &["--seed", "3"][..],
        &["--behavior", "hang"],
        &["--exclude-file", "Microsoft Mail Data"],
        &["--nights", "2"],
        &["--snapshot", "copy-on-write"],
        &["--keep", "2"],
        &["--real", "/tmp/x"],
    ] {
        let mut args = vec!["run", "--scenario", "night.json"];
        args.extend_from_slice(flags);
        let err = assert_usage_error(&args);
        assert!(
            err.contains("--scenario") && err.contains(flags[0]),
            "{err}"
        );
    }
    assert_usage_error(&["run", "--save", "night.json", "--real", "/tmp/x"]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let nowhere = dir.path().join("no").join("such").join("dir.json");
    let err = assert_usage_error(&["run", "--save", nowhere.to_str().unwrap()]);
    assert!(err.contains("--save"), "{err}");
    assert_usage_error(&["run", "--save", dir.path().to_str().unwrap()]);
}
