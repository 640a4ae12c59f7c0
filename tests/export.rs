//! `sessrec export` from a `file://` store: selection by session id, and the one-line errors
//! for what cannot be exported. (The export by grant, checked with sha256sum and minisign, is
//! a step of ssh.rs, over sessions that carry grants and an audit chain.)

use crate::util::spool::Bastion;
use crate::util::{s, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![export_selects_by_session_and_says_what_it_cannot_export]
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
