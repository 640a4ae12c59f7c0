//! The recording service and its login client. The service (`sessrec daemon`, root) holds the
//! key, the spool and the audit log, starts each user's shell on a PTY it owns, and records it;
//! the login shell is an unprivileged client that hands its terminal over. See
//! docs/trust.md for who can do what.

pub mod account;
pub mod client;
pub mod contain;
pub mod daemon;
pub mod peer;
pub mod protocol;
pub mod sshd_config;
pub mod state;
pub mod worker;
