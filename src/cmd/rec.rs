use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use sessrec_formats::container::WriterOptions;

use crate::cli::Rec;
use crate::exit::Status;
use crate::identity::os_identity;
use crate::keyfile::read_signing_key;
use crate::record::header::Start;
use crate::record::redact::Redactor;
use crate::record::session::{self, Child};
use crate::record::sink::Sink;
use crate::record::tape::{FailurePolicy, Tape};
use crate::record::{pipe, tty};

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

impl Rec {
    pub fn run(self) -> Result<Status> {
        let signer = self.sign_key.as_deref().map(read_signing_key).transpose()?;
        let (program, args) = match self.command.split_first() {
            Some((p, a)) => (PathBuf::from(p), a.to_vec()),
            None => (
                std::env::var_os("SHELL")
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| PathBuf::from("/bin/sh"), PathBuf::from),
                Vec::new(),
            ),
        };
        let command = std::iter::once(program.as_os_str().to_owned())
            .chain(args.iter().cloned())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut start = Start::now(command, os_identity(), tty::size().unwrap_or((80, 24)));
        start.capture_input = !self.no_input;
        start.parent = std::env::var("SESSREC_SESSION").ok();
        let path = self
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("sessrec-{}.cast.zst", start.session_id)));
        let file = OpenOptions::new()
            .write(true)
            .create_new(!self.force)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot create the recording {} (pass --force to replace it)",
                    path.display()
                )
            })?;
        let clock = Instant::now();
        let sink = Sink::start(file, &start.header(), signer, live_writer_options())?;
        let mut tape = Tape::new(
            sink,
            clock,
            Redactor::new(Redactor::default_prompts()),
            !self.no_input,
            FailurePolicy::Strict,
        );
        let child = Child {
            program,
            arg0: None,
            args,
            env: vec![(
                OsString::from("SESSREC_SESSION"),
                OsString::from(&start.session_id),
            )],
            gid: None,
        };
        if !self.quiet {
            eprintln!(
                "sessrec: recording session {} to {}",
                start.session_id,
                path.display()
            );
        }
        let (exit_code, sealed) = if tty::interactive() {
            let outcome = session::run(child, &mut tape, None);
            (outcome.map(|o| o.exit_code), tape.finish())
        } else {
            // No terminal: standard input, output and error pass through byte for byte.
            pipe::run_recorded(&child, tape)
        };
        let exit_code = exit_code?;
        sealed.with_context(|| format!("the recording {} is not whole", path.display()))?;
        if !self.quiet {
            eprintln!("sessrec: recording saved to {}", path.display());
        }
        Ok(Status::Session(exit_code))
    }
}
