//! Text a recorded user or a store writer controls (a command line, `TERM`, user, host and
//! grant names, key ids, manifest fields, spool file names, policy paths) printed by every
//! command that shows it: through a real terminal (tmux), it shows escaped, and the reviewer's
//! title, clipboard and the lines sessrec printed are unchanged. Also: a closed pipe is a
//! normal end (`sessrec ls | head -1`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use sessrec_formats::container::{ContainerWriter, WriterOptions};
use sessrec_formats::keys::SigningKey;
use sessrec_formats::{Event, EventData, Header, SessrecMeta};
use tempfile::TempDir;

use crate::util::config::Config;
use crate::util::harness::step;
use crate::util::term::Term;
use crate::util::tmux::Tmux;
use crate::util::{BIN, Req, s, sessrec_process};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        every_command_shows_hostile_text_escaped_in_a_real_terminal => [Req::Tool("tmux")],
        a_closed_pipe_ends_ls_and_info_normally,
        ls_piped_into_head_exits_0 => [Req::Tool("bash"), Req::Tool("head")],
        raw_bytes_are_never_written_to_a_terminal,
    ]
}

/// Sets the title (OSC 0), writes the clipboard (OSC 52), then returns to the start of the line
/// and erases it to print a fake verdict, behind a bidi override and a zero-width space.
const HOSTILE: &str =
    "\x1b]0;PWNED-TITLE\x07\x1b]52;c;UFdORUQtQ0xJUA==\x07\r\x1b[2Kintact \u{202E}gnp.exe\u{200B}";
/// The same without `/`, for file names.
const HOSTILE_NAME: &str =
    "\x1b]0;PWNED-TITLE\x07\x1b]52;c;UFdORUQtQ0xJUA==\x07\r\x1b[2Kintact \u{202E}x";
/// How [`HOSTILE`]'s start looks once escaped.
const SHOWN: &str = "\\x1b]0;PWNED-TITLE\\x07\\x1b]52;c;UFdORUQtQ0xJUA==\\x07\\x0d\\x1b[2Kintact";

/// A signed recording whose every header field a user could influence is [`HOSTILE`].
/// Signed by a key of its own, which no reviewer trusts.
fn hostile_recording(path: &Path) {
    let key = SigningKey::generate().unwrap();
    let mut h = Header::new(80, 24);
    h.term_type = Some(HOSTILE.into());
    h.command = Some(HOSTILE.into());
    h.timestamp = Some(1_795_726_591);
    h.sessrec = Some(SessrecMeta {
        format: 1,
        session_id: "01a219c2-66b2-7139-aa10-2da86ce065b8".into(),
        host: Some(HOSTILE.into()),
        identity: Some(json!({"user": HOSTILE})),
        grant: Some(json!({"id": HOSTILE})),
        ..SessrecMeta::default()
    });
    let file = std::fs::File::create(path).unwrap();
    let mut w = ContainerWriter::new(file, &h, Some(key), WriterOptions::default()).unwrap();
    let events = [
        Event::output(0, format!("ls {HOSTILE}\r\n")),
        Event {
            time: 1000,
            data: EventData::Marker(HOSTILE.into()),
        },
    ];
    for e in &events {
        w.write_event(e).unwrap();
    }
    w.finish(Some(0)).unwrap();
}

/// A file:// store holding `n` manifests whose fields are [`HOSTILE`].
fn hostile_store(dir: &Path, n: usize) -> PathBuf {
    let store = dir.join("store");
    let day = store.join("sessions/2026/11/26/h/u");
    std::fs::create_dir_all(&day).unwrap();
    for i in 0..n {
        let id = format!("01a219c2-66b2-7139-aa10-{i:012}");
        let m = json!({
            "manifest": 1, "session_id": format!("{id}{HOSTILE}"), "key": format!("sessions/x/{id}.cast.zst"),
            "host": HOSTILE, "user": HOSTILE, "grant": HOSTILE, "start": "2026-11-26T10:00:00Z",
            "duration_ms": 1000, "size": 1, "sha256": "00", "verdict": HOSTILE, "key_id": HOSTILE,
            "identity": null, "grant_detail": null, "uploaded": "2026-11-26T10:00:01Z",
        });
        std::fs::write(day.join(format!("{id}.manifest.json")), m.to_string()).unwrap();
    }
    store
}

