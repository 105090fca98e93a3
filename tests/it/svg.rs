//! The picture of a night (`Report::to_svg`, `mailsim run --svg`,
//! `mailsim demo --svg`) and the narrated demo: well-formed SVG with the
//! lanes, the conflict mark, the axis and the legend; one picture per demo
//! row; plain text when piped, an excerpt for each outcome.

use mailsim::policy::{CopyOnWrite, ExcludeFile, ScheduledCopy};
use mailsim::{ConflictBehavior, Outcome, Report, Scenario};

const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// The text of every `<text>` element.
fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name((SVG_NS, "text")))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

/// Elements whose `class` is `class`.
fn count_class(doc: &roxmltree::Document<'_>, class: &str) -> usize {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .count()
}

/// Parses `svg` and checks what every picture has: the SVG namespace, a
/// title and a description, the four lanes, hour labels and a legend.
fn check_picture(svg: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).expect("the picture is well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name((SVG_NS, "svg")), "{:?}", root.tag_name());
    assert_eq!(root.attribute("width"), Some("1200"));
    for tag in ["title", "desc"] {
        let node = root
            .children()
            .find(|n| n.has_tag_name((SVG_NS, tag)))
            .unwrap_or_else(|| panic!("<{tag}>"));
        assert!(!node.text().unwrap_or_default().trim().is_empty(), "{tag}");
    }
    let texts = texts(&doc);
    for lane in [
        "Mail Server",
        "MS Mail Backup",
        "Retrospect Remote",
        "Mail traffic",
    ] {
        assert!(
            texts.iter().any(|t| t == lane),
            "lane label {lane:?} missing"
        );
    }
    for hour in ["23:00", "00:00", "01:00"] {
        assert!(texts.iter().any(|t| t == hour), "axis label {hour}");
    }
    assert!(texts.iter().any(|t| t == "Legend"));
    assert!(count_class(&doc, "legend-label") >= 10);
    assert!(svg.len() < 200 * 1024, "{} bytes", svg.len());
    doc
}

fn night(behavior: ConflictBehavior, seed: u64) -> Report {
    Scenario::kb98097()
        .seed(seed)
        .conflict_behavior(behavior)
        .run()
        .expect("the KB night runs")
}

#[test]
fn a_shutdown_night_marks_the_conflict_and_the_shutdown() {
    let report = night(ConflictBehavior::Shutdown, 0);
    assert_eq!(report.outcome(), Outcome::GracefulShutdown);
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    // Drawn in the overview and in the close-up.
    assert_eq!(count_class(&doc, "conflict"), 2);
    let texts = texts(&doc);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Retrospect Remote opens Microsoft Mail Data")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("shuts down")));
    assert!(texts[0].starts_with("Graceful shutdown"), "{}", texts[0]);
    assert!(count_class(&doc, "shutdown") >= 2);
    assert!(count_class(&doc, "read-live") >= 1);
    assert!(count_class(&doc, "restart") >= 1);
    assert!(count_class(&doc, "deferred") >= 1);
    assert_eq!(svg, report.to_svg(), "the picture is deterministic");
}

#[test]
fn a_hang_is_drawn_as_one() {
    let report = night(ConflictBehavior::Hang, 0);
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    assert_eq!(count_class(&doc, "conflict"), 2);
    assert!(count_class(&doc, "hung") >= 2);
    assert!(count_class(&doc, "shutdown") == 0);
    assert!(texts(&doc).iter().any(|t| t.contains("hangs")));
}

#[test]
fn a_corrupted_night_marks_the_torn_copy() {
    let report = (0..50)
        .map(|seed| night(ConflictBehavior::Tolerate, seed))
        .find(|r| r.outcome() == Outcome::Corrupted)
        .expect("a tolerated foreign access tears a copy within 50 seeds");
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    assert_eq!(count_class(&doc, "conflict"), 2);
    assert!(count_class(&doc, "torn") >= 1);
    assert!(count_class(&doc, "unsafe-serving") >= 1);
    let texts = texts(&doc);
    assert!(texts.iter().any(|t| t.contains("keeps writing")));
    assert!(texts.iter().any(|t| t == "torn copy archived"));
}

#[test]
fn a_snapshot_night_has_no_conflict() {
    let report = Scenario::kb98097()
        .snapshot(CopyOnWrite)
        .run()
        .expect("runs");
    assert_eq!(report.outcome(), Outcome::Clean);
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    assert_eq!(count_class(&doc, "conflict"), 0);
    assert!(count_class(&doc, "read-safe") >= 1);
    assert!(count_class(&doc, "snapshot") >= 1);
    assert!(
        texts(&doc).iter().any(|t| t.starts_with("No conflict")),
        "the panels say there was none"
    );
}

