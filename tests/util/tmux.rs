//! A tmux server of our own (a real terminal emulator), to drive `sessrec play` in it.

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, on its own socket.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server with one `cols`x`rows` session running `sh` (the test needs
    /// `Req::Tool("tmux")`), with title and clipboard changes allowed, so that the hostile
    /// recording test sees them if the player lets them through.
    pub fn start(cols: u16, rows: u16) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let t = Tmux {
            socket: format!("sessrec-play-{}-{n}", std::process::id()),
        };
        t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "sh",
        ]);
        t.run(&["set-option", "-g", "set-clipboard", "on"]);
        t.run(&["set-option", "-g", "allow-rename", "on"]);
        t
    }

    /// A tmux command on this server; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Types `keys` (tmux key names) into the session.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// What the pane shows.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits (20 s at most) until the pane shows `what`; returns the pane.
    pub fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |s| s.contains(what))
    }

    /// Waits (20 s at most) until the pane satisfies `done`; returns the pane.
    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what:?}; the pane shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}
