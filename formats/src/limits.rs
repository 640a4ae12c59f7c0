//! The limits every reader and writer of sessrec shares. A recording comes from a recorded user,
//! a store anyone with write access may have shaped, or another tool; each limit bounds what
//! one piece of it can cost a reader (memory, or time before the reader gives up), and each
//! writer stays inside the same limit, so nothing sessrec writes is something sessrec refuses
//! to read. docs/format.md lists them with their reasons.

/// The longest line (or record) any reader accepts, in bytes: an asciicast line, a tlog
/// message, a ttyrec record, a line of a script timing file. Longer input is refused with
/// [`crate::FormatError::TooLong`] instead of being allocated without bound.
pub const MAX_LINE: usize = 8 * 1024 * 1024;

/// The longest header line a writer writes; a longer header is an error, never a file that
/// cannot be read back.
pub const MAX_HEADER: usize = 1024 * 1024;

/// The longest header a reader accepts, measured as sessrec would write it (so escapes of
/// characters that act on a terminal count): twice [`MAX_HEADER`], so that a header written
/// with sessrec's metadata added always reads back.
pub const MAX_HEADER_READ: usize = 2 * MAX_HEADER;

/// The most output or input bytes one written line carries. Writers split a longer event into
/// lines of the same time; escaped (at most six bytes for one), a line stays under
/// [`MAX_LINE`].
pub const MAX_EVENT_DATA: usize = 1024 * 1024;

/// The longest marker label or other event's data a writer keeps, in bytes; a longer one is
/// cut at a character boundary and says how much was cut (only a forged or hand-made file
/// holds one: sessrec's own markers are one line, its escrow events a few kilobytes).
pub const MAX_TEXT_EVENT: usize = 1024 * 1024;

/// The largest asciicast v1 document read, in bytes. v1 is one JSON value, read whole: at this
/// size, millions of tiny events still parse in a second and stay within a reviewer's memory.
pub const MAX_V1_DOCUMENT: u64 = 16 * 1024 * 1024;

/// The largest skippable frame (checkpoint or trailer) read, in bytes of payload. A reader
/// buffers only the bytes that are really there, whatever a frame claims.
pub const MAX_SKIPPABLE: u64 = 64 * 1024 * 1024;

/// The most data frames a writer ends on time: past this, frames end only when full, so the
/// trailer's index (about 120 bytes a frame) stays well inside [`MAX_SKIPPABLE`]. That is
/// 11 days of output at one frame every 5 s.
pub const MAX_TIMED_FRAMES: u64 = 200_000;

/// The most plain bytes a writer puts in one data frame before ending it (plus one line).
pub const MAX_FRAME_BYTES: u64 = 16 * 1024 * 1024;

/// The most plain bytes one data frame may decompress to; a frame that decompresses to more is
/// damage (a decompression bomb), reported when its limit is reached. Twice what a writer puts
/// in a frame, with room for its last line.
pub const MAX_FRAME_PLAIN: u64 = 64 * 1024 * 1024;

/// The largest zstd window (log2 of bytes) a reader allocates for a frame, and the largest a
/// writer uses: 16 MiB. A frame asking for more is refused before any memory is spent on it.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// The largest terminal (columns, rows) the player and transcripts emulate; a recording of a
/// larger one is shown clipped to it.
pub const MAX_SCREEN: (usize, usize) = (640, 240);

/// How many times its compressed size a gzip-compressed recording may expand to (past
/// [`MAX_GZIP_FLOOR`]). Terminal recordings compress 5 to 100 times; deflate's limit is about
/// 1 000, reached only by made-up data. sessrec never writes gzip: a real recording that
/// expands more can be gunzipped and opened as it is.
pub const MAX_GZIP_RATIO: u64 = 256;

/// What any gzip-compressed recording may expand to, whatever its ratio.
pub const MAX_GZIP_FLOOR: u64 = 64 * 1024 * 1024;

// What makes the writers' output readable, checked when sessrec is built: an escaped line of
// the most data a writer puts in one (six bytes for one, plus time and code) fits a reader's
// line, a header written fits what readers take, and a full frame plus its last line fits
// the per-frame limit.
const _: () = assert!(MAX_EVENT_DATA * 6 + 64 < MAX_LINE);
const _: () = assert!(MAX_TEXT_EVENT * 6 + 64 < MAX_LINE);
const _: () = assert!(MAX_HEADER < MAX_HEADER_READ && MAX_HEADER_READ <= MAX_LINE);
const _: () = assert!(MAX_FRAME_BYTES + MAX_LINE as u64 <= MAX_FRAME_PLAIN);
