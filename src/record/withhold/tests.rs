use std::cell::Cell;

use super::*;

/// A PTY whose mode and reader the test sets.
struct Fake {
    mode: Cell<Mode>,
    reader: Cell<Reader>,
}

const COOKED: Mode = Mode {
    canonical: true,
    echo: true,
};
const SECRET: Mode = Mode {
    canonical: true,
    echo: false,
};
const RAW: Mode = Mode {
    canonical: false,
    echo: false,
};
const PROGRAM: Reader = Reader {
    pgid: 100,
    shell: false,
};
const SHELL: Reader = Reader {
    pgid: 7,
    shell: true,
};

impl Probe for Fake {
    fn mode(&self) -> Mode {
        self.mode.get()
    }
    fn reader(&self) -> Reader {
        self.reader.get()
    }
    fn foreground(&self) -> i32 {
        self.reader.get().pgid
    }
}

fn setup(escrow: bool, suspicious: SuspiciousPolicy) -> (Withholder, Fake) {
    let w = Withholder::new(
        Prompts::new(Vec::new()).unwrap(),
        Policy { escrow, suspicious },
        24,
    );
    let f = Fake {
        mode: Cell::new(RAW),
        reader: Cell::new(SHELL),
    };
    (w, f)
}

/// What the recording got, as text: `i:` input, `m:` marker, `e:` escrow, `a:` alert.
fn took(w: &mut Withholder) -> Vec<String> {
    w.take()
        .map(|o| match o {
            Out::Input(_, b) => format!("i:{}", String::from_utf8_lossy(&b)),
            Out::Marker(_, m) => format!("m:{m}"),
            Out::Escrow { keys, .. } => format!(
                "e:{}",
                keys.iter()
                    .map(|(_, k)| String::from_utf8_lossy(k).into_owned())
                    .collect::<String>()
            ),
            Out::Alert(a) => format!("a:{}", a.why.join(",")),
        })
        .collect()
}

#[test]
fn echo_off_canonical_is_withheld_until_enter() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.mode.set(SECRET);
    f.reader.set(PROGRAM);
    w.input(b"hun", 10, &f);
    w.input(b"ter2", 20, &f);
    assert!(took(&mut w).is_empty());
    w.input(b"\r", 1_500_010, &f);
    assert_eq!(
        took(&mut w),
        ["m:input withheld: 8 keystrokes over 1.500 s (echo off)"]
    );
    f.mode.set(RAW);
    w.input(b"ls\r", 2_000_000, &f);
    assert_eq!(took(&mut w), ["i:ls\r"]);
}

#[test]
fn with_recipients_the_keystrokes_are_escrowed_next_to_the_marker() {
    let (mut w, f) = setup(true, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    w.output(b"[sudo] password for alice: ", 1, &f);
    w.input(b"s3cret\r", 2, &f);
    assert_eq!(
        took(&mut w),
        [
            "m:input withheld: 7 keystrokes over 0.000 s (password prompt), escrowed",
            "e:s3cret\r"
        ]
    );
}

#[test]
fn a_prompt_arms_it_and_readline_does_not() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    w.output(b"\r\nalice@host:~$ ", 3, &f);
    // Typing "password:" at a shell prompt: each key is echoed back; that is not a prompt.
    for key in b"echo password:" {
        w.input(&[*key], 3, &f);
        w.output(&[*key], 3, &f);
    }
    w.input(b"\r", 4, &f);
    assert_eq!(
        took(&mut w).concat(),
        "i:ei:ci:hi:oi: i:pi:ai:si:si:wi:oi:ri:di::i:\r"
    );
    w.output(
        b"Enter passphrase for key '/home/a/.ssh/id_ed25519': ",
        5,
        &f,
    );
    w.input(b"x\r", 6, &f);
    assert!(took(&mut w)[0].starts_with("m:input withheld: 2 keystrokes"));
}

