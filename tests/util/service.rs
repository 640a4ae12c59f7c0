//! The recording service (`sessrec daemon`) for a test: started directly (not through
//! systemd) with the test's policy, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use toml::Table;

use super::config::table;
use super::sessrec_process;

/// A running service.
pub struct Service {
    child: Option<Child>,
    log: PathBuf,
}

/// The `[service]` table for a service whose socket is `socket`, trusting `launchers` (as
/// well as sshd) to start logins, and `cas` for user certificates.
pub fn service_table(socket: &Path, launchers: &[PathBuf], cas: &[PathBuf]) -> Table {
    let paths = |ps: &[PathBuf]| -> toml::Value {
        ps.iter()
            .map(|p| toml::Value::from(p.to_str().unwrap()))
            .collect::<Vec<_>>()
            .into()
    };
    let mut all = vec![PathBuf::from("/usr/sbin/sshd")];
    all.extend_from_slice(launchers);
    table([
        ("socket", socket.to_str().unwrap().into()),
        ("launchers", paths(&all)),
        ("trusted_user_ca_keys", paths(cas)),
    ])
}

/// This test binary, which plays the part of `login` in tests that start login shells
/// themselves (it runs as root, as login does).
pub fn this_test() -> PathBuf {
    std::env::current_exe().unwrap()
}

impl Service {
    /// Starts `sessrec daemon --config CONFIG`; waits until `socket` exists. Its messages go to
    /// `log`.
    pub fn start(config: &Path, socket: &Path, log: &Path) -> Service {
        let _ = std::fs::remove_file(socket);
        let out = std::fs::File::create(log).unwrap();
        let child = sessrec_process()
            .args(["daemon", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let s = Service {
            child: Some(child),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "the service did not start: {}",
                s.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// What the service wrote.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}
