//! Writes the container. The caller owns the clock: events carry their times, and [`tick`]
//! (called on a timer by a live recorder) flushes the compressor and closes frames when idle.
//!
//! [`tick`]: ContainerWriter::tick

use std::io::Write;

use sha2::{Digest, Sha256};
use zstd::stream::raw::{CParameter, Encoder, InBuffer, Operation, OutBuffer};

use super::FORMAT;
use super::records::{
    Checkpoint, FrameEntry, Signed, Stopped, Trailer, checkpoint_frame, hex, trailer_frame,
};
use crate::asciicast::{V3Encoder, chunks};
use crate::keys::SigningKey;
use crate::limits::{MAX_EVENT_DATA, MAX_FRAME_BYTES, MAX_TIMED_FRAMES, ZSTD_WINDOW_LOG_MAX};
use crate::model::{Event, EventData, Header};
use crate::{FormatError, Result};

/// Tuning of the writer.
///
/// The defaults (zstd level 3, 16 MiB frames with a 16 MiB window, frames closed after 5 s,
/// flushes every 200 ms) were measured on a 200 MB realistic session: 1 MiB frames lose 42 % of
/// the compression there (4.9x against 8.5x) because every frame starts with an empty history,
/// and a 16 MiB frame still decodes in about 25 ms for a seek. A live recorder that must stay
/// within a few MB of memory can choose smaller frames and window at the cost of size.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// zstd level.
    pub level: i32,
    /// zstd window log (the compressor's history size is 2^window_log bytes); `None` keeps the
    /// level's default.
    pub window_log: Option<u32>,
    /// zstd hash log (the match finder's table is 4 × 2^hash_log bytes); `None` keeps the
    /// level's default.
    pub hash_log: Option<u32>,
    /// A frame ends once it holds this many plain bytes.
    pub frame_bytes: u64,
    /// A frame ends once its events span this many milliseconds.
    pub frame_ms: u64,
    /// [`ContainerWriter::tick`] flushes the compressor when this many milliseconds passed since
    /// the last flush and there is new data.
    pub flush_ms: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            level: 3,
            window_log: Some(24),
            hash_log: None,
            frame_bytes: 16 * 1024 * 1024,
            frame_ms: 5_000,
            flush_ms: 200,
        }
    }
}

impl WriterOptions {
    /// For a recording written in one go from a finished one (`sessrec convert`): nothing is
    /// live, so there is no flush, and frames end by size only (each frame starts with an empty
    /// history, so frames cut every few seconds of a quiet session would cost compression).
    /// Level 3 with a 16 MiB window: measured smaller than `zstd -3` of the same asciicast both
    /// on 23 MB of bulk output (26 % smaller) and on a quiet half-hour session (about even);
    /// level 6 was 3x slower and no smaller on the bulk output.
    pub fn archive() -> Self {
        WriterOptions {
            frame_ms: u64::MAX,
            flush_ms: u64::MAX,
            ..WriterOptions::default()
        }
    }
}

struct OpenFrame {
    entry: FrameEntry,
    hasher: Sha256,
    has_events: bool,
}

/// Streams events into a `.cast.zst`. After any error the writer refuses further use: the caller
/// decides what a failed recording means (end the session, raise an alert), never us.
pub struct ContainerWriter<W: Write> {
    out: W,
    offset: u64,
    cctx: Encoder<'static>,
    zbuf: Vec<u8>,
    pending: Vec<u8>,
    encoder: V3Encoder,
    opts: WriterOptions,
    session: String,
    signer: Option<SigningKey>,
    frame: Option<OpenFrame>,
    chain: [u8; 32],
    frames: Vec<FrameEntry>,
    plain: u64,
    events: u64,
    last_flush_ms: u64,
    dirty: bool,
    exit: Option<i32>,
    failed: bool,
}

const PENDING_LIMIT: usize = 128 * 1024;

