//! The setgid bit (group `sessrec`, which can write the spool and read the signing key) is for
//! the login shell alone. Every other subcommand gives the group up before it does anything, so
//! it runs with the caller's own rights: `sessrec rec -- cat KEY` (the child would inherit the
//! group), `convert --sign-key KEY` (a forgery signed with the host key), `upload --config
//! MINE` (the spool shipped elsewhere) or `keygen -o AUDIT_LOG --force` get nothing the caller
//! could not do without sessrec.

use anyhow::{Context, Result};
use nix::unistd::{getegid, getgid, setresgid};

/// Sets the effective and saved group ids to the real one, if they differ (a setgid start).
pub fn drop_setgid() -> Result<()> {
    let real = getgid();
    if getegid() == real {
        return Ok(());
    }
    setresgid(real, real, real).context("cannot give up the sessrec group; refusing to run")?;
    // Checked, not assumed: a failure must not leave the command running privileged.
    anyhow::ensure!(
        getegid() == real,
        "the sessrec group is still in effect; refusing to run"
    );
    Ok(())
}
