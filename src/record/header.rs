//! The header of a new recording: terminal, time, host, and sessrec's metadata.

use serde_json::{Map, Value, json};
use sessrec_formats::{Header, SessrecMeta};

/// What the recorder knows when a session starts.
pub struct Start {
    /// Session id (UUIDv7: sorts by time).
    pub session_id: String,
    /// When, in UTC.
    pub at: jiff::Timestamp,
    /// The recorded command line, for the header.
    pub command: String,
    /// Who (user, uid, SSH details), as JSON.
    pub identity: Value,
    /// Under which grant, as JSON.
    pub grant: Option<Value>,
    /// Whether keystrokes are recorded.
    pub capture_input: bool,
    /// The escrow recipients of withheld input, if any.
    pub escrow: Option<Vec<String>>,
    /// What suspicious withheld runs get.
    pub suspicious: crate::record::withhold::SuspiciousPolicy,
    /// The session id of an enclosing sessrec session.
    pub parent: Option<String>,
    /// The terminal size.
    pub size: (u16, u16),
}

/// The most of the command line the header keeps, in bytes (escaped, at most six bytes each:
/// well within [`sessrec_formats::limits::MAX_HEADER`] with everything else).
const MAX_COMMAND: usize = 64 * 1024;
/// The most of `TERM` the header keeps.
const MAX_TERM: usize = 256;

/// `text` cut to `max` bytes at a character boundary, saying how much was cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &text[..end], text.len() - end)
}

impl Start {
    /// A fresh session id and start time.
    pub fn now(command: String, identity: Value, size: (u16, u16)) -> Start {
        Start {
            session_id: uuid::Uuid::now_v7().to_string(),
            at: jiff::Timestamp::now(),
            command,
            identity,
            grant: None,
            capture_input: true,
            escrow: None,
            suspicious: crate::record::withhold::SuspiciousPolicy::Escrow,
            parent: None,
            size,
        }
    }

    /// The asciicast header with the `sessrec` object.
    pub fn header(&self) -> Header {
        let mut h = Header::new(self.size.0, self.size.1);
        // The user chooses both (an ssh command line can be megabytes): kept to a size that
        // leaves the header within what every reader accepts, and cut visibly.
        let term = std::env::var("TERM").ok().map(|t| bounded(&t, MAX_TERM));
        h.term_type = term.clone();
        h.timestamp = Some(self.at.as_second());
        h.command = Some(bounded(&self.command, MAX_COMMAND));
        let mut env = Map::new();
        if let Some(t) = term {
            env.insert("TERM".into(), Value::String(t));
        }
        h.env = Some(env);
        let mut other = Map::new();
        if let Some(p) = &self.parent {
            other.insert("parent_session".into(), Value::String(p.clone()));
        }
        h.sessrec = Some(SessrecMeta {
            format: 1,
            session_id: self.session_id.clone(),
            host: hostname(),
            start: Some(self.at.to_string()),
            identity: Some(self.identity.clone()),
            grant: self.grant.clone(),
            recorder: Some(concat!("sessrec ", env!("CARGO_PKG_VERSION")).into()),
            capture: Some(json!({
                "input": self.capture_input,
                "redaction": "input withheld while the terminal reads with echo off, and after secret prompts, until Enter; echoed secrets masked",
                "escrow": self.escrow.as_ref().map(|r| json!({"recipients": r, "event": sessrec_formats::ESCROW_CODE})),
                "suspicious": match self.suspicious {
                    crate::record::withhold::SuspiciousPolicy::Record => "record",
                    crate::record::withhold::SuspiciousPolicy::Escrow if self.escrow.is_some() => "escrow",
                    _ => "drop",
                },
            })),
            other,
            ..SessrecMeta::default()
        });
        h
    }
}

/// This host's name.
pub fn hostname() -> Option<String> {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_megabyte_command_line_is_cut_and_the_header_still_fits() {
        // A recorded user's `ssh bastion "$(long)"`: control bytes escape to six bytes each.
        let command = "\u{1}".repeat(1024 * 1024);
        let start = Start::now(command, json!({"user": "alice"}), (80, 24));
        let header = start.header();
        let kept = header.command.as_deref().unwrap();
        assert!(kept.ends_with(&format!("… [{} bytes cut]", 1024 * 1024 - MAX_COMMAND)));
        let line = sessrec_formats::asciicast::V3Encoder::new().header(&header);
        sessrec_formats::asciicast::check_header_line(&line).unwrap();
    }
}
