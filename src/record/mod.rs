//! Recording a session: the PTY loop, the user's terminal, secrets kept out, and the writer
//! thread.

pub mod child;
pub mod ending;
pub mod header;
pub mod pipe;
pub mod recording;
pub mod seal;
pub mod session;
pub mod signals;
pub mod sink;
pub mod tape;
pub mod tty;
pub mod utf8carry;
pub mod withhold;
