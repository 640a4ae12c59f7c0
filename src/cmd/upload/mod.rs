//! `sessrec upload`: ships sealed recordings from the spool to the store.

mod chain;
mod ship;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{OpenOptions, open_path};
use sessrec_store::StoreError;
use sessrec_store::{Store, live};

use crate::audit::{Audit, Level};
use crate::cli::Upload;
use crate::config::Config;
use crate::exit::Status;
use crate::keyfile::read_public_keys;
use crate::print;
use crate::spool;

/// Attempts per file in one pass, with exponential backoff and jitter between them.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(500);
/// Passes after which a file that cannot be read or verified is quarantined. A store that is
/// down never quarantines anything: the file waits in the spool.
const QUARANTINE_AFTER: u32 = 3;
/// How often the service looks at the spool: a live session reaches the store within about
/// this long plus the recorder's 200 ms flush.
const INTERVAL: Duration = Duration::from_secs(2);

impl Upload {
    pub fn run(self) -> Result<Status> {
        let config = Config::load(&self.config)?;
        if self.status {
            print_status(&config)?;
            return Ok(Status::Ok);
        }
        let trusted = trusted_keys(&config)?;
        let store = Store::open(&config.storage, &config.store_settings())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the upload runtime")?;
        let mut audit = Audit::open(&config.audit_log, config.syslog);
        for p in audit.problems() {
            print::warn(p);
        }
        loop {
            let passed = runtime.block_on(pass(&store, &config, &trusted, &mut audit));
            if self.once {
                return Ok(if passed? == 0 {
                    Status::Ok
                } else {
                    Status::Error
                });
            }
            // The service outlives a spool it cannot read for a while (a remount, a full disk).
            if let Err(e) = passed {
                print::note(format_args!(
                    "{e:#}; trying again in {} s",
                    INTERVAL.as_secs()
                ));
            }
            std::thread::sleep(INTERVAL);
        }
    }
}

/// The host's public key (`SIGNING_KEY.pub`), to verify recordings before they leave. The
/// uploader never reads the signing key itself: it runs without the right to.
fn trusted_keys(config: &Config) -> Result<Vec<PublicKey>> {
    match &config.signing_key {
        Some(path) => {
            let mut public = path.clone().into_os_string();
            public.push(".pub");
            read_public_keys(&[public.into()]).context(
                "the uploader verifies recordings with the host's public key, SIGNING_KEY.pub beside `signing_key` (sessrec keygen writes both)",
            )
        }
        None => Ok(Vec::new()),
    }
}

/// One look at the spool; returns how many files could not be shipped. A problem with one file
/// (even with its local bookkeeping, such as a full disk) is reported and the others go on.
async fn pass(
    store: &Store,
    config: &Config,
    trusted: &[PublicKey],
    audit: &mut Audit,
) -> Result<usize> {
    let mut failed = 0;
    let files = spool::scan(&config.spool)?;
    if !files.is_empty() {
        // The uploader's state lives in SPOOL/.upload: its own directory, never a link.
        spool::prepare(&config.spool)?;
    }
    for file in files {
        let path = &file.path;
        if file.live {
            if let Err(e) = ship_live(store, config, path).await {
                failed += 1;
                print::note(format_args!(
                    "cannot ship the live session {} yet: {e:#}; retried next pass",
                    path.display()
                ));
            }
            continue;
        }
        match ship::ship_file(store, config, trusted, audit, path).await {
            Ok(true) => {}
            Ok(false) => failed += 1,
            Err(e) => {
                failed += 1;
                print::note(format_args!(
                    "{}: {e:#}; it stays in the spool and is retried",
                    path.display()
                ));
            }
        }
    }
    // The audit chain goes after the recordings, so a session's end is in the store once its
    // recording is.
    let host = crate::record::header::hostname().unwrap_or_else(|| "unknown".into());
    if let Err(e) = chain::ship(store, config, trusted, &host).await {
        failed += 1;
        print::note(format_args!(
            "cannot ship the audit chain of {}: {e:#}; retried next pass",
            config.audit_log.display()
        ));
    }
    Ok(failed)
}