impl<W: Write> ContainerWriter<W> {
    /// Starts a container. The header must carry sessrec metadata with a session id; when a
    /// signer is given, its key id and public key are written into the header.
    pub fn new(
        out: W,
        header: &Header,
        signer: Option<SigningKey>,
        opts: WriterOptions,
    ) -> Result<Self> {
        let mut header = header.clone();
        let meta = header.sessrec.as_mut().ok_or_else(|| {
            FormatError::Invalid("a .cast.zst header needs sessrec metadata".into())
        })?;
        if meta.session_id.is_empty() {
            return Err(FormatError::Invalid(
                "a .cast.zst header needs a session id".into(),
            ));
        }
        match &signer {
            Some(key) => {
                meta.key_id = Some(key.id().to_string());
                meta.public_key = Some(key.public().to_base64());
            }
            None => {
                meta.key_id = None;
                meta.public_key = None;
            }
        }
        // This writer writes the current format, whatever the header it was given says.
        meta.format = FORMAT;
        let session = meta.session_id.clone();
        let mut cctx = Encoder::new(opts.level)
            .map_err(|e| FormatError::io("starting the zstd compressor", e))?;
        cctx.set_parameter(CParameter::ChecksumFlag(true))
            .map_err(|e| FormatError::io("configuring the zstd compressor", e))?;
        // Never a window readers refuse (the highest levels default to a larger one).
        let window_log = opts
            .window_log
            .map(|log| log.min(ZSTD_WINDOW_LOG_MAX))
            .or((opts.level >= 20).then_some(ZSTD_WINDOW_LOG_MAX));
        if let Some(log) = window_log {
            cctx.set_parameter(CParameter::WindowLog(log))
                .map_err(|e| FormatError::io("configuring the zstd compressor", e))?;
        }
        let mut opts = opts;
        opts.frame_bytes = opts.frame_bytes.clamp(1, MAX_FRAME_BYTES);
        if let Some(log) = opts.hash_log {
            cctx.set_parameter(CParameter::HashLog(log))
                .map_err(|e| FormatError::io("configuring the zstd compressor", e))?;
        }
        let encoder = V3Encoder::new();
        let mut w = ContainerWriter {
            out,
            offset: 0,
            cctx,
            zbuf: vec![0; 128 * 1024],
            pending: Vec::with_capacity(PENDING_LIMIT * 2),
            opts,
            session,
            signer,
            frame: None,
            chain: [0; 32],
            frames: Vec::new(),
            plain: 0,
            events: 0,
            last_flush_ms: 0,
            dirty: false,
            exit: None,
            failed: false,
            encoder,
        };
        let line = w.encoder.header(&header);
        crate::asciicast::check_header_line(&line)?;
        w.open_frame(0);
        w.push_plain(&line)?;
        Ok(w)
    }

    /// Appends one event. Output or input longer than [`MAX_EVENT_DATA`] is written as several
    /// events of the same time, so that a frame can end between them.
    pub fn write_event(&mut self, event: &Event) -> Result<()> {
        let (EventData::Output(bytes) | EventData::Input(bytes)) = &event.data else {
            return self.write_one(event);
        };
        if bytes.len() <= MAX_EVENT_DATA {
            return self.write_one(event);
        }
        let input = matches!(event.data, EventData::Input(_));
        for chunk in chunks(bytes, MAX_EVENT_DATA) {
            let data = if input {
                EventData::Input(chunk.to_vec())
            } else {
                EventData::Output(chunk.to_vec())
            };
            self.write_one(&Event {
                time: event.time,
                data,
            })?;
        }
        Ok(())
    }

    /// Whether the current frame has spanned `frame_ms` by `t_ms` and may end on time.
    fn frame_timed_out(&self, t_ms: u64) -> bool {
        (self.frames.len() as u64) < MAX_TIMED_FRAMES
            && self.frame.as_ref().is_some_and(|f| {
                f.has_events && t_ms.saturating_sub(f.entry.start_ms) >= self.opts.frame_ms
            })
    }

