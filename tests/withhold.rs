//! Withheld input, tried with real programs on a real PTY: every secret is absent from the
//! recording's plain text and comes back through `sessrec unseal`; the commands around it, and
//! the keys of shells and full-screen programs, are recorded; evasion is marked as suspicious.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sessrec_formats::{ESCROW_CODE, Event, EventData};
use tempfile::TempDir;

use crate::util::keys::{Key, age_identity};
use crate::util::recording::{input_text, markers, output_text, verified_events};
use crate::util::term::Term;
use crate::util::{BIN, Req, sessrec_output};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        password_prompts_of_real_programs_are_escrowed => [
            Req::Root, Req::Tool("age-keygen"), Req::Tool("runuser"), Req::Tool("sudo"),
            Req::Tool("su"), Req::Tool("passwd"), Req::Tool("psql"), Req::Tool("mariadb"),
            Req::Tool("openssl"), Req::Tool("ssh-keygen"), Req::Tool("python3"),
        ],
        raw_mode_dialogs_and_masked_prompts_are_escrowed => [
            Req::Tool("age-keygen"), Req::Tool("vim"), Req::Tool("pinentry-curses"),
            Req::Tool("python3"),
        ],
        echoed_and_typed_ahead_secrets_are_caught => [Req::Tool("age-keygen"), Req::Tool("python3")],
        without_input_capture_an_echoed_secret_is_still_masked => [Req::Tool("age-keygen")],
        shells_and_full_screen_programs_are_never_withheld => [
            Req::Tool("age-keygen"), Req::Tool("vim"), Req::Tool("less"), Req::Tool("htop"),
        ],
        evasion_is_marked_suspicious_and_can_be_recorded => [Req::Tool("age-keygen")],
        unseal_refuses_the_wrong_identity_and_altered_recordings => [Req::Tool("age-keygen")],
    ]
}

const T: Duration = Duration::from_secs(30);
const BASH: &[&str] = &["env", "PS1=$ ", "bash", "--norc", "--noprofile", "-i"];

/// A scratch directory with a signing key and an age identity (made by the real age-keygen).
struct Setup {
    dir: TempDir,
    key: Key,
    identity: PathBuf,
    recipient: String,
}

fn setup() -> Setup {
    let dir = TempDir::new().unwrap();
    let key = Key::in_dir(dir.path());
    let (identity, recipient) = age_identity(&dir.path().join("escrow.key"));
    Setup {
        dir,
        key,
        identity,
        recipient,
    }
}

/// A session being recorded, and where.
struct Session {
    term: Term,
    out: PathBuf,
    /// How much of the screen the steps so far have waited through.
    seen: usize,
}

impl Setup {
    /// Records `cmd` with escrow to this setup's recipient, plus `flags`.
    fn rec(&self, name: &str, flags: &[&str], cmd: &[&str]) -> Session {
        let out = self.dir.path().join(name);
        let mut args = vec![
            "rec",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--sign-key",
            self.key.arg(),
            "--escrow-to",
            &self.recipient,
        ];
        args.extend_from_slice(flags);
        args.push("--");
        args.extend_from_slice(cmd);
        Session {
            term: Term::spawn(Path::new(BIN), &args, 100, 30, &[]),
            out,
            seen: 0,
        }
    }

    /// `sessrec unseal` of `path` with this setup's identity: (exit code, stdout, stderr).
    fn unseal(&self, path: &Path, identity: &Path) -> (i32, String, String) {
        let log = self.dir.path().join("audit.log");
        let o = sessrec_output(&[
            "unseal",
            path.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
            "--key",
            self.key.public_path.to_str().unwrap(),
            "--audit-log",
            log.to_str().unwrap(),
        ]);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default()
    }
}

impl Session {
    /// Where `needle` ends on the screen after what the last step waited for.
    fn find_next(&self, needle: &str) -> Option<usize> {
        let screen = self.term.output();
        let rest = &screen[self.seen.min(screen.len())..];
        memchr::memmem::find(rest, needle.as_bytes()).map(|i| self.seen + i + needle.len())
    }

