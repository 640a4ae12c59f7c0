use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::Rec;
use crate::config::FailurePolicy;
use crate::exit::Status;
use crate::identity::os_identity;
use crate::keyfile::read_signing_key;
use crate::print;
use crate::record::header::Start;
use crate::record::session::{self, Child};
use crate::record::{pipe, recording, tty};

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
        // A directory is a spool: the recording is named by its session id, as the recording
        // service names it, and a sealed manifest is written beside it.
        let spool_dir = self.output.as_ref().filter(|o| o.is_dir());
        let path = match (spool_dir, &self.output) {
            (Some(dir), _) => dir.join(format!("{}.cast.zst", start.session_id)),
            (None, Some(file)) => file.clone(),
            (None, None) => PathBuf::from(format!("sessrec-{}.cast.zst", start.session_id)),
        };
        let spool_path = spool_dir.map(|_| path.clone());
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
        let settings = recording::Settings {
            signer,
            capture_input: !self.no_input,
            extra_prompts: Vec::new(),
            escrow: (!self.escrow_to.is_empty())
                .then(|| crate::escrow::Recipients::parse(&self.escrow_to))
                .transpose()
                .context("--escrow-to")?,
            suspicious: self.withhold_suspicious.into(),
            failure_policy: if self.keep_going {
                FailurePolicy::BestEffort
            } else {
                FailurePolicy::Strict
            },
            spool_path,
        };
        let mut tape = recording::start(file, &mut start, settings)?;
        let child = Child {
            program,
            arg0: None,
            args,
            env: vec![(
                OsString::from("SESSREC_SESSION"),
                OsString::from(&start.session_id),
            )],
            run_as: None,
            clear_env: false,
        };
        if !self.quiet {
            print::note(format_args!(
                "recording session {} to {}",
                start.session_id,
                path.display()
            ));
        }
        let (exit_code, sealed) = if tty::interactive() {
            let outcome = session::run(child, &mut tape, None, None);
            (outcome.map(|o| o.exit_code), tape.finish())
        } else {
            // No terminal: standard input, output and error pass through byte for byte.
            let (ended, sealed) = pipe::run_recorded(&child, tape, None, None);
            (ended.map(|e| e.code), sealed)
        };
        let exit_code = exit_code?;
        match sealed {
            // The session was let go on unrecorded: its status is the answer, the gap a warning.
            Err(e) if self.keep_going => print::warn(format!(
                "the recording {} stopped before the session ended (it says so under its \
                 signature): {e:#}",
                path.display()
            )),
            sealed => {
                sealed.with_context(|| format!("the recording {} is not whole", path.display()))?
            }
        }
        if !self.quiet {
            print::note(format_args!("recording saved to {}", path.display()));
        }
        Ok(Status::Session(exit_code))
    }
}
