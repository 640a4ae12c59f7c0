//! The sealed manifest: what the recording service signs, with the host's key, when it seals a
//! recording: whose session it is, where it belongs in the store, its size and SHA-256, and
//! whether it is complete. The uploader cannot read the key, so it cannot sign; it ships this
//! beside the recording and adds only unsigned shipping facts. A store writer without the key
//! can delete or replace a manifest, never make an edited one verify.
//!
//! Stored as `{"sealed": BODY, "key_id": ..., "sig": ...}`, where the signature covers
//! [`MANIFEST_DOMAIN`] and BODY's exact bytes (kept as they are, never re-serialised).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sessrec_formats::Header;
use sessrec_formats::keys::{PublicKey, SigningKey};

use crate::layout::session_keys;
use crate::{Result, StoreError};

/// Signature domain of sealed manifests.
pub const MANIFEST_DOMAIN: &[u8] = b"sessrec manifest v2\n";

/// Largest sealed manifest read (identity and grant blocks are small).
pub const MAX_SEALED: u64 = 1024 * 1024;

/// How the recording was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealedState {
    /// The session ended and the recording holds all of it.
    Complete,
    /// The recording stopped before the session ended (its trailer says when and why).
    Stopped,
    /// Not sealed by its recorder (it died): described by the uploader, unsigned.
    Unsealed,
}

/// The signed body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    /// The session id.
    pub session_id: String,
    /// Where its recording belongs in the store.
    pub key: String,
    /// The bastion host.
    pub host: Option<String>,
    /// The OS user.
    pub user: Option<String>,
    /// The grant id.
    pub grant: Option<String>,
    /// When the session started (RFC 3339).
    pub start: Option<String>,
    /// To its last event, in milliseconds.
    pub duration_ms: u64,
    /// The recording's size in bytes.
    pub size: u64,
    /// SHA-256 of the whole recording, hex.
    pub sha256: String,
    /// Complete, or stopped early.
    pub state: SealedState,
    /// The identity block of the header.
    pub identity: Option<Value>,
    /// The grant block of the header.
    pub grant_detail: Option<Value>,
    /// When it was sealed (RFC 3339).
    pub sealed_at: String,
}

/// A sealed body with its signature, as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Attested {
    /// The body, exactly as signed.
    pub sealed: Box<RawValue>,
    /// The id of the key that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Base64 ed25519 signature over [`MANIFEST_DOMAIN`] and the body's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// What a manifest's signature established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Attestation {
    /// Signed by this trusted key.
    Signed {
        /// The key id.
        key_id: String,
    },
    /// Signed by a key that is not trusted here (or the signature could not be checked).
    Untrusted {
        /// The key id it names.
        key_id: String,
    },
    /// The signature does not match the body: edited after it was signed.
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// No signature (a crashed session's manifest, written by the uploader; or an older one).
    #[default]
    Unsigned,
}

impl Sealed {
    /// The body for a recording with this header.
    pub fn new(
        header: &Header,
        size: u64,
        sha256: String,
        duration_ms: u64,
        state: SealedState,
    ) -> Result<Sealed> {
        let meta = header
            .sessrec
            .as_ref()
            .ok_or_else(|| StoreError::Recording("not a sessrec recording".into()))?;
        let text = |v: &Option<Value>, field: &str| {
            v.as_ref()
                .and_then(|v| v.get(field))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let user = text(&meta.identity, "user");
        let grant = text(&meta.grant, "id");
        let keys = session_keys(
            &meta.session_id,
            meta.start.as_deref(),
            meta.host.as_deref(),
            user.as_deref(),
            grant.as_deref(),
        );
        Ok(Sealed {
            session_id: meta.session_id.clone(),
            key: keys.recording,
            host: meta.host.clone(),
            user,
            grant,
            start: meta.start.clone(),
            duration_ms,
            size,
            sha256,
            state,
            identity: meta.identity.clone(),
            grant_detail: meta.grant.clone(),
            sealed_at: jiff::Timestamp::now().to_string(),
        })
    }

    /// The stored form, signed with `key` when one is given.
    pub fn attest(&self, key: Option<&SigningKey>) -> Attested {
        let body = serde_json::to_string(self).expect("a sealed manifest serialises");
        let sig = key.map(|k| {
            let mut message = MANIFEST_DOMAIN.to_vec();
            message.extend_from_slice(body.as_bytes());
            STANDARD.encode(k.sign(&message))
        });
        Attested {
            sealed: RawValue::from_string(body).expect("serde_json wrote valid JSON"),
            key_id: key.map(|k| k.id().to_string()),
            sig,
        }
    }
}

impl Attested {
    /// The body's fields.
    pub fn body(&self) -> Result<Sealed> {
        serde_json::from_str(self.sealed.get())
            .map_err(|e| StoreError::Recording(format!("the sealed manifest is not valid: {e}")))
    }

    /// Checks the signature against `trusted`.
    pub fn check(&self, trusted: &[PublicKey]) -> Attestation {
        let (Some(key_id), Some(sig)) = (&self.key_id, &self.sig) else {
            return match (&self.key_id, &self.sig) {
                (None, None) => Attestation::Unsigned,
                _ => Attestation::Invalid {
                    reason: "a key id without a signature, or a signature without a key id".into(),
                },
            };
        };
        let Some(key) = trusted.iter().find(|k| &k.id().to_string() == key_id) else {
            return Attestation::Untrusted {
                key_id: key_id.clone(),
            };
        };
        let mut message = MANIFEST_DOMAIN.to_vec();
        message.extend_from_slice(self.sealed.get().as_bytes());
        match STANDARD.decode(sig) {
            Ok(sig) if key.verify(&message, &sig) => Attestation::Signed {
                key_id: key_id.clone(),
            },
            _ => Attestation::Invalid {
                reason: "its signature does not match its content (edited after it was sealed)"
                    .into(),
            },
        }
    }
}