    /// Fails the test with the screen since the last step, once `deadline` passed.
    fn check_deadline(&self, deadline: std::time::Instant, waiting_for: &str) {
        if std::time::Instant::now() >= deadline {
            let screen = self.term.output();
            panic!(
                "timed out waiting for {waiting_for:?}; screen since the last step: {:?}",
                String::from_utf8_lossy(&screen[self.seen.min(screen.len())..])
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    /// Waits for `prompt` to appear after what the last step waited for, then types `keys`.
    fn at(&mut self, prompt: &str, keys: &str) -> &mut Session {
        let deadline = std::time::Instant::now() + T;
        loop {
            if let Some(end) = self.find_next(prompt) {
                self.seen = end;
                break;
            }
            self.check_deadline(deadline, prompt);
        }
        // A person reads the prompt before typing (a program flushes what comes sooner).
        std::thread::sleep(Duration::from_millis(150));
        self.term.type_slowly(keys);
        self
    }

    /// Answers each `prompt` with `keys` until `done` appears (a program that asks again).
    fn answer_until(&mut self, prompt: &str, keys: &str, done: &str) -> &mut Session {
        let deadline = std::time::Instant::now() + T;
        loop {
            if let Some(end) = self.find_next(done) {
                self.seen = end;
                return self;
            }
            if self.find_next(prompt).is_some() {
                self.at(prompt, keys);
                continue;
            }
            self.check_deadline(deadline, done);
        }
    }

    /// Exits the shell; the recording's events once it verifies.
    fn end(mut self, setup: &Setup) -> (PathBuf, Vec<Event>) {
        self.term.type_slowly("exit\r");
        self.term.wait(T);
        let events = verified_events(&self.out, &setup.key.public);
        (self.out, events)
    }
}

/// The whole plain text of the recording, decompressed (every frame, every record).
fn plain_text(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    String::from_utf8_lossy(&zstd::stream::decode_all(&raw[..]).unwrap()).into_owned()
}

/// Asserts that none of `secrets` is anywhere in the recording, and that unseal shows each.
fn assert_escrowed(s: &Setup, path: &Path, events: &[Event], secrets: &[&str]) {
    let plain = plain_text(path);
    for secret in secrets {
        assert!(!plain.contains(secret), "{secret} is in the recording");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.data, EventData::Other { code, .. } if code == ESCROW_CODE)),
        "no escrow event"
    );
    let (code, shown, err) = s.unseal(path, &s.identity);
    assert_eq!(code, 0, "{err}");
    for secret in secrets {
        assert!(shown.contains(secret), "{secret} not unsealed: {shown}");
    }
    assert!(s.audit().contains("\"event\":\"escrow.unsealed\""));
    assert!(
        !s.audit().contains(secrets[0]),
        "a secret reached the audit log"
    );
}

fn password_prompts_of_real_programs_are_escrowed() {
    let s = setup();
    let enc = s.dir.path().join("enc");
    let new_key = s.dir.path().join("newkey");
    // A script's `read -s` (typed at the shell's own prompt it is suspicious: see below).
    let ask = s.dir.path().join("ask.sh");
    std::fs::write(&ask, "read -s -p 'Password: ' pw; echo \"read ${#pw}\"\n").unwrap();
    let mut t = s.rec("real.cast.zst", &[], BASH);
    t.at("$ ", &format!("bash {}\r", ask.display()))
        .at("Password: ", "Sec-read-s1\r")
        .at(
            "read 11",
            "runuser -u nobody -- sudo -k true; echo sudo-$((1+1))\r",
        )
        .answer_until("password for nobody: ", "Sec-sudo-2\r", "sudo-2")
        .at(
            "$ ",
            "runuser -u nobody -- su root -c true; echo su-$((1+1))\r",
        )
        .at("Password: ", "Sec-su-3\r")
        .at(
            "su-2",
            "runuser -u nobody -- passwd; echo passwd-$((1+1))\r",
        )
        .at("Current password: ", "Sec-passwd-4\r")
        .at(
            "passwd-2",
            "psql -W -h 127.0.0.1 -U alice postgres; echo psql-$((1+1))\r",
        )
        .at("Password", "Sec-psql-5\r")
        .at("psql-2", "mariadb -p -h 127.0.0.1; echo maria-$((1+1))\r")
        .at("Enter password: ", "Sec-maria-6\r")
        .at(
            "maria-2",
            &format!(
                "openssl enc -aes-256-cbc -pbkdf2 -in /etc/hostname -out {}; echo ossl-$((1+1))\r",
                enc.display()
            ),
        )
        .at("encryption password:", "Sec-ossl-7\r")
        .at("Verifying", "Sec-ossl-7\r")
        .at(
            "ossl-2",
            &format!(
                "ssh-keygen -q -t ed25519 -f {}; echo keygen-$((1+1))\r",
                new_key.display()
            ),
        )
        .at("Enter passphrase", "Sec-sshkey-8\r")
        .at("Enter same passphrase", "Sec-sshkey-8\r")
        .at("keygen-2", "echo around-$((6*7))\r")
        .at("around-42", "");
    let (path, events) = t.end(&s);
    let typed = input_text(&events);
    for command in [
        "sudo -k true",
        "su root -c",
        "passwd;",
        "psql -W",
        "mariadb -p",
        "openssl enc",
        "ssh-keygen -q",
        "echo around-$((6*7))\r",
    ] {
        assert!(
            typed.contains(command),
            "{command:?} not recorded: {typed:?}"
        );
    }
    let m = markers(&events);
    assert!(
        m.iter()
            .filter(|m| m.starts_with("input withheld: "))
            .count()
            >= 10,
        "{m:?}"
    );
    assert!(
        !m.iter().any(|m| m.starts_with("suspicious input: ")),
        "{m:?}"
    );
    assert_escrowed(
        &s,
        &path,
        &events,
        &[
            "Sec-read-s1",
            "Sec-sudo-2",
            "Sec-su-3",
            "Sec-passwd-4",
            "Sec-psql-5",
            "Sec-maria-6",
            "Sec-ossl-7",
            "Sec-sshkey-8",
        ],
    );
}

/// An inquirer/survey-style masked prompt (gh, npm): raw mode, a coloured question, `*` per key.
const MASKED: &str = r#"
import sys, termios, tty
fd = sys.stdin.fileno(); old = termios.tcgetattr(fd); tty.setraw(fd)
sys.stdout.write("\x1b[32m?\x1b[0m \x1b[1mEnter your API token\x1b[22m \x1b[0m "); sys.stdout.flush()
got = b""
while True:
    c = sys.stdin.buffer.read(1)
    if c in (b"\r", b"\n"): break
    got += c; sys.stdout.write("*"); sys.stdout.flush()
termios.tcsetattr(fd, termios.TCSADRAIN, old)
print("\ntoken of", len(got))
"#;

fn raw_mode_dialogs_and_masked_prompts_are_escrowed() {
    let s = setup();
    let file = s.dir.path().join("crypted.txt");
    let masked = s.dir.path().join("masked.py");
    std::fs::write(&masked, MASKED).unwrap();
    let mut t = s.rec("raw.cast.zst", &[], BASH);
    t.at("$ ", &format!("vim -u NONE -x {}\r", file.display()))
        .at("Enter encryption key: ", "Sec-vim-1\r")
        .at("Enter same key again: ", "Sec-vim-1\r");
    std::thread::sleep(Duration::from_millis(300));
    t.term.type_slowly("ivim-text\x1b:X\r");
    // vim's :X asks twice, in raw mode, on its command line.
    t.at("Enter encryption key: ", "Sec-vimx-4\r")
        .at("Enter same key again: ", "Sec-vimx-4\r");
    std::thread::sleep(Duration::from_millis(200));
    t.term.type_slowly(":wq\r");
    t.at(
        "$ ",
        "t=$(tty); printf 'SETPROMPT Pass\\x70hrase:\\nGETPIN\\nBYE\\n' | pinentry-curses --ttyname $t --lc-ctype C.UTF-8 >/dev/null; echo pin-$((1+1))\r",
    )
    .at("<Cancel>", "Sec-pin-2\r");
    t.at("pin-2", &format!("python3 {}\r", masked.display()))
        .at("API token", "Sec-token-3\r")
        .at("token of 11", "echo after-dialogs\r")
        .at("after-dialogs\r\n", "");
    let (path, events) = t.end(&s);
    let typed = input_text(&events);
    assert!(
        typed.contains("ivim-text\x1b:X\r") && typed.contains(":wq\r"),
        "vim's keys: {typed:?}"
    );
    assert!(typed.contains("echo after-dialogs\r"), "{typed:?}");
    assert_escrowed(
        &s,
        &path,
        &events,
        &["Sec-vim-1", "Sec-pin-2", "Sec-token-3", "Sec-vimx-4"],
    );
}

/// `aws configure`'s prompts: input() with echo on; only the secret key is a secret.
const AWS: &str = r#"
for q in ("AWS Access Key ID [None]: ", "AWS Secret Access Key [None]: ", "Default region name [None]: "):
    input(q)
print("configured")
"#;

fn echoed_and_typed_ahead_secrets_are_caught() {
    let s = setup();
    let aws = s.dir.path().join("aws.py");
    std::fs::write(&aws, AWS).unwrap();
    let mut t = s.rec("echoed.cast.zst", &[], BASH);
    t.at("$ ", "read -p 'Pass''word: ' pw; echo \"got ${#pw}\"\r")
        .at("Password: ", "Sec-echoed-1\r")
        .at("got 12", &format!("python3 {}\r", aws.display()))
        .at("Key ID [None]: ", "AKIA-PUBLIC-ID\r")
        .at("Secret Access Key [None]: ", "Sec-aws-2\r")
        .at("region name [None]: ", "eu-west-1\r")
        .at("configured", "")
        .at("$ ", "");
    // Type-ahead: the command and its secret in one write, before getpass turns echo off.
    t.term
        .type_at_once(b"python3 -c 'import getpass; print(len(getpass.getpass()))'\rSec-ahead-3\r");
    t.at("Password: ", "Sec-getpass-4\r").at("13\r\n", "");
    let (path, events) = t.end(&s);
    let typed = input_text(&events);
    assert!(
        typed.contains("AKIA-PUBLIC-ID\r") && typed.contains("eu-west-1\r"),
        "{typed:?}"
    );
    // The user saw the echo live; the recording shows a masked run.
    let shown = output_text(&events);
    assert!(shown.contains("Password: ************"), "{shown:?}");
    assert!(!shown.contains("Sec-echoed-1") && !shown.contains("Sec-aws-2"));
    assert!(
        markers(&events).iter().any(|m| m.contains("typed ahead")),
        "{:?} typed {typed:?}",
        markers(&events)
    );
    assert_escrowed(
        &s,
        &path,
        &events,
        &["Sec-echoed-1", "Sec-aws-2", "Sec-ahead-3", "Sec-getpass-4"],
    );
}

fn shells_and_full_screen_programs_are_never_withheld() {
    let s = setup();
    let file = s.dir.path().join("notes.txt");
    std::fs::write(&file, "db password: see vault\nline two\n").unwrap();
    let mut t = s.rec("keys.cast.zst", &[], BASH);
    t.at("$ ", "echo token: password: $((1+1))\r")
        .at("password: 2", &format!("vim -u NONE {}\r", file.display()))
        .at("line two", "");
    std::thread::sleep(Duration::from_millis(300));
    // To the end of "db password:", then append and save.
    t.term.type_slowly("gg$a more\x1b:wq\r");
    t.at("$ ", &format!("less {}\r", file.display()))
        .at("line two", "");
    std::thread::sleep(Duration::from_millis(300));
    t.term.type_slowly("/two\rq");
    t.at("$ ", "htop\r");
    std::thread::sleep(Duration::from_millis(1500));
    t.term.type_slowly("q");
    t.at("$ ", "echo done-keys\r").at("done-keys\r\n", "");
    let (_, events) = t.end(&s);
    let typed = input_text(&events);
    for keys in [
        "echo token: password: $((1+1))\r",
        "gg$a more\x1b:wq\r",
        "/two\rq",
        "htop\r",
        "echo done-keys\r",
    ] {
        assert!(typed.contains(keys), "{keys:?} not recorded: {typed:?}");
    }
    assert!(markers(&events).is_empty(), "{:?}", markers(&events));
}

fn evasion_is_marked_suspicious_and_can_be_recorded() {
    let s = setup();
    for (how, clear) in [("escrow", false), ("record", true)] {
        let mut t = s.rec(
            &format!("evasion-{how}.cast.zst"),
            &["--withhold-suspicious", how],
            BASH,
        );
        t.at("$ ", "stty -echo; exec sh\r")
            .at("$ ", "echo first-hidden\r")
            .at("first-hidden", "echo second-hidden\r")
            .at("second-hidden", "exit\r");
        t.term.wait(T);
        let events = verified_events(&t.out, &s.key.public);
        let m = markers(&events);
        assert!(
            m.iter()
                .any(|m| m.starts_with("suspicious input: ")
                    && m.contains("echo off at a shell prompt")),
            "{m:?}"
        );
        assert_eq!(
            input_text(&events).contains("echo second-hidden\r")
                && input_text(&events).contains("echo first-hidden\r"),
            clear,
            "{m:?}"
        );

        // A password prompt as the shell prompt: read by the shell's line editor.
        let mut t = s.rec(
            &format!("ps1-{how}.cast.zst"),
            &["--withhold-suspicious", how],
            &[
                "env",
                "PS1=Password: ",
                "bash",
                "--norc",
                "--noprofile",
                "-i",
            ],
        );
        t.at("Password: ", "echo via-ps1\r").at("via-ps1", "exit\r");
        t.term.wait(T);
        let events = verified_events(&t.out, &s.key.public);
        assert!(
            markers(&events)
                .iter()
                .any(|m| m.contains("a shell's line editor read it")),
            "{:?}",
            markers(&events)
        );
        assert_eq!(input_text(&events).contains("echo via-ps1\r"), clear);
    }
    // A long echo-off run: lines into cat with nothing between them.
    let mut t = s.rec("long.cast.zst", &[], BASH);
    t.at(
        "$ ",
        "stty -echo; cat > /dev/null; stty echo; echo cat-$((1+1))\r",
    );
    std::thread::sleep(Duration::from_millis(300));
    t.term.type_slowly("one\rtwo\rthree\r\x04");
    t.at("cat-2", "");
    let (path, events) = t.end(&s);
    assert!(
        markers(&events)
            .iter()
            .any(|m| m.starts_with("suspicious input: ") && m.contains("more than one line")),
        "{:?}",
        markers(&events)
    );
    assert_escrowed(&s, &path, &events, &["three"]);
}

fn unseal_refuses_the_wrong_identity_and_altered_recordings() {
    let s = setup();
    let mut t = s.rec("unseal.cast.zst", &[], BASH);
    t.at("$ ", "read -s -p 'Pass''word: ' pw\r")
        .at("Password: ", "Sec-only-1\r");
    let (path, _) = t.end(&s);
    // Another team's identity.
    let (other, _) = age_identity(&s.dir.path().join("other.key"));
    let (code, shown, err) = s.unseal(&path, &other);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a recipient"), "{err}");
    assert!(!shown.contains("Sec-only-1"));
    assert!(err.lines().count() == 1, "one line: {err}");
    assert!(s.audit().contains("\"event\":\"escrow.unseal_failed\""));
    // Not an identity file at all.
    let (code, _, err) = s.unseal(&path, &s.key.public_path);
    assert_eq!(code, 1);
    assert!(err.contains("not an age identity"), "{err}");
    // An altered copy: one byte of the last frame flipped.
    let altered = s.dir.path().join("altered.cast.zst");
    let mut raw = std::fs::read(&path).unwrap();
    let at = raw.len() - 40;
    raw[at] ^= 1;
    std::fs::write(&altered, raw).unwrap();
    let (code, shown, err) = s.unseal(&altered, &s.identity);
    assert_ne!(code, 0, "{err}");
    assert!(!shown.contains("Sec-only-1"), "{shown}");
    // The escrow event edited in the plain text and compressed again: no signature covers
    // it any more, so nothing is unsealed from it.
    let plain = plain_text(&path);
    let at = plain.find(&format!("\"{ESCROW_CODE}\", \"")).unwrap() + ESCROW_CODE.len() + 40;
    let mut edited = plain.into_bytes();
    edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
    let edited_path = s.dir.path().join("edited.cast.zst");
    std::fs::write(
        &edited_path,
        zstd::stream::encode_all(&edited[..], 3).unwrap(),
    )
    .unwrap();
    let (code, shown, err) = s.unseal(&edited_path, &s.identity);
    assert_ne!(code, 0, "{err}");
    assert!(
        !shown.contains("Sec-only-1") && err.contains("no escrowed input that a signature covers"),
        "{err}"
    );
    // No audit log that can be written: nothing is shown.
    let o = sessrec_output(&[
        "unseal",
        path.to_str().unwrap(),
        "--identity",
        s.identity.to_str().unwrap(),
        "--key",
        s.key.public_path.to_str().unwrap(),
        "--audit-log",
        "/nonexistent/dir/audit.log",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Sec-only-1"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing is shown"),
        "{o:?}"
    );
}

fn without_input_capture_an_echoed_secret_is_still_masked() {
    let s = setup();
    let mut t = s.rec("no-input.cast.zst", &["--no-input"], BASH);
    t.at("$ ", "read -p 'Pass''word: ' pw; echo \"got ${#pw}\"\r")
        .at("Password: ", "Sec-noinput-1\r")
        .at("got 13", "");
    let (path, events) = t.end(&s);
    assert!(input_text(&events).is_empty());
    assert!(!plain_text(&path).contains("Sec-noinput-1"));
    assert!(
        output_text(&events).contains("Password: *************"),
        "{}",
        output_text(&events)
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(&e.data, EventData::Other { code, .. } if code == ESCROW_CODE))
    );
}
