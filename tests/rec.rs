//! `sessrec rec` on a real PTY: what is typed and seen is recorded, secrets are not, the window
//! size follows, exit statuses come back, and every way out seals the recording and restores
//! the terminal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sessrec_formats::{Event, EventData, OpenOptions, open_path};
use tempfile::TempDir;

use crate::util::keys::Key;
use crate::util::recording::{
    assert_wall_clock, input_text, markers, output_bytes, verified_events,
};
use crate::util::term::Term;
use crate::util::{BIN, Req, sessrec};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        typed_input_and_output_are_recorded_with_timing_and_exit_status,
        passwords_at_prompts_never_reach_the_recording => [Req::Tool("zstd")],
        window_size_changes_reach_the_shell_and_the_recording,
        exit_statuses_and_signal_deaths_come_back,
        sighup_and_sigterm_seal_the_recording_and_restore_the_terminal,
        a_background_process_holding_the_pty_does_not_hang_the_exit,
        bulk_and_binary_output_is_recorded_byte_for_byte,
        a_nested_session_records_too_and_names_its_parent,
        // tmpfs in a mount namespace of its own.
        a_full_disk_ends_the_session_and_says_so => [
            Req::Root,
            Req::Tool("/usr/bin/unshare"),
            Req::Tool("mount"),
        ],
        without_a_terminal_the_bytes_pass_through_and_are_recorded,
        start_time_plus_offset_is_the_wall_time => [Req::Tool("date")],
    ]
}

const T: Duration = Duration::from_secs(30);

/// A scratch directory with a signing key in it.
struct Setup {
    dir: TempDir,
    key: Key,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    Setup { dir, key }
}

impl Setup {
    /// Records `cmd` on a new `cols`x`rows` PTY into `name` in the scratch directory.
    fn rec(&self, name: &str, cmd: &[&str], cols: u16, rows: u16) -> (Term, PathBuf) {
        let out = self.dir.path().join(name);
        let mut args = vec![
            "rec",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--sign-key",
            self.key.arg(),
            "--",
        ];
        args.extend_from_slice(cmd);
        (Term::spawn(Path::new(BIN), &args, cols, rows, &[]), out)
    }

    /// The recording's events, once it verified as intact and signed by this key.
    fn verified_events(&self, path: &Path) -> Vec<Event> {
        verified_events(path, &self.key.public)
    }
}

const BASH: &[&str] = &["env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i"];

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

fn passwords_at_prompts_never_reach_the_recording() {
    let s = setup();
    // A script asks (read at the shell's own prompt is suspicious: tests/withhold.rs).
    let ask = s.dir.path().join("ask.sh");
    std::fs::write(
        &ask,
        "read -s -p 'Password: ' pw; echo \"got ${#pw}\"\nread -p 'PIN: ' pin; echo \"pin ${#pin}\"\n",
    )
    .unwrap();
    let (mut t, out) = s.rec("secret.cast.zst", BASH, 100, 30);
    t.wait_for("$ ", T);
    t.type_slowly(&format!("bash {}\r", ask.display()));
    t.wait_for("Password: ", T);
    std::thread::sleep(Duration::from_millis(100));
    t.type_slowly("hunter2\r");
    t.wait_for("got 7", T);
    // A prompt read with echo on (no -s): withheld after the prompt, until Enter.
    t.wait_for("PIN: ", T);
    std::thread::sleep(Duration::from_millis(100));
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
    assert!(text.contains("after"), "decoded: {text:?}");
    assert!(!text.contains("hunter2") && !text.contains("918273"));
}

/// The whole plain text of a `.cast.zst`, as stock `zstd -dc` decodes it.
fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    let out = assert_cmd::Command::new("zstd")
        .arg("-dc")
        .write_stdin(bytes)
        .output()
        .unwrap();
    // A failed decode would give no text, and no text contains no password.
    assert!(
        out.status.success(),
        "zstd -dc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

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

fn a_nested_session_records_too_and_names_its_parent() {
    let s = setup();
    let inner = s.dir.path().join("inner.cast.zst");
    let bin = BIN;
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

/// Runs `bulk` output into a 2 MiB disk under `rec` (with `flags`), then `verify`; the screen.
fn record_onto_a_full_disk(s: &Setup, flags: &str, after: &str) -> String {
    let disk = s.dir.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs {d} && {bin} rec -q {flags} --sign-key {k} -o {d}/r.cast.zst \
         -- sh -c 'head -c 50000000 /dev/urandom; {after}'; \
         echo session-rc=$?; {bin} verify --key {k}.pub {d}/r.cast.zst; echo verify-rc=$?",
        d = disk.display(),
        bin = BIN,
        k = s.key.arg(),
    );
    let mut t = Term::spawn(
        Path::new("/usr/bin/unshare"),
        &["-m", "sh", "-c", &script],
        80,
        24,
        &[],
    );
    t.wait_for("verify-rc=", T);
    t.wait(T);
    assert_eq!(t.local_modes(), (true, true), "terminal restored");
    String::from_utf8_lossy(&t.output()).into_owned()
}

fn a_full_disk_ends_the_session_and_says_so() {
    let s = setup();
    // 50 MB of random output into a 2 MiB disk: the recording is sealed before the disk is
    // full, with a signed note that it stopped, and the session ends (strict).
    let started = std::time::Instant::now();
    let screen = record_onto_a_full_disk(&s, "", "sleep 30");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ended at once, not after the command"
    );
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
    let flat = screen.replace("\r\n", "");
    assert!(
        screen.contains("verify-rc=7")
            && flat.contains("incomplete: recording stopped at")
            && flat.contains("the session was ended"),
        "sealed early and saying so, never complete: {screen}"
    );
    assert!(!flat.contains("complete,"), "{screen}");

    // --keep-going: the session goes on unrecorded, and the recording says that too.
    let screen = record_onto_a_full_disk(&s, "--keep-going", "echo still-here");
    let flat = screen.replace("\r\n", "");
    assert!(
        flat.contains("still-here") && flat.contains("session-rc=0"),
        "{screen}"
    );
    assert!(
        screen.contains("verify-rc=7") && flat.contains("the session continued unrecorded"),
        "{screen}"
    );
}

fn without_a_terminal_the_bytes_pass_through_and_are_recorded() {
    let s = setup();
    let out = s.dir.path().join("pipe.cast.zst");
    let o = sessrec()
        .args([
            "rec",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--sign-key",
            s.key.arg(),
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

fn start_time_plus_offset_is_the_wall_time() {
    let s = setup();
    let out = s.dir.path().join("clock.cast.zst");
    let o = sessrec()
        .args(["rec", "-q", "-o", out.to_str().unwrap(), "--"])
        .args(["sh", "-c", "sleep 0.5; date +WALL%s.%N"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_wall_clock(&out);
}
