//! The fast path of `verify` for a whole file: the hash chain covers the compressed bytes, so a
//! complete recording is proven by hashing them, checking every record and decompressing only
//! the first frame (for the header). Frames are delimited from their block headers, without
//! decompressing them. Anything irregular (a cut, damage, no trailer) returns `None`, and the
//! full pass, which decompresses everything, tells exactly where and what.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::integrity::{Integrity, Tracker};
use super::{CHECKPOINT_MAGIC, MAX_SKIPPABLE, TRAILER_MAGIC, ZSTD_MAGIC, is_skippable};
use crate::keys::PublicKey;

/// Bytes read at a time.
const CHUNK: usize = 4 << 20;
/// Largest compressed data frame walked here (compressed data is never much larger than its
/// plain bytes); a larger one goes to the full pass, which reports it.
const MAX_FRAME: usize = crate::limits::MAX_FRAME_PLAIN as usize;

/// What the fast path proved: integrity as the full pass would find it, the events and the
/// time of the last event, from the signed trailer.
pub(crate) struct Proven {
    pub integrity: Integrity,
    pub events: u64,
    pub last_event_ms: u64,
}

/// Verifies `src` from its start; `None` when it is not a regular, complete recording.
pub(crate) fn prove(mut src: impl Read, trusted: Vec<PublicKey>) -> io::Result<Option<Proven>> {
    let mut tracker = Tracker::new(trusted, 0, true);
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut pos = 0usize;
    let mut offset = 0u64;
    let mut eof = false;
    let mut first = true;
    loop {
        if buf.len() - pos < 8 && !eof {
            eof = !refill(&mut src, &mut buf, &mut pos, CHUNK)?;
            continue;
        }
        if pos == buf.len() {
            break;
        }
        if tracker.trailer_seen || buf.len() - pos < 8 {
            return Ok(None);
        }
        let magic = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap_or_default());
        let len = if magic == ZSTD_MAGIC {
            match zstd::zstd_safe::find_frame_compressed_size(&buf[pos..]) {
                Ok(n) => n,
                Err(_) if !eof && buf.len() - pos < MAX_FRAME => {
                    let more = buf.len() - pos + CHUNK;
                    eof = !refill(&mut src, &mut buf, &mut pos, more)?;
                    continue;
                }
                Err(_) => return Ok(None),
            }
        } else if is_skippable(magic) {
            let size = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap_or_default());
            if u64::from(size) > MAX_SKIPPABLE {
                return Ok(None);
            }
            let total = 8 + size as usize;
            if buf.len() - pos < total {
                if eof {
                    return Ok(None);
                }
                eof = !refill(&mut src, &mut buf, &mut pos, total)?;
                continue;
            }
            total
        } else {
            return Ok(None);
        };
        let bytes = &buf[pos..pos + len];
        match magic {
            ZSTD_MAGIC => {
                tracker.frame_start(offset);
                if std::mem::take(&mut first) && header_line(bytes, &mut tracker).is_err() {
                    return Ok(None);
                }
                let mut h = Sha256::new();
                h.update(tracker.chain());
                h.update(bytes);
                tracker.frame_complete(offset, len as u64, h.finalize().into());
            }
            CHECKPOINT_MAGIC => tracker.checkpoint(offset, &bytes[8..]),
            TRAILER_MAGIC => tracker.trailer(offset, &bytes[8..]),
            _ => return Ok(None),
        }
        if tracker.integ.damage.is_some() {
            return Ok(None);
        }
        pos += len;
        offset += len as u64;
    }
    let mut integrity = tracker.integ;
    let Some(trailer) = integrity.trailer.clone() else {
        return Ok(None);
    };
    integrity.bytes_read = offset;
    integrity.plain_bytes = trailer.plain;
    Ok(Some(Proven {
        events: trailer.events,
        last_event_ms: trailer.frames.last().map_or(0, |f| f.end_ms),
        integrity,
    }))
}

/// Decompresses the first frame only as far as its first line (the header), however much it
/// claims to hold.
fn header_line(frame: &[u8], tracker: &mut Tracker) -> io::Result<()> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)?.single_frame();
    decoder.window_log_max(crate::limits::ZSTD_WINDOW_LOG_MAX)?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut read = 0usize;
    while read <= crate::MAX_LINE {
        let n = decoder.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        tracker.plain(&chunk[..n]);
        read += n;
        if memchr::memchr(b'\n', &chunk[..n]).is_some() {
            break;
        }
    }
    Ok(())
}

/// Drops what was consumed and reads until `need` bytes are buffered past `pos`, or the end;
/// false once the end is reached.
fn refill(
    src: &mut impl Read,
    buf: &mut Vec<u8>,
    pos: &mut usize,
    need: usize,
) -> io::Result<bool> {
    buf.drain(..*pos);
    *pos = 0;
    let want = need.max(CHUNK);
    while buf.len() < want {
        let start = buf.len();
        // A chunk at a time: only bytes that are really there are ever allocated.
        buf.resize(start + CHUNK, 0);
        let n = loop {
            match src.read(&mut buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(start);
                    return Err(e);
                }
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}
