//! ed25519 signing keys for recordings.
//!
//! * The secret key is stored as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), which OpenSSL reads.
//! * The public key is stored in minisign's format (an `untrusted comment:` line, then base64 of
//!   `"Ed"`, the 8-byte key id and the 32-byte key), so the same file later verifies exported
//!   bundles with stock `minisign -V`.
//! * The key id is the first 8 bytes of SHA-256 over the public key: deterministic, so the same
//!   key always has the same id. It is shown as minisign shows ids: 16 upper-case hex digits.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{Signer, Verifier};
use sha2::{Digest, Sha256};

use crate::{FormatError, Result};

/// An 8-byte key id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    fn of(key: &ed25519_dalek::VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A secret signing key. Its bytes are zeroed when dropped and never printed.
#[derive(Clone)]
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Generates a new key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| FormatError::Key(format!("no random numbers from the OS: {e}")))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(SigningKey { key })
    }

    /// Parses a PKCS#8 PEM secret key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| FormatError::Key(format!("not an ed25519 PKCS#8 PEM secret key ({e})")))?;
        Ok(SigningKey { key })
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String> {
        let pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| FormatError::Key(format!("cannot encode the secret key: {e}")))?;
        Ok(pem.to_string())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_dalek(self.key.verifying_key())
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.public().id
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.id())
    }
}

/// A public key that verifies recordings.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
    id: KeyId,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

impl PublicKey {
    fn from_dalek(key: ed25519_dalek::VerifyingKey) -> Self {
        PublicKey {
            id: KeyId::of(&key),
            key,
        }
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The minisign base64 line: `"Ed"`, key id, key.
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(42);
        raw.extend_from_slice(b"Ed");
        raw.extend_from_slice(&self.id.0);
        raw.extend_from_slice(self.key.as_bytes());
        STANDARD.encode(raw)
    }

    /// The public key file's text (minisign format).
    pub fn to_file_text(&self) -> String {
        format!(
            "untrusted comment: sessrec recording public key {}\n{}\n",
            self.id,
            self.to_base64()
        )
    }

    /// Parses a base64 line as written by [`PublicKey::to_base64`] (or by minisign).
    pub fn from_base64(line: &str) -> Result<Self> {
        let raw = STANDARD
            .decode(line.trim())
            .map_err(|_| FormatError::Key("public key is not valid base64".into()))?;
        if raw.len() != 42 || &raw[..2] != b"Ed" {
            return Err(FormatError::Key(
                "not an ed25519 public key in minisign format (expected 42 bytes starting with \"Ed\")"
                    .into(),
            ));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&raw[10..]);
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|e| FormatError::Key(format!("invalid ed25519 public key: {e}")))?;
        Ok(PublicKey::from_dalek(key))
    }

    /// Parses a public key file: an optional `untrusted comment:` line, then the base64 line.
    pub fn from_file_text(text: &str) -> Result<Self> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| FormatError::Key("the public key file has no key line".into()))?;
        PublicKey::from_base64(line)
    }

    /// Checks a signature.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_signs() {
        let sk = SigningKey::generate().unwrap();
        let pem = sk.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let sk2 = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(sk.id(), sk2.id());
        let pk = PublicKey::from_file_text(&sk.public().to_file_text()).unwrap();
        let sig = sk2.sign(b"hello");
        assert!(pk.verify(b"hello", &sig));
        assert!(!pk.verify(b"hellO", &sig));
        assert!(!pk.verify(b"hello", &sig[..63]));
        assert!(PublicKey::from_base64("AAAA").is_err());
        assert!(SigningKey::from_pem("nope").is_err());
    }
}
