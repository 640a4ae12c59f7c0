//! What the tests share: the harness that registers and runs them ([`harness`]), the one way to
//! run the binary ([`sessrec`]), config files ([`config`]), keys ([`keys`]), a real PTY
//! ([`term`]), reading recordings back ([`recording`]), a bastion's spool ([`spool`]), and the
//! servers the tests start (S3, Garage, Azurite, sshd, tmux, a fault-injecting proxy).

pub mod azurite;
pub mod config;
pub mod harness;
pub mod keys;
pub mod proxy;
pub mod recording;
pub mod s3;
pub mod service;
pub mod spool;
pub mod sshd;
pub mod term;
pub mod tmux;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

pub use harness::{Req, Test};

/// The sessrec binary under test (for PTYs, shell lines and scripts that need its path).
pub const BIN: &str = env!("CARGO_BIN_EXE_sessrec");

/// The sessrec binary as a command: the one way tests run it.
pub fn sessrec() -> assert_cmd::Command {
    assert_cmd::Command::new(BIN)
}

/// The sessrec binary as a plain [`std::process::Command`], for a process the test must spawn
/// and then signal, kill or feed (which `assert_cmd` does not do).
pub fn sessrec_process() -> std::process::Command {
    std::process::Command::new(BIN)
}

/// Runs `sessrec ARGS` with no input and returns what it did (whatever its exit status).
pub fn sessrec_output(args: &[&str]) -> Output {
    sessrec().args(args).output().expect("run sessrec")
}

/// Runs `args` (a program and its arguments); panics with its stderr unless it succeeds.
pub fn run(args: &[&str]) -> Output {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a command printed on stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `p` as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// A file of the committed fixtures, e.g. `fixture("peers/tlog.json")`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Where `tool` is: on PATH, or itself when it is a path.
pub fn which(tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        return Path::new(tool).is_file().then(|| PathBuf::from(tool));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// Every file under `dir` with its bytes, sorted by path (to compare a store before and after).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = walk(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// Every file under `dir`, recursively; none when `dir` does not exist.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
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

/// A free loopback port (free now: a server started next takes it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
