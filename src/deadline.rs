//! When a session must end (its grant expires), and what its user is told before: decided by
//! policy (`grant`), carried out by the recorder's loop (`record::session`).

use std::time::Instant;

/// A warning or the end of the session at a given time (grant expiry).
pub struct Deadline {
    /// When the session ends.
    pub at: Instant,
    /// What to tell the user, and when, before that.
    pub warnings: Vec<(Instant, String)>,
    /// What to tell the user at the end.
    pub final_message: String,
}
