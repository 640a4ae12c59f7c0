//! Withheld input on a bastion, over a real ssh login to the recording service: a password is
//! escrowed, echo turned off at the shell prompt raises the alert in the audit log (never
//! with the keystrokes), and the security team's identity unseals the spool recording.

use std::time::Duration;

use crate::util::keys::age_identity;
use crate::util::recording::{input_text, markers};
use crate::util::sshd::{NEEDS, Sshd, T};
use crate::util::{Req, sessrec_output};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        over_ssh_evasion_raises_the_alert_and_escrow_holds => [NEEDS, [Req::Tool("age-keygen")]]
    ]
}

/// This bastion's recorded user (not the other tests', so they can run at once).
const USER: &str = "sessrec-wh";

fn over_ssh_evasion_raises_the_alert_and_escrow_holds() {
    let keys = tempfile::TempDir::new().unwrap();
    let (identity, recipient) = age_identity(&keys.path().join("team.key"));
    let b = Sshd::start_with(USER, |c| {
        c.set("escrow_recipients", vec![recipient.clone()])
    });
    let n = b.recordings().len();
    let mut t = b.tty_session("user", None);
    t.wait_for("$ ", T);
    t.type_slowly("read -s -p 'Pass''word: ' pw; echo got-$((1+1))\r");
    t.wait_for("Password: ", T);
    std::thread::sleep(Duration::from_millis(150));
    t.type_slowly("Sec-ssh-1\r");
    t.wait_for("got-2", T);
    t.type_slowly("stty -echo; exec sh\r");
    std::thread::sleep(Duration::from_millis(500));
    t.type_slowly("echo one-$((1+1))\r");
    t.wait_for("one-2", T);
    t.type_slowly("echo hidden-$((2+2))\r");
    t.wait_for("hidden-4", T);
    t.type_slowly("exit\r");
    t.wait(T);
    let (_, events) = b.newest(n);
    let typed = input_text(&events);
    assert!(
        !typed.contains("Sec-ssh-1") && !typed.contains("hidden-"),
        "{typed:?}"
    );
    let m = markers(&events);
    assert!(
        m.iter()
            .any(|m| m.starts_with("suspicious input: ") && m.ends_with("; escrowed")),
        "{m:?}"
    );
    let audit = b.audit();
    let alert = audit
        .lines()
        .find(|l| l.contains("\"event\":\"input.withheld_suspicious\""))
        .unwrap_or_else(|| panic!("no alert: {audit}"));
    assert!(alert.contains("\"level\":\"alert\"") && alert.contains("echo off at a shell prompt"));
    assert!(alert.contains(&format!("\"user\":\"{USER}\"")), "{alert}");
    assert!(!audit.contains("Sec-ssh-1") && !audit.contains("hidden-"));

    let recording = b.recordings().pop().unwrap();
    let log = keys.path().join("review.log");
    let o = sessrec_output(&[
        "unseal",
        recording.to_str().unwrap(),
        "--identity",
        identity.to_str().unwrap(),
        "--key",
        b.path("etc/signing.key.pub").to_str().unwrap(),
        "--audit-log",
        log.to_str().unwrap(),
    ]);
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(
        shown.contains("Sec-ssh-1⏎") && shown.contains("echo hidden-$((2+2))⏎"),
        "{shown}"
    );
    let review = std::fs::read_to_string(&log).unwrap();
    assert!(review.contains("\"event\":\"escrow.unsealed\""), "{review}");
}
