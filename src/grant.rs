//! The access grant a session runs under: from the user's SSH certificate, from a root-owned
//! grant file written by the access system, or (only where policy trusts it) the environment.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use sessrec_formats::MarkerKind;

use crate::audit::{Audit, Level};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::sshauth::{self, CertInfo};

/// Certificate extension that carries a grant id; without it the certificate's key id is the
/// grant id.
pub const CERT_EXTENSION: &str = "grant-id@sessrec";

/// A grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Its id.
    pub id: String,
    /// When it ends.
    pub expires: Option<jiff::Timestamp>,
    /// Where it came from: `certificate`, `grant_file` or `environment`.
    pub source: &'static str,
    /// Who approved it, the ticket and the reason, when the access system says.
    pub approver: Option<String>,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Reason given.
    pub reason: Option<String>,
}

/// The login's environment, as the client passed it.
pub type Env = std::collections::BTreeMap<String, String>;

impl Grant {
    /// A grant back from its [`Grant::json`] (a nested session takes its parent's).
    pub fn from_json(v: &Value, source: &'static str) -> Option<Grant> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Grant {
            id: text("id")?,
            expires: text("expires").and_then(|e| e.parse().ok()),
            source,
            approver: text("approver"),
            ticket: text("ticket"),
            reason: text("reason"),
        })
    }

    /// The header's `grant` object.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "expires": self.expires.map(|t| t.to_string()),
            "source": self.source,
            "approver": self.approver,
            "ticket": self.ticket,
            "reason": self.reason,
        })
    }

    /// Whether it is still valid at `now`.
    pub fn valid_at(&self, now: jiff::Timestamp) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

#[derive(Deserialize)]
struct GrantFile {
    id: String,
    expires: Option<String>,
    approver: Option<String>,
    ticket: Option<String>,
    reason: Option<String>,
}

/// From a certificate.
pub fn from_cert(cert: &CertInfo) -> Option<Grant> {
    let id = cert
        .extensions
        .iter()
        .find(|(k, _)| k == CERT_EXTENSION)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| cert.key_id.clone());
    if id.is_empty() {
        return None;
    }
    let expires = i64::try_from(cert.valid_before)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok());
    Some(Grant {
        id,
        expires,
        source: "certificate",
        approver: None,
        ticket: None,
        reason: None,
    })
}

/// From `dir/USER.json`, which must be owned by root and writable by nobody else.
pub fn from_file(dir: &Path, user: &str) -> Result<Option<Grant>> {
    if user.is_empty() || user.contains('/') || user.starts_with('.') {
        return Ok(None);
    }
    let path = dir.join(format!("{user}.json"));
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        bail!(
            "{} is not owned by root or is writable by others; ignoring it",
            path.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let f: GrantFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a grant", path.display()))?;
    let expires = match f.expires {
        Some(e) => Some(
            e.parse()
                .with_context(|| format!("{}: invalid expiry {e:?}", path.display()))?,
        ),
        None => None,
    };
    Ok(Some(Grant {
        id: f.id,
        expires,
        source: "grant_file",
        approver: f.approver,
        ticket: f.ticket,
        reason: f.reason,
    }))
}

/// From `SESSREC_GRANT_ID` and `SESSREC_GRANT_EXPIRES` (RFC 3339) in the login's environment.
pub fn from_env(env: &Env) -> Option<Grant> {
    let id = env
        .get("SESSREC_GRANT_ID")
        .filter(|s| !s.is_empty())?
        .clone();
    let expires = env
        .get("SESSREC_GRANT_EXPIRES")
        .and_then(|e| e.parse().ok());
    Some(Grant {
        id,
        expires,
        source: "environment",
        approver: None,
        ticket: None,
        reason: None,
    })
}

/// The session's grant, first found wins: certificate, grant file, environment (if trusted);
/// with a note when a grant file had to be ignored.
pub fn find(
    config: &Config,
    user: &str,
    auth: &sshauth::SshAuth,
    env: &Env,
) -> (Option<Grant>, Option<String>) {
    if let Some(g) = auth.cert.as_ref().and_then(from_cert) {
        return (Some(g), None);
    }
    match from_file(&config.grant_dir, user) {
        Ok(Some(g)) => return (Some(g), None),
        Ok(None) => {}
        Err(e) => {
            return (
                config.trust_env_grant.then(|| from_env(env)).flatten(),
                Some(format!("{e:#}")),
            );
        }
    }
    (
        config.trust_env_grant.then(|| from_env(env)).flatten(),
        None,
    )
}

/// Warnings 10 and 1 minutes before the grant ends, then the end.
pub fn deadline(grant: &Grant) -> Option<Deadline> {
    let expires = grant.expires?;
    let left = expires.duration_since(jiff::Timestamp::now());
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    let now = Instant::now();
    let at = now + left;
    let mut warnings = Vec::new();
    for minutes in [10u64, 1] {
        let lead = Duration::from_secs(minutes * 60);
        if left > lead {
            warnings.push((
                at - lead,
                MarkerKind::Grant.label(&format!(
                    "{} expires in {minutes} minute{}",
                    grant.id,
                    if minutes == 1 { "" } else { "s" }
                )),
            ));
        }
    }
    if left <= Duration::from_secs(60) {
        warnings.push((
            now,
            MarkerKind::Grant.label(&format!(
                "{} expires in {} seconds",
                grant.id,
                left.as_secs()
            )),
        ));
    }
    Some(Deadline {
        at,
        warnings,
        final_message: MarkerKind::Grant.label(&format!(
            "{} expired at {expires}: ending the session",
            grant.id
        )),
    })
}

/// No grant, but policy allows break-glass: ask why, record it, raise an alert.
pub fn break_glass(audit: &mut Audit) -> Result<Grant> {
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "No valid access grant. BREAK-GLASS access is recorded and alerted.\nReason (ticket or incident): "
    );
    let _ = err.flush();
    let mut reason = String::new();
    std::io::stdin()
        .read_line(&mut reason)
        .context("reading the break-glass reason")?;
    let reason = reason.trim().to_string();
    if reason.len() < 4 {
        audit.event(
            Level::Warning,
            "session.refused",
            json!({"reason": "break-glass without a reason"}),
        );
        bail!("access refused: a break-glass session needs a reason");
    }
    audit.event(Level::Alert, "break_glass", json!({"reason": reason}));
    Ok(Grant {
        id: "break-glass".into(),
        expires: None,
        source: "break_glass",
        approver: None,
        ticket: None,
        reason: Some(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_grants() {
        let cert = CertInfo {
            key_id: "GRANT-42".into(),
            valid_before: 1_900_000_000,
            extensions: vec![("permit-pty".into(), String::new())],
            json: Value::Null,
        };
        let g = from_cert(&cert).unwrap();
        assert_eq!(g.id, "GRANT-42");
        assert_eq!(g.expires.unwrap().as_second(), 1_900_000_000);
        let with_ext = CertInfo {
            extensions: vec![(CERT_EXTENSION.into(), "CHG-7".into())],
            ..cert
        };
        assert_eq!(from_cert(&with_ext).unwrap().id, "CHG-7");
        assert!(!g.valid_at(jiff::Timestamp::from_second(1_900_000_001).unwrap()));
    }
}
