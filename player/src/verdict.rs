//! What the status bar says about a recording's integrity: the outcome of the background
//! verification, as a closed set of states (each with its own text and colour), not free text.

/// The verification state shown in the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// No check was asked for: nothing is shown.
    #[default]
    Absent,
    /// Being checked.
    Verifying,
    /// Still being recorded: checked once its recorder is done.
    Recording,
    /// Complete and signed by a trusted key.
    Signed,
    /// Signed, by a key that is not trusted (`--key`, `trusted_keys`).
    UntrustedKey,
    /// Consistent, but cut short.
    Truncated,
    /// Whole and signed, but the recording stopped before the session ended.
    Incomplete,
    /// Changed after it was signed, or damaged.
    Altered,
    /// Not signed (or not a sessrec recording).
    Unsigned,
    /// Could not be checked (standard input, an unreadable file).
    NotVerified,
}

/// How bad a state is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Proven intact.
    Good,
    /// Not proven either way.
    Unknown,
    /// Proven altered.
    Bad,
}

impl Verdict {
    /// The status bar's text.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Absent => "",
            Verdict::Verifying => "verifying…",
            Verdict::Recording => "recording",
            Verdict::Signed => "signed",
            Verdict::UntrustedKey => "signed (key not trusted: --key or trusted_keys)",
            Verdict::Truncated => "truncated",
            Verdict::Incomplete => "incomplete: the recording stopped before the session ended",
            Verdict::Altered => "altered",
            Verdict::Unsigned => "unsigned",
            Verdict::NotVerified => "not verified",
        }
    }

    /// How bad it is.
    pub fn severity(self) -> Severity {
        match self {
            Verdict::Signed => Severity::Good,
            Verdict::Altered => Severity::Bad,
            _ => Severity::Unknown,
        }
    }
}