    fn write_one(&mut self, event: &Event) -> Result<()> {
        self.check()?;
        let t_ms = event.time.saturating_add(500) / 1000;
        if self.frame_timed_out(t_ms) {
            self.end_frame()?;
        }
        if self.frame.is_none() {
            self.open_frame(self.encoder.last_ms());
        }
        if let EventData::Exit(status) = event.data {
            self.exit = Some(status);
        }
        // Encoded straight into the compressor's input buffer.
        let before = self.pending.len();
        self.events += self.encoder.event_lines(event, &mut self.pending);
        let added = (self.pending.len() - before) as u64;
        let now = self.encoder.last_ms();
        if let Some(f) = &mut self.frame {
            if !f.has_events {
                f.entry.start_ms = now;
                f.has_events = true;
            }
            f.entry.end_ms = now;
        }
        self.plain += added;
        if let Some(f) = &mut self.frame {
            f.entry.plain_len += added;
        }
        self.dirty = true;
        if self.pending.len() >= PENDING_LIMIT {
            self.compress_pending()?;
        }
        let full = self
            .frame
            .as_ref()
            .is_some_and(|f| f.entry.plain_len >= self.opts.frame_bytes);
        if full {
            self.end_frame()?;
        }
        Ok(())
    }

    /// Drives time-based work at `now_ms` (milliseconds since the start, on the events' clock):
    /// flushes the compressor when there is new data and `flush_ms` passed since the last flush,
    /// and ends the frame once it spans `frame_ms`, so a checkpoint is never far behind.
    pub fn tick(&mut self, now_ms: u64) -> Result<()> {
        self.check()?;
        if self.frame_timed_out(now_ms) {
            return self.end_frame();
        }
        if self.dirty && now_ms.saturating_sub(self.last_flush_ms) >= self.opts.flush_ms {
            self.flush()?;
            self.last_flush_ms = now_ms;
        }
        Ok(())
    }

    /// Pushes everything written so far through the compressor (ZSTD_e_flush) to the output and
    /// flushes the output, so a reader (or `zstd -dc`) sees every event up to here.
    pub fn flush(&mut self) -> Result<()> {
        self.check()?;
        self.compress_pending()?;
        self.drive(Drive::Flush)?;
        self.dirty = false;
        self.out
            .flush()
            .map_err(|e| self.fail(FormatError::io("flushing the recording", e)))
    }

    /// Ends the current frame now (it is followed by its checkpoint).
    pub fn end_frame(&mut self) -> Result<()> {
        self.check()?;
        if self.frame.is_none() {
            return Ok(());
        }
        self.compress_pending()?;
        self.drive(Drive::End)?;
        let Some(frame) = self.frame.take() else {
            return Ok(());
        };
        let mut entry = frame.entry;
        entry.len = self.offset - entry.offset;
        self.chain = frame.hasher.finalize().into();
        let mut cp = Checkpoint {
            v: FORMAT,
            session: self.session.clone(),
            frame: self.frames.len() as u64,
            entry: entry.clone(),
            events: self.events,
            hash: hex(&self.chain),
            key: None,
            sig: None,
        };
        let record = cp.encode(self.signer.as_ref());
        self.frames.push(entry);
        self.write_raw(&checkpoint_frame(&record))?;
        self.cctx
            .reinit()
            .map_err(|e| self.fail(FormatError::io("restarting the zstd compressor", e)))?;
        self.dirty = false;
        self.out
            .flush()
            .map_err(|e| self.fail(FormatError::io("flushing the recording", e)))
    }

    /// Ends the last frame, writes the trailer and returns the output. `end_ms` is the session's
    /// end on the events' clock (defaults to the last event).
    pub fn finish(self, end_ms: Option<u64>) -> Result<W> {
        Ok(self.seal(end_ms, None)?.0)
    }

