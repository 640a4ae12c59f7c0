//! The timeline of a recording, built in one pass: its events cut into segments, each with a
//! keyframe (the virtual terminal's state where it starts) and its events compressed. A seek
//! restores the nearest keyframe and replays at most one segment, so it costs the same at
//! minute one and at hour ten, and memory stays a fraction of the output's size.

use std::io::{Read, Write};
use std::sync::Mutex;

pub use sessrec_formats::MarkerKind;
use sessrec_formats::{Event, EventData, Micros};

pub use crate::builder::TimelineBuilder;
use crate::screen::Keyframe;
use crate::stored::StoredEvents;

/// A segment ends after this much recorded time...
pub const SEGMENT_TIME: Micros = 5_000_000;
/// ...or this much output...
pub const SEGMENT_BYTES: usize = 1024 * 1024;
/// ...or this many bytes of events of any kind (keystrokes, markers, resizes and their
/// framing), whichever comes first: a recording of nothing but keystrokes is cut like output.
pub const SEGMENT_EVENT_BYTES: usize = 2 * SEGMENT_BYTES;
/// The most bytes of events a segment holds: one event (a line, at most
/// [`sessrec_formats::MAX_LINE`]) may take it past [`SEGMENT_EVENT_BYTES`]. A segment read back
/// from the cache that decompresses to more is damage.
pub(crate) const MAX_SEGMENT_RAW: usize = SEGMENT_EVENT_BYTES + sessrec_formats::MAX_LINE + 64;
/// The markers of one segment listed on the timeline bar (the rest stay in its events)...
pub const MARKERS_PER_SEGMENT: usize = 64;
/// ...and of the suspicious-input markers, which a flood of other markers must not hide.
pub const SUSPICIOUS_MARKERS_PER_SEGMENT: usize = 256;
/// The longest marker label listed, in bytes (the whole label stays in the segment's events).
pub const MARKER_LABEL: usize = 1024;

/// A marker on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// When.
    pub time: Micros,
    /// Its label.
    pub label: String,
    /// What it stands for.
    pub kind: MarkerKind,
}

impl Marker {
    /// The marker as listed: its label cut to [`MARKER_LABEL`] bytes.
    pub(crate) fn listed(time: Micros, label: &str) -> Marker {
        let kind = MarkerKind::of(label);
        let label = if label.len() > MARKER_LABEL {
            let mut end = MARKER_LABEL;
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &label[..end])
        } else {
            label.to_owned()
        };
        Marker { time, label, kind }
    }
}

/// One stretch of the recording.
pub(crate) struct Segment {
    /// When it starts (the time of its first event, or of the keyframe).
    pub start: Micros,
    /// The terminal's state at `start`.
    pub keyframe: Keyframe,
    /// Its events, encoded and compressed.
    pub events: StoredEvents,
}

/// The whole recording, ready to seek in.
pub struct Timeline {
    pub(crate) segments: Vec<Segment>,
    /// Markers, in time order: at most [`MARKERS_PER_SEGMENT`] of a segment (and up to
    /// [`SUSPICIOUS_MARKERS_PER_SEGMENT`] of suspicious input).
    pub markers: Vec<Marker>,
    /// Markers beyond those shares, not listed (their segments' events still hold them).
    pub markers_not_listed: u64,
    /// The time of the last event.
    pub duration: Micros,
    /// The exit status, if the recording has one.
    pub exit: Option<i32>,
    /// Output bytes in all.
    pub output_bytes: u64,
    /// The terminal size at the start.
    pub initial_size: (usize, usize),
    /// Changes at each hand-over while loading (a player then re-reads its segment).
    pub(crate) generation: u64,
    /// Whether the last segment is the still-open one, copied (replaced at the next hand-over).
    pub(crate) provisional: bool,
    /// Why a segment kept in a file could not be read back, if one could not.
    pub(crate) read_error: Mutex<Option<String>>,
}

