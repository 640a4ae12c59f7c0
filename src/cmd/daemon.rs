//! `sessrec daemon`: the recording service (`src/service/`).

use anyhow::Result;

use crate::cli::Daemon;
use crate::exit::Status;

impl Daemon {
    /// Runs the service; returns only on a failure to start.
    pub fn run(self) -> Result<Status> {
        crate::service::daemon::serve(&self.config)?;
        Ok(Status::Ok)
    }
}
