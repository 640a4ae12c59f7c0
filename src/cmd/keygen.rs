use std::io::Write;

use anyhow::{Context, Result};
use sessrec_formats::keys::SigningKey;

use crate::cli::Keygen;
use crate::exit::Status;
use crate::keyfile::write_key_pair;
use crate::print;

impl Keygen {
    pub fn run(self) -> Result<Status> {
        let key = SigningKey::generate()?;
        let public = write_key_pair(&key, &self.output, self.force)?;
        writeln!(
            print::stdout(),
            "wrote secret key {} (mode 0600) and public key {} (key id {})",
            print::safe(&self.output.display().to_string()),
            print::safe(&public.display().to_string()),
            key.id()
        )
        .context("printing the key's names")?;
        Ok(Status::Ok)
    }
}
