//! sessrec's player: everything that renders a recording through a virtual terminal.
//!
//! For now: [`transcript`], the plain-text transcript of what the user saw. The review TUI
//! (`sessrec play`) builds on the same virtual terminal.

pub mod transcript;
mod utf8;

pub use transcript::{TranscriptError, write_transcript};
