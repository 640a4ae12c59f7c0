//! What the service knows about its running sessions, for nested logins: one root-only file
//! per session worker, named by the worker's pid and start time, holding the session's id,
//! identity and grant. A client with a worker among its ancestors is a nested session of that
//! session and inherits exactly this; nothing it brings counts.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::peer::Process;

/// A running session, as a nested one inherits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Running {
    /// Its session id.
    pub session: String,
    /// Its identity (the header's object).
    pub identity: Value,
    /// Its grant (the header's object), if any.
    pub grant: Option<Value>,
}

/// The directory of session files: `sessions/` beside the socket.
pub fn dir(socket: &Path) -> PathBuf {
    socket
        .parent()
        .unwrap_or(Path::new("/run/sessrec"))
        .join("sessions")
}

/// Makes the directory (root only).
pub fn prepare(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn file(dir: &Path, pid: i32, start: u64) -> PathBuf {
    dir.join(format!("{pid}-{start}.json"))
}

/// Whether `p` is one of this service's session workers.
pub fn is_worker(dir: &Path, p: &Process) -> bool {
    p.uid == 0 && file(dir, p.pid, p.start).is_file()
}

/// Reads the session a worker runs.
pub fn read(dir: &Path, worker: (i32, u64)) -> Result<Running> {
    let path = file(dir, worker.0, worker.1);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is invalid", path.display()))
}

/// The file of this worker's session; removed when dropped.
pub struct Published(PathBuf);

/// Writes this worker's session file.
pub fn publish(dir: &Path, running: &Running) -> Result<Published> {
    let me = Process::read(std::process::id() as i32)?;
    let path = file(dir, me.pid, me.start);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(&serde_json::to_vec(running)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Published(path))
}

impl Drop for Published {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
