//! The login side of `doctor`: the recording service answers, and for a recorded user, sshd's
//! effective settings (`sshd -T -C user=...`) give them nothing but the recorded shell, and
//! their account cannot be switched to another shell.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::Findings;
use crate::config::Config;

pub(super) fn check_service(f: &mut Findings, config: &Config) {
    let socket = &config.service.socket;
    match UnixStream::connect(socket) {
        // Connecting is enough: the service hangs up on a client that sends nothing.
        Ok(_) => f.ok(&format!("the recording service answers on {}", socket.display())),
        Err(e) => f.fail(
            &format!(
                "the recording service does not answer on {}: {e}",
                socket.display()
            ),
            "systemctl enable --now sessrec (dist/sessrec.service); until then logins are refused (strict) or unrecorded (best_effort)",
        ),
    }
}

pub(super) fn check_user(
    f: &mut Findings,
    config: &Config,
    user: &str,
    sshd_config: Option<&Path>,
) {
    check_account(f, user);
    let file = sshd_config.unwrap_or(&config.service.sshd_config);
    let out = std::process::Command::new("/usr/sbin/sshd")
        .arg("-T")
        .arg("-f")
        .arg(file)
        .arg("-C")
        .arg(format!("user={user},host=localhost,addr=127.0.0.1"))
        .output();
    let settings = match out {
        Ok(o) if o.status.success() => parse(&String::from_utf8_lossy(&o.stdout)),
        Ok(o) => {
            f.fail(
                &format!(
                    "sshd -T -f {} failed: {}",
                    file.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                "fix sshd's configuration (sshd -t shows the error); run doctor as root",
            );
            return;
        }
        Err(e) => {
            f.fail(
                &format!("cannot run /usr/sbin/sshd -T: {e}"),
                "install openssh-server; run doctor as root",
            );
            return;
        }
    };
    for finding in judge(&settings, user) {
        match finding {
            Judged::Ok(what) => f.ok(&what),
            Judged::Fail(what, fix) => f.fail(&what, &fix),
            Judged::Warn(what, fix) => f.warn(&what, &fix),
        }
    }
}

/// The user's login shell is sessrec, and chsh would refuse to change it (chsh lets a user
/// switch only away from a shell listed in /etc/shells).
fn check_account(f: &mut Findings, user: &str) {
    let Ok(Some(account)) = nix::unistd::User::from_name(user) else {
        f.fail(
            &format!("there is no user {user}"),
            "give the name of a recorded user",
        );
        return;
    };
    let shell = account.shell;
    let ours = std::env::current_exe().ok();
    if ours.as_deref() != Some(shell.as_path()) {
        f.fail(
            &format!(
                "{user}'s login shell is {}, not sessrec: they are not recorded",
                shell.display()
            ),
            &format!(
                "usermod -s {} {user}",
                ours.as_deref()
                    .unwrap_or(Path::new("/usr/local/bin/sessrec"))
                    .display()
            ),
        );
    } else {
        f.ok(&format!("{user}'s login shell is sessrec"));
    }
    let listed = std::fs::read_to_string("/etc/shells")
        .is_ok_and(|t| t.lines().any(|l| Path::new(l.trim()) == shell));
    if listed {
        f.fail(
            &format!(
                "{} is in /etc/shells: {user} can chsh to another shell and leave recording",
                shell.display()
            ),
            &format!(
                "remove {} from /etc/shells (dist/install.sh does)",
                shell.display()
            ),
        );
    } else {
        f.ok(&format!(
            "{user} cannot chsh away (their shell is not in /etc/shells)"
        ));
    }
}

/// `sshd -T` output: lower-case keyword, then its value (repeated keywords gathered).
fn parse(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(' ') {
            out.entry(k.to_string())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    out
}

enum Judged {
    Ok(String),
    Fail(String, String),
    Warn(String, String),
}

/// What the settings let a recorded user do besides their recorded shell.
fn judge(s: &BTreeMap<String, Vec<String>>, user: &str) -> Vec<Judged> {
    let one = |k: &str| s.get(k).and_then(|v| v.first()).map_or("", String::as_str);
    let fix = "install dist/install.sh's drop-in (sshd_config.d/50-sessrec.conf) and add the user to its group, then reload sshd";
    let mut out = Vec::new();
    if one("disableforwarding") == "yes"
        || [
            "allowtcpforwarding",
            "allowstreamlocalforwarding",
            "x11forwarding",
            "allowagentforwarding",
        ]
        .iter()
        .all(|k| one(k) == "no")
    {
        out.push(Judged::Ok(format!(
            "sshd forwards nothing for {user} (-W, -L, -R, -D, agent, X11)"
        )));
    } else {
        out.push(Judged::Fail(
            format!("sshd lets {user} forward connections (ssh -W/-L/-R/-D, ProxyJump): unrecorded network access through the bastion"),
            fix.into(),
        ));
    }
    let checks: [(&str, &str, &str); 3] = [
        ("permittunnel", "no", "tun/tap tunnels (ssh -w)"),
        (
            "permituserrc",
            "no",
            "~/.ssh/rc, which runs before the recorded shell",
        ),
        (
            "permituserenvironment",
            "no",
            "~/.ssh/environment, which sets the client's environment",
        ),
    ];
    for (k, want, what) in checks {
        if one(k) == want {
            out.push(Judged::Ok(format!("sshd: {k} {want}")));
        } else {
            out.push(Judged::Fail(
                format!("sshd allows {user} {what} ({k} {})", one(k)),
                fix.into(),
            ));
        }
    }
    let accepted: Vec<&String> = s.get("acceptenv").into_iter().flatten().collect();
    let risky: Vec<&&String> = accepted
        .iter()
        .filter(|p| {
            p.split_whitespace().any(|p| {
                ["SSH_USER_AUTH", "SSH_CONNECTION", "SESSREC_GRANT_ID"]
                    .iter()
                    .any(|v| glob(p, v))
            })
        })
        .collect();
    if risky.is_empty() {
        out.push(Judged::Ok(
            "sshd accepts no SSH_* or SESSREC_* variable from clients".into(),
        ));
    } else {
        out.push(Judged::Fail(
            format!(
                "sshd's AcceptEnv lets clients set SSH_* or SESSREC_* variables ({})",
                risky
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "limit AcceptEnv to LANG LC_*".into(),
        ));
    }
    let sftp = s
        .get("subsystem")
        .into_iter()
        .flatten()
        .find(|v| v.starts_with("sftp "));
    match sftp {
        Some(v) if v.contains("internal-sftp") => out.push(Judged::Fail(
            "sshd serves sftp with internal-sftp, which never reaches the login shell: file transfers go unrecorded".into(),
            "Subsystem sftp /usr/lib/openssh/sftp-server".into(),
        )),
        _ => out.push(Judged::Ok("sftp goes through the login shell (an external sftp-server)".into())),
    }
    if one("exposeauthinfo") != "yes" {
        out.push(Judged::Warn(
            format!("sshd does not expose {user}'s authentication (ExposeAuthInfo): certificates give no identity or grant"),
            fix.into(),
        ));
    }
    if !one("forcecommand").is_empty() && one("forcecommand") != "none" {
        out.push(Judged::Warn(
            format!(
                "sshd forces a command for {user} ({}): it runs through the user's shell",
                one("forcecommand")
            ),
            "make sure the forced command needs no other shell".into(),
        ));
    }
    out
}

/// sshd's `*` and `?` patterns.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(text: &str) -> Vec<String> {
        judge(&parse(text), "u")
            .into_iter()
            .filter_map(|j| match j {
                Judged::Fail(w, _) => Some(w),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_hardened_sshd_passes_and_each_hole_is_named() {
        let good = "disableforwarding yes\npermittunnel no\npermituserrc no\npermituserenvironment no\nacceptenv LANG\nacceptenv LC_*\nsubsystem sftp /usr/lib/openssh/sftp-server\nexposeauthinfo yes\n";
        assert!(fails(good).is_empty(), "{:?}", fails(good));
        let bad = "disableforwarding no\nallowtcpforwarding yes\npermittunnel yes\npermituserrc yes\npermituserenvironment yes\nacceptenv SSH_*\nsubsystem sftp internal-sftp\n";
        assert_eq!(fails(bad).len(), 6, "{:?}", fails(bad));
        assert!(glob("LC_*", "LC_ALL") && glob("*", "SSH_USER_AUTH") && !glob("LC_*", "SSH_X"));
    }
}
