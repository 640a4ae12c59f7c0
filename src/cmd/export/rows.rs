//! One row per exported session, for `manifest.json` and `manifest.csv`. Every value comes
//! from the store's manifests, the recordings' headers and the audit chain, which a store
//! writer or the recorded user may have shaped: the CSV quotes every field and defuses the
//! ones a spreadsheet would run as a formula.

use serde::Serialize;
use serde_json::Value;
use sessrec_store::Manifest;

/// The columns, in order; docs/export.md says what each holds.
pub const COLUMNS: &[&str] = &[
    "session_id",
    "user",
    "uid",
    "source",
    "key_fingerprint",
    "cert_key_id",
    "cert_serial",
    "grant",
    "approver",
    "ticket",
    "reason",
    "expires",
    "host",
    "start",
    "end",
    "duration_ms",
    "exit_status",
    "bytes",
    "sha256",
    "verdict",
    "signer_key_id",
    "recording",
];

/// One session's row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub session_id: String,
    pub user: Option<String>,
    pub uid: Option<u64>,
    pub source: Option<String>,
    pub key_fingerprint: Option<String>,
    pub cert_key_id: Option<String>,
    pub cert_serial: Option<u64>,
    pub grant: Option<String>,
    pub approver: Option<String>,
    pub ticket: Option<String>,
    pub reason: Option<String>,
    pub expires: Option<String>,
    pub host: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_ms: u64,
    /// From the service's signed `session.end` in the audit chain.
    pub exit_status: Option<i64>,
    pub bytes: u64,
    pub sha256: String,
    /// `sessrec verify` of the exported copy.
    pub verdict: String,
    pub signer_key_id: Option<String>,
    /// The recording's path in the bundle.
    pub recording: String,
}

impl Row {
    /// The row of `m`, whose recording is at `recording` in the bundle.
    pub fn of(m: &Manifest, recording: String) -> Row {
        let identity = m.identity.as_ref();
        let grant = m.grant_detail.as_ref();
        let text = |v: Option<&Value>, k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let cert = identity.and_then(|i| find(i, "certificate"));
        let end = m
            .start
            .as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .and_then(|t| {
                t.checked_add(jiff::SignedDuration::from_millis(m.duration_ms as i64))
                    .ok()
            })
            .map(|t| t.to_string());
        Row {
            session_id: m.session_id.clone(),
            user: m.user.clone(),
            uid: identity.and_then(|i| i.get("uid")).and_then(Value::as_u64),
            source: text(identity, "source"),
            key_fingerprint: identity
                .and_then(|i| find(i, "fingerprint"))
                .and_then(Value::as_str)
                .map(str::to_string),
            cert_key_id: text(cert, "key_id"),
            cert_serial: cert.and_then(|c| c.get("serial")).and_then(Value::as_u64),
            grant: m.grant.clone(),
            approver: text(grant, "approver"),
            ticket: text(grant, "ticket"),
            reason: text(grant, "reason"),
            expires: text(grant, "expires"),
            host: m.host.clone(),
            start: m.start.clone(),
            end,
            duration_ms: m.duration_ms,
            exit_status: None,
            bytes: m.size,
            sha256: m.sha256.clone(),
            verdict: String::new(),
            signer_key_id: m.key_id.clone(),
            recording,
        }
    }

    /// The fields as CSV cells, in [`COLUMNS`] order.
    fn cells(&self) -> Vec<String> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            self.session_id.clone(),
            o(&self.user),
            n(self.uid),
            o(&self.source),
            o(&self.key_fingerprint),
            o(&self.cert_key_id),
            n(self.cert_serial),
            o(&self.grant),
            o(&self.approver),
            o(&self.ticket),
            o(&self.reason),
            o(&self.expires),
            o(&self.host),
            o(&self.start),
            o(&self.end),
            self.duration_ms.to_string(),
            self.exit_status.map(|v| v.to_string()).unwrap_or_default(),
            self.bytes.to_string(),
            self.sha256.clone(),
            self.verdict.clone(),
            o(&self.signer_key_id),
            self.recording.clone(),
        ]
    }
}

/// The first value named `key` anywhere in `v` (depth first).
fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map
            .get(key)
            .or_else(|| map.values().find_map(|x| find(x, key))),
        Value::Array(items) => items.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

/// The CSV text: a header line, then one line per row (RFC 4180, CRLF).
pub fn csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",") + "\r\n";
    for r in rows {
        let cells: Vec<String> = r.cells().iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One quoted cell. A value a spreadsheet could take for a formula (its first character that
/// is not a space one of `=` `+` `-` `@`, or their fullwidth forms; or a tab or CR first) gets
/// a leading `'`, as OWASP advises; control and bidi characters become spaces.
fn cell(value: &str) -> String {
    let mut v: String = value
        .chars()
        .map(|c| if c.is_control() || is_bidi(c) { ' ' } else { c })
        .collect();
    let first = value.trim_start_matches(' ').chars().next();
    if matches!(
        first,
        Some(
            '=' | '+' | '-' | '@' | '\u{ff1d}' | '\u{ff0b}' | '\u{ff0d}' | '\u{ff20}' | '\t' | '\r'
        )
    ) {
        v.insert(0, '\'');
    }
    format!("\"{}\"", v.replace('"', "\"\""))
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_cells_are_quoted_and_defused() {
        assert_eq!(cell("a,b\"c"), "\"a,b\"\"c\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("two\nlines"), "\"two lines\"");
        assert_eq!(cell("\tx"), "\"' x\"");
        assert_eq!(cell(" =cmd"), "\"' =cmd\"");
        assert_eq!(cell("\u{ff1d}cmd"), "\"'\u{ff1d}cmd\"");
        assert_eq!(cell("a\u{202e}b"), "\"a b\"");
    }
}
