//! Login-shell mode without sshd: sessrec started as `-sessrec` (and `sessrec -c CMD`) with the
//! test's policy mounted at /etc/sessrec in a private mount namespace. Needs root (unshare, mount,
//! root-owned grant files).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sessrec_formats::{EventData, OpenOptions, open_path};
use tempfile::TempDir;

use crate::util::config::{Config, table};
use crate::util::keys::Key;
use crate::util::recording::{assert_wall_clock, events, files_in, output_bytes};
use crate::util::service::{Service, service_table, this_test};
use crate::util::term::Term;
use crate::util::{BIN, Req};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        needs: [Req::Root, Req::Tool("/usr/bin/unshare"), Req::Tool("mount")];
        a_grant_file_is_used_and_shown_in_the_banner,
        an_expired_grant_or_none_is_refused_and_a_writable_grant_file_is_ignored,
        break_glass_asks_for_a_reason_records_it_and_alerts,
        a_break_glass_recording_starts_its_clock_after_the_reason,
        pipe_policies_record_allow_and_deny,
        an_allowed_kind_is_only_that_server_never_a_shell_line => [Req::Tool("/usr/bin/scp")],
        a_pipe_session_ends_when_its_grant_expires,
        an_unwritable_spool_refuses_under_strict_and_warns_under_best_effort,
        the_environment_gives_a_grant_only_where_policy_trusts_it,
        a_broken_policy_refuses_the_session,
        a_spool_short_of_space_refuses_sessions_until_there_is_room_again,
        only_a_certificate_from_a_trusted_ca_grants => [Req::Tool("ssh-keygen")],
        a_client_not_started_by_login_is_refused,
        without_the_service_strict_refuses_and_best_effort_runs_unrecorded,
        only_the_users_own_pty_slave_is_taken_over,
    ]
}

const T: Duration = Duration::from_secs(30);

/// A policy in a scratch directory: `etc/` (config and key, mounted at /etc/sessrec), the
/// spool, the audit log and the grant directory.
pub(crate) struct Policy {
    dir: TempDir,
    config: Config,
    service: Service,
}

/// A policy with the test's defaults (a banner naming session and grant, `sh` as the shell),
/// changed by `tune`.
pub(crate) fn policy(tune: impl FnOnce(Config) -> Config) -> Policy {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    for sub in ["etc", "spool", "log", "grants"] {
        std::fs::create_dir(d.join(sub)).unwrap();
    }
    let key = Key::at(&d.join("etc/signing.key"));
    let socket = d.join("run/sessrec.sock");
    let config = tune(
        Config::new(d)
            .table("service", service_table(&socket, &[this_test()], &[]))
            .set("shell", "/bin/sh")
            .path("signing_key", &key.path)
            .path("audit_log", &d.join("log/audit.log"))
            .path("grant_dir", &d.join("grants"))
            .set("banner", "RECORDED {session} grant={grant}"),
    );
    config.write(&d.join("etc/config.toml"));
    let service = Service::start(&d.join("etc/config.toml"), &socket, &d.join("service.log"));
    Policy {
        dir,
        config,
        service,
    }
}

impl Policy {
    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Changes the policy on disk.
    pub(crate) fn change(&mut self, tune: impl FnOnce(Config) -> Config) {
        self.config = tune(self.config.clone());
        self.config.write(&self.path("etc/config.toml"));
    }

    /// `sh -c` line that mounts the policy and runs `then`.
    fn mounted(&self, then: &str) -> String {
        format!(
            "mkdir -p /etc/sessrec && mount --bind {}/etc /etc/sessrec && {then}",
            self.dir.path().display()
        )
    }

    /// A login (`-sessrec`, as login and sshd start a login shell) on a new PTY.
    fn login(&self) -> Term {
        let line = self.mounted(&format!("exec bash -c 'exec -a -sessrec {BIN}'"));
        Term::spawn(
            Path::new("/usr/bin/unshare"),
            &["-m", "sh", "-c", &line],
            80,
            24,
            &[],
        )
    }

