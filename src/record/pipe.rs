//! Sessions without a terminal (scp, sftp, rsync, `ssh host cmd`): standard input, output and
//! error are passed through byte for byte and recorded.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result};
use sessrec_formats::EventData;

use super::ending::exit_code;
use super::session::Child;
use super::tape::Tape;

/// The tape shared by the copying threads; taken out (`None`) once the command exited, so a
/// thread still blocked on standard input cannot keep the recording from being sealed.
pub type SharedTape = Arc<Mutex<Option<Tape>>>;

/// Runs `child` with pipes, recording into `tape` when given. Returns its exit status; the
/// caller then takes the tape out and seals it.
pub fn run(child: &Child, tape: Option<SharedTape>) -> Result<i32> {
    let mut cmd = Command::new(&child.program);
    cmd.args(&child.args).envs(child.env.iter().cloned());
    if let Some(a) = &child.arg0 {
        std::os::unix::process::CommandExt::arg0(&mut cmd, a);
    }
    if let Some(g) = child.gid {
        std::os::unix::process::CommandExt::gid(&mut cmd, g);
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
    let record = move |tape: &Option<SharedTape>, data: EventData| {
        let Some(t) = tape else { return };
        let failed = t.lock().ok().and_then(|mut t| {
            let t = t.as_mut()?;
            match data {
                EventData::Input(b) => t.input(&b, || false).and_then(|()| t.flush()).err(),
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
        let mut stderr = std::io::stderr().lock();
        pump(cerr, |b| {
            record(&t_err, EventData::Output(b.to_vec()));
            stderr.write_all(b)
        });
    });
    let status = proc.wait().context("waiting for the command")?;
    let _ = out.join();
    let _ = err.join();
    let code = exit_code(&status);
    if let Some(t) = &tape
        && let Ok(mut t) = t.lock()
        && let Some(t) = t.as_mut()
    {
        let _ = t.event(EventData::Exit(code));
    }
    Ok(code)
}

/// sshd hangs up (SIGHUP) or terminates (SIGTERM) the session when the client goes away: pass
/// that on to the command and keep going, so the recording is sealed when it exits.
fn forward_signals(pid: u32) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    thread::spawn(move || {
        for sig in signals.forever() {
            if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s);
            }
        }
    });
    Ok(())
}

/// Runs `child` with pipes recording into `tape`, then seals the recording. Returns the exit
/// status and whether the recording was sealed whole.
pub fn run_recorded(child: &Child, tape: Tape) -> (Result<i32>, Result<()>) {
    let shared: SharedTape = Arc::new(Mutex::new(Some(tape)));
    let code = run(child, Some(shared.clone()));
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
