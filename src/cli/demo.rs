//! `mailsim demo`: the KB night under every remedy, as a table.

use std::io::Write;

use clap::Args;
use mailsim::demo;

use super::CliError;

/// Flags of `mailsim demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Nights per row (seeds 0 to N-1).
    #[arg(long, default_value_t = 100, value_name = "N")]
    seeds: u64,

    /// Print the table as JSON instead.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &DemoArgs, out: &mut impl Write) -> Result<(), CliError> {
    let rows = demo::table(args.seeds)?;
    if args.json {
        writeln!(out, "{}", demo::rows_to_json(&rows))?;
    } else {
        write!(out, "{}", demo::render_table(&rows))?;
    }
    Ok(())
}
