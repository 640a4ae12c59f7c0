//! What verify, convert and play say is true against someone who can write a recording but has
//! no key: a cut copy with invented events appended, records with fields added, older files.
//! The store and spool side of the same attacks is in evidence_store.rs.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::util::keys::Key;
use crate::util::tmux::Tmux;
use crate::util::{BIN, Req, s, sessrec_output, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        cut_and_append_is_an_unsigned_tail_to_verify_convert_and_dump,
        in_tmux_the_unsigned_tail_is_marked_on_the_timeline_and_status_bar => [Req::Tool("tmux")],
        fields_added_to_records_are_alterations_and_older_files_still_verify,
        a_hostile_stop_reason_never_reaches_the_terminal,
    ]
}

/// A signed recording of a short incident, in several frames (as a live recording has them):
/// the commands at 2 s and 4 s, each frame ending at 1 KiB.
fn signed_incident(dir: &Path, key: &Key) -> PathBuf {
    let cast = dir.join("incident.cast");
    let mut lines = vec![r#"{"version": 2, "width": 80, "height": 24}"#.to_string()];
    for i in 0..60 {
        lines.push(format!(
            r#"[{}.{:03}, "o", "line {i}: kubectl get pods -n prod-{i}\r\n"]"#,
            i / 10,
            (i % 10) * 100
        ));
    }
    std::fs::write(&cast, lines.join("\n") + "\n").unwrap();
    let signed = dir.join("incident.cast.zst");
    assert!(
        sessrec_output(&["convert", s(&cast), s(&signed), "--sign-key", key.arg()])
            .status
            .success()
    );
    // Again in small frames (as a live recording has them), with the same header and key.
    let framed = crate::util::recording::small_frames(&signed, &key.path);
    std::fs::write(&signed, framed).unwrap();
    signed
}

/// Offsets of the skippable frames (checkpoints and trailer) of a container, walking its frames.
fn skippable_frames(bytes: &[u8]) -> Vec<(usize, usize, u32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let magic = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            out.push((at, 8 + size, magic));
            at += 8 + size;
        } else {
            let len = zstd::zstd_safe::find_frame_compressed_size(&bytes[at..]).unwrap();
            at += len;
        }
    }
    out
}

/// The recording cut right after checkpoint `n`, with an ordinary zstd frame of invented events
/// appended: 5.020 s after the last signed event, something that never happened.
fn cut_and_append(signed: &Path, n: usize) -> Vec<u8> {
    let bytes = std::fs::read(signed).unwrap();
    let checkpoints: Vec<_> = skippable_frames(&bytes)
        .into_iter()
        .filter(|f| f.2 == 0x184D_2A53)
        .collect();
    let (at, len, _) = checkpoints[n];
    let mut forged = bytes[..at + len].to_vec();
    let invented = b"[5.020, \"o\", \"INVENTED: rm -rf /srv was never typed\\r\\n\"]\n";
    forged.extend(zstd::encode_all(&invented[..], 3).unwrap());
    forged
}

fn cut_and_append_is_an_unsigned_tail_to_verify_convert_and_dump() {
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    let signed = signed_incident(dir.path(), &key);
    let forged = dir.path().join("forged.cast.zst");
    std::fs::write(&forged, cut_and_append(&signed, 1)).unwrap();

    let v = sessrec_output(&["verify", s(&forged), "--key", s(&key.public_path)]);
    let line = String::from_utf8_lossy(&v.stdout).into_owned();
    assert_eq!(v.status.code(), Some(3), "{line}");
    assert!(line.contains("truncated at 00:00:"), "{line}");
    assert!(
        line.contains("unsigned tail of 5.020 s (1 event)"),
        "{line}"
    );

    let c = sessrec_output(&["convert", s(&forged), "-", "--to", "raw"]);
    assert_eq!(c.status.code(), Some(3));
    assert!(!String::from_utf8_lossy(&c.stdout).contains("INVENTED"));
    assert!(
        stderr(&c).contains("left out the unsigned tail: 1 event (5.020 s)"),
        "{}",
        stderr(&c)
    );
    let k = sessrec_output(&[
        "convert",
        s(&forged),
        "-",
        "--to",
        "raw",
        "--keep-unsigned-tail",
    ]);
    assert!(String::from_utf8_lossy(&k.stdout).contains("INVENTED"));
    assert!(
        stderr(&k).contains("kept the unsigned tail"),
        "{}",
        stderr(&k)
    );

    // The last screen shows the invented line: play says it is in the unsigned tail.
    let d = sessrec_output(&["play", s(&forged), "--dump", "--key", s(&key.public_path)]);
    assert!(String::from_utf8_lossy(&d.stdout).contains("INVENTED"));
    assert_eq!(d.status.code(), Some(3), "{}", stderr(&d));
    assert!(
        stderr(&d).contains("the unsigned tail starts at"),
        "{}",
        stderr(&d)
    );
    // A moment before it is what was signed.
    let early = sessrec_output(&["play", s(&forged), "--dump", "--at", "0:01"]);
    assert!(
        !stderr(&early).contains("unsigned tail"),
        "{}",
        stderr(&early)
    );

    // A whole recording that no trusted key signed is no evidence either, however whole.
    let unsigned = dir.path().join("unsigned.cast.zst");
    let plain = dir.path().join("plain.cast");
    assert!(
        sessrec_output(&["convert", s(&signed), s(&plain)])
            .status
            .success()
    );
    assert!(
        sessrec_output(&["convert", s(&plain), s(&unsigned)])
            .status
            .success()
    );
    let d = sessrec_output(&["play", s(&unsigned), "--dump", "--key", s(&key.public_path)]);
    assert_eq!(d.status.code(), Some(5), "{}", stderr(&d));
    assert!(stderr(&d).contains("no signatures"), "{}", stderr(&d));
    let other = Key::at(&dir.path().join("other-key"));
    let d = sessrec_output(&["play", s(&signed), "--dump", "--key", s(&other.public_path)]);
    assert_eq!(d.status.code(), Some(6), "{}", stderr(&d));

    // The genuine recording has no tail at all.
    let d = sessrec_output(&["play", s(&signed), "--dump", "--key", s(&key.public_path)]);
    assert_eq!(d.status.code(), Some(0), "{}", stderr(&d));
}