#[test]
fn excluding_mail_data_leaves_no_conflict_and_marks_the_copy_aside() {
    let report = Scenario::kb98097()
        .snapshot(ScheduledCopy::default())
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .run()
        .expect("runs");
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    assert_eq!(count_class(&doc, "conflict"), 0);
    assert!(count_class(&doc, "copy-aside") >= 1);
    assert!(count_class(&doc, "paused") >= 1);
    assert!(count_class(&doc, "skipped") >= 1, "the exclusion is marked");
}

#[test]
fn several_nights_are_stacked() {
    let report = Scenario::kb98097()
        .nights(3)
        .snapshot(ScheduledCopy::default().not_loaded_on(2))
        .exclusion(ExcludeFile::new("Microsoft Mail Data"))
        .run()
        .expect("runs");
    let svg = report.to_svg();
    let doc = check_picture(&svg);
    let texts = texts(&doc);
    for n in 1..=3 {
        assert!(
            texts.iter().any(|t| t == &format!("Night {n} of 3")),
            "night {n}"
        );
    }
    assert!(count_class(&doc, "copy-missed") >= 1);
    assert!(count_class(&doc, "stale") >= 1);
}

#[test]
fn injected_faults_are_drawn() {
    use mailsim::sim::{Fault, UnsyncedWrites};
    let crash = Scenario::kb98097()
        .seed(5)
        .fault(Fault::ServerCrash {
            at_sync: 50,
            unsynced: UnsyncedWrites::Drop,
        })
        .run()
        .expect("runs");
    assert_eq!(crash.outcome(), Outcome::Crashed);
    let svg = crash.to_svg();
    let doc = check_picture(&svg);
    assert!(count_class(&doc, "crashed") >= 1);
    let backup_dies = Scenario::kb98097()
        .fault(Fault::BackupCrash { at_step: 40 })
        .run()
        .expect("runs");
    let svg = backup_dies.to_svg();
    let doc = check_picture(&svg);
    assert!(count_class(&doc, "failed") >= 1);
}

#[test]
fn excerpts_show_each_outcome() {
    let (rows, excerpts) = mailsim::demo::table_and_excerpts(3).expect("the demo runs");
    assert_eq!(rows.len(), mailsim::demo::cases().len());
    let outcomes: Vec<Outcome> = excerpts.iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, mailsim::demo::EXCERPT_OUTCOMES);
    for e in &excerpts {
        let text = e.lines.join("\n");
        if e.outcome == Outcome::Clean {
            assert!(!text.contains("notices"), "{text}");
        } else {
            assert!(
                text.contains("Mail Server notices Retrospect Remote opening"),
                "{text}"
            );
        }
        let command = e.command.as_deref().expect("the demo rows have flags");
        assert!(command.starts_with("mailsim run"), "{command}");
    }
    let corrupted = &excerpts[3];
    assert!(corrupted.lines.iter().any(|l| l.contains("TORN")));
}

#[test]
fn slugs_name_files() {
    use mailsim::demo::slug;
    assert_eq!(slug("no remedy (KB reaction)"), "no-remedy-kb-reaction");
    assert_eq!(slug("freeze/thaw (VSS)"), "freeze-thaw-vss");
    assert_eq!(
        slug("MS Mail Backup, Mail Data excluded"),
        "ms-mail-backup-mail-data-excluded"
    );
    assert_eq!(slug("--"), "row");
}

#[cfg(feature = "cli")]
mod cli {
    use std::path::Path;
    use std::process::{Command, Output};

    use super::check_picture;

    fn mailsim(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_mailsim"))
            .args(args)
            .env_remove("NO_COLOR")
            .output()
            .expect("the mailsim binary runs")
    }

    fn stdout(o: &Output) -> String {
        String::from_utf8(o.stdout.clone()).expect("UTF-8")
    }

    fn stderr(o: &Output) -> String {
        String::from_utf8(o.stderr.clone()).expect("UTF-8")
    }

