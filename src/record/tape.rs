//! What the session loop records: events with the session clock, input filtered for secrets,
//! output kept in whole characters, and the failure policy applied when the writer fails.

use std::time::Instant;

use anyhow::Result;
use sessrec_formats::{Event, EventData};

use crate::config::FailurePolicy;

use super::redact::{Redactor, Verdict};
use super::sink::{SealInfo, Sink};

/// Where a sealed recording's [`SealInfo`] appears.
pub type SealHandle = std::sync::Arc<std::sync::Mutex<Option<SealInfo>>>;
use super::utf8carry::incomplete_tail;

/// Output read within this long of the first read of a batch goes into one event: asciicast v3
/// keeps milliseconds, so nothing visible is lost, and bulk output costs a tenth of the events.
const BATCH_US: u64 = 1000;
const BATCH_BYTES: usize = 64 * 1024;
/// Events go to the writer thread in bunches, at most this late or once this big: the writer
/// flushes to disk every 200 ms anyway, and a hand-off per millisecond costs a thread wake-up
/// each time on bulk output.
const HANDOFF_US: u64 = 20_000;
const HANDOFF_BYTES: usize = 256 * 1024;

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
    /// Events waiting to go to the writer thread, their output bytes, and when the first was
    /// queued.
    queue: Vec<Event>,
    queued_bytes: usize,
    queued_at: u64,
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
            queue: Vec::new(),
            queued_bytes: 0,
            queued_at: 0,
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
            queue: Vec::new(),
            queued_bytes: 0,
            queued_at: 0,
            redactor: Redactor::new(Vec::new()),
            capture_input: false,
            policy: FailurePolicy::BestEffort,
            failure: None,
        }
    }

    /// Where the seal's hash and size appear once the recording is sealed (`None` for a tape
    /// that records nothing).
    pub fn seal_info(&self) -> Option<SealHandle> {
        self.sink.as_ref().map(Sink::seal_info)
    }

    /// When the session clock started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Microseconds since the session started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Output the user saw. It is batched: call [`Tape::flush`] at [`Tape::handoff_due`].
    pub fn output(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        self.redactor.output(bytes);
        let now = self.now();
        let full = self.batch.as_ref().is_some_and(|b| {
            now.saturating_sub(b.start_us) >= BATCH_US || b.bytes.len() >= BATCH_BYTES
        });
        if full {
            self.close_batch();
            if self.queued_bytes >= HANDOFF_BYTES {
                self.flush()?;
            }
        }
        let carry = &mut self.carry;
        let batch = self.batch.get_or_insert_with(|| Batch {
            start_us: now,
            bytes: std::mem::take(carry),
        });
        batch.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// When pending output or events must go to the writer (microseconds on the session clock).
    pub fn handoff_due(&self) -> Option<u64> {
        let batch = self.batch.as_ref().map(|b| b.start_us);
        let queue = (!self.queue.is_empty()).then_some(self.queued_at);
        batch.into_iter().chain(queue).min().map(|t| t + HANDOFF_US)
    }

    /// Sends the pending output batch and queued events to the writer, keeping back an
    /// incomplete character for the next batch.
    pub fn flush(&mut self) -> Result<(), Failed> {
        self.close_batch();
        if self.queue.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.queue);
        self.queued_bytes = 0;
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        match sink.send(events) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(format!("{e:#}"))),
        }
    }

    /// Moves the output batch into the queue.
    fn close_batch(&mut self) {
        let Some(Batch {
            start_us,
            mut bytes,
        }) = self.batch.take()
        else {
            return;
        };
        let keep = incomplete_tail(&bytes);
        self.carry = bytes.split_off(bytes.len() - keep);
        if !bytes.is_empty() {
            self.queued_bytes += bytes.len();
            self.enqueue(start_us, EventData::Output(bytes));
        }
    }

    fn enqueue(&mut self, time: u64, data: EventData) {
        if self.queue.is_empty() {
            self.queued_at = self.now();
        }
        self.queue.push(Event { time, data });
    }

    /// Input the user typed; `secret` tells whether the PTY is reading with echo off in canonical
    /// mode, asked only when input is recorded (it costs a system call per keystroke).
    pub fn input(&mut self, bytes: &[u8], secret: impl FnOnce() -> bool) -> Result<(), Failed> {
        if !self.capture_input {
            return Ok(());
        }
        let secret = secret();
        self.close_batch();
        let now = self.now();
        match self.redactor.input(bytes, now, secret) {
            Verdict::Record => self.enqueue(now, EventData::Input(bytes.to_vec())),
            Verdict::Withhold(Some(label)) => self.enqueue(now, EventData::Marker(label)),
            Verdict::Withhold(None) => {}
        }
        Ok(())
    }

    /// Anything else: resize, marker, exit status; sent at once with everything queued.
    pub fn event(&mut self, data: EventData) -> Result<(), Failed> {
        self.close_batch();
        let now = self.now();
        self.enqueue(now, data);
        self.flush()
    }

    /// Records the first failure and stops recording: the writer is gone, so every later send
    /// would fail again (and tell the user again). The session ends (strict) or goes on
    /// unrecorded (best effort); [`Tape::finish`] reports the failure.
    fn failed(&mut self, message: String) -> Failed {
        self.failure = Some(message.clone());
        self.sink = None;
        Failed {
            message,
            end_session: self.policy == FailurePolicy::Strict,
        }
    }

    /// Seals the recording. Fails if the recording failed at any point, so no caller can
    /// mistake a broken recording for a whole one.
    pub fn finish(mut self) -> Result<()> {
        self.close_batch();
        let rest = std::mem::take(&mut self.carry);
        if !rest.is_empty() {
            let now = self.now();
            self.enqueue(now, EventData::Output(rest));
        }
        // A failure here is kept in `self.failure` and reported below.
        let _ = self.flush();
        let end = self.now();
        let sealed = match self.sink.take() {
            Some(sink) => sink.finish(end),
            None => Ok(()),
        };
        match self.failure.take() {
            Some(f) => Err(anyhow::anyhow!("the recording failed: {f}")),
            None => sealed,
        }
    }
}
