//! The manifest: a small JSON object beside each recording with what an auditor filters on
//! (who, where, when, which grant) and what proves the upload (size, SHA-256, verdict).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sessrec_formats::container::Verdict;
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Header, OpenOptions, open_path, open_reader};

use crate::layout::{SessionKeys, session_keys};
use crate::sealed::{Attestation, Attested, Sealed, SealedState};
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
    /// Whether the host's key vouches for the fields above. Only a manifest signed by a trusted
    /// key has a verdict; any other has `verdict` "unverified" and the uploader's in `claimed`.
    #[serde(default)]
    pub attestation: Attestation,
    /// The verdict the uploader reported when it shipped the recording (unsigned: a claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<ShippedVerdict>,
    /// Why a signed manifest's verdict is not shown: its recording is missing from the store,
    /// or not of the sealed size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A manifest as the store holds it (format 2): the sealed body, its signature, and what the
/// uploader adds, unsigned.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredManifest {
    /// Manifest format version (2).
    pub manifest: u32,
    /// The body, exactly as the recording service signed it (or the uploader wrote it).
    pub sealed: Box<serde_json::value::RawValue>,
    /// The id of the key that signed the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Unsigned facts of the upload.
    pub shipped: Shipping,
}

/// What the uploader adds to a manifest (never signed: the uploader holds no key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Shipping {
    /// When (RFC 3339).
    pub uploaded: String,
    /// Its verify verdict when shipped.
    pub verdict: ShippedVerdict,
}

impl StoredManifest {
    /// The stored form of `attested` as shipped.
    pub fn new(attested: Attested, shipping: Shipping) -> StoredManifest {
        StoredManifest {
            manifest: 2,
            sealed: attested.sealed,
            key_id: attested.key_id,
            sig: attested.sig,
            shipped: shipping,
        }
    }

    /// The JSON stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest serialises")
    }
}

/// Reads a stored manifest found at `location` (shown in messages), checking its signature
/// against `trusted` and, with `stored_where_it_belongs` (the store compares object paths, as
/// encoded), that it is stored where its session's manifest belongs. Older, unsigned manifests
/// (format 1) are read with the verdict "unverified".
pub fn parse_stored(
    bytes: &[u8],
    location: &str,
    stored_where_it_belongs: impl FnOnce(&Manifest) -> bool,
    trusted: &[PublicKey],
) -> Result<Manifest> {
    let invalid = |e: serde_json::Error| {
        StoreError::Recording(format!("the manifest {location} is not valid: {e}"))
    };
    #[derive(Deserialize)]
    struct Version {
        manifest: u32,
    }
    let version = serde_json::from_slice::<Version>(bytes).map_err(invalid)?;
    if version.manifest < 2 {
        let mut m = serde_json::from_slice::<Manifest>(bytes).map_err(invalid)?;
        m.claimed = Some(m.verdict);
        m.verdict = ShippedVerdict::Unverified;
        m.attestation = Attestation::Unsigned;
        return Ok(m);
    }
    let stored = serde_json::from_slice::<StoredManifest>(bytes).map_err(invalid)?;
    let attested = Attested {
        sealed: stored.sealed,
        key_id: stored.key_id,
        sig: stored.sig,
    };
    let body = attested.body()?;
    let mut attestation = attested.check(trusted);
    let mut m = flatten(body, attestation.clone(), &stored.shipped);
    let belongs = m.keys().manifest;
    if !stored_where_it_belongs(&m) {
        attestation = Attestation::Invalid {
            reason: format!(
                "stored at {location}, but it describes session {} (whose manifest belongs at \
                 {belongs})",
                m.session_id
            ),
        };
        m.attestation = attestation;
        m.verdict = ShippedVerdict::Unverified;
    }
    Ok(m)
}

/// The catalog's view of a sealed body: a verdict only when a trusted key vouches for it.
pub fn flatten(body: Sealed, attestation: Attestation, shipped: &Shipping) -> Manifest {
    let verdict = match (&attestation, body.state) {
        (Attestation::Signed { .. }, SealedState::Complete) => ShippedVerdict::Intact,
        (Attestation::Signed { .. }, SealedState::Stopped) => ShippedVerdict::Incomplete,
        _ => ShippedVerdict::Unverified,
    };
    Manifest {
        manifest: 2,
        session_id: body.session_id,
        key: body.key,
        host: body.host,
        user: body.user,
        grant: body.grant,
        start: body.start,
        duration_ms: body.duration_ms,
        size: body.size,
        sha256: body.sha256,
        verdict,
        key_id: match &attestation {
            Attestation::Signed { key_id } | Attestation::Untrusted { key_id } => {
                Some(key_id.clone())
            }
            _ => None,
        },
        identity: body.identity,
        grant_detail: body.grant_detail,
        uploaded: shipped.uploaded.clone(),
        attestation,
        claimed: Some(shipped.verdict),
        problem: None,
    }
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

/// What sessrec metadata of a header says, laid out as a manifest (unverified).
pub fn from_meta(meta: &sessrec_formats::SessrecMeta) -> Manifest {
    let header = Header {
        sessrec: Some(meta.clone()),
        ..Header::default()
    };
    from_header_of(header, "").expect("a header with sessrec metadata")
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
        attestation: Attestation::Unsigned,
        claimed: None,
        problem: None,
    })
}

pub use crate::check::{Checked, check};

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
