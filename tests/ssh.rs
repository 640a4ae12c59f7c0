//! End to end over real OpenSSH (the bastion is in util/sshd.rs): logins, commands, file
//! transfers, refusals, the recorded user's attempts on the recordings, a dropped connection, a
//! grant that expires, then shipping, listing and `doctor`. Needs root and openssh-server.
//!
//! One test in named steps, not one test per step: the steps share one sshd and one test user
//! (a system-wide account whose login shell points at this run), and each counts on the
//! recordings the steps before it left.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sessrec_formats::audit::{Head, link};
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::{EventData, OpenOptions, open_path};

use crate::util::Req;
use crate::util::harness::step;
use crate::util::recording::{input_text, output_bytes, output_text};
use crate::util::sshd::{NEEDS, Sshd, T, USER};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![sessions_over_real_openssh => [NEEDS, Req::Tool("minisign"), Req::Tool("sha256sum"), Req::Tool("chromium")]]
}

fn sessions_over_real_openssh() {
    let b = Sshd::start();
    // Recordings in the spool so far: each step checks the ones it adds.
    let mut n = b.recordings().len();
    step(
        "an interactive login with a certificate as the grant",
        || interactive_login(&b, n),
    );
    n += 1;
    step(
        "ssh host cmd: pipe mode, recorded, exit status passed",
        || command_without_a_terminal(&b, n),
    );
    n += 1;
    step("ssh -t host cmd: on a PTY, recorded like a login", || {
        command_with_a_terminal(&b, n)
    });
    n += 1;
    n = step(
        "scp (both protocols) and sftp: identical bytes, recorded",
        || file_transfers(&b, n),
    );
    step("a plain key without a grant is refused", || {
        refused_without_a_grant(&b, n)
    });
    let all = b.recordings();
    step(
        "the user can neither read the key nor touch recordings",
        || the_user_cannot_touch_the_recordings(&b, &all),
    );
    step(
        "every other subcommand runs with the user's own rights",
        || subcommands_get_no_privilege(&b),
    );
    // Both steps above ran one (recorded) ssh session each.
    n += 2;
    step("a dropped connection seals the recording", || {
        a_dropped_connection(&b, n)
    });
    n += 1;
    step("a grant that expires mid-session ends it", || {
        a_grant_expires(&b, n)
    });
    n += 1;
    step("a forged SSH_USER_AUTH is never read", || {
        a_forged_auth_file_is_ignored(&b, n)
    });
    step("the uploader ships every session; ls finds them", || {
        shipped_and_listed(&b)
    });
    step(
        "the audit log is a signed chain, shipped; edits and cuts show",
        || the_audit_chain_verifies(&b),
    );
    step(
        "an auditor's export by grant checks with stock tools; edits show",
        || an_export_by_grant(&b),
    );
    step("the installed bastion passes doctor", || doctor_passes(&b));
}

