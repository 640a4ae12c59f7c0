//! A login session as the recording service runs it: everything comes from the system policy
//! and the kernel; the session is bound to who the user is and the grant they hold, refused
//! when policy says so, contained, and ended when the grant expires.

use std::ffi::{CString, OsStr, OsString};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::audit::{Audit, Level};
use crate::config::{Config, FailurePolicy, PipePolicy};
use crate::grant::{self, Grant};
use crate::identity;
use crate::keyfile::read_signing_key;
use crate::pipe_kind::{self, Kind};
use crate::print;
use crate::record::header::Start;
use crate::record::session::{self, Child, End, RunAs, Served};
use crate::record::tape::Tape;
use crate::record::{pipe, recording, tty};
use crate::service::account::Account;
use crate::service::contain::Containment;
use crate::service::state;
use crate::sshauth;

/// How sessrec was started, when it is a login shell: `-sessrec` (argv[0] starting with `-`,
/// as sshd and login start shells), or `sessrec -c CMD` (as sshd runs commands).
pub enum Invocation {
    /// An interactive login.
    Interactive,
    /// `-c CMD`.
    Command(OsString),
}

impl Invocation {
    /// argv[0] and the arguments `shell` gets for this invocation, as login and sshd start a
    /// shell: `-bash` for a login, `bash -c CMD` for a command.
    pub fn shell_argv(&self, shell: &Path) -> (OsString, Vec<OsString>) {
        let name = shell.file_name().unwrap_or_default();
        match self {
            Invocation::Interactive => {
                let mut a0 = OsString::from("-");
                a0.push(name);
                (a0, Vec::new())
            }
            Invocation::Command(c) => (name.to_os_string(), vec!["-c".into(), c.clone()]),
        }
    }
}

/// Recognises a login-shell invocation from the raw arguments.
pub fn invocation(args: &[OsString]) -> Option<Invocation> {
    let login = args
        .first()
        .is_some_and(|a| a.as_encoded_bytes().starts_with(b"-"));
    match args.get(1).map(OsString::as_os_str) {
        Some(flag) if flag == OsStr::new("-c") => Some(Invocation::Command(
            args.get(2).cloned().unwrap_or_default(),
        )),
        None if login => Some(Invocation::Interactive),
        Some(flag) if login && flag == OsStr::new("-l") => Some(Invocation::Interactive),
        _ => None,
    }
}

/// A login the recording service runs: who (from the kernel and the user database), what was
/// asked, where it came from, and the client's socket and the session's containment.
pub struct Login<'a> {
    /// The `-c` command, or an interactive login.
    pub invocation: Invocation,
    /// The account (from the socket's peer uid).
    pub account: Account,
    /// The environment the client passed on.
    pub env: grant::Env,
    /// A real login, or nested in a running session (whose identity and grant it takes).
    pub nested: Option<state::Running>,
    /// The policy.
    pub config: &'a Config,
    /// The client's socket.
    pub control: &'a UnixStream,
    /// Where the session's session file is published (for sessions nested in it).
    pub sessions_dir: &'a Path,
    /// Why the terminal could not be wholly taken from the user, if it could not.
    pub terminal_problem: Option<String>,
}

