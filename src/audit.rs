//! Audit events: one JSON object per line in the audit log, and the same to syslog (journald
//! reads /dev/log), each with the session id, user, grant and host.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use serde_json::{Map, Value, json};

/// How urgent an event is (syslog severity).
#[derive(Debug, Clone, Copy)]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something an operator should look at.
    Warning,
    /// Needs attention now (break-glass, recording failures).
    Alert,
}

/// Writes audit events.
pub struct Audit {
    file: Option<File>,
    path: std::path::PathBuf,
    syslog: Option<UnixDatagram>,
    common: Map<String, Value>,
    problems: Vec<String>,
    /// Whether a failed write was reported already (once per process is enough to act on).
    told_write_failure: bool,
}

impl Audit {
    /// Opens the log (appending) and the syslog socket. Failures are kept and reported by
    /// [`Audit::problems`]: losing the audit trail must be visible, not fatal.
    pub fn open(path: &Path, syslog: bool) -> Audit {
        let mut problems = Vec::new();
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(|e| {
                problems.push(format!("cannot open the audit log {}: {e}", path.display()))
            })
            .ok();
        let syslog = if syslog {
            UnixDatagram::unbound()
                .and_then(|s| s.connect("/dev/log").map(|()| s))
                .map_err(|e| problems.push(format!("cannot reach syslog at /dev/log: {e}")))
                .ok()
        } else {
            None
        };
        Audit {
            file,
            path: path.to_path_buf(),
            syslog,
            common: Map::new(),
            problems,
            told_write_failure: false,
        }
    }

    /// A second writer to the same log and syslog, with the same common fields (for events
    /// raised while the session runs, from the recording side).
    pub fn try_clone(&self) -> Audit {
        Audit {
            file: self.file.as_ref().and_then(|f| f.try_clone().ok()),
            path: self.path.clone(),
            syslog: self.syslog.as_ref().and_then(|s| s.try_clone().ok()),
            common: self.common.clone(),
            problems: Vec::new(),
            told_write_failure: false,
        }
    }

    /// Adds a field every later event carries.
    pub fn set(&mut self, key: &str, value: Value) {
        self.common.insert(key.into(), value);
    }

    /// Problems opening the log or syslog.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Writes one event.
    pub fn event(&mut self, level: Level, event: &str, fields: Value) {
        let failures = self.write(level, event, fields);
        // Losing the audit trail must be visible: said once, on standard error.
        if !failures.is_empty() && !self.told_write_failure {
            self.told_write_failure = true;
            crate::print::warn(format_args!(
                "{}; an audit event was lost",
                failures.join("; ")
            ));
        }
    }

    /// Writes one event that must reach the audit log: what it records (a reviewer unsealing
    /// escrowed input) may happen only once it is on record. `Err` says why it is not.
    pub fn must(&mut self, level: Level, event: &str, fields: Value) -> Result<(), String> {
        if self.file.is_none() {
            return Err(self.problems.join("; "));
        }
        let failures = self.write(level, event, fields);
        match failures.iter().find(|f| f.contains("audit log")) {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    /// Writes one event to the log and syslog; returns what failed.
    fn write(&mut self, level: Level, event: &str, fields: Value) -> Vec<String> {
        let mut obj = Map::new();
        obj.insert(
            "time".into(),
            Value::String(jiff::Timestamp::now().to_string()),
        );
        obj.insert("event".into(), Value::String(event.into()));
        obj.insert("level".into(), json!(format!("{level:?}").to_lowercase()));
        obj.extend(self.common.clone());
        if let Value::Object(f) = fields {
            obj.extend(f);
        }
        let line = Value::Object(obj).to_string();
        let mut failures = Vec::new();
        if let Some(f) = &mut self.file
            && let Err(e) = writeln!(f, "{line}")
        {
            failures.push(format!(
                "cannot write the audit log {}: {e}",
                self.path.display()
            ));
        }
        if let Some(s) = &self.syslog {
            // authpriv facility (10); severity 6 info, 4 warning, 1 alert.
            let severity = match level {
                Level::Info => 6,
                Level::Warning => 4,
                Level::Alert => 1,
            };
            let msg = format!(
                "<{}>sessrec[{}]: {line}",
                10 * 8 + severity,
                std::process::id()
            );
            if let Err(e) = s.send(msg.as_bytes()) {
                failures.push(format!("cannot send an audit event to syslog: {e}"));
            }
        }
        failures
    }
}
/// What the audit trail says of how a session ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// A `session.end` event; the recording block it carries (final chain hash, SHA-256, size,
    /// stopped), if the session was recorded.
    Ended(Option<Value>),
    /// No `session.end` for it.
    NoEnd,
}

/// Looks for the `session.end` event of `session` in the audit log at `path`.
pub fn session_ending(path: &Path, session: &str) -> std::io::Result<Ending> {
    use std::io::BufRead;
    let file = File::open(path)?;
    let needle = format!("\"session\":\"{session}\"");
    let mut found = Ending::NoEnd;
    let mut line = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    loop {
        line.clear();
        // A line is one event; an overlong one (not ours) is skipped, not held whole.
        let n = std::io::Read::take(&mut reader, 1 << 20).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(found);
        }
        if memchr::memmem::find(&line, needle.as_bytes()).is_none() {
            continue;
        }
        let Ok(event) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if event.get("event").and_then(Value::as_str) == Some("session.end")
            && event.get("session").and_then(Value::as_str) == Some(session)
        {
            found = Ending::Ended(event.get("recording").filter(|r| !r.is_null()).cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_audit_event_is_reported() {
        // Writes to /dev/full fail with ENOSPC, as on a full log partition.
        let mut audit = Audit::open(Path::new("/dev/full"), false);
        assert!(audit.problems().is_empty());
        audit.event(Level::Info, "session.start", json!({}));
        assert!(audit.told_write_failure);
    }
}
