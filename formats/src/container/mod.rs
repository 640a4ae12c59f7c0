//! The `.cast.zst` container.
//!
//! ```text
//! [zstd frame 0: header line + event lines] [checkpoint 0] [zstd frame 1] [checkpoint 1] ... [trailer]
//! ```
//!
//! * Data frames are ordinary, independent zstd frames holding whole asciicast v3 lines, so
//!   `zstd -dc file.cast.zst` prints a valid asciicast v3 file. Inside a frame the writer flushes
//!   the compressor on the caller's timer (every 200 ms in the recorder), so a cut file decodes up
//!   to the last flush. A frame ends at ≥ 16 MiB of plain text or ≥ 5 s (see [`WriterOptions`]).
//! * After each data frame comes a zstd *skippable* frame (magic [`CHECKPOINT_MAGIC`]) holding a
//!   [`Checkpoint`] as JSON: frame number, offsets, time range, totals, the hash chain
//!   `h[n] = SHA-256(h[n-1] || compressed bytes of frame n)` with `h[-1]` = 32 zero bytes, and an
//!   ed25519 signature.
//! * The file ends with a skippable frame (magic [`TRAILER_MAGIC`]) holding the [`Trailer`]: the
//!   frame index, end time, exit status, totals, final hash and signature. Its payload is the JSON
//!   followed by the JSON's length (u32 little-endian) and `SRT1`, so it can be found from the end.
//!
//! A record is stored as its JSON (without a `sig` field), then, when signed, a newline and the
//! base64 ed25519 signature over `DOMAIN || those exact JSON bytes`, where DOMAIN is
//! [`CHECKPOINT_DOMAIN`] or [`TRAILER_DOMAIN`]. A record whose JSON is not byte for byte what
//! sessrec writes for its fields is an alteration. Files of [`FORMAT`] 1 are still read.

mod fast;
mod index;
mod integrity;
mod reader;
mod records;
mod verify;
mod walk;
mod writer;

pub use index::{SeekIndex, open_at};
pub use integrity::{Cut, Integrity, Verdict};
pub use reader::ContainerReader;
pub use records::{Checkpoint, FrameEntry, Stopped, Trailer};
pub use verify::{VerifyReport, verify};
pub use writer::{ContainerWriter, WriterOptions};

/// Magic of a zstd data frame (little-endian on disk).
pub const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// Magic of the skippable frame holding a checkpoint.
pub const CHECKPOINT_MAGIC: u32 = 0x184D_2A53;
/// Magic of the skippable frame holding the trailer.
pub const TRAILER_MAGIC: u32 = 0x184D_2A54;
/// The last four bytes of a finished file.
pub const TRAILER_FOOTER: &[u8; 4] = b"SRT1";
/// The container format this version writes (the header's `sessrec.format`). Format 1 (older
/// recordings) signed a re-serialisation of each record; format 2 signs the stored bytes.
pub const FORMAT: u32 = 2;
/// Signature domain of checkpoints.
pub const CHECKPOINT_DOMAIN: &[u8] = b"sessrec checkpoint v2\n";
/// Signature domain of the trailer.
pub const TRAILER_DOMAIN: &[u8] = b"sessrec trailer v2\n";
/// Signature domain of format 1 checkpoints.
pub const CHECKPOINT_DOMAIN_V1: &[u8] = b"sessrec checkpoint v1\n";
/// Signature domain of format 1 trailers.
pub const TRAILER_DOMAIN_V1: &[u8] = b"sessrec trailer v1\n";
pub use crate::limits::MAX_SKIPPABLE;

/// Whether `magic` is any zstd skippable frame magic.
pub fn is_skippable(magic: u32) -> bool {
    magic & 0xFFFF_FFF0 == 0x184D_2A50
}

/// Whether a file whose first bytes are `first` is a zstd stream (a `.cast.zst` recording):
/// it opens with a data frame or a skippable one.
pub fn starts_a_container(first: &[u8]) -> bool {
    first
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
        .is_some_and(|m| m == ZSTD_MAGIC || is_skippable(m))
}