impl Timeline {
    /// Builds the timeline of `events` on a `cols`×`rows` terminal.
    pub fn build<E>(
        cols: u16,
        rows: u16,
        events: impl IntoIterator<Item = Result<Event, E>>,
    ) -> Result<Timeline, E> {
        let mut b = TimelineBuilder::new(cols, rows);
        for e in events {
            b.push(&e?);
        }
        Ok(b.finish())
    }

    /// The index of the segment that holds `time`.
    pub(crate) fn segment_at(&self, time: Micros) -> usize {
        self.segments
            .partition_point(|s| s.start <= time)
            .saturating_sub(1)
    }

    /// Memory held by the compressed segments and keyframes, in bytes.
    pub fn memory(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.events.in_memory() + s.keyframe.len())
            .sum()
    }

    /// Compressed segments kept in a file rather than in memory, in bytes.
    pub fn in_file(&self) -> u64 {
        self.segments.iter().map(|s| s.events.in_file()).sum()
    }

    /// Why part of the timeline could not be read back from its file, if it could not (that
    /// part then shows as its keyframe only).
    pub fn read_error(&self) -> Option<String> {
        self.read_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The events of segment `index`, decoded (none if it cannot be read: see
    /// [`Timeline::read_error`]).
    pub(crate) fn events(&self, index: usize) -> Vec<(Micros, EventData)> {
        let Some(segment) = self.segments.get(index) else {
            return Vec::new();
        };
        // The bytes may come from the cache or spill file, which can be cut or damaged while
        // in use: every failure is reported, none shows as a silently empty segment.
        let decoded = segment
            .events
            .bytes()
            .map_err(|e| format!("cannot read the index's segment file: {e}"))
            .and_then(|compressed| {
                let raw = decompress_bounded(&compressed)
                    .map_err(|e| format!("a segment of the index does not decompress: {e}"))?;
                decode_checked(&raw)
            });
        match decoded {
            Ok(events) => events,
            Err(e) => {
                *self.read_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Vec::new()
            }
        }
    }
}

/// How far back the keystroke pane looks for keys: segments, and bytes of events decoded.
const KEYS_LOOKBACK: (usize, usize) = (64, 16 * 1024 * 1024);

impl Timeline {
    /// The last `count` keystroke events at or before `time`, oldest first, read from the
    /// segments' events (keystrokes are kept nowhere else, so a recording of nothing but
    /// keystrokes costs what its compressed events cost). Looks back a bounded way.
    pub(crate) fn keystrokes_before(&self, time: Micros, count: usize) -> Vec<(Micros, Vec<u8>)> {
        let mut found: Vec<(Micros, Vec<u8>)> = Vec::new();
        if count == 0 || self.segments.is_empty() {
            return found;
        }
        let mut decoded = 0usize;
        let last = self.segment_at(time);
        for index in (0..=last).rev().take(KEYS_LOOKBACK.0) {
            let mut keys: Vec<(Micros, Vec<u8>)> = Vec::new();
            for (t, data) in self.events(index) {
                match data {
                    EventData::Input(bytes) if t <= time => keys.push((t, bytes)),
                    EventData::Output(b) => decoded += b.len(),
                    _ => {}
                }
            }
            let need = count - found.len();
            let from = keys.len().saturating_sub(need);
            keys.drain(..from);
            keys.append(&mut found);
            found = keys;
            if found.len() >= count || decoded > KEYS_LOOKBACK.1 {
                break;
            }
        }
        found
    }
}

/// Decodes events made by [`encode`] in this process (in memory, so they decode whole).
pub(crate) fn decode_all(raw: &[u8]) -> Vec<(Micros, EventData)> {
    let mut out = Vec::new();
    let mut at = raw;
    while let Some((event, rest)) = decode(at) {
        out.push(event);
        at = rest;
    }
    out
}

/// Decodes events read back from a file: bytes left over that do not decode are an error.
fn decode_checked(raw: &[u8]) -> Result<Vec<(Micros, EventData)>, String> {
    let mut out = Vec::new();
    let mut at = raw;
    while !at.is_empty() {
        let Some((event, rest)) = decode(at) else {
            let offset = raw.len() - at.len();
            return Err(format!(
                "a segment of the index is damaged at byte {offset}"
            ));
        };
        out.push(event);
        at = rest;
    }
    Ok(out)
}

// A compact encoding: kind byte, time (8 bytes LE), payload length (4 bytes LE), payload.
const OUTPUT: u8 = 0;
const INPUT: u8 = 1;
const RESIZE: u8 = 2;
const MARKER: u8 = 3;
const EXIT: u8 = 4;

pub(crate) fn encode(out: &mut Vec<u8>, time: Micros, data: &EventData) {
    let (kind, payload): (u8, std::borrow::Cow<[u8]>) = match data {
        EventData::Output(b) => (OUTPUT, b.as_slice().into()),
        EventData::Input(b) => (INPUT, b.as_slice().into()),
        EventData::Resize { cols, rows } => {
            let mut p = cols.to_le_bytes().to_vec();
            p.extend_from_slice(&rows.to_le_bytes());
            (RESIZE, p.into())
        }
        EventData::Marker(s) => (MARKER, s.as_bytes().into()),
        EventData::Exit(code) => (EXIT, code.to_le_bytes().to_vec().into()),
        EventData::Other { .. } => return,
    };
    out.push(kind);
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
}

fn decode(at: &[u8]) -> Option<((Micros, EventData), &[u8])> {
    let (&kind, rest) = at.split_first()?;
    let time = Micros::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let len = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
    let payload = rest.get(12..12 + len)?;
    let data = match kind {
        OUTPUT => EventData::Output(payload.to_vec()),
        INPUT => EventData::Input(payload.to_vec()),
        RESIZE if len == 4 => EventData::Resize {
            cols: u16::from_le_bytes([payload[0], payload[1]]),
            rows: u16::from_le_bytes([payload[2], payload[3]]),
        },
        MARKER => EventData::Marker(String::from_utf8_lossy(payload).into_owned()),
        EXIT if len == 4 => EventData::Exit(i32::from_le_bytes(payload.try_into().ok()?)),
        _ => return None,
    };
    Some(((time, data), &rest[12 + len..]))
}

pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    // Level 1: fast to build; these bytes never leave memory.
    let mut enc = zstd::Encoder::new(Vec::new(), 1).expect("zstd level 1");
    enc.write_all(raw).expect("writing to memory");
    let mut out = enc.finish().expect("writing to memory");
    // Kept for the whole session: no spare capacity from the growing buffer.
    out.shrink_to_fit();
    out
}

