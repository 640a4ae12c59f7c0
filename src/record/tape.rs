//! What the session loop records: events with the session clock, input filtered for secrets,
//! output kept in whole characters, and the failure policy applied when the writer fails.

use std::time::Instant;

use anyhow::Result;
use sessrec_formats::{Event, EventData};

use super::redact::{Redactor, Verdict};
use super::sink::Sink;
use super::utf8carry::incomplete_tail;

/// What to do when the recording cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// No recording, no session: a session whose recording fails is ended.
    Strict,
    /// The session goes on unrecorded, and an alert is raised.
    BestEffort,
}

/// Output read within this long of the first read of a batch goes into one event: asciicast v3
/// keeps milliseconds, so nothing visible is lost, and bulk output costs a tenth of the events.
const BATCH_US: u64 = 1000;
const BATCH_BYTES: usize = 64 * 1024;

/// Output waiting to become one event.
struct Batch {
    start_us: u64,
    bytes: Vec<u8>,
}

/// The recording side of a session.
pub struct Tape {
    sink: Option<Sink>,
    start: Instant,
    batch: Option<Batch>,
    /// The start of a character split across reads, held for the next batch.
    carry: Vec<u8>,
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
            batch: None,
            carry: Vec::new(),
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
            batch: None,
            carry: Vec::new(),
            redactor: Redactor::new(Vec::new()),
            capture_input: false,
            policy: FailurePolicy::BestEffort,
            failure: None,
        }
    }

    /// When the session clock started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Microseconds since the session started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Output the user saw. It is batched: call [`Tape::flush_due`] when the batch is due.
    pub fn output(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        self.redactor.output(bytes);
        let now = self.now();
        let full = self.batch.as_ref().is_some_and(|b| {
            now.saturating_sub(b.start_us) >= BATCH_US || b.bytes.len() >= BATCH_BYTES
        });
        if full {
            self.flush()?;
        }
        let carry = &mut self.carry;
        let batch = self.batch.get_or_insert_with(|| Batch {
            start_us: now,
            bytes: std::mem::take(carry),
        });
        batch.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// When the pending output batch must be recorded (microseconds on the session clock).
    pub fn batch_due(&self) -> Option<u64> {
        self.batch.as_ref().map(|b| b.start_us + BATCH_US)
    }

    /// Records the pending output batch, keeping back an incomplete character for the next.
    pub fn flush(&mut self) -> Result<(), Failed> {
        let Some(Batch {
            start_us,
            mut bytes,
        }) = self.batch.take()
        else {
            return Ok(());
        };
        let keep = incomplete_tail(&bytes);
        self.carry = bytes.split_off(bytes.len() - keep);
        if bytes.is_empty() {
            return Ok(());
        }
        self.send_at(start_us, EventData::Output(bytes))
    }

    /// Input the user typed; `secret` when the PTY is reading with echo off in canonical mode.
    pub fn input(&mut self, bytes: &[u8], secret: bool) -> Result<(), Failed> {
        if !self.capture_input {
            return Ok(());
        }
        self.flush()?;
        match self.redactor.input(bytes, self.now(), secret) {
            Verdict::Record => self.send(EventData::Input(bytes.to_vec())),
            Verdict::Withhold(Some(label)) => self.send(EventData::Marker(label)),
            Verdict::Withhold(None) => Ok(()),
        }
    }

    /// Anything else: resize, marker, exit status.
    pub fn event(&mut self, data: EventData) -> Result<(), Failed> {
        self.flush()?;
        self.send(data)
    }

    fn send(&mut self, data: EventData) -> Result<(), Failed> {
        let now = self.now();
        self.send_at(now, data)
    }

    fn send_at(&mut self, time: u64, data: EventData) -> Result<(), Failed> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let event = Event { time, data };
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
        let _ = self.flush();
        let rest = std::mem::take(&mut self.carry);
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