/// Ships what a live recording gained since the last pass, resuming from the local checkpoint
/// or, when that is lost, from what the store holds.
async fn ship_live(store: &Store, config: &Config, path: &Path) -> Result<()> {
    // One open, never through a link, never a FIFO: what is read is the file checked.
    let opened = spool::open_recording(path)?;
    let source = opened.path.as_path();
    let header = match open_path(source, &OpenOptions::default()) {
        Ok(r) => r.header().clone(),
        // Not even the header is on disk yet: next pass.
        Err(_) => return Ok(()),
    };
    let Some(meta) = header.sessrec else {
        return Ok(());
    };
    // Only into its own session's parts: a file named for one session and holding another is
    // never shipped live (it is quarantined once its writer lets go).
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name != format!("{}.cast.zst", meta.session_id) {
        anyhow::bail!(
            "it is named {name} but holds session {}; it is not shipped while written",
            meta.session_id
        );
    }
    let from = match spool::live_checkpoint(&config.spool, path) {
        Some(offset) => offset,
        None => live::confirmed(store, &meta.session_id).await?,
    };
    let to = live::ship_tail(store, source, &meta.session_id, from).await?;
    if to != from {
        spool::set_live_checkpoint(&config.spool, path, to)?;
    }
    Ok(())
}

/// Runs `step` until it succeeds, a permanent error, or [`ATTEMPTS`] tries, with backoff.
async fn retried<T, F, Fut>(mut step: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        match step().await {
            Err(e) if e.is_transient() && attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A file that cannot be read: counted, and quarantined after a few passes.
fn give_up_or_wait(config: &Config, path: &Path, reason: &str, audit: &mut Audit) -> Result<()> {
    let count = spool::record_failure(&config.spool, path, reason)?;
    if count < QUARANTINE_AFTER {
        print::note(format_args!(
            "cannot ship {}: {reason} (attempt {count} of {QUARANTINE_AFTER})",
            path.display()
        ));
        return Ok(());
    }
    let dest = spool::quarantine(&config.spool, path, reason)?;
    audit.event(
        Level::Alert,
        "upload.quarantined",
        json!({"file": path, "quarantine": dest, "error": reason}),
    );
    print::note(format_args!(
        "moved {} to {}: {reason}; inspect it with `sessrec verify`",
        path.display(),
        dest.display()
    ));
    Ok(())
}

/// 0.5 s, 1 s, 2 s ... with up to 50 % jitter, so that many bastions do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF * 2u32.pow(attempt);
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) * 0.5;
    base.mul_f64(1.0 + jitter)
}

/// What is in the spool. File names and recorded errors are made terminal-safe: a spool file's
/// name or a store's error message must not drive the operator's terminal.
fn print_status(config: &Config) -> Result<()> {
    let files = spool::scan(&config.spool)?;
    let mut out = print::stdout();
    let safe = |text: &str| print::safe(text).into_owned();
    let heading = format!("spool {} -> {}", config.spool.display(), config.storage);
    writeln!(out, "{}", safe(&heading)).context("printing the status")?;
    if files.is_empty() {
        writeln!(out, "  nothing waiting").context("printing the status")?;
    }
    for f in &files {
        let name = f.path.file_name().unwrap_or_default().to_string_lossy();
        let state = if f.live {
            "recording".to_string()
        } else {
            match &f.failures {
                Some(fl) => format!(
                    "waiting, {} failed pass(es), last {}: {}",
                    fl.count, fl.last_try, fl.last_error
                ),
                None => "waiting".into(),
            }
        };
        writeln!(out, "  {}  {} bytes  {}", safe(&name), f.size, safe(&state))
            .context("printing the status")?;
    }
    for (path, reason) in spool::quarantined(&config.spool) {
        let line = format!("  quarantined {}: {reason}", path.display());
        writeln!(out, "{}", safe(&line)).context("printing the status")?;
    }
    for path in spool::strays(&config.spool) {
        let line = format!(
            "  not a recording's name, left alone: {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        writeln!(out, "{}", safe(&line)).context("printing the status")?;
    }
    Ok(())
}
