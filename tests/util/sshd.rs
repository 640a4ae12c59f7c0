//! A bastion behind real OpenSSH, for the end-to-end test: sshd on 127.0.0.1 with
//! ExposeAuthInfo, the binary installed by dist/install.sh, a user whose login shell is
//! sessrec, and certificates from a test CA as grants.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Event, OpenOptions, open_path};

use super::config::Config;
use super::recording::files_in;
use super::service::service_table;
use super::term::Term;
use super::{BIN, Req, free_port};

/// What a test of it needs: root (a test user, a mount namespace, sshd) and OpenSSH.
pub const NEEDS: [Req; 10] = [
    Req::Root,
    Req::Tool("/usr/sbin/sshd"),
    Req::Tool("unshare"),
    Req::Tool("ssh"),
    Req::Tool("ssh-keygen"),
    Req::Tool("scp"),
    Req::Tool("sftp"),
    Req::Tool("/usr/lib/openssh/sftp-server"),
    Req::Tool("useradd"),
    Req::Tool("pgrep"),
];

/// The test user of the end-to-end test (made once, kept; its login shell is pointed at this
/// run's binary). Each bastion has a user of its own, so bastions can run side by side.
pub const USER: &str = "sessrec-e2e";
/// How long a step waits for a prompt or an exit.
pub const T: Duration = Duration::from_secs(30);

/// The running bastion: its scratch directory (also its install prefix) and sshd's port.
pub struct Sshd {
    pub dir: PathBuf,
    pub port: u16,
    /// The recorded user.
    pub user: &'static str,
    sshd: std::process::Child,
}

