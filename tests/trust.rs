//! The red-team suite: a bastion installed by dist/install.sh (sshd on loopback, the recording
//! service, a recorded user of its own), and that user, logged in over real ssh, trying to get
//! around the recording. Each attempt is refused, or leaves a recording and an alert.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::{OpenOptions, open_path};

use crate::util::free_port;
use crate::util::harness::step;
use crate::util::recording::{input_text, markers, output_text};
use crate::util::sshd::{NEEDS, Sshd, T};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        the_recorded_user_cannot_get_around_the_recording => [
            NEEDS,
            crate::util::Req::Tool("strace"),
            crate::util::Req::Tool("/usr/bin/python3"),
            crate::util::Req::Tool("chattr"),
        ]
    ]
}

/// The recorded user of this bastion (not the end-to-end test's, so both can run at once).
const USER: &str = "sessrec-rt";

fn the_recorded_user_cannot_get_around_the_recording() {
    let b = Sshd::start_as(USER);
    let mut n = b.recordings().len();
    step(
        "the recording side cannot be killed, stopped or traced",
        || recorder_is_out_of_reach(&b, n),
    );
    n += 1;
    step(
        "the terminal sshd made cannot be opened from inside",
        || no_side_channel_through_the_ssh_terminal(&b, n),
    );
    step("a terminal grabbed before the login is revoked", || {
        grabbed_terminals_are_revoked(&b)
    });
    // Two sessions, the watcher's and the login: count again.
    n = b.recordings().len();
    step(
        "no process of the user can trace a sessrec it did not start",
        || clients_cannot_be_traced(&b, n),
    );
    n += 1;
    step(
        "killing the login client hangs up, seals and alerts",
        || killing_the_client(&b, n),
    );
    n += 1;
    step("nothing the session starts outlives it", || {
        nothing_outlives_the_session(&b, n)
    });
    n += 2;
    step("sshd forwards nothing for a recorded user", || {
        no_forwarding(&b)
    });
    step("chsh is refused and the next login is recorded", || {
        no_chsh(&b)
    });
    n += 2;
    step(
        "a nested sessrec inherits its parent, whatever it claims",
        || nested_claims_nothing(&b, n),
    );
    step("the spool, key and audit log are out of reach", || {
        files_out_of_reach(&b)
    });
    step("a flood of connections is capped per user", || {
        connections_are_capped(&b)
    });
    // It logged in until logins came back: count again.
    n = b.recordings().len();
    step("50 concurrent sessions, each recorded whole", || {
        fifty_sessions(&b, n)
    });
    n += 50;
    step(
        "the service killed under a live session: nothing lost",
        || service_killed(&b, n),
    );
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shell's parent is the session's worker: root, so the user can neither signal nor
/// trace it, nor read its memory or environment.
fn recorder_is_out_of_reach(b: &Sshd, n: usize) {
    let o = b.ssh(
        "user",
        "kill -9 $PPID; echo kill=$?; kill -STOP $PPID; echo stop=$?; \
         strace -p $PPID -e trace=none 2>&1 | head -1; cat /proc/$PPID/environ >/dev/null; echo environ=$?; \
         echo still-recorded",
    );
    let out = stdout(&o);
    assert!(out.contains("kill=1") && out.contains("stop=1"), "{out}");
    assert!(out.contains("Operation not permitted"), "strace: {out}");
    assert!(out.contains("environ=1"), "{out}");
    let (_, events) = b.newest(n);
    assert!(output_text(&events).contains("still-recorded"));
}

/// sshd's terminal (`$SSH_TTY`) belongs to the user when sshd makes it: opened from inside
/// the session, it would carry output to the user's screen, and keystrokes from it, past the
/// recording. The service takes it over: opening it is denied.
fn no_side_channel_through_the_ssh_terminal(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    t.type_slowly("echo hidden-$((6*7)) > $SSH_TTY; cat < $SSH_TTY; echo done-$((1+1)); exit\r");
    t.wait(T);
    let screen = String::from_utf8_lossy(&t.output()).into_owned();
    assert!(screen.contains("done-2"), "{screen}");
    assert!(
        !screen.contains("hidden-42"),
        "output went past the recording: {screen}"
    );
    assert_eq!(screen.matches("Permission denied").count(), 2, "{screen}");
    let (_, events) = b.newest(n);
    assert!(output_text(&events).contains("done-2"));
}

/// From inside one session, a watcher opens every new terminal of the user as sshd makes it,
/// before the service takes it over, and writes to it: once the next login is recorded, those
/// writes reach nothing (the service revoked every descriptor opened before).
fn grabbed_terminals_are_revoked(b: &Sshd) {
    // Opens every terminal of the user's it does not hold yet (numbers are reused, so by
    // owner, not by name), and writes its name to each, every millisecond.
    let watcher = "python3 -c '\nimport os,time\nhave={}\nend=time.time()+40\nwhile time.time()<end:\n  for p in os.listdir(\"/dev/pts\"):\n    if p in have: continue\n    try:\n      if os.stat(\"/dev/pts/\"+p).st_uid!=os.getuid(): continue\n      have[p]=os.open(\"/dev/pts/\"+p, os.O_RDWR|os.O_NOCTTY)\n    except OSError: pass\n  for p,f in have.items():\n    try: os.write(f, (\"UNRECORDED-/dev/pts/%s\\r\\n\" % p).encode())\n    except OSError: pass\n  time.sleep(0.001)\n'";
    let mut a = Command::new("ssh")
        .args(b.ssh_args("user"))
        .arg(format!("{USER}@127.0.0.1"))
        .arg(watcher)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // The watcher races the service for each new terminal; on a busy machine it may lose a
    // few times before it wins one (which is what is tested).
    let mut won = None;
    let mut last = String::new();
    for _ in 0..10 {
        let mut t = b.tty_session("user", None);
        t.wait_for("$ ", T);
        std::thread::sleep(Duration::from_millis(500));
        t.type_slowly("echo typed-$((2+2))\r");
        t.wait_for("typed-4", T);
        std::thread::sleep(Duration::from_millis(500));
        t.type_slowly("exit\r");
        t.wait(T);
        let screen = String::from_utf8_lossy(&t.output()).into_owned();
        // sshd's terminal is the one the watcher grabbed before the banner (the session's own
        // PTY only exists after it).
        let (before, after) = screen
            .split_once("This session is recorded")
            .unwrap_or_else(|| panic!("no banner: {screen}"));
        let grabbed = before
            .split("UNRECORDED-")
            .nth(1)
            .and_then(|x| x.split_once('\r'))
            .map(|x| x.0.to_string());
        if let Some(tty) = grabbed {
            won = Some((tty, after.to_string(), screen.clone()));
            break;
        }
        last = screen;
    }
    // A command without output outlives its connection under sshd too, until it ends: end
    // the watcher (its session then ends with it).
    let _ = Command::new("pkill")
        .args(["-u", USER, "-f", "import os,time"])
        .status();
    let _ = a.kill();
    let _ = a.wait();
    let (tty, recorded_part, screen) = won.unwrap_or_else(|| {
        panic!("the watcher never opened a login's terminal before the service took it: {last}")
    });
    // Writes into the session's own PTY are output of the session, and recorded; writes to
    // sshd's terminal once the login is recorded would be neither.
    assert!(
        !recorded_part.contains(&format!("UNRECORDED-{tty}\r")),
        "{tty}: {screen}"
    );
    b.settle();
}

/// A process of the user could attach to a new login client (started by sshd for another login)
/// before it hands its terminal over, and run that login unrecorded. The binary is
/// execute-only for users, so the kernel makes every sessrec process of theirs untraceable from
/// exec: here a `sessrec rec` of theirs, which no other process of theirs can trace or read.
fn clients_cannot_be_traced(b: &Sshd, n: usize) {
    use std::os::unix::fs::PermissionsExt;
    let bin = b.path("bin/sessrec");
    let mode = std::fs::metadata(&bin).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o711, "{}", bin.display());
    let o = b.ssh(
        "user",
        &format!(
            "{} rec -q -o /tmp/{USER}-rt.cast.zst -- sleep 3 </dev/null & sleep 1; p=$(pgrep -n -u {USER} -x sessrec);              strace -p $p -e trace=none 2>&1 | head -1; cat /proc/$p/environ >/dev/null; echo environ=$?; wait; rm -f /tmp/{USER}-rt.cast.zst",
            bin.display()
        ),
    );
    let out = stdout(&o);
    assert!(
        out.contains("Operation not permitted"),
        "strace: {out}{}",
        stderr(&o)
    );
    assert!(out.contains("environ=1"), "{out}");
    b.newest(n);
}