    /// Seals a recording that stops while its session goes on (or is being ended): the
    /// trailer says when and why, so `verify` never calls it complete.
    pub fn finish_stopped(self, stopped: Stopped) -> Result<W> {
        let end = stopped.at_ms;
        Ok(self.seal(Some(end), Some(stopped))?.0)
    }

    /// Ends the last frame and writes the trailer (with `stopped` when the recording stops
    /// before its session); returns the output and the final chain hash (hex), which the
    /// recording service puts in its audit trail.
    pub fn seal(mut self, end_ms: Option<u64>, stopped: Option<Stopped>) -> Result<(W, String)> {
        self.end_frame()?;
        let mut trailer = Trailer {
            v: FORMAT,
            session: self.session.clone(),
            frames: self.frames.clone(),
            end_ms: end_ms.unwrap_or(0).max(self.encoder.last_ms()),
            exit: self.exit,
            events: self.events,
            plain: self.plain,
            hash: hex(&self.chain),
            stopped,
            key: None,
            sig: None,
        };
        let record = trailer.encode(self.signer.as_ref());
        self.write_raw(&trailer_frame(record))?;
        self.out
            .flush()
            .map_err(|e| self.fail(FormatError::io("flushing the recording", e)))?;
        Ok((self.out, trailer.hash))
    }

    /// The output, e.g. to `fdatasync` it.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn open_frame(&mut self, base_ms: u64) {
        let mut hasher = Sha256::new();
        hasher.update(self.chain);
        self.frame = Some(OpenFrame {
            entry: FrameEntry {
                offset: self.offset,
                len: 0,
                base_ms,
                start_ms: base_ms,
                end_ms: base_ms,
                plain_offset: self.plain,
                plain_len: 0,
            },
            hasher,
            has_events: false,
        });
    }

    fn push_plain(&mut self, bytes: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(bytes);
        self.plain += bytes.len() as u64;
        if let Some(f) = &mut self.frame {
            f.entry.plain_len += bytes.len() as u64;
        }
        self.dirty = true;
        if self.pending.len() >= PENDING_LIMIT {
            self.compress_pending()?;
        }
        Ok(())
    }

    fn compress_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let mut input = InBuffer::around(&pending);
        while input.pos < pending.len() {
            let mut output = OutBuffer::around(&mut self.zbuf[..]);
            let r = self.cctx.run(&mut input, &mut output);
            let n = output.pos();
            if let Err(e) = r {
                return Err(self.fail(FormatError::io("compressing the recording", e)));
            }
            self.emit_frame_bytes(n)?;
        }
        self.pending = pending;
        self.pending.clear();
        Ok(())
    }

    fn drive(&mut self, how: Drive) -> Result<()> {
        loop {
            let mut output = OutBuffer::around(&mut self.zbuf[..]);
            let r = match how {
                Drive::Flush => self.cctx.flush(&mut output),
                Drive::End => self.cctx.finish(&mut output, true),
            };
            let n = output.pos();
            let remaining =
                r.map_err(|e| self.fail(FormatError::io("compressing the recording", e)))?;
            self.emit_frame_bytes(n)?;
            if remaining == 0 {
                return Ok(());
            }
        }
    }

    /// Writes `zbuf[..n]`, which belongs to the open frame.
    fn emit_frame_bytes(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        if let Some(f) = &mut self.frame {
            f.hasher.update(&self.zbuf[..n]);
        }
        let r = self.out.write_all(&self.zbuf[..n]);
        r.map_err(|e| self.fail(FormatError::io("writing the recording", e)))?;
        self.offset += n as u64;
        Ok(())
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let r = self.out.write_all(bytes);
        r.map_err(|e| self.fail(FormatError::io("writing the recording", e)))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn fail(&mut self, e: FormatError) -> FormatError {
        self.failed = true;
        e
    }

    fn check(&self) -> Result<()> {
        if self.failed {
            return Err(FormatError::Invalid(
                "the recording writer failed earlier and cannot be used".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Drive {
    Flush,
    End,
}
