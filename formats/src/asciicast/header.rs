//! Private per-version header structs and their conversion to and from [`Header`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Version;
use crate::model::{Header, SessrecMeta};
use crate::{FormatError, Result};

#[derive(Serialize, Deserialize)]
struct V3Term {
    cols: u16,
    rows: u16,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    theme: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct V3Header {
    version: u8,
    term: V3Term,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_time_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sessrec: Option<SessrecMeta>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct V2Header {
    version: u8,
    width: u16,
    height: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle_time_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    env: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    theme: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sessrec: Option<SessrecMeta>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

pub(super) fn parse(line: &[u8]) -> Result<(Version, Header)> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| FormatError::Header(format!("line 1 is not a JSON object: {e}")))?;
    match value.get("version").and_then(Value::as_u64) {
        Some(3) => {
            let h: V3Header = serde_json::from_value(value)
                .map_err(|e| FormatError::Header(format!("asciicast v3 header: {e}")))?;
            Ok((Version::V3, from_v3(h)))
        }
        Some(2) => {
            let h: V2Header = serde_json::from_value(value)
                .map_err(|e| FormatError::Header(format!("asciicast v2 header: {e}")))?;
            Ok((Version::V2, from_v2(h)))
        }
        Some(v) => Err(FormatError::Header(format!(
            "asciicast version {v} in a one-line header is not supported (v2 and v3 are; v1 is a JSON document)"
        ))),
        None => Err(FormatError::Header(
            "line 1 has no \"version\" number; is this an asciicast file?".into(),
        )),
    }
}

fn from_v3(h: V3Header) -> Header {
    Header {
        cols: h.term.cols,
        rows: h.term.rows,
        term_type: h.term.type_,
        term_version: h.term.version,
        theme: h.term.theme,
        term_extra: h.term.extra,
        timestamp: h.timestamp,
        idle_time_limit: h.idle_time_limit,
        command: h.command,
        title: h.title,
        env: h.env,
        tags: h.tags,
        sessrec: h.sessrec,
        extra: h.extra,
    }
}

fn from_v2(h: V2Header) -> Header {
    let term_type = h
        .env
        .as_ref()
        .and_then(|e| e.get("TERM"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Header {
        cols: h.width,
        rows: h.height,
        term_type,
        theme: h.theme,
        timestamp: h.timestamp,
        idle_time_limit: h.idle_time_limit,
        command: h.command,
        title: h.title,
        env: h.env,
        sessrec: h.sessrec,
        extra: h.extra,
        ..Header::default()
    }
}

/// Serialises a v3 header line (with its newline).
pub(super) fn to_v3_line(h: &Header) -> Vec<u8> {
    let v3 = V3Header {
        version: 3,
        term: V3Term {
            cols: h.cols,
            rows: h.rows,
            type_: h.term_type.clone(),
            version: h.term_version.clone(),
            theme: h.theme.clone(),
            extra: h.term_extra.clone(),
        },
        timestamp: h.timestamp,
        idle_time_limit: h.idle_time_limit,
        command: h.command.clone(),
        title: h.title.clone(),
        env: h.env.clone(),
        tags: h.tags.clone(),
        sessrec: h.sessrec.clone(),
        extra: without_reserved(&h.extra, V3_KEYS),
    };
    finish_line(serde_json::to_vec(&v3))
}

/// Serialises a v2 header line (with its newline). v2 has no `term.type`: it goes to `env.TERM`.
pub(super) fn to_v2_line(h: &Header) -> Vec<u8> {
    let mut env = h.env.clone();
    if let Some(t) = &h.term_type {
        let e = env.get_or_insert_with(Map::new);
        e.entry("TERM").or_insert_with(|| Value::String(t.clone()));
    }
    let mut extra = without_reserved(&h.extra, V2_KEYS);
    if let Some(tags) = &h.tags {
        extra.insert("tags".into(), Value::from(tags.clone()));
    }
    let v2 = V2Header {
        version: 2,
        width: h.cols,
        height: h.rows,
        timestamp: h.timestamp,
        idle_time_limit: h.idle_time_limit,
        command: h.command.clone(),
        title: h.title.clone(),
        env,
        theme: h.theme.clone(),
        sessrec: h.sessrec.clone(),
        extra,
    };
    finish_line(serde_json::to_vec(&v2))
}

const V3_KEYS: &[&str] = &[
    "version",
    "term",
    "timestamp",
    "idle_time_limit",
    "command",
    "title",
    "env",
    "tags",
    "sessrec",
];
const V2_KEYS: &[&str] = &[
    "version",
    "width",
    "height",
    "timestamp",
    "idle_time_limit",
    "command",
    "title",
    "env",
    "theme",
    "sessrec",
];

/// Extra keys that would collide with a key the target version defines are dropped: the typed
/// fields are the truth.
fn without_reserved(extra: &Map<String, Value>, reserved: &[&str]) -> Map<String, Value> {
    extra
        .iter()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn finish_line(v: serde_json::Result<Vec<u8>>) -> Vec<u8> {
    // Serialising a struct of strings, numbers and maps cannot fail, except for a non-finite
    // idle_time_limit, which serde_json writes as null; keep the fallback total anyway.
    let v = v.unwrap_or_else(|_| b"{}".to_vec());
    // serde_json writes valid UTF-8; DEL, C1, bidi and invisible characters become \u escapes,
    // so `zstd -dc` of a recording, or `convert -`, is safe on a terminal.
    let text = String::from_utf8(v).unwrap_or_else(|_| "{}".into());
    let mut v = crate::text::json_safe(&text).into_owned().into_bytes();
    v.push(b'\n');
    v
}