fn every_command_shows_hostile_text_escaped_in_a_real_terminal() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let recording = d.join("r.cast.zst");
    hostile_recording(&recording);
    // A file name with the attack in it, as `verify *.cast.zst` in a writable directory meets.
    let named = d.join("names");
    std::fs::create_dir(&named).unwrap();
    std::fs::copy(&recording, named.join(format!("{HOSTILE_NAME}.cast.zst"))).unwrap();
    let store = hostile_store(d, 3);
    let spool = d.join("spool");
    std::fs::create_dir(&spool).unwrap();
    std::fs::copy(&recording, spool.join(format!("{HOSTILE_NAME}.cast.zst"))).unwrap();
    let config = d.join("config.toml");
    Config::new(d)
        .path("spool", &spool)
        .storage(&format!("file://{}", d.join("probe-store").display()))
        .write(&config);
    let bad_policy = d.join("bad-policy.toml");
    Config::new(d)
        .set("spool", format!("{}/{HOSTILE_NAME}", d.display()))
        .storage(&format!("file://{}", d.join("probe-store").display()))
        .write(&bad_policy);
    // Not a recording: the error message names it.
    let garbage = d.join("garbage");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(
        garbage.join(format!("{HOSTILE_NAME}.bin")),
        "not a recording",
    )
    .unwrap();
    let catalog = d.join("catalog.sqlite");
    let (r, c, b) = (s(&recording), s(&config), s(&bad_policy));
    let commands = [
        ("info", format!("{BIN} info {r}")),
        ("verify", format!("{BIN} verify {}/*.cast.zst", s(&named))),
        (
            "ls",
            format!(
                "{BIN} ls --store file://{} --catalog {}",
                s(&store),
                s(&catalog)
            ),
        ),
        (
            "upload --status",
            format!("{BIN} upload --status --config {c}"),
        ),
        ("doctor", format!("{BIN} doctor --config {b}")),
        (
            "an error message",
            format!("{BIN} info {}/*.bin", s(&garbage)),
        ),
        ("a transcript", format!("{BIN} convert {r} - --to txt")),
    ];
    let tmux = Tmux::start(200, 50);
    let title = || tmux.run(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    let title_before = title();
    for (i, (what, line)) in commands.iter().enumerate() {
        step(what, || {
            let pane = run_in(&tmux, &format!("STEP-{i}"), line);
            assert!(
                pane.contains(SHOWN) || pane.contains("\\u{202e}"),
                "{what} shows the attack escaped:\n{pane}"
            );
            assert!(
                !pane.contains('\u{202E}'),
                "{what}: a raw bidi override:\n{pane}"
            );
            assert_eq!(title(), title_before, "{what} changed the title");
            let buffers = tmux.run(&["list-buffers"]);
            assert!(
                !buffers.contains("PWNED"),
                "{what} wrote the clipboard: {buffers}"
            );
        });
    }
    step("the verdict line is whole", || {
        let line = format!("{BIN} verify {}/*.cast.zst", s(&named));
        let pane = run_in(&tmux, "VERIFY", &line);
        assert!(
            pane.lines()
                .any(|l| l.contains(SHOWN) && l.contains(": signed by untrusted key")),
            "the name and the verdict on one line:\n{pane}"
        );
    });
    step(
        "the same bytes printed raw do reach tmux (the checks can fail)",
        || {
            let raw = d.join("raw");
            std::fs::write(&raw, HOSTILE).unwrap();
            tmux.keys(&[&format!("cat {}; echo; echo RAW-DONE", s(&raw)), "Enter"]);
            tmux.wait_for("RAW-DONE");
            let changed = tmux.wait_until("the title to change", |_| title().contains("PWNED"));
            assert!(!changed.is_empty());
        },
    );
}

/// Runs the shell line `line` in the tmux pane; what it printed (wrapped lines joined).
fn run_in(tmux: &Tmux, tag: &str, line: &str) -> String {
    let (start, done) = (format!("{tag}-START"), format!("{tag}-DONE"));
    tmux.keys(&[&format!("echo {start}; {line} 2>&1; echo {done}"), "Enter"]);
    tmux.wait_until(&done, |p| p.lines().any(|l| l.trim() == done));
    let all = tmux.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
    let lines: Vec<&str> = all.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.trim() == start)
        .expect("the start mark");
    let to = lines
        .iter()
        .rposition(|l| l.trim() == done)
        .expect("the end mark");
    lines[from + 1..to].join("\n")
}

/// Runs `sessrec ARGS` with its standard output a pipe whose reader is already gone.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    sessrec_process()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn a_closed_pipe_ends_ls_and_info_normally() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let recording = d.join("r.cast.zst");
    hostile_recording(&recording);
    let store = hostile_store(d, 2);
    let store_url = format!("file://{}", s(&store));
    let catalog = d.join("catalog.sqlite");
    for args in [
        vec!["info", s(&recording)],
        vec!["verify", s(&recording)],
        vec!["ls", "--store", &store_url, "--catalog", s(&catalog)],
        vec![
            "ls",
            "--json",
            "--store",
            &store_url,
            "--catalog",
            s(&catalog),
        ],
    ] {
        let o = into_closed_pipe(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // verify's own status (untrusted key: 6) is kept; the others succeed.
        let expected = if args[0] == "verify" { 6 } else { 0 };
        assert_eq!(o.status.code(), Some(expected), "{args:?}: {err}");
    }
}

fn ls_piped_into_head_exits_0() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // Far more than a pipe holds, so sessrec is still writing when head leaves.
    let store = hostile_store(d, 3000);
    let line = format!(
        "{BIN} ls --store file://{} --catalog {}/c.sqlite | head -1; echo \"LS=${{PIPESTATUS[0]}}\" >&2",
        s(&store),
        s(d)
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &line])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(first.starts_with("SESSION"), "{first}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("LS=0"), "{err}");
}

fn raw_bytes_are_never_written_to_a_terminal() {
    let dir = TempDir::new().unwrap();
    let recording = dir.path().join("r.cast.zst");
    hostile_recording(&recording);
    let mut term = Term::spawn(
        std::path::Path::new(BIN),
        &["convert", s(&recording), "-", "--to", "raw"],
        80,
        24,
        &[],
    );
    let status = term.wait(Duration::from_secs(30));
    let shown = String::from_utf8_lossy(&term.output()).into_owned();
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("refusing to write the raw recorded bytes to a terminal"),
        "{shown}"
    );
    assert!(!shown.contains("PWNED"), "{shown}");
    // Into a file (or a pipe) they are written as recorded.
    let raw = dir.path().join("out.raw");
    let o = sessrec_process()
        .args(["convert", s(&recording), s(&raw)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).contains("\x1b]0;PWNED"));
}
