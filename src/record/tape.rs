//! What the session loop records: events with the session clock, input filtered for secrets,
//! output kept in whole characters, and the failure policy applied when the writer fails.

use std::time::Instant;

use anyhow::Result;
use sessrec_formats::{Event, EventData};

use crate::config::FailurePolicy;

use super::sink::{SealInfo, Sink};
use super::withhold::{Out, Probe, SuspiciousRun, Withholder};
use crate::escrow::Recipients;

/// Told of each suspicious run of withheld input (the audit log's alert).
pub type SuspiciousHook = Box<dyn FnMut(&SuspiciousRun) + Send>;

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
    withholder: Withholder,
    /// Where withheld keystrokes are escrowed to, and the session they belong to.
    escrow: Option<(Recipients, String)>,
    /// Told of each suspicious run (the audit log's alert).
    on_suspicious: Option<SuspiciousHook>,
    /// The time of the last event queued: keystrokes typed ahead are decided later and keep
    /// their own time only where that does not put them before an event already queued.
    last_time: u64,
    capture_input: bool,
    policy: FailurePolicy,
    failure: Option<String>,
}

/// How a tape withholds secrets.
pub struct Withholding {
    /// Decides what input is recorded.
    pub withholder: Withholder,
    /// Escrow recipients, and the session id the escrowed input is bound to.
    pub escrow: Option<(Recipients, String)>,
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
        withholding: Withholding,
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
            withholder: withholding.withholder,
            escrow: withholding.escrow,
            on_suspicious: None,
            last_time: 0,
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
            withholder: Withholder::new(
                super::withhold::Prompts::none(),
                super::withhold::Policy {
                    escrow: false,
                    suspicious: super::withhold::SuspiciousPolicy::Drop,
                },
                24,
            ),
            escrow: None,
            on_suspicious: None,
            last_time: 0,
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

    /// Calls `hook` for each suspicious run of withheld input, as it ends.
    pub fn on_suspicious(&mut self, hook: SuspiciousHook) {
        self.on_suspicious = Some(hook);
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
    pub fn output(&mut self, bytes: &[u8], probe: &dyn Probe) -> Result<(), Failed> {
        let now = self.now();
        let masked = if self.sink.is_some() {
            let masked = self.withholder.output(bytes, now, probe);
            self.drain_withheld();
            masked
        } else {
            None
        };
        let bytes = masked.as_deref().unwrap_or(bytes);
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
        let handoff = batch.into_iter().chain(queue).min().map(|t| t + HANDOFF_US);
        let typed_ahead = self.withholder.due().map(|d| self.now() + d);
        handoff.into_iter().chain(typed_ahead).min()
    }

    /// Looks again at keystrokes typed ahead (due at [`Tape::handoff_due`] too).
    pub fn tick(&mut self, probe: &dyn Probe) {
        if self.withholder.due().is_some() {
            let now = self.now();
            self.withholder.tick(now, probe);
            self.drain_withheld();
        }
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
        let time = time.max(self.last_time);
        self.last_time = time;
        self.queue.push(Event { time, data });
    }

    /// Input the user typed at the terminal; `probe` answers what the withholder asks of the
    /// PTY (its mode costs a system call per keystroke). Without input capture the withholder
    /// still follows it: an echoed secret must be masked in the output all the same.
    pub fn input(&mut self, bytes: &[u8], probe: &dyn Probe) -> Result<(), Failed> {
        if self.sink.is_none() {
            return Ok(());
        }
        let now = self.now();
        self.withholder.input(bytes, now, probe);
        self.drain_withheld();
        Ok(())
    }

    /// Input of a session without a terminal: no prompt can hide it, so it is recorded as is.
    pub fn piped_input(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        if !self.capture_input {
            return Ok(());
        }
        self.event(EventData::Input(bytes.to_vec()))
    }

    /// Queues what the withholder decided: keystrokes, markers, escrowed input; tells the hook
    /// of suspicious runs.
    fn drain_withheld(&mut self) {
        if !self.withholder.has_out() {
            return;
        }
        let decided: Vec<Out> = self.withholder.take().collect();
        // What is recorded of it comes after the output read so far (keystrokes are not
        // recorded at all without input capture: the output batch then goes on).
        if decided.iter().any(|o| match o {
            Out::Marker(..) => true,
            Out::Input(..) | Out::Escrow { .. } => self.capture_input,
            Out::Alert(_) => false,
        }) {
            self.close_batch();
        }
        for out in decided {
            match out {
                // Keystrokes (clear or escrowed) only when input is recorded at all.
                Out::Input(..) if !self.capture_input => {}
                Out::Escrow { mut keys, .. } if !self.capture_input => keys
                    .iter_mut()
                    .for_each(|(_, k)| zeroize::Zeroize::zeroize(k)),
                Out::Input(t, b) => self.enqueue(t, EventData::Input(b)),
                Out::Marker(t, label) => self.enqueue(t, EventData::Marker(label)),
                Out::Escrow { time, marker, keys } => {
                    let sealed = match &self.escrow {
                        Some((r, session)) => r.seal(session, &marker, &keys),
                        None => Err(anyhow::anyhow!("no escrow recipient")),
                    };
                    let mut keys = keys;
                    keys.iter_mut()
                        .for_each(|(_, k)| zeroize::Zeroize::zeroize(k));
                    match sealed {
                        Ok(parts) => {
                            for data in parts {
                                self.enqueue(
                                    time,
                                    EventData::Other {
                                        code: sessrec_formats::ESCROW_CODE.into(),
                                        data,
                                    },
                                );
                            }
                        }
                        Err(e) => self.enqueue(
                            time,
                            EventData::Marker(sessrec_formats::MarkerKind::Withheld.label(
                                &format!("escrow failed ({e:#}): the keystrokes were dropped"),
                            )),
                        ),
                    }
                }
                Out::Alert(run) => {
                    if let Some(hook) = &mut self.on_suspicious {
                        hook(&run);
                    }
                }
            }
        }
    }

    /// Anything else: resize, marker, exit status; sent at once with everything queued.
    pub fn event(&mut self, data: EventData) -> Result<(), Failed> {
        if let EventData::Resize { rows, .. } = data {
            self.withholder.resize(rows);
        }
        self.close_batch();
        // The session is over: what is still withheld or waits comes before its exit status.
        if matches!(data, EventData::Exit(_)) && self.sink.is_some() {
            let now = self.now();
            self.withholder.finish(now);
            self.drain_withheld();
        }
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
        if self.sink.is_some() {
            let now = self.now();
            self.withholder.finish(now);
            self.drain_withheld();
        }
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
