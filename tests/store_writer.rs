//! Someone who can write the store but has no signing key: a manifest pointing elsewhere (out
//! of the store, or at another session's genuine recording), another session's recording put
//! in this one's place, and junk objects beside real ones.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::spool::Bastion;
use crate::util::{s, sessrec, stderr, walk};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        a_session_id_is_only_ever_that_sessions_recording,
        one_junk_object_does_not_hide_the_other_sessions,
    ]
}

/// A file store holding one shipped session: its manifest's path and JSON.
fn shipped() -> (Bastion, PathBuf, Value) {
    let b = Bastion::file_store();
    b.record("a.cast.zst", b"hello\n");
    assert!(b.upload().status.success());
    let manifest = walk(&b.path("store"))
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .expect("a manifest");
    let json: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    (b, manifest, json)
}

/// `verify ID` against the bastion's store, with its key.
fn verify_id(b: &Bastion, id: &str) -> std::process::Output {
    sessrec()
        .args(["verify", id, "--store"])
        .arg(format!("file://{}", s(&b.path("store"))))
        .args([
            "--key",
            s(&b.key.public_path),
            "--config",
            s(&b.path("config.toml")),
        ])
        .env("XDG_CACHE_HOME", b.path("cache"))
        .output()
        .unwrap()
}

fn write_manifest(path: &Path, m: &Value) {
    std::fs::write(path, serde_json::to_vec(m).unwrap()).unwrap();
}

fn a_session_id_is_only_ever_that_sessions_recording() {
    let (b, manifest, a) = shipped();
    let id_a = a["sealed"]["session_id"].as_str().unwrap().to_string();
    let key_a = a["sealed"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        verify_id(&b, &id_a).status.code(),
        Some(0),
        "the genuine one verifies"
    );
    let id_b = "01a2ffff-0000-7000-8000-000000000001";
    let key_b = key_a.replace(&id_a, id_b);
    let manifest_b = manifest.with_file_name(format!("{id_b}.manifest.json"));
    let outside = b.path("outside.cast.zst");
    std::fs::copy(b.path("store").join(&key_a), &outside).unwrap();
    for forged_key in [
        key_a.clone(),
        s(&outside).to_string(),
        format!("../../../../../../../..{}", s(&outside)),
    ] {
        let mut m = a.clone();
        m["sealed"]["session_id"] = id_b.into();
        m["sealed"]["key"] = forged_key.clone().into();
        write_manifest(&manifest_b, &m);
        std::fs::remove_dir_all(b.path("cache")).ok();
        let o = verify_id(&b, id_b);
        let said = String::from_utf8_lossy(&o.stdout).into_owned();
        assert_eq!(
            o.status.code(),
            Some(4),
            "{forged_key}: {said} {}",
            stderr(&o)
        );
        assert!(
            said.contains("substituted: the manifest of session"),
            "{said}"
        );
    }
    // The manifest is consistent, but the object is session A's genuine recording.
    let mut m = a.clone();
    m["sealed"]["session_id"] = id_b.into();
    m["sealed"]["key"] = key_b.clone().into();
    write_manifest(&manifest_b, &m);
    std::fs::copy(b.path("store").join(&key_a), b.path("store").join(&key_b)).unwrap();
    std::fs::remove_dir_all(b.path("cache")).ok();
    let o = verify_id(&b, id_b);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(4), "{said} {}", stderr(&o));
    assert!(
        said.contains(&format!("substituted: the file holds session {id_a}")),
        "{said}"
    );
    // info and play say the same, with the same exit status.
    for cmd in ["info", "play"] {
        let mut args = vec![cmd, id_b, "--store"];
        let url = format!("file://{}", s(&b.path("store")));
        args.push(&url);
        let config = b.path("config.toml");
        args.extend(["--config", s(&config)]);
        if cmd == "play" {
            args.push("--dump");
        }
        let o = sessrec()
            .args(&args)
            .env("XDG_CACHE_HOME", b.path("cache"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(4), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains("substituted"), "{cmd}: {}", stderr(&o));
    }
    // A local file named like a session id is not taken for that session, nor the session for
    // it: `./ID` names the file.
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::copy(b.path("store").join(&key_a), dir.path().join(id_b)).unwrap();
    let o = sessrec()
        .current_dir(dir.path())
        .args(["verify", id_b, "--store"])
        .arg(format!("file://{}", s(&b.path("store"))))
        .args([
            "--key",
            s(&b.key.public_path),
            "--config",
            s(&b.path("config.toml")),
        ])
        .env("XDG_CACHE_HOME", b.path("cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "the id is looked up in the store");
    let o = sessrec()
        .current_dir(dir.path())
        .args([
            "verify",
            &format!("./{id_b}"),
            "--key",
            s(&b.key.public_path),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "./ID is the local file: {}",
        stderr(&o)
    );
}

fn one_junk_object_does_not_hide_the_other_sessions() {
    let (b, manifest, _) = shipped();
    std::fs::write(manifest.with_file_name("junk.manifest.json"), b"").unwrap();
    std::fs::write(
        manifest.with_file_name("junk2.cast.zst"),
        b"not a recording",
    )
    .unwrap();
    // A link loop, and a name that is not UTF-8: named, skipped, never fatal.
    std::os::unix::fs::symlink(".", manifest.with_file_name("loop")).unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff");
    std::fs::write(manifest.with_file_name(bad), b"x").unwrap();
    let o = b.sessrec(&["ls", "--json", "--refresh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    let err = stderr(&o);
    assert!(
        err.contains("left out of the catalog") && err.contains("junk.manifest.json"),
        "{err}"
    );
    assert!(err.contains("junk2.cast.zst"), "{err}");
}