/// Runs a shell line; panics with its stderr unless it succeeds.
fn sh(cmd: &str) -> Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Sshd {
    /// Installs the binary into a scratch prefix, makes the user, keys and certificates, and
    /// starts sshd in a mount namespace of its own; waits until it listens.
    pub fn start() -> Sshd {
        Sshd::start_as(USER)
    }

    /// The same, for the recorded user `user`.
    pub fn start_as(user: &'static str) -> Sshd {
        Sshd::start_with(user, |c| c)
    }

    /// The same, with the policy changed by `policy` (after the settings every test needs).
    pub fn start_with(user: &'static str, policy: impl FnOnce(Config) -> Config) -> Sshd {
        let dir = std::env::temp_dir().join(format!("{user}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.to_str().unwrap();
        let root = env!("CARGO_MANIFEST_DIR");
        // An older install listed sessrec in /etc/shells (which lets users chsh away).
        sh(&format!(
            "chmod 755 {d} && mkdir -p {d}/xfer {d}/grants && chmod 1777 {d}/xfer && \
             cp /etc/shells {d}/shells && echo {d}/bin/sessrec >> {d}/shells"
        ));
        sh(&format!(
            "SESSREC_BIN_DIR={d}/bin SESSREC_ETC={d}/etc SESSREC_SPOOL={d}/spool SESSREC_LOG={d}/log SESSREC_LIB={d}/lib SESSREC_SHELLS={d}/shells \
             SESSREC_RUN={d}/run SESSREC_UNITS={d}/units SESSREC_SSHD_DIR={d}/sshd.d SESSREC_START=no \
             {root}/dist/install.sh {bin}",
            bin = BIN
        ));
        // install.sh's default policy is written whole (its comments ran as commands once).
        let installed = std::fs::read_to_string(dir.join("etc/config.toml")).unwrap();
        assert!(
            installed.contains("# Where 'sessrec upload' ships recordings: file:///DIR"),
            "{installed}"
        );
        let config = Config::new(&dir)
            .set("shell", "/bin/bash")
            .path("signing_key", &dir.join("etc/signing.key"))
            .path("audit_log", &dir.join("log/audit.log"))
            .set("require_grant", true)
            .path("grant_dir", &dir.join("grants"))
            .storage(&format!("file://{d}/lib/store"))
            .table(
                "service",
                service_table(&dir.join("run/sessrec.sock"), &[], &[dir.join("ca.pub")]),
            );
        policy(config).write(&dir.join("etc/config.toml"));
        sh(&format!(
            "id {user} >/dev/null 2>&1 || useradd -m {user}; usermod -s {d}/bin/sessrec -p '*' -aG sessrec-recorded {user}; \
             mkdir -p /run/sshd; \
             ssh-keygen -q -t ed25519 -N '' -f {d}/hostkey; ssh-keygen -q -t ed25519 -N '' -f {d}/ca; \
             for k in user short plain; do ssh-keygen -q -t ed25519 -N '' -f {d}/$k; done; \
             ssh-keygen -q -s {d}/ca -I GRANT-42 -n {user} -V -1m:+20m {d}/user.pub; \
             ssh-keygen -q -s {d}/ca -I GRANT-SHORT -n {user} -V -1m:+40s {d}/short.pub; \
             install -d -o {user} -m 700 ~{user}/.ssh; install -o {user} -m 600 {d}/plain.pub ~{user}/.ssh/authorized_keys"
        ));
        let port = free_port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Include {d}/sshd.d/*.conf\nPort {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
                 TrustedUserCAKeys {d}/ca.pub\nAuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin no\nMaxStartups 200\n\
                 Subsystem sftp /usr/lib/openssh/sftp-server\nLogLevel VERBOSE\n"
            ),
        )
        .unwrap();
        // sshd and the recording service see the test's policy at /etc/sessrec and its
        // /etc/shells through a private mount, as an installed bastion would; nothing on the
        // host changes.
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let sshd = Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "mkdir -p /etc/sessrec && mount --bind {d}/etc /etc/sessrec && mount --bind {d}/shells /etc/shells && \
                 {BIN} daemon >{d}/daemon.log 2>&1 & echo $! > {d}/daemon.pid; \
                 exec /usr/sbin/sshd -D -e -f {d}/sshd_config"
            ))
            .stderr(log)
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !dir.join("run/sessrec.sock").exists() {
            assert!(
                started.elapsed() < T,
                "the recording service did not start: {}",
                std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let deadline = Instant::now() + T;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd {
            dir,
            port,
            user,
            sshd,
        }
    }

    /// A path in the scratch directory.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// The client options: no config, no host-key prompts, batch mode, `key` as identity.
    pub fn ssh_args(&self, key: &str) -> Vec<String> {
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

    /// `ssh USER@bastion CMD` with `key`, no terminal.
    pub fn ssh(&self, key: &str, cmd: &str) -> Output {
        Command::new("ssh")
            .args(self.ssh_args(key))
            .arg(format!("{}@127.0.0.1", self.user))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ssh -tt` with `key` (and a command, if any) on a real PTY.
    pub fn tty_session(&self, key: &str, cmd: Option<&str>) -> Term {
        let mut args = vec!["-tt".to_string()];
        args.extend(self.ssh_args(key));
        args.push(format!("{}@127.0.0.1", self.user));
        args.extend(cmd.map(str::to_string));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        Term::spawn(Path::new("/usr/bin/ssh"), &argv, 100, 30, &[])
    }

    /// `ssh`, `scp` or `sftp` with the certificate key and `args`.
    pub fn tool(&self, tool: &str, args: &[&str]) -> Output {
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
    pub fn recordings(&self) -> Vec<PathBuf> {
        files_in(&self.path("spool"))
    }

    /// The bastion's recording public key (made by dist/install.sh).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_file_text(
            &std::fs::read_to_string(self.path("etc/signing.key.pub")).unwrap(),
        )
        .unwrap()
    }

    /// Verifies the newest recording and returns its header's sessrec object and its events.
    pub fn newest(&self, before: usize) -> (Value, Vec<Event>) {
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
    pub fn settle(&self) {
        let deadline = Instant::now() + T;
        while Command::new("pgrep")
            .args(["-u", self.user])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "sessions of {} still running",
                self.user
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` (a name, as kill(1) takes it) to the recording service.
    pub fn signal_service(&self, signal: &str) {
        if let Ok(pid) = std::fs::read_to_string(self.path("daemon.pid")) {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), pid.trim()])
                .status();
        }
    }

    /// The audit log so far.
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.path("log/audit.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.signal_service("KILL");
        let _ = self.sshd.kill();
        // install.sh makes the audit log append-only where it can; it must go with the rest.
        let _ = Command::new("chattr")
            .arg("-a")
            .arg(self.path("log/audit.log"))
            .status();
        let _ = self.sshd.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
