//! `sessrec rec` on a real PTY: what is typed and seen is recorded, secrets are not, the window
//! size follows, exit statuses come back, and every way out seals the recording and restores
//! the terminal.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Term, input_text, markers, output_bytes};
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::SigningKey;
use sessrec_formats::{Event, EventData, OpenOptions, open_path};
use tempfile::TempDir;

const T: Duration = Duration::from_secs(30);

struct Setup {
    dir: TempDir,
    key: PathBuf,
    public: sessrec_formats::keys::PublicKey,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let key = SigningKey::generate().unwrap();
    let path = dir.path().join("k");
    std::fs::write(&path, key.to_pem().unwrap()).unwrap();
    Setup {
        public: key.public(),
        dir,
        key: path,
    }
}

impl Setup {
    fn rec(&self, name: &str, cmd: &[&str], cols: u16, rows: u16) -> (Term, PathBuf) {
        let out = self.dir.path().join(name);
        let mut args = vec![
            "rec",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--sign-key",
            self.key.to_str().unwrap(),
            "--",
        ];
        args.extend_from_slice(cmd);
        (
            Term::spawn(
                Path::new(env!("CARGO_BIN_EXE_sessrec")),
                &args,
                cols,
                rows,
                &[],
            ),
            out,
        )
    }

    fn verified_events(&self, path: &Path) -> Vec<Event> {
        let report = verify(
            std::fs::File::open(path).unwrap(),
            vec![self.public.clone()],
        )
        .unwrap();
        assert_eq!(report.verdict, Verdict::Intact, "{report:?}");
        open_path(path, &OpenOptions::default())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

const BASH: &[&str] = &["env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i"];

#[test]
fn typed_input_and_output_are_recorded_with_timing_and_exit_status() {
    let s = setup();
    let (mut t, out) = s.rec("typed.cast.zst", BASH, 100, 30);
    t.wait_for("$ ", T);
    t.type_slowly("echo hel");
    std::thread::sleep(Duration::from_millis(300));
    t.type_slowly("lo $((6*7))\r");
    t.wait_for("hello 42", T);
    t.type_slowly("exit 3\r");
    assert_eq!(t.wait(T).code(), Some(3));
    let events = s.verified_events(&out);
    assert!(
        input_text(&events).contains("echo hello $((6*7))\r"),
        "{:?}",
        input_text(&events)
    );
    assert!(String::from_utf8_lossy(&output_bytes(&events)).contains("hello 42"));
    assert_eq!(events.last().map(|e| &e.data), Some(&EventData::Exit(3)));
    // Keystrokes keep their timing: the pause after "echo hel" is in the recording.
    let times: Vec<u64> = events
        .iter()
        .filter(|e| matches!(e.data, EventData::Input(_)))
        .map(|e| e.time)
        .collect();
    assert!(
        times.windows(2).any(|w| w[1] - w[0] >= 250_000),
        "{times:?}"
    );
    // The user's terminal saw exactly what was recorded.
    assert_eq!(output_bytes(&events), t.output());
}

#[test]
fn passwords_at_prompts_never_reach_the_recording() {
    let s = setup();
    let (mut t, out) = s.rec("secret.cast.zst", BASH, 100, 30);
    t.wait_for("$ ", T);
    t.type_slowly("read -s -p 'Password: ' pw; echo \"got ${#pw}\"\r");
    t.wait_for("Password: ", T);
    t.type_slowly("hunter2\r");
    t.wait_for("got 7", T);
    // A prompt read with echo on (no -s): withheld after the prompt, until Enter.
    t.type_slowly("read -p 'PIN: ' pin; echo \"pin ${#pin}\"\r");
    t.wait_for("PIN: ", T);
    t.type_slowly("918273\r");
    t.wait_for("pin 6", T);
    t.type_slowly("echo after\r");
    t.wait_for("after\r\n", T);
    t.type_slowly("exit\r");
    assert_eq!(t.wait(T).code(), Some(0));
    let events = s.verified_events(&out);
    let raw = std::fs::read(&out).unwrap();
    let typed = input_text(&events);
    assert!(
        !typed.contains("hunter2") && !typed.contains("918273"),
        "{typed:?}"
    );
    assert!(typed.contains("echo after\r"), "{typed:?}");
    let m = markers(&events);
    assert!(
        m.iter()
            .any(|m| m.starts_with("input withheld: 8 keystrokes") && m.ends_with("(echo off)")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|m| m.starts_with("input withheld: 7 keystrokes")
                && m.ends_with("(password prompt)")),
        "{m:?}"
    );
    // Not in the compressed file either (the whole plain text, decompressed).
    let text = String::from_utf8_lossy(&zstd_decode(&raw)).into_owned();
    assert!(!text.contains("hunter2") && !text.contains("918273"));
}

fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("zstd -dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn window_size_changes_reach_the_shell_and_the_recording() {
    let s = setup();
    let (mut t, out) = s.rec("resize.cast.zst", BASH, 80, 24);
    t.wait_for("$ ", T);
    t.type_slowly("stty size\r");
    t.wait_for("24 80", T);
    t.resize(132, 43);
    std::thread::sleep(Duration::from_millis(300));
    t.type_slowly("stty size\r");
    t.wait_for("43 132", T);
    t.type_slowly("exit\r");
    t.wait(T);
    let events = s.verified_events(&out);
    assert!(events.iter().any(|e| e.data
        == EventData::Resize {
            cols: 132,
            rows: 43
        }));
    let header = open_path(&out, &OpenOptions::default())
        .unwrap()
        .header()
        .clone();
    assert_eq!((header.cols, header.rows), (80, 24));
}

#[test]
fn exit_statuses_and_signal_deaths_come_back() {
    let s = setup();
    for (cmd, code) in [("exit 42", 42), ("kill -SEGV $$", 139), ("true", 0)] {
        let (mut t, out) = s.rec("exit.cast.zst", &["sh", "-c", cmd], 80, 24);
        assert_eq!(t.wait(T).code(), Some(code), "{cmd}");
        let events = s.verified_events(&out);
        assert_eq!(events.last().map(|e| &e.data), Some(&EventData::Exit(code)));
        std::fs::remove_file(out).unwrap();
    }
}

#[test]
fn sighup_and_sigterm_seal_the_recording_and_restore_the_terminal() {
    let s = setup();
    for sig in [
        nix::sys::signal::Signal::SIGHUP,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let (mut t, out) = s.rec("hup.cast.zst", BASH, 80, 24);
        t.wait_for("$ ", T);
        assert_eq!(
            t.local_modes(),
            (false, false),
            "raw mode during the session"
        );
        t.type_slowly("echo before-signal; sleep 100\r");
        t.wait_for("before-signal\r\n", T);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(t.pid()), sig).unwrap();
        let status = t.wait(T);
        assert!(
            status.code().is_some(),
            "{sig}: sessrec exits by itself, it is not killed"
        );
        assert_eq!(t.local_modes(), (true, true), "{sig}: terminal restored");
        let events = s.verified_events(&out);
        assert!(String::from_utf8_lossy(&output_bytes(&events)).contains("before-signal"));
        std::fs::remove_file(out).unwrap();
    }
}

#[test]
fn a_background_process_holding_the_pty_does_not_hang_the_exit() {
    let s = setup();
    let (mut t, out) = s.rec(
        "bg.cast.zst",
        &["sh", "-c", "sleep 60 & echo started; exit 5"],
        80,
        24,
    );
    let start = std::time::Instant::now();
    assert_eq!(t.wait(T).code(), Some(5));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "exit took {:?}",
        start.elapsed()
    );
    s.verified_events(&out);
}

