//! The signed records between and after the data frames.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{CHECKPOINT_DOMAIN, CHECKPOINT_MAGIC, TRAILER_DOMAIN, TRAILER_FOOTER, TRAILER_MAGIC};
use crate::keys::{PublicKey, SigningKey};

/// Where one data frame is and what it covers. Times are milliseconds since the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameEntry {
    /// Byte offset of the zstd frame in the file.
    pub offset: u64,
    /// Its compressed length in bytes.
    pub len: u64,
    /// Absolute time the frame's first v3 interval is relative to.
    pub base_ms: u64,
    /// Time of the frame's first event.
    pub start_ms: u64,
    /// Time of the frame's last event.
    pub end_ms: u64,
    /// Offset of the frame's first byte in the decompressed stream.
    pub plain_offset: u64,
    /// Decompressed length.
    pub plain_len: u64,
}

/// Written after every data frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Record version (1).
    pub v: u32,
    /// Session id, as in the header.
    pub session: String,
    /// Number of the data frame this follows, from 0.
    pub frame: u64,
    /// That frame.
    #[serde(flatten)]
    pub entry: FrameEntry,
    /// asciicast event lines so far, this frame included.
    pub events: u64,
    /// Hex SHA-256 chain value after this frame.
    pub hash: String,
    /// Id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 ed25519 signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// Written once, at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Record version (1).
    pub v: u32,
    /// Session id, as in the header.
    pub session: String,
    /// Every data frame, in order.
    pub frames: Vec<FrameEntry>,
    /// Time of the last event.
    pub end_ms: u64,
    /// Exit status of the session's main process, when it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// asciicast event lines in all.
    pub events: u64,
    /// Decompressed bytes in all (header line included).
    pub plain: u64,
    /// Hex SHA-256 chain value after the last frame.
    pub hash: String,
    /// Id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 ed25519 signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// Something with a `key` and `sig` signed over a domain and its own JSON without `sig`.
pub(crate) trait Signed: Serialize + Clone {
    const DOMAIN: &'static [u8];
    fn sig_mut(&mut self) -> &mut Option<String>;
    fn key_mut(&mut self) -> &mut Option<String>;

    /// The bytes a signature covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        *unsigned.sig_mut() = None;
        let mut message = Self::DOMAIN.to_vec();
        // Serialising plain structs of strings and integers cannot fail.
        message.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
        message
    }

    fn sign_with(&mut self, key: &SigningKey) {
        *self.key_mut() = Some(key.id().to_string());
        *self.sig_mut() = None;
        let sig = key.sign(&self.signed_bytes());
        *self.sig_mut() = Some(STANDARD.encode(sig));
    }

    /// Whether a signature is present.
    fn has_signature(&self) -> bool {
        self.clone().sig_mut().is_some()
    }

    /// Whether the signature is valid under `key`.
    fn signature_valid(&self, key: &PublicKey) -> bool {
        let mut me = self.clone();
        let Some(sig) = me.sig_mut().take() else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        key.verify(&me.signed_bytes(), &sig)
    }
}

impl Signed for Checkpoint {
    const DOMAIN: &'static [u8] = CHECKPOINT_DOMAIN;
    fn sig_mut(&mut self) -> &mut Option<String> {
        &mut self.sig
    }
    fn key_mut(&mut self) -> &mut Option<String> {
        &mut self.key
    }
}

impl Signed for Trailer {
    const DOMAIN: &'static [u8] = TRAILER_DOMAIN;
    fn sig_mut(&mut self) -> &mut Option<String> {
        &mut self.sig
    }
    fn key_mut(&mut self) -> &mut Option<String> {
        &mut self.key
    }
}

impl Checkpoint {
    /// The key id and signature, if signed.
    pub fn signature(&self) -> Option<(&str, &str)> {
        Some((self.key.as_deref()?, self.sig.as_deref()?))
    }
}

/// A skippable frame: magic, payload length, payload.
pub(crate) fn skippable_frame(magic: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub(crate) fn checkpoint_frame(cp: &Checkpoint) -> Vec<u8> {
    skippable_frame(
        CHECKPOINT_MAGIC,
        &serde_json::to_vec(cp).unwrap_or_default(),
    )
}

pub(crate) fn trailer_frame(trailer: &Trailer) -> Vec<u8> {
    let mut payload = serde_json::to_vec(trailer).unwrap_or_default();
    let len = payload.len() as u32;
    payload.extend_from_slice(&len.to_le_bytes());
    payload.extend_from_slice(TRAILER_FOOTER);
    skippable_frame(TRAILER_MAGIC, &payload)
}

/// Parses a trailer payload (JSON, length, footer).
pub(crate) fn parse_trailer_payload(payload: &[u8]) -> Option<Trailer> {
    let n = payload.len();
    if n < 8 || &payload[n - 4..] != TRAILER_FOOTER {
        return None;
    }
    let len = u32::from_le_bytes(payload[n - 8..n - 4].try_into().ok()?) as usize;
    if len != n - 8 {
        return None;
    }
    serde_json::from_slice(&payload[..len]).ok()
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
