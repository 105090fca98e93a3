//! The `mailsim` command; see `mailsim --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
