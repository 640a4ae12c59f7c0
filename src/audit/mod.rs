//! Audit events: one JSON object per line in the audit log, and the same to syslog (journald
//! reads /dev/log), each with the session id, user, grant and host. The log is the host's audit
//! chain (`sessrec_formats::audit`): every line carries its seq and the hash of the line before,
//! and the recording service signs its lines with the host key.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use serde_json::{Map, Value, json};
use sessrec_formats::keys::SigningKey;

mod head;

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
    /// The host key, for a writer that holds it (the recording service): its lines are signed.
    signer: Option<SigningKey>,
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
            signer: None,
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
            signer: self.signer.clone(),
        }
    }

    /// Signs every later event with the host key: each signature vouches for the chain up to
    /// its line, including the lines of writers without the key.
    pub fn sign_with(&mut self, key: SigningKey) {
        self.signer = Some(key);
    }

    /// Signs every later event with the host key at `path` (the recording service's), if it can
    /// be read; if not, the events are still chained and the problem is kept.
    pub fn sign_with_key_file(&mut self, path: Option<&Path>) {
        match path.map(crate::keyfile::read_signing_key) {
            Some(Ok(key)) => self.sign_with(key),
            Some(Err(e)) => self
                .problems
                .push(format!("audit events are chained but not signed: {e:#}")),
            None => {}
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
        for v in obj.values_mut() {
            cut_long_strings(v);
        }
        let mut failures = Vec::new();
        let line = match &mut self.file {
            Some(f) => match head::append(f, &self.path, obj.clone(), self.signer.as_ref()) {
                Ok(line) => line,
                Err(e) => {
                    failures.push(format!(
                        "cannot write the audit log {}: {e}",
                        self.path.display()
                    ));
                    Value::Object(obj).to_string()
                }
            },
            None => Value::Object(obj).to_string(),
        };
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
/// The most of one string an event keeps: a recorded user's megabyte command line must not
/// make a line longer than a chain's reader reads.
const MAX_FIELD: usize = 64 * 1024;

fn cut_long_strings(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > MAX_FIELD => {
            *s = crate::record::header::bounded(s, MAX_FIELD);
        }
        Value::Array(items) => items.iter_mut().for_each(cut_long_strings),
        Value::Object(map) => map.values_mut().for_each(cut_long_strings),
        _ => {}
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

    fn check(
        pieces: &[std::path::PathBuf],
        key: &SigningKey,
    ) -> sessrec_formats::audit::ChainReport {
        let readers = pieces.iter().map(|p| {
            let f = std::io::BufReader::new(File::open(p).unwrap());
            (p.display().to_string(), f)
        });
        sessrec_formats::audit::check_pieces(readers, vec![key.public()], |_, _| {}).unwrap()
    }

    #[test]
    fn a_megabyte_command_is_cut_in_its_event() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let mut a = Audit::open(&log, false);
        a.event(
            Level::Info,
            "session.refused",
            json!({"command": "x".repeat(3 << 20)}),
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.len() < 70 * 1024, "{}", text.len());
        assert!(text.contains("bytes cut]"));
    }

    #[test]
    fn writers_at_once_and_a_rotation_make_one_chain() {
        use sessrec_formats::audit::ChainVerdict;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let key = SigningKey::generate().unwrap();
        // Processes write at once (here threads, each with its own open file, as processes
        // have); one holds the key, as the service does, and writes last.
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut a = Audit::open(&log, false);
                    for i in 0..50 {
                        a.event(Level::Info, "upload.ok", json!({"w": w, "i": i}));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut service = Audit::open(&log, false);
        service.sign_with(key.clone());
        service.event(Level::Info, "session.start", json!({}));
        let r = check(std::slice::from_ref(&log), &key);
        assert_eq!(r.verdict, ChainVerdict::Intact, "{:?}", r.problem);
        assert_eq!(r.lines, 201);

        // Rotated: the new log goes on from the old one's last line.
        let rotated = dir.path().join("audit.log.1");
        std::fs::rename(&log, &rotated).unwrap();
        let mut service = Audit::open(&log, false);
        service.sign_with(key.clone());
        service.event(Level::Info, "session.end", json!({}));
        let r = check(&[rotated, log.clone()], &key);
        assert_eq!(r.verdict, ChainVerdict::Intact, "{:?}", r.problem);
        assert_eq!(r.summary.seqs, Some((1, 202)));
        // Alone, the new log is a chain whose start is elsewhere.
        assert_eq!(check(&[log], &key).verdict, ChainVerdict::Cut);
    }
}
