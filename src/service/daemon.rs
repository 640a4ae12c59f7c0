//! `sessrec daemon`: the recording service. Root; listens on a Unix socket any local user may
//! connect to (who they are is the kernel's answer, and where they come from is checked in
//! `/proc` by the worker); forks one worker per connection and goes back to listening.
//!
//! The listener is single-threaded and does nothing but accept and fork, so a slow or hostile
//! client only ever holds its own worker. Sessions live in their workers: stopping or killing
//! the service ends no session and loses no recording (a systemd unit uses `KillMode=process`).

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::protocol;
use super::state;
use super::worker;
use crate::config::Config;

/// Runs the service until it is killed.
pub fn serve(config_path: &Path) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("the recording service must run as root (it starts shells as their users)");
    }
    harden().context("cannot protect the service's memory")?;
    let config = Config::load(config_path)?;
    let socket = &config.service.socket;
    let dir = socket
        .parent()
        .context("the service socket needs a directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    state::prepare(&state::dir(socket))?;
    // Only a stale socket is replaced; anything else at that path is an operator's mistake.
    match std::fs::symlink_metadata(socket) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(socket)
            .with_context(|| format!("cannot remove the old socket {}", socket.display()))?,
        Ok(_) => bail!(
            "{} exists and is not a socket; remove it or set [service] socket",
            socket.display()
        ),
        Err(_) => {}
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("cannot open {} to users", socket.display()))?;
    eprintln!("sessrec daemon: listening on {}", socket.display());
    let limits = (
        config.service.max_sessions_per_user,
        config.service.max_sessions,
    );
    let mut workers: HashMap<i32, u32> = HashMap::new();
    loop {
        reap(&mut workers);
        // Wake at least once a second to reap workers that ended.
        let mut fds = [PollFd::new(&listener, PollFlags::IN)];
        match poll(
            &mut fds,
            Some(&Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            }),
        ) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e).context("waiting for logins"),
        }
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of descriptors or memory: wait a little rather than spin.
                eprintln!("sessrec daemon: accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let Ok(cred) = rustix::net::sockopt::socket_peercred(&conn) else {
            continue;
        };
        let uid = cred.uid.as_raw();
        let mine = workers.values().filter(|u| **u == uid).count();
        if mine >= limits.0 || workers.len() >= limits.1 {
            let why = format!(
                "too many sessions ({mine} of uid {uid}, {} in all; limits {} and {}): close some and reconnect",
                workers.len(),
                limits.0,
                limits.1
            );
            eprintln!("sessrec daemon: refused a connection: {why}");
            let _ = conn.set_write_timeout(Some(std::time::Duration::from_millis(100)));
            let _ = protocol::send_reply(
                &conn,
                &protocol::Reply {
                    exit: 1,
                    error: Some(why),
                },
            );
            continue;
        }
        // SAFETY: this process has one thread, so the child may do anything.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                drop(listener);
                std::process::exit(worker::serve(conn, config_path));
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                workers.insert(child.as_raw(), uid);
            }
            Err(e) => eprintln!("sessrec daemon: cannot start a session: {e}"),
        }
    }
}

/// Forgets the workers that ended.
fn reap(workers: &mut HashMap<i32, u32>) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(s) => {
                if let Some(pid) = s.pid() {
                    workers.remove(&pid.as_raw());
                }
            }
        }
    }
}

/// No core dumps, no ptrace by anyone but root, for the service and every worker it forks.
pub fn harden() -> Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    Ok(())
}
