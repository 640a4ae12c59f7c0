//! The host's audit chain: audit events as JSON lines, each carrying its sequence number
//! (`seq`) and the SHA-256 of the line before it (`prev`), some signed with the host key.
//!
//! A line is the exact bytes written, without its newline; its hash is SHA-256 over those
//! bytes. The first line of a host's chain has `seq` 1 and a `prev` of 64 zeros. A signed line
//! ends `,"key":"KEYID","sig":"BASE64"}`, the signature being ed25519 over [`AUDIT_DOMAIN`]
//! followed by the line as it would be without that suffix (its JSON object closed after
//! `seq`). A signature covers its line and, through `prev`, every line before it: lines
//! written by someone without the key (the uploader) are chained, and become signed evidence
//! when the next signed line follows them.
//!
//! This module is pure: [`link`] makes a line, [`ChainCheck`] checks a run of lines,
//! [`check_pieces`] a whole chain from the pieces it is kept in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::{KeyId, PublicKey, SigningKey};

mod pieces;
pub use pieces::{ChainReport, ChainVerdict, check_pieces};

/// Signature domain of audit lines.
pub const AUDIT_DOMAIN: &[u8] = b"sessrec audit v1\n";
/// The longest audit line read back; an event is a few hundred bytes.
pub const MAX_AUDIT_LINE: usize = 1024 * 1024;

/// Where a chain stands: the last line's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The last line's `seq` (0 before the first line).
    pub seq: u64,
    /// SHA-256 of the last line (zeros before the first line).
    pub hash: [u8; 32],
}

impl Head {
    /// Before the first line of a chain.
    pub const START: Head = Head {
        seq: 0,
        hash: [0; 32],
    };

    /// The head after `line`, taken as the chain's last line.
    pub fn after(line: &[u8]) -> Option<Head> {
        let v: Value = serde_json::from_slice(line).ok()?;
        Some(Head {
            seq: v.get("seq")?.as_u64()?,
            hash: Sha256::digest(line).into(),
        })
    }
}

/// Makes the next line of the chain from an event's fields (any `seq`, `prev`, `key` or `sig`
/// among them is replaced), signed when `signer` is given. Returns the line (no newline) and
/// the new head.
pub fn link(
    head: &Head,
    mut fields: Map<String, Value>,
    signer: Option<&SigningKey>,
) -> (String, Head) {
    for k in ["seq", "prev", "key", "sig"] {
        fields.remove(k);
    }
    let seq = head.seq.saturating_add(1);
    let mut body = Value::Object(fields).to_string();
    // Appended last, so the signed suffix is the end of the line whatever the map's order.
    body.pop();
    if body.len() > 1 {
        body.push(',');
    }
    body.push_str(&format!("\"prev\":\"{}\",\"seq\":{seq}}}", hex(&head.hash)));
    let line = match signer {
        Some(key) => {
            let sig = key.sign(&[AUDIT_DOMAIN, body.as_bytes()].concat());
            let mut line = body;
            line.pop();
            line.push_str(&format!(
                ",\"key\":\"{}\",\"sig\":\"{}\"}}",
                key.id(),
                STANDARD.encode(sig)
            ));
            line
        }
        None => body,
    };
    let head = Head {
        seq,
        hash: Sha256::digest(line.as_bytes()).into(),
    };
    (line, head)
}

/// Why a run of audit lines is not an intact chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A line is not a JSON object with a sequence number and a previous hash.
    #[error("not an audit chain line ({why})")]
    NotALine {
        /// Line number in the run (from 1).
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// Lines are missing or out of order.
    #[error("the chain jumps from seq {from} to seq {to}: {missing}")]
    Gap {
        /// The seq expected.
        from: u64,
        /// The seq found.
        to: u64,
        /// Which lines are missing, in words.
        missing: String,
    },
    /// A line's seq is not higher than the one before it: lines repeated or reordered.
    #[error("seq {seq} where seq {expected} was expected: lines repeated or out of order")]
    OutOfOrder {
        /// The seq found.
        seq: u64,
        /// The seq expected.
        expected: u64,
    },
    /// A line does not follow from the one before it: it, or the one before, was edited.
    #[error(
        "seq {seq} does not follow from the line before it (that line, or this one, was altered)"
    )]
    Unlinked {
        /// The line's seq.
        seq: u64,
    },
    /// A signature does not verify.
    #[error("the signature of seq {seq} does not verify (the line was altered)")]
    BadSignature {
        /// The line's seq.
        seq: u64,
    },
}

