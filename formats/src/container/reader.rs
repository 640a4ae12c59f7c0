//! Reads a container as the plain asciicast v3 stream it holds, following (and checking) its
//! structure on the way. A cut file yields every byte up to the last flush; damage stops the
//! stream, and both are reported in [`ContainerReader::integrity`], never as silent success.

use std::io::{self, BufRead, ErrorKind, Read};

use sha2::{Digest, Sha256};
use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

use super::integrity::{Cut, Integrity, Tracker};
use super::{CHECKPOINT_MAGIC, MAX_SKIPPABLE, TRAILER_MAGIC, ZSTD_MAGIC, is_skippable};
use crate::keys::PublicKey;
use crate::limits::{MAX_FRAME_PLAIN, ZSTD_WINDOW_LOG_MAX};

const CHUNK: usize = 128 * 1024;

struct FrameInProgress {
    offset: u64,
    hasher: Sha256,
    /// Plain bytes it decompressed to so far.
    plain: u64,
}

/// A zstd decoder that refuses frames asking for a window over [`ZSTD_WINDOW_LOG_MAX`].
fn decoder() -> io::Result<Decoder<'static>> {
    let mut dctx = Decoder::new()?;
    dctx.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))?;
    Ok(dctx)
}

/// A [`BufRead`] over the decompressed content of a `.cast.zst`.
pub struct ContainerReader<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    src_eof: bool,
    offset: u64,
    dctx: Decoder<'static>,
    out: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    frame: Option<FrameInProgress>,
    tracker: Tracker,
    done: bool,
}

impl<R: Read> ContainerReader<R> {
    /// Reads from the start of a file, checking the hash chain, and signatures by `trusted` keys.
    pub fn new(src: R, trusted: Vec<PublicKey>) -> io::Result<Self> {
        Self::build(src, Tracker::new(trusted, 0, true), 0)
    }

    /// Reads from the data frame number `frame` that starts at byte `offset` of the file, where
    /// `src` is positioned. The chain cannot be checked from the middle.
    pub fn from_frame(src: R, frame: u64, offset: u64) -> io::Result<Self> {
        Self::build(src, Tracker::new(Vec::new(), frame, false), offset)
    }

    fn build(src: R, tracker: Tracker, offset: u64) -> io::Result<Self> {
        Ok(ContainerReader {
            src,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            src_eof: false,
            offset,
            dctx: decoder()?,
            out: vec![0; CHUNK],
            out_pos: 0,
            out_len: 0,
            frame: None,
            tracker,
            done: false,
        })
    }

    /// What the bytes read so far established.
    pub fn integrity(&self) -> &Integrity {
        &self.tracker.integ
    }

