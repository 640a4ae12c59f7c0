//! `SHA256SUMS` of every file in a bundle, as `sha256sum -c` reads it, and its signature in
//! minisign's format (`SHA256SUMS.minisig`), as `minisign -V` checks it with the exporter's
//! public key (the `.pub` file `sessrec keygen` writes is minisign's too).
//!
//! The signature is minisign's prehashed kind ("ED"): ed25519 over BLAKE2b-512 of the file,
//! then a global signature over that signature and the trusted comment.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blake2::Digest as _;
use sessrec_formats::keys::SigningKey;
use sha2::{Digest, Sha256};

/// Every regular file under `root`, relative, in byte order of their paths (`SHA256SUMS` and
/// its signature left out).
pub fn files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        let dir = root.join(&rel);
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = rel.join(entry.file_name());
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file()
                && path != Path::new("SHA256SUMS")
                && path != Path::new("SHA256SUMS.minisig")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// SHA-256 of a file, hex, read in blocks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(sessrec_formats::audit::hex(&hash.finalize()))
}

/// Writes `root/SHA256SUMS` (and, with a key, `SHA256SUMS.minisig`); returns the files summed.
pub fn write(root: &Path, signer: Option<&SigningKey>) -> Result<usize> {
    let files = files(root)?;
    let mut text = String::new();
    for f in &files {
        let sum =
            sha256_file(&root.join(f)).with_context(|| format!("cannot read {}", f.display()))?;
        // Names are sessrec's own (session ids and hosts percent-encoded): no newline, no
        // backslash that would need sha256sum's escaping.
        text.push_str(&format!("{sum}  {}\n", f.display()));
    }
    let sums = root.join("SHA256SUMS");
    super::files::write_new(&sums, &text)
        .with_context(|| format!("cannot write {}", sums.display()))?;
    if let Some(key) = signer {
        let sig = minisign_signature(key, text.as_bytes(), "sessrec export: SHA256SUMS");
        let path = root.join("SHA256SUMS.minisig");
        let mut f = super::files::new_file(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(sig.as_bytes())?;
        // Read back as an auditor's check would: a bundle that would not verify is not handed out.
        let back = std::fs::read(&sums)?;
        check_minisign(&sig, &back, &[key.public()]).map_err(anyhow::Error::msg)?;
    }
    Ok(files.len())
}

/// A minisign signature file for `message`.
pub fn minisign_signature(key: &SigningKey, message: &[u8], trusted_comment: &str) -> String {
    let hashed = blake2::Blake2b512::digest(message);
    let signature = key.sign(&hashed);
    let mut blob = Vec::with_capacity(74);
    blob.extend_from_slice(b"ED");
    blob.extend_from_slice(&key.id().0);
    blob.extend_from_slice(&signature);
    let global = key.sign(&[&signature[..], trusted_comment.as_bytes()].concat());
    format!(
        "untrusted comment: signature from sessrec export, key {}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
        key.id(),
        STANDARD.encode(&blob),
        STANDARD.encode(global)
    )
}

/// Checks a minisign signature file against `message` with the public keys given; returns the
/// key id that signed it.
pub fn check_minisign(
    sig_file: &str,
    message: &[u8],
    keys: &[sessrec_formats::keys::PublicKey],
) -> std::result::Result<String, String> {
    let lines: Vec<&str> = sig_file.lines().collect();
    let (Some(blob), Some(comment), Some(global)) = (lines.get(1), lines.get(2), lines.get(3))
    else {
        return Err("SHA256SUMS.minisig is not a minisign signature".into());
    };
    let blob = STANDARD
        .decode(blob.trim())
        .map_err(|_| "SHA256SUMS.minisig is not a minisign signature".to_string())?;
    let comment = comment
        .strip_prefix("trusted comment: ")
        .ok_or("SHA256SUMS.minisig has no trusted comment")?;
    let global = STANDARD
        .decode(global.trim())
        .map_err(|_| "SHA256SUMS.minisig is not a minisign signature".to_string())?;
    if blob.len() != 74 || &blob[..2] != b"ED" {
        return Err("SHA256SUMS.minisig is not a prehashed minisign signature".into());
    }
    let id = sessrec_formats::keys::KeyId(blob[2..10].try_into().expect("8 bytes"));
    let Some(key) = keys.iter().find(|k| k.id() == id) else {
        return Err(format!(
            "SHA256SUMS is signed by key {id}, which is not trusted here"
        ));
    };
    let signature = &blob[10..];
    let hashed = blake2::Blake2b512::digest(message);
    if !key.verify(&hashed, signature)
        || !key.verify(&[signature, comment.as_bytes()].concat(), &global)
    {
        return Err(format!(
            "the signature of SHA256SUMS by key {id} does not verify"
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_and_an_edit_does_not() {
        let key = SigningKey::generate().unwrap();
        let sig = minisign_signature(&key, b"abc  x\n", "c");
        assert_eq!(
            check_minisign(&sig, b"abc  x\n", &[key.public()]),
            Ok(key.id().to_string())
        );
        assert!(check_minisign(&sig, b"abd  x\n", &[key.public()]).is_err());
        let other = SigningKey::generate().unwrap();
        assert!(check_minisign(&sig, b"abc  x\n", &[other.public()]).is_err());
    }
}
