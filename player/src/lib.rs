//! sessrec's player: everything that renders a recording through a virtual terminal.
//!
//! - [`transcript`]: the plain-text transcript of what the user saw.
//! - [`Timeline`]: a recording cut into segments with keyframes, built in one pass, and
//!   [`Player`] seeking in it; [`search`] finds text shown or typed.
//! - [`app`]: the review TUI behind `sessrec play`, drawn with ratatui; [`keys`]: its key
//!   bindings, one table for the help, the docs and the tests.

pub mod app;
mod builder;
pub mod cache;
pub mod html;
pub mod keys;
mod load;
mod memory;
mod parallel;
mod render;
pub mod screen;
pub mod search;
mod seek;
mod stored;
pub mod time;
pub mod timeline;
pub mod transcript;
mod tui;
mod utf8;
pub mod verdict;
mod view;

pub use load::{LoadOptions, Loading, load, load_then};
pub use memory::keep_heap_compact;
pub use screen::VirtualTerminal;
pub use seek::Player;
pub use stored::MEMORY_BUDGET;
pub use timeline::{Marker, MarkerKind, Timeline, TimelineBuilder};
pub use transcript::{TranscriptError, write_transcript};
pub use tui::run;
pub use verdict::Verdict;