/// Checks a run of audit lines, one at a time: each follows from the one before it, and the
/// signed ones verify. A run may start anywhere in a host's chain (a shipped segment, a rotated
/// log); [`ChainCheck::starting_at`] ties it to where the last run ended.
#[derive(Debug)]
pub struct ChainCheck {
    trusted: Vec<PublicKey>,
    head: Option<Head>,
    lines: u64,
    first_seq: Option<u64>,
    last_signed: Option<u64>,
    signers: Vec<KeyId>,
    untrusted: Vec<KeyId>,
}

/// What a checked run holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// The first and last seq, if any line was read.
    pub seqs: Option<(u64, u64)>,
    /// The last line, as a head to continue from.
    pub head: Option<Head>,
    /// The last seq signed by a trusted key.
    pub last_signed: Option<u64>,
    /// Lines after the last trusted signature (chained, but no key vouches for them yet).
    pub unsigned_tail: u64,
    /// Trusted keys that signed lines (at most 16 listed).
    pub signers: Vec<KeyId>,
    /// Keys that signed lines but are not trusted, whose lines count as unsigned (at most 16
    /// listed).
    pub untrusted: Vec<KeyId>,
}

impl ChainCheck {
    /// A check trusting `trusted` keys, for a run that starts anywhere.
    pub fn new(trusted: Vec<PublicKey>) -> ChainCheck {
        ChainCheck {
            trusted,
            head: None,
            lines: 0,
            first_seq: None,
            last_signed: None,
            signers: Vec::new(),
            untrusted: Vec::new(),
        }
    }

    /// A check whose first line must follow `head` (the end of the run before it).
    pub fn starting_at(trusted: Vec<PublicKey>, head: Head) -> ChainCheck {
        ChainCheck {
            head: Some(head),
            ..ChainCheck::new(trusted)
        }
    }

    /// Checks the next line (without its newline) and returns it parsed, with whether a
    /// trusted key signed it (only such a line is the recording service's own statement).
    pub fn feed(&mut self, line: &[u8]) -> Result<Fed, ChainBreak> {
        self.lines += 1;
        let not_a_line = |why: &str| ChainBreak::NotALine {
            line: self.lines,
            why: why.into(),
        };
        if line.len() > MAX_AUDIT_LINE {
            return Err(not_a_line("longer than 1 MiB"));
        }
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(line) else {
            return Err(not_a_line("not a JSON object"));
        };
        let seq = fields
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| not_a_line("no seq"))?;
        let prev = fields
            .get("prev")
            .and_then(Value::as_str)
            .and_then(unhex)
            .ok_or_else(|| not_a_line("no prev hash"))?;
        match self.head {
            Some(head) if seq <= head.seq => {
                return Err(ChainBreak::OutOfOrder {
                    seq,
                    expected: head.seq.saturating_add(1),
                });
            }
            Some(head) if seq != head.seq.saturating_add(1) => {
                return Err(ChainBreak::Gap {
                    from: head.seq.saturating_add(1),
                    to: seq,
                    missing: missing(head.seq.saturating_add(1), seq),
                });
            }
            Some(head) if prev != head.hash => return Err(ChainBreak::Unlinked { seq }),
            None if seq == 1 && prev != [0; 32] => return Err(ChainBreak::Unlinked { seq }),
            _ => {}
        }
        let mut signed = false;
        if fields.contains_key("sig") {
            match self.signature(line, &fields) {
                Signature::Trusted(id) => {
                    self.last_signed = Some(seq);
                    signed = true;
                    note_key(&mut self.signers, id);
                }
                Signature::Untrusted(id) => note_key(&mut self.untrusted, id),
                Signature::Bad => return Err(ChainBreak::BadSignature { seq }),
            }
        }
        self.first_seq.get_or_insert(seq);
        self.head = Some(Head {
            seq,
            hash: Sha256::digest(line).into(),
        });
        Ok(Fed { fields, signed })
    }

    /// The last line checked, as a head to continue from.
    pub fn head(&self) -> Option<Head> {
        self.head.filter(|_| self.first_seq.is_some())
    }

    /// What the run held so far.
    pub fn summary(&self) -> ChainSummary {
        let seqs = self.first_seq.zip(self.head.map(|h| h.seq));
        let last = self.head.map_or(0, |h| h.seq);
        let unsigned_tail = match (seqs, self.last_signed) {
            (None, _) => 0,
            (Some((first, _)), None) => last - first + 1,
            (Some(_), Some(signed)) => last - signed,
        };
        ChainSummary {
            seqs,
            head: self.head.filter(|_| seqs.is_some()),
            last_signed: self.last_signed,
            unsigned_tail,
            signers: self.signers.clone(),
            untrusted: self.untrusted.clone(),
        }
    }

    fn signature(&self, line: &[u8], fields: &Map<String, Value>) -> Signature {
        let (Some(key), Some(sig)) = (
            fields.get("key").and_then(Value::as_str),
            fields.get("sig").and_then(Value::as_str),
        ) else {
            return Signature::Bad;
        };
        // The signed body is the line without its exact suffix, closed again.
        let suffix = format!(",\"key\":\"{key}\",\"sig\":\"{sig}\"}}");
        let Some(body) = line.strip_suffix(suffix.as_bytes()) else {
            return Signature::Bad;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return Signature::Bad;
        };
        let message = [AUDIT_DOMAIN, body, b"}"].concat();
        match self.trusted.iter().find(|k| k.id().to_string() == key) {
            Some(k) if k.verify(&message, &sig) => Signature::Trusted(k.id()),
            Some(_) => Signature::Bad,
            None => match parse_key_id(key) {
                Some(id) => Signature::Untrusted(id),
                None => Signature::Bad,
            },
        }
    }
}

