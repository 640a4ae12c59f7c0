//! Azurite, Microsoft's Azure Blob Storage emulator, on a free loopback port, with a container
//! made through its own REST API (signed with the account key, as the Azure CLI would).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use toml::Table;

use super::config::table;

use super::{kill, wait_for_port};

/// Azurite's well-known development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The container the tests ship to.
pub const CONTAINER: &str = "sessrec-test";

/// Azurite: its data directory and blob port.
pub struct Azurite {
    pub data: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Azurite {
    /// Starts Azurite with an empty `sessrec-test` container (the test needs
    /// `Req::Tool("azurite-blob")`).
    pub fn start() -> Azurite {
        let mut a = Azurite {
            data: TempDir::new().unwrap(),
            port: super::free_port(),
            child: None,
        };
        a.resume();
        a.create_container();
        a
    }

    fn resume(&mut self) {
        let child = Command::new("azurite-blob")
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &self.port.to_string(),
            ])
            .arg("--location")
            .arg(self.data.path())
            .args(["--silent", "--skipApiVersionCheck", "--loose"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port, "azurite", Duration::from_secs(30));
    }

    /// Kills it (its data goes with the scratch directory: Azurite takes about 90 s to stop
    /// cleanly, so outages are simulated by a proxy in front of it).
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// The blob endpoint of the development account.
    pub fn endpoint(&self) -> String {
        endpoint(self.port)
    }

    /// The policy's `[azure]` table, for Azurite or a proxy in front of it on `port`.
    pub fn settings(port: u16) -> Table {
        table([
            ("account", ACCOUNT.into()),
            ("access_key", KEY.into()),
            ("endpoint", endpoint(port).into()),
            ("allow_http", true.into()),
        ])
    }

    /// The same through the usual Azure variables.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.into()),
            ("AZURE_STORAGE_ENDPOINT", self.endpoint()),
            ("AZURE_ALLOW_HTTP", "true".into()),
        ]
    }

    /// `PUT /ACCOUNT/CONTAINER?restype=container`, with a Shared Key signature.
    fn create_container(&self) {
        let date = jiff::Timestamp::now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container"
        );
        let key = BASE64.decode(KEY).unwrap();
        let signature = BASE64.encode(hmac_sha256(&key, to_sign.as_bytes()));
        let request = format!(
            "PUT /{ACCOUNT}/{CONTAINER}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             x-ms-date: {date}\r\nx-ms-version: {version}\r\n\
             Authorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        );
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "creating the container: {answer}"
        );
    }
}

fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}/{ACCOUNT}")
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// This module's own test.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![hmac_matches_rfc_4231_case_2]
}

fn hmac_matches_rfc_4231_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
