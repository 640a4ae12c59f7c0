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
    /// The descriptors handed over (now also this process's standard ones).
    fds: [OwnedFd; 3],
    /// The client as it was when it connected: its start time, and its pidfd if any.
    pinned: (u64, Option<OwnedFd>),
}

impl Received {
    /// Whether the pid still names the process that connected.
    fn still_the_client(&self) -> bool {
        Process::read(self.pid).is_ok_and(|p| p.start == self.pinned.0)
            && self
                .pinned
                .1
                .as_ref()
                .is_none_or(|fd| pidfd_pid(fd) == Some(self.pid))
    }
}

/// Reads the request and makes the client's descriptors this process's standard ones. The
/// process that connected is pinned first (its pidfd where the kernel has `SO_PEERPIDFD`, and
/// its start time): after the request it must still be that process, or its pid could have been
/// handed to another one (a real login) meanwhile.
fn take_over(conn: &UnixStream) -> Result<Received> {
    let cred = rustix::net::sockopt::socket_peercred(conn).context("reading the peer")?;
    let pid = cred.pid.as_raw_nonzero().get();
    let pidfd = peer_pidfd(conn);
    let before = Process::read(pid)?;
    // One deadline for the whole request, however slowly it drips: SIGALRM ends this worker.
    nix::unistd::alarm::set(REQUEST_TIMEOUT.as_secs() as u32);
    let received = protocol::recv_request(conn);
    nix::unistd::alarm::cancel();
    let (request, fds) = received?;
    let fds: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| anyhow::anyhow!("the client did not hand over three descriptors"))?;
    rustix::stdio::dup2_stdin(fds[0].as_fd()).context("taking over the client's input")?;
    rustix::stdio::dup2_stdout(fds[1].as_fd()).context("taking over the client's output")?;
    rustix::stdio::dup2_stderr(fds[2].as_fd()).context("taking over the client's errors")?;
    let received = Received {
        pid,
        uid: cred.uid.as_raw(),
        request,
        fds,
        pinned: (before.start, pidfd),
    };
    if !received.still_the_client() {
        bail!("the client (pid {pid}) exited before its login was checked");
    }
    Ok(received)
}

/// The peer's pidfd (Linux 6.5 and later), which names that process and no other for good.
fn peer_pidfd(conn: &UnixStream) -> Option<OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut fd: nix::libc::c_int = -1;
    let mut len = std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `fd`.
    let ok = unsafe {
        nix::libc::getsockopt(
            conn.as_raw_fd(),
            nix::libc::SOL_SOCKET,
            nix::libc::SO_PEERPIDFD,
            (&mut fd as *mut nix::libc::c_int).cast(),
            &mut len,
        )
    } == 0;
    // SAFETY: the kernel gave us this new descriptor.
    (ok && fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The pid a pidfd names now (`None` once that process has exited).
fn pidfd_pid(fd: &OwnedFd) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    let pid: i32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))?
        .trim()
        .parse()
        .ok()?;
    (pid > 0).then_some(pid)
}

/// sshd's terminal is the user's: from inside another of their sessions they can open it by
/// name before the service takes it over, or (`$SSH_TTY`) from inside this one, and read
/// keystrokes or write output past the recording. Once the login is checked it becomes root's
/// (no new opens), every descriptor opened before is revoked (`TIOCVHANGUP`, which reaches
/// descriptors held or in flight anywhere), and the worker opens it afresh, as its controlling
/// terminal (so window changes and the hang-up come to it). Only a PTY slave the user owns is
/// touched: a descriptor of anything else (`/dev/ptmx`, `/dev/tty`, someone else's terminal)
/// is left as it is. Returns a problem to raise, when the revocation could not be done.
fn take_terminal(fds: &[OwnedFd; 3], uid: u32) -> Result<Option<String>> {
    use std::os::fd::AsRawFd;
    /// UNIX98_PTY_SLAVE_MAJOR and the 7 majors after it.
    const PTS_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;
    let mut taken = None;
    for fd in fds {
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        let is_char = rustix::fs::FileType::from_raw_mode(st.st_mode)
            == rustix::fs::FileType::CharacterDevice;
        let major = rustix::fs::major(st.st_rdev);
        if !is_char || !PTS_MAJORS.contains(&major) || st.st_uid != uid {
            continue;
        }
        rustix::fs::fchown(fd, Some(rustix::fs::Uid::ROOT), None)
            .context("taking the terminal from the user")?;
        rustix::fs::fchmod(fd, rustix::fs::Mode::from_raw_mode(0o600))
            .context("taking the terminal from the user")?;
        let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .context("naming the terminal")?;
        taken.get_or_insert((st.st_rdev, path));
    }
    let Some((rdev, path)) = taken else {
        return Ok(None);
    };
    if !path.starts_with("/dev/pts/") {
        return Ok(Some(format!(
            "the terminal {} is not under /dev/pts: descriptors opened before the login were not revoked",
            path.display()
        )));
    }
    // SAFETY: an ioctl without an argument on a descriptor we own.
    let hung = unsafe { nix::libc::ioctl(fds[0].as_raw_fd(), nix::libc::TIOCVHANGUP) };
    if hung != 0 {
        return Ok(Some(format!(
            "descriptors of the terminal opened before the login could not be revoked: {}",
            std::io::Error::last_os_error()
        )));
    }
    let fresh = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("reopening the terminal {}", path.display()))?;
    let st = rustix::fs::fstat(&fresh).context("reopening the terminal")?;
    anyhow::ensure!(
        st.st_rdev == rdev,
        "{} is another terminal now",
        path.display()
    );
    for (i, std_fd) in [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ]
    .into_iter()
    .enumerate()
    {
        if rustix::fs::fstat(std_fd).is_ok_and(|s| s.st_rdev == rdev) {
            match i {
                0 => rustix::stdio::dup2_stdin(&fresh),
                1 => rustix::stdio::dup2_stdout(&fresh),
                _ => rustix::stdio::dup2_stderr(&fresh),
            }
            .context("taking over the terminal")?;
        }
    }
    Ok(None)
}

fn run(conn: &UnixStream, config_path: &Path, r: Received) -> Result<i32> {
    let config = Config::load(config_path)
        .context("the recording policy cannot be read; refusing the session")?;
    let sessions = state::dir(&config.service.socket);
    let origin = peer::origin(
        r.pid,
        r.uid,
        &config.service.launchers,
        Process::read,
        |p| state::is_worker(&sessions, p),
    );
    // The ancestry was read from /proc by pid: it must still have been the client's.
    if !r.still_the_client() {
        bail!(
            "the client (pid {}) exited before its login was checked",
            r.pid
        );
    }
    let account = Account::of(r.uid)?;
    let nested = match origin {
        Ok(Origin::Login { .. }) => None,
        Ok(Origin::Nested { worker }) => Some(state::read(&sessions, worker)?),
        Err(why) => {
            let mut audit = Audit::open(&config.audit_log, config.syslog);
            audit.sign_with_key_file(config.signing_key.as_deref());
            audit.set("user", json!(account.name));
            audit.event(
                Level::Alert,
                "session.refused",
                json!({"reason": "not a login", "error": format!("{why:#}"), "pid": r.pid}),
            );
            bail!("access refused: {why:#}; a recorded session starts only from sshd or login");
        }
    };
    let terminal_problem = take_terminal(&r.fds, r.uid)?;
    // Standard input, output and error are copies; the originals are not needed.
    drop(r.fds);
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
        terminal_problem,
    })
}