/// A line that follows on in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Fed {
    /// Its fields.
    pub fields: Map<String, Value>,
    /// Whether a trusted key signed it.
    pub signed: bool,
}

/// The key ids a summary lists, at most this many (made-up ids cost nothing to write).
const KEYS_LISTED: usize = 16;

fn note_key(list: &mut Vec<KeyId>, id: KeyId) {
    if list.len() < KEYS_LISTED && !list.contains(&id) {
        list.push(id);
    }
}

enum Signature {
    Trusted(KeyId),
    Untrusted(KeyId),
    Bad,
}

fn missing(from: u64, to: u64) -> String {
    if to > from {
        let n = to - from;
        let s = if n == 1 { "" } else { "s" };
        format!("{n} line{s} missing")
    } else {
        "lines repeated or out of order".into()
    }
}

fn parse_key_id(s: &str) -> Option<KeyId> {
    if s.len() != 16 {
        return None;
    }
    u64::from_str_radix(s, 16)
        .ok()
        .map(|v| KeyId(v.to_le_bytes()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of 64 hex digits.
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn chain(key: &SigningKey, n: usize) -> Vec<String> {
        let mut head = Head::START;
        (0..n)
            .map(|i| {
                let signer = (i % 2 == 0).then_some(key);
                let (line, h) = link(&head, fields(json!({"event": "e", "i": i})), signer);
                head = h;
                line
            })
            .collect()
    }

    #[test]
    fn a_chain_checks_and_its_edits_do_not() {
        let key = SigningKey::generate().unwrap();
        let lines = chain(&key, 5);
        let mut check = ChainCheck::new(vec![key.public()]);
        for l in &lines {
            check.feed(l.as_bytes()).unwrap();
        }
        let s = check.summary();
        assert_eq!(s.seqs, Some((1, 5)));
        assert_eq!(s.last_signed, Some(5));
        assert_eq!(s.unsigned_tail, 0);

        // An edited unsigned line breaks the link to the next.
        let mut edited = lines.clone();
        edited[1] = edited[1].replace("\"i\":1", "\"i\":7");
        let mut check = ChainCheck::new(vec![key.public()]);
        let err = edited
            .iter()
            .find_map(|l| check.feed(l.as_bytes()).err())
            .unwrap();
        assert_eq!(err, ChainBreak::Unlinked { seq: 3 });

        // An edited signed line fails its signature.
        let mut edited = lines.clone();
        edited[0] = edited[0].replace("\"i\":0", "\"i\":9");
        let mut check = ChainCheck::new(vec![key.public()]);
        assert_eq!(
            check.feed(edited[0].as_bytes()),
            Err(ChainBreak::BadSignature { seq: 1 })
        );

        // A removed line is a gap.
        let mut check = ChainCheck::new(vec![key.public()]);
        check.feed(lines[0].as_bytes()).unwrap();
        assert!(matches!(
            check.feed(lines[2].as_bytes()),
            Err(ChainBreak::Gap { from: 2, to: 3, .. })
        ));
    }

    #[test]
    fn an_unknown_key_vouches_for_nothing() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let lines = chain(&other, 3);
        let mut check = ChainCheck::new(vec![key.public()]);
        for l in &lines {
            check.feed(l.as_bytes()).unwrap();
        }
        let s = check.summary();
        assert_eq!(s.last_signed, None);
        assert_eq!(s.unsigned_tail, 3);
        assert_eq!(s.untrusted, vec![other.id()]);
    }

    #[test]
    fn a_run_ties_to_the_one_before() {
        let key = SigningKey::generate().unwrap();
        let lines = chain(&key, 4);
        let head = Head::after(lines[1].as_bytes()).unwrap();
        let mut check = ChainCheck::starting_at(vec![key.public()], head);
        check.feed(lines[2].as_bytes()).unwrap();
        let wrong = Head::after(lines[0].as_bytes()).unwrap();
        let mut check = ChainCheck::starting_at(vec![key.public()], wrong);
        assert!(check.feed(lines[2].as_bytes()).is_err());
    }
}
