//! Exit statuses. Scripts tell the outcomes of `verify` (and of reading a damaged input) apart
//! by these numbers; they are documented in docs/format.md.

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Success; for `verify`, intact and signed by a trusted key.
    Ok,
    /// An error (the message says which).
    Error,
    /// The recording ends early (a crash or a cut copy); what is there is consistent.
    Truncated,
    /// The recording was altered after it was signed, or is damaged.
    Altered,
    /// The recording is not signed (or not a sessrec recording).
    Unsigned,
    /// Signed, but by a key that was not passed with `--key`.
    UntrustedKey,
    /// Whole and signed, but the recording stopped before its session ended.
    Incomplete,
    /// The recorded session's own exit status, passed through.
    Session(i32),
}

impl Status {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Error => 1,
            Status::Truncated => 3,
            Status::Altered => 4,
            Status::Unsigned => 5,
            Status::UntrustedKey => 6,
            Status::Incomplete => 7,
            Status::Session(code) => (code & 0xff) as u8,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}
