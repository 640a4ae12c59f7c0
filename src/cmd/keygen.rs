use anyhow::Result;
use sessrec_formats::keys::SigningKey;

use crate::cli::Keygen;
use crate::exit::Status;
use crate::keyfile::write_key_pair;

impl Keygen {
    pub fn run(self) -> Result<Status> {
        let key = SigningKey::generate()?;
        let public = write_key_pair(&key, &self.output, self.force)?;
        println!(
            "wrote secret key {} (mode 0600) and public key {} (key id {})",
            self.output.display(),
            public.display(),
            key.id()
        );
        Ok(Status::Ok)
    }
}
