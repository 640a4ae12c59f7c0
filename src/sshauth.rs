//! What sshd says about how the user authenticated (`ExposeAuthInfo yes` puts it in the file
//! named by `SSH_USER_AUTH`): the public key, and for an OpenSSH certificate its key id,
//! principals, serial, validity and extensions. The file is the user's (sshd makes it as the
//! user), so a certificate in it is a claim: it grants something only once its signature,
//! validity, type and principal are checked here against the CAs sshd trusts.

use serde_json::{Map, Value, json};
use ssh_key::{Certificate, Fingerprint, HashAlg, PublicKey};

/// What a certificate must satisfy to count.
#[derive(Debug, Clone, Default)]
pub struct CertTrust {
    /// The CAs trusted for user certificates (SHA-256 fingerprints).
    pub cas: Vec<Fingerprint>,
    /// The account the certificate must name as a principal.
    pub principal: String,
    /// Now, in Unix seconds.
    pub now: u64,
}

impl CertTrust {
    /// Why `cert` does not count, if it does not.
    fn refuse(&self, cert: &Certificate) -> Option<String> {
        if self.cas.is_empty() {
            return Some("no trusted user CA is configured (trusted_user_ca_keys)".into());
        }
        if cert.cert_type() != ssh_key::certificate::CertType::User {
            return Some("not a user certificate".into());
        }
        if cert.validate_at(self.now, &self.cas).is_err() {
            return Some(
                "not signed by a trusted CA, or outside its validity (or the CA's key type is not supported: ed25519 and ECDSA P-256 are)"
                    .into(),
            );
        }
        if !cert.valid_principals().iter().any(|p| p == &self.principal) {
            return Some(format!("does not name {} as a principal", self.principal));
        }
        None
    }
}

/// Reads CA public keys (one per line, as sshd's `TrustedUserCAKeys`) from `paths`.
pub fn read_cas(paths: &[std::path::PathBuf]) -> Vec<Fingerprint> {
    let mut out = Vec::new();
    for p in paths {
        let Ok(text) = std::fs::read_to_string(p) else {
            crate::print::warn(format_args!("cannot read the user CA keys {}", p.display()));
            continue;
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Ok(key) = PublicKey::from_openssh(line) {
                out.push(key.fingerprint(HashAlg::Sha256));
            }
        }
    }
    out
}

/// An OpenSSH user certificate, as recorded.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// The certificate's key id (an access system often puts the grant id here).
    pub key_id: String,
    /// Unix time the certificate stops being valid.
    pub valid_before: u64,
    /// Its extensions.
    pub extensions: Vec<(String, String)>,
    /// The whole description, for the header.
    pub json: Value,
}

/// The authentication sshd reported.
#[derive(Debug, Clone, Default)]
pub struct SshAuth {
    /// JSON for the header's identity.
    pub json: Option<Value>,
    /// The certificate, when one was used.
    pub cert: Option<CertInfo>,
}

/// Parses the `SSH_USER_AUTH` file's text; a certificate counts only if `trust` accepts it.
pub fn parse(text: &str, trust: &CertTrust) -> SshAuth {
    let mut methods = Vec::new();
    let mut auth = SshAuth::default();
    for line in text.lines() {
        let Some((method, rest)) = line.trim().split_once(' ') else {
            if !line.trim().is_empty() {
                methods.push(json!({"method": line.trim()}));
            }
            continue;
        };
        if method != "publickey" {
            methods.push(json!({"method": method}));
            continue;
        }
        if let Ok(cert) = Certificate::from_openssh(rest) {
            let mut info = describe_cert(&cert);
            let refused = trust.refuse(&cert);
            info.json["verified"] = json!(refused.is_none());
            if let Some(why) = &refused {
                info.json["refused"] = json!(why);
            }
            methods.push(json!({"method": "publickey", "certificate": info.json.clone()}));
            if refused.is_none() {
                auth.cert.get_or_insert(info);
            }
        } else if let Ok(key) = PublicKey::from_openssh(rest) {
            methods.push(json!({
                "method": "publickey",
                "key_type": key.algorithm().as_str(),
                "fingerprint": key.fingerprint(HashAlg::Sha256).to_string(),
            }));
        } else {
            methods.push(json!({"method": "publickey", "unparsed": rest.chars().take(200).collect::<String>()}));
        }
    }
    if !methods.is_empty() {
        auth.json = Some(Value::Array(methods));
    }
    auth
}

fn describe_cert(cert: &Certificate) -> CertInfo {
    let key = PublicKey::from(cert.public_key().clone());
    let ca = PublicKey::from(cert.signature_key().clone());
    let extensions: Vec<(String, String)> = cert
        .extensions()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ext: Map<String, Value> = extensions
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let json = json!({
        "key_id": cert.key_id(),
        "serial": cert.serial(),
        "principals": cert.valid_principals(),
        "valid_after": cert.valid_after(),
        "valid_before": cert.valid_before(),
        "extensions": ext,
        "key_type": key.algorithm().as_str(),
        "fingerprint": key.fingerprint(HashAlg::Sha256).to_string(),
        "ca_fingerprint": ca.fingerprint(HashAlg::Sha256).to_string(),
    });
    CertInfo {
        key_id: cert.key_id().to_string(),
        valid_before: cert.valid_before(),
        extensions,
        json,
    }
}

/// Reads and parses the file `SSH_USER_AUTH` named (`path`), for the user `uid`. The variable
/// is the user's to set: only a file as sshd makes it (a regular file owned by the user, not a
/// link, small) is read, so it cannot point the service at a file the user could not read
/// themselves (the signing key).
pub fn read(path: Option<&str>, uid: u32, trust: &CertTrust) -> SshAuth {
    path.and_then(|p| read_auth_file(std::path::Path::new(p), uid))
        .map(|t| parse(&t, trust))
        .unwrap_or_default()
}

/// sshd's auth file holds a few lines; anything larger is not one.
const MAX_AUTH_FILE: u64 = 64 * 1024;

/// The text of `path` if it is a regular file owned by `uid`, opened without following links.
fn read_auth_file(path: &std::path::Path, uid: u32) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != uid || meta.len() > MAX_AUTH_FILE {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_AUTH_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_own_regular_file_is_read() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("auth");
        std::fs::write(&file, "publickey ssh-ed25519 AAAA\n").unwrap();
        let me = rustix::process::getuid().as_raw();
        assert!(read_auth_file(&file, me).is_some());
        assert!(
            read_auth_file(&file, me + 1).is_none(),
            "someone else's file"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_auth_file(&link, me).is_none(), "a link");
        assert!(read_auth_file(dir.path(), me).is_none(), "a directory");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 70 * 1024]).unwrap();
        assert!(read_auth_file(&big, me).is_none(), "too large");
    }

    #[test]
    fn plain_keys_and_other_methods() {
        let a = parse(
            "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\npassword\n",
            &CertTrust::default(),
        );
        let j = a.json.unwrap();
        assert_eq!(j[0]["key_type"], "ssh-ed25519");
        assert!(j[0]["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
        assert_eq!(j[1]["method"], "password");
        assert!(a.cert.is_none());
    }
}
