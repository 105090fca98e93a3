//! Real backup programs against a real `mailsim serve`, through the built
//! binary: tar, rsync and dd under each `--on-conflict`, noticed and named
//! (`mailsim trial`); torn copies under `tolerate` at a high rate, judged
//! by `verify --history` and counted against what plain `verify` catches
//! and what tar itself says. (Programs that only look at the file, and
//! the holders of its locks, are in `holders`.)
//!
//! The copying commands hold the file open a little longer than a small
//! file takes to read (a slow consumer behind a pipe, a bandwidth limit),
//! as a real backup of a real mail file does: a reader that is gone before
//! the server looks (every 2 ms) may be noticed but not named.
//!
//! A program that is missing is said so, and its part skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::processes::{DATA, SOON, run_bounded, text};

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A tool's command for `trial`, and the command name its reading process
/// has (`/proc/PID/comm`).
struct Tool {
    name: &'static str,
    reader: &'static str,
    command: Vec<String>,
}

fn tools() -> Vec<Tool> {
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    vec![
        Tool {
            name: "tar",
            reader: "tar",
            // pipefail: the status is the reading tar's ("file changed as
            // we read it" is its exit 1), unless the extraction failed.
            command: s(&[
                "bash",
                "-o",
                "pipefail",
                "-c",
                "tar -cf - -C {dir} 'Microsoft Mail Data' | (sleep 0.3; tar -xf - -C {out})",
            ]),
        },
        Tool {
            name: "rsync",
            reader: "rsync",
            command: s(&[
                "rsync",
                "--bwlimit=512",
                "{dir}/Microsoft Mail Data",
                "{out}/",
            ]),
        },
        Tool {
            name: "dd",
            reader: "dd",
            command: s(&[
                "sh",
                "-c",
                "dd if='{dir}/Microsoft Mail Data' bs=4096 status=none \
                 | (sleep 0.3; cat > '{out}/Microsoft Mail Data')",
            ]),
        },
    ]
}

