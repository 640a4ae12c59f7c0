//! The one way tests write the config file the binary reads (`--config`, `/etc/sessrec`):
//! a bastion's defaults, then what each test changes, serialized by the `toml` crate so paths
//! and strings are always quoted right.

use std::path::Path;

use toml::{Table, Value};

/// A config file being built.
#[derive(Debug, Clone)]
pub struct Config {
    table: Table,
}

impl Config {
    /// A bastion in the scratch directory `dir`: `spool = dir/spool`, `signing_key = dir/key`,
    /// `audit_log = dir/audit.log`, `syslog = false` (tests never write to the host's syslog).
    pub fn new(dir: &Path) -> Config {
        Config::empty()
            .path("spool", &dir.join("spool"))
            .path("signing_key", &dir.join("key"))
            .path("audit_log", &dir.join("audit.log"))
            .set("syslog", false)
    }

    /// No settings at all.
    pub fn empty() -> Config {
        Config {
            table: Table::new(),
        }
    }

    /// Sets a top-level `key` (replacing it).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Config {
        self.table.insert(key.to_string(), value.into());
        self
    }

    /// Sets a top-level `key` to a path.
    pub fn path(self, key: &str, path: &Path) -> Config {
        self.set(key, path.to_str().expect("a UTF-8 path"))
    }

    /// Sets `storage`, the store the uploader ships to (`file://...`, `s3://...`, `az://...`).
    pub fn storage(self, url: &str) -> Config {
        self.set("storage", url)
    }

    /// Sets a table such as `[s3]` or `[pipe]` (replacing it).
    pub fn table(self, name: &str, table: Table) -> Config {
        self.set(name, table)
    }

    /// The TOML text.
    pub fn text(&self) -> String {
        toml::to_string(&self.table).expect("a config serializes")
    }

    /// Writes the TOML text to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.text())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// A table from `(key, value)` pairs, for [`Config::table`].
pub fn table<const N: usize>(pairs: [(&str, Value); N]) -> Table {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The `[s3]` table for an S3 endpoint on the loopback `port`, over plain HTTP.
pub fn s3_table(port: u16, region: &str, key_id: &str, secret: &str) -> Table {
    table([
        ("endpoint", format!("http://127.0.0.1:{port}").into()),
        ("region", region.into()),
        ("access_key_id", key_id.into()),
        ("secret_access_key", secret.into()),
        ("allow_http", true.into()),
    ])
}