/// Typed like a person; the recording names the user, the certificate and the grant.
fn interactive_login(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("This session is recorded by sessrec", T);
    t.wait_for("$ ", T);
    t.type_slowly("echo ssh-works $((40+2))\r");
    t.wait_for("ssh-works 42", T);
    t.type_slowly("exit 3\r");
    assert_eq!(t.wait(T).code(), Some(3));
    let (meta, events) = b.newest(n);
    assert_eq!(meta["identity"]["user"], USER);
    assert_eq!(
        meta["identity"]["ssh"][0]["certificate"]["key_id"],
        "GRANT-42"
    );
    assert_eq!(
        meta["identity"]["ssh"][0]["certificate"]["principals"][0],
        USER
    );
    assert_eq!(meta["grant"]["id"], "GRANT-42");
    assert_eq!(meta["grant"]["source"], "certificate");
    assert!(
        meta["identity"]["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(input_text(&events).contains("echo ssh-works $((40+2))\r"));
    assert!(output_text(&events).contains("ssh-works 42"));
    assert_eq!(events.last().unwrap().data, EventData::Exit(3));
}

fn command_without_a_terminal(b: &Sshd, n: usize) {
    let o = b.ssh("user", "echo cmd-works; echo to-stderr >&2; exit 5");
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "cmd-works\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-stderr\n");
    let (meta, events) = b.newest(n);
    assert_eq!(meta["grant"]["id"], "GRANT-42");
    assert!(output_text(&events).contains("cmd-works"));
}

fn command_with_a_terminal(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", Some("tty; exit 4"));
    assert_eq!(t.wait(T).code(), Some(4));
    let (_, events) = b.newest(n);
    assert!(
        output_text(&events).contains("/dev/pts/"),
        "{}",
        String::from_utf8_lossy(&output_bytes(&events))
    );
}

/// Files both ways with scp (SFTP protocol and legacy) and sftp; every transfer left a
/// verified recording (two per scp round trip, one for sftp). Returns the recordings now.
fn file_transfers(b: &Sshd, n: usize) -> usize {
    let data: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(b.path("up.bin"), &data).unwrap();
    let remote = |name: &str| {
        format!(
            "{USER}@127.0.0.1:{}",
            b.path(&format!("xfer/{name}")).display()
        )
    };
    for (i, flags) in [vec![], vec!["-O"]].iter().enumerate() {
        let name = format!("scp{i}.bin");
        let mut up: Vec<&str> = flags.to_vec();
        let (src, dst) = (b.path("up.bin"), remote(&name));
        up.extend([src.to_str().unwrap(), dst.as_str()]);
        let o = b.tool("scp", &up);
        assert!(
            o.status.success(),
            "scp {flags:?} up: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let back = b.path(&format!("down{i}.bin"));
        let mut down: Vec<&str> = flags.to_vec();
        down.extend([dst.as_str(), back.to_str().unwrap()]);
        let o = b.tool("scp", &down);
        assert!(
            o.status.success(),
            "scp {flags:?} down: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(std::fs::read(b.path(&format!("xfer/{name}"))).unwrap() == data);
        assert!(std::fs::read(&back).unwrap() == data);
    }
    std::fs::write(
        b.path("batch"),
        format!(
            "put {} {}\nget {} {}\n",
            b.path("up.bin").display(),
            b.path("xfer/sftp.bin").display(),
            b.path("xfer/sftp.bin").display(),
            b.path("sftp-back.bin").display()
        ),
    )
    .unwrap();
    let batch = b.path("batch");
    let o = b.tool(
        "sftp",
        &["-b", batch.to_str().unwrap(), &format!("{USER}@127.0.0.1")],
    );
    assert!(
        o.status.success(),
        "sftp: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::read(b.path("sftp-back.bin")).unwrap() == data);
    b.settle();
    let all = b.recordings();
    assert_eq!(all.len(), n + 5);
    for (i, p) in all[n..].iter().enumerate() {
        let r = verify(std::fs::File::open(p).unwrap(), vec![b.public_key()]).unwrap();
        let header = open_path(p, &OpenOptions::default()).map(|r| r.header().command.clone());
        assert_eq!(r.verdict, Verdict::Intact, "transfer {i} {header:?}: {r:?}");
    }
    all.len()
}

/// No grant (a plain key, no certificate): refused, with a clear message and an audit event,
/// and nothing recorded.
fn refused_without_a_grant(b: &Sshd, n: usize) {
    let o = b.ssh("plain", "echo should-not-run");
    assert_ne!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("access refused"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("should-not-run"));
    assert!(b.audit().contains("\"event\":\"session.refused\""));
    assert_eq!(b.recordings().len(), n);
}

/// The recorded user tries to read the signing key, list, delete and change the recordings
/// (`all`, the ones so far); every attempt is denied, the shell keeps no sessrec group, and every
/// recording still verifies.
fn the_user_cannot_touch_the_recordings(b: &Sshd, all: &[PathBuf]) {
    let o = b.ssh(
        "user",
        &format!(
            "cat {d}/etc/signing.key; ls {d}/spool; rm -f {d}/spool/*; echo x >> {f}; \
             echo '{{}}' >> {d}/log/audit.log; echo 0 >> {d}/log/audit.log.head; id -Gn",
            d = b.dir.display(),
            f = all[0].display()
        ),
    );
    b.settle();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("Permission denied").count(), 6, "{err}");
    let groups = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        !groups.split_whitespace().any(|g| g == "sessrec"),
        "the shell must not keep the sessrec group: {groups}"
    );
    for p in all {
        let r = verify(std::fs::File::open(p).unwrap(), vec![b.public_key()]).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Intact,
            "{p:?} after the user's attempts"
        );
    }
}

/// The setgid group is the login shell's alone: `rec`, `convert`, `upload` and `keygen` run by
/// the recorded user get nothing the user could not do without sessrec.
fn subcommands_get_no_privilege(b: &Sshd) {
    let d = b.dir.display();
    let o = b.ssh(
        "user",
        &format!(
            "cd /tmp; S={d}/bin/sessrec; \
             $S rec -q -o /tmp/sessrec-e2e-self.cast.zst -- cat {d}/etc/signing.key; echo rec=$?; \
             $S convert {d}/etc/signing.key.pub /tmp/sessrec-e2e-forged.cast.zst --sign-key {d}/etc/signing.key; echo convert=$?; \
             $S upload --status --config {d}/etc/config.toml; echo upload=$?; \
             $S keygen -o {d}/log/audit.log --force; echo keygen=$?; \
             rm -f /tmp/sessrec-e2e-self.cast.zst /tmp/sessrec-e2e-forged.cast.zst"
        ),
    );
    b.settle();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let key = std::fs::read_to_string(b.path("etc/signing.key")).unwrap();
    assert!(
        !out.contains(key.lines().nth(1).unwrap()),
        "the key was printed: {out}"
    );
    for failed in ["convert=1", "upload=1", "keygen=1"] {
        assert!(out.contains(failed), "{failed}: {out}\n{err}");
    }
    assert!(err.matches("Permission denied").count() >= 3, "{err}");
    assert!(
        b.path("log/audit.log").is_file(),
        "the audit log is still there"
    );
}

/// The client is killed mid-session: sshd hangs up, the recording is sealed.
fn a_dropped_connection(b: &Sshd, n: usize) {
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    t.type_slowly("echo before-drop\r");
    t.wait_for("before-drop\r\n", T);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(t.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    t.wait(T);
    let (_, events) = b.newest(n);
    assert!(output_text(&events).contains("before-drop"));
    // sshd hangs up the client; the service sees the terminal or the client go, first wins.
    let audit = b.audit();
    assert!(
        audit.contains("\"end\":\"HungUp\"") || audit.contains("\"end\":\"ClientGone\""),
        "{audit}"
    );
}

/// A grant (certificate) valid for 40 s: warned, then ended, and the end is recorded.
fn a_grant_expires(b: &Sshd, n: usize) {
    let started = Instant::now();
    let mut t = b.tty_session("short", None);
    t.wait_for("$ ", T);
    t.wait_for("grant GRANT-SHORT expires in", T);
    t.wait_for("expired at", Duration::from_secs(60));
    t.wait(T);
    assert!(started.elapsed() < Duration::from_secs(60));
    let (meta, events) = b.newest(n);
    assert_eq!(meta["grant"]["id"], "GRANT-SHORT");
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.data, EventData::Marker(m) if m.contains("GRANT-SHORT expired")))
    );
    assert!(b.audit().contains("\"event\":\"grant.expired\""));
}

