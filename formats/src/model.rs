//! The version-neutral recording model that every reader produces and every writer consumes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Time in microseconds since the start of the recording.
pub type Micros = u64;

/// The recording header: what asciicast v2 and v3 headers have in common, plus everything else
/// kept verbatim so that a conversion never drops metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Terminal width in columns.
    pub cols: u16,
    /// Terminal height in rows.
    pub rows: u16,
    /// `TERM` of the recorded terminal (v3 `term.type`).
    pub term_type: Option<String>,
    /// The terminal's XTVERSION reply (v3 `term.version`).
    pub term_version: Option<String>,
    /// Colour theme, kept as JSON (`{fg, bg, palette}`).
    pub theme: Option<Value>,
    /// Keys of the v3 `term` object that no field above covers, kept.
    pub term_extra: Map<String, Value>,
    /// Unix time (seconds) of the start.
    pub timestamp: Option<i64>,
    /// Suggested idle time limit for playback, in seconds.
    pub idle_time_limit: Option<f64>,
    /// The recorded command.
    pub command: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Captured environment variables.
    pub env: Option<Map<String, Value>>,
    /// Tags (v3).
    pub tags: Option<Vec<String>>,
    /// sessrec's own metadata (the `"sessrec"` header object).
    pub sessrec: Option<SessrecMeta>,
    /// Header keys no field above covers, kept as they were.
    pub extra: Map<String, Value>,
}

/// sessrec's metadata: one extra object in the asciicast header, which other readers ignore.
///
/// Only the fields the container needs are typed; identity, grant and policy are kept as JSON
/// objects so that newer recorders' fields survive older tools.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessrecMeta {
    /// Version of sessrec's metadata and container layout.
    pub format: u32,
    /// Session id (time-ordered, e.g. a UUIDv7).
    pub session_id: String,
    /// Host the session ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Start time in UTC, RFC 3339 with sub-second precision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Who: user, uid, SSH principal, key fingerprint, source address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Value>,
    /// Under which access grant: id, expiry, origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Value>,
    /// Recorder name and version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<String>,
    /// Capture policy (input on/off, redaction rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<Value>,
    /// Id of the key that signs the checkpoints (see [`crate::keys::KeyId`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The signing public key (minisign base64 line). Self-attested: it lets `verify` check that
    /// a file is consistent, but only a key the verifier trusts makes it authentic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Where the recording came from when it was converted from another format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    /// Fields this version does not know, kept.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One timed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Microseconds since the start of the recording.
    pub time: Micros,
    /// What happened.
    pub data: EventData,
}

/// What an event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// Bytes the program wrote to the terminal. Not necessarily valid UTF-8.
    Output(Vec<u8>),
    /// Bytes the user typed. Not necessarily valid UTF-8.
    Input(Vec<u8>),
    /// The terminal was resized.
    Resize {
        /// New width.
        cols: u16,
        /// New height.
        rows: u16,
    },
    /// A marker with a label (possibly empty).
    Marker(String),
    /// The session's main process exited with this status.
    Exit(i32),
    /// An event code this version does not know, passed through.
    Other {
        /// The event code.
        code: String,
        /// Its data, as written (a JSON string's contents).
        data: String,
    },
}

impl Event {
    /// Shorthand for an output event.
    pub fn output(time: Micros, bytes: impl Into<Vec<u8>>) -> Self {
        Event {
            time,
            data: EventData::Output(bytes.into()),
        }
    }
}

impl Header {
    /// A header with only a size.
    pub fn new(cols: u16, rows: u16) -> Self {
        Header {
            cols,
            rows,
            ..Header::default()
        }
    }

    /// The session id from the sessrec metadata, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.sessrec.as_ref().map(|m| m.session_id.as_str())
    }
}

/// Parses asciicast resize data, `"COLSxROWS"`.
pub fn parse_size(text: &str) -> Option<(u16, u16)> {
    let (c, r) = text.split_once('x')?;
    Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
}
