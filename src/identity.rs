//! Who is recorded: the OS account, and what sshd says about the connection.

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::grant;
use crate::service::account::Account;
use crate::sshauth;

/// The OS user running this process, and the SSH connection if there is one.
pub fn os_identity() -> Value {
    let uid = rustix::process::getuid().as_raw();
    let mut id = Map::new();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        id.insert("user".into(), Value::String(user.name));
    }
    id.insert("uid".into(), Value::from(uid));
    id.insert(
        "gid".into(),
        Value::from(rustix::process::getgid().as_raw()),
    );
    if let Ok(conn) = std::env::var("SSH_CONNECTION") {
        // "client_ip client_port server_ip server_port"
        let mut parts = conn.split_whitespace();
        if let (Some(ip), Some(port)) = (parts.next(), parts.next()) {
            id.insert("source".into(), Value::String(format!("{ip}:{port}")));
        }
    }
    Value::Object(id)
}

/// The identity of a real login: the account, the SSH connection sshd reported.
pub fn of_login(account: &Account, env: &grant::Env) -> Value {
    let mut id = Map::new();
    id.insert("user".into(), json!(account.name));
    id.insert("uid".into(), json!(account.uid));
    id.insert("gid".into(), json!(account.gid));
    if let Some(conn) = env.get("SSH_CONNECTION") {
        // "client_ip client_port server_ip server_port"
        let mut parts = conn.split_whitespace();
        if let (Some(ip), Some(port)) = (parts.next(), parts.next()) {
            id.insert("source".into(), json!(format!("{ip}:{port}")));
        }
    }
    Value::Object(id)
}

/// The CAs a certificate must come from: the policy's, else sshd's own.
pub fn cert_trust(config: &Config, user: &str) -> sshauth::CertTrust {
    let files = config
        .service
        .trusted_user_ca_keys
        .clone()
        .unwrap_or_else(|| {
            crate::service::sshd_config::trusted_user_ca_keys(&config.service.sshd_config)
        });
    sshauth::CertTrust {
        cas: sshauth::read_cas(&files),
        principal: user.to_string(),
        now: jiff::Timestamp::now().as_second().max(0) as u64,
    }
}
