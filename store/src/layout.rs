//! Object keys. Recordings are laid out by day, host and user, so that listing a day, a host on a
//! day, or a user on a host is one prefix listing; a small marker per grant makes listing the
//! sessions of a grant one prefix listing too.
//!
//! ```text
//! sessions/2026/11/26/bastion-1/alice/0193....cast.zst
//! sessions/2026/11/26/bastion-1/alice/0193....manifest.json
//! grants/INC-4711/0193...                  (its content: the recording's key)
//! ```

/// The keys of one session's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The recording.
    pub recording: String,
    /// Its manifest.
    pub manifest: String,
    /// The grant marker, when the session had a grant.
    pub grant: Option<String>,
}

/// Where a segment of a host's audit chain goes: `audit/HOST/FIRST-LAST.jsonl`, the seq of its
/// first and last lines zero-padded so that names sort in chain order.
pub fn audit_segment_key(host: &str, first: u64, last: u64) -> String {
    format!("{}{first:020}-{last:020}.jsonl", audit_prefix(host))
}

/// The prefix of a host's audit chain segments (`audit/HOST/`).
pub fn audit_prefix(host: &str) -> String {
    format!("audit/{}/", component(host))
}

/// Where a session goes. `start` is RFC 3339 (the header's start); `None` parts become `unknown`.
pub fn session_keys(
    session_id: &str,
    start: Option<&str>,
    host: Option<&str>,
    user: Option<&str>,
    grant: Option<&str>,
) -> SessionKeys {
    let day = start
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.strftime("%Y/%m/%d").to_string())
        .unwrap_or_else(|| "unknown-date".into());
    let dir = format!(
        "sessions/{day}/{}/{}",
        component(host.unwrap_or("unknown")),
        component(user.unwrap_or("unknown"))
    );
    let id = component(session_id);
    SessionKeys {
        recording: format!("{dir}/{id}.cast.zst"),
        manifest: format!("{dir}/{id}.manifest.json"),
        grant: grant.map(|g| format!("grants/{}/{id}", component(g))),
    }
}

/// A key component: letters, digits and `-_.@` kept, anything else (slashes, spaces, control
/// characters) percent-encoded, so no value from a header can escape its directory.
pub fn component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'@')
            || (b == b'.' && !out.is_empty())
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    // A file name has at most 255 bytes, and the object path encodes `%` again (`%25`): a long
    // value keeps its first 100 characters and a hash of the whole (the manifest keeps it all).
    if out.len() > MAX_COMPONENT {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(s.as_bytes());
        out.truncate(100);
        out.push('~');
        out.push_str(&crate::manifest::hex(&digest[..8]));
    }
    out
}

/// The longest key component kept whole (encoded, at most 5/3 longer on disk: under 255).
const MAX_COMPONENT: usize = 120;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_makes_a_short_stable_component() {
        let long = " ".repeat(100);
        let c = component(&long);
        assert!(c.len() <= 120, "{c}");
        assert_eq!(c, component(&long), "stable");
        assert_ne!(c, component(&" ".repeat(101)), "distinct");
        assert_eq!(component("bastion-1"), "bastion-1");
    }

    #[test]
    fn keys_by_day_host_user_and_grant() {
        let k = session_keys(
            "0193abc",
            Some("2026-11-26T10:00:00Z"),
            Some("bastion-1"),
            Some("alice"),
            Some("INC-42"),
        );
        assert_eq!(
            k.recording,
            "sessions/2026/11/26/bastion-1/alice/0193abc.cast.zst"
        );
        assert_eq!(
            k.manifest,
            "sessions/2026/11/26/bastion-1/alice/0193abc.manifest.json"
        );
        assert_eq!(k.grant.as_deref(), Some("grants/INC-42/0193abc"));
    }

    #[test]
    fn hostile_values_stay_in_their_directory() {
        assert_eq!(component("../etc"), "%2E.%2Fetc");
        assert_eq!(component("a b/c"), "a%20b%2Fc");
        assert_eq!(component(""), "%00");
        let k = session_keys("x", None, None, None, None);
        assert_eq!(
            k.recording,
            "sessions/unknown-date/unknown/unknown/x.cast.zst"
        );
    }
}
