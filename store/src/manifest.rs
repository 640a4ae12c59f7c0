//! The manifest: a small JSON object beside each recording with what an auditor filters on
//! (who, where, when, which grant) and what proves the upload (size, SHA-256, verdict).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Header, OpenOptions, open_path, open_reader};

use crate::layout::{SessionKeys, session_keys};
use crate::{Result, StoreError};

/// What the store keeps beside a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub manifest: u32,
    /// The session id.
    pub session_id: String,
    /// The recording's key in the store.
    pub key: String,
    /// The bastion host.
    pub host: Option<String>,
    /// The OS user.
    pub user: Option<String>,
    /// The grant id.
    pub grant: Option<String>,
    /// When the session started (RFC 3339).
    pub start: Option<String>,
    /// How long it lasted, in milliseconds (to its last event).
    pub duration_ms: u64,
    /// The recording's size in bytes.
    pub size: u64,
    /// SHA-256 of the whole recording, hex.
    pub sha256: String,
    /// The verify verdict when it was shipped.
    pub verdict: ShippedVerdict,
    /// The id of the key that signed it.
    pub key_id: Option<String>,
    /// The identity block of the header (SSH key, certificate, source address).
    pub identity: Option<Value>,
    /// The grant block of the header.
    pub grant_detail: Option<Value>,
    /// When it was shipped (RFC 3339).
    pub uploaded: String,
}

impl Manifest {
    /// The keys of this session's objects.
    pub fn keys(&self) -> SessionKeys {
        session_keys(
            &self.session_id,
            self.start.as_deref(),
            self.host.as_deref(),
            self.user.as_deref(),
            self.grant.as_deref(),
        )
    }
}

/// What the header of a local recording says: the manifest without its size, hash and
/// verdict, which [`check`] and the upload fill in. Cheap: reads only the first frame.
pub fn from_header(path: &Path) -> Result<Manifest> {
    let shown = path.display().to_string();
    let reader = open_path(path, &OpenOptions::default())
        .map_err(|e| StoreError::Recording(format!("{shown}: {e}")))?;
    from_header_of(reader.header().clone(), &shown)
}

/// The same from the first bytes of a recording (`shown` names it in errors).
pub fn from_header_bytes(start: Vec<u8>, shown: &str) -> Result<Manifest> {
    let reader = open_reader(
        Box::new(std::io::Cursor::new(start)),
        &OpenOptions::default(),
    )
    .map_err(|e| StoreError::Recording(format!("{shown}: {e}")))?;
    from_header_of(reader.header().clone(), shown)
}

fn from_header_of(header: Header, shown: &str) -> Result<Manifest> {
    let meta = header
        .sessrec
        .ok_or_else(|| StoreError::Recording(format!("{shown}: not a sessrec recording")))?;
    let user = meta
        .identity
        .as_ref()
        .and_then(|i| i.get("user"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let grant = meta
        .grant
        .as_ref()
        .and_then(|g| g.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let keys = session_keys(
        &meta.session_id,
        meta.start.as_deref(),
        meta.host.as_deref(),
        user.as_deref(),
        grant.as_deref(),
    );
    Ok(Manifest {
        manifest: 1,
        session_id: meta.session_id,
        key: keys.recording,
        host: meta.host,
        user,
        grant,
        start: meta.start,
        duration_ms: 0,
        size: 0,
        sha256: String::new(),
        verdict: ShippedVerdict::Unverified,
        key_id: meta.key_id,
        identity: meta.identity,
        grant_detail: meta.grant,
        uploaded: jiff::Timestamp::now().to_string(),
    })
}

/// Verifies a local recording against `trusted`: its verdict and duration (ms).
pub fn check(path: &Path, trusted: &[PublicKey]) -> Result<(ShippedVerdict, u64)> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| StoreError::io(format!("opening {shown}"), e))?;
    let report = verify(std::io::BufReader::new(file), trusted.to_vec())
        .map_err(|e| StoreError::Recording(format!("{shown}: {e}")))?;
    Ok((report.verdict.into(), report.last_event_ms))
}

/// A manifest's verdict: what `verify` said when the recording was shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "&'static str")]
pub enum ShippedVerdict {
    /// Complete and signed by a trusted key.
    Intact,
    /// Consistent but cut short (the recorder died).
    Truncated,
    /// Changed after it was signed, or damaged.
    Altered,
    /// Not signed.
    Unsigned,
    /// Signed by a key the uploader does not trust.
    UntrustedKey,
    /// Whole and signed, but the recording stopped before the session ended.
    Incomplete,
    /// Not checked: indexed from the recording's header, without a manifest.
    Unverified,
    /// A manifest whose verdict this version does not know (shown, never trusted).
    Unknown,
}

impl ShippedVerdict {
    /// The verdict as the manifest and `ls` spell it.
    pub fn name(self) -> &'static str {
        match self {
            ShippedVerdict::Intact => "intact",
            ShippedVerdict::Truncated => "truncated",
            ShippedVerdict::Altered => "altered",
            ShippedVerdict::Unsigned => "unsigned",
            ShippedVerdict::UntrustedKey => "untrusted_key",
            ShippedVerdict::Incomplete => "incomplete",
            ShippedVerdict::Unverified => "unverified",
            ShippedVerdict::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ShippedVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl From<Verdict> for ShippedVerdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Intact => ShippedVerdict::Intact,
            Verdict::Truncated => ShippedVerdict::Truncated,
            Verdict::Altered => ShippedVerdict::Altered,
            Verdict::Unsigned => ShippedVerdict::Unsigned,
            Verdict::UntrustedKey => ShippedVerdict::UntrustedKey,
            Verdict::Incomplete => ShippedVerdict::Incomplete,
        }
    }
}

impl From<String> for ShippedVerdict {
    fn from(name: String) -> Self {
        [
            ShippedVerdict::Intact,
            ShippedVerdict::Truncated,
            ShippedVerdict::Altered,
            ShippedVerdict::Unsigned,
            ShippedVerdict::UntrustedKey,
            ShippedVerdict::Incomplete,
            ShippedVerdict::Unverified,
        ]
        .into_iter()
        .find(|v| v.name() == name)
        .unwrap_or(ShippedVerdict::Unknown)
    }
}

impl From<ShippedVerdict> for &'static str {
    fn from(v: ShippedVerdict) -> Self {
        v.name()
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
