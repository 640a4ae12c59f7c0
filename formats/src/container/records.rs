//! The signed records between and after the data frames.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    CHECKPOINT_DOMAIN, CHECKPOINT_DOMAIN_V1, CHECKPOINT_MAGIC, TRAILER_DOMAIN, TRAILER_DOMAIN_V1,
    TRAILER_FOOTER, TRAILER_MAGIC,
};
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
    /// Set when the recording stopped before the session ended (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// Id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 ed25519 signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
}

/// Why a recording stopped before its session ended (best_effort: the session went on
/// unrecorded; strict: the session was ended).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// Time of the stop, milliseconds since the start.
    pub at_ms: u64,
    /// Why (e.g. the spool's disk filled).
    pub reason: String,
    /// Whether the session went on after the recording stopped.
    pub session_continued: bool,
}

/// A record's bytes as stored, split into what the signature covers and the signature.
///
/// Format 2 stores `JSON` or `JSON \n base64(signature)`, and the signature covers the domain
/// and those exact JSON bytes. Format 1 stored the JSON with a `sig` field, signed over a
/// re-serialisation without it; it is read only in the exact form format 1 wrote it (a
/// re-serialisation must give the same bytes), so no field can be added, reordered or
/// duplicated without that showing.
pub(crate) struct StoredRecord<T> {
    /// The parsed record (its `sig` set from the stored signature).
    pub record: T,
    /// What a signature must cover: the domain and the signed bytes.
    pub signed: Vec<u8>,
}

/// Something with a `key` and `sig`, signed over a domain and its JSON without `sig`.
pub(crate) trait Signed: Serialize + serde::de::DeserializeOwned + Clone {
    /// Domain of format 1.
    const DOMAIN_V1: &'static [u8];
    /// Domain of format 2.
    const DOMAIN_V2: &'static [u8];
    fn sig_mut(&mut self) -> &mut Option<String>;
    fn key_mut(&mut self) -> &mut Option<String>;

    /// The stored form (format 2): JSON without `sig`, then a newline and the signature.
    fn encode(&mut self, key: Option<&SigningKey>) -> Vec<u8> {
        *self.sig_mut() = None;
        *self.key_mut() = key.map(|k| k.id().to_string());
        // Serialising plain structs of strings and integers cannot fail.
        let mut json = serde_json::to_vec(&*self).unwrap_or_default();
        if let Some(key) = key {
            let mut message = Self::DOMAIN_V2.to_vec();
            message.extend_from_slice(&json);
            let sig = STANDARD.encode(key.sign(&message));
            json.push(b'\n');
            json.extend_from_slice(sig.as_bytes());
            *self.sig_mut() = Some(sig);
        }
        json
    }

    /// Reads a stored record of container `format`; `Err` says why it is not one.
    fn decode(payload: &[u8], format: u32) -> std::result::Result<StoredRecord<Self>, String> {
        let parsed = |json: &[u8]| {
            serde_json::from_slice::<Self>(json).map_err(|e| format!("it is not a record ({e})"))
        };
        let canonical =
            |record: &Self, json: &[u8]| {
                if serde_json::to_vec(record).ok().as_deref() == Some(json) {
                    Ok(())
                } else {
                    Err("it is not in the exact form sessrec writes (a field was added, changed or \
                     reordered)"
                    .to_string())
                }
            };
        if format < 2 {
            let record = parsed(payload)?;
            canonical(&record, payload)?;
            let mut unsigned = record.clone();
            *unsigned.sig_mut() = None;
            let mut signed = Self::DOMAIN_V1.to_vec();
            signed.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
            return Ok(StoredRecord { record, signed });
        }
        let (json, sig) = match memchr::memchr(b'\n', payload) {
            Some(i) => (&payload[..i], Some(&payload[i + 1..])),
            None => (payload, None),
        };
        let mut record = parsed(json)?;
        if record.sig_mut().is_some() {
            return Err("its JSON carries a signature field".into());
        }
        canonical(&record, json)?;
        if let Some(sig) = sig {
            let sig = std::str::from_utf8(sig).map_err(|_| "its signature is not text")?;
            *record.sig_mut() = Some(sig.to_string());
        }
        let mut signed = Self::DOMAIN_V2.to_vec();
        signed.extend_from_slice(json);
        Ok(StoredRecord { record, signed })
    }

    /// Whether a signature is present.
    fn has_signature(&self) -> bool {
        self.clone().sig_mut().is_some()
    }

    /// Whether the record's signature is valid under `key` over `signed`.
    fn signature_valid(&self, signed: &[u8], key: &PublicKey) -> bool {
        let Some(sig) = self.clone().sig_mut().take() else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        key.verify(signed, &sig)
    }
}

impl Signed for Checkpoint {
    const DOMAIN_V1: &'static [u8] = CHECKPOINT_DOMAIN_V1;
    const DOMAIN_V2: &'static [u8] = CHECKPOINT_DOMAIN;
    fn sig_mut(&mut self) -> &mut Option<String> {
        &mut self.sig
    }
    fn key_mut(&mut self) -> &mut Option<String> {
        &mut self.key
    }
}

impl Signed for Trailer {
    const DOMAIN_V1: &'static [u8] = TRAILER_DOMAIN_V1;
    const DOMAIN_V2: &'static [u8] = TRAILER_DOMAIN;
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

pub(crate) fn checkpoint_frame(payload: &[u8]) -> Vec<u8> {
    skippable_frame(CHECKPOINT_MAGIC, payload)
}

pub(crate) fn trailer_frame(mut payload: Vec<u8>) -> Vec<u8> {
    let len = payload.len() as u32;
    payload.extend_from_slice(&len.to_le_bytes());
    payload.extend_from_slice(TRAILER_FOOTER);
    skippable_frame(TRAILER_MAGIC, &payload)
}

/// The record inside a trailer payload (record, length, footer), if it has that shape.
pub(crate) fn trailer_record(payload: &[u8]) -> Option<&[u8]> {
    let n = payload.len();
    if n < 8 || &payload[n - 4..] != TRAILER_FOOTER {
        return None;
    }
    let len = u32::from_le_bytes(payload[n - 8..n - 4].try_into().ok()?) as usize;
    (len == n - 8).then(|| &payload[..len])
}

/// The JSON of a stored record of either format, for readers that only need its fields (the
/// seek index): everything before the signature line.
pub(crate) fn record_json(record: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', record) {
        Some(i) => &record[..i],
        None => record,
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