/// Runs a login session for the recording service; returns the exit status.
pub fn run(login: Login<'_>) -> Result<i32> {
    let config = login.config;
    let account = &login.account;
    let user = account.name.clone();
    let (mut identity, auth) = match &login.nested {
        Some(parent) => (parent.identity.clone(), sshauth::SshAuth::default()),
        None => {
            let auth = sshauth::read(
                login.env.get("SSH_USER_AUTH").map(String::as_str),
                account.uid,
                &identity::cert_trust(config, &user),
            );
            (identity::of_login(account, &login.env), auth)
        }
    };
    if let (Some(ssh), Value::Object(id)) = (&auth.json, &mut identity) {
        id.insert("ssh".into(), ssh.clone());
    }
    // `ssh -t host cmd` has a terminal too: it gets a PTY like a login.
    let interactive = tty::interactive();
    let inv = &login.invocation;
    let command = match inv {
        Invocation::Interactive => config.shell.display().to_string(),
        Invocation::Command(c) => c.to_string_lossy().into_owned(),
    };
    let mut start = Start::now(command.clone(), identity, tty::size().unwrap_or((80, 24)));
    start.capture_input = config.capture_input;
    start.parent = login.nested.as_ref().map(|p| p.session.clone());

    let mut audit = Audit::open(&config.audit_log, config.syslog);
    audit.sign_with_key_file(config.signing_key.as_deref());
    audit.set("session", json!(start.session_id));
    audit.set("user", json!(user));
    audit.set("host", json!(crate::record::header::hostname()));
    if let Some(p) = &start.parent {
        audit.set("parent", json!(p));
    }
    for p in audit.problems().to_vec() {
        print::warn(p);
    }
    if let Some(p) = &login.terminal_problem {
        audit.event(Level::Alert, "terminal.not_revoked", json!({"error": p}));
    }

    let now = jiff::Timestamp::now();
    let (grant, grant_note) = match &login.nested {
        Some(parent) => (
            parent
                .grant
                .as_ref()
                .and_then(|g| Grant::from_json(g, "parent_session")),
            None,
        ),
        None => grant::find(config, &user, &auth, &login.env),
    };
    let grant = match grant {
        Some(g) if g.valid_at(now) => Some(g),
        Some(g) => {
            audit.event(
                Level::Warning,
                "grant.expired",
                json!({"grant": g.id, "expired": g.expires.map(|e| e.to_string())}),
            );
            print::note(format_args!(
                "grant {} expired at {}",
                g.id,
                g.expires.map(|e| e.to_string()).unwrap_or_default()
            ));
            None
        }
        None => None,
    };
    if let Some(note) = grant_note {
        print::warn(note);
    }
    let grant = match grant {
        Some(g) => Some(g),
        None if config.require_grant && config.break_glass && interactive => {
            Some(grant::break_glass(&mut audit)?)
        }
        None if config.require_grant => {
            audit.event(
                Level::Warning,
                "session.refused",
                json!({"reason": "no valid grant", "command": command}),
            );
            bail!(
                "access refused: this bastion requires an access grant and none is valid for {user}; request one and reconnect"
            );
        }
        None => None,
    };
    audit.set("grant", json!(grant.as_ref().map(|g| g.id.clone())));
    start.grant = grant.as_ref().map(Grant::json);

    let (arg0, args) = inv.shell_argv(&config.shell);
    let mut child = Child {
        program: config.shell.clone(),
        arg0: Some(arg0),
        args,
        env: account.login_env(&config.shell, &login.env, &start.session_id),
        run_as: None,
        clear_env: true,
    };

    let contain = Containment::new(&start.session_id, config.service.cgroup_parent.as_deref());
    if let Some(why) = &contain.without_cgroup {
        audit.event(
            Level::Info,
            "session.contained",
            json!({"cgroup": false, "why": why, "by": "subreaper"}),
        );
    }
    child.run_as = Some(RunAs {
        uid: account.uid,
        gid: account.gid,
        groups: account.groups.clone(),
        home: CString::new(account.home.as_os_str().as_encoded_bytes())
            .context("a home directory with a NUL")?,
        cgroup: contain
            .procs
            .as_ref()
            .and_then(|f| f.try_clone().ok())
            .map(Arc::new),
    });
    let served = Served {
        control: login.control,
        contain: &contain,
    };
    // Sessions started inside this one inherit its identity and grant from this file.
    let _published = state::publish(
        login.sessions_dir,
        &state::Running {
            session: start.session_id.clone(),
            identity: start.identity.clone(),
            grant: grant.as_ref().map(Grant::json),
        },
    )
    .map_err(|e| print::warn(format_args!("{e:#}")))
    .ok();

    if !interactive {
        let classified = pipe_kind::classify(&command, &config.pipe.sftp_server);
        let kind = classified.kind;
        let policy = match kind {
            Kind::Scp => config.pipe.scp,
            Kind::Sftp => config.pipe.sftp,
            Kind::Rsync => config.pipe.rsync,
            Kind::Exec => config.pipe.exec,
        };
        match policy {
            PipePolicy::Deny => {
                audit.event(
                    Level::Warning,
                    "session.refused",
                    json!({"reason": "pipe policy", "command": command, "kind": kind.name()}),
                );
                bail!(
                    "access refused: {} sessions are not allowed on this bastion",
                    kind.name()
                );
            }
            PipePolicy::Allow => {
                // scp, sftp and rsync run from their parsed words, never through the shell, so
                // nothing but that server runs unrecorded.
                if let Some((program, args)) = classified.argv {
                    child.program = program;
                    child.arg0 = None;
                    child.args = args.into_iter().map(OsString::from).collect();
                }
                audit.event(
                    Level::Warning,
                    "session.unrecorded",
                    json!({"command": command, "kind": kind.name()}),
                );
                let deadline = grant.as_ref().and_then(grant::deadline);
                let ended = pipe::run(&child, None, deadline, Some(&served))?;
                if ended.grant_expired {
                    audit.event(
                        Level::Warning,
                        "grant.expired",
                        json!({"action": "session ended", "recorded": false}),
                    );
                }
                return Ok(ended.code);
            }
            PipePolicy::Record => {}
        }
    }

    match crate::space::spool_short(&config.spool, config.min_free_mb, config.resume_free_mb) {
        Ok(None) => {}
        Ok(Some(why)) if config.failure_policy == FailurePolicy::Strict => {
            audit.event(
                Level::Alert,
                "session.refused",
                json!({"reason": "low disk space", "error": why}),
            );
            bail!(
                "{why}: the session is refused (policy: strict); ask the administrator to free space or ship the spool"
            );
        }
        Ok(Some(why)) => {
            audit.event(
                Level::Alert,
                "spool.low_space",
                json!({"error": why, "action": "session recorded anyway"}),
            );
            print::warn(format_args!(
                "{why}; recording anyway (policy: best_effort), an alert was raised"
            ));
        }
        // Not knowing the free space is not a reason to refuse: creating the file will tell.
        Err(e) => print::warn(format_args!("{e:#}")),
    }
    let mut tape = match open_recording(config, &mut start) {
        Ok(t) => Some(t),
        Err(e) if config.failure_policy == FailurePolicy::Strict => {
            audit.event(
                Level::Alert,
                "record.error",
                json!({"error": format!("{e:#}"), "action": "session refused"}),
            );
            return Err(
                e.context("the session cannot be recorded, so it does not start (policy: strict)")
            );
        }
        Err(e) => {
            audit.event(
                Level::Alert,
                "record.error",
                json!({"error": format!("{e:#}"), "action": "session unrecorded"}),
            );
            print::warn(format_args!(
                "this session is NOT recorded ({e:#}); an alert was raised"
            ));
            None
        }
    };
    if let Some(t) = tape.as_mut() {
        t.on_suspicious(suspicious_alert(audit.try_clone()));
    }
    audit.event(
        Level::Info,
        "session.start",
        json!({"command": command, "interactive": interactive, "identity": start.identity, "recorded": tape.is_some()}),
    );
    let deadline = grant.as_ref().and_then(grant::deadline);
    let seal = tape.as_ref().and_then(Tape::seal_info);
    let (code, end, failure) = match (tape, interactive) {
        (Some(mut tape), true) => {
            banner(config, &start, grant.as_ref());
            let outcome = session::run(child, &mut tape, deadline, Some(&served));
            let failure = tape.finish().err().map(|e| format!("{e:#}"));
            let outcome = outcome?;
            (outcome.exit_code, outcome.end, failure)
        }
        (Some(tape), false) => {
            let (ended, sealed) = pipe::run_recorded(&child, tape, deadline, Some(&served));
            let ended = ended?;
            let end = pipe_end(&ended);
            (ended.code, end, sealed.err().map(|e| format!("{e:#}")))
        }
        (None, true) => {
            let mut tape = Tape::unrecorded();
            let outcome = session::run(child, &mut tape, deadline, Some(&served))?;
            (outcome.exit_code, outcome.end, None)
        }
        (None, false) => {
            let ended = pipe::run(&child, None, deadline, Some(&served))?;
            let end = pipe_end(&ended);
            (ended.code, end, None)
        }
    };
    if let Some(f) = &failure {
        audit.event(Level::Alert, "record.error", json!({"error": f}));
    }
    if end == End::ClientGone {
        audit.event(
            Level::Alert,
            "session.client_gone",
            json!({"action": "session hung up and recording sealed", "detail": "the login client was killed or lost its connection"}),
        );
    }
    if end == End::GrantExpired {
        audit.event(
            Level::Warning,
            "grant.expired",
            json!({"action": "session ended"}),
        );
    }
    // The final chain hash and the file's SHA-256: an auditor (and the uploader) can tell a
    // recording cut and extended later from the one this session sealed.
    let recording = seal
        .and_then(|s| s.lock().ok().and_then(|s| s.clone()))
        .map(
            |s| json!({"chain": s.chain, "sha256": s.sha256, "size": s.size, "stopped": s.stopped}),
        );
    audit.event(
        Level::Info,
        "session.end",
        json!({"exit_status": code, "end": format!("{end:?}"), "recording": recording}),
    );
    Ok(code)
}

