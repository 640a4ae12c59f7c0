//! `sessrec`: the terminal session recorder for bastion hosts.

mod audit;
mod catalog;
mod cli;
mod cmd;
mod config;
mod deadline;
mod escrow;
mod exit;
mod fetch;
mod follow;
mod grant;
mod identity;
mod keyfile;
mod login;
mod output;
mod pipe_kind;
mod print;
mod privilege;
mod record;
mod service;
mod space;
mod spool;
mod sshauth;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(inv) = login::invocation(&args) {
        return match service::client::run(inv) {
            Ok(code) => exit::Status::Session(code).into(),
            Err(error) => {
                print::note(format_args!("{error:#}"));
                exit::Status::Error.into()
            }
        };
    }
    // Installed without privilege bits; should an old install still carry setgid, nothing but
    // the login client (which gives nothing away) keeps it.
    if let Err(error) = privilege::drop_setgid() {
        print::error(&error);
        return exit::Status::Error.into();
    }
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(status) => status.into(),
        // The reader of our output went away (`sessrec ls | head`): a normal end.
        Err(error) if print::is_closed_pipe(&error) => exit::Status::Ok.into(),
        Err(error) => {
            // One line: the error and its causes, outermost first.
            print::error(&error);
            if error.downcast_ref::<fetch::Substituted>().is_some() {
                // Another session's recording in this one's place is an alteration.
                return exit::Status::Altered.into();
            }
            exit::Status::Error.into()
        }
    }
}
