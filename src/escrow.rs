//! Escrow of withheld input: the keystrokes of a withheld run, encrypted to the policy's age
//! X25519 recipients (the security team's keys, kept offline), so a reviewer with one of their
//! identities can recover them and nobody else can. The plaintext names the session, so a
//! ciphertext copied into another recording does not open as that recording's input.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sessrec_formats::limits::MAX_TEXT_EVENT;
use zeroize::{Zeroize, Zeroizing};

/// The recipients withheld input is encrypted to.
#[derive(Clone, Debug)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
}

/// What one escrow event holds, once opened.
#[derive(Serialize, Deserialize)]
pub struct Payload {
    /// The session the keystrokes were typed in.
    pub session: String,
    /// The marker the run left (what a reviewer saw in its place).
    pub marker: String,
    /// Each keystroke chunk: microseconds since the session started, and the bytes (base64).
    pub keys: Vec<(u64, String)>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        for (_, k) in &mut self.keys {
            k.zeroize();
        }
    }
}

impl Payload {
    /// The keystroke chunks, decoded.
    pub fn keystrokes(&self) -> Result<Vec<(u64, Zeroizing<Vec<u8>>)>> {
        self.keys
            .iter()
            .map(|(t, b)| {
                B64.decode(b)
                    .map(|b| (*t, Zeroizing::new(b)))
                    .context("an escrowed keystroke is not base64")
            })
            .collect()
    }
}

impl Recipients {
    /// Parses `age1...` recipients; none is an error (escrow without a key would lose input).
    pub fn parse(list: &[String]) -> Result<Recipients> {
        if list.is_empty() {
            bail!("no escrow recipient given");
        }
        let keys = list
            .iter()
            .map(|r| {
                age::x25519::Recipient::from_str(r.trim()).map_err(|e| {
                    anyhow!("escrow recipient {r:?} is not an age X25519 recipient (age1...): {e}")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Recipients { keys })
    }

    /// The recipients in their `age1...` form (for the recording's header).
    pub fn to_text(&self) -> Vec<String> {
        self.keys.iter().map(ToString::to_string).collect()
    }

    /// Encrypts the keystrokes of one run; returns the data of its escrow events (base64 of
    /// age files). A run of many small chunks (64 KiB typed one key at a time) is sealed in
    /// parts, each marked "(part i of n)", so that every event stays within what a writer
    /// keeps of one ([`MAX_TEXT_EVENT`]).
    pub fn seal(
        &self,
        session: &str,
        marker: &str,
        keys: &[(u64, Vec<u8>)],
    ) -> Result<Vec<String>> {
        let mut parts: Vec<&[(u64, Vec<u8>)]> = Vec::new();
        let (mut start, mut cost) = (0, 0);
        for (i, (_, k)) in keys.iter().enumerate() {
            // A chunk's JSON: its time, quotes and separators, and its base64.
            let each = 32 + k.len().div_ceil(3) * 4;
            if cost + each > PART_PLAIN && i > start {
                parts.push(&keys[start..i]);
                (start, cost) = (i, 0);
            }
            cost += each;
        }
        parts.push(&keys[start..]);
        let n = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let marker = if n == 1 {
                    marker.to_string()
                } else {
                    format!("{marker} (part {} of {n})", i + 1)
                };
                self.seal_part(session, &marker, part)
            })
            .collect()
    }

    fn seal_part(&self, session: &str, marker: &str, keys: &[(u64, Vec<u8>)]) -> Result<String> {
        let payload = Payload {
            session: session.to_string(),
            marker: marker.to_string(),
            keys: keys.iter().map(|(t, b)| (*t, B64.encode(b))).collect(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&payload)?);
        let encryptor =
            age::Encryptor::with_recipients(self.keys.iter().map(|k| k as &dyn age::Recipient))
                .context("preparing the escrow encryption")?;
        let mut sealed = Vec::with_capacity(plain.len() + 256);
        let mut w = encryptor
            .wrap_output(&mut sealed)
            .context("encrypting escrowed input")?;
        std::io::Write::write_all(&mut w, &plain).context("encrypting escrowed input")?;
        w.finish().context("encrypting escrowed input")?;
        Ok(B64.encode(sealed))
    }
}

/// Reads an age identity file (`AGE-SECRET-KEY-1...` lines, `#` comments), as `age-keygen`
/// writes it. The file's content never appears in an error.
pub fn read_identities(path: &Path) -> Result<Vec<age::x25519::Identity>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the identity file {}", path.display()))?,
    );
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = age::x25519::Identity::from_str(line).map_err(|_| {
            anyhow!(
                "{} line {}: not an age identity (AGE-SECRET-KEY-1...)",
                path.display(),
                n + 1
            )
        })?;
        ids.push(id);
    }
    if ids.is_empty() {
        bail!("{} holds no age identity", path.display());
    }
    Ok(ids)
}

