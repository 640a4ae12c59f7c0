//! The S3-compatible servers the shipping tests ship to, on loopback ports in scratch
//! directories: s3s-fs (small, checks signatures) and Garage (a real distributed store).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use toml::Table;

use super::config::s3_table;
use super::{free_port, kill, wait_for_port};

/// The test credentials of s3s-fs.
pub const S3_KEY: &str = "AKTEST";
pub const S3_SECRET: &str = "SKTEST";

/// s3s-fs on a free loopback port, with a bucket made by creating its directory.
/// s3s-fs: its data directory (the bucket is a directory in it) and port.
pub struct S3Server {
    pub data: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// Starts it (the test needs `Req::Tool("s3s-fs")`).
    pub fn start() -> S3Server {
        let data = TempDir::new().unwrap();
        std::fs::create_dir(data.path().join("sessrec-test")).unwrap();
        let port = free_port();
        let mut s = S3Server {
            data,
            port,
            child: None,
        };
        s.resume();
        s
    }

    /// Starts it again on the same port and data (after [`S3Server::stop`]).
    pub fn resume(&mut self) {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .arg(self.data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, "s3s-fs", Duration::from_secs(10));
    }

    /// Kills it (an outage).
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// The `[s3]` table for it.
    pub fn settings(&self) -> Table {
        settings_for(self.port)
    }
}

/// The `[s3]` table for s3s-fs (or a proxy in front of it) on `port`.
pub fn settings_for(port: u16) -> Table {
    s3_table(port, "us-east-1", S3_KEY, S3_SECRET)
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Garage, a real distributed S3 store, as one node on loopback ports, with a bucket and a key
/// made by its own CLI.
/// Garage: its scratch directory and S3 port.
pub struct Garage {
    pub dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

/// The key the tests import into Garage (GK + 24 hex digits, secret of 64).
pub const GARAGE_KEY: &str = "GK31c2f218a2e44f485b94239e";
pub const GARAGE_SECRET: &str = "4420d99ef7aa26ae2f6c5f5a0d7f5c2e0b2d3f1c9a8e7d6c5b4a39281706f5e4";

impl Garage {
    /// Starts a one-node cluster with its layout, a `sessrec-test` bucket and a key allowed
    /// on it (the test needs `Req::Tool("garage")`).
    pub fn start() -> Garage {
        let dir = TempDir::new().unwrap();
        let (rpc, port, admin) = (free_port(), free_port(), free_port());
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("garage.toml"),
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_secret = \"{GARAGE_SECRET}\"\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n\
                 [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"test-admin-token\"\n"
            ),
        )
        .unwrap();
        let mut g = Garage {
            dir,
            port,
            child: None,
        };
        g.resume();
        let node = g.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", "sessrec-test"]);
        g.cli(&[
            "key",
            "import",
            "--yes",
            "-n",
            "ci-key",
            GARAGE_KEY,
            GARAGE_SECRET,
        ]);
        g.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            "sessrec-test",
            "--key",
            "ci-key",
        ]);
        g
    }

    /// Runs a garage CLI command against this node; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("garage")
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts the server again on the same ports and data (after [`Garage::stop`]).
    pub fn resume(&mut self) {
        let child = Command::new("garage")
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new("garage")
                .arg("-c")
                .arg(self.dir.path().join("garage.toml"))
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "garage did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (an outage).
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// The `[s3]` table for this node.
    pub fn settings(&self) -> Table {
        s3_table(self.port, "garage", GARAGE_KEY, GARAGE_SECRET)
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