/// `mailsim trial … --json -- COMMAND`: its tries, its summary, its exit
/// code.
fn trial(flags: &[&str], command: &[String], work: &Path) -> (Vec<Value>, Value, Option<i32>) {
    let mut args: Vec<String> = vec!["trial".into(), "--json".into(), "--work-dir".into()];
    args.push(work.display().to_string());
    args.extend(flags.iter().map(|f| (*f).to_owned()));
    args.push("--".into());
    args.extend(command.iter().cloned());
    let out = run_bounded(&args, Duration::from_secs(240));
    let stdout = text(&out.stdout);
    let mut values: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let summary = values
        .pop()
        .unwrap_or_else(|| panic!("no output; stderr: {}", text(&out.stderr)));
    (values, summary, out.status.code())
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn each_tool_is_noticed_named_and_met_as_the_mode_says() {
    let work = tmp();
    for tool in tools() {
        let program = &tool.command[0];
        if !have(program) || !have(tool.name) {
            eprintln!("{}: not installed, skipped", tool.name);
            continue;
        }
        for (mode, outcome) in [
            ("shutdown", "graceful_shutdown"),
            ("hang", "hang"),
            ("tolerate", "clean"),
        ] {
            let (tries, summary, code) = trial(
                &[
                    "--on-conflict",
                    mode,
                    "--tries",
                    "1",
                    "--rate",
                    "500",
                    "--warm-up",
                    "200",
                ],
                &tool.command,
                work.path(),
            );
            let what = format!("{} under {mode}: {tries:?}", tool.name);
            assert_eq!(tries.len(), 1, "{what}");
            let t = &tries[0];
            assert_eq!(t["try"], 1, "{what}");
            assert_eq!(t["noticed"], true, "{what}");
            let opener = t["opener"].as_str().unwrap_or_default();
            assert!(
                opener.starts_with(&format!("{} (pid ", tool.reader)),
                "{what}: opener {opener:?}"
            );
            assert_eq!(t["server_outcome"], outcome, "{what}");
            let copy = t["copy"].as_str().unwrap_or_default();
            assert!(
                matches!(copy, "consistent" | "torn"),
                "{what}: the copy is a copy of the served file"
            );
            assert_eq!(t["generation"].is_u64(), copy == "consistent", "{what}");
            assert_eq!(t["timed_out"], false, "{what}");
            assert!(t["command_status"].is_i64(), "{what}");
            assert_eq!(summary["tries"], 1, "{what}");
            assert_eq!(summary["noticed"], 1, "{what}");
            assert_eq!(
                code,
                Some(if copy == "consistent" { 0 } else { 1 }),
                "{what}"
            );
        }
    }
}

/// Runs `mailsim verify [--history H] COPY --json`; the exit code and the
/// JSON (for `--history`).
fn verify_with(history: Option<&Path>, copy: &Path) -> (Option<i32>, Option<Value>) {
    let mut args: Vec<PathBuf> = vec!["verify".into(), copy.to_path_buf()];
    if let Some(h) = history {
        args.extend(["--history".into(), h.to_path_buf(), "--json".into()]);
    }
    let out = run_bounded(&args, SOON);
    let json = history.map(|_| serde_json::from_slice(&out.stdout).expect("verify's JSON"));
    (out.status.code(), json)
}

#[test]
fn tolerate_at_a_high_rate_tears_copies_that_the_history_judges_torn() {
    const TRIES: &str = "6";
    let work = tmp();
    for tool in tools().into_iter().filter(|t| t.name != "dd") {
        if !have(&tool.command[0]) || !have(tool.name) {
            eprintln!("{}: not installed, skipped", tool.name);
            continue;
        }
        let (tries, summary, code) = trial(
            &[
                "--on-conflict",
                "tolerate",
                "--tries",
                TRIES,
                "--rate",
                "2000",
                "--warm-up",
                "200",
                "--keep",
            ],
            &tool.command,
            work.path(),
        );
        let torn: Vec<&Value> = tries.iter().filter(|t| t["copy"] == "torn").collect();
        assert_eq!(summary["tries"], 6);
        assert_eq!(summary["torn"], torn.len());
        assert!(
            !torn.is_empty(),
            "{}: no torn copy in {TRIES} tries: {tries:?}",
            tool.name
        );
        assert_eq!(code, Some(1), "a torn copy fails the trial");
        let [lo, hi] = [
            summary["torn_rate_ci95"][0].as_f64().unwrap(),
            summary["torn_rate_ci95"][1].as_f64().unwrap(),
        ];
        let rate = summary["torn_rate"].as_f64().unwrap();
        assert!(lo <= rate && rate <= hi && lo >= 0.0 && hi <= 1.0);

        let mut plain_catches = 0;
        let mut tool_says_changed = 0;
        for t in &tries {
            let folder = PathBuf::from(t["folder"].as_str().expect("--keep names the folder"));
            let history = folder.join("served").join("Microsoft Mail Data History");
            let copy = folder.join("out").join(DATA);
            let (code, json) = verify_with(Some(&history), &copy);
            let json = json.unwrap();
            // verify --history says what trial said.
            assert_eq!(json["verdict"], t["copy"], "{t:?}: {json}");
            match t["copy"].as_str() {
                Some("torn") => {
                    assert_eq!(code, Some(1));
                    assert!(json["generation"].is_null());
                    let pages = json["pages"].as_array().unwrap();
                    assert!(!pages.is_empty());
                    for p in pages {
                        assert!(p["first"].as_u64() <= p["last"].as_u64());
                        assert!(p["generations"].is_array());
                    }
                    let (plain, _) = verify_with(None, &copy);
                    plain_catches += usize::from(plain == Some(1));
                    tool_says_changed += usize::from(t["command_status"] == 1);
                }
                Some("consistent") => {
                    assert_eq!(code, Some(0));
                    assert_eq!(json["generation"], t["generation"]);
                }
                other => panic!("{}: copy {other:?}: {t:?}", tool.name),
            }
        }
        eprintln!(
            "{} under tolerate at 2000 requests/s: {} of {TRIES} torn; plain verify caught {} of \
             them; the tool's own status said the file changed for {} of them",
            tool.name,
            torn.len(),
            plain_catches,
            tool_says_changed
        );
    }
}
