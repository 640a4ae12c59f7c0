//! `sessrec`: the terminal session recorder for bastion hosts.

mod cli;
mod cmd;
mod exit;
mod identity;
mod keyfile;
mod output;
mod record;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(status) => status.into(),
        Err(error) => {
            // One line: the error and its causes, outermost first.
            eprintln!("sessrec: error: {error:#}");
            exit::Status::Error.into()
        }
    }
}