/// The user kills their own login client (the one process of theirs that takes part): the
/// service hangs the session up, seals the recording (with the line that did it) and raises
/// an alert.
fn killing_the_client(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    t.type_slowly(&format!(
        "echo before; kill -9 $(pgrep -u {USER} -x sessrec)\r"
    ));
    t.wait(T);
    let (_, events) = b.newest(n);
    assert!(
        input_text(&events).contains("kill -9"),
        "the line that killed it is kept"
    );
    assert!(output_text(&events).contains("before"));
    let audit = b.audit();
    let gone = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "session.client_gone")
        .unwrap_or_else(|| panic!("no alert: {audit}"));
    assert_eq!(gone["level"], "alert");
}

/// `setsid`, `nohup` + `disown`, a double fork and a daemonising `sh`, interactive and in pipe
/// mode: all ended with the session, and named in the recording.
fn nothing_outlives_the_session(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    t.type_slowly(
        "setsid -f sleep 1000; nohup sleep 1001 >/dev/null 2>&1 & disown; (sleep 1002 &); sh -c 'trap \"\" HUP; sleep 1003 &'; exit\r",
    );
    t.wait(T);
    // settle() fails if any process of the user is left.
    let (_, events) = b.newest(n);
    let ended: Vec<String> = markers(&events)
        .into_iter()
        .filter(|m| m.starts_with("ended with the session"))
        .collect();
    assert_eq!(ended.len(), 1, "{:?}", markers(&events));
    // The ones that ignore the hang-up (nohup, the trap) at least; the others may have died of
    // the terminal's own SIGHUP first. settle() above checked that none is left.
    assert!(ended[0].matches("sleep").count() >= 2, "{ended:?}");
    let o = b.ssh(
        "user",
        "setsid -f sleep 1004; nohup sleep 1005 >/dev/null 2>&1 &",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (_, events) = b.newest(n + 1);
    assert!(
        markers(&events).iter().any(|m| m.contains("sleep")),
        "{:?}",
        markers(&events)
    );
}

/// `ssh -W` (and ProxyJump), `-L`, `-R`: refused by the drop-in dist/install.sh wrote.
fn no_forwarding(b: &Sshd) {
    let target = format!("127.0.0.1:{}", b.port);
    let w = Command::new("ssh")
        .args(b.ssh_args("user"))
        .args(["-W", &target, &format!("{USER}@127.0.0.1")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!w.status.success(), "ssh -W got through");
    assert!(!stdout(&w).contains("SSH-2.0"), "{}", stdout(&w));
    let r = Command::new("ssh")
        .args(b.ssh_args("user"))
        .args(["-o", "ExitOnForwardFailure=yes", "-N", "-R"])
        .arg(format!("{}:{target}", free_port()))
        .arg(format!("{USER}@127.0.0.1"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!r.status.success(), "ssh -R was allowed");
    let local = free_port();
    let mut l = Command::new("ssh")
        .args(b.ssh_args("user"))
        .args(["-N", "-L", &format!("{local}:{target}")])
        .arg(format!("{USER}@127.0.0.1"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    let mut conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", local)) {
            break c;
        }
        assert!(Instant::now() < deadline, "ssh -L did not listen");
        std::thread::sleep(Duration::from_millis(50));
    };
    conn.set_read_timeout(Some(T)).unwrap();
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let _ = l.kill();
    let _ = l.wait();
    assert!(
        !String::from_utf8_lossy(&got).contains("SSH-2.0"),
        "ssh -L reached sshd through the bastion"
    );
    b.settle();
}

/// sessrec is not in /etc/shells (install.sh took out the line an older install had added),
/// so chsh refuses, and the next login is still recorded.
fn no_chsh(b: &Sshd) {
    let shells = std::fs::read_to_string(b.path("shells")).unwrap();
    assert!(!shells.contains("sessrec"), "{shells}");
    let o = b.ssh("user", "chsh -s /bin/bash </dev/null; getent passwd $USER");
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("may not change the shell"), "{all}");
    assert!(stdout(&o).trim_end().ends_with("bin/sessrec"), "{all}");
    let o = b.ssh("user", "echo after-chsh");
    assert_eq!(stdout(&o), "after-chsh\n");
    b.settle();
}

/// Inside a session the user starts sessrec with a forged connection, parent session and a
/// certificate from a CA of their own: the nested recording names the real parent, the real
/// source and the real grant, and nothing of the forgery.
fn nested_claims_nothing(b: &Sshd, n: usize) {
    let d = b.dir.display();
    let home = format!("/home/{USER}");
    let sh = |c: &str| {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(c)
                .status()
                .unwrap()
                .success(),
            "{c}"
        );
    };
    sh(&format!(
        "rm -f {d}/evil {d}/evil.pub {d}/evil-cert*; ssh-keygen -q -t ed25519 -N '' -f {d}/evil && \
         ssh-keygen -q -t ed25519 -N '' -f {d}/evil-cert && \
         ssh-keygen -q -s {d}/evil -I GRANT-EVIL -n {USER} -V -1m:+1h {d}/evil-cert.pub && \
         printf 'publickey %s\\n' \"$(cat {d}/evil-cert-cert.pub)\" > {home}/fake-auth && chown {USER} {home}/fake-auth"
    ));
    let o = b.ssh(
        "user",
        &format!(
            "SSH_CONNECTION='6.6.6.6 1 22 2' SESSREC_SESSION=forged-parent SSH_USER_AUTH={home}/fake-auth \
             {d}/bin/sessrec -c 'echo nested'"
        ),
    );
    assert_eq!(stdout(&o), "nested\n", "{}", stderr(&o));
    b.settle();
    let all = b.recordings();
    assert_eq!(all.len(), n + 2);
    let header = |p| {
        let r = open_path(p, &OpenOptions::default()).unwrap();
        serde_json::to_value(r.header().sessrec.clone().unwrap()).unwrap()
    };
    let (outer, inner) = (header(&all[n]), header(&all[n + 1]));
    let (outer, inner) = if inner["parent_session"].is_null() {
        (inner, outer)
    } else {
        (outer, inner)
    };
    assert_eq!(inner["parent_session"], outer["session_id"], "{inner}");
    assert_eq!(inner["grant"]["id"], "GRANT-42", "{inner}");
    assert_eq!(inner["identity"]["source"], outer["identity"]["source"]);
    let text = inner.to_string();
    assert!(
        !text.contains("6.6.6.6") && !text.contains("EVIL") && !text.contains("forged"),
        "{text}"
    );
}

/// Writing into the spool (a link for the uploader, a forged recording), appending to the
/// audit log, reading the key: denied.
fn files_out_of_reach(b: &Sshd) {
    let d = b.dir.display();
    let o = b.ssh(
        "user",
        &format!(
            "ln -s /etc/shadow {d}/spool/planted.cast.zst; echo x >> {d}/log/audit.log; \
             cat {d}/etc/signing.key; ls {d}/run/sessions; cat {d}/log/audit.log; \
             cat {d}/spool/*.manifest.json"
        ),
    );
    b.settle();
    assert_eq!(
        stderr(&o).matches("Permission denied").count(),
        6,
        "{}",
        stderr(&o)
    );
    for p in b.recordings() {
        let r = verify(std::fs::File::open(&p).unwrap(), vec![b.public_key()]).unwrap();
        assert_eq!(r.verdict, Verdict::Intact, "{p:?}");
        // Sealed by the service with the host key: a manifest that describes these bytes.
        let name = p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".cast.zst", ".manifest.json");
        let sealed: sessrec_store::Attested =
            serde_json::from_slice(&std::fs::read(p.with_file_name(name)).unwrap()).unwrap();
        assert!(
            matches!(
                sealed.check(&[b.public_key()]),
                sessrec_store::Attestation::Signed { .. }
            ),
            "{p:?}"
        );
        let body = sealed.body().unwrap();
        assert_eq!(body.size, std::fs::metadata(&p).unwrap().len());
    }
}

