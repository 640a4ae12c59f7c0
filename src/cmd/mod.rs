//! One module per subcommand, each an `impl` on its clap struct.

mod convert;
mod daemon;
mod doctor;
mod export;
mod info;
mod keygen;
mod ls;
mod play;
mod rec;
mod unseal;
mod upload;

mod verify;
mod verify_bundle;
mod verify_chain;

use anyhow::Result;

use crate::cli::Command;
use crate::exit::Status;

impl Command {
    /// Runs the command.
    pub fn run(self) -> Result<Status> {
        match self {
            Command::Rec(c) => c.run(),
            Command::Convert(c) => c.run(),
            Command::Info(c) => c.run(),
            Command::Verify(c) => c.run(),
            Command::Keygen(c) => c.run(),
            Command::Upload(c) => c.run(),
            Command::Ls(c) => c.run(),
            Command::Index(c) => c.run(),
            Command::Export(c) => c.run(),
            Command::Doctor(c) => c.run(),
            Command::Play(c) => c.run(),
            Command::Unseal(c) => c.run(),
            Command::Daemon(c) => c.run(),
        }
    }
}

/// After a whole input was read: was it cut short or damaged? Everything readable was used.
fn input_status(reader: &sessrec_formats::EventReader) -> (Status, Option<String>) {
    if let Some(damage) = reader.integrity().and_then(|i| i.damage) {
        return (
            Status::Altered,
            Some(format!(
                "the input is altered or damaged at frame {} ({}); only the events before it were read",
                damage.frame, damage.reason
            )),
        );
    }
    match reader.truncation() {
        Some(cut) => (Status::Truncated, Some(cut)),
        None => (Status::Ok, None),
    }
}
