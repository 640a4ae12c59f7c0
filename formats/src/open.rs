//! Opening any recording: detect its format from the first bytes and stream its events.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use crate::asciicast::{self, AsciicastReader, Version};
use crate::container::{ContainerReader, Integrity, starts_a_container};
use crate::import;
use crate::keys::PublicKey;
use crate::model::{Event, Header};
use crate::{FormatError, Result};

/// A source of events: the seam between format readers and everything that consumes events.
pub trait EventSource: Send {
    /// The next event, `None` at the end.
    fn next_event(&mut self) -> Result<Option<Event>>;

    /// Where the input was cut short, if it was (the events before the cut were all returned).
    fn truncation(&self) -> Option<String> {
        None
    }

    /// For a `.cast.zst` read from its start: how many events the checkpoints read so far
    /// cover (see [`crate::tail`]).
    fn verified_events(&self) -> Option<u64> {
        None
    }

    /// For a `.cast.zst`: what reading it established about its integrity.
    fn integrity(&self) -> Option<Integrity> {
        None
    }
}

/// The formats [`open_reader`] detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// asciicast v1.
    AsciicastV1,
    /// asciicast v2.
    AsciicastV2,
    /// asciicast v3.
    AsciicastV3,
    /// sessrec's `.cast.zst` (or any zstd-compressed asciicast v3).
    CastZst,
    /// ttyrec, as written by ttyrec and termrec.
    Ttyrec,
    /// util-linux `script` typescript with a classic or advanced timing file.
    Script,
    /// tlog JSON messages.
    Tlog,
}

impl Format {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::AsciicastV1 => "asciicast v1",
            Format::AsciicastV2 => "asciicast v2",
            Format::AsciicastV3 => "asciicast v3",
            Format::CastZst => "sessrec .cast.zst",
            Format::Ttyrec => "ttyrec",
            Format::Script => "script typescript",
            Format::Tlog => "tlog JSON",
        }
    }
}

/// Options for opening a recording.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The timing file of a `script` typescript (default: the typescript's path plus `.tm`,
    /// `.timing` or `.tim`, when reading from a path).
    pub timing: Option<PathBuf>,
    /// Keys trusted when checking a `.cast.zst`'s signatures while reading.
    pub trusted: Vec<PublicKey>,
}

/// A recording opened for reading: its header and a stream of its events.
pub struct EventReader {
    format: Format,
    gzip: bool,
    header: Header,
    source: Box<dyn EventSource>,
}

impl EventReader {
    /// Wraps a source.
    pub fn new(format: Format, header: Header, source: Box<dyn EventSource>) -> Self {
        EventReader {
            format,
            gzip: false,
            header,
            source,
        }
    }

    /// The detected format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the input was gzip-compressed.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Where the input was cut short, if it was.
    pub fn truncation(&self) -> Option<String> {
        self.source.truncation()
    }

    /// For a `.cast.zst`: what reading it established about its integrity.
    pub fn integrity(&self) -> Option<Integrity> {
        self.source.integrity()
    }

    /// For a `.cast.zst` read from its start: how many events the checkpoints read so far
    /// cover.
    pub fn verified_events(&self) -> Option<u64> {
        self.source.verified_events()
    }
}

impl Iterator for EventReader {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        self.source.next_event().transpose()
    }
}

/// Opens the file at `path` (`-` is standard input).
pub fn open_path(path: &Path, opts: &OpenOptions) -> Result<EventReader> {
    if path == Path::new("-") {
        return open_reader(Box::new(std::io::stdin()), opts);
    }
    let file = File::open(path)
        .map_err(|e| FormatError::io(format!("cannot open {}", path.display()), e))?;
    let mut opts = opts.clone();
    if opts.timing.is_none() {
        opts.timing = ["tm", "timing", "tim"]
            .iter()
            .map(|ext| {
                let mut p = path.as_os_str().to_owned();
                p.push(".");
                p.push(ext);
                PathBuf::from(p)
            })
            .find(|p| p.is_file());
    }
    open_reader(Box::new(file), &opts)
}

/// Detects the format of `input` and opens it.
pub fn open_reader(input: Box<dyn Read + Send>, opts: &OpenOptions) -> Result<EventReader> {
    open_detect(input, opts, false)
}

fn open_detect(
    mut input: Box<dyn Read + Send>,
    opts: &OpenOptions,
    gzip: bool,
) -> Result<EventReader> {
    let mut head = Vec::with_capacity(64);
    (&mut input)
        .take(64)
        .read_to_end(&mut head)
        .map_err(|e| FormatError::io("reading the input", e))?;
    if head.is_empty() {
        return Err(FormatError::Empty);
    }
    let stream = Cursor::new(head.clone()).chain(input);
    let mut reader = if head.starts_with(&[0x1f, 0x8b]) {
        if gzip {
            return Err(FormatError::UnknownFormat("gzip inside gzip".into()));
        }
        return open_detect(Box::new(BoundedGunzip::new(stream)), opts, true);
    } else if starts_a_container(&head) {
        open_container(stream, opts)?
    } else if head.starts_with(b"Script started on ") {
        import::script::open(BufReader::new(stream), opts.timing.as_deref())?
    } else if head.trim_ascii_start().starts_with(b"{") {
        open_json(BufReader::with_capacity(128 * 1024, stream))?
    } else if import::ttyrec::looks_like(&head) {
        import::ttyrec::open(BufReader::new(stream))?
    } else {
        return Err(FormatError::UnknownFormat(
            "not asciicast, .cast.zst, gzip, ttyrec, a script typescript or tlog JSON".into(),
        ));
    };
    asciicast::check_header_read(reader.header())?;
    reader.gzip = gzip;
    Ok(reader)
}