fn in_tmux_the_unsigned_tail_is_marked_on_the_timeline_and_status_bar() {
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    let signed = signed_incident(dir.path(), &key);
    let forged = dir.path().join("forged.cast.zst");
    std::fs::write(&forged, cut_and_append(&signed, 1)).unwrap();
    let tmux = Tmux::start(100, 30);
    let cmd = format!(
        "{BIN} play {} --paused --no-cache --key {}; echo AFTER=$?",
        forged.display(),
        key.public_path.display()
    );
    tmux.keys(&[&cmd, "Enter"]);
    // At the start: the verdict, and where the tail begins.
    let s = tmux.wait_for("unsigned tail from");
    assert!(s.contains("truncated"), "{s}");
    assert!(
        s.contains('┤'),
        "the tail's start is marked on the timeline: {s}"
    );
    // At 90 %, inside the tail: said in the status bar while it is shown.
    tmux.keys(&["9"]);
    tmux.wait_for("UNSIGNED TAIL");
    tmux.keys(&["0"]);
    tmux.wait_for("unsigned tail from");
    tmux.keys(&["q"]);
    tmux.wait_for("AFTER=0");
}

/// Replaces the skippable frame at `at` with one holding `payload`.
fn with_payload(bytes: &[u8], at: usize, len: usize, payload: &[u8]) -> Vec<u8> {
    let mut out = bytes[..at + 4].to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&bytes[at + len..]);
    out
}

fn fields_added_to_records_are_alterations_and_older_files_still_verify() {
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    let signed = signed_incident(dir.path(), &key);
    let bytes = std::fs::read(&signed).unwrap();
    let verify = |bytes: &[u8], key: &Path| {
        let f = dir.path().join("t.cast.zst");
        std::fs::write(&f, bytes).unwrap();
        let v = sessrec_output(&["verify", s(&f), "--key", s(key)]);
        (
            v.status.code(),
            String::from_utf8_lossy(&v.stdout).into_owned(),
        )
    };
    let frames = skippable_frames(&bytes);
    // A field added to a checkpoint, then to the trailer (before its length and footer).
    let (at, len, _) = frames[0];
    let mut payload = b"{\"reviewed\":true,".to_vec();
    payload.extend_from_slice(&bytes[at + 9..at + len]);
    let (code, line) = verify(&with_payload(&bytes, at, len, &payload), &key.public_path);
    assert_eq!(code, Some(4), "{line}");
    assert!(line.contains("exact form"), "{line}");
    let (at, len, _) = *frames.last().unwrap();
    let record = &bytes[at + 8..at + len - 8];
    let mut payload = b"{\"complete\":true,".to_vec();
    payload.extend_from_slice(&record[1..]);
    payload.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    payload.extend_from_slice(b"SRT1");
    let (code, line) = verify(&with_payload(&bytes, at, len, &payload), &key.public_path);
    assert_eq!(code, Some(4), "{line}");

    // Recordings made before this format (kept as fixtures) verify, and say they are older.
    let old = crate::util::fixture("format1/signed.cast.zst");
    let old_key = crate::util::fixture("format1/signing.key.pub");
    let (code, line) = verify(&std::fs::read(&old).unwrap(), &old_key);
    assert_eq!(code, Some(0), "{line}");
    assert!(
        line.contains("container format 1, an older recording"),
        "{line}"
    );
    let old_bytes = std::fs::read(&old).unwrap();
    let (at, len, _) = skippable_frames(&old_bytes)[0];
    let mut payload = b"{\"reviewed\":true,".to_vec();
    payload.extend_from_slice(&old_bytes[at + 9..at + len]);
    let (code, line) = verify(&with_payload(&old_bytes, at, len, &payload), &old_key);
    assert_eq!(code, Some(4), "{line}");
}

/// An unsigned recording (anyone can write one) whose trailer says it stopped, with terminal
/// escapes and a bidi override as the reason: verify and info show them as visible escapes.
fn a_hostile_stop_reason_never_reaches_the_terminal() {
    use sessrec_formats::container::{ContainerWriter, Stopped, WriterOptions};
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    let signed = signed_incident(dir.path(), &key);
    let reader =
        sessrec_formats::open_path(&signed, &sessrec_formats::OpenOptions::default()).unwrap();
    let w =
        ContainerWriter::new(Vec::new(), reader.header(), None, WriterOptions::default()).unwrap();
    let bytes = w
        .finish_stopped(Stopped {
            at_ms: 1,
            reason: "\u{1b}]0;PWNED\u{7}\u{202e} evil".into(),
            session_continued: true,
        })
        .unwrap();
    let hostile = dir.path().join("hostile.cast.zst");
    std::fs::write(&hostile, bytes).unwrap();
    for args in [vec!["verify", s(&hostile)], vec!["info", s(&hostile)]] {
        let o = sessrec_output(&args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(out.contains("PWNED"), "{args:?}: {out}");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
            "{args:?}: {out:?}"
        );
    }
}
