//! What a pass over a container proved: the hash chain, checkpoints, signatures and trailer.

use super::FORMAT;
use super::records::{Checkpoint, Signed, Stopped, StoredRecord, Trailer, hex, trailer_record};
use crate::keys::PublicKey;
use crate::model::SessrecMeta;

/// Where a file ends early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Byte offset where the input ends.
    pub offset: u64,
    /// Whether it ends inside a data frame (the events flushed before the cut are readable).
    pub in_frame: bool,
}

/// An alteration: the first place where the file is not what was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Data frame number (from 0) at or after which the damage is.
    pub frame: u64,
    /// Byte offset.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
}

/// What a read of a container established. Filled in as the file is read.
#[derive(Debug, Clone, Default)]
pub struct Integrity {
    /// Session id from the header.
    pub session_id: Option<String>,
    /// Key id the header names.
    pub header_key_id: Option<String>,
    /// The header's sessrec metadata, as read in this pass (covered by the chain from frame 0).
    pub meta: Option<SessrecMeta>,
    /// Complete data frames read.
    pub data_frames: u64,
    /// Checkpoints whose frame number, offsets and hash chain matched.
    pub verified_frames: u64,
    /// Time (ms) of the last event covered by a matching checkpoint.
    pub verified_end_ms: Option<u64>,
    /// Event lines covered by a matching checkpoint.
    pub verified_events: u64,
    /// Records (checkpoints and trailer) with a valid signature by a trusted key.
    pub trusted_signatures: u64,
    /// Records signed by a key that is not trusted (valid under the header's own key, or
    /// unverifiable).
    pub untrusted_signatures: u64,
    /// Records with no signature.
    pub unsigned: u64,
    /// The key id that signed (the first seen).
    pub signer: Option<String>,
    /// The first alteration found; reading stops there.
    pub damage: Option<Damage>,
    /// Where the input ended early, if it did.
    pub cut: Option<Cut>,
    /// The trailer, once read and checked.
    pub trailer: Option<Trailer>,
    /// Bytes of the file read.
    pub bytes_read: u64,
    /// Decompressed bytes produced.
    pub plain_bytes: u64,
    /// Whether the hash chain was followed from the first frame (false after a seek).
    pub chain_checked: bool,
}

/// The one-word answer of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Complete, every record signed by a trusted key.
    Intact,
    /// Everything present is consistent but the file ends early.
    Truncated,
    /// The file was changed after it was signed (or is damaged).
    Altered,
    /// Some records carry no signature.
    Unsigned,
    /// Signed, but by a key the verifier does not trust.
    UntrustedKey,
    /// Whole and signed, but the recording stopped before the session ended (its trailer
    /// says when and why).
    Incomplete,
}

impl Integrity {
    /// The container format the header names (1: older recordings, 2: current).
    pub fn format(&self) -> Option<u32> {
        self.meta.as_ref().map(|m| m.format)
    }

    /// When and why the recording stopped before its session ended, as its signed trailer says.
    pub fn stopped(&self) -> Option<&Stopped> {
        self.trailer.as_ref().and_then(|t| t.stopped.as_ref())
    }

    /// The verdict, most serious first: altered, unsigned, untrusted, truncated, intact.
    pub fn verdict(&self) -> Verdict {
        if self.damage.is_some() {
            Verdict::Altered
        } else if (self.session_id.is_none() && self.cut.is_none()) || self.unsigned > 0 {
            Verdict::Unsigned
        } else if self.untrusted_signatures > 0 {
            Verdict::UntrustedKey
        } else if self.trailer.is_none() || self.cut.is_some() || self.trusted_signatures == 0 {
            Verdict::Truncated
        } else if self.stopped().is_some() {
            Verdict::Incomplete
        } else {
            Verdict::Intact
        }
    }
}

/// Follows the structure of a container as its bytes go by.
pub(crate) struct Tracker {
    pub(crate) integ: Integrity,
    trusted: Vec<PublicKey>,
    header_key: Option<PublicKey>,
    chain: [u8; 32],
    frames: Vec<(u64, u64)>,
    awaiting_checkpoint: bool,
    next_frame: u64,
    pub(crate) trailer_seen: bool,
    first_line: Vec<u8>,
    first_line_done: bool,
}