#[test]
fn prompts_drawn_with_escapes_and_raw_mode_dialogs_are_caught() {
    for prompt in [
        &b"\x1b[24;1HEnter encryption key: \x1b[?25h"[..],
        b"\x1b[32m?\x1b[0m \x1b[1mEnter your API token\x1b[22m \x1b[0m ",
        b"\x1b[12;13Hx Passphrase: ________ x\x1b[14;21H<OK>\x1b[12;27H",
    ] {
        let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
        f.reader.set(PROGRAM);
        w.output(prompt, 1, &f);
        w.input(b"t0k", 2, &f);
        w.output(b"***", 2, &f);
        w.input(b"\r", 3, &f);
        let got = took(&mut w);
        assert_eq!(got.len(), 1, "{prompt:?}: {got:?}");
        assert!(got[0].starts_with("m:input withheld: 4"), "{got:?}");
    }
}

#[test]
fn ordinary_prompts_and_full_screen_programs_are_not_withheld() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    let mut now = 0;
    for (out, key) in [
        (&b"Press any key to continue"[..], &b"x"[..]),
        (b"Continue? [Y/n] ", b"y\r"),
        (b"AWS Access Key ID [None]: ", b"AKIAEXAMPLE\r"),
        (b"\x1b[24;1H:", b"q"),
        (b"\x1b[H\x1b[2J  PID USER   PRI  NI", b"k"),
    ] {
        now += 200_000;
        w.output(out, now, &f);
        w.input(key, now + 200_000, &f);
        now += 200_000;
        assert_eq!(
            took(&mut w),
            [format!("i:{}", String::from_utf8_lossy(key))],
            "{out:?}"
        );
    }
}

#[test]
fn an_echoed_secret_is_masked_in_the_output() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.mode.set(COOKED);
    f.reader.set(PROGRAM);
    assert!(w.output(b"AWS Secret Access Key [None]: ", 1, &f).is_none());
    w.input(b"wJalr", 2, &f);
    assert_eq!(w.output(b"wJalr", 2, &f).unwrap(), b"*****");
    w.input(b"\r", 3, &f);
    assert_eq!(
        w.output(b"\r\nDefault region name [None]: ", 3, &f)
            .unwrap(),
        b"\r\nDefault region name [None]: "
    );
    assert!(w.output(b"x", 4, &f).is_none());
}

#[test]
fn a_secret_typed_ahead_is_withheld_once_the_program_turns_echo_off() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    w.input(
        b"python3 -c 'import getpass; getpass.getpass()'\rS3CRET\r",
        10,
        &f,
    );
    assert_eq!(
        took(&mut w),
        ["i:python3 -c 'import getpass; getpass.getpass()'\r"]
    );
    assert!(w.due().is_some());
    w.tick(20_000, &f);
    assert!(took(&mut w).is_empty(), "still waiting");
    f.mode.set(SECRET);
    w.tick(40_000, &f);
    let got = took(&mut w);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("(echo off, typed ahead)"), "{got:?}");
    assert!(w.due().is_none());
}

#[test]
fn commands_typed_ahead_are_recorded_once_the_shell_has_the_terminal_back() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    w.input(b"sleep 1\rls -l\rpwd\r", 10, &f);
    assert_eq!(took(&mut w), ["i:sleep 1\r"]);
    // Echoed while sleep has the terminal: not decided yet (a program may still ask).
    f.mode.set(COOKED);
    f.reader.set(PROGRAM);
    w.output(b"ls -l\r\npwd\r\n", 20_000, &f);
    w.tick(30_000, &f);
    assert!(took(&mut w).is_empty());
    // The shell is back: it may yet start a program from these keys; once it answered
    // and kept the terminal a moment, they are recorded.
    f.mode.set(RAW);
    f.reader.set(SHELL);
    w.tick(1_000_000, &f);
    assert!(took(&mut w).is_empty());
    w.output(b"$ ", 1_010_000, &f);
    w.tick(1_400_000, &f);
    assert_eq!(took(&mut w), ["i:ls -l\rpwd\r"]);
    // Nothing changes (a shell builtin): recorded after the wait.
    w.input(b"cd /\r\x01\x02", 2_000_000, &f);
    took(&mut w);
    w.tick(2_000_010, &f);
    assert!(took(&mut w).is_empty());
    w.tick(2_000_000 + TYPEAHEAD_WAIT, &f);
    assert_eq!(took(&mut w), ["i:\x01\x02"]);
}

