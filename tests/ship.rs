//! Shipping end to end to a `file://` store: `sessrec upload` from a real spool, a live session
//! shipped in parts while it runs, `doctor`, `sessrec ls` over the catalog, and the README's
//! demo script. (The S3 and Azure stores are in cloud.rs.)

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::config::{Config, s3_table};
use crate::util::harness::step;
use crate::util::spool::{Bastion, join_parts};
use crate::util::{BIN, Req, run, sessrec, sessrec_process, stderr, tree};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        a_file_store_gets_every_finished_recording_and_the_catalog_lists_them,
        a_live_session_reaches_the_store_while_it_runs,
        doctor_says_what_to_fix,
        the_demo_script_records_ships_lists_and_verifies => [Req::Tool("bash")],
    ]
}

/// Three sessions, one still being recorded, one whose recorder died, and one unreadable file:
/// what can be shipped is shipped byte for byte and leaves the spool, the live one waits, the
/// unreadable one is quarantined after three passes, and a second run changes nothing.
fn a_file_store_gets_every_finished_recording_and_the_catalog_lists_them() {
    let b = Bastion::file_store();
    let store = b.path("store");
    let binary: Vec<u8> = (0..3_000_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    let small = b.record("a.cast.zst", b"hello\n");
    let big = b.record("b.cast.zst", &binary);
    // A recorder that died: half a recording, never sealed, so no sealed manifest.
    let crashed = b.record("x.cast.zst", b"cut me\n");
    let whole = std::fs::read(&crashed).unwrap();
    std::fs::remove_file(sealed_manifest_of(&crashed)).unwrap();
    std::fs::write(&crashed, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(b.path("spool/junk.cast.zst"), b"not a recording").unwrap();
    let live = b.record("live.cast.zst", b"still typing\n");
    let lock = std::fs::File::open(&live).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let live_name = live.file_name().unwrap().to_string_lossy().into_owned();
    let live_files = [live_name.clone()];
    let originals: Vec<Vec<u8>> = [&small, &big, &crashed]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let listed = step("the first pass ships what it can, byte for byte", || {
        let out = b.upload();
        assert_eq!(
            out.status.code(),
            Some(1),
            "the junk file fails: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("junk.cast.zst"), "{}", stderr(&out));
        let mut waiting = live_files.to_vec();
        waiting.push("junk.cast.zst".to_string());
        assert_eq!(b.spool_names(), waiting);
        let listed = b.ls(&[]);
        assert_eq!(listed.len(), 3, "{listed:?}");
        let verdicts: Vec<&str> = listed
            .iter()
            .map(|m| m["verdict"].as_str().unwrap())
            .collect();
        // Sealed and signed by the host: a verdict. The crashed one has no signed manifest:
        // "unverified", with what the uploader found as its claim.
        assert_eq!(verdicts.iter().filter(|v| **v == "intact").count(), 2);
        let unsealed: Vec<&Value> = listed
            .iter()
            .filter(|m| m["verdict"] == "unverified")
            .collect();
        assert_eq!(unsealed.len(), 1, "{listed:?}");
        assert_eq!(unsealed[0]["claimed"], "truncated");
        assert_eq!(unsealed[0]["attestation"]["state"], "unsigned");
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
        listed
    });
    step("verified in the store, by path and by session id", || {
        verified_in_the_store(&b, &listed)
    });
    step(
        "ls filters by user and time; the audit log has every upload",
        || {
            let user = listed[0]["user"].as_str().unwrap().to_string();
            assert_eq!(b.ls(&["--user", &user]).len(), 3);
            assert_eq!(b.ls(&["--user", "nobody-else"]).len(), 0);
            assert_eq!(b.ls(&["--until", "2000-01-01"]).len(), 0);
            let audit = std::fs::read_to_string(b.path("audit.log")).unwrap();
            assert_eq!(audit.matches("\"upload.ok\"").count(), 3, "{audit}");
            // A directory has no MD5 ETags: every upload is read back and compared.
            let uploads = audit.lines().filter(|l| l.contains("\"upload.ok\""));
            assert_eq!(
                uploads
                    .filter(|l| l.contains("\"confirmed\":\"read-back\""))
                    .count(),
                3,
                "{audit}"
            );
            // The crashed one: truncated, and no end of its session in the audit trail.
            assert_eq!(audit.matches("\"upload.no_end\"").count(), 1, "{audit}");
        },
    );
    step(
        "the unreadable file is quarantined on the third pass",
        || {
            for _ in 0..2 {
                b.upload();
            }
            assert_eq!(b.spool_names(), live_files);
            let reason =
                std::fs::read_to_string(b.path("spool/quarantine/junk.cast.zst.reason")).unwrap();
            assert!(!reason.trim().is_empty());
            let status = b.sessrec(&["upload", "--status"]);
            let text = String::from_utf8_lossy(&status.stdout);
            assert!(
                text.contains(&live_name) && text.contains("recording"),
                "{text}"
            );
            assert!(!text.contains("not a recording's name"), "{text}");
            assert!(text.contains("quarantined"), "{text}");
        },
    );
    step(
        "nothing left to do: another pass leaves the store as it is",
        || {
            let before = tree(&store);
            let out = b.upload();
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(tree(&store), before);
        },
    );
    step(
        "the catalog is only a cache: rebuilt, it lists the same",
        || {
            std::fs::remove_file(b.path("catalog.sqlite")).unwrap();
            let out = b.sessrec(&["index"]);
            assert!(out.status.success(), "{}", stderr(&out));
            assert_eq!(b.ls(&[]), listed);
        },
    );
    step("once its recorder is gone, the live file ships too", || {
        drop(lock);
        assert!(b.upload().status.success());
        assert_eq!(b.ls(&["--refresh"]).len(), 4);
    });
    step(
        "a recording without its manifest is indexed from its header",
        || {
            // The recordings are the source of truth: still indexed, as unverified.
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
        },
    );
}

/// The sealed manifest the recorder writes beside a spool recording.
fn sealed_manifest_of(recording: &std::path::Path) -> std::path::PathBuf {
    let name = recording.file_name().unwrap().to_string_lossy();
    recording.with_file_name(name.replace(".cast.zst", ".manifest.json"))
}

/// An intact recording verifies in the file store by its path, and by its session id through
/// the catalog (as auditors name recordings); an unknown id is an error that names it.
fn verified_in_the_store(b: &Bastion, listed: &[Value]) {
    let store = b.path("store");
    let intact = listed.iter().find(|m| m["verdict"] == "intact").unwrap();
    let stored = store.join(intact["key"].as_str().unwrap());
    let pubkey = &b.key.public_path;
    run(&[
        BIN,
        "verify",
        stored.to_str().unwrap(),
        "--key",
        pubkey.to_str().unwrap(),
    ]);
    let cache = b.path("cache");
    let by_id = sessrec()
        .args(["verify", intact["session_id"].as_str().unwrap(), "--key"])
        .arg(pubkey)
        .args(["--store", &format!("file://{}", store.display())])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    let unknown = sessrec()
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
}

/// A session still being recorded reaches the store in parts while it runs; losing the local
/// checkpoint resumes from what the store holds, without overlap; once sealed, the whole
/// recording replaces the parts.
fn a_live_session_reaches_the_store_while_it_runs() {
    let b = Bastion::file_store();
    let spool = b.path("spool");
    let mut rec = sessrec_process()
        .args(["rec", "-q", "-o", spool.to_str().unwrap(), "--sign-key"])
        .arg(&b.key.path)
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
    let out = spool.join(&b.spool_names()[0]);
    let pass = b.upload();
    assert!(pass.status.success(), "{}", stderr(&pass));
    let live_dir = b.path("store/live");
    let sessions: Vec<_> = std::fs::read_dir(&live_dir).unwrap().flatten().collect();
    assert_eq!(sessions.len(), 1);
    let parts_dir = sessions[0].path();
    let joined = b.path("joined.cast.zst");
    std::fs::write(&joined, join_parts(&parts_dir)).unwrap();
    let raw = b.path("joined.raw");
    let conv = sessrec()
        .args([
            "convert",
            joined.to_str().unwrap(),
            raw.to_str().unwrap(),
            "--to",
            "raw",
            // Still being written: no checkpoint covers its last events yet.
            "--keep-unsigned-tail",
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
    let name = out.file_name().unwrap().to_string_lossy();
    std::fs::remove_file(spool.join(format!(".upload/{name}.live"))).unwrap();
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
fn doctor_says_what_to_fix() {
    let b = Bastion::new(|d| {
        Config::new(d)
            .storage("s3://sessrec-test/x")
            .table("s3", s3_table(9, "us-east-1", "AK", "SK"))
    });
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.path("spool"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        b.path("config.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // An audit log others can write.
    std::fs::write(b.path("audit.log"), b"").unwrap();
    std::fs::set_permissions(b.path("audit.log"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = b.sessrec(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("is not a private file") && report.contains("chmod 0660"),
        "{report}"
    );
    assert!(
        report.contains("is open to other users") && report.contains("chmod 0700"),
        "{report}"
    );
    assert!(
        report.contains("FAIL  the recording service does not answer"),
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

/// The README's first command: record, ship to the local store, list, verify by id.
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
