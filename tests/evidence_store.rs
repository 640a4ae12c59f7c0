//! The store and the spool, written by someone without the key: spool files that claim another
//! session, cut and extended, or with an edited sealed manifest; manifests edited or moved in
//! the store; a recording stopped early. Nothing is replaced or deleted that should not be, and
//! no row of `ls` shows a verdict no trusted key signed. Against a file store, s3s-fs and Garage.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest;

use crate::util::config::Config;
use crate::util::s3::{Garage, S3Server};
use crate::util::spool::Bastion;
use crate::util::{Req, s, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        spool_attacks_are_quarantined_on_a_file_store,
        spool_attacks_are_quarantined_on_s3s_fs => [Req::Tool("s3s-fs")],
        spool_attacks_are_quarantined_on_garage => [Req::Tool("garage")],
        edited_or_moved_manifests_never_show_a_verdict,
        a_link_in_a_file_store_is_never_written_through,
        keys_with_escapes_list_verified_and_refuse_links => [
            Req::Root,
            Req::Tool("/usr/bin/unshare"),
        ],
        a_file_claiming_a_live_session_never_reaches_its_live_parts,
        a_recording_stopped_early_is_listed_and_verified_incomplete,
        a_cut_after_sealing_is_told_from_a_crash_by_the_audit_trail => [
            Req::Root,
            Req::Tool("/usr/bin/unshare"),
        ],
    ]
}

fn sealed_manifest_of(recording: &Path) -> PathBuf {
    let name = recording.file_name().unwrap().to_string_lossy();
    recording.with_file_name(name.replace(".cast.zst", ".manifest.json"))
}

fn id_of(recording: &Path) -> String {
    let name = recording.file_name().unwrap().to_string_lossy();
    name.trim_end_matches(".cast.zst").to_string()
}

/// `verify ID` against the bastion's store; exit status and line.
fn verify_id(b: &Bastion, id: &str) -> (Option<i32>, String) {
    let o = crate::util::sessrec()
        .args(["verify", id, "--key", s(&b.key.public_path), "--config"])
        .arg(b.path("config.toml"))
        .env("XDG_CACHE_HOME", b.path("cache"))
        .output()
        .unwrap();
    (
        o.status.code(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o)),
    )
}

/// Why the uploader quarantined `name`, or `None` if it did not.
fn quarantine_reason(b: &Bastion, name: &str) -> Option<String> {
    std::fs::read_to_string(b.path(&format!("spool/quarantine/{name}.reason"))).ok()
}

/// The trailer cut off a recording and an ordinary zstd frame of invented events appended.
fn cut_and_extended(bytes: &[u8]) -> Vec<u8> {
    let footer = bytes.len() - 8;
    let json_len = u32::from_le_bytes(bytes[footer..footer + 4].try_into().unwrap()) as usize;
    let trailer = footer - json_len - 8;
    let mut out = bytes[..trailer].to_vec();
    let invented = b"[1.0, \"o\", \"INVENTED\\r\\n\"]\n";
    out.extend(zstd::encode_all(&invented[..], 3).unwrap());
    out
}