/// From inside a session the user opens 100 connections to the service and holds them: the
/// service starts at most `max_sessions_per_user` (64) processes for them and refuses the
/// rest with the reason; once they are closed, logins work again.
fn connections_are_capped(b: &Sshd) {
    let socket = b.path("run/sessrec.sock");
    let daemon = std::fs::read_to_string(b.path("daemon.pid")).unwrap();
    let flood = format!(
        "python3 -c 'import socket,time\nss=[]\nfor i in range(100):\n  s=socket.socket(socket.AF_UNIX)\n  s.connect(\"{}\")\n  ss.append(s)\ntime.sleep(4)' & sleep 2; pgrep -c -P {}; wait",
        socket.display(),
        daemon.trim()
    );
    let o = b.ssh("user", &flood);
    let count: usize = stdout(&o)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
    // At most 64 workers for the user (this session's among them), give or take one still
    // sealing an earlier session.
    assert!(count <= 66, "{count} workers");
    let log = std::fs::read_to_string(b.path("daemon.log")).unwrap();
    let refused = log.matches("too many sessions").count();
    assert!(refused >= 100 - 64, "{refused} refused: {log}");
    // The held connections end (their workers give up after 10 s without a request).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = b.ssh("user", "echo back");
        if stdout(&o) == "back\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logins did not come back: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    b.settle();
}

