//! `sessrec`: the terminal session recorder for bastion hosts.

mod audit;
mod cli;
mod cmd;
mod config;
mod exit;
mod fetch;
mod follow;
mod grant;
mod identity;
mod keyfile;
mod login;
mod output;
mod record;
mod space;
mod spool;
mod sshauth;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(inv) = login::invocation(&args) {
        return match login::run(inv) {
            Ok(code) => exit::Status::Session(code).into(),
            Err(error) => {
                eprintln!("sessrec: {error:#}");
                exit::Status::Error.into()
            }
        };
    }
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
