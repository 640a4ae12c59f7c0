//! sessrec's recording formats.
//!
//! * [`model`]: the version-neutral recording model ([`Header`], [`Event`]).
//! * [`asciicast`]: streaming readers for asciicast v1, v2 and v3, and pure encoders for v2 and v3.
//! * [`container`]: the `.cast.zst` container: independent zstd frames of asciicast v3 lines, each
//!   followed by a signed checkpoint, and a signed trailer with the frame index.
//! * [`import`]: readers for recordings made by other tools (ttyrec, util-linux `script`, tlog).
//! * [`open`]: detect any of these formats from the first bytes and stream its events.
//! * [`text`]: text from a recording made safe to print on a reviewer's terminal.
//! * [`tail`]: the unsigned tail after a recording's last checkpoint, held back or counted.
//! * [`limits`]: the limits every reader and writer shares.
//! * [`audit`]: the host's hash-chained, signed audit trail.
//!
//! This crate is pure: no async runtime, no terminal I/O. Every reader streams with bounded memory
//! and returns a [`FormatError`] naming the line or frame it could not read; none panics on bad input.

pub mod asciicast;
pub mod audit;
pub mod container;
mod error;
pub mod import;
pub mod keys;
pub mod limits;
mod lines;
pub mod marker;
pub mod model;
pub mod open;
pub mod tail;
pub mod text;
pub mod time;
mod utf8;

pub use error::{FormatError, Result};
pub use limits::MAX_LINE;
pub use marker::{ESCROW_CODE, MarkerKind};
pub use model::{Event, EventData, Header, Micros, SessrecMeta};
pub use open::{EventReader, EventSource, Format, OpenOptions, open_path, open_reader};
pub use text::{json_safe, terminal_safe, terminal_safe_lines};
