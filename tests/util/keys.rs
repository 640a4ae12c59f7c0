//! Signing keys for the tests: made in process (no `sessrec keygen` run per test; the keygen
//! command itself is tested in cli.rs), laid out as `sessrec keygen` lays them out.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sessrec_formats::keys::{PublicKey, SigningKey};

/// A key pair on disk: the secret key (PKCS#8 PEM, mode 0600) and `.pub` beside it.
#[derive(Debug, Clone)]
pub struct Key {
    /// The secret key file (`--sign-key`, `signing_key`).
    pub path: PathBuf,
    /// The public key file (`verify --key`).
    pub public_path: PathBuf,
    /// The public key, for verifying in process.
    pub public: PublicKey,
}

impl Key {
    /// `dir/key`: made the first time a test asks for it, the same key after that.
    pub fn in_dir(dir: &Path) -> Key {
        Key::at(&dir.join("key"))
    }

    /// The key at `path` (and `path.pub`), made if it is not there yet.
    pub fn at(path: &Path) -> Key {
        let mut public_path = path.as_os_str().to_owned();
        public_path.push(".pub");
        let public_path = PathBuf::from(public_path);
        let public = if path.exists() {
            let pem = std::fs::read_to_string(path).unwrap();
            SigningKey::from_pem(&pem).unwrap().public()
        } else {
            let key = SigningKey::generate().unwrap();
            write(path, key.to_pem().unwrap().as_bytes(), 0o600);
            write(&public_path, key.public().to_file_text().as_bytes(), 0o644);
            key.public()
        };
        Key {
            path: path.to_path_buf(),
            public_path,
            public,
        }
    }

    /// The secret key's path as `&str`, for command lines.
    pub fn arg(&self) -> &str {
        super::s(&self.path)
    }
}

fn write(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Makes an age identity at `path` with the real `age-keygen`; returns it and its recipient
/// (`age1...`).
pub fn age_identity(path: &Path) -> (PathBuf, String) {
    let made = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let public = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(path)
        .output()
        .unwrap();
    assert!(public.status.success(), "{public:?}");
    let recipient = String::from_utf8(public.stdout).unwrap().trim().to_string();
    (path.to_path_buf(), recipient)
}