/// Each attack on the spool, then one upload pass: the attacked files are quarantined with an
/// alert, the genuine recording stays as it was, and the listing holds only it.
fn spool_attacks(b: &Bastion) {
    let genuine = b.record("genuine", b"the genuine session\n");
    let genuine_id = id_of(&genuine);
    let genuine_bytes = std::fs::read(&genuine).unwrap();
    assert!(b.upload().status.success());
    assert_eq!(verify_id(b, &genuine_id).0, Some(0));

    // 1. The stored session's id, other bytes (its own first half).
    std::fs::write(&genuine, &genuine_bytes[..genuine_bytes.len() / 2]).unwrap();
    // 2. A file named for one session holding another (here: a session's recording under a
    //    made-up id, as one would claim a live session's id).
    let other = b.record("other", b"another session\n");
    let fake_id = "01a2ffff-0000-7000-8000-00000000000a";
    std::fs::rename(&other, b.path(&format!("spool/{fake_id}.cast.zst"))).unwrap();
    std::fs::rename(
        sealed_manifest_of(&other),
        b.path(&format!("spool/{fake_id}.manifest.json")),
    )
    .unwrap();
    // 3. A sealed recording cut and extended in the spool.
    let extended = b.record("extended", b"what was really typed\n");
    let bytes = std::fs::read(&extended).unwrap();
    std::fs::write(&extended, cut_and_extended(&bytes)).unwrap();
    // 4. A sealed manifest edited (another user).
    let edited = b.record("edited", b"whose session?\n");
    let manifest = sealed_manifest_of(&edited);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["sealed"]["user"] = "mallory".into();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();

    // 5. A sealed recording replaced by an unsigned copy of itself, its sealed manifest gone:
    //    shipped (it is evidence), but as an alert, and listed without a verdict.
    let replaced = b.record("replaced", b"signed by the host\n");
    let unsigned = b.path("unsigned.cast");
    assert!(
        crate::util::sessrec_output(&["convert", s(&replaced), s(&unsigned)])
            .status
            .success()
    );
    let copy = b.path("unsigned.cast.zst");
    assert!(
        crate::util::sessrec_output(&["convert", s(&unsigned), s(&copy)])
            .status
            .success()
    );
    std::fs::rename(&copy, &replaced).unwrap();
    std::fs::remove_file(sealed_manifest_of(&replaced)).unwrap();

    let out = b.upload();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let audit = b.audit();
    let shipped_unsigned = audit
        .lines()
        .find(|l| l.contains("\"upload.ok\"") && l.contains(&id_of(&replaced)))
        .expect("the unsigned copy is shipped");
    assert!(
        shipped_unsigned.contains("\"level\":\"alert\""),
        "{shipped_unsigned}"
    );
    let cases = [
        (
            format!("{genuine_id}.cast.zst"),
            "already in the store with other bytes",
            "upload.conflict",
        ),
        (
            format!("{fake_id}.cast.zst"),
            "is named for session",
            "upload.misnamed",
        ),
        (
            format!("{}.cast.zst", id_of(&extended)),
            "not the recording the service sealed",
            "upload.not_as_sealed",
        ),
        (
            format!("{}.cast.zst", id_of(&edited)),
            "not signed by this host's key",
            "upload.not_as_sealed",
        ),
    ];
    for (name, why, event) in cases {
        let reason = quarantine_reason(b, &name).unwrap_or_else(|| panic!("{name} kept"));
        assert!(reason.contains(why), "{name}: {reason}");
        assert!(audit.contains(&format!("\"{event}\"")), "{event}: {audit}");
    }
    assert!(b.spool_names().is_empty(), "{:?}", b.spool_names());
    // The stored original is untouched, and the only session listed.
    assert_eq!(verify_id(b, &genuine_id).0, Some(0));
    let listed = b.ls(&["--refresh"]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let row = |id: &str| {
        listed
            .iter()
            .find(|m| m["session_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&id_of(&replaced))["verdict"], "unverified");
    let listed = [row(&genuine_id)];
    assert_eq!(listed[0]["verdict"], "intact");
    let digest: String = sha2::Sha256::digest(&genuine_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(listed[0]["sha256"], digest.as_str());
}

fn spool_attacks_are_quarantined_on_a_file_store() {
    spool_attacks(&Bastion::file_store());
}

fn spool_attacks_are_quarantined_on_s3s_fs() {
    let s3 = S3Server::start();
    let b = Bastion::new(|d| {
        Config::new(d)
            .storage("s3://sessrec-test/evidence")
            .table("s3", s3.settings())
    });
    spool_attacks(&b);
}

fn spool_attacks_are_quarantined_on_garage() {
    let garage = Garage::start();
    let b = Bastion::new(|d| {
        Config::new(d)
            .storage("s3://sessrec-test/evidence")
            .table("s3", garage.settings())
    });
    spool_attacks(&b);
}

/// The stored manifest of `m` (an `ls --json` row) in a file store.
fn manifest_path(b: &Bastion, m: &Value) -> PathBuf {
    let key = m["key"]
        .as_str()
        .unwrap()
        .replace(".cast.zst", ".manifest.json");
    b.path("store").join(key)
}

fn edited_or_moved_manifests_never_show_a_verdict() {
    let b = Bastion::file_store();
    for name in ["a", "b", "c", "d"] {
        b.record(name, format!("session {name}\n").as_bytes());
    }
    assert!(b.upload().status.success());
    let listed = b.ls(&[]);
    assert!(
        listed.iter().all(|m| m["verdict"] == "intact"),
        "{listed:?}"
    );
    let [a, bb, c, d] = [0, 1, 2, 3].map(|i| listed[i].clone());
    let edit = |m: &Value, change: &dyn Fn(&mut Value)| {
        let path = manifest_path(&b, m);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        change(&mut v);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    };
    // Signed fields: user, grant, key.
    edit(&a, &|v| v["sealed"]["user"] = "mallory".into());
    edit(&bb, &|v| v["sealed"]["grant"] = "INC-0000".into());
    edit(&c, &|v| {
        v["sealed"]["key"] = "sessions/elsewhere.cast.zst".into()
    });
    // The unsigned shipping note: only ever shown as the uploader's claim. (Edited as text: a
    // JSON round trip reorders the signed body's keys, which alone breaks its signature.)
    let path = manifest_path(&b, &d);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"verdict\": \"intact\""), "{text}");
    std::fs::write(
        &path,
        text.replace("\"verdict\": \"intact\"", "\"verdict\": \"trust-me\""),
    )
    .unwrap();
    let again = b.ls(&["--refresh"]);
    let row = |id: &Value| {
        again
            .iter()
            .find(|m| m["session_id"] == *id)
            .cloned()
            .unwrap()
    };
    // Each is listed without a verdict: from its edited manifest (invalid), or from its
    // recording's header (unsigned) where the edit moved the manifest's place elsewhere.
    for m in [&a, &bb, &c] {
        let r = row(&m["session_id"]);
        assert_eq!(r["verdict"], "unverified", "{r}");
        assert_ne!(r["attestation"]["state"], "signed", "{r}");
    }
    assert_eq!(row(&d["session_id"])["verdict"], "intact");
    assert_eq!(row(&d["session_id"])["claimed"], "unknown");

    // A genuine manifest copied to another session's place does not vouch for that place, and
    // does not displace the genuine row of its own session.
    let fake =
        manifest_path(&b, &d).with_file_name("01a2ffff-0000-7000-8000-00000000000b.manifest.json");
    std::fs::copy(manifest_path(&b, &d), &fake).unwrap();
    let out = b.sessrec(&["ls", "--json", "--refresh", "--key", s(&b.key.public_path)]);
    assert!(
        stderr(&out).contains("01a2ffff-0000-7000-8000-00000000000b"),
        "{}",
        stderr(&out)
    );
    let again = b.ls(&[]);
    assert_eq!(again.len(), 4);
    let d_row = again
        .iter()
        .find(|m| m["session_id"] == d["session_id"])
        .unwrap();
    assert_eq!(d_row["attestation"]["state"], "signed", "{d_row}");
    std::fs::remove_file(&fake).unwrap();
    let row_of = |listed: &[Value], m: &Value| {
        listed
            .iter()
            .find(|r| r["session_id"] == m["session_id"])
            .cloned()
            .unwrap_or_else(|| panic!("{} not listed: {listed:?}", m["session_id"]))
    };

    // D's manifest put in B's place hides neither: B is listed from its recording's header.
    std::fs::copy(manifest_path(&b, &d), manifest_path(&b, &bb)).unwrap();
    let again = b.ls(&["--refresh"]);
    assert_eq!(row_of(&again, &bb)["verdict"], "unverified");
    assert_eq!(row_of(&again, &d)["verdict"], "intact");

    // A copy of D's recording elsewhere (no manifest) does not displace D's signed row.
    let stray = b.path("store/sessions/zz");
    std::fs::create_dir_all(&stray).unwrap();
    let d_recording = b.path("store").join(d["key"].as_str().unwrap());
    std::fs::copy(&d_recording, stray.join(d_recording.file_name().unwrap())).unwrap();
    let again = b.ls(&["--refresh"]);
    assert_eq!(row_of(&again, &d)["verdict"], "intact");
    let (code, line) = verify_id(&b, d["session_id"].as_str().unwrap());
    assert_eq!(code, Some(0), "{line}");

    // D's recording cut in the store: its signed row no longer says intact, and says why.
    let bytes = std::fs::read(&d_recording).unwrap();
    std::fs::write(&d_recording, &bytes[..bytes.len() / 2]).unwrap();
    let row = row_of(&b.ls(&["--refresh"]), &d);
    assert_eq!(row["verdict"], "unverified", "{row}");
    assert!(
        row["problem"].as_str().unwrap().contains("were sealed"),
        "{row}"
    );
    std::fs::remove_file(&d_recording).unwrap();
    let row = row_of(&b.ls(&["--refresh"]), &d);
    assert!(
        row["problem"]
            .as_str()
            .unwrap()
            .contains("not in the store"),
        "{row}"
    );
}

/// A link planted in a file store never takes the uploader's writes outside it.
fn a_link_in_a_file_store_is_never_written_through() {
    let b = Bastion::file_store();
    let r = b.record("linked", b"where does this go?\n");
    let header = sessrec_store::manifest::from_header(&r).unwrap();
    // sessions/DAY/HOST/USER/ID.cast.zst: the host's directory becomes a link.
    let host_dir = b
        .path("store")
        .join(header.key.rsplitn(3, '/').nth(2).unwrap());
    std::fs::create_dir_all(host_dir.parent().unwrap()).unwrap();
    let elsewhere = b.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &host_dir).unwrap();
    let out = b.upload();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a link"), "{}", stderr(&out));
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing written there"
    );
    assert!(r.exists(), "the recording waits in the spool");
}

/// A file that holds a live session's header under another name, held open as a recorder
/// would: never shipped into that session's live parts.
fn a_file_claiming_a_live_session_never_reaches_its_live_parts() {
    let b = Bastion::file_store();
    let spool = b.path("spool");
    let mut rec = crate::util::sessrec_process()
        .args([
            "rec",
            "-q",
            "-o",
            s(&spool),
            "--sign-key",
            b.key.arg(),
            "--",
        ])
        .args(["sh", "-c", "echo genuine-live; sleep 4"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let live = spool.join(&b.spool_names()[0]);
    let claim = spool.join("01a2ffff-0000-7000-8000-00000000000c.cast.zst");
    // The live session's header, then an invented event, in a frame of its own.
    let reader =
        sessrec_formats::open_path(&live, &sessrec_formats::OpenOptions::default()).unwrap();
    let mut plain = sessrec_formats::asciicast::V3Encoder::new().header(reader.header());
    plain.extend_from_slice(b"[0.1, \"o\", \"FORGED\\r\\n\"]\n");
    std::fs::write(&claim, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
    let lock = std::fs::File::open(&claim).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let out = b.upload();
    assert!(
        stderr(&out).contains("not shipped while written"),
        "{}",
        stderr(&out)
    );
    let parts = b.path(&format!("store/live/{}", id_of(&live)));
    let genuine = std::fs::read(&live).unwrap();
    for part in std::fs::read_dir(&parts).unwrap().flatten() {
        let name = part.file_name().to_string_lossy().into_owned();
        let (a, z) = name.trim_end_matches(".part").split_once('-').unwrap();
        let (a, z): (usize, usize) = (a.parse().unwrap(), z.parse().unwrap());
        assert_eq!(std::fs::read(part.path()).unwrap(), genuine[a..z], "{name}");
    }
    drop(lock);
    rec.wait().unwrap();
}

fn a_recording_stopped_early_is_listed_and_verified_incomplete() {
    use sessrec_formats::container::{ContainerWriter, Stopped, WriterOptions};
    use sessrec_store::{Sealed, SealedState};
    let b = Bastion::file_store();
    // What the recording service writes when the spool's disk fills under best_effort: the
    // events so far, a signed note that it stopped, and the sealed manifest saying "stopped".
    let r = b.record("stopped", b"the first minutes\n");
    let mut reader =
        sessrec_formats::open_path(&r, &sessrec_formats::OpenOptions::default()).unwrap();
    let header = reader.header().clone();
    let events: Vec<_> = (&mut reader).map(Result::unwrap).collect();
    let pem = std::fs::read_to_string(&b.key.path).unwrap();
    let key = sessrec_formats::keys::SigningKey::from_pem(&pem).unwrap();
    let mut w = ContainerWriter::new(
        Vec::new(),
        &header,
        Some(key.clone()),
        WriterOptions::default(),
    )
    .unwrap();
    for e in &events {
        w.write_event(e).unwrap();
    }
    let bytes = w
        .finish_stopped(Stopped {
            at_ms: 40,
            reason: "the disk holding the recording filled".into(),
            session_continued: true,
        })
        .unwrap();
    std::fs::write(&r, &bytes).unwrap();
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sealed = Sealed::new(&header, bytes.len() as u64, sha, 40, SealedState::Stopped).unwrap();
    std::fs::write(
        sealed_manifest_of(&r),
        serde_json::to_vec(&sealed.attest(Some(&key))).unwrap(),
    )
    .unwrap();
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = b.ls(&[]);
    assert_eq!(listed[0]["verdict"], "incomplete", "{listed:?}");
    let (code, line) = verify_id(&b, &id_of(&r));
    assert_eq!(code, Some(7), "{line}");
    assert!(
        line.contains("incomplete: recording stopped at") && line.contains("continued"),
        "{line}"
    );
}

/// Through the real recording service: its `session.end` audit event carries the sealed
/// recording's hash, so a recording cut in the spool after sealing (its trailer and sealed
/// manifest removed, which makes it look like a crash) raises `upload.cut`.
fn a_cut_after_sealing_is_told_from_a_crash_by_the_audit_trail() {
    let mut p = crate::login::policy(|c| c);
    let store = p.path("store");
    p.change(|c| c.storage(&format!("file://{}", store.display())));
    let o = p.command("echo sealed-by-the-service");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = p.recordings().pop().unwrap();
    let bytes = std::fs::read(&rec).unwrap();
    let sha: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let audit = p.audit();
    let end = audit
        .lines()
        .find(|l| l.contains("\"session.end\""))
        .expect("a session.end event");
    let end: Value = serde_json::from_str(end).unwrap();
    assert_eq!(end["recording"]["sha256"], sha.as_str(), "{end}");
    assert_eq!(end["recording"]["chain"].as_str().unwrap().len(), 64);
    assert!(sealed_manifest_of(&rec).exists());

    // The attacker cuts the trailer off and removes the sealed manifest.
    let footer = bytes.len() - 8;
    let json_len = u32::from_le_bytes(bytes[footer..footer + 4].try_into().unwrap()) as usize;
    std::fs::write(&rec, &bytes[..footer - json_len - 8]).unwrap();
    std::fs::remove_file(sealed_manifest_of(&rec)).unwrap();
    let up = crate::util::sessrec()
        .args(["upload", "--once", "--config"])
        .arg(p.path("etc/config.toml"))
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", stderr(&up));
    let audit = p.audit();
    assert!(audit.contains("\"upload.cut\""), "{audit}");
    assert!(
        stderr(&up).contains("it was cut after sealing"),
        "{}",
        stderr(&up)
    );
}

/// Records into the bastion's spool on a host named `host` (a UTS namespace of its own).
fn record_on_host(b: &Bastion, host: &str) -> PathBuf {
    let before = b.spool_names();
    let line = format!(
        "printf '{host}' > /proc/sys/kernel/hostname && exec {} rec -q -o {} --sign-key {} -- echo on-{host}",
        crate::util::BIN,
        s(&b.path("spool")),
        b.key.arg()
    );
    let o = std::process::Command::new("/usr/bin/unshare")
        .args(["-u", "sh", "-c", &line])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let new = b
        .spool_names()
        .into_iter()
        .find(|n| !before.contains(n))
        .unwrap();
    b.path("spool").join(new)
}

/// A host name the layout escapes (`bastion%201`): its genuine manifest lists as intact and
/// verifies by id, and a link planted at the directory the store really writes is refused.
fn keys_with_escapes_list_verified_and_refuse_links() {
    let b = Bastion::file_store();
    let r = record_on_host(&b, "bastion 1");
    assert!(b.upload().status.success());
    let listed = b.ls(&["--refresh"]);
    assert_eq!(listed[0]["verdict"], "intact", "{listed:?}");
    assert!(listed[0]["key"].as_str().unwrap().contains("/bastion%201/"));
    assert_eq!(verify_id(&b, &id_of(&r)).0, Some(0));
    // The longest host name the kernel takes, all escaped: over 255 bytes on disk, unless
    // shortened. Shipped, listed and verified like any other.
    let r = record_on_host(&b, &" ".repeat(64));
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = b.ls(&["--refresh"]);
    let row = listed
        .iter()
        .find(|m| m["session_id"] == id_of(&r).as_str())
        .unwrap();
    assert_eq!(row["verdict"], "intact", "{row}");
    assert_eq!(row["host"], " ".repeat(64).as_str());
    assert_eq!(verify_id(&b, &id_of(&r)).0, Some(0));

    let b = Bastion::file_store();
    let r = record_on_host(&b, "bastion 1");
    let key = sessrec_store::manifest::from_header(&r).unwrap().key;
    let day = key.rsplitn(4, '/').nth(3).unwrap();
    let physical = b.path("store").join(day).join("bastion%25201");
    std::fs::create_dir_all(physical.parent().unwrap()).unwrap();
    let elsewhere = b.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &physical).unwrap();
    let out = b.upload();
    assert!(stderr(&out).contains("is a link"), "{}", stderr(&out));
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    assert!(r.exists());
}
