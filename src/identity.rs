//! Who is recorded: the OS account, and what sshd says about the connection.

use serde_json::{Map, Value};

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
