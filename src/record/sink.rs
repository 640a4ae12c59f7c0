//! The recording sink: a dedicated thread owns the container writer, so compression and disk
//! I/O never sit on the path from the shell to the user's terminal. The channel is bounded: if
//! the disk is slower than the session, the session waits (no event is dropped) and memory stays
//! bounded. The thread flushes every 200 ms and syncs to disk at most once a second.

use std::fs::File;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sessrec_formats::container::{ContainerWriter, Stopped, WriterOptions};
use sessrec_formats::keys::SigningKey;
use sessrec_formats::{Event, Header};

use super::seal::{HashingFile, SealNote};

enum Msg {
    Events(Vec<Event>),
    Finish { end_us: u64 },
}

/// Sends events to the writer thread.
pub struct Sink {
    tx: Option<SyncSender<Msg>>,
    thread: Option<JoinHandle<Result<()>>>,
    failure: Arc<Mutex<Option<String>>>,
    seal: Arc<Mutex<Option<SealInfo>>>,
}

const TICK: Duration = Duration::from_millis(200);
const SYNC_EVERY: Duration = Duration::from_secs(1);

impl Sink {
    /// Starts writing `header` to `file` on a new thread. The file is synced once the header is
    /// written, so a session never starts without a recording on disk.
    /// `session_goes_on` says whether the session continues when recording stops early
    /// (best_effort): the sealed recording then says so under its signature.
    /// `note`, when given, is the sealed manifest written beside the recording once sealed.
    pub fn start(
        file: File,
        header: &Header,
        signer: Option<SigningKey>,
        opts: WriterOptions,
        session_goes_on: bool,
        note: Option<SealNote>,
    ) -> Result<Sink> {
        // Held until the file is closed: `sessrec upload` leaves a locked file alone (still
        // being recorded) and ships an unlocked one that has no trailer (its recorder died).
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .context("locking the new recording")?;
        let mut writer = ContainerWriter::new(HashingFile::new(file), header, signer, opts)?;
        writer.flush()?;
        writer
            .get_ref()
            .file()
            .sync_data()
            .context("syncing the new recording")?;
        let (tx, rx) = sync_channel(2);
        let failure = Arc::new(Mutex::new(None));
        let fail = failure.clone();
        let seal = Arc::new(Mutex::new(None));
        let sealing = seal.clone();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("sessrec-writer".into())
            .spawn(move || {
                let r = run(
                    writer,
                    rx,
                    started,
                    session_goes_on,
                    note.as_ref(),
                    &sealing,
                );
                if let Err(e) = &r
                    && let Ok(mut f) = fail.lock()
                {
                    *f = Some(format!("{e:#}"));
                }
                r
            })
            .context("starting the recording thread")?;
        Ok(Sink {
            tx: Some(tx),
            thread: Some(thread),
            failure,
            seal,
        })
    }

    /// Queues events; waits while the queue is full. Fails once the writer failed.
    pub fn send(&self, events: Vec<Event>) -> Result<()> {
        if let Some(f) = self.failure() {
            return Err(anyhow!(f));
        }
        let tx = self.tx.as_ref().context("the recording is finished")?;
        match tx.try_send(Msg::Events(events)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(msg)) => tx.send(msg).map_err(|_| self.dead()),
            Err(TrySendError::Disconnected(_)) => Err(self.dead()),
        }
    }

    /// Where the seal's hash and size appear once the recording is sealed.
    pub fn seal_info(&self) -> Arc<Mutex<Option<SealInfo>>> {
        self.seal.clone()
    }

    /// The writer's error, once it failed.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn dead(&self) -> anyhow::Error {
        anyhow!(
            self.failure()
                .unwrap_or_else(|| "the recording thread stopped".into())
        )
    }

    /// Seals the recording (last frame, trailer, sync) and waits for the thread.
    pub fn finish(mut self, end_us: u64) -> Result<()> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Finish { end_us });
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(anyhow!("the recording thread panicked")),
            None => Ok(()),
        }
    }
}