/// The alert a suspicious withheld run raises as it ends: what and when, never the keystrokes.
fn suspicious_alert(mut audit: Audit) -> crate::record::tape::SuspiciousHook {
    Box::new(move |run| {
        audit.event(
            Level::Alert,
            "input.withheld_suspicious",
            json!({
                "at": format!("{:.3}s", run.time as f64 / 1e6),
                "keystrokes": run.keystrokes,
                "lines": run.lines,
                "seconds": (run.seconds * 1000.0).round() / 1000.0,
                "why": run.why,
                "action": run.action,
            }),
        )
    })
}

fn pipe_end(ended: &pipe::Ended) -> End {
    if ended.grant_expired {
        End::GrantExpired
    } else if ended.client_gone {
        End::ClientGone
    } else {
        End::Exited
    }
}

/// Creates the spool file and starts recording into it; the recording's clock starts here,
/// after every prompt (a break-glass reason) and check.
fn open_recording(config: &Config, start: &mut Start) -> Result<Tape> {
    let signer = config
        .signing_key
        .as_deref()
        .map(read_signing_key)
        .transpose()?;
    let path = config.spool.join(format!("{}.cast.zst", start.session_id));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&path)
        .with_context(|| format!("cannot create the recording {}", path.display()))?;
    // Readable by the spool's group (the uploader's), writable by root alone.
    if let Ok(dir) = std::fs::metadata(&config.spool) {
        use std::os::unix::fs::MetadataExt;
        let _ = rustix::fs::fchown(&file, None, Some(rustix::fs::Gid::from_raw(dir.gid())));
    }
    let settings = recording::Settings {
        signer,
        capture_input: config.capture_input,
        extra_prompts: config.password_prompts.clone(),
        escrow: config.escrow()?,
        suspicious: config.withhold_suspicious,
        failure_policy: config.failure_policy,
        spool_path: Some(path),
    };
    recording::start(file, start, settings)
}

fn banner(config: &Config, start: &Start, grant: Option<&Grant>) {
    if config.banner.is_empty() {
        return;
    }
    let text = config
        .banner
        .replace("{session}", &start.session_id)
        .replace("{grant}", grant.map_or("none", |g| g.id.as_str()))
        .replace(
            "{expires}",
            &grant
                .and_then(|g| g.expires)
                .map_or("never".into(), |e| e.to_string()),
        );
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{text}");
}
