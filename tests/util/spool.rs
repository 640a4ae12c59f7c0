//! A bastion's spool, key and config in a scratch directory, driven through the binary:
//! record into the spool, upload, list.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use super::config::Config;
use super::keys::Key;
use super::{s, sessrec, sessrec_process};

/// A bastion's spool (`spool/`), key (`key`, `key.pub`), config (`config.toml`), audit log
/// and catalog in a scratch directory.
pub struct Bastion {
    pub dir: TempDir,
    pub key: Key,
}

impl Bastion {
    /// A bastion whose store is the directory `store/` beside the spool.
    pub fn file_store() -> Bastion {
        Bastion::new(|d| Config::new(d).storage(&format!("file://{}/store", d.display())))
    }

    /// A bastion with the config `config` makes for its scratch directory (start from
    /// [`Config::new`], which points at the spool and key made here).
    pub fn new(config: impl FnOnce(&Path) -> Config) -> Bastion {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("spool")).unwrap();
        let key = Key::in_dir(d);
        config(d).write(&d.join("config.toml"));
        Bastion { dir, key }
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Records `input` passed through `cat` into the spool (no terminal: pipe mode), as the
    /// recording service does: `spool/SESSION_ID.cast.zst` and its signed sealed manifest.
    /// `name` only names it in messages. Returns the recording's path.
    pub fn record(&self, name: &str, input: &[u8]) -> PathBuf {
        let spool = self.path("spool");
        let before = recordings_in(&spool);
        let mut child = sessrec_process()
            .args(["rec", "-q", "-o", s(&spool), "--sign-key", self.key.arg()])
            .args(["--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        assert!(child.wait().unwrap().success(), "recording {name}");
        let mut new: Vec<PathBuf> = recordings_in(&spool)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(new.len(), 1, "recording {name}: {new:?}");
        new.pop().unwrap()
    }

    /// `sessrec ARGS --config ...` (and `--catalog ...` where the command takes one).
    pub fn sessrec(&self, args: &[&str]) -> Output {
        let config = self.path("config.toml");
        let catalog = self.path("catalog.sqlite");
        let mut cmd = sessrec();
        cmd.args(args).args(["--config", s(&config)]);
        if !matches!(args[0], "upload" | "doctor") {
            cmd.args(["--catalog", s(&catalog)]);
        }
        cmd.output().unwrap()
    }

    /// One upload pass.
    pub fn upload(&self) -> Output {
        self.sessrec(&["upload", "--once"])
    }

    /// Starts `sessrec upload --once` without waiting for it (to kill it mid-pass).
    pub fn spawn_upload(&self) -> Child {
        sessrec_process()
            .args(["upload", "--once", "--config"])
            .arg(self.path("config.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The files in the spool (not its subdirectories, nor the sealed manifests beside the
    /// recordings), sorted.
    pub fn spool_names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("spool"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".manifest.json"))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// The audit log so far.
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.path("audit.log")).unwrap_or_default()
    }

    /// `sessrec ls --json` with extra arguments, as manifests, trusting the bastion's key.
    pub fn ls(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["ls", "--json", "--key", s(&self.key.public_path)];
        args.extend_from_slice(extra);
        let out = self.sessrec(&args);
        assert!(out.status.success(), "{}", super::stderr(&out));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn recordings_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".cast.zst"))
        .collect()
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
