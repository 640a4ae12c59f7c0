//! A real PTY: runs a program (sessrec, ssh, unshare) as a user's terminal would, types into
//! it, resizes it, signals it, and collects everything it prints.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A program on a PTY of its own, and what it printed so far.
pub struct Term {
    pty: pty_process::blocking::Pty,
    child: std::process::Child,
    screen: Arc<Mutex<Vec<u8>>>,
    // Never joined: a background process of the program may keep the PTY open (and the
    // thread reading) after the program itself exits.
    _reader: std::thread::JoinHandle<()>,
}

impl Term {
    /// Starts `args` on a new PTY of `cols`x`rows`.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        cols: u16,
        rows: u16,
        env: &[(&str, &str)],
    ) -> Term {
        let (pty, pts) = pty_process::blocking::open().expect("open pty");
        pty.resize(pty_process::Size::new(rows, cols))
            .expect("resize");
        let mut cmd = pty_process::blocking::Command::new(program)
            .args(args)
            .env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let child = cmd.spawn(pts).expect("spawn");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader_pty = pty
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .expect("dup");
        let sink = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                match reader_pty.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Term {
            pty,
            child,
            screen,
            _reader: reader,
        }
    }

    /// The process id (to signal it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Types like a person: one key at a time.
    pub fn type_slowly(&mut self, text: &str) {
        for b in text.bytes() {
            self.pty.write_all(&[b]).expect("type");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Types `bytes` in one write, as a paste or a fast typist's type-ahead arrives.
    pub fn type_at_once(&mut self, bytes: &[u8]) {
        self.pty.write_all(bytes).expect("type");
    }

    /// Resizes the terminal (the program gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) {
        self.pty
            .resize(pty_process::Size::new(rows, cols))
            .expect("resize");
    }

    /// Everything printed so far.
    pub fn output(&self) -> Vec<u8> {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if String::from_utf8_lossy(&self.output()).contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {needle:?}; screen: {:?}",
            String::from_utf8_lossy(&self.output())
        );
    }

    /// Waits for the process to exit (killing it after `timeout`), then for its output.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The PTY stays open on our side: give the reader a moment for the last bytes.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "sessrec did not exit in {timeout:?}; screen: {:?}",
                    String::from_utf8_lossy(&self.output())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal's local modes now (to check sessrec restored them).
    pub fn local_modes(&self) -> (bool, bool) {
        let t = rustix::termios::tcgetattr(self.pty.as_fd()).expect("tcgetattr");
        use rustix::termios::LocalModes;
        (
            t.local_modes.contains(LocalModes::ECHO),
            t.local_modes.contains(LocalModes::ICANON),
        )
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
