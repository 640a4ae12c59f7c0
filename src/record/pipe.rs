//! Sessions without a terminal (scp, sftp, rsync, `ssh host cmd`): standard input, output and
//! error are passed through byte for byte and recorded.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sessrec_formats::EventData;

use super::child::{Child, Served};
use super::ending::{KILL_GRACE, exit_code};
use super::tape::Tape;
use crate::deadline::Deadline;

/// After the command exits, how long its output may still come before what it left running is
/// ended (in a session the service runs).
const DRAIN: Duration = Duration::from_millis(200);

/// The tape shared by the copying threads; taken out (`None`) once the command exited, so a
/// thread still blocked on standard input cannot keep the recording from being sealed.
pub type SharedTape = Arc<Mutex<Option<Tape>>>;

/// How a session without a terminal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The command's exit status (128 + N for a signal).
    pub code: i32,
    /// Whether it was ended because its grant expired.
    pub grant_expired: bool,
    /// Whether it was ended because the login client went away.
    pub client_gone: bool,
}

/// Runs `child` with pipes, recording into `tape` when given, and ends it (its whole process
/// group) when `deadline` comes. Returns how it ended; the caller then takes the tape out and
/// seals it.
pub fn run(
    child: &Child,
    tape: Option<SharedTape>,
    deadline: Option<Deadline>,
    served: Option<&Served<'_>>,
) -> Result<Ended> {
    let mut cmd = Command::new(&child.program);
    if child.clear_env {
        cmd.env_clear();
    }
    cmd.args(&child.args).envs(child.env.iter().cloned());
    // Its own process group, so that the end of the grant reaches what it started too.
    cmd.process_group(0);
    if let Some(a) = &child.arg0 {
        std::os::unix::process::CommandExt::arg0(&mut cmd, a);
    }
    if let Some(r) = &child.run_as {
        // SAFETY: the closure makes only async-signal-safe system calls (RunAs::pre_exec).
        unsafe { cmd.pre_exec(r.pre_exec()) };
    }
    let mut proc = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", child.program.display()))?;
    let (mut cin, cout, cerr) = (
        proc.stdin.take().context("no stdin pipe")?,
        proc.stdout.take().context("no stdout pipe")?,
        proc.stderr.take().context("no stderr pipe")?,
    );
    let pid = proc.id();
    forward_signals(pid)?;
    let finished = Arc::new(AtomicBool::new(false));
    let client_gone = Arc::new(AtomicBool::new(false));
    if let Some(served) = served {
        let control = served
            .control
            .try_clone()
            .context("watching the login client")?;
        let (finished, gone, t) = (finished.clone(), client_gone.clone(), tape.clone());
        thread::spawn(move || hang_up_when_gone(control, pid, &finished, &gone, t));
    }
    let expired = Arc::new(AtomicBool::new(false));
    if let Some(d) = deadline {
        let (tape, finished, expired) = (tape.clone(), finished.clone(), expired.clone());
        thread::Builder::new()
            .name("grant".into())
            .spawn(move || enforce(d, pid, tape, &finished, &expired))
            .context("starting the grant's timer")?;
    }
    let record = move |tape: &Option<SharedTape>, data: EventData| {
        let Some(t) = tape else { return };
        let failed = t.lock().ok().and_then(|mut t| {
            let t = t.as_mut()?;
            match data {
                EventData::Input(b) => t.piped_input(&b).err(),
                other => t.event(other).err(),
            }
        });
        if let Some(f) = failed
            && f.end_session
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    };
    let t_in = tape.clone();
    // Standard input is not joined: the peer may never close it; the thread ends with us.
    thread::spawn(move || {
        pump(std::io::stdin().lock(), |b| {
            record(&t_in, EventData::Input(b.to_vec()));
            cin.write_all(b)
        });
    });
    let t_out = tape.clone();
    let out = thread::spawn(move || {
        let mut stdout = std::io::stdout().lock();
        pump(cout, |b| {
            record(&t_out, EventData::Output(b.to_vec()));
            stdout.write_all(b).and_then(|()| stdout.flush())
        });
    });
    let t_err = tape.clone();
    let err = thread::spawn(move || {
        // Locked per write, not for the thread's life: the grant's warnings go to stderr too.
        let mut stderr = std::io::stderr();
        pump(cerr, |b| {
            record(&t_err, EventData::Output(b.to_vec()));
            stderr.write_all(b)
        });
    });
    let status = proc.wait().context("waiting for the command")?;
    finished.store(true, Ordering::SeqCst);
    if expired.load(Ordering::SeqCst) {
        // The grant ended: nothing the command started outlives it, even if it exited first.
        let _ = nix::sys::signal::killpg(pgid(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let code = exit_code(&status);
    if let Some(served) = served {
        // The session ends with its command: output in flight is read for a moment, then what
        // it left running (and holding the pipes open) is ended, so the copies finish.
        let until = Instant::now() + DRAIN;
        while !(out.is_finished() && err.is_finished()) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        let mut t = tape.as_ref().and_then(|t| t.lock().ok());
        match t.as_mut().and_then(|t| t.as_mut()) {
            Some(t) => served.sweep(t),
            None => drop(served.contain.end_all(KILL_GRACE)),
        }
    }
    let _ = out.join();
    let _ = err.join();
    let mut tape = tape.as_ref().and_then(|t| t.lock().ok());
    let tape = tape.as_mut().and_then(|t| t.as_mut());
    if let Some(t) = tape {
        // A failure here is kept by the tape and reported when it is sealed.
        let _ = t.event(EventData::Exit(code));
    }
    Ok(Ended {
        code,
        grant_expired: expired.load(Ordering::SeqCst),
        client_gone: client_gone.load(Ordering::SeqCst),
    })
}

/// The login client's socket closing means the client is gone (killed, or sshd hung up): the
/// command is hung up, and killed after a grace period.
fn hang_up_when_gone(
    mut control: std::os::unix::net::UnixStream,
    pid: u32,
    finished: &AtomicBool,
    gone: &AtomicBool,
    tape: Option<SharedTape>,
) {
    let mut buf = [0u8; 64];
    loop {
        match control.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if finished.load(Ordering::SeqCst) {
        return;
    }
    gone.store(true, Ordering::SeqCst);
    if let Some(t) = &tape
        && let Ok(mut t) = t.lock()
        && let Some(t) = t.as_mut()
    {
        // A failure is kept by the tape and reported when it is sealed.
        let _ = t.event(EventData::Marker(super::session::CLIENT_GONE.into()));
    }
    let _ = nix::sys::signal::killpg(pgid(pid), nix::sys::signal::Signal::SIGHUP);
    thread::sleep(KILL_GRACE);
    if !finished.load(Ordering::SeqCst) {
        let _ = nix::sys::signal::killpg(pgid(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Tells the client (on standard error) and the recording (a marker) of each warning when it is
/// due, and at the deadline ends the command's process group: SIGHUP, then SIGKILL after a grace
/// period. Returns early once the command has exited.
fn enforce(
    deadline: Deadline,
    pid: u32,
    tape: Option<SharedTape>,
    finished: &AtomicBool,
    expired: &AtomicBool,
) {
    let wait_until = |at: Instant| {
        while Instant::now() < at {
            if finished.load(Ordering::SeqCst) {
                return false;
            }
            thread::sleep(
                at.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
        !finished.load(Ordering::SeqCst)
    };
    let say = |text: &str| {
        crate::print::note(text);
        if let Some(t) = &tape
            && let Ok(mut t) = t.lock()
            && let Some(t) = t.as_mut()
        {
            // A failure is kept by the tape and reported when it is sealed.
            let _ = t.event(EventData::Marker(text.to_string()));
        }
    };
    for (at, text) in &deadline.warnings {
        if !wait_until(*at) {
            return;
        }
        say(text);
    }
    if !wait_until(deadline.at) {
        return;
    }
    say(&deadline.final_message);
    expired.store(true, Ordering::SeqCst);
    let _ = nix::sys::signal::killpg(pgid(pid), nix::sys::signal::Signal::SIGHUP);
    // Whatever ignores the hang-up is killed, the command itself or what it left behind.
    thread::sleep(KILL_GRACE);
    let _ = nix::sys::signal::killpg(pgid(pid), nix::sys::signal::Signal::SIGKILL);
}

/// The process group the command leads.
fn pgid(pid: u32) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(pid as i32)
}

/// sshd hangs up (SIGHUP) or terminates (SIGTERM) the session when the client goes away: pass
/// that on to the command (its process group, which is no longer ours) and keep going, so the
/// recording is sealed when it exits.
fn forward_signals(pid: u32) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    thread::spawn(move || {
        for sig in signals.forever() {
            // To the command's whole process group, as sshd would have sent it to ours.
            if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                let _ = nix::sys::signal::killpg(pgid(pid), s);
            }
        }
    });
    Ok(())
}

/// Runs `child` with pipes recording into `tape` (ended at `deadline`), then seals the
/// recording. Returns how it ended and whether the recording was sealed whole.
pub fn run_recorded(
    child: &Child,
    tape: Tape,
    deadline: Option<Deadline>,
    served: Option<&Served<'_>>,
) -> (Result<Ended>, Result<()>) {
    let shared: SharedTape = Arc::new(Mutex::new(Some(tape)));
    let code = run(child, Some(shared.clone()), deadline, served);
    // A copying thread that panicked poisons the lock; the tape inside is still whole.
    let tape = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let sealed = match tape {
        Some(tape) => tape.finish(),
        None => Err(anyhow::anyhow!(
            "the recording was taken twice and is not sealed"
        )),
    };
    (code, sealed)
}

/// Copies chunks from `r` to `sink` until either side ends.
fn pump(mut r: impl Read, mut sink: impl FnMut(&[u8]) -> std::io::Result<()>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if sink(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
