//! Shipping end to end: `sessrec upload` from a real spool to a `file://` store and to a real
//! S3-compatible server (s3s-fs) on loopback, then `sessrec ls` over the catalog.
//!
//! scripts/test.sh installs s3s-fs and sets SESSREC_S3=required, so a missing server fails there;
//! a bare `cargo test` skips the S3 test with a message.

mod shipping;

use sha2::Digest;
use std::process::{Command, Stdio};
use std::time::Duration;

use shipping::proxy::{Fault, FaultProxy};
use shipping::{BIN, Bastion, S3Server, join_parts, run, stderr, tree};

/// Three sessions, one still being recorded, one whose recorder died, and one unreadable file:
/// what can be shipped is shipped byte for byte and leaves the spool, the live one waits, the
/// unreadable one is quarantined after three passes, and a second run changes nothing.
#[test]
fn a_file_store_gets_every_finished_recording_and_the_catalog_lists_them() {
    let b = Bastion::new("file://{dir}/store", "");
    let store = b.path("store");
    let binary: Vec<u8> = (0..3_000_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    let small = b.record("a.cast.zst", b"hello\n");
    let big = b.record("b.cast.zst", &binary);
    let crashed = b.path("spool/c.cast.zst");
    let whole = std::fs::read(b.record("x.cast.zst", b"cut me\n")).unwrap();
    std::fs::remove_file(b.path("spool/x.cast.zst")).unwrap();
    std::fs::write(&crashed, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(b.path("spool/junk.cast.zst"), b"not a recording").unwrap();
    let live = b.record("live.cast.zst", b"still typing\n");
    let lock = std::fs::File::open(&live).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let originals: Vec<Vec<u8>> = [&small, &big, &crashed]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let out = b.upload();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the junk file fails: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("junk.cast.zst"), "{}", stderr(&out));
    assert_eq!(b.spool_names(), ["junk.cast.zst", "live.cast.zst"]);

    let listed = b.ls(&[]);
    assert_eq!(listed.len(), 3, "{listed:?}");
    let verdicts: Vec<&str> = listed
        .iter()
        .map(|m| m["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts.iter().filter(|v| **v == "intact").count(), 2);
    assert_eq!(verdicts.iter().filter(|v| **v == "truncated").count(), 1);
    for m in &listed {
        let stored = std::fs::read(store.join(m["key"].as_str().unwrap())).unwrap();
        assert!(
            originals.contains(&stored),
            "stored bytes differ for {}",
            m["key"]
        );
        assert_eq!(m["size"].as_u64().unwrap(), stored.len() as u64);
        assert_eq!(m["user"], listed[0]["user"]);
    }
    let intact = listed.iter().find(|m| m["verdict"] == "intact").unwrap();
    let stored = store.join(intact["key"].as_str().unwrap());
    let pubkey = b.path("key.pub");
    run(&[
        BIN,
        "verify",
        stored.to_str().unwrap(),
        "--key",
        pubkey.to_str().unwrap(),
    ]);
    // Auditors name a recording by its session id; the catalog finds it in the store.
    let cache = b.path("cache");
    let by_id = Command::new(BIN)
        .args(["verify", intact["session_id"].as_str().unwrap(), "--key"])
        .arg(&pubkey)
        .args(["--store", &format!("file://{}", store.display())])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    let unknown = Command::new(BIN)
        .args(["verify", "01234567-89ab-cdef-0123-456789abcdef"])
        .args(["--store", &format!("file://{}", store.display())])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no session 01234567-89ab-cdef-0123-456789abcdef"),
        "{}",
        stderr(&unknown)
    );
    let user = listed[0]["user"].as_str().unwrap().to_string();
    assert_eq!(b.ls(&["--user", &user]).len(), 3);
    assert_eq!(b.ls(&["--user", "nobody-else"]).len(), 0);
    assert_eq!(b.ls(&["--until", "2000-01-01"]).len(), 0);
    let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
    assert_eq!(audit.matches("\"upload.ok\"").count(), 3, "{audit}");
    // A directory has no MD5 ETags: every upload is read back and compared.
    assert_eq!(
        audit.matches("\"confirmed\":\"read-back\"").count(),
        3,
        "{audit}"
    );

    // The unreadable file is quarantined on the third pass, with the reason beside it.
    for _ in 0..2 {
        b.upload();
    }
    assert_eq!(b.spool_names(), ["live.cast.zst"]);
    let reason = std::fs::read_to_string(b.path("spool/quarantine/junk.cast.zst.reason")).unwrap();
    assert!(!reason.trim().is_empty());
    let status = b.sessrec(&["upload", "--status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("live.cast.zst") && text.contains("recording"),
        "{text}"
    );
    assert!(text.contains("quarantined"), "{text}");

    // Nothing left to do: a second run succeeds and the store is unchanged.
    let before = tree(&store);
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(&store), before);

    // The catalog is only a cache: rebuilt from the store, it lists the same sessions.
    std::fs::remove_file(b.path("catalog.sqlite")).unwrap();
    let out = b.sessrec(&["index"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(b.ls(&[]), listed);

    // Once the recorder is gone, the live file ships too.
    drop(lock);
    assert!(b.upload().status.success());
    assert_eq!(b.ls(&["--refresh"]).len(), 4);

    // The recordings are the source of truth: one whose manifest is gone is still indexed,
    // from its header, as unverified.
    let gone = &listed[0];
    let recording = store.join(gone["key"].as_str().unwrap());
    let manifest = recording.with_file_name(format!(
        "{}.manifest.json",
        gone["session_id"].as_str().unwrap()
    ));
    std::fs::remove_file(&manifest).unwrap();
    let again = b.ls(&["--refresh"]);
    assert_eq!(again.len(), 4);
    let found = again
        .iter()
        .find(|m| m["session_id"] == gone["session_id"])
        .unwrap();
    assert_eq!(found["verdict"], "unverified");
    assert_eq!(found["user"], gone["user"]);
    assert_eq!(found["key"], gone["key"]);
    assert_eq!(found["size"], gone["size"]);
}

/// A real S3 server that is down: nothing is lost or quarantined, the recording waits in the
/// spool; once the server is back, it ships and the bucket holds the same bytes.
#[test]
fn an_s3_store_that_is_down_loses_nothing_and_gets_everything_later() {
    let Some(mut s3) = S3Server::start() else {
        return;
    };
    let b = Bastion::new("s3://sessrec-test/recordings", &s3.settings());
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
    assert_eq!(b.spool_names(), ["a.cast.zst"]);
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
    let aws = |c: &mut Command| {
        c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", s3.port))
            .env("AWS_ACCESS_KEY_ID", "AKTEST")
            .env("AWS_SECRET_ACCESS_KEY", "SKTEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("XDG_CACHE_HOME", b.path("cache"));
    };
    let mut by_url = Command::new(BIN);
    by_url
        .args([
            "verify",
            &format!("s3://sessrec-test/recordings/{key}"),
            "--key",
        ])
        .arg(b.path("key.pub"));
    aws(&mut by_url);
    let o = by_url.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut by_id = Command::new(BIN);
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

/// A session still being recorded reaches the store in parts while it runs; losing the local
/// checkpoint resumes from what the store holds, without overlap; once sealed, the whole
/// recording replaces the parts.
#[test]
fn a_live_session_reaches_the_store_while_it_runs() {
    let b = Bastion::new("file://{dir}/store", "");
    let out = b.path("spool/live.cast.zst");
    let mut rec = Command::new(BIN)
        .args(["rec", "-q", "-o", out.to_str().unwrap(), "--sign-key"])
        .arg(b.path("key"))
        .args([
            "--",
            "sh",
            "-c",
            "echo first-part; sleep 3; echo second-part",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let pass = b.upload();
    assert!(pass.status.success(), "{}", stderr(&pass));
    let live_dir = b.path("store/live");
    let sessions: Vec<_> = std::fs::read_dir(&live_dir).unwrap().flatten().collect();
    assert_eq!(sessions.len(), 1);
    let parts_dir = sessions[0].path();
    let joined = b.path("joined.cast.zst");
    std::fs::write(&joined, join_parts(&parts_dir)).unwrap();
    let raw = b.path("joined.raw");
    let conv = Command::new(BIN)
        .args([
            "convert",
            joined.to_str().unwrap(),
            raw.to_str().unwrap(),
            "--to",
            "raw",
        ])
        .output()
        .unwrap();
    assert_eq!(
        conv.status.code(),
        Some(3),
        "a live recording reads as cut short"
    );
    assert!(String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).contains("first-part"));

    // The local checkpoint is lost: the next pass resumes from the store's parts.
    std::fs::remove_file(b.path("spool/.upload/live.cast.zst.live")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(b.upload().status.success());
    join_parts(&parts_dir);

    assert!(rec.wait().unwrap().success());
    let sealed = std::fs::read(&out).unwrap();
    assert!(b.upload().status.success());
    assert!(b.spool_names().is_empty());
    assert_eq!(
        std::fs::read_dir(&parts_dir)
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    let listed = b.ls(&[]);
    assert_eq!(listed.len(), 1);
    let stored = std::fs::read(b.path("store").join(listed[0]["key"].as_str().unwrap())).unwrap();
    assert_eq!(stored, sealed);
}

/// `doctor` names what is wrong and how to fix it, and fails.
#[test]
fn doctor_says_what_to_fix() {
    let b = Bastion::new(
        "s3://sessrec-test/x",
        "[s3]\nendpoint = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\naccess_key_id = \"AK\"\nsecret_access_key = \"SK\"\nallow_http = true\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.path("spool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        b.path("config.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = b.sessrec(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("is open to other users") && report.contains("chmod o-rwx"),
        "{report}"
    );
    assert!(report.contains("holds an S3 secret key"), "{report}");
    assert!(
        report.contains("FAIL  store s3://sessrec-test/x"),
        "{report}"
    );
    assert!(
        report.contains("ok    the public key beside it matches"),
        "{report}"
    );
}

/// The same against Garage, a real distributed store: shipped through an outage, listed, and
/// verified straight from the bucket (signed chain: byte for byte what was recorded).
#[test]
fn a_garage_store_gets_every_recording_whole() {
    let Some(mut garage) = shipping::Garage::start() else {
        return;
    };
    let b = Bastion::new("s3://sessrec-test/recordings", &garage.settings());
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
        let o = Command::new(BIN)
            .args([
                "verify",
                &format!("s3://sessrec-test/recordings/{key}"),
                "--key",
            ])
            .arg(b.path("key.pub"))
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", garage.port),
            )
            .env("AWS_ACCESS_KEY_ID", shipping::GARAGE_KEY)
            .env("AWS_SECRET_ACCESS_KEY", shipping::GARAGE_SECRET)
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

/// The README's first command: record, ship to the local store, list, verify by id.
#[test]
fn the_demo_script_records_ships_lists_and_verifies() {
    let dir = tempfile::TempDir::new().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .env("SESSREC_BIN", BIN)
        .env("SESSREC_DEMO", dir.path())
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo typed-in-the-demo\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains("typed-in-the-demo"), "{text}");
    assert!(text.contains("intact and signed by trusted key"), "{text}");
    assert!(text.contains("VERDICT"), "{text}");
}

/// Azure Blob Storage (Azurite, Microsoft's emulator): shipped through an outage (a proxy in
/// front of it answers 503), each recording read back and confirmed (Azure's ETags are not
/// MD5s), listed, and verified from the container by URL with the usual Azure variables.
#[test]
fn an_azure_store_gets_every_recording_whole() {
    let Some(azure) = shipping::azurite::Azurite::start() else {
        return;
    };
    let proxy = FaultProxy::start(azure.port);
    let b = Bastion::new(
        "az://sessrec-test/recordings",
        &shipping::azurite::Azurite::settings(proxy.port),
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
        let mut verify = Command::new(BIN);
        verify
            .args([
                "verify",
                &format!("az://sessrec-test/recordings/{key}"),
                "--key",
            ])
            .arg(b.path("key.pub"))
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