impl Tracker {
    pub(crate) fn new(trusted: Vec<PublicKey>, first_frame: u64, chain_checked: bool) -> Self {
        Tracker {
            integ: Integrity {
                chain_checked,
                ..Integrity::default()
            },
            trusted,
            header_key: None,
            chain: [0; 32],
            frames: Vec::new(),
            awaiting_checkpoint: false,
            next_frame: first_frame,
            trailer_seen: false,
            first_line: Vec::new(),
            first_line_done: !chain_checked,
        }
    }

    pub(crate) fn damaged(&mut self, offset: u64, reason: impl Into<String>) {
        if self.integ.damage.is_none() {
            self.integ.damage = Some(Damage {
                frame: self
                    .next_frame
                    .saturating_sub(u64::from(self.awaiting_checkpoint)),
                offset,
                reason: reason.into(),
            });
        }
    }

    /// Plain bytes of frame 0, to read the header's session id and key.
    pub(crate) fn plain(&mut self, bytes: &[u8]) {
        self.integ.plain_bytes += bytes.len() as u64;
        if self.first_line_done {
            return;
        }
        let end = memchr::memchr(b'\n', bytes);
        let take = end.unwrap_or(bytes.len());
        if self.first_line.len() + take > crate::MAX_LINE {
            self.first_line_done = true;
            return;
        }
        self.first_line.extend_from_slice(&bytes[..take]);
        if end.is_some() {
            self.first_line_done = true;
            self.read_header();
        }
    }

    fn read_header(&mut self) {
        let meta = serde_json::from_slice::<serde_json::Value>(&self.first_line)
            .ok()
            .and_then(|mut v| v.get_mut("sessrec").map(serde_json::Value::take))
            .and_then(|v| serde_json::from_value::<SessrecMeta>(v).ok());
        self.first_line = Vec::new();
        if let Some(meta) = meta {
            self.integ.meta = Some(meta.clone());
            self.header_key = meta
                .public_key
                .as_deref()
                .and_then(|k| PublicKey::from_base64(k).ok());
            self.integ.header_key_id = meta.key_id;
            self.integ.session_id = Some(meta.session_id);
        }
    }

    /// A data frame starts at `offset`.
    pub(crate) fn frame_start(&mut self, offset: u64) {
        // A plain zstd stream of a foreign recording has no checkpoints; only a sessrec container
        // (its header names a session) must have one after every frame.
        if self.awaiting_checkpoint && self.integ.chain_checked && self.integ.session_id.is_some() {
            self.damaged(
                offset,
                format!(
                    "the checkpoint after frame {} is missing",
                    self.next_frame - 1
                ),
            );
        }
    }

    /// A data frame ended; `chain` is the chain value including it.
    pub(crate) fn frame_complete(&mut self, offset: u64, len: u64, chain: [u8; 32]) {
        self.chain = chain;
        self.frames.push((offset, len));
        self.integ.data_frames += 1;
        self.next_frame += 1;
        self.awaiting_checkpoint = true;
    }

    /// Whether this is a sessrec container (its header names a session) whose end is checked.
    pub(crate) fn expects_trailer(&self) -> bool {
        self.integ.chain_checked && self.integ.session_id.is_some() && !self.trailer_seen
    }

    /// The chain value before the next frame.
    pub(crate) fn chain(&self) -> [u8; 32] {
        self.chain
    }

    pub(crate) fn checkpoint(&mut self, offset: u64, payload: &[u8]) {
        if !self.integ.chain_checked {
            self.awaiting_checkpoint = false;
            return;
        }
        let frame = self.next_frame.wrapping_sub(1);
        let StoredRecord { record: cp, signed } = match self.decode::<Checkpoint>(payload) {
            Ok(r) => r,
            Err(why) => {
                return self.damaged(
                    offset,
                    format!("the checkpoint after frame {frame} is unreadable: {why}"),
                );
            }
        };
        if !self.awaiting_checkpoint {
            return self.damaged(
                offset,
                format!(
                    "an extra checkpoint (for frame {}) follows frame {frame}",
                    cp.frame
                ),
            );
        }
        self.awaiting_checkpoint = false;
        let (f_off, f_len) = self.frames.last().copied().unwrap_or_default();
        if cp.frame != frame || cp.entry.offset != f_off || cp.entry.len != f_len {
            return self.damaged(
                offset,
                format!(
                    "frame {frame} is out of place: its checkpoint names frame {} at offset {}",
                    cp.frame, cp.entry.offset
                ),
            );
        }
        if cp.hash != hex(&self.chain) {
            return self.damaged(
                offset,
                format!("frame {frame} does not match its hash chain"),
            );
        }
        if !self.session_matches(&cp.session) {
            return self.damaged(
                offset,
                format!(
                    "checkpoint {frame} belongs to another session ({})",
                    cp.session
                ),
            );
        }
        if !self.check_signature(offset, &cp, &signed, cp.key.clone(), frame) {
            return;
        }
        self.integ.verified_frames = frame + 1;
        self.integ.verified_end_ms = Some(cp.entry.end_ms);
        self.integ.verified_events = cp.events;
    }

