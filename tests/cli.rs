//! End-to-end tests of the `sessrec` binary on the committed fixtures: convert, info, keygen,
//! verify, and the errors bad input gets.

use std::path::PathBuf;

use tempfile::TempDir;

use crate::util::harness::step;
use crate::util::{Req, s, sessrec, sessrec_output as run, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        converts_every_peer_fixture_to_the_exact_output_bytes,
        script_advanced_keeps_input_output_and_exit,
        stdin_to_stdout_and_format_detection,
        gzip_input_is_read => [Req::Tool("gzip")],
        transcript_is_plain_text_of_what_was_seen,
        keygen_sign_verify_and_every_verdict_exit_status,
        zstd_cli_decodes_the_container_into_plain_asciicast_v3 => [Req::Tool("zstd")],
        bad_input_gives_one_line_errors_and_nonzero_exits,
    ]
}

fn fixture(name: &str) -> PathBuf {
    crate::util::fixture(&format!("peers/{name}"))
}

fn converts_every_peer_fixture_to_the_exact_output_bytes() {
    let dir = TempDir::new().unwrap();
    for name in [
        "asciinema2-v2.cast",
        "asciinema3-v2.cast",
        "asciinema3-v3.cast",
        "ttyrec.ttyrec",
        "termrec.ttyrec",
        "tlog.json",
        "script-classic.ts",
    ] {
        let out = dir.path().join(format!("{name}.raw"));
        let o = run(&["convert", s(&fixture(name)), s(&out)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let expected = std::fs::read(fixture(&format!("{name}.expected.raw"))).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), expected, "{name}");
        // Through the signed container and back: still the same bytes.
        let zst = dir.path().join(format!("{name}.cast.zst"));
        assert!(
            run(&["convert", s(&fixture(name)), s(&zst)])
                .status
                .success()
        );
        let back = run(&["convert", s(&zst), "-", "--to", "raw"]);
        assert_eq!(back.stdout, expected, "{name} via .cast.zst");
    }
}

