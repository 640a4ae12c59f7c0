//! Helpers of the shipping tests: a bastion's spool, key and policy in a scratch directory, a
//! real S3-compatible server (s3s-fs) on loopback, and a fault-injecting proxy in front of it.
#![allow(dead_code)]

pub mod azurite;
pub mod proxy;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_sessrec");

/// A bastion's spool, key and policy in a scratch directory.
pub struct Bastion {
    pub dir: TempDir,
}

impl Bastion {
    /// `{dir}` in `storage` stands for the scratch directory.
    pub fn new(storage: &str, s3: &str) -> Bastion {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        let storage = storage.replace("{dir}", d.to_str().unwrap());
        std::fs::create_dir(d.join("spool")).unwrap();
        run(&[BIN, "keygen", "-o", d.join("key").to_str().unwrap()]);
        let config = format!(
            "spool = {:?}\nsigning_key = {:?}\nstorage = {storage:?}\naudit_log = {:?}\nsyslog = false\n{s3}",
            d.join("spool"),
            d.join("key"),
            d.join("audit.log")
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        Bastion { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Records `input` passed through `cat` into the spool (no terminal: pipe mode).
    pub fn record(&self, name: &str, input: &[u8]) -> PathBuf {
        let out = self.path("spool").join(name);
        let mut child = Command::new(BIN)
            .args(["rec", "-q", "-o", out.to_str().unwrap(), "--sign-key"])
            .arg(self.path("key"))
            .args(["--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
        assert!(child.wait().unwrap().success());
        out
    }

    pub fn sessrec(&self, args: &[&str]) -> Output {
        let config = self.path("config.toml");
        let catalog = self.path("catalog.sqlite");
        Command::new(BIN)
            .args(args)
            .args(["--config", config.to_str().unwrap()])
            .args(if args[0] == "upload" || args[0] == "doctor" {
                vec![]
            } else {
                vec!["--catalog", catalog.to_str().unwrap()]
            })
            .output()
            .unwrap()
    }

    pub fn upload(&self) -> Output {
        self.sessrec(&["upload", "--once"])
    }

    /// Starts `sessrec upload --once` without waiting for it (to kill it mid-pass).
    pub fn spawn_upload(&self) -> Child {
        Command::new(BIN)
            .args(["upload", "--once", "--config"])
            .arg(self.path("config.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub fn spool_names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("spool"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `sessrec ls --json` with extra arguments, as manifests.
    pub fn ls(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["ls", "--json"];
        args.extend_from_slice(extra);
        let out = self.sessrec(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// s3s-fs on a free loopback port, with a bucket made by creating its directory.
pub struct S3Server {
    pub data: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    pub fn start() -> Option<S3Server> {
        let bin = which("s3s-fs");
        if bin.is_none() {
            if std::env::var("SESSREC_S3").as_deref() == Ok("required") {
                panic!("s3s-fs is missing (scripts/test.sh installs it)");
            }
            eprintln!("skipped: s3s-fs is not installed");
            return None;
        }
        let data = TempDir::new().unwrap();
        std::fs::create_dir(data.path().join("sessrec-test")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = S3Server {
            data,
            port,
            child: None,
        };
        s.resume();
        Some(s)
    }

    pub fn resume(&mut self) {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", "AKTEST", "--secret-key", "SKTEST"])
            .arg(self.data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, "s3s-fs", Duration::from_secs(10));
    }

    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    pub fn settings(&self) -> String {
        settings_for(self.port, "")
    }
}

/// The `[s3]` table for an endpoint on `port` with the test credentials, plus `extra` lines.
pub fn settings_for(port: u16, extra: &str) -> String {
    format!(
        "[s3]\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\naccess_key_id = \"AKTEST\"\nsecret_access_key = \"SKTEST\"\nallow_http = true\n{extra}"
    )
}

impl S3Server {}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `len` pseudo-random bytes: output that hardly compresses, so recordings take several parts.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Waits until something listens on the loopback `port`; panics after `within`.
pub fn wait_for_port(port: u16, what: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills and reaps a server, if it runs.
pub fn kill(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// The parts of a live session joined in order; they must follow each other without gap or
/// overlap.
pub fn join_parts(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let (a, b) = n.trim_end_matches(".part").split_once('-').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        assert_eq!(a, out.len(), "parts follow each other: {n}");
        let bytes = std::fs::read(dir.join(&n)).unwrap();
        assert_eq!(bytes.len(), b - a);
        out.extend_from_slice(&bytes);
    }
    out
}

/// Garage, a real distributed S3 store, as one node on loopback ports, with a bucket and a key
/// made by its own CLI.
pub struct Garage {
    pub dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

/// The key the tests import into Garage (GK + 24 hex digits, secret of 64).
pub const GARAGE_KEY: &str = "GK31c2f218a2e44f485b94239e";
pub const GARAGE_SECRET: &str = "4420d99ef7aa26ae2f6c5f5a0d7f5c2e0b2d3f1c9a8e7d6c5b4a39281706f5e4";

impl Garage {
    pub fn start() -> Option<Garage> {
        if which("garage").is_none() {
            if std::env::var("SESSREC_S3").as_deref() == Ok("required") {
                panic!("garage is missing (scripts/test.sh installs it)");
            }
            eprintln!("skipped: garage is not installed");
            return None;
        }
        let dir = TempDir::new().unwrap();
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (rpc, port, admin) = (free(), free(), free());
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
        Some(g)
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

    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// The `[s3]` table for this node.
    pub fn settings(&self) -> String {
        format!(
            "[s3]\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"garage\"\naccess_key_id = \"{GARAGE_KEY}\"\nsecret_access_key = \"{GARAGE_SECRET}\"\nallow_http = true\n",
            self.port
        )
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
