//! Free space in the spool, with hysteresis: below `min_free_mb` new sessions follow the failure
//! policy, and they are accepted again only above `resume_free_mb`, so a spool hovering at the
//! limit does not flap. The state is a marker file in the spool, shared by every login.

use std::path::Path;

use anyhow::{Context, Result};

const MARKER: &str = ".low-space";

/// Bytes available to unprivileged writers on the file system holding `path`.
pub fn available(path: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(path)
        .with_context(|| format!("cannot read the free space of {}", path.display()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `Some(why)` when the spool is short of space for a new session.
pub fn spool_short(spool: &Path, min_mb: u64, resume_mb: u64) -> Result<Option<String>> {
    if min_mb == 0 {
        return Ok(None);
    }
    let free = available(spool)?;
    let marker = spool.join(MARKER);
    let was_low = marker.exists();
    let threshold = if was_low {
        resume_mb.max(min_mb)
    } else {
        min_mb
    };
    let low = free < threshold << 20;
    // Best effort: if the marker cannot be written, the plain threshold still applies.
    if low && !was_low {
        let _ = std::fs::write(&marker, b"");
    } else if !low && was_low {
        let _ = std::fs::remove_file(&marker);
    }
    Ok(low.then(|| {
        let again = if was_low {
            format!(" (sessions are accepted again above {} MiB)", resume_mb.max(min_mb))
        } else {
            String::new()
        };
        format!(
            "the recording spool {} has {} MiB free, below the {min_mb} MiB the policy requires{again}",
            spool.display(),
            free >> 20
        )
    }))
}