/// Room for a segment's events: most of them hold about a segment of output.
fn compressed_hint(data: &[u8]) -> usize {
    data.len()
        .saturating_mul(8)
        .min(SEGMENT_BYTES + SEGMENT_BYTES / 4)
}

/// Decompresses a segment that may come from a file (the cache): at most [`MAX_SEGMENT_RAW`]
/// bytes, with at most the window sessrec's readers allow, whatever the bytes claim.
fn decompress_bounded(data: &[u8]) -> std::io::Result<Vec<u8>> {
    // Straight from the slice (no buffered copy), into room for a whole segment.
    let mut d = zstd::stream::read::Decoder::with_buffer(data)?;
    d.window_log_max(sessrec_formats::limits::ZSTD_WINDOW_LOG_MAX)?;
    let mut out = Vec::with_capacity(compressed_hint(data));
    d.take(MAX_SEGMENT_RAW as u64 + 1).read_to_end(&mut out)?;
    if out.len() > MAX_SEGMENT_RAW {
        return Err(std::io::Error::other(format!(
            "it holds more than the {} MiB a segment can",
            MAX_SEGMENT_RAW >> 20
        )));
    }
    Ok(out)
}

/// Decompresses bytes made by [`compress`] in this process (in memory, so they decode).
pub(crate) fn decompress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = zstd::Decoder::new(data).and_then(|mut d| d.read_to_end(&mut out));
    out
}
