//! The `mailsim` command: argument parsing, one module per subcommand, and
//! the mapping from failures to exit codes.
//!
//! Exit codes: 0 done, whatever the night's outcome; 1 a runtime failure;
//! 2 bad usage or bad input. Every error is one line on stderr,
//! `mailsim: error: …`. Subcommands write to the `out` they are given, so
//! a closed pipe is an ordinary error, never a panic.
//!
//! What does not live here: anything the library can compute (the demo's
//! table lives in `mailsim::demo`, reports serialize themselves).

mod args;
mod backup;
mod demo;
mod input;
mod run;
mod serve;
mod sweep;
mod time;
mod trial;
mod verify;
mod width;

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};

use args::UsageError;

/// Simulate what happens when a backup reads a data file that a live mail
/// server holds open (Microsoft KB Q98097), and what each remedy costs.
#[derive(Debug, Parser)]
#[command(
    name = "mailsim",
    version,
    propagate_version = true,
    after_help = "Examples:\n  mailsim demo\n  mailsim run --seed 7\n  mailsim run --exclude-file \"Microsoft Mail Data\" --json\n  mailsim run --seed 7 --save night.json\n  mailsim run --scenario night.json\n  mailsim sweep --cases 10000 --behavior tolerate\n  mailsim sweep --cases 10000 --shard 1/4 --json > shard1.jsonl\n  mailsim run --real /tmp/night --behavior shutdown\n  mailsim serve --dir /srv/mail &\n  mailsim backup --dir /srv/mail --to /backups/mail --open-files respect-locks\n  mailsim verify \"/srv/mail/Microsoft Mail Data\"\n  mailsim trial --on-conflict tolerate --tries 30 -- sh -c 'tar -cf - -C {dir} . | tar -xf - -C {out}'"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate one night (or play it on real files, with --real) and narrate it.
    // Boxed: its many flags make it far larger than the other subcommands.
    Run(Box<run::RunArgs>),
    /// Run the KB night under every remedy over many seeds and print a table.
    Demo(demo::DemoArgs),
    /// Run many nights across threads (seeds S, S+1, …), check every
    /// invariant, and sum up the outcomes; or merge shards' JSON lines.
    // Boxed, as `Run`: it carries the scenario flags too.
    Sweep(Box<sweep::SweepArgs>),
    /// Be the mail server for real: hold DIR/Microsoft Mail Data under an
    /// exclusive lock and deliver mail into it until stopped.
    Serve(serve::ServeArgs),
    /// Be the backup client for real: archive the files under DIR into a
    /// directory.
    Backup(backup::BackupArgs),
    /// Check a Microsoft Mail Data file (or a copy of one), or judge a copy
    /// exactly with the server's history.
    Verify(verify::VerifyArgs),
    /// Run any backup command against a fresh `serve`, N times, and judge
    /// each copy with the server's history: the torn rate and its interval.
    Trial(trial::TrialArgs),
}

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage or bad input: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(String),
    /// Stdout was closed under us (`mailsim run | head`): stop quietly.
    BrokenPipe,
    /// The command said what happened on stdout and ends with this exit
    /// status (`serve`'s 3, 4 and 5), with nothing more on stderr.
    Status(u8),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Runtime(_) => ExitCode::from(1),
            CliError::BrokenPipe => ExitCode::SUCCESS,
            CliError::Status(code) => ExitCode::from(*code),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Runtime(m) => f.write_str(m),
            CliError::BrokenPipe => f.write_str("broken pipe"),
            CliError::Status(code) => write!(f, "exit status {code}"),
        }
    }
}

impl From<mailsim::Error> for CliError {
    fn from(e: mailsim::Error) -> CliError {
        match e {
            // A scenario the user described badly (`--nights 0`).
            mailsim::Error::InvalidScenario { .. } | mailsim::Error::InvalidScenarioFile { .. } => {
                CliError::Usage(e.to_string())
            }
            _ => CliError::Runtime(e.to_string()),
        }
    }
}

impl From<UsageError> for CliError {
    fn from(e: UsageError) -> CliError {
        CliError::Usage(e.to_string())
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> CliError {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Runtime(format!("writing output: {e}"))
        }
    }
}

/// The command line's definition: the derived one, plus the conflicts that
/// are computed (every scenario flag against `run --scenario FILE` and
/// `sweep --merge`).
fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
        .mut_subcommand("run", run::command)
        .mut_subcommand("sweep", sweep::command)
}

/// Parses the command line, runs the subcommand, and turns the result into
/// an exit code.
pub fn main() -> ExitCode {
    let cli = match command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Run(a) => run::run(&a, &mut out),
        Command::Demo(a) => demo::run(&a, &mut out),
        Command::Sweep(a) => sweep::run(&a, &mut out),
        Command::Serve(a) => serve::run(&a, &mut out),
        Command::Backup(a) => backup::run(&a, &mut out),
        Command::Verify(a) => verify::run(&a, &mut out),
        Command::Trial(a) => trial::run(&a, &mut out),
    }
    .and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !matches!(e, CliError::BrokenPipe | CliError::Status(_)) {
                // Whatever was already written belongs before the error.
                let _ = out.flush();
                eprintln_one_line(&e.to_string());
            }
            e.exit_code()
        }
    }
}

/// Help and version go to stdout with exit 0; any other parse error becomes
/// one line on stderr with exit 2.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Nothing sensible to do if stdout is gone.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        // `mailsim` alone: clap would print the whole help as the error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln_one_line(&format!(
                "a subcommand is required: {} (see 'mailsim --help')",
                subcommand_names().join(", ")
            ));
            ExitCode::from(2)
        }
        _ => {
            eprintln_one_line(&one_line(&e.render().to_string()));
            ExitCode::from(2)
        }
    }
}

fn subcommand_names() -> Vec<String> {
    command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

/// Clap's multi-line error, without the `error:` prefix, the usage and the
/// "For more information" hint, on one line.
fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim_start().starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    let joined = parts.join(" ");
    joined
        .strip_prefix("error:")
        .map_or(joined.as_str(), str::trim_start)
        .to_owned()
}

fn eprintln_one_line(msg: &str) {
    let msg: String = msg
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // If stderr is gone too, there is nobody left to tell.
    let _ = writeln!(io::stderr(), "mailsim: error: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn clap_errors_fold_onto_one_line() {
        let e = command()
            .try_get_matches_from(["mailsim", "run", "--behavior", "x"])
            .unwrap_err();
        let line = one_line(&e.render().to_string());
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("invalid value 'x' for '--behavior"),
            "{line}"
        );
        assert!(line.contains("[possible values: shutdown, hang, tolerate, kb]"));
        assert!(!line.contains("Usage"));
    }
}