/// The most plaintext (keys as JSON) one escrow event seals: as an age file in base64 it stays
/// well under [`MAX_TEXT_EVENT`] (4/3 of it, plus age's 16 bytes a 64 KiB chunk).
const PART_PLAIN: usize = 512 * 1024;
const _: () = assert!(PART_PLAIN / 3 * 4 + 64 * 1024 < MAX_TEXT_EVENT);

/// The largest escrow event (its base64) opened: no writer keeps a larger event.
const MAX_EVENT: usize = MAX_TEXT_EVENT;

/// Why an escrow event could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// None of the identities is a recipient of this event.
    #[error("none of the given identities is a recipient of this escrowed input")]
    NotARecipient,
    /// The event is not an age file, or it was damaged.
    #[error("the escrowed input is damaged: {0}")]
    Damaged(String),
}

/// Decrypts one escrow event's data with any of `identities`.
pub fn open(data: &str, identities: &[age::x25519::Identity]) -> Result<Payload, OpenError> {
    // A recorder run holds at most 64 KiB of keys; a hostile recording's event may claim more.
    if data.len() > MAX_EVENT {
        return Err(OpenError::Damaged(format!(
            "{} bytes, more than escrowed input can be ({MAX_EVENT})",
            data.len()
        )));
    }
    let sealed = B64
        .decode(data.trim())
        .map_err(|_| OpenError::Damaged("not base64".into()))?;
    let decryptor =
        age::Decryptor::new_buffered(&sealed[..]).map_err(|e| OpenError::Damaged(e.to_string()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => OpenError::NotARecipient,
            e => OpenError::Damaged(e.to_string()),
        })?;
    let mut plain = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&mut reader, MAX_EVENT as u64),
        &mut plain,
    )
    .map_err(|e| OpenError::Damaged(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|e| OpenError::Damaged(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_typed_one_key_at_a_time_is_sealed_in_parts_that_fit() {
        let id = age::x25519::Identity::generate();
        let r = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        let keys: Vec<(u64, Vec<u8>)> = (0..64 * 1024).map(|i| (i, vec![b'a'])).collect();
        let parts = r.seal("S1", "suspicious input", &keys).unwrap();
        assert!(parts.len() > 1);
        assert!(
            parts.iter().all(|p| p.len() <= MAX_TEXT_EVENT),
            "a part too long"
        );
        let mut back = Vec::new();
        for (i, data) in parts.iter().enumerate() {
            let p = open(data, std::slice::from_ref(&id)).unwrap();
            assert!(
                p.marker
                    .ends_with(&format!("(part {} of {})", i + 1, parts.len()))
            );
            back.extend(
                p.keystrokes()
                    .unwrap()
                    .into_iter()
                    .map(|(t, k)| (t, k.to_vec())),
            );
        }
        assert_eq!(back, keys);
    }

    #[test]
    fn only_a_recipient_opens_it_and_it_names_its_session() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let r = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        assert_eq!(r.to_text(), [id.to_public().to_string()]);
        let data = r
            .seal(
                "S1",
                "input withheld: 7 keystrokes",
                &[(5, b"hunter2".to_vec())],
            )
            .unwrap()
            .remove(0);
        assert!(!data.contains("hunter2"));
        let p = open(&data, &[id]).unwrap();
        assert_eq!(p.session, "S1");
        assert_eq!(&p.keystrokes().unwrap()[0].1[..], b"hunter2");
        assert!(matches!(
            open(&data, &[other]),
            Err(OpenError::NotARecipient)
        ));
        assert!(matches!(open("AAAA", &[]), Err(OpenError::Damaged(_))));
        let huge = "A".repeat(MAX_EVENT + 4);
        assert!(matches!(open(&huge, &[]), Err(OpenError::Damaged(m)) if m.contains("more than")));
    }

    #[test]
    fn a_bad_recipient_is_named() {
        let e = Recipients::parse(&["age1nope".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("age1nope"), "{e:#}");
        assert!(Recipients::parse(&[]).is_err());
    }
}