fn script_advanced_keeps_input_output_and_exit() {
    let o = run(&["info", "--json", s(&fixture("script-advanced.io"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["exit_status"], 3);
    assert_eq!(info["input_bytes"], 250);
    assert_eq!(info["output_bytes"], 6536);
    assert_eq!(info["term"]["cols"], 100);
}

fn stdin_to_stdout_and_format_detection() {
    let cast = std::fs::read(fixture("asciinema3-v3.cast")).unwrap();
    let v2 = sessrec()
        .args(["convert", "-", "-", "--to", "v2"])
        .write_stdin(cast)
        .output()
        .unwrap();
    assert!(v2.status.success());
    assert!(
        v2.stdout
            .starts_with(b"{\"version\":2,\"width\":100,\"height\":30")
    );
    let raw = sessrec()
        .args(["convert", "-", "-", "--to", "raw"])
        .write_stdin(v2.stdout)
        .output()
        .unwrap();
    assert_eq!(
        raw.stdout,
        std::fs::read(fixture("asciinema3-v3.cast.expected.raw")).unwrap()
    );
}

fn gzip_input_is_read() {
    let dir = TempDir::new().unwrap();
    let gz = dir.path().join("x.cast.gz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {}",
            s(&fixture("asciinema2-v2.cast")),
            s(&gz)
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let o = run(&["convert", s(&gz), "-", "--to", "raw"]);
    assert_eq!(
        o.stdout,
        std::fs::read(fixture("asciinema2-v2.cast.expected.raw")).unwrap()
    );
}

fn transcript_is_plain_text_of_what_was_seen() {
    let o = run(&[
        "convert",
        s(&fixture("asciinema3-v3.cast")),
        "-",
        "--to",
        "txt",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("hello sessrec"), "{text}");
    assert!(text.contains("日本語"));
    assert!(text.contains("\n500\n"));
    assert!(!text.contains('\x1b'));
}

fn keygen_sign_verify_and_every_verdict_exit_status() {
    let dir = TempDir::new().unwrap();
    let key = dir.path().join("host.key");
    let public = dir.path().join("host.key.pub");
    step(
        "keygen writes a private key only its owner reads, once",
        || {
            let o = run(&["keygen", "-o", s(&key)]);
            assert!(o.status.success(), "{}", stderr(&o));
            let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(!stdout.contains("PRIVATE"), "secret printed: {stdout}");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert!(
                !run(&["keygen", "-o", s(&key)]).status.success(),
                "keygen must not overwrite"
            );
        },
    );
    let other = dir.path().join("other.key");
    assert!(run(&["keygen", "-o", s(&other)]).status.success());

    let signed = dir.path().join("s.cast.zst");
    step(
        "signed: intact with the key, unknown without it or with another",
        || {
            assert!(
                run(&[
                    "convert",
                    s(&fixture("asciinema3-v3.cast")),
                    s(&signed),
                    "--sign-key",
                    s(&key)
                ])
                .status
                .success()
            );
            let v = run(&["verify", s(&signed), "--key", s(&public)]);
            assert_eq!(
                v.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&v.stdout)
            );
            assert!(String::from_utf8_lossy(&v.stdout).contains("intact and signed"));
            assert_eq!(run(&["verify", s(&signed)]).status.code(), Some(6));
            let wrong = dir.path().join("other.key.pub");
            assert_eq!(
                run(&["verify", s(&signed), "--key", s(&wrong)])
                    .status
                    .code(),
                Some(6)
            );
        },
    );

    let bytes = std::fs::read(&signed).unwrap();
    step(
        "cut: truncated (3), and convert reads up to the cut",
        || {
            // convert writes one frame for a file this small; a cut needs several, as a live
            // recording has them: the same events, signed with the same key, in small frames.
            let framed = crate::util::recording::small_frames(&signed, &key);
            assert!(
                framed.len() > 3000,
                "several frames: {} bytes",
                framed.len()
            );
            let cut = dir.path().join("cut.cast.zst");
            std::fs::write(&cut, &framed[..framed.len() * 2 / 3]).unwrap();
            let v = run(&["verify", s(&cut), "--key", s(&public)]);
            assert_eq!(v.status.code(), Some(3));
            let line = String::from_utf8_lossy(&v.stdout).into_owned();
            assert!(
                line.contains("truncated at 00:00:")
                    && line.contains("(after frame")
                    && line.contains("unsigned tail of"),
                "{line}"
            );
            // Reading a cut file converts everything a checkpoint covers and says so; the
            // unsigned tail after it only when asked for, and counted.
            let c = run(&["convert", s(&cut), "-", "--to", "raw"]);
            assert_eq!(c.status.code(), Some(3));
            assert!(stderr(&c).contains("cut at byte"));
            assert!(
                stderr(&c).contains("left out the unsigned tail"),
                "{}",
                stderr(&c)
            );
            let kept = run(&[
                "convert",
                s(&cut),
                "-",
                "--to",
                "raw",
                "--keep-unsigned-tail",
            ]);
            assert_eq!(kept.status.code(), Some(3));
            assert!(
                stderr(&kept).contains("kept the unsigned tail"),
                "{}",
                stderr(&kept)
            );
            assert!(kept.stdout.len() > c.stdout.len());
            assert!(kept.stdout.starts_with(&c.stdout));
        },
    );

    step("altered: 4, naming the frame", || {
        let mut altered = bytes.clone();
        altered[100] ^= 0x20;
        let alt = dir.path().join("alt.cast.zst");
        std::fs::write(&alt, altered).unwrap();
        let v = run(&["verify", s(&alt), "--key", s(&public)]);
        assert_eq!(v.status.code(), Some(4));
        assert!(String::from_utf8_lossy(&v.stdout).contains("altered at frame 0"));
    });

    step("unsigned: 5; --json: the verdict and exit status", || {
        let unsigned = dir.path().join("u.cast.zst");
        assert!(
            run(&["convert", s(&fixture("ttyrec.ttyrec")), s(&unsigned)])
                .status
                .success()
        );
        assert_eq!(
            run(&["verify", s(&unsigned), "--key", s(&public)])
                .status
                .code(),
            Some(5)
        );
        let json = run(&["verify", "--json", s(&signed), "--key", s(&public)]);
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(doc["verdict"], "intact");
        assert_eq!(doc["exit_status"], 0);
        // Not a container at all: still JSON, with the same verdict and status.
        let plain = fixture("asciinema3-v3.cast");
        let json = run(&["verify", "--json", s(&plain)]);
        assert_eq!(json.status.code(), Some(5));
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(doc["verdict"], "unsigned");
        assert_eq!(doc["exit_status"], 5);
    });
}

fn zstd_cli_decodes_the_container_into_plain_asciicast_v3() {
    let dir = TempDir::new().unwrap();
    let zst = dir.path().join("x.cast.zst");
    assert!(
        run(&["convert", s(&fixture("tlog.json")), s(&zst)])
            .status
            .success()
    );
    let plain = std::process::Command::new("zstd")
        .args(["-dc", s(&zst)])
        .output()
        .unwrap();
    assert!(plain.status.success());
    let first = plain.stdout.split(|&b| b == b'\n').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(first).unwrap();
    assert_eq!(header["version"], 3);
    assert!(header["sessrec"]["session_id"].is_string());
    // The plain file reads back to the same output.
    let o = sessrec()
        .args(["convert", "-", "-", "--to", "raw"])
        .write_stdin(plain.stdout)
        .output()
        .unwrap();
    assert_eq!(
        o.stdout,
        std::fs::read(fixture("tlog.json.expected.raw")).unwrap()
    );
}

fn bad_input_gives_one_line_errors_and_nonzero_exits() {
    let dir = TempDir::new().unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(
        &garbage,
        b"\x00\x01\x02 this is not a recording at all, sorry",
    )
    .unwrap();
    for (args, needle) in [
        (vec!["info", s(&garbage)], "unrecognised recording format"),
        (
            vec!["convert", "/nonexistent/x.cast", "-"],
            "cannot open /nonexistent/x.cast",
        ),
        (vec!["verify", s(&garbage)], ""),
        (
            vec!["convert", s(&fixture("script-classic.ts.tm")), "-"],
            "unrecognised",
        ),
    ] {
        let o = run(&args);
        assert!(!o.status.success(), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let o = run(&["verify", s(&garbage)]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("not a .cast.zst"));
    let o = run(&["convert", "--to", "mp4", "a", "b"]);
    assert_eq!(o.status.code(), Some(2));
    // A damaged line names its number, and no partial output file is left behind.
    let bad = dir.path().join("bad.cast");
    std::fs::write(&bad, "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"ok\"]\n[oops]\n[1.0, \"o\", \"x\"]\n").unwrap();
    let out = dir.path().join("out.cast");
    let o = run(&["convert", s(&bad), s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // An existing output is not replaced without --force.
    std::fs::write(&out, "keep").unwrap();
    let o = run(&["convert", s(&fixture("tlog.json")), s(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}
