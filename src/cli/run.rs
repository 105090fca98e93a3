//! `mailsim run`: one scenario, narrated and summed up, or as JSON; with
//! `--real DIR`, played on real files under DIR; with `--scenario FILE`, the
//! night a scenario file describes (replayed exactly when the file holds its
//! choices); with `--replay TOKEN`, the night a replay token describes.
//! `--save FILE` writes the night just run as such a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use mailsim::demo::human_duration;
use mailsim::report::EventKind;
use mailsim::sim::ScenarioFile;
use mailsim::{Report, Scenario};

use super::args::ScenarioArgs;
use super::{CliError, input};

/// Flags of `mailsim run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Seed of the night's random choices (traffic, the KB reaction).
    #[arg(long, default_value_t = 0, value_name = "N")]
    seed: u64,

    /// Run the scenario saved in FILE (a scenario file, JSON, as written by
    /// --save), replaying its recorded choices exactly when it has them.
    /// The file describes the whole night: flags that change the scenario
    /// (--seed, --behavior, --snapshot, …) cannot be given with it.
    #[arg(long = "scenario", value_name = "FILE", conflicts_with_all = ["seed", "real"])]
    scenario_file: Option<PathBuf>,

    /// Replay the night a replay token describes (`mailsim1.…`, as
    /// `Report::replay_token` and a failing property test print it),
    /// exactly. Like --scenario, it describes the whole night. A token that
    /// names a policy of one's own cannot be replayed here: that takes the
    /// library, with the policy supplied.
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["seed", "real", "scenario_file"])]
    replay: Option<String>,

    /// Save the night just run to FILE as a scenario file with its choices,
    /// so that `mailsim run --scenario FILE` replays it exactly. FILE is
    /// replaced whole (written under a temporary name, then renamed).
    #[arg(long, value_name = "FILE", conflicts_with = "real")]
    save: Option<PathBuf>,

    #[command(flatten)]
    scenario: ScenarioArgs,

    /// Print the report as JSON (schema 1, as `Report::to_json`) instead.
    #[arg(long)]
    json: bool,

    /// Also draw the night as a picture: an SVG timeline written to FILE
    /// (replaced whole: written under a temporary name, then renamed).
    /// Open it in a browser.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,

    /// Also write the night as one self-contained web page to FILE (its
    /// summary, picture and narration; replaced whole: written under a
    /// temporary name, then renamed). Open it in a browser.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Play the night on real files under DIR (created if missing; its
    /// parent must exist), with real threads, locks and a scaled wall clock,
    /// instead of simulating it. DIR must be empty or hold an earlier real
    /// run, which is replaced.
    #[arg(long, value_name = "DIR")]
    real: Option<PathBuf>,

    /// With --real: virtual seconds per real second, from 1 to 1000000
    /// (the KB night of ten hours takes about five seconds at the default,
    /// less idle time skipped; a hang is judged after one real second at
    /// least).
    #[arg(
        long,
        default_value_t = 7_200,
        value_name = "N",
        requires = "real",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    real_scale: u32,
}

/// The flags `--scenario FILE` cannot be combined with, besides its own
/// (`--seed`, `--real`): every flag that describes a scenario.
pub fn command(cmd: clap::Command) -> clap::Command {
    cmd.mut_arg("scenario_file", |a| {
        a.conflicts_with_all(ScenarioArgs::ids())
    })
    .mut_arg("replay", |a| a.conflicts_with_all(ScenarioArgs::ids()))
}

pub fn run(args: &RunArgs, out: &mut impl Write) -> Result<(), CliError> {
    // Every destination is checked before the night is run.
    if let Some(file) = &args.save {
        input::check_output_file("--save", file)?;
    }
    if let Some(file) = &args.svg {
        input::check_output_file("--svg", file)?;
    }
    if let Some(file) = &args.html {
        input::check_output_file("--html", file)?;
    }
    let (scenario, report) = match (&args.scenario_file, &args.replay) {
        (Some(file), _) => {
            let saved = read_scenario_file(file)?;
            let report = saved.run()?;
            (saved.scenario, report)
        }
        (None, Some(token)) => {
            // The library's error names what is wrong with the token, or
            // the policy of one's own it names.
            let scenario = Scenario::from_replay_token(token)?;
            let report = scenario.run()?;
            (scenario, report)
        }
        (None, None) => {
            let scenario = args.scenario.scenario()?.seed(args.seed);
            let report = match &args.real {
                None => scenario.run()?,
                Some(dir) => {
                    check_real_dir(dir)?;
                    scenario
                        .clone()
                        .real_scale(args.real_scale)
                        .run_real(dir)
                        .map_err(|e| real_error(dir, e))?
                }
            };
            (scenario, report)
        }
    };
    if let Some(file) = &args.save {
        save(file, &scenario, &report)?;
    }
    if let Some(file) = &args.svg {
        input::write_atomically("--svg", file, report.to_svg().as_bytes())?;
    }
    if let Some(file) = &args.html {
        input::write_atomically("--html", file, report.to_html().as_bytes())?;
    }
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        let width = super::width::width().max(mailsim::demo::DemoLayout::MIN_WIDTH);
        write!(out, "{}", narrate(&report, width))?;
        writeln!(out)?;
        write!(out, "{}", summary(&report, width))?;
    }
    Ok(())
}

/// Reads and parses `--scenario FILE`: a missing or unreadable file, or one
/// that is not a scenario file, is bad input (exit 2), named in one line.
fn read_scenario_file(file: &Path) -> Result<ScenarioFile, CliError> {
    let text = input::read_text("--scenario", file, mailsim::sim::MAX_SCENARIO_FILE_BYTES)?;
    // The library's error names the key at fault (`scenario file:
    // open_files.retries: invalid type …`).
    Ok(Scenario::from_json(&text)?)
}

