//! The recorded user's account, as the service starts their shell: ids and groups from the
//! user database (never from the client), the home directory, and the login environment.

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::unistd::{Gid, Uid, User};

/// Who the shell runs as.
#[derive(Debug, Clone)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Every group (initgroups' list).
    pub groups: Vec<u32>,
    /// Home directory.
    pub home: PathBuf,
}

impl Account {
    /// Looks up `uid` in the user database.
    pub fn of(uid: u32) -> Result<Account> {
        let user = User::from_uid(Uid::from_raw(uid))
            .context("reading the user database")?
            .with_context(|| format!("uid {uid} has no account"))?;
        let cname = CString::new(user.name.clone()).context("a user name with a NUL")?;
        let groups = nix::unistd::getgrouplist(&cname, user.gid)
            .with_context(|| format!("reading the groups of {}", user.name))?
            .into_iter()
            .map(Gid::as_raw)
            .collect();
        Ok(Account {
            name: user.name,
            uid,
            gid: user.gid.as_raw(),
            groups,
            home: user.dir,
        })
    }

    /// The environment a login shell starts with: the account's own variables, the ones the
    /// client passed on (terminal, locale, SSH connection), and the session id.
    pub fn login_env(
        &self,
        shell: &std::path::Path,
        passed: &BTreeMap<String, String>,
        session: &str,
    ) -> Vec<(OsString, OsString)> {
        let mut env: BTreeMap<OsString, OsString> = passed
            .iter()
            .filter(|(k, _)| k.as_str() != "SSH_USER_AUTH")
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let path = if self.uid == 0 {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        } else {
            "/usr/local/bin:/usr/bin:/bin:/usr/games"
        };
        for (k, v) in [
            ("HOME", self.home.clone().into_os_string()),
            ("USER", self.name.clone().into()),
            ("LOGNAME", self.name.clone().into()),
            ("SHELL", shell.as_os_str().to_os_string()),
            ("PATH", path.into()),
            ("MAIL", format!("/var/mail/{}", self.name).into()),
            ("SESSREC_SESSION", session.into()),
        ] {
            env.insert(k.into(), v);
        }
        env.into_iter().collect()
    }
}

/// Becomes `account` in a child between fork and exec: groups, then group, then user (each
/// checked; after it nothing can regain root), then the home directory. Only async-signal-safe
/// calls: the caller has computed everything.
pub fn become_user(
    uid: u32,
    gid: u32,
    groups: &[nix::libc::gid_t],
    home: &CString,
) -> std::io::Result<()> {
    // SAFETY: plain system calls on memory the caller owns, allowed between fork and exec.
    unsafe {
        if nix::libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || nix::libc::setresgid(gid, gid, gid) != 0
            || nix::libc::setresuid(uid, uid, uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        if uid != 0 && nix::libc::setuid(0) == 0 {
            return Err(std::io::Error::other("root could be regained"));
        }
        // A missing home is not fatal (login does the same): the shell starts in /.
        if nix::libc::chdir(home.as_ptr()) != 0 {
            let _ = nix::libc::chdir(c"/".as_ptr());
        }
    }
    Ok(())
}