/// A nested login-mode sessrec told that the signing key is sshd's auth file: the key is not
/// read (it is not the user's file), so none of it reaches the nested recording's header or
/// the audit log. (A grant file gives the nested session a grant, so that it is recorded.)
fn a_forged_auth_file_is_ignored(b: &Sshd, n: usize) {
    let d = b.dir.display();
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let grant_file = b.path(&format!("grants/{USER}.json"));
    std::fs::write(
        &grant_file,
        format!("{{\"id\": \"GRANT-FILE\", \"expires\": \"{expires}\"}}"),
    )
    .unwrap();
    let o = b.ssh(
        "user",
        &format!("SSH_USER_AUTH={d}/etc/signing.key {d}/bin/sessrec -c 'echo nested'"),
    );
    std::fs::remove_file(&grant_file).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "nested\n", "{err}");
    b.settle();
    let all = b.recordings();
    assert_eq!(all.len(), n + 2, "the session and the nested one");
    let key = std::fs::read_to_string(b.path("etc/signing.key")).unwrap();
    let secret = key.lines().nth(1).unwrap();
    for p in &all[n..] {
        let r = open_path(p, &OpenOptions::default()).unwrap();
        let header = serde_json::to_string(&r.header().sessrec).unwrap();
        assert!(
            !header.contains(secret) && !header.contains("BEGIN"),
            "{header}"
        );
    }
    assert!(!b.audit().contains(secret));
}

