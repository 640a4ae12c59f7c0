//! `sessrec export` from a `file://` store: selection by session id, and the one-line errors
//! for what cannot be exported. (The export by grant, checked with sha256sum and minisign, is
//! a step of ssh.rs, over sessions that carry grants and an audit chain.)

use crate::util::spool::Bastion;
use crate::util::{s, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        export_selects_by_session_and_says_what_it_cannot_export,
        a_store_writer_cannot_make_an_export_lie,
    ]
}

fn export_selects_by_session_and_says_what_it_cannot_export() {
    let b = Bastion::file_store();
    b.record("a", b"first session\n");
    b.record("b", b"second session\n");
    let up = b.upload();
    assert!(up.status.success(), "{}", stderr(&up));
    let sessions = b.ls(&[]);
    assert_eq!(sessions.len(), 2);
    let id = sessions[1]["session_id"].as_str().unwrap().to_string();
    let key = s(&b.key.public_path).to_string();
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "--key", key.as_str()];
        args.extend_from_slice(extra);
        b.sessrec(&args)
    };

    let out = b.path("one");
    let o = export(&["--session", &id, "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("SHA256SUMS not signed (no --sign-key)"),
        "{}",
        stderr(&o)
    );
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["session_id"], id.as_str());
    assert_eq!(rows[0]["verdict"], "intact");
    let transcript =
        std::fs::read_to_string(out.join(format!("sessions/{id}/transcript.txt"))).unwrap();
    assert!(transcript.contains("second session"), "{transcript}");
    let stored = std::fs::read(out.join(format!("sessions/{id}/recording.cast.zst"))).unwrap();
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        sums.contains(&format!("sessions/{id}/recording.cast.zst")),
        "{sums}"
    );
    assert_eq!(stored.len() as u64, rows[0]["bytes"].as_u64().unwrap());

    // A session that is not there, filters that match nothing, a bundle directory in use.
    let o = export(&[
        "--session",
        "01000000-0000-7000-8000-000000000000",
        "-o",
        s(&b.path("x")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no such session"), "{}", stderr(&o));
    let o = export(&["--user", "nobody-here", "-o", s(&b.path("y"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no session in"), "{}", stderr(&o));
    assert!(
        !b.path("x").exists() && !b.path("y").exists(),
        "nothing left behind"
    );
    let o = export(&["-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

/// What a store writer without the key tries (from the red team): another session's recording
/// under a session's key, a recording deleted under its signed manifest, a host's audit chain
/// with a forged `session.end` and objects that are not segments, a shared bundle directory.
fn a_store_writer_cannot_make_an_export_lie() {
    use sessrec_formats::audit::{Head, link};
    let b = Bastion::file_store();
    let a = b.record("a", b"first session\n");
    let c = b.record("c", b"second session\n");
    let gone = b.record("gone", b"deleted later\n");
    let up = b.upload();
    assert!(up.status.success(), "{}", stderr(&up));
    let sessions = b.ls(&[]);
    let key_of = |p: &std::path::Path| {
        let id = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".cast.zst", "");
        let m = sessions
            .iter()
            .find(|m| m["session_id"] == id.as_str())
            .unwrap();
        (id, b.path("store").join(m["key"].as_str().unwrap()))
    };
    let ((id_a, at_a), (_, at_c), (id_gone, at_gone)) = (key_of(&a), key_of(&c), key_of(&gone));
    // Session c's genuine recording copied over session a's.
    std::fs::copy(&at_c, &at_a).unwrap();
    std::fs::remove_file(&at_gone).unwrap();
    // The host's chain: a's start and end signed by the host key, then a session.end with a
    // made-up key and signature, which must not count.
    let host = sessions[0]["host"].as_str().unwrap().to_string();
    let signer =
        sessrec_formats::keys::SigningKey::from_pem(&std::fs::read_to_string(&b.key.path).unwrap())
            .unwrap();
    let mut head = Head::START;
    let mut text = String::new();
    for (event, code, sign) in [
        ("session.start", None, true),
        ("session.end", Some(0), true),
    ] {
        let mut fields = serde_json::json!({"event": event, "session": id_a, "host": host, "time": "2026-12-01T00:00:00Z"});
        if let Some(c) = code {
            fields["exit_status"] = c.into();
        }
        let serde_json::Value::Object(f) = fields else {
            unreachable!()
        };
        let (line, h) = link(&head, f, sign.then_some(&signer));
        head = h;
        text.push_str(&line);
        text.push('\n');
    }
    let serde_json::Value::Object(f) =
        serde_json::json!({"event": "session.end", "session": id_a, "exit_status": 137})
    else {
        unreachable!()
    };
    let (forged, _) = link(&head, f, None);
    let forged = forged.trim_end_matches('}').to_string()
        + ",\"key\":\"0000000000000001\",\"sig\":\"AAAA\"}";
    text.push_str(&forged);
    text.push('\n');
    let audit = b.path("store").join("audit").join(&host);
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::write(
        audit.join("00000000000000000001-00000000000000000003.jsonl"),
        &text,
    )
    .unwrap();
    std::fs::write(audit.join("notes.txt"), "not a segment").unwrap();
    std::os::unix::fs::symlink(
        &b.key.path,
        audit.join("00000000000000000004-00000000000000000004.jsonl"),
    )
    .unwrap();

    let out = b.path("bundle");
    let key = s(&b.key.public_path).to_string();
    let o = b.sessrec(&["export", "--key", &key, "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("session {id_a}: substituted")),
        "{err}"
    );
    assert!(
        err.contains(&format!("session {id_gone} left out of the bundle")),
        "{err}"
    );
    assert!(err.contains("not an audit chain segment's name"), "{err}");
    assert!(err.contains("is a link"), "{err}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let row_a = rows
        .iter()
        .find(|r| r["session_id"] == id_a.as_str())
        .unwrap();
    assert_eq!(row_a["verdict"], "altered", "{row_a}");
    assert_eq!(
        row_a["exit_status"], 0,
        "only the host's signed session.end counts: {row_a}"
    );
    assert!(!rows.iter().any(|r| r["session_id"] == id_gone.as_str()));
    assert!(!out.join(format!("audit/{host}/notes.txt")).exists());
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(bundle["left_out"][0]["session"], id_gone.as_str());
    // verify BUNDLE: the substituted recording shows, whatever the rest says.
    let o = crate::util::sessrec()
        .args(["verify", s(&out), "--key", &key])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A bundle directory others may write to is refused (they could plant links in it).
    let shared = b.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(
        &shared,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let o = b.sessrec(&["export", "--key", &key, "-o", s(&shared)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("only you can write"), "{}", stderr(&o));
}