    /// `sessrec -c CMD` (as `ssh host CMD` runs it), without a terminal.
    pub(crate) fn command(&self, cmd: &str) -> std::process::Output {
        let line = self.mounted(&format!("exec {BIN} -c '{cmd}'"));
        Command::new("unshare")
            .args(["-m", "sh", "-c", &line])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub(crate) fn recordings(&self) -> Vec<PathBuf> {
        files_in(&self.path("spool"))
    }

    pub(crate) fn audit(&self) -> String {
        std::fs::read_to_string(self.path("log/audit.log")).unwrap_or_default()
    }
}

fn grant_of(path: &Path) -> serde_json::Value {
    let r = open_path(path, &OpenOptions::default()).unwrap();
    serde_json::to_value(r.header().sessrec.clone().unwrap().grant).unwrap()
}

fn a_grant_file_is_used_and_shown_in_the_banner() {
    let p = policy(|c| c.set("require_grant", true));
    let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    std::fs::write(
        p.path("grants/root.json"),
        format!("{{\"id\": \"CHG-1001\", \"expires\": \"{expires}\", \"approver\": \"bob\", \"ticket\": \"INC-7\", \"reason\": \"db failover\"}}"),
    )
    .unwrap();
    let mut t = p.login();
    t.wait_for("RECORDED", T);
    t.wait_for("grant=CHG-1001", T);
    t.type_slowly("echo logged-in; exit 9\r");
    assert_eq!(t.wait(T).code(), Some(9));
    let rec = p.recordings();
    assert_eq!(rec.len(), 1);
    let g = grant_of(&rec[0]);
    assert_eq!(
        (g["id"].as_str(), g["source"].as_str(), g["ticket"].as_str()),
        (Some("CHG-1001"), Some("grant_file"), Some("INC-7"))
    );
    let audit = p.audit();
    assert!(
        audit.contains("\"event\":\"session.start\"") && audit.contains("\"grant\":\"CHG-1001\""),
        "{audit}"
    );
    assert!(audit.contains("\"event\":\"session.end\"") && audit.contains("\"exit_status\":9"));
}

fn an_expired_grant_or_none_is_refused_and_a_writable_grant_file_is_ignored() {
    let p = policy(|c| c.set("require_grant", true));
    let o = p.command("echo must-not-run");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("access refused"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(
        p.path("grants/root.json"),
        "{\"id\": \"OLD\", \"expires\": \"2020-01-01T00:00:00Z\"}",
    )
    .unwrap();
    let o = p.command("echo must-not-run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("grant OLD expired"));
    std::fs::write(p.path("grants/root.json"), "{\"id\": \"LOOSE\"}").unwrap();
    std::fs::set_permissions(
        p.path("grants/root.json"),
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    let o = p.command("echo must-not-run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("writable by others"));
    assert!(p.recordings().is_empty());
    assert_eq!(p.audit().matches("session.refused").count(), 3);
}

fn break_glass_asks_for_a_reason_records_it_and_alerts() {
    let p = policy(|c| c.set("require_grant", true).set("break_glass", true));
    let mut t = p.login();
    t.wait_for("Reason", T);
    t.type_slowly("INC-4242 primary db down\r");
    t.wait_for("RECORDED", T);
    t.type_slowly("exit\r");
    t.wait(T);
    let g = grant_of(&p.recordings()[0]);
    assert_eq!(g["source"], "break_glass");
    assert_eq!(g["reason"], "INC-4242 primary db down");
    let audit = p.audit();
    assert!(
        audit.contains("\"event\":\"break_glass\"") && audit.contains("\"level\":\"alert\""),
        "{audit}"
    );
}

/// The reason takes a while to type; the recording's times must still be wall times (its header
/// time and its event clock are read together, after the prompt).
fn a_break_glass_recording_starts_its_clock_after_the_reason() {
    let p = policy(|c| c.set("require_grant", true).set("break_glass", true));
    let mut t = p.login();
    t.wait_for("Reason", T);
    std::thread::sleep(Duration::from_millis(1500));
    t.type_slowly("INC-4243 slow typist\r");
    t.wait_for("RECORDED", T);
    t.type_slowly("date +WALL%s.%N\r");
    t.wait_for("WALL1", T);
    t.type_slowly("exit\r");
    t.wait(T);
    assert_wall_clock(&p.recordings()[0]);
}

fn pipe_policies_record_allow_and_deny() {
    let pipe = |exec: &str| {
        table([
            ("exec", exec.into()),
            ("scp", "deny".into()),
            ("rsync", "allow".into()),
        ])
    };
    let mut p = policy(|c| c.table("pipe", pipe("record")));
    let o = p.command("printf \"\\377binary\\n\"; exit 4");
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(o.stdout, b"\xffbinary\n");
    let rec = p.recordings();
    assert_eq!(rec.len(), 1);
    let events = events(&rec[0]);
    assert_eq!(output_bytes(&events), b"\xffbinary\n");
    assert_eq!(events.last().unwrap().data, EventData::Exit(4));
    let o = p.command("scp -t /tmp");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("scp sessions are not allowed"));
    p.change(|c| c.table("pipe", pipe("allow")));
    let o = p.command("echo allowed");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "allowed\n");
    assert_eq!(p.recordings().len(), 1, "allowed sessions are not recorded");
    assert!(p.audit().contains("session.unrecorded"));
}

/// With scp allowed unrecorded, a shell line that starts with `scp` is a recorded exec session,
/// and a real `scp -t` runs as scp itself (not through the shell).
fn an_allowed_kind_is_only_that_server_never_a_shell_line() {
    let p = policy(|c| {
        c.table(
            "pipe",
            table([("exec", "record".into()), ("scp", "allow".into())]),
        )
    });
    let o = p.command("scp 2>/dev/null; echo TRICK");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "TRICK\n");
    let rec = p.recordings();
    assert_eq!(rec.len(), 1, "the trick is recorded");
    assert!(String::from_utf8_lossy(&output_bytes(&events(&rec[0]))).contains("TRICK"));
    assert!(!p.audit().contains("session.unrecorded"), "{}", p.audit());
    // The real thing: scp's sink mode answers with its ready byte, then sees the end of input.
    let o = p.command("scp -t /tmp");
    assert_eq!(o.stdout, b"\0", "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(p.recordings().len(), 1, "allowed: not recorded");
    let audit = p.audit();
    assert!(
        audit.contains("session.unrecorded") && audit.contains("\"kind\":\"scp\""),
        "{audit}"
    );
}

/// `ssh -T host CMD` under a grant that ends in 3 s: warned, then ended with everything it
/// started, recorded or not, even when it ignores the hang-up.
fn a_pipe_session_ends_when_its_grant_expires() {
    let mut p = policy(|c| c.set("require_grant", true));
    let grant = |p: &Policy| {
        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
        std::fs::write(
            p.path("grants/root.json"),
            format!("{{\"id\": \"CHG-SHORT\", \"expires\": \"{expires}\"}}"),
        )
        .unwrap();
    };
    grant(&p);
    let started = std::time::Instant::now();
    let o = p.command("sleep 30; echo NEVER");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    assert_eq!(o.status.code(), Some(129), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("NEVER"));
    assert!(err.contains("grant CHG-SHORT expired"), "{err}");
    let rec = p.recordings();
    assert_eq!(rec.len(), 1);
    let labels: Vec<String> = events(&rec[0])
        .into_iter()
        .filter_map(|e| match e.data {
            EventData::Marker(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(
        labels.iter().any(|m| m.contains("expires in")),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|m| m.contains("expired at")),
        "{labels:?}"
    );
    assert!(
        p.audit().contains("\"event\":\"grant.expired\""),
        "{}",
        p.audit()
    );
    // Allowed unrecorded, and deaf to the hang-up: killed all the same.
    p.change(|c| c.table("pipe", table([("exec", "allow".into())])));
    grant(&p);
    let started = std::time::Instant::now();
    let o = p.command("trap \"\" HUP; sleep 30; echo NEVER");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        o.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(p.recordings().len(), 1, "allowed: not recorded");
}

fn an_unwritable_spool_refuses_under_strict_and_warns_under_best_effort() {
    let mut p = policy(|c| c);
    std::fs::remove_dir(p.path("spool")).unwrap();
    let o = p.command("echo must-not-run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot create the recording") && err.contains("policy: strict"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("must-not-run"));
    p.change(|c| c.set("failure_policy", "best_effort"));
    let o = p.command("echo runs-anyway");
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "runs-anyway\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT recorded"));
    assert!(p.audit().contains("\"event\":\"record.error\""));
}

fn the_environment_gives_a_grant_only_where_policy_trusts_it() {
    let mut p = policy(|c| c.set("require_grant", true));
    let run = |p: &Policy| {
        let line = p.mounted(&format!("exec {BIN} -c 'echo ok'"));
        Command::new("unshare")
            .args(["-m", "sh", "-c", &line])
            .env("SESSREC_GRANT_ID", "ENV-9")
            .env("SESSREC_GRANT_EXPIRES", "2099-01-01T00:00:00Z")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&p);
    assert_eq!(
        o.status.code(),
        Some(1),
        "an untrusted environment grants nothing"
    );
    p.change(|c| c.set("trust_env_grant", true));
    let o = run(&p);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = grant_of(&p.recordings()[0]);
    assert_eq!(
        (g["id"].as_str(), g["source"].as_str()),
        (Some("ENV-9"), Some("environment"))
    );
}

fn a_broken_policy_refuses_the_session() {
    let p = policy(|c| c);
    std::fs::write(p.path("etc/config.toml"), "requre_grant = true\n").unwrap();
    let o = p.command("echo must-not-run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refusing the session") && err.contains("unknown field"),
        "{err}"
    );
}

fn a_spool_short_of_space_refuses_sessions_until_there_is_room_again() {
    let mut p = policy(|c| c.set("min_free_mb", 4).set("resume_free_mb", 6));
    // The story's shell starts the logins here, so it is the launcher.
    let socket = p.path("run/sessrec.sock");
    p.change(|c| {
        c.table(
            "service",
            service_table(&socket, &[PathBuf::from("/usr/bin/dash")], &[]),
        )
    });
    let spool = p.path("spool");
    let bin = BIN;
    // One mount namespace for the whole story, so the small disk lives through all of it; the
    // service runs inside it too (the test's own one cannot see the small disk).
    let story = format!(
        "mount -t tmpfs -o size=8m tmpfs {s} && \
         dd if=/dev/zero of={s}/fill1 bs=1M count=3 2>/dev/null && dd if=/dev/zero of={s}/fill2 bs=1M count=2 2>/dev/null; \
         rm -f {sock}; {bin} daemon --config /etc/sessrec/config.toml 2>/dev/null & \
         while [ ! -S {sock} ]; do sleep 0.05; done; \
         {bin} -c 'echo run1'; echo rc1=$?; rm {s}/fill2; \
         {bin} -c 'echo run2'; echo rc2=$?; rm {s}/fill1; \
         {bin} -c 'echo run3'; echo rc3=$?; kill $!",
        s = spool.display(),
        sock = socket.display()
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &p.mounted(&story)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    // 3 MiB free, below 4: refused. 5 MiB free: still refused, below the 6 MiB to resume.
    assert!(out.contains("rc1=1") && !out.contains("run1"), "{out}{err}");
    assert!(out.contains("rc2=1") && !out.contains("run2"), "{out}{err}");
    assert!(err.contains("below the 4 MiB the policy requires"), "{err}");
    assert!(err.contains("accepted again above 6 MiB"), "{err}");
    // 8 MiB free: accepted and recorded.
    assert!(out.contains("run3\nrc3=0"), "{out}{err}");
    assert!(p.audit().contains("low disk space"));
}

/// `SSH_USER_AUTH` names a certificate: it grants only if a trusted CA signed it for this
/// user. One from a CA of the user's own, or for another principal, grants nothing.
fn only_a_certificate_from_a_trusted_ca_grants() {
    let mut p = policy(|c| c.set("require_grant", true));
    let d = p.path("");
    let d = d.display();
    let sh = |c: &str| {
        let o = Command::new("sh").arg("-c").arg(c).output().unwrap();
        assert!(
            o.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(&format!(
        "for k in ca evil user; do ssh-keygen -q -t ed25519 -N '' -f {d}/$k; done; \
         cp {d}/user.pub {d}/other.pub; \
         ssh-keygen -q -s {d}/ca -I GRANT-CA -n root -V -1m:+1h {d}/user.pub; \
         ssh-keygen -q -s {d}/ca -I GRANT-OTHER -n someone-else -V -1m:+1h {d}/other.pub; \
         cp {d}/user-cert.pub {d}/good-cert.pub; \
         ssh-keygen -q -s {d}/evil -I GRANT-EVIL -n root -V -1m:+1h {d}/user.pub; \
         for c in good:good-cert evil:user-cert other:other-cert; do \
           printf 'publickey %s\\n' \"$(cat {d}/${{c#*:}}.pub)\" > {d}/auth-${{c%%:*}}; done"
    ));
    let ca = p.path("ca.pub");
    let socket = p.path("run/sessrec.sock");
    p.change(|c| c.table("service", service_table(&socket, &[this_test()], &[ca])));
    let run = |p: &Policy, which: &str| {
        let line = p.mounted(&format!("exec {BIN} -c 'echo ok'"));
        Command::new("unshare")
            .args(["-m", "sh", "-c", &line])
            .env("SSH_USER_AUTH", p.path(&format!("auth-{which}")))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for which in ["evil", "other"] {
        let o = run(&p, which);
        assert_eq!(o.status.code(), Some(1), "{which} granted something");
        assert!(String::from_utf8_lossy(&o.stderr).contains("access refused"));
    }
    assert!(p.recordings().is_empty());
    let o = run(&p, "good");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = grant_of(&p.recordings()[0]);
    assert_eq!(g["id"], "GRANT-CA");
}

/// A client whose parent is not a login program (here a shell, as anything a user runs would
/// be) is refused, with an alert: it cannot open a "new login" with claims of its own.
fn a_client_not_started_by_login_is_refused() {
    let p = policy(|c| c);
    let line = p.mounted(&format!("{BIN} -c 'echo should-not-run'; echo rc=$?"));
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &line])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("rc=1") && !out.contains("should-not-run"),
        "{out}{err}"
    );
    assert!(err.contains("not a login program"), "{err}");
    assert!(p.recordings().is_empty());
    let audit = p.audit();
    assert!(
        audit.contains("\"event\":\"session.refused\"") && audit.contains("\"level\":\"alert\""),
        "{audit}"
    );
}

/// The recording service is down: `strict` refuses the login with a clear message;
/// `best_effort` runs the shell unrecorded, and says so.
fn without_the_service_strict_refuses_and_best_effort_runs_unrecorded() {
    let mut p = policy(|c| c);
    p.service.stop();
    let o = p.command("echo should-not-run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("should-not-run"));
    assert!(
        err.contains("the recording service is not running") && err.contains("refused"),
        "{err}"
    );
    p.change(|c| c.set("failure_policy", "best_effort"));
    let o = p.command("echo ran-unrecorded");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ran-unrecorded\n",
        "{err}"
    );
    assert!(err.contains("NOT recorded"), "{err}");
    assert!(p.recordings().is_empty());
}

/// The service makes sshd's terminal root's when it takes it over; a client that hands over
/// something else that is a terminal (here the `ptmx` of a devpts instance of its own, as
/// `/dev/ptmx` would be on the host) must not get it changed: that would break every user's
/// PTYs.
fn only_the_users_own_pty_slave_is_taken_over() {
    let p = policy(|c| c);
    let line = p.mounted(&format!(
        "mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts && exec {BIN} -c 'sleep 2' </dev/pts/ptmx"
    ));
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &line])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // The client's own view of its devpts instance.
    let ptmx = format!("/proc/{}/root/dev/pts/ptmx", child.id());
    let meta = std::fs::metadata(&ptmx);
    let _ = child.wait();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = meta.unwrap_or_else(|e| panic!("{ptmx}: {e}"));
    assert_eq!(meta.permissions().mode() & 0o777, 0o666, "ptmx was changed");
    assert_eq!(meta.uid(), 0);
}