#[test]
fn bulk_and_binary_output_is_recorded_byte_for_byte() {
    let s = setup();
    let (mut t, out) = s.rec(
        "bulk.cast.zst",
        &[
            "sh",
            "-c",
            "head -c 100000000 /dev/urandom; seq 1 200000; printf '\\377\\376 end\\n'",
        ],
        120,
        40,
    );
    assert_eq!(t.wait(Duration::from_secs(120)).code(), Some(0));
    let events = s.verified_events(&out);
    let recorded = output_bytes(&events);
    let seen = t.output();
    assert!(seen.len() > 100_000_000);
    assert!(
        recorded == seen,
        "recorded {} bytes, terminal saw {}",
        recorded.len(),
        seen.len()
    );
}

#[test]
fn a_nested_session_records_too_and_names_its_parent() {
    let s = setup();
    let inner = s.dir.path().join("inner.cast.zst");
    let bin = env!("CARGO_BIN_EXE_sessrec");
    let (mut t, outer) = s.rec(
        "outer.cast.zst",
        &[
            bin,
            "rec",
            "-q",
            "-o",
            inner.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo nested-output",
        ],
        80,
        24,
    );
    assert_eq!(t.wait(T).code(), Some(0));
    let outer_id = open_path(&outer, &OpenOptions::default())
        .unwrap()
        .header()
        .session_id()
        .unwrap()
        .to_string();
    let r = open_path(&inner, &OpenOptions::default()).unwrap();
    let meta = r.header().sessrec.clone().unwrap();
    assert_eq!(
        meta.other.get("parent_session").and_then(|v| v.as_str()),
        Some(outer_id.as_str())
    );
    assert!(
        String::from_utf8_lossy(&output_bytes(&s.verified_events(&outer)))
            .contains("nested-output")
    );
}

