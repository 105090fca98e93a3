//! `mailsim demo`: the KB night under every remedy, on one screen of the
//! terminal's width (80 columns and 50 lines when piped): the story, the
//! narrow table, what each outcome means, where to go next. `--wide` shows
//! every column; `--explain` adds what each row shows and a narrated
//! excerpt of a real night for each outcome; with `--svg DIR`, a picture of
//! each row's first night; with `--html FILE`, all of it as a web page.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mailsim::demo;

use super::CliError;
use super::input::{check_output_file, write_atomically};

/// When to paint the output with ANSI colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless the NO_COLOR environment variable is set.
    #[default]
    Auto,
    /// Always, even when piped.
    Always,
    /// Never.
    Never,
}

/// Flags of `mailsim demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Nights per row (seeds 0 to N-1), from 1 to 10000.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,

    /// Print the table (and the excerpts) as JSON instead.
    #[arg(long)]
    json: bool,

    /// Show the full table, every column: planned and unplanned downtime,
    /// files excluded (144 columns wide).
    #[arg(long)]
    wide: bool,

    /// Also tell what each row shows, and narrate the minutes around the
    /// conflict in a real night of each outcome.
    #[arg(long)]
    explain: bool,

    /// Also draw each row's first night (seed 0) as an SVG timeline, one
    /// file per row in DIR (created if missing), named after the row:
    /// `no-remedy-kb-reaction.svg`, …
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,

    /// Also write the demo as one self-contained web page to FILE (replaced
    /// whole: written under a temporary name, then renamed): the table,
    /// and each row's first night drawn and narrated when the row is
    /// chosen. Open it in a browser; it needs no network.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// Colour the text: auto (on a terminal, unless NO_COLOR is set),
    /// always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
}

pub fn run(args: &DemoArgs, out: &mut impl Write) -> Result<(), CliError> {
    if let Some(file) = &args.html {
        check_output_file("--html", file)?;
    }
    if let Some(dir) = &args.svg {
        make_dir(dir)?;
    }
    let (rows, excerpts) = demo::table_and_excerpts(args.seeds)?;
    if let Some(dir) = &args.svg {
        write_pictures(dir)?;
    }
    if let Some(file) = &args.html {
        let page = demo::demo_to_html(&rows, &demo::first_nights()?);
        write_atomically("--html", file, page.as_bytes())?;
    }
    if args.json {
        writeln!(out, "{}", demo::demo_to_json(&rows, &excerpts))?;
    } else {
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let layout = demo::DemoLayout::new(super::width::width())
            .wide(args.wide)
            .explain(args.explain)
            .color(color);
        write!(out, "{}", demo::render_demo_with(&rows, &excerpts, &layout))?;
    }
    Ok(())
}

/// Creates `--svg DIR` (and its parents) if missing; a path that is, or
/// runs through, something other than a directory is bad input.
fn make_dir(dir: &Path) -> Result<(), CliError> {
    let usage =
        |e: &dyn std::fmt::Display| CliError::Usage(format!("--svg {}: {e}", dir.display()));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(usage(&"not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(usage(&e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| usage(&e))
}

/// One picture per row, of its first night.
fn write_pictures(dir: &Path) -> Result<(), CliError> {
    let mut names: Vec<String> = Vec::new();
    for case in demo::cases() {
        let report = case.scenario().clone().seed(0).run()?;
        let mut name = demo::slug(&case.label);
        if names.contains(&name) {
            let n = (2..).find(|k| !names.contains(&format!("{name}-{k}")));
            name = format!("{name}-{}", n.unwrap_or(2));
        }
        names.push(name.clone());
        write_atomically(
            "--svg",
            &dir.join(format!("{name}.svg")),
            report.to_svg().as_bytes(),
        )?;
    }
    Ok(())
}
