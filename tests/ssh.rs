//! End to end over real OpenSSH: sshd on 127.0.0.1 with ExposeAuthInfo, a user whose login shell
//! is sessrec (installed setgid by dist/install.sh), certificates from a test CA as grants.
//! Needs root and openssh-server; scripts/test.sh provides both and sets SESSREC_SSH=required.

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::{Term, input_text, output_bytes};
use serde_json::Value;
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{EventData, OpenOptions, open_path};

const USER: &str = "sessrec-e2e";
const T: Duration = Duration::from_secs(30);

struct Bastion {
    dir: PathBuf,
    port: u16,
    sshd: std::process::Child,
}

fn sh(cmd: &str) -> Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn available() -> bool {
    let ok = rustix::process::geteuid().is_root()
        && Path::new("/usr/sbin/sshd").exists()
        && Path::new("/usr/bin/unshare").exists();
    if !ok && std::env::var("SESSREC_SSH").as_deref() == Ok("required") {
        panic!(
            "the SSH end-to-end test needs root, openssh-server and unshare (scripts/test.sh sets them up)"
        );
    }
    ok
}

impl Bastion {
    fn start() -> Bastion {
        let dir = std::env::temp_dir().join(format!("sessrec-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        let root = env!("CARGO_MANIFEST_DIR");
        sh(&format!(
            "chmod 755 {d} && mkdir -p {d}/xfer {d}/grants && chmod 1777 {d}/xfer"
        ));
        sh(&format!(
            "SESSREC_BIN_DIR={d}/bin SESSREC_ETC={d}/etc SESSREC_SPOOL={d}/spool SESSREC_LOG={d}/log SESSREC_LIB={d}/lib SESSREC_SHELLS={d}/shells \
             {root}/dist/install.sh {bin}",
            bin = env!("CARGO_BIN_EXE_sessrec")
        ));
        std::fs::write(
            dir.join("etc/config.toml"),
            format!(
                "shell = \"/bin/bash\"\nspool = \"{d}/spool\"\nsigning_key = \"{d}/etc/signing.key\"\n\
                 audit_log = \"{d}/log/audit.log\"\nsyslog = false\nrequire_grant = true\ngrant_dir = \"{d}/grants\"\n\
                 storage = \"file://{d}/lib/store\"\n"
            ),
        )
        .unwrap();
        sh(&format!(
            "id {USER} >/dev/null 2>&1 || useradd -m {USER}; usermod -s {d}/bin/sessrec -p '*' {USER}; \
             mkdir -p /run/sshd; \
             ssh-keygen -q -t ed25519 -N '' -f {d}/hostkey; ssh-keygen -q -t ed25519 -N '' -f {d}/ca; \
             for k in user short plain; do ssh-keygen -q -t ed25519 -N '' -f {d}/$k; done; \
             ssh-keygen -q -s {d}/ca -I GRANT-42 -n {USER} -V -1m:+20m {d}/user.pub; \
             ssh-keygen -q -s {d}/ca -I GRANT-SHORT -n {USER} -V -1m:+40s {d}/short.pub; \
             install -d -o {USER} -m 700 ~{USER}/.ssh; install -o {USER} -m 600 {d}/plain.pub ~{USER}/.ssh/authorized_keys"
        ));
        let port = free_port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\nExposeAuthInfo yes\n\
                 TrustedUserCAKeys {d}/ca.pub\nAuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin no\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\nLogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        // sshd sees the test's policy at /etc/sessrec through a private mount, as an installed
        // bastion would; nothing on the host changes.
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let sshd = Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!("mkdir -p /etc/sessrec && mount --bind {d}/etc /etc/sessrec && exec /usr/sbin/sshd -D -e -f {d}/sshd_config"))
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + T;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Bastion { dir, port, sshd }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    fn ssh_args(&self, key: &str) -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &self.port.to_string(),
            "-i",
            self.path(key).to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn ssh(&self, key: &str, cmd: &str) -> Output {
        Command::new("ssh")
            .args(self.ssh_args(key))
            .arg(format!("{USER}@127.0.0.1"))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ssh -tt` with `key` (and a command, if any) on a real PTY.
    fn tty_session(&self, key: &str, cmd: Option<&str>) -> Term {
        let mut args = vec!["-tt".to_string()];
        args.extend(self.ssh_args(key));
        args.push(format!("{USER}@127.0.0.1"));
        args.extend(cmd.map(str::to_string));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        Term::spawn(Path::new("/usr/bin/ssh"), &argv, 100, 30, &[])
    }

    fn tool(&self, tool: &str, args: &[&str]) -> Output {
        let mut opts = self.ssh_args("user");
        if tool != "ssh" {
            // scp and sftp take the port as -P.
            let i = opts.iter().position(|a| a == "-p").unwrap();
            opts[i] = "-P".into();
        }
        Command::new(tool)
            .args(opts)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The recordings in the spool, oldest first.
    fn recordings(&self) -> Vec<PathBuf> {
        harness::files_in(&self.path("spool"))
    }

    fn public_key(&self) -> PublicKey {
        PublicKey::from_file_text(
            &std::fs::read_to_string(self.path("etc/signing.key.pub")).unwrap(),
        )
        .unwrap()
    }

    /// Verifies the newest recording and returns its header's sessrec object and its events.
    fn newest(&self, before: usize) -> (Value, Vec<sessrec_formats::Event>) {
        self.settle();
        let all = self.recordings();
        assert_eq!(all.len(), before + 1, "one new recording");
        let path = all.last().unwrap();
        let report = verify(std::fs::File::open(path).unwrap(), vec![self.public_key()]).unwrap();
        assert_eq!(report.verdict, Verdict::Intact, "{path:?}: {report:?}");
        let mut r = open_path(path, &OpenOptions::default()).unwrap();
        let events = (&mut r).collect::<Result<Vec<_>, _>>().unwrap();
        (
            serde_json::to_value(r.header().sessrec.clone().unwrap()).unwrap(),
            events,
        )
    }

    /// Waits until no process of the test user is left: the recorders have sealed their files
    /// (a client can be done before the recorder on the bastion has written the last bytes).
    fn settle(&self) {
        let deadline = Instant::now() + T;
        while Command::new("pgrep")
            .args(["-u", USER])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "sessions of {USER} still running"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.path("log/audit.log")).unwrap_or_default()
    }
}

impl Drop for Bastion {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sessions_over_real_openssh() {
    if !available() {
        eprintln!("skipped: needs root, sshd and unshare");
        return;
    }
    let b = Bastion::start();
    let mut n = b.recordings().len();

    // An interactive session, typed like a person, with a certificate as the grant.
    let mut t = b.tty_session("user", None);
    t.wait_for("This session is recorded by sessrec", T);
    t.wait_for("$ ", T);
    t.type_slowly("echo ssh-works $((40+2))\r");
    t.wait_for("ssh-works 42", T);
    t.type_slowly("exit 3\r");
    assert_eq!(t.wait(T).code(), Some(3));
    let (meta, events) = b.newest(n);
    n += 1;
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
    assert!(String::from_utf8_lossy(&output_bytes(&events)).contains("ssh-works 42"));
    assert_eq!(events.last().unwrap().data, EventData::Exit(3));

    // ssh host cmd: pipe mode, recorded, exit status passed through.
    let o = b.ssh("user", "echo cmd-works; echo to-stderr >&2; exit 5");
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "cmd-works\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-stderr\n");
    let (meta, events) = b.newest(n);
    n += 1;
    assert_eq!(meta["grant"]["id"], "GRANT-42");
    assert!(String::from_utf8_lossy(&output_bytes(&events)).contains("cmd-works"));

    // `ssh -t host cmd`: a command with a terminal runs on a PTY, recorded like a login.
    let mut t = b.tty_session("user", Some("tty; exit 4"));
    assert_eq!(t.wait(T).code(), Some(4));
    let (_, events) = b.newest(n);
    n += 1;
    assert!(
        String::from_utf8_lossy(&output_bytes(&events)).contains("/dev/pts/"),
        "{}",
        String::from_utf8_lossy(&output_bytes(&events))
    );

    // Files both ways with scp (SFTP protocol and legacy), and sftp: byte-identical, recorded.
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
    // Every transfer left a verified recording (two per scp round trip, one for sftp).
    b.settle();
    let all = b.recordings();
    assert_eq!(all.len(), n + 5);
    for (i, p) in all[n..].iter().enumerate() {
        let r = verify(std::fs::File::open(p).unwrap(), vec![b.public_key()]).unwrap();
        let header = open_path(p, &OpenOptions::default()).map(|r| r.header().command.clone());
        assert_eq!(r.verdict, Verdict::Intact, "transfer {i} {header:?}: {r:?}");
    }
    n = all.len();

    // No grant (a plain key, no certificate): refused, with a clear message and an audit event.
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

    // The recorded user can neither read the key nor see, change or delete recordings.
    let o = b.ssh(
        "user",
        &format!(
            "cat {d}/etc/signing.key; ls {d}/spool; rm -f {d}/spool/*; echo x >> {f}; id -Gn",
            d = b.dir.display(),
            f = all[0].display()
        ),
    );
    b.settle();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("Permission denied").count(), 4, "{err}");
    let groups = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        !groups.split_whitespace().any(|g| g == "sessrec"),
        "the shell must not keep the sessrec group: {groups}"
    );
    n += 1;
    for p in &all {
        let r = verify(std::fs::File::open(p).unwrap(), vec![b.public_key()]).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Intact,
            "{p:?} after the user's attempts"
        );
    }

    // The client's connection drops mid-session: sshd hangs up, the recording is sealed.
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
    n += 1;
    assert!(String::from_utf8_lossy(&output_bytes(&events)).contains("before-drop"));
    assert!(b.audit().contains("\"end\":\"HungUp\""), "{}", b.audit());

    // A grant that expires during the session: warned, then ended, and the end is recorded.
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

    // The uploader ships every session to the store; the catalog finds them by user and grant.
    let d = b.dir.display().to_string();
    let config = format!("{d}/etc/config.toml");
    let catalog = format!("{d}/catalog.sqlite");
    let total = b.recordings().len();
    let up = Command::new(format!("{d}/bin/sessrec"))
        .args(["upload", "--once", "--config", &config])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(b.recordings().is_empty(), "the spool is empty once shipped");
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

    // The installed bastion passes its own check.
    let doc = Command::new(format!("{d}/bin/sessrec"))
        .args(["doctor", "--config", &config])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doc.stdout);
    assert!(doc.status.success(), "{report}");
    assert!(report.contains("takes, returns and deletes"), "{report}");
}
