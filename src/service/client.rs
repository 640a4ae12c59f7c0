//! The login shell as sshd or login starts it: an unprivileged client of the recording service.
//! It hands its terminal (or sshd's pipes) to the service with the request, tells it when the
//! window changes size, and exits with the status the service sends back. It holds nothing
//! worth attacking: killing it hangs up the session, which the service records and alerts on.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rustix::event::{PollFd, PollFlags, poll};
use serde_json::json;

use super::protocol::{self, Request, WINDOW_CHANGED};
use crate::audit::{Audit, Level};
use crate::config::{CONFIG_PATH, Config, FailurePolicy};
use crate::login::Invocation;
use crate::print;

/// Runs the login through the service; returns the exit status.
pub fn run(inv: Invocation) -> Result<i32> {
    // Not traceable by the user's other processes while it holds the request.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let config = Config::load(Path::new(CONFIG_PATH))
        .context("the recording policy cannot be read; refusing the session")?;
    let socket = &config.service.socket;
    let conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e) => return unreachable(&config, inv, &format!("{}: {e}", socket.display())),
    };
    let request = Request {
        version: protocol::VERSION,
        command: match &inv {
            Invocation::Command(c) => Some(c.as_encoded_bytes().to_vec()),
            Invocation::Interactive => None,
        },
        env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| protocol::passed(k))
            .collect::<BTreeMap<_, _>>(),
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    // On a terminal, the service revokes every descriptor of it when it takes it over (a
    // hang-up, which would end this process) and then gets the terminal's hang-ups itself: the
    // session's end is the service's answer instead. Without one (pipes), sshd's SIGHUP must
    // still end this process, which is how the service learns the connection went away.
    if rustix::termios::isatty(std::io::stdin()) {
        // SAFETY: setting a disposition; no handler runs.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGHUP,
                nix::sys::signal::SigHandler::SigIgn,
            );
        }
    }
    protocol::send_request(
        &conn,
        &request,
        &[stdin.as_fd(), stdout.as_fd(), stderr.as_fd()],
    )?;
    // The service has them now; sshd must see the end of the command's output when the
    // service closes it, not when this process exits. A copy of stderr stays for our notes.
    let notes = rustix::io::dup(std::io::stderr()).ok();
    release_stdio();
    let status = wait(&conn);
    if let (Err(e), Some(fd)) = (&status, &notes) {
        let _ = rustix::io::write(fd, format!("sessrec: {e:#}\n").as_bytes());
    }
    status
}

/// Points standard input, output and error at /dev/null.
fn release_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

/// Passes window changes on until the service answers.
fn wait(conn: &UnixStream) -> Result<i32> {
    let winch = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (wake_r, wake_w) = UnixStream::pair().context("creating a wake-up socket")?;
    signal_hook::flag::register(signal_hook::consts::SIGWINCH, winch.clone())
        .context("handling SIGWINCH")?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, wake_w)
        .context("handling SIGWINCH")?;
    let mut answer = Vec::new();
    let mut sink = [0u8; 64];
    loop {
        let mut fds = [
            PollFd::new(conn, PollFlags::IN),
            PollFd::new(&wake_r, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).context("waiting for the recording service"),
        }
        let (conn_ready, wake_ready) = (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
        if wake_ready {
            let _ = (&wake_r).read(&mut sink);
        }
        if winch.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = rustix::io::write(conn, &[WINDOW_CHANGED]);
        }
        if conn_ready {
            let mut buf = [0u8; 256];
            match (&*conn).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("reading the recording service's answer"),
            }
            if answer.len() > 4096 {
                bail!("the recording service's answer is too long");
            }
        }
    }
    let line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
    if line.is_empty() {
        bail!("the recording service ended the session without an exit status");
    }
    let reply = protocol::parse_reply(line)?;
    if let Some(e) = reply.error {
        bail!(
            "the recording service refused the session: {}",
            print::safe(&e)
        );
    }
    Ok(reply.exit)
}

/// The service cannot be reached: `strict` refuses the login, `best_effort` runs the shell
/// unrecorded (a deliberate bypass, documented), and both raise an alert in syslog (the audit
/// log is the service's, and root's).
fn unreachable(config: &Config, inv: Invocation, why: &str) -> Result<i32> {
    let mut audit = Audit::open(Path::new("/dev/null"), config.syslog);
    let user = nix::unistd::User::from_uid(rustix::process::getuid().as_raw().into())
        .ok()
        .flatten()
        .map(|u| u.name);
    audit.set("user", json!(user));
    if config.failure_policy == FailurePolicy::Strict {
        audit.event(
            Level::Alert,
            "service.unreachable",
            json!({"error": why, "action": "session refused"}),
        );
        bail!(
            "the recording service is not running ({why}): the session is refused (policy: strict); tell the bastion's administrator"
        );
    }
    audit.event(
        Level::Alert,
        "service.unreachable",
        json!({"error": why, "action": "session NOT recorded (best_effort)"}),
    );
    print::warn(format_args!(
        "the recording service is not running ({why}): this session is NOT recorded (policy: best_effort); an alert was raised"
    ));
    let shell = &config.shell;
    let (arg0, args) = inv.shell_argv(shell);
    let mut cmd = std::process::Command::new(shell);
    std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
    cmd.args(args);
    let e = std::os::unix::process::CommandExt::exec(&mut cmd);
    Err(e).with_context(|| format!("cannot start {}", shell.display()))
}