#[test]
fn a_full_disk_ends_the_session_and_says_so() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to mount a small tmpfs");
        return;
    }
    let s = setup();
    let disk = s.dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    // 50 MB of random output into a 2 MiB disk: the recording is sealed before the disk is
    // full, so it verifies as complete, and the session ends.
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs {d} && {bin} rec -q -o {d}/r.cast.zst -- sh -c 'head -c 50000000 /dev/urandom; sleep 30'; \
         echo session-rc=$?; {bin} verify {d}/r.cast.zst; echo verify-rc=$?",
        d = disk.display(),
        bin = env!("CARGO_BIN_EXE_sessrec")
    );
    let mut t = Term::spawn(
        Path::new("/usr/bin/unshare"),
        &["-m", "sh", "-c", &script],
        80,
        24,
        &[],
    );
    let started = std::time::Instant::now();
    t.wait_for("verify-rc=", T);
    t.wait(T);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended at once, not after the command"
    );
    let screen = String::from_utf8_lossy(&t.output()).into_owned();
    assert!(
        screen.contains("session-rc=1"),
        "strict: the session ends with an error"
    );
    assert_eq!(
        screen.matches("[sessrec] the recording failed").count(),
        1,
        "told once"
    );
    assert!(screen.contains("nearly full"), "{screen}");
    assert!(
        screen.contains("verify-rc=5") && screen.contains("complete"),
        "sealed: complete (unsigned: no key given): {screen}"
    );
    assert_eq!(t.local_modes(), (true, true), "terminal restored");
}

#[test]
fn without_a_terminal_the_bytes_pass_through_and_are_recorded() {
    let s = setup();
    let out = s.dir.path().join("pipe.cast.zst");
    let o = assert_cmd::Command::cargo_bin("sessrec")
        .unwrap()
        .args([
            "rec",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--sign-key",
            s.key.to_str().unwrap(),
            "--",
        ])
        .args(["sh", "-c", "cat; printf '\\377' >&2; exit 2"])
        .write_stdin(&b"binary \x00\xfe in\n"[..])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(o.stdout, b"binary \x00\xfe in\n");
    assert_eq!(o.stderr, b"\xff");
    let events = s.verified_events(&out);
    assert_eq!(
        input_text(&events).as_bytes(),
        String::from_utf8_lossy(b"binary \x00\xfe in\n").as_bytes()
    );
    let mut seen = output_bytes(&events);
    seen.sort_unstable();
    let mut expected = b"binary \x00\xfe in\n\xff".to_vec();
    expected.sort_unstable();
    assert_eq!(seen, expected, "stdout and stderr both recorded");
}