/// 50 `ssh -tt` sessions at once through one service: each recording holds its own session's
/// output and no other's, and names the user.
fn fifty_sessions(b: &Sshd, n: usize) {
    let children: Vec<_> = (0..50)
        .map(|i| {
            Command::new("ssh")
                .args(b.ssh_args("user"))
                .arg("-tt")
                .arg(format!("{USER}@127.0.0.1"))
                .arg(format!("echo start-{i}-; sleep 2; echo end-{i}-"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(
            stdout(&o).contains(&format!("end-{i}-")),
            "session {i}: {}",
            stdout(&o)
        );
    }
    b.settle();
    let all = b.recordings();
    assert_eq!(all.len(), n + 50);
    let mut seen = std::collections::BTreeSet::new();
    for p in &all[n..] {
        let r = verify(std::fs::File::open(p).unwrap(), vec![b.public_key()]).unwrap();
        assert_eq!(r.verdict, Verdict::Intact, "{p:?}");
        let mut rd = open_path(p, &OpenOptions::default()).unwrap();
        let events = (&mut rd).collect::<Result<Vec<_>, _>>().unwrap();
        let header = serde_json::to_value(rd.header().sessrec.clone().unwrap()).unwrap();
        assert_eq!(header["identity"]["user"], USER);
        let text = output_text(&events);
        let ids: Vec<usize> = (0..50)
            .filter(|i| text.contains(&format!("start-{i}-")))
            .collect();
        assert_eq!(ids.len(), 1, "{p:?}: {text}");
        assert!(text.contains(&format!("end-{}-", ids[0])), "{p:?} is whole");
        seen.insert(ids[0]);
    }
    assert_eq!(seen.len(), 50);
}

/// SIGKILL to the service while a session runs: the session goes on in its worker, recorded to
/// the end and sealed; new logins are refused (strict) with a clear message.
fn service_killed(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    b.signal_service("TERM");
    b.signal_service("KILL");
    std::thread::sleep(Duration::from_millis(300));
    let o = b.ssh("user", "echo should-not-run");
    assert!(!stdout(&o).contains("should-not-run"));
    assert!(
        stderr(&o).contains("recording service is not running"),
        "{}",
        stderr(&o)
    );
    t.type_slowly("echo after-the-service-died; exit\r");
    t.wait(T);
    let (_, events) = b.newest(n);
    assert!(output_text(&events).contains("after-the-service-died"));
}