#[test]
fn input_withheld_at_a_shell_prompt_is_suspicious() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Record);
    f.mode.set(SECRET);
    w.output(b"$ ", 1, &f);
    w.input(b"cat /etc/shadow\r", 2, &f);
    let got = took(&mut w);
    assert_eq!(got[0], "i:cat /etc/shadow\r");
    assert!(
        got[1].starts_with("m:suspicious input: 16 keystrokes, 1 line ")
            && got[1].contains("echo off at a shell prompt")
            && got[1].ends_with("recorded in the clear"),
        "{got:?}"
    );
    assert_eq!(got[2], "a:echo off at a shell prompt");
    // `printf 'Password: '; exec sh`: a shell reading with echo on after a password prompt.
    f.mode.set(COOKED);
    w.output(b"Password: ", 3, &f);
    w.input(b"id\r", 4, &f);
    assert!(took(&mut w)[1].contains("a shell read it after a password-like prompt"));
}

#[test]
fn a_password_prompt_as_the_shell_prompt_is_suspicious_at_once() {
    // PS1='Password: ' with readline: raw mode, read by the shell.
    let (mut w, f) = setup(true, SuspiciousPolicy::Escrow);
    w.output(b"Password: ", 1, &f);
    w.input(b"rm -rf /srv/data\r", 2, &f);
    let got = took(&mut w);
    assert!(got[0].starts_with("m:suspicious input:"), "{got:?}");
    assert!(got[0].ends_with("; escrowed"), "{got:?}");
    assert_eq!(got[1], "e:rm -rf /srv/data\r");
    assert_eq!(got[2], "a:a shell's line editor read it");
}

#[test]
fn several_lines_long_and_slow_runs_are_suspicious() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Drop);
    f.mode.set(SECRET);
    f.reader.set(PROGRAM);
    // `stty -echo; cat > notes`: lines with no answer between them.
    w.input(b"line one\r", 1, &f);
    took(&mut w);
    w.input(b"line two\r", 2, &f);
    assert!(took(&mut w)[0].contains("more than one line"));
    w.output(b"Password: ", 3, &f);
    w.input(&[b'x'; 300], 4, &f);
    w.input(b"\r", 5, &f);
    assert!(took(&mut w)[0].contains("over 256 bytes"));
    w.output(b"Password: ", 6, &f);
    w.input(b"slow", 7, &f);
    w.input(b"\r", 61_000_008, &f);
    let got = took(&mut w);
    assert!(
        got[0].contains("over 60 s") && got[0].ends_with("dropped"),
        "{got:?}"
    );
}

#[test]
fn a_password_retyped_is_not_suspicious() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Record);
    f.mode.set(SECRET);
    f.reader.set(PROGRAM);
    for prompt in [
        &b"Current password: "[..],
        b"New password: ",
        b"Retype new password: ",
    ] {
        w.output(prompt, 1, &f);
        w.input(b"pw\r", 2, &f);
        w.output(b"\r\n", 3, &f);
        let got = took(&mut w);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("m:input withheld"), "{got:?}");
    }
}

#[test]
fn the_shells_own_answer_does_not_decide_keys_typed_ahead_for_a_slow_program() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    w.input(b"python3 slow.py\rS3CRET\r", 10, &f);
    took(&mut w);
    // The shell's own output after the Enter, then the program takes the terminal.
    w.output(b"\r\n\x1b[?2004l\r", 1_000, &f);
    f.mode.set(COOKED);
    f.reader.set(PROGRAM);
    w.tick(20_000, &f);
    // 300 ms later it has printed nothing yet: still waiting.
    w.tick(300_000, &f);
    assert!(took(&mut w).is_empty());
    f.mode.set(SECRET);
    w.tick(310_000, &f);
    assert!(took(&mut w)[0].contains("typed ahead"));
}

