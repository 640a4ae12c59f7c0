//! `sessrec play` end to end: in tmux (a real terminal emulator) it plays, seeks, searches and
//! quits with the pane restored; hostile recordings never reach tmux (no title, no clipboard);
//! `--dump` prints the screen at a moment; bad input gets one clear line and no panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::keys::Key;
use crate::util::tmux::Tmux;
use crate::util::{BIN, Req, sessrec, sessrec_output, sessrec_process};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        dump_prints_the_screen_at_a_moment,
        hostile_and_broken_recordings_give_clear_errors_and_never_escape,
        in_tmux_it_plays_seeks_searches_and_restores_the_pane => [Req::Tool("tmux")],
        in_tmux_a_hostile_recording_cannot_set_the_title_or_the_clipboard => [Req::Tool("tmux")],
        the_index_is_cached_reused_and_rebuilt_when_it_is_damaged_or_stale,
        in_tmux_follow_shows_a_session_while_it_is_recorded => [Req::Tool("tmux")],
        plays_other_recorders_files_and_gzip_and_v1 => [Req::Tool("gzip")],
        crash_fixtures_never_crash_the_player,
    ]
}

/// An asciicast v2 recording of an incident, 80×24.
fn incident(dir: &Path) -> PathBuf {
    let lines = [
        r#"{"version": 2, "width": 80, "height": 24, "timestamp": 1795255200, "title": "incident"}"#,
        r#"[0.0, "o", "\u001b[1;32malice@db-1\u001b[0m:~$ "]"#,
        r#"[2.0, "i", "kubectl get pods\r"]"#,
        r#"[2.1, "o", "kubectl get pods\r\nNAME      READY\r\napi-7f9   1/1\r\nalice@db-1:~$ "]"#,
        r#"[20.0, "m", "incident starts"]"#,
        r#"[30.0, "i", "kubectl delete pod api-7f9\r"]"#,
        r#"[30.1, "o", "kubectl delete pod api-7f9\r\npod \"api-7f9\" deleted\r\nalice@db-1:~$ "]"#,
        r#"[40.0, "o", "exit\r\n"]"#,
    ];
    let path = dir.join("incident.cast");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// A recording that tries to reach the reviewer's terminal: title, clipboard (OSC 52), status
/// queries, a reset, hyperlinks, absurd parameters.
fn hostile(dir: &Path) -> PathBuf {
    let evil = [
        r"\u001b]0;PWNED-TITLE\u0007",
        r"\u001b]2;PWNED-TITLE\u001b\\",
        r"\u001b]52;c;UFdORUQtQ0xJUA==\u0007",
        r"\u001b[6n\u001b[c\u001b[>c\u001bP$qm\u001b\\",
        r"\u001b]8;;https://evil.example/\u0007link\u001b]8;;\u0007",
        r"\u001b[99999999999999999999;99999999999999999999H",
        r"\u001b[1;999999999r\u001b[?1049h\u001b[?1049l",
        r"\u001bc",
        r"after the attack\r\n",
    ];
    let mut lines = vec![r#"{"version": 2, "width": 80, "height": 24}"#.to_string()];
    for (i, e) in evil.iter().enumerate() {
        lines.push(format!(r#"[{}.0, "o", "{e}"]"#, i));
    }
    let path = dir.join("hostile.cast");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dump_prints_the_screen_at_a_moment() {
    let dir = TempDir::new().unwrap();
    let cast = incident(dir.path());
    let f = cast.to_str().unwrap();
    let at_10 = sessrec_output(&["play", f, "--dump", "--at", "10s"]);
    assert!(at_10.status.success());
    assert!(text(&at_10).contains("api-7f9   1/1"), "{}", text(&at_10));
    assert!(!text(&at_10).contains("deleted"));
    let end = sessrec_output(&["play", f, "--dump"]);
    assert!(
        text(&end).contains("pod \"api-7f9\" deleted"),
        "{}",
        text(&end)
    );
    // By wall-clock time (UTC): the recording starts 2026-11-21T10:00:00Z.
    let by_clock = sessrec_output(&["play", f, "--dump", "--at", "2026-11-21T10:00:31Z"]);
    assert!(text(&by_clock).contains("deleted"), "{}", text(&by_clock));
    let ansi = sessrec_output(&["play", f, "--dump", "--ansi", "--at", "1"]);
    assert!(
        text(&ansi).starts_with("\x1b[0;1;38;5;2malice@db-1\x1b[0m"),
        "{:?}",
        text(&ansi)
    );
}

fn hostile_and_broken_recordings_give_clear_errors_and_never_escape() {
    let dir = TempDir::new().unwrap();
    let h = hostile(dir.path());
    let dumped = sessrec_output(&["play", h.to_str().unwrap(), "--dump", "--ansi"]);
    assert!(dumped.status.success());
    let out = text(&dumped);
    assert!(out.contains("after the attack"), "{out:?}");
    for bad in [
        "PWNED",
        "\x1b]",
        "\x1b[6n",
        "\x1bP",
        "\x1bc",
        "evil.example",
    ] {
        assert!(!out.contains(bad), "{bad:?} reached the output: {out:?}");
    }
    // A header and a resize asking for absurd sizes are clipped, not allocated (60000×60000
    // cells would exhaust the reviewer's memory); the transcript export clips them too.
    let huge = dir.path().join("huge.cast");
    std::fs::write(
        &huge,
        "{\"version\": 2, \"width\": 60000, \"height\": 60000}\n[0.1, \"o\", \"big\"]\n[0.2, \"r\", \"65000x65000\"]\n",
    )
    .unwrap();
    let o = sessrec_output(&["play", huge.to_str().unwrap(), "--dump", "--no-cache"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text(&o).starts_with("big\n"));
    let txt = dir.path().join("huge.txt");
    let o = sessrec_output(&["convert", huge.to_str().unwrap(), txt.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&txt).unwrap().starts_with("big"));
    // A truncated .cast.zst plays as far as it goes, and says so.
    let key = Key::in_dir(dir.path());
    let rec = dir.path().join("rec.cast.zst");
    let made = sessrec()
        .args(["rec", "-q", "-o", rec.to_str().unwrap(), "--sign-key", key.arg()])
        .args(["--", "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done; printf '\\377\\376 bad utf-8\\n'"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let whole = std::fs::read(&rec).unwrap();
    let full = sessrec_output(&["play", rec.to_str().unwrap(), "--dump"]);
    assert!(
        text(&full).contains("\u{FFFD}\u{FFFD} bad utf-8"),
        "{}",
        text(&full)
    );
    let cut = dir.path().join("cut.cast.zst");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let o = sessrec_output(&["play", cut.to_str().unwrap(), "--dump"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(matches!(o.status.code(), Some(0) | Some(3)), "{err}");
    // Not a recording at all; a missing file; a bad flag.
    let junk = dir.path().join("junk.cast");
    std::fs::write(&junk, b"\x00\x01garbage").unwrap();
    for args in [
        vec!["play", junk.to_str().unwrap(), "--dump"],
        vec!["play", "/nonexistent/x.cast", "--dump"],
        vec!["play", h.to_str().unwrap(), "--dump", "--at", "yesterday"],
        vec!["play", h.to_str().unwrap(), "--ansi"],
    ] {
        let o = sessrec_output(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("sessrec: error:"), "{err}");
    }
}

fn in_tmux_it_plays_seeks_searches_and_restores_the_pane() {
    let tmux = Tmux::start(100, 30);
    let dir = TempDir::new().unwrap();
    let cast = incident(dir.path());
    tmux.keys(&["printf 'BEFORE\\n'", "Enter"]);
    tmux.wait_for("BEFORE");
    let cmd = format!("{BIN} play {} --paused; echo AFTER=$?", cast.display());
    tmux.keys(&[&cmd, "Enter"]);
    tmux.wait_for("? help");
    // Seek to 50 % (20 s): the listing is there, the delete is not.
    tmux.keys(&["5"]);
    let s = tmux.wait_for("0:20 / 0:40");
    assert!(s.contains("api-7f9   1/1") && !s.contains("deleted"), "{s}");
    // Search what was typed.
    tmux.keys(&["/", "kubectl delete", "Enter"]);
    let s = tmux.wait_for("match 1 of");
    assert!(s.contains("0:30 / 0:40"), "{s}");
    // Next marker from the start.
    tmux.keys(&["0", "]"]);
    tmux.wait_for("incident starts");
    tmux.keys(&["q"]);
    let s = tmux.wait_for("AFTER=0");
    assert!(s.contains("BEFORE"), "the shell's screen is back: {s}");
    assert!(!s.contains("? help"), "the player is gone: {s}");
}

fn in_tmux_a_hostile_recording_cannot_set_the_title_or_the_clipboard() {
    let tmux = Tmux::start(100, 30);
    let dir = TempDir::new().unwrap();
    let h = hostile(dir.path());
    let title_before = tmux.run(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    let cmd = format!("{BIN} play {}; echo AFTER=$?", h.display());
    tmux.keys(&[&cmd, "Enter"]);
    tmux.wait_for("after the attack");
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["q"]);
    tmux.wait_for("AFTER=0");
    let title = tmux.run(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    assert_eq!(title, title_before, "the title was not changed");
    assert!(!title.contains("PWNED"));
    let buffers = tmux.run(&["list-buffers"]);
    assert!(!buffers.contains("PWNED"), "no clipboard write: {buffers}");
}

fn the_index_is_cached_reused_and_rebuilt_when_it_is_damaged_or_stale() {
    let dir = TempDir::new().unwrap();
    let cast = incident(dir.path());
    let cache = dir.path().join("cache");
    let dump = |extra: &[&str]| {
        let o = sessrec()
            .args(["play", cast.to_str().unwrap(), "--dump", "--at", "10s"])
            .args(extra)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        text(&o)
    };
    let first = dump(&[]);
    let index_dir = cache.join("sessrec/index");
    let indexes = || -> Vec<PathBuf> {
        std::fs::read_dir(&index_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    assert_eq!(indexes().len(), 1, "saved after the first play");
    assert_eq!(dump(&[]), first, "the cached index gives the same screen");
    // A damaged cache file is ignored and replaced.
    std::fs::write(&indexes()[0], b"sessrec-index-1\ngarbage").unwrap();
    assert_eq!(dump(&[]), first);
    assert!(std::fs::read(&indexes()[0]).unwrap().len() > 100, "rebuilt");
    // A changed recording gets its own index, never the old one.
    let mut text_now = std::fs::read_to_string(&cast).unwrap();
    text_now.push_str("[41.0, \"o\", \"\\r\\nappended later\"]\n");
    std::fs::write(&cast, text_now).unwrap();
    let o = sessrec()
        .args(["play", cast.to_str().unwrap(), "--dump"])
        .env("XDG_CACHE_HOME", &cache)
        .output()
        .unwrap();
    assert!(text(&o).contains("appended later"), "{}", text(&o));
    assert_eq!(indexes().len(), 2);
    // --no-cache neither reads nor writes it.
    std::fs::remove_dir_all(&index_dir).unwrap();
    dump(&["--no-cache"]);
    assert!(indexes().is_empty());
}

fn in_tmux_follow_shows_a_session_while_it_is_recorded() {
    let tmux = Tmux::start(100, 30);
    let dir = TempDir::new().unwrap();
    let live = dir.path().join("live.cast.zst");
    let mut recorder = sessrec_process()
        .args(["rec", "-q", "-o", live.to_str().unwrap(), "--"])
        .args([
            "sh",
            "-c",
            "i=0; while [ $i -lt 20 ]; do printf 'tick %d\\r\\n' $i; i=$((i+1)); sleep 0.3; done",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the recorder has written something.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&live).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the recorder wrote nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cmd = format!("{BIN} play --follow {}; echo AFTER=$?", live.display());
    tmux.keys(&[&cmd, "Enter"]);
    tmux.wait_for("● live");
    // Ticks appear while it is still recorded.
    tmux.wait_for("tick 8");
    assert!(recorder.try_wait().unwrap().is_none(), "still recording");
    recorder.wait().unwrap();
    tmux.wait_for("tick 19");
    // The recorder is gone: following ends, the player stays on the last screen, and the
    // recording is verified.
    let s = tmux.wait_until("following to end", |s| !s.contains("● live"));
    assert!(s.contains("tick 19"), "{s}");
    tmux.wait_for("unsigned");
    tmux.keys(&["q"]);
    tmux.wait_for("AFTER=0");
}

/// The peers' recordings (asciicast v2 and v3 from asciinema 2 and 3), gzipped, and asciicast
/// v1: the final screen is the one their recorded output gives on a terminal of their size.
fn plays_other_recorders_files_and_gzip_and_v1() {
    let fixtures = crate::util::fixture("peers");
    let dir = TempDir::new().unwrap();
    for name in [
        "asciinema2-v2.cast",
        "asciinema3-v2.cast",
        "asciinema3-v3.cast",
    ] {
        let file = fixtures.join(name);
        let raw = std::fs::read(fixtures.join(format!("{name}.expected.raw"))).unwrap();
        let mut want = sessrec_player::VirtualTerminal::new(100, 30);
        want.apply(&sessrec_formats::EventData::Output(raw));
        let o = sessrec_output(&["play", file.to_str().unwrap(), "--dump", "--no-cache"]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(text(&o), want.text(), "{name}");
        // The same, gzipped.
        let gz = dir.path().join(format!("{name}.gz"));
        let zipped = Command::new("gzip").arg("-c").arg(&file).output().unwrap();
        std::fs::write(&gz, zipped.stdout).unwrap();
        let o = sessrec_output(&["play", gz.to_str().unwrap(), "--dump", "--no-cache"]);
        assert_eq!(text(&o), want.text(), "{name}.gz");
    }
    let v1 = dir.path().join("v1.json");
    std::fs::write(
        &v1,
        r#"{"version": 1, "width": 20, "height": 3, "duration": 2.0, "stdout": [[0.5, "one\r\n"], [1.5, "\u001b[1mtwo\u001b[0m"]]}"#,
    )
    .unwrap();
    let o = sessrec_output(&[
        "play",
        v1.to_str().unwrap(),
        "--dump",
        "--at",
        "1s",
        "--no-cache",
    ]);
    assert_eq!(text(&o), "one\n\n\n");
    let o = sessrec_output(&["play", v1.to_str().unwrap(), "--dump", "--no-cache"]);
    assert_eq!(text(&o), "one\ntwo\n\n");
}

/// The committed crash fixtures (absurd JSON nesting, hostile values, huge lengths, damaged
/// zstd): each gets an answer and an exit status, never a panic or a hang.
fn crash_fixtures_never_crash_the_player() {
    let dir = crate::util::fixture("crashers");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let o = sessrec_output(&["play", path.to_str().unwrap(), "--dump", "--no-cache"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{}: {err}", path.display());
        assert!(
            matches!(o.status.code(), Some(0 | 1 | 3)),
            "{}: {:?} {err}",
            path.display(),
            o.status
        );
        if o.status.code() == Some(1) {
            assert_eq!(err.trim().lines().count(), 1, "{}: {err}", path.display());
        }
    }
}
