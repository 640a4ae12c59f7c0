//! Shipping end to end to real cloud stores on loopback: an S3-compatible server (s3s-fs),
//! Garage (a real distributed S3 store) and Azurite (Microsoft's Azure Blob Storage emulator),
//! each through an outage, then listed and verified straight from the bucket.

use sha2::Digest;

use crate::util::azurite::Azurite;
use crate::util::config::Config;
use crate::util::proxy::{Fault, FaultProxy};
use crate::util::s3::{GARAGE_KEY, GARAGE_SECRET, Garage, S3Server};
use crate::util::spool::Bastion;
use crate::util::{Req, sessrec, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        an_s3_store_that_is_down_loses_nothing_and_gets_everything_later => [Req::Tool("s3s-fs")],
        a_garage_store_gets_every_recording_whole => [Req::Tool("garage")],
        an_azure_store_gets_every_recording_whole => [Req::Tool("azurite-blob")],
    ]
}

/// A bastion shipping to `storage` with the store's settings `table`.
fn bastion(storage: &str, name: &str, table: toml::Table) -> Bastion {
    Bastion::new(|d| Config::new(d).storage(storage).table(name, table))
}

/// A real S3 server that is down: nothing is lost or quarantined, the recording waits in the
/// spool; once the server is back, it ships and the bucket holds the same bytes.
fn an_s3_store_that_is_down_loses_nothing_and_gets_everything_later() {
    let mut s3 = S3Server::start();
    let b = bastion("s3://sessrec-test/recordings", "s3", s3.settings());
    let rec = b.record("a.cast.zst", b"to the bucket\n");
    let original = std::fs::read(&rec).unwrap();

    s3.stop();
    let out = b.upload();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stays in the spool"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        b.spool_names(),
        [rec.file_name().unwrap().to_string_lossy().into_owned()]
    );
    let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
    assert!(audit.contains("\"upload.failed\""), "{audit}");

    s3.resume();
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.spool_names().is_empty());
    let listed = b.ls(&[]);
    assert_eq!(listed.len(), 1);
    let key = listed[0]["key"].as_str().unwrap();
    let stored = s3.data.path().join("sessrec-test/recordings").join(key);
    assert_eq!(std::fs::read(stored).unwrap(), original);
    assert_eq!(listed[0]["verdict"], "intact");
    // s3s-fs answers with the MD5 ETag of the parts it received: that confirms the upload.
    let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
    assert!(audit.contains("\"confirmed\":\"etag\""), "{audit}");

    // Verified straight from the bucket, by URL and by session id (credentials from AWS_*).
    let aws = |c: &mut assert_cmd::Command| {
        c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port))
            .env("AWS_ACCESS_KEY_ID", "AKTEST")
            .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("XDG_CACHE_HOME", b.path("cache"));
    };
    let mut by_url = sessrec();
    by_url
        .args([
            "verify",
            &format!("s3://sessrec-test/recordings/{key}"),
            "--key",
        ])
        .arg(&b.key.public_path);
    aws(&mut by_url);
    let o = by_url.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut by_id = sessrec();
    by_id.args([
        "info",
        listed[0]["session_id"].as_str().unwrap(),
        "--store",
        "s3://sessrec-test/recordings",
    ]);
    aws(&mut by_id);
    let o = by_id.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("command:      cat"), "{text}");
    assert!(
        text.contains(listed[0]["session_id"].as_str().unwrap()),
        "{text}"
    );

    // A recording without its manifest is indexed from its header (a ranged read).
    let manifest = s3
        .data
        .path()
        .join("sessrec-test/recordings")
        .join(key.replace(".cast.zst", ".manifest.json"));
    std::fs::remove_file(&manifest).unwrap();
    let again = b.ls(&["--refresh"]);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["verdict"], "unverified");
    assert_eq!(again[0]["session_id"], listed[0]["session_id"]);
}

/// The same against Garage, a real distributed store: shipped through an outage, listed, and
/// verified straight from the bucket (signed chain: byte for byte what was recorded).
fn a_garage_store_gets_every_recording_whole() {
    let mut garage = Garage::start();
    let b = bastion("s3://sessrec-test/recordings", "s3", garage.settings());
    let noise: Vec<u8> = (0..12_000_000u64)
        .map(|i| ((i * 2_654_435_761) >> 13) as u8)
        .collect();
    b.record("a.cast.zst", b"to garage\n");
    b.record("b.cast.zst", &noise);
    garage.stop();
    assert_eq!(b.upload().status.code(), Some(1));
    assert_eq!(
        b.spool_names().len(),
        2,
        "nothing lost while the store is down"
    );
    garage.resume();
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.spool_names().is_empty());
    let listed = b.ls(&[]);
    assert_eq!(listed.len(), 2);
    // Garage's multipart ETags are the MD5 of the parts' MD5s too, one part or two.
    let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
    assert_eq!(
        audit.matches("\"confirmed\":\"etag\"").count(),
        2,
        "{audit}"
    );
    for m in &listed {
        let key = m["key"].as_str().unwrap();
        let o = sessrec()
            .args([
                "verify",
                &format!("s3://sessrec-test/recordings/{key}"),
                "--key",
            ])
            .arg(&b.key.public_path)
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", garage.port),
            )
            .env("AWS_ACCESS_KEY_ID", GARAGE_KEY)
            .env("AWS_SECRET_ACCESS_KEY", GARAGE_SECRET)
            .env("AWS_REGION", "garage")
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{key}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }
}

/// Azure Blob Storage (Azurite, Microsoft's emulator): shipped through an outage (a proxy in
/// front of it answers 503), each recording read back and confirmed (Azure's ETags are not
/// MD5s), listed, and verified from the container by URL with the usual Azure variables.
fn an_azure_store_gets_every_recording_whole() {
    let azure = Azurite::start();
    let proxy = FaultProxy::start(azure.port);
    let b = bastion(
        "az://sessrec-test/recordings",
        "azure",
        Azurite::settings(proxy.port),
    );
    let noise: Vec<u8> = (0..12_000_000u64)
        .map(|i| ((i * 2_654_435_761) >> 13) as u8)
        .collect();
    let small = b.record("a.cast.zst", b"to azure\n");
    let big = b.record("b.cast.zst", &noise);
    let originals = [std::fs::read(small).unwrap(), std::fs::read(big).unwrap()];
    proxy.set(Fault::Unavailable);
    assert_eq!(b.upload().status.code(), Some(1));
    assert_eq!(
        b.spool_names().len(),
        2,
        "nothing lost while the store is down"
    );
    proxy.set(Fault::None);
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.spool_names().is_empty());
    let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
    assert_eq!(
        audit.matches("\"confirmed\":\"read-back\"").count(),
        2,
        "{audit}"
    );
    let listed = b.ls(&[]);
    assert_eq!(listed.len(), 2);
    for m in &listed {
        let key = m["key"].as_str().unwrap();
        let mut verify = sessrec();
        verify
            .args([
                "verify",
                &format!("az://sessrec-test/recordings/{key}"),
                "--key",
            ])
            .arg(&b.key.public_path)
            .envs(azure.env());
        let o = verify.output().unwrap();
        assert!(
            o.status.success(),
            "{key}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        );
    }
    // What the store holds is what was recorded: the manifests' SHA-256 (computed while
    // uploading, then confirmed by the read-back) are those of the spool files.
    let stored: Vec<&str> = listed
        .iter()
        .map(|m| m["sha256"].as_str().unwrap())
        .collect();
    for original in &originals {
        let digest: String = sha2::Sha256::digest(original)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(stored.contains(&digest.as_str()), "{stored:?}");
    }
}