    fn assert_usage_error(o: &Output) {
        let err = stderr(o);
        crate::support::tally_refusal(o.status.code(), &err);
        assert_eq!(o.status.code(), Some(2), "stderr: {err}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
        assert!(err.starts_with("mailsim: error: "), "{err}");
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn run_svg_writes_the_picture() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("night.svg");
        let f = file.to_str().unwrap();
        let o = mailsim(&["run", "--behavior", "shutdown", "--svg", f]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("Outcome:"));
        let svg = read(&file);
        let doc = check_picture(&svg);
        assert!(
            doc.descendants()
                .any(|n| n.attribute("class") == Some("conflict"))
        );
        // Nothing left behind but the picture.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        // With --json, stdout is the report, unchanged.
        let plain = mailsim(&["run", "--json", "--seed", "4"]);
        let with = mailsim(&["run", "--json", "--seed", "4", "--svg", f]);
        assert_eq!(with.status.code(), Some(0), "{}", stderr(&with));
        assert_eq!(plain.stdout, with.stdout);
        check_picture(&read(&file));

        // With --scenario.
        let saved = dir.path().join("night.json");
        let o = mailsim(&[
            "run",
            "--seed",
            "2",
            "--behavior",
            "tolerate",
            "--save",
            saved.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let replay = dir.path().join("replay.svg");
        let o = mailsim(&[
            "run",
            "--scenario",
            saved.to_str().unwrap(),
            "--svg",
            replay.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        check_picture(&read(&replay));
    }

    #[test]
    fn run_svg_to_a_bad_path_is_bad_usage() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/night.svg");
        for bad in [missing.to_str().unwrap(), dir.path().to_str().unwrap()] {
            let o = mailsim(&["run", "--svg", bad]);
            assert_usage_error(&o);
            assert!(stderr(&o).contains("--svg"), "{}", stderr(&o));
            assert!(o.stdout.is_empty());
        }
    }

    #[test]
    fn demo_svg_writes_a_picture_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pictures");
        let o = mailsim(&["demo", "--seeds", "2", "--svg", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let cases = mailsim::demo::cases();
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), cases.len(), "{names:?}");
        assert!(names.contains(&"no-remedy-kb-reaction.svg".to_owned()));
        for case in &cases {
            let file = out.join(format!("{}.svg", mailsim::demo::slug(&case.label)));
            check_picture(&read(&file));
        }

        // A file where DIR should be.
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let o = mailsim(&["demo", "--seeds", "1", "--svg", file.to_str().unwrap()]);
        assert_usage_error(&o);
        assert!(o.stdout.is_empty());
    }

    #[test]
    fn demo_is_plain_when_piped_and_narrates_each_outcome() {
        // The excerpts come with --explain.
        let o = mailsim(&["demo", "--seeds", "3", "--explain"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(!text.contains('\x1b'), "no ANSI escape when piped");
        for outcome in ["clean", "graceful shutdown", "hang", "corrupted"] {
            assert!(
                text.contains(&format!("── {outcome} ── ")),
                "excerpt heading for {outcome}"
            );
        }
        let shutdown = &text[text.find("── graceful shutdown ── ").unwrap()..];
        let shutdown = &shutdown[..shutdown.find("── hang ── ").unwrap()];
        assert!(
            shutdown.contains("Mail Server notices Retrospect Remote opening"),
            "{shutdown}"
        );
        assert!(shutdown.contains("shuts the server down to prevent corruption"));
        assert!(shutdown.contains("The administrator restarts the Mail Server"));
        assert!(text.contains("TORN"));
        assert!(text.contains("Replay it: mailsim run"));

        // NO_COLOR, and --color never, keep it plain; --color always paints.
        let o = Command::new(env!("CARGO_BIN_EXE_mailsim"))
            .args(["demo", "--seeds", "1"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(!o.stdout.contains(&0x1b));
        let o = mailsim(&["demo", "--seeds", "1", "--color", "never"]);
        assert!(!o.stdout.contains(&0x1b));
        let o = mailsim(&["demo", "--seeds", "1", "--color", "always"]);
        assert!(o.stdout.contains(&0x1b));
    }

    #[test]
    fn demo_json_carries_the_excerpts() {
        let o = mailsim(&["demo", "--seeds", "2", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["schema"], 1);
        let excerpts = v["excerpts"].as_array().expect("excerpts");
        let outcomes: Vec<&str> = excerpts
            .iter()
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["clean", "graceful_shutdown", "hang", "corrupted"]
        );
        for e in excerpts {
            assert!(!e["lines"].as_array().unwrap().is_empty());
            assert!(e["command"].is_string());
        }
    }

    /// Splits flags as a shell would, for the double quotes the demo uses.
    fn split(flags: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut any = false;
        for c in flags.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    any = true;
                }
                ' ' if !quoted => {
                    if any {
                        out.push(std::mem::take(&mut word));
                        any = false;
                    }
                }
                c => {
                    word.push(c);
                    any = true;
                }
            }
        }
        if any {
            out.push(word);
        }
        out
    }

    /// Each row's replay command runs the row's scenario: the excerpts'
    /// "Replay it" lines tell the truth.
    #[test]
    fn demo_rows_replay_with_their_flags() {
        for case in mailsim::demo::cases() {
            let flags = case.flags().expect("every built-in row has flags");
            let mut args = vec!["run".to_owned(), "--json".to_owned()];
            args.extend(split(flags));
            args.extend(["--seed".to_owned(), "1".to_owned()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = mailsim(&args);
            assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
            let want = case.scenario().clone().seed(1).run().unwrap().to_json();
            assert_eq!(stdout(&o).trim_end(), want, "{}", case.label);
        }
    }
}
