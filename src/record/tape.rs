//! What the session loop records: events with the session clock, input filtered for secrets,
//! output kept in whole characters, and the failure policy applied when the writer fails.

use std::time::Instant;

use anyhow::Result;
use sessrec_formats::{Event, EventData};

use super::redact::{Redactor, Verdict};
use super::sink::Sink;
use super::utf8carry::Utf8Carry;

/// What to do when the recording cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// No recording, no session: a session whose recording fails is ended.
    Strict,
    /// The session goes on unrecorded, and an alert is raised.
    BestEffort,
}

/// The recording side of a session.
pub struct Tape {
    sink: Option<Sink>,
    start: Instant,
    carry: Utf8Carry,
    redactor: Redactor,
    capture_input: bool,
    policy: FailurePolicy,
    failure: Option<String>,
}

/// The writer failed; under the strict policy the session must end.
pub struct Failed {
    /// What went wrong.
    pub message: String,
    /// Whether the session must end.
    pub end_session: bool,
}

impl Tape {
    /// A tape recording into `sink` with the clock started at `start`.
    pub fn new(
        sink: Sink,
        start: Instant,
        redactor: Redactor,
        capture_input: bool,
        policy: FailurePolicy,
    ) -> Tape {
        Tape {
            sink: Some(sink),
            start,
            carry: Utf8Carry::default(),
            redactor,
            capture_input,
            policy,
            failure: None,
        }
    }

    /// A tape that records nothing (a best-effort session whose recording could not start).
    pub fn unrecorded() -> Tape {
        Tape {
            sink: None,
            start: Instant::now(),
            carry: Utf8Carry::default(),
            redactor: Redactor::new(Vec::new()),
            capture_input: false,
            policy: FailurePolicy::BestEffort,
            failure: None,
        }
    }

    /// Microseconds since the session started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Output the user saw.
    pub fn output(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        self.redactor.output(bytes);
        let whole = self.carry.push(bytes);
        if whole.is_empty() {
            return Ok(());
        }
        self.send(EventData::Output(whole))
    }

    /// Input the user typed; `secret` when the PTY is reading with echo off in canonical mode.
    pub fn input(&mut self, bytes: &[u8], secret: bool) -> Result<(), Failed> {
        if !self.capture_input {
            return Ok(());
        }
        match self.redactor.input(bytes, self.now(), secret) {
            Verdict::Record => self.send(EventData::Input(bytes.to_vec())),
            Verdict::Withhold(Some(label)) => self.send(EventData::Marker(label)),
            Verdict::Withhold(None) => Ok(()),
        }
    }

    /// Anything else: resize, marker, exit status.
    pub fn event(&mut self, data: EventData) -> Result<(), Failed> {
        self.send(data)
    }

    fn send(&mut self, data: EventData) -> Result<(), Failed> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let event = Event {
            time: self.now(),
            data,
        };
        match sink.send(event) {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = format!("{e:#}");
                self.failure = Some(message.clone());
                if self.policy == FailurePolicy::BestEffort {
                    // The session goes on unrecorded; the caller raises the alert once.
                    self.sink = None;
                }
                Err(Failed {
                    message,
                    end_session: self.policy == FailurePolicy::Strict,
                })
            }
        }
    }

    /// The first recording failure, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Seals the recording.
    pub fn finish(mut self) -> Result<()> {
        let rest = self.carry.take();
        if !rest.is_empty() {
            let _ = self.send(EventData::Output(rest));
        }
        let end = self.now();
        match self.sink.take() {
            Some(sink) => sink.finish(end),
            None => Ok(()),
        }
    }
}
