//! Starting a live recording, the same way for `sessrec rec` and the login shell: one clock read
//! (wall time and monotonic time together) gives both the header's start time and the origin of
//! every event's offset, so `start + offset` is the wall time an event happened.

use std::fs::File;
use std::time::Instant;

use anyhow::{Context, Result};
use regex::Regex;
use sessrec_formats::container::WriterOptions;
use sessrec_formats::keys::SigningKey;

use super::header::Start;
use super::seal::SealNote;
use super::sink::Sink;
use super::tape::{Tape, Withholding};
use super::withhold::{Policy, Prompts, SuspiciousPolicy, Withholder};
use crate::config::FailurePolicy;
use crate::escrow::Recipients;

/// Container settings for live recording, measured on the 200 MB benchmark session: zstd level 1
/// with a 4 MiB window and a 1 MiB match table compresses as well as level 3 there (7x) for less
/// CPU; a smaller window loses a fifth of that. Frames of 16 MiB, because each frame starts with
/// an empty history: 4 MiB frames cost 18 % in size. Memory is bounded by the window, not the
/// frame (the compressor streams).
pub fn live_writer_options() -> WriterOptions {
    WriterOptions {
        level: 1,
        window_log: Some(22),
        hash_log: Some(18),
        frame_bytes: 16 * 1024 * 1024,
        ..WriterOptions::default()
    }
}

/// A moment, read once on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Wall-clock time, for the header.
    pub wall: jiff::Timestamp,
    /// Monotonic time, the origin of event offsets.
    pub mono: Instant,
}

impl Clock {
    /// Now.
    pub fn now() -> Clock {
        let mono = Instant::now();
        Clock {
            wall: jiff::Timestamp::now(),
            mono,
        }
    }
}

/// How a recording is made.
pub struct Settings {
    /// The host's (or the caller's) signing key.
    pub signer: Option<SigningKey>,
    /// Record keystrokes (never at password prompts).
    pub capture_input: bool,
    /// Password-prompt patterns on top of the built-in one (from the policy).
    pub extra_prompts: Vec<String>,
    /// Withheld keystrokes are encrypted to these (none: they are dropped).
    pub escrow: Option<Recipients>,
    /// What withheld runs that look like work get.
    pub suspicious: SuspiciousPolicy,
    /// What happens when the recording cannot be written.
    pub failure_policy: FailurePolicy,
    /// For a spool recording: its path, so that a signed sealed manifest is written beside it.
    pub spool_path: Option<std::path::PathBuf>,
}

/// Starts recording into `file`: the clock is read now, so whatever happened before (a
/// break-glass reason being typed, the grant look-up) does not shift the recording's times.
/// `start.at` becomes that moment.
pub fn start(file: File, start: &mut Start, settings: Settings) -> Result<Tape> {
    let extra = settings
        .extra_prompts
        .iter()
        .map(|p| Regex::new(p).with_context(|| format!("invalid password_prompts pattern {p:?}")))
        .collect::<Result<Vec<_>>>()?;
    let prompts =
        Prompts::new(extra).context("the built-in password prompt patterns do not compile")?;
    start.escrow = settings.escrow.as_ref().map(Recipients::to_text);
    start.suspicious = settings.suspicious;
    let withholder = Withholder::new(
        prompts,
        Policy {
            escrow: settings.escrow.is_some(),
            suspicious: settings.suspicious,
        },
        start.size.1,
    );
    let withholding = Withholding {
        withholder,
        escrow: settings.escrow.map(|r| (r, start.session_id.clone())),
    };
    let clock = Clock::now();
    start.at = clock.wall;
    let header = start.header();
    let note = settings
        .spool_path
        .as_deref()
        .map(|p| SealNote::beside(p, settings.signer.clone(), header.clone()));
    let sink = Sink::start(
        file,
        &header,
        settings.signer,
        live_writer_options(),
        settings.failure_policy == FailurePolicy::BestEffort,
        note,
    )?;
    Ok(Tape::new(
        sink,
        clock.mono,
        withholding,
        settings.capture_input,
        settings.failure_policy,
    ))
}