    /// Ensures `need` unread bytes are buffered; false when the input ends first.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if self.buf.len() - self.pos >= need {
            return Ok(true);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        while self.buf.len() < need && !self.src_eof {
            // Grow by at most a chunk a read: a skippable frame that claims 64 MiB costs only
            // the bytes that really follow it (zero-filling what it claims, on every short
            // read, made a small file take seconds to open).
            let want = (need - self.buf.len()).clamp(CHUNK / 4, CHUNK);
            let start = self.buf.len();
            self.buf.resize(start + want, 0);
            let n = loop {
                match self.src.read(&mut self.buf[start..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(start);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(start + n);
            if n == 0 {
                self.src_eof = true;
            }
        }
        Ok(self.buf.len() - self.pos >= need)
    }

    fn consume_input(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
        self.tracker.integ.bytes_read = self.offset;
    }

    fn cut(&mut self, in_frame: bool) {
        let remaining = (self.buf.len() - self.pos) as u64;
        self.tracker.integ.cut = Some(Cut {
            offset: self.offset + remaining,
            in_frame,
        });
        self.tracker.integ.bytes_read = self.offset + remaining;
        self.done = true;
    }

    /// Decodes until some plain bytes are ready or the stream is over.
    fn produce(&mut self) -> io::Result<()> {
        self.out_pos = 0;
        self.out_len = 0;
        while !self.done && self.out_len == 0 {
            if self.frame.is_some() {
                self.step_frame()?;
            } else {
                self.step_between()?;
            }
        }
        Ok(())
    }

    fn step_frame(&mut self) -> io::Result<()> {
        if self.pos == self.buf.len() && !self.fill(1)? {
            self.cut(true);
            return Ok(());
        }
        let mut input = InBuffer::around(&self.buf[self.pos..]);
        let mut output = OutBuffer::around(&mut self.out[..]);
        let result = self.dctx.run(&mut input, &mut output);
        let consumed = input.pos;
        let produced = output.pos();
        let hint = match result {
            Ok(h) => h,
            Err(e) => {
                let frame = self.tracker.integ.data_frames;
                let why = if e.to_string().contains("memory") {
                    format!(
                        "frame {frame} asks for a zstd window over {} MiB, more than sessrec \
                         writes or reads (a decompression bomb, or compressed with zstd --long)",
                        (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
                    )
                } else {
                    format!("frame {frame} does not decompress ({e})")
                };
                self.tracker.damaged(self.offset, why);
                self.done = true;
                return Ok(());
            }
        };
        if let Some(f) = &mut self.frame {
            f.hasher.update(&self.buf[self.pos..self.pos + consumed]);
            f.plain += produced as u64;
            if f.plain > MAX_FRAME_PLAIN {
                let frame = self.tracker.integ.data_frames;
                self.tracker.damaged(
                    f.offset,
                    format!(
                        "frame {frame} decompresses to more than {} MiB, more than sessrec \
                         writes in a frame (a decompression bomb)",
                        MAX_FRAME_PLAIN >> 20
                    ),
                );
                self.done = true;
                return Ok(());
            }
        }
        self.consume_input(consumed);
        self.tracker.plain(&self.out[..produced]);
        self.out_len = produced;
        if hint == 0
            && let Some(f) = self.frame.take()
        {
            let len = self.offset - f.offset;
            self.tracker
                .frame_complete(f.offset, len, f.hasher.finalize().into());
        }
        Ok(())
    }

    fn step_between(&mut self) -> io::Result<()> {
        if !self.fill(4)? {
            if self.buf.len() == self.pos {
                self.done = true;
                if self.tracker.expects_trailer() {
                    self.cut(false);
                }
            } else {
                self.cut(false);
            }
            return Ok(());
        }
        if self.tracker.trailer_seen {
            self.tracker
                .damaged(self.offset, "there are bytes after the trailer");
            self.done = true;
            return Ok(());
        }
        let magic = u32::from_le_bytes(
            self.buf[self.pos..self.pos + 4]
                .try_into()
                .unwrap_or_default(),
        );
        if magic == ZSTD_MAGIC {
            self.tracker.frame_start(self.offset);
            if self.tracker.integ.damage.is_some() {
                self.done = true;
                return Ok(());
            }
            let mut hasher = Sha256::new();
            hasher.update(self.tracker.chain());
            self.frame = Some(FrameInProgress {
                offset: self.offset,
                hasher,
                plain: 0,
            });
            return Ok(());
        }
        if !is_skippable(magic) {
            let what = if self.offset == 0 {
                "this is not a .cast.zst file (no zstd frame at its start)".to_string()
            } else {
                format!(
                    "unexpected bytes at offset {} (not a zstd frame)",
                    self.offset
                )
            };
            self.tracker.damaged(self.offset, what);
            self.done = true;
            return Ok(());
        }
        if !self.fill(8)? {
            self.cut(false);
            return Ok(());
        }
        let size = u32::from_le_bytes(
            self.buf[self.pos + 4..self.pos + 8]
                .try_into()
                .unwrap_or_default(),
        );
        if u64::from(size) > MAX_SKIPPABLE {
            self.tracker.damaged(
                self.offset,
                format!("a skippable frame claims {size} bytes"),
            );
            self.done = true;
            return Ok(());
        }
        let total = 8 + size as usize;
        if !self.fill(total)? {
            self.cut(false);
            return Ok(());
        }
        let start = self.offset;
        let payload = self.buf[self.pos + 8..self.pos + total].to_vec();
        self.consume_input(total);
        match magic {
            CHECKPOINT_MAGIC => self.tracker.checkpoint(start, &payload),
            TRAILER_MAGIC => self.tracker.trailer(start, &payload),
            _ => self.tracker.damaged(
                start,
                format!("an unknown skippable frame (magic {magic:#x})"),
            ),
        }
        if self.tracker.integ.damage.is_some() {
            self.done = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for ContainerReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(dst.len());
        dst[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for ContainerReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.out_pos == self.out_len {
            self.produce()?;
        }
        Ok(&self.out[self.out_pos..self.out_len])
    }

    fn consume(&mut self, amt: usize) {
        self.out_pos = (self.out_pos + amt).min(self.out_len);
    }
}
