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

use anyhow::{Context, Result, bail};

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
    // Workers are not waited for: they are reaped by the kernel.
    // SAFETY: setting a disposition before any thread exists.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGCHLD,
            nix::sys::signal::SigHandler::SigIgn,
        )
        .context("ignoring SIGCHLD")?;
    }
    eprintln!("sessrec daemon: listening on {}", socket.display());
    loop {
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
        // SAFETY: this process has one thread, so the child may do anything.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                drop(listener);
                std::process::exit(worker::serve(conn, config_path));
            }
            Ok(nix::unistd::ForkResult::Parent { .. }) => drop(conn),
            Err(e) => eprintln!("sessrec daemon: cannot start a session: {e}"),
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