/// `--save FILE`: the night as a scenario file with its choices. It is
/// serialized before anything is written, so a policy that a file cannot
/// hold (one of the user's own) is bad input and leaves no file behind.
fn save(file: &Path, scenario: &Scenario, report: &Report) -> Result<(), CliError> {
    let text = scenario
        .to_json(Some(report.choices()))
        .map_err(|e| CliError::Usage(format!("--save {}: {e}", file.display())))?;
    input::write_atomically("--save", file, format!("{text}\n").as_bytes())
}

/// Refuses, before anything is created, a `--real` directory whose parent
/// is missing or not a directory (DIR itself is created if missing, not its
/// parents), or that exists and is not a directory.
fn check_real_dir(dir: &Path) -> Result<(), CliError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "--real {}: not a directory",
                dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::Usage(format!("--real {}: {e}", dir.display()))),
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::Usage(format!(
            "--real {}: {} is not a directory",
            dir.display(),
            parent.display()
        ))),
        Err(e) => Err(CliError::Usage(format!(
            "--real {}: its parent {}: {e}",
            dir.display(),
            parent.display()
        ))),
    }
}

/// A failure of a real run: bad input (exit 2) when it is about DIR itself
/// or the scenario, a runtime failure (exit 1) otherwise.
fn real_error(dir: &Path, e: mailsim::Error) -> CliError {
    use mailsim::Error;
    let about_dir = |p: &Path| {
        p == dir
            || std::fs::canonicalize(p)
                .ok()
                .is_some_and(|c| std::fs::canonicalize(dir).ok().is_some_and(|d| d == c))
    };
    match &e {
        Error::Io { path, .. } if about_dir(path) => CliError::Usage(format!("--real: {e}")),
        Error::PathEscapes { .. } | Error::InvalidName { .. } | Error::InvalidScenario { .. } => {
            CliError::Usage(e.to_string())
        }
        _ => CliError::Runtime(e.to_string()),
    }
}

/// The timeline, one event a line, with each run of routine traffic told as
/// one line; every other event is kept; wrapped at `width`.
fn narrate(report: &Report, width: usize) -> String {
    mailsim::demo::narrate_condensed_wrapped(report.timeline(), width)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / f64::from(1 << 20))
}

/// `night 2, ` when the run spans several nights (times of day repeat).
fn night_prefix(report: &Report, night: u32) -> String {
    if report.nights() > 1 {
        format!("night {night}, ")
    } else {
        String::new()
    }
}

/// The night's figures, a line each, wrapped at `width`: a figure's
/// continuation lines start under its value, a listed file's are indented.
fn summary(report: &Report, width: usize) -> String {
    let m = report.metrics();
    let mut lines = vec![
        format!("Outcome:            {}", report.outcome()),
        format!(
            "Server downtime:    {} (planned {}, unplanned {})",
            human_duration(m.server_downtime),
            human_duration(m.planned_downtime),
            human_duration(m.unplanned_downtime)
        ),
        format!("Messages lost:      {}", m.messages_lost),
        format!("Requests deferred:  {}", m.deliveries_deferred),
        format!(
            "Recovery point age: {}",
            m.recovery_point_age.map_or_else(
                || "none: Mail Data was not archived".to_owned(),
                human_duration
            )
        ),
        format!(
            "Files:              {} archived, {} excluded, {} skipped busy, {} skipped (snapshot \
             gave up)",
            m.files_archived, m.files_excluded, m.files_skipped_busy, m.files_skipped_snapshot
        ),
    ];
    // Why each skipped file was skipped, as the timeline tells it.
    lines.extend(report.timeline().iter().filter_map(|e| match &e.kind {
        EventKind::SnapshotGaveUp { reason } => Some(format!(
            "  {}{}: skipped at {}, {reason}",
            night_prefix(report, e.night),
            e.path
                .as_ref()
                .map_or_else(|| "a live file".to_owned(), ToString::to_string),
            e.time
        )),
        _ => None,
    }));
    lines.push(format!(
        "Bytes archived:     {} ({} bytes)",
        mb(m.bytes_archived),
        m.bytes_archived
    ));
    let copies: Vec<String> = report
        .mail_data_archived()
        .map(|a| {
            let verdict = a.verdict;
            format!("  {}{}: {verdict}", night_prefix(report, a.night), a.path)
        })
        .collect();
    if copies.is_empty() {
        lines.push("Mail Data archived: none".to_owned());
    } else {
        lines.push("Mail Data archived:".to_owned());
        lines.extend(copies);
    }
    let mut s = String::new();
    for line in lines {
        // "Outcome:            …": the value starts at column 20.
        let indent = if line.starts_with(' ') {
            "    "
        } else {
            VALUE_INDENT
        };
        for part in mailsim::demo::wrap_text(&line, width, indent) {
            s.push_str(&part);
            s.push('\n');
        }
    }
    s
}

/// Where the summary's values start.
const VALUE_INDENT: &str = "                    ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsaveable_night_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("mailsim-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("night.json");
        // A duration finer than a microsecond: a file cannot hold it.
        let scenario = Scenario::kb98097().hang_threshold(std::time::Duration::from_nanos(300_500));
        let report = scenario.run().unwrap();
        let e = save(&file, &scenario, &report).unwrap_err();
        assert!(
            matches!(&e, CliError::Usage(m) if m.contains("hang_threshold")),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

        let scenario = Scenario::kb98097().seed(3);
        let report = scenario.run().unwrap();
        save(&file, &scenario, &report).unwrap();
        let saved = Scenario::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(saved.run().unwrap().to_json(), report.to_json());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