#[test]
fn a_prompt_counts_only_after_an_enter_and_a_bare_one_reads_the_line_above() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    // vim: a key moves the cursor to the end of a line that says "password:".
    w.input(b"j", 1, &f);
    w.output(b"\x1b[3;1Hdb password:", 2, &f);
    w.input(b"x", 3, &f);
    assert_eq!(took(&mut w), ["i:j", "i:x"]);
    // A question on its own line, answered after "> ".
    w.input(b"\r", 4, &f);
    w.output(b"\r\nEnter password:\r\n> ", 5, &f);
    w.input(b"s3cret\r", 6, &f);
    let got = took(&mut w);
    assert!(
        got.iter().any(|o| o.starts_with("m:input withheld")),
        "{got:?}"
    );
    // bash's continuation prompt after a line the user typed is not that.
    w.output(b"$ echo 'my password:", 7, &f);
    w.input(b"\r", 8, &f);
    w.output(b"\r\n> ", 9, &f);
    w.input(b"more'\r", 10, &f);
    assert!(took(&mut w).iter().any(|o| o == "i:more'\r"));
}

#[test]
fn a_line_editor_that_shows_the_secret_as_typed_is_suspicious() {
    // A copied shell (not known as one) in raw mode under PS1='Password: '.
    let (mut w, f) = setup(true, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    w.output(b"Password: ", 1, &f);
    for key in b"id" {
        w.input(&[*key], 2, &f);
        w.output(&[*key], 2, &f);
    }
    w.input(b"\r", 3, &f);
    let got = took(&mut w);
    assert!(
        got[0].contains("a line editor showed it as typed"),
        "{got:?}"
    );
}

#[test]
fn one_program_reading_secrets_again_and_again_is_suspicious_whatever_comes_between() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Record);
    f.reader.set(PROGRAM);
    let mut marks = Vec::new();
    for n in 0..8u64 {
        f.mode.set(SECRET);
        w.input(b"cmd\r", n * 10, &f);
        // An ordinary line in the clear between them.
        f.mode.set(COOKED);
        w.output(b"ok\r\n", n * 10 + 1, &f);
        w.input(b"\r", n * 10 + 2, &f);
        w.tick(n * 10 + 3 + 30_000_000, &f);
        marks.extend(took(&mut w).into_iter().filter(|o| o.starts_with("m:")));
    }
    assert!(
        marks[..7].iter().all(|m| m.starts_with("m:input withheld")),
        "{marks:?}"
    );
    assert!(marks[7].contains("one program read 8 secrets"), "{marks:?}");
}

#[test]
fn a_prompt_pasted_by_the_user_is_their_echo_not_a_program_asking() {
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    // Pasted into vim's insert mode: a new line, then text ending like a prompt.
    w.input(b"\rtrue password:", 1, &f);
    w.output(b"\r\n\x1b[Ktrue password:\x1b[?25h", 2, &f);
    w.tick(300_000, &f);
    w.input(b" rm -rf /srv\r", 400_000, &f);
    let typed: String = took(&mut w).concat();
    assert_eq!(typed, "i:\ri:true password:i: rm -rf /srv\r");
}

#[test]
fn a_command_typed_ahead_into_a_remote_session_leaves_the_prompt_armed_for_its_answer() {
    // ssh just started (raw mode); `sudo -i` typed before the remote shell answered.
    let (mut w, f) = setup(false, SuspiciousPolicy::Escrow);
    f.reader.set(PROGRAM);
    w.input(b"ssh db-1\r", 1, &f);
    took(&mut w);
    w.input(b"sudo -i\r", 20_000, &f);
    w.output(b"[sudo] password for bob: ", 900_000, &f);
    w.input(b"hunter2\r", 1_500_000, &f);
    let got = took(&mut w);
    assert!(!got.iter().any(|o| o.contains("hunter2")), "{got:?}");
    assert_eq!(
        got.iter()
            .filter(|o| o.starts_with("m:input withheld"))
            .count(),
        2,
        "{got:?}"
    );
}
