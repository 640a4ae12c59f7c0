//! One session, in its own process forked by the service for each connection: it checks who
//! is on the other end, takes over the client's descriptors, runs the login (`crate::login`),
//! and answers with the exit status. It stays root (the user's shell is its child, started as
//! the user), cannot be traced or dumped, and is a subreaper for the session's processes.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::account::Account;
use super::peer::{self, Origin, Process};
use super::protocol::{self, Reply};
use super::state;
use crate::audit::{Audit, Level};
use crate::config::Config;
use crate::login::{self, Invocation};
use crate::print;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection; returns the worker's exit status.
pub fn serve(conn: UnixStream, config_path: &Path) -> i32 {
    // The session counts on SIGCHLD's default disposition, whatever started the service.
    // SAFETY: restoring a default disposition.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    // Its own session: a signal to the service's group (a Ctrl-C, a stop) does not reach it.
    let _ = nix::unistd::setsid();
    let received = match take_over(&conn) {
        Ok(r) => r,
        Err(e) => {
            // Nothing of the user's to write to yet: the service's own log has it.
            eprintln!("sessrec daemon: a connection was refused: {e:#}");
            return 1;
        }
    };
    let code = match run(&conn, config_path, received) {
        Ok(code) => code,
        Err(e) => {
            print::note(format_args!("{e:#}"));
            i32::from(crate::exit::Status::Error.code())
        }
    };
    if let Err(e) = protocol::send_reply(
        &conn,
        &Reply {
            exit: code,
            error: None,
        },
    ) {
        eprintln!("sessrec daemon: the login client did not get the exit status: {e}");
    }
    0
}

/// What a connection brought: the peer and its request.
struct Received {
    pid: i32,
    uid: u32,
    request: protocol::Request,
}

/// Reads the request and makes the client's descriptors this process's standard ones.
fn take_over(conn: &UnixStream) -> Result<Received> {
    let cred = rustix::net::sockopt::socket_peercred(conn).context("reading the peer")?;
    conn.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let (request, fds) = protocol::recv_request(conn)?;
    conn.set_read_timeout(None)?;
    let [stdin, stdout, stderr]: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| anyhow::anyhow!("the client did not hand over three descriptors"))?;
    rustix::stdio::dup2_stdin(stdin.as_fd()).context("taking over the client's input")?;
    rustix::stdio::dup2_stdout(stdout.as_fd()).context("taking over the client's output")?;
    rustix::stdio::dup2_stderr(stderr.as_fd()).context("taking over the client's errors")?;
    // The terminal sshd made is the user's: from inside the session they could open it by name
    // ($SSH_TTY) and read keystrokes or write output past the recording. It is root's now.
    for fd in [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()] {
        if rustix::termios::isatty(fd) {
            rustix::fs::fchown(fd, Some(rustix::fs::Uid::ROOT), None)
                .context("taking the terminal from the user")?;
            rustix::fs::fchmod(fd, rustix::fs::Mode::from_raw_mode(0o600))
                .context("taking the terminal from the user")?;
        }
    }
    Ok(Received {
        pid: cred.pid.as_raw_nonzero().get(),
        uid: cred.uid.as_raw(),
        request,
    })
}

fn run(conn: &UnixStream, config_path: &Path, r: Received) -> Result<i32> {
    let config = Config::load(config_path)
        .context("the recording policy cannot be read; refusing the session")?;
    let sessions = state::dir(&config.service.socket);
    let origin = peer::origin(r.pid, &config.service.launchers, Process::read, |p| {
        state::is_worker(&sessions, p)
    });
    let account = Account::of(r.uid)?;
    let nested = match origin {
        Ok(Origin::Login { .. }) => None,
        Ok(Origin::Nested { worker }) => Some(state::read(&sessions, worker)?),
        Err(why) => {
            let mut audit = Audit::open(&config.audit_log, config.syslog);
            audit.set("user", json!(account.name));
            audit.event(
                Level::Alert,
                "session.refused",
                json!({"reason": "not a login", "error": format!("{why:#}"), "pid": r.pid}),
            );
            bail!("access refused: {why:#}; a recorded session starts only from sshd or login");
        }
    };
    let invocation = match r.request.command {
        Some(c) => Invocation::Command(std::os::unix::ffi::OsStringExt::from_vec(c)),
        None => Invocation::Interactive,
    };
    login::run(login::Login {
        invocation,
        account,
        env: r.request.env,
        nested,
        config: &config,
        control: conn,
        sessions_dir: &sessions,
    })
}
