//! Reading and writing key files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sessrec_formats::keys::{PublicKey, SigningKey};

use crate::output::{check_target, temp_beside};

/// Reads a secret key (PKCS#8 PEM).
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let pem = fs::read_to_string(path)
        .with_context(|| format!("cannot read the signing key {}", path.display()))?;
    SigningKey::from_pem(&pem)
        .with_context(|| format!("{} is not a usable signing key", path.display()))
}

/// Reads public keys (minisign format), one file each.
pub fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p)
                .with_context(|| format!("cannot read the public key {}", p.display()))?;
            PublicKey::from_file_text(&text).with_context(|| {
                format!(
                    "{} is not a sessrec public key (pass the .pub file)",
                    p.display()
                )
            })
        })
        .collect()
}

/// The keys a reviewer trusts: the `--key` files if any were given, else the policy's
/// `trusted_keys` (read from `config` only then). The flag says whether any key was named.
pub fn trusted_keys(keys: &[PathBuf], config: &Path) -> Result<(Vec<PublicKey>, bool)> {
    if !keys.is_empty() {
        return Ok((read_public_keys(keys)?, true));
    }
    let policy = crate::config::Config::load(config)?;
    let trusted = read_public_keys(&policy.trusted_keys)
        .with_context(|| format!("trusted_keys in {}", config.display()))?;
    let named = !policy.trusted_keys.is_empty();
    Ok((trusted, named))
}

/// Writes a new key pair: `path` (secret, mode 0600) and `path.pub`, each through a random
/// temporary file beside it, renamed into place. Only a regular file is ever replaced.
pub fn write_key_pair(key: &SigningKey, path: &Path, overwrite: bool) -> Result<PathBuf> {
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    for p in [path, pub_path.as_path()] {
        check_target(p, overwrite)?;
    }
    let pem = key.to_pem()?;
    write_file(path, pem.as_bytes(), 0o600)
        .with_context(|| format!("cannot write the secret key {}", path.display()))?;
    write_file(&pub_path, key.public().to_file_text().as_bytes(), 0o644)
        .with_context(|| format!("cannot write the public key {}", pub_path.display()))?;
    Ok(pub_path)
}

/// `bytes` into a new file with `mode` (never an existing file's, which may be wider), synced
/// and renamed over `path`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let (mut f, tmp) = temp_beside(path, mode)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(anyhow::Error::from)
        .and_then(|()| check_target(path, true))
        .and_then(|()| fs::rename(&tmp, path).map_err(anyhow::Error::from));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