fn run(
    mut writer: ContainerWriter<HashingFile>,
    rx: Receiver<Msg>,
    started: Instant,
    session_goes_on: bool,
    note: Option<&SealNote>,
    seal: &Mutex<Option<SealInfo>>,
) -> Result<()> {
    writer
        .get_ref()
        .file()
        .sync_data()
        .context("syncing the new recording")?;
    let mut last_sync = Instant::now();
    let now_ms = || started.elapsed().as_millis() as u64;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(Msg::Events(events)) => {
                if let Some(left) = short_of_space(writer.get_ref().file(), &events) {
                    // Seal now, while the last frame and the trailer still fit, saying that the
                    // recording stops here though the session does not (or is being ended).
                    let stop = Stopped {
                        at_ms: now_ms(),
                        reason: format!(
                            "the disk holding the recording filled ({} KiB left)",
                            left >> 10
                        ),
                        session_continued: session_goes_on,
                    };
                    let at = stop.at_ms;
                    let out = writer.seal(Some(at), Some(stop))?;
                    sealed(out, at, true, note, seal)?;
                    bail!(
                        "the disk holding the recording is nearly full ({} KiB left); the \
                         recording was sealed while its end still fits",
                        left >> 10
                    );
                }
                for e in &events {
                    writer.write_event(e)?;
                }
            }
            Ok(Msg::Finish { end_us }) => {
                let out = writer.seal(Some(end_us / 1000), None)?;
                return sealed(out, end_us / 1000, false, note, seal);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // The session side went away without finishing (it failed): seal what we have,
                // saying it ended early.
                let stop = Stopped {
                    at_ms: now_ms(),
                    reason: "the recorder's session side failed".into(),
                    session_continued: false,
                };
                let at = stop.at_ms;
                let out = writer.seal(Some(at), Some(stop))?;
                return sealed(out, at, true, note, seal);
            }
        }
        writer.tick(now_ms())?;
        if last_sync.elapsed() >= SYNC_EVERY {
            writer.flush()?;
            writer
                .get_ref()
                .file()
                .sync_data()
                .context("syncing the recording")?;
            last_sync = Instant::now();
        }
    }
}

/// Syncs a sealed recording, then writes its sealed manifest (while the lock is still held, so
/// the uploader never sees the one without the other).
fn sealed(
    (out, chain): (HashingFile, String),
    end_ms: u64,
    stopped: bool,
    note: Option<&SealNote>,
    seal: &Mutex<Option<SealInfo>>,
) -> Result<()> {
    let (file, size, sha256) = out.finish();
    file.sync_all().context("syncing the recording")?;
    if let Ok(mut s) = seal.lock() {
        *s = Some(SealInfo {
            chain: chain.clone(),
            sha256: sha256.clone(),
            size,
            stopped,
        });
    }
    if let Some(note) = note {
        note.write(size, sha256, end_ms, stopped)?;
    }
    Ok(())
}

/// What sealing a recording produced, for the audit trail's `session.end`.
#[derive(Debug, Clone)]
pub struct SealInfo {
    /// The final hash chain value (hex): what the trailer signs.
    pub chain: String,
    /// SHA-256 of the whole file (hex).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it was sealed early (stopped while the session went on, or on a failure).
    pub stopped: bool,
}

/// Room kept for sealing: the compressor's pending block (up to 128 KiB of output) and the
/// trailer.
const SEAL_RESERVE: u64 = 256 * 1024;

/// `Some(bytes left)` when writing `events` could leave too little room to seal the recording.
/// Binary output can grow by a third as base64 and hardly compresses, hence twice the raw size.
fn short_of_space(file: &File, events: &[Event]) -> Option<u64> {
    let raw: usize = events
        .iter()
        .map(|e| match &e.data {
            sessrec_formats::EventData::Output(b) | sessrec_formats::EventData::Input(b) => b.len(),
            _ => 64,
        })
        .sum();
    let st = rustix::fs::fstatvfs(file).ok()?;
    let left = st.f_bavail.saturating_mul(st.f_frsize);
    (left < SEAL_RESERVE + 2 * raw as u64 + 4096).then_some(left)
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Dropped without finish (an error path): let the thread seal the file.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
