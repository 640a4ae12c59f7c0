//! Signals for the session loop: each sets a flag and wakes `poll` through a socket pair, so the
//! loop needs no runtime and no signal-handling thread.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use signal_hook::SigId;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGWINCH};

/// The signals that arrived since the last [`SessionSignals::take`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Arrived {
    /// The user's connection went away.
    pub hangup: bool,
    /// sessrec was told to stop (SIGTERM or SIGINT).
    pub terminate: bool,
    /// The user's window changed size.
    pub resize: bool,
    /// The shell (or another child) changed state.
    pub child: bool,
}

/// The handlers installed for a session; installed before the shell starts so that no SIGCHLD
/// is missed.
pub struct SessionSignals {
    wake: UnixStream,
    hangup: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
    resize: Arc<AtomicBool>,
    child: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl SessionSignals {
    /// Installs the handlers.
    pub fn install() -> Result<SessionSignals> {
        let (wake, notify) = UnixStream::pair().context("creating the signal wake-up socket")?;
        wake.set_nonblocking(true)
            .context("creating the signal wake-up socket")?;
        notify
            .set_nonblocking(true)
            .context("creating the signal wake-up socket")?;
        let mut s = SessionSignals {
            wake,
            hangup: Arc::default(),
            terminate: Arc::default(),
            resize: Arc::default(),
            child: Arc::default(),
            ids: Vec::new(),
        };
        let flags = [
            (SIGHUP, s.hangup.clone()),
            (SIGTERM, s.terminate.clone()),
            (SIGINT, s.terminate.clone()),
            (SIGWINCH, s.resize.clone()),
            (SIGCHLD, s.child.clone()),
        ];
        for (signal, flag) in flags {
            // The flag first: when poll wakes, the flag is already set.
            let flag_id = signal_hook::flag::register(signal, flag)
                .with_context(|| format!("handling signal {signal}"))?;
            s.ids.push(flag_id);
            let pipe = notify
                .try_clone()
                .context("creating the signal wake-up socket")?;
            let wake_id = signal_hook::low_level::pipe::register(signal, pipe)
                .with_context(|| format!("handling signal {signal}"))?;
            s.ids.push(wake_id);
        }
        Ok(s)
    }

    /// The descriptor that becomes readable when a signal arrives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake-up socket and returns the signals that arrived.
    pub fn take(&self) -> Arrived {
        let mut sink = [0u8; 64];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        Arrived {
            hangup: self.hangup.swap(false, Ordering::SeqCst),
            terminate: self.terminate.swap(false, Ordering::SeqCst),
            resize: self.resize.swap(false, Ordering::SeqCst),
            child: self.child.swap(false, Ordering::SeqCst),
        }
    }
}

impl Drop for SessionSignals {
    fn drop(&mut self) {
        // Later signals are then ignored, which is what sealing the recording wants: a hang-up
        // while the trailer is written must not cut it short.
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
