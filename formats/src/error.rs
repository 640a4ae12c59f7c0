use std::io;

/// Result alias for this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Every way reading or writing a recording can fail. Messages name the place (line, frame or
/// byte offset) so a user can find the problem.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The underlying reader or writer failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line of a line-based format could not be parsed.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A record of a binary format (ttyrec, a zstd frame) could not be read.
    #[error("{what} at byte offset {offset}: {message}")]
    Record {
        /// Which kind of record ("ttyrec record 7", "frame 3").
        what: String,
        /// Byte offset of the record in the input.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A line or record is longer than [`crate::MAX_LINE`].
    #[error(
        "{what} is longer than {limit} bytes; refusing to read it (the file is damaged or not a recording)"
    )]
    TooLong {
        /// Where ("line 12", "ttyrec record 3").
        what: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input is in no format this crate reads.
    #[error("unrecognised recording format: {0}")]
    UnknownFormat(String),
    /// The input is empty.
    #[error("the input is empty")]
    Empty,
    /// A header is missing or invalid.
    #[error("invalid header: {0}")]
    Header(String),
    /// A signing key could not be read or used.
    #[error("key: {0}")]
    Key(String),
    /// An invalid argument was passed by the caller.
    #[error("{0}")]
    Invalid(String),
}

impl FormatError {
    /// The message with its causes after it ("reading line 5: the gzip stream expands..."),
    /// for where it is shown as one line rather than as an error chain.
    pub fn explain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        FormatError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn line(line: u64, message: impl Into<String>) -> Self {
        FormatError::Line {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn record(what: impl Into<String>, offset: u64, message: impl Into<String>) -> Self {
        FormatError::Record {
            what: what.into(),
            offset,
            message: message.into(),
        }
    }
}