/// The installed binary's `upload --once` empties the spool into the store; the catalog finds
/// every session by user, and by grant.
fn shipped_and_listed(b: &Sshd) {
    let d = b.dir.display().to_string();
    let config = format!("{d}/etc/config.toml");
    let catalog = format!("{d}/catalog.sqlite");
    let total = b.recordings().len();
    // As the unprivileged uploader user the unit runs it as.
    let up = Command::new("runuser")
        .args(["-u", "sessrec", "--", &format!("{d}/bin/sessrec")])
        .args(["upload", "--once", "--config", &config])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        b.recordings().is_empty(),
        "the spool is empty once shipped: {:?}\n{}{}",
        b.recordings(),
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    let ls = |extra: &[&str]| -> usize {
        let o = Command::new(format!("{d}/bin/sessrec"))
            .args(["ls", "--json", "--config", &config, "--catalog", &catalog])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    assert_eq!(ls(&[]), total);
    assert_eq!(ls(&["--user", USER]), total);
    assert!(ls(&["--grant", "GRANT-42"]) >= 1);
    assert_eq!(ls(&["--grant", "GRANT-SHORT"]), 1);
}

/// Every line of the audit log carries the hash of the one before and the service signs its
/// own: the log verifies (its last lines, the uploader's, wait for the service's next
/// signature), the store holds it up to a signed line, and an edit, a removed line or a line
/// the uploader forges shows.
fn the_audit_chain_verifies(b: &Sshd) {
    let d = b.dir.display().to_string();
    let key = format!("{d}/etc/signing.key.pub");
    let verify = |path: &str| -> (i32, String) {
        let o = Command::new(format!("{d}/bin/sessrec"))
            .args(["verify", path, "--key", &key])
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code().unwrap_or(-1), text)
    };
    let log = format!("{d}/log/audit.log");
    let (code, out) = verify(&log);
    assert!(code == 0 || code == 3, "{out}");
    assert!(
        out.contains("audit chain intact and signed by trusted key"),
        "{out}"
    );

    // Shipped by the uploader's pass in the step before: one host, from seq 1 to a signed line.
    let hosts: Vec<PathBuf> = std::fs::read_dir(format!("{d}/lib/store/audit"))
        .expect("the uploader shipped the audit chain")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let shipped = hosts[0].display().to_string();
    let (code, out) = verify(&shipped);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("seq 1-"), "{out}");

    // Copies, edited as whoever can write the log or the store would.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let starts = lines
        .iter()
        .position(|l| l.contains("\"event\":\"session.start\"") && l.contains("\"sig\""))
        .expect("a signed session.start");
    let tampered = |name: &str, lines: Vec<String>| -> (i32, String) {
        let p = format!("{d}/{name}.jsonl");
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        verify(&p)
    };
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[starts] = edited[starts].replacen(USER, "someone", 1);
    let (code, out) = tampered("edited", edited);
    assert_eq!(code, 4, "an edited session.start: {out}");
    assert!(out.contains("audit chain altered"), "{out}");
    let mut removed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    removed.remove(starts);
    let (code, out) = tampered("removed", removed);
    assert_eq!(code, 3, "a session.start removed: {out}");
    assert!(
        out.contains("audit chain cut") && out.contains("missing"),
        "{out}"
    );
    let (code, out) = tampered(
        "start-cut",
        lines[2..].iter().map(|l| l.to_string()).collect(),
    );
    assert_eq!(code, 3, "the first lines removed: {out}");

    // The uploader (group sessrec) may append, and can link a line it forges into the chain:
    // unsigned, it is no statement of the service's, it waits unshipped, and `verify` says the
    // chain's last lines are not signed.
    let last = std::fs::read_to_string(&log).unwrap();
    let last = last.lines().last().unwrap();
    let head = Head::after(last.as_bytes()).unwrap();
    let serde_json::Value::Object(fields) =
        serde_json::json!({"event": "session.start", "session": "forged-by-the-uploader"})
    else {
        unreachable!()
    };
    let (forged, _) = link(&head, fields, None);
    let mut append = Command::new("runuser")
        .args(["-u", "sessrec", "--", "sh", "-c"])
        .arg(format!("cat >> {log}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        append.stdin.as_mut().unwrap(),
        format!("{forged}\n").as_bytes(),
    )
    .unwrap();
    assert!(append.wait().unwrap().success());
    let (code, out) = verify(&log);
    assert_eq!(code, 3, "a forged, unsigned last line: {out}");
    assert!(out.contains("not signed yet"), "{out}");
    let up = Command::new("runuser")
        .args(["-u", "sessrec", "--", &format!("{d}/bin/sessrec")])
        .args([
            "upload",
            "--once",
            "--config",
            &format!("{d}/etc/config.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let (code, out) = verify(&shipped);
    assert_eq!(code, 0, "{out}");
    for segment in std::fs::read_dir(&shipped).unwrap() {
        let text = std::fs::read_to_string(segment.unwrap().path()).unwrap();
        assert!(
            !text.contains("forged-by-the-uploader"),
            "shipped unsigned: {text}"
        );
    }
}

/// `sessrec export --grant` of the shipped sessions: every session of the grant, with the exit
/// status the service signed, intact; `sha256sum -c` and Debian's `minisign -V` pass, and fail
/// once a recording or SHA256SUMS is edited; the audit chain in the bundle verifies.
fn an_export_by_grant(b: &Sshd) {
    let d = b.dir.display().to_string();
    let bin = format!("{d}/bin/sessrec");
    let run = |cmd: &mut Command| -> (i32, String) {
        let o = cmd.output().unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code().unwrap_or(-1), text)
    };
    let exporter = format!("{d}/exporter.key");
    let (code, out) = run(Command::new(&bin).args(["keygen", "-o", &exporter]));
    assert_eq!(code, 0, "{out}");
    let bundle = format!("{d}/bundle");
    let config = format!("{d}/etc/config.toml");
    let key = format!("{d}/etc/signing.key.pub");
    let export = |out_dir: &str| {
        run(Command::new(&bin).args([
            "export",
            "--config",
            &config,
            "--key",
            &key,
            "--grant",
            "GRANT-42",
            "-o",
            out_dir,
            "--sign-key",
            &exporter,
        ]))
    };
    let (code, out) = export(&bundle);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SHA256SUMS signed by key"), "{out}");

    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(format!("{bundle}/manifest.json")).unwrap())
            .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r["grant"], "GRANT-42", "{r}");
        assert_eq!(r["verdict"], "intact", "{r}");
        assert_eq!(r["user"], USER, "{r}");
        assert!(
            r["exit_status"].is_i64(),
            "the signed session.end gives it: {r}"
        );
        let id = r["session_id"].as_str().unwrap();
        for f in [
            "recording.cast.zst",
            "manifest.json",
            "transcript.txt",
            "session.cast",
        ] {
            assert!(std::path::Path::new(&format!("{bundle}/sessions/{id}/{f}")).is_file());
        }
    }
    // The interactive login: its certificate, its key and the exit status it ended with.
    let login = rows
        .iter()
        .find(|r| r["exit_status"] == 3)
        .expect("the login that ran `exit 3`");
    assert_eq!(login["cert_key_id"], "GRANT-42", "{login}");
    assert!(
        login["key_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:"),
        "{login}"
    );
    assert!(
        login["source"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{login}"
    );

    // The report in headless Chromium: the table lists every session; the login's page shows
    // its screens as sessrec's emulator drew them.
    let chromium = |url: &str, extra: &[&str]| {
        let profile = tempfile::TempDir::new().unwrap();
        run(Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url))
    };
    let (code, dom) = chromium(&format!("file://{bundle}/index.html"), &["--dump-dom"]);
    assert_eq!(code, 0, "{dom}");
    for r in &rows {
        assert!(dom.contains(r["session_id"].as_str().unwrap()), "{dom}");
    }
    assert!(
        !dom.contains("id=\"filters\" hidden"),
        "the script ran: {dom}"
    );
    let page = format!(
        "file://{bundle}/sessions/{}/index.html",
        login["session_id"].as_str().unwrap()
    );
    let (code, dom) = chromium(&page, &["--dump-dom"]);
    assert_eq!(code, 0, "{dom}");
    assert!(
        dom.contains("<pre class=\"screen\"") && dom.contains("ssh-works 42"),
        "{dom}"
    );
    for (name, url) in [
        ("index", format!("file://{bundle}/index.html")),
        ("session", page),
    ] {
        let shot = format!("{d}/report-{name}.png");
        let (code, out) = chromium(&url, &[&format!("--screenshot={shot}")]);
        assert_eq!(code, 0, "{out}");
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "a blank {name} page"
        );
    }

    let csv = std::fs::read_to_string(format!("{bundle}/manifest.csv")).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1, "{csv}");
    assert!(csv.starts_with("session_id,user,uid,source,key_fingerprint"));
    let hosts: Vec<PathBuf> = std::fs::read_dir(format!("{bundle}/audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(hosts.len(), 1);
    let (code, out) = run(Command::new(&bin)
        .arg("verify")
        .arg(&hosts[0])
        .args(["--key", &key]));
    assert_eq!(code, 0, "{out}");

    let stock = |bundle: &str| {
        let sums = run(Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(bundle));
        let sig = run(Command::new("minisign")
            .args(["-V", "-p", "keys/exporter.pub", "-m", "SHA256SUMS"])
            .current_dir(bundle));
        (sums, sig)
    };
    let ((sums, out), (sig, sig_out)) = stock(&bundle);
    assert_eq!((sums, sig), (0, 0), "{out}{sig_out}");
    let exporter_pub = format!("{exporter}.pub");
    let check = |bundle: &str| {
        run(Command::new(&bin).args(["verify", bundle, "--key", &key, "--key", &exporter_pub]))
    };
    let (code, out) = check(&bundle);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bundle intact and complete"), "{out}");
    // A copy re-signed by a key the auditor was not given.
    let resigned = format!("{d}/bundle-resigned");
    assert_eq!(
        run(Command::new("cp").args(["-r", &bundle, &resigned])).0,
        0
    );
    let (code, out) = run(Command::new("sh").arg("-c").arg(format!(
        "cd {resigned} && minisign -G -W -p {d}/other.pub -s {d}/other.key && \
         minisign -S -s {d}/other.key -m SHA256SUMS -x SHA256SUMS.minisig"
    )));
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(&resigned);
    assert_eq!(code, 6, "re-signed by an unknown key: {out}");
    // One byte of one recording flipped: sha256sum names it.
    let id = rows[0]["session_id"].as_str().unwrap();
    let recording = format!("{bundle}/sessions/{id}/recording.cast.zst");
    let mut bytes = std::fs::read(&recording).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&recording, &bytes).unwrap();
    let ((sums, out), _) = stock(&bundle);
    assert_ne!(sums, 0, "{out}");
    assert!(out.contains("recording.cast.zst: FAILED"), "{out}");
    let (code, out) = check(&bundle);
    assert_eq!(code, 4, "a flipped byte: {out}");
    assert!(
        out.contains("recording.cast.zst differs from its SHA256SUMS line"),
        "{out}"
    );
    // SHA256SUMS rewritten to match: its signature no longer verifies.
    let (_, fixed) = run(Command::new("sha256sum")
        .arg(format!("sessions/{id}/recording.cast.zst"))
        .current_dir(&bundle));
    let sums_path = format!("{bundle}/SHA256SUMS");
    let text = std::fs::read_to_string(&sums_path).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.ends_with(&format!("sessions/{id}/recording.cast.zst")) {
                fixed.trim().to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&sums_path, text).unwrap();
    let ((sums, out), (sig, sig_out)) = stock(&bundle);
    assert_eq!(sums, 0, "{out}");
    assert_ne!(sig, 0, "{sig_out}");
    let (code, out) = check(&bundle);
    assert_eq!(code, 4, "SHA256SUMS rewritten: {out}");
    assert!(out.contains("does not verify"), "{out}");

    // A store writer deletes one session of the grant: the next export is consistent and
    // signed, but the host's signed audit chain started and ended that session.
    let gone = rows[0]["session_id"].as_str().unwrap();
    let mut removed = 0;
    let mut dirs = vec![PathBuf::from(format!("{d}/lib/store/sessions"))];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().unwrap().to_string_lossy().starts_with(gone) {
                std::fs::remove_file(&p).unwrap();
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 2, "the recording and its manifest");
    let pruned = format!("{d}/bundle-pruned");
    let (code, out) = export(&pruned);
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(&pruned);
    assert_eq!(code, 7, "a session deleted from the store: {out}");
    assert!(out.contains(&format!("session {gone} is missing")), "{out}");
    // The bundle directory must be new or empty.
    let (code, out) = export(&bundle);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not empty"), "{out}");
}

fn doctor_passes(b: &Sshd) {
    let d = b.dir.display().to_string();
    let doc = Command::new(format!("{d}/bin/sessrec"))
        .args([
            "doctor",
            "--config",
            &format!("{d}/etc/config.toml"),
            "--user",
            USER,
        ])
        .args(["--sshd-config", &format!("{d}/sshd_config")])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doc.stdout);
    assert!(doc.status.success(), "{report}");
    for checked in [
        "takes, returns and deletes",
        "the recording service answers",
        "sshd forwards nothing",
        "cannot chsh away",
        "execute-only for users",
    ] {
        assert!(report.contains(checked), "{checked}: {report}");
    }
    assert!(!report.contains("FAIL"), "{report}");
    // This host has no Yama; nothing else may warn.
    let warnings: Vec<&str> = report.lines().filter(|l| l.starts_with("warn ")).collect();
    assert!(
        warnings.iter().all(|w| w.contains("ptrace_scope")),
        "{report}"
    );
}