    pub(crate) fn trailer(&mut self, offset: u64, payload: &[u8]) {
        self.trailer_seen = true;
        if !self.integ.chain_checked {
            return;
        }
        let decoded = trailer_record(payload)
            .ok_or_else(|| "its length or footer is wrong".to_string())
            .and_then(|r| self.decode::<Trailer>(r));
        let StoredRecord {
            record: trailer,
            signed,
        } = match decoded {
            Ok(r) => r,
            Err(why) => return self.damaged(offset, format!("the trailer is unreadable: {why}")),
        };
        if self.awaiting_checkpoint {
            return self.damaged(
                offset,
                format!(
                    "the checkpoint after frame {} is missing",
                    self.next_frame - 1
                ),
            );
        }
        let listed: Vec<(u64, u64)> = trailer.frames.iter().map(|f| (f.offset, f.len)).collect();
        if listed != self.frames {
            return self.damaged(offset, format!(
                "the trailer lists {} frames but the file has {} (frames added, removed or moved)",
                listed.len(),
                self.frames.len()
            ));
        }
        if trailer.hash != hex(&self.chain) {
            return self.damaged(
                offset,
                "the final hash in the trailer does not match the frames",
            );
        }
        if !self.session_matches(&trailer.session) {
            return self.damaged(offset, "the trailer belongs to another session");
        }
        let frame = self.next_frame.saturating_sub(1);
        if self.check_signature(offset, &trailer, &signed, trailer.key.clone(), frame) {
            self.integ.trailer = Some(trailer);
        }
    }

    /// Reads a record in the header's format (1 when the header names none).
    fn decode<T: Signed>(&self, payload: &[u8]) -> Result<StoredRecord<T>, String> {
        let format = self.integ.format().unwrap_or(1);
        if format > FORMAT {
            return Err(format!(
                "the header says container format {format}, newer than this sessrec reads \
                 (up to {FORMAT}); use a newer sessrec"
            ));
        }
        T::decode(payload, format)
    }

    fn session_matches(&self, session: &str) -> bool {
        self.integ
            .session_id
            .as_deref()
            .is_none_or(|s| s == session)
    }

    /// Checks a record's signature; false when that is an alteration. A recording whose header
    /// names a key must have every record signed by that key; one whose header names none must
    /// have no signatures.
    fn check_signature<S: Signed>(
        &mut self,
        offset: u64,
        record: &S,
        signed: &[u8],
        key: Option<String>,
        frame: u64,
    ) -> bool {
        let expected = self.integ.header_key_id.clone();
        let key_id = match (key, expected) {
            (None, None) if !record.has_signature() => {
                self.integ.unsigned += 1;
                return true;
            }
            (Some(k), Some(e)) if k == e => k,
            (k, e) => {
                self.damaged(
                    offset,
                    format!(
                        "the record after frame {frame} is signed by {} but the header names {}",
                        k.as_deref().unwrap_or("no key"),
                        e.as_deref().unwrap_or("no key")
                    ),
                );
                return false;
            }
        };
        self.integ.signer.get_or_insert_with(|| key_id.clone());
        let key = self
            .trusted
            .iter()
            .chain(self.header_key.iter())
            .find(|k| k.id().to_string() == key_id);
        let trusted = self.trusted.iter().any(|k| k.id().to_string() == key_id);
        match key {
            Some(k) if !record.signature_valid(signed, k) => {
                self.damaged(
                    offset,
                    format!("the signature after frame {frame} is invalid"),
                );
                false
            }
            _ => {
                if trusted {
                    self.integ.trusted_signatures += 1;
                } else {
                    self.integ.untrusted_signatures += 1;
                }
                true
            }
        }
    }
}