fn open_container(stream: impl Read + Send + 'static, opts: &OpenOptions) -> Result<EventReader> {
    let mut reader = ContainerReader::new(stream, opts.trusted.clone())
        .map_err(|e| FormatError::io("starting the zstd decoder", e))?;
    let Some((version, header)) = asciicast::read_header_line(&mut reader)? else {
        let why = reader
            .integrity()
            .damage
            .as_ref()
            .map(|d| d.reason.clone())
            .unwrap_or_else(|| "it holds no data (cut before the first flush?)".into());
        return Err(FormatError::Header(why));
    };
    if version != Version::V3 {
        // A zstd-compressed v2 file: read it as v2.
        let events = AsciicastReader::after_header(reader, version, 0);
        return Ok(EventReader::new(
            Format::AsciicastV2,
            header,
            Box::new(events),
        ));
    }
    let events = AsciicastReader::after_header(reader, Version::V3, 0);
    Ok(EventReader::new(
        Format::CastZst,
        header,
        Box::new(ContainerEvents(events)),
    ))
}

/// v3 events from a container, with its integrity.
struct ContainerEvents<R>(AsciicastReader<ContainerReader<R>>);

impl<R: Read + Send> EventSource for ContainerEvents<R> {
    fn next_event(&mut self) -> Result<Option<Event>> {
        self.0.next_event()
    }

    fn truncation(&self) -> Option<String> {
        let integ = self.0.get_ref().integrity();
        integ.cut.as_ref().map(|c| {
            format!(
                "the recording is cut at byte {} ({}); events up to the last flush were read",
                c.offset,
                if c.in_frame {
                    "inside a frame"
                } else {
                    "between frames"
                }
            )
        })
    }

    fn integrity(&self) -> Option<Integrity> {
        Some(self.0.get_ref().integrity().clone())
    }

    fn verified_events(&self) -> Option<u64> {
        let integ = self.0.get_ref().integrity();
        (integ.chain_checked && integ.session_id.is_some()).then_some(integ.verified_events)
    }
}

fn open_json(mut reader: BufReader<impl Read + Send + 'static>) -> Result<EventReader> {
    // Peek at the first line without consuming it: v1 needs the whole document.
    let mut first = Vec::new();
    (&mut reader)
        .take(crate::MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut first)
        .map_err(|e| FormatError::io("reading line 1", e))?;
    if first.len() > crate::MAX_LINE {
        // Only an asciicast v1 document (one JSON value, up to V1_LIMIT) has a line this long.
        let (header, events) = asciicast::read_v1(Cursor::new(first).chain(reader))?;
        return Ok(EventReader::new(
            Format::AsciicastV1,
            header,
            Box::new(events),
        ));
    }
    let value: Option<serde_json::Value> = serde_json::from_slice(first.trim_ascii()).ok();
    let object = value.as_ref().and_then(|v| v.as_object());
    let version = object.and_then(|o| o.get("version"));
    match object {
        // A tlog message has `ver` and `timing` and never `version`: a v1 document that also
        // carries `ver` and `timing` keys is still a v1 document.
        Some(o) if o.contains_key("ver") && o.contains_key("timing") && version.is_none() => {
            let rest = Cursor::new(first).chain(reader);
            import::tlog::open(BufReader::new(rest))
        }
        Some(o)
            if o.get("version")
                .and_then(|v| v.as_u64())
                .is_some_and(|v| v == 2 || v == 3) =>
        {
            let (version, header) = asciicast::parse_header_line(first.trim_ascii())?;
            let format = if version == Version::V2 {
                Format::AsciicastV2
            } else {
                Format::AsciicastV3
            };
            let events = AsciicastReader::after_header(reader, version, 0);
            Ok(EventReader::new(format, header, Box::new(events)))
        }
        Some(o)
            if !o.contains_key("stdout")
                && o.get("version").and_then(|v| v.as_u64()) != Some(1) =>
        {
            Err(FormatError::Header(
                "line 1 is JSON but neither an asciicast header nor a tlog message".into(),
            ))
        }
        _ => {
            let (header, events) = asciicast::read_v1(Cursor::new(first).chain(reader))?;
            Ok(EventReader::new(
                Format::AsciicastV1,
                header,
                Box::new(events),
            ))
        }
    }
}

/// gunzip that stops with an error once the output passes
/// [`MAX_GZIP_RATIO`](crate::limits::MAX_GZIP_RATIO) times the compressed bytes read (past a
/// floor of [`MAX_GZIP_FLOOR`](crate::limits::MAX_GZIP_FLOOR)): a small file cannot make a
/// reader spend minutes on gigabytes it holds "compressed".
struct BoundedGunzip<R: Read> {
    inner: flate2::read::MultiGzDecoder<Counted<R>>,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    produced: u64,
}

impl<R: Read> BoundedGunzip<R> {
    fn new(src: R) -> Self {
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Counted {
            inner: src,
            read: read.clone(),
        };
        BoundedGunzip {
            inner: flate2::read::MultiGzDecoder::new(counted),
            read,
            produced: 0,
        }
    }
}

impl<R: Read> Read for BoundedGunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use crate::limits::{MAX_GZIP_FLOOR, MAX_GZIP_RATIO};
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let compressed = self.read.load(std::sync::atomic::Ordering::Relaxed);
        if self.produced > MAX_GZIP_FLOOR.max(compressed.saturating_mul(MAX_GZIP_RATIO)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the gzip stream expands more than {MAX_GZIP_RATIO} times (a decompression \
                     bomb?); if it is a real recording, gunzip it and open the file"
                ),
            ));
        }
        Ok(n)
    }
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}
