//! Pure asciicast encoders: they turn the model into bytes and do no I/O, so a failure to write
//! is always the caller's to see and handle.

use std::borrow::Cow;

use super::header;
use crate::limits::{MAX_EVENT_DATA, MAX_TEXT_EVENT};
use crate::model::{Event, EventData, Header, Micros};
use crate::time::{Quantizer, format_micros, format_millis};
use crate::utf8::{self, Piece, RAW_CODE};

/// A pure asciicast encoder: header and event lines as bytes, no I/O.
pub trait Encoder {
    /// The header line.
    fn header(&self, header: &Header) -> Vec<u8>;
    /// Appends the line(s) for `event` to `out`.
    fn event(&mut self, event: &Event, out: &mut Vec<u8>);
}

impl Encoder for V3Encoder {
    fn header(&self, header: &Header) -> Vec<u8> {
        V3Encoder::header(self, header)
    }
    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        V3Encoder::event(self, event, out)
    }
}

impl Encoder for V2Encoder {
    fn header(&self, header: &Header) -> Vec<u8> {
        V2Encoder::header(self, header)
    }
    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        V2Encoder::event(self, event, out)
    }
}

/// Encodes asciicast v3: intervals quantised to milliseconds with error diffusion.
#[derive(Debug, Clone, Default)]
pub struct V3Encoder {
    quantizer: Quantizer,
}

impl V3Encoder {
    /// A new encoder for a recording starting at time 0.
    pub fn new() -> Self {
        V3Encoder::default()
    }

    /// The header line.
    pub fn header(&self, header: &Header) -> Vec<u8> {
        header::to_v3_line(header)
    }

    /// Appends the line(s) for `event` to `out`. Output or input that is not valid UTF-8 takes
    /// more than one line (see [`crate::asciicast`]).
    pub fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        self.event_lines(event, out);
    }

    /// Like [`V3Encoder::event`], and returns how many lines it wrote.
    pub fn event_lines(&mut self, event: &Event, out: &mut Vec<u8>) -> u64 {
        let interval = self.quantizer.interval_ms(event.time);
        let mut lines = 0;
        encode_data(&event.data, |code, data| {
            let ms = if lines == 0 { interval } else { 0 };
            write_line(out, |out| format_millis(ms, out), code, data);
            lines += 1;
        });
        lines
    }

    /// Absolute time in milliseconds of the last event encoded.
    pub fn last_ms(&self) -> u64 {
        self.quantizer.last_ms()
    }
}

/// Encodes asciicast v2: absolute times in microseconds.
#[derive(Debug, Clone, Default)]
pub struct V2Encoder;

impl V2Encoder {
    /// The header line.
    pub fn header(&self, header: &Header) -> Vec<u8> {
        header::to_v2_line(header)
    }

    /// Appends the line(s) for `event` to `out`.
    pub fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        let us = event.time as Micros;
        encode_data(&event.data, |code, data| {
            write_line(out, |out| format_micros(us, out), code, data)
        });
    }
}

/// Calls `emit(code, data)` for each asciicast event `data` needs. Every line stays under
/// [`MAX_LINE`](crate::limits::MAX_LINE): output and input are split into lines of at most
/// [`MAX_EVENT_DATA`] bytes, and a marker label or other event's data longer than
/// [`MAX_TEXT_EVENT`] is cut, saying so.
fn encode_data(data: &EventData, mut emit: impl FnMut(&str, &str)) {
    match data {
        EventData::Output(bytes) => encode_stream('o', bytes, emit),
        EventData::Input(bytes) => encode_stream('i', bytes, emit),
        EventData::Resize { cols, rows } => emit("r", &format!("{cols}x{rows}")),
        EventData::Marker(label) => emit("m", &bounded_text(label)),
        EventData::Exit(status) => emit("x", &status.to_string()),
        EventData::Other { code, data } => emit(&bounded_text(code), &bounded_text(data)),
    }
}

fn encode_stream(stream: char, bytes: &[u8], mut emit: impl FnMut(&str, &str)) {
    let code = if stream == 'o' { "o" } else { "i" };
    if bytes.is_empty() {
        emit(code, "");
        return;
    }
    for chunk in chunks(bytes, MAX_EVENT_DATA) {
        for piece in utf8::pieces(chunk) {
            match piece {
                Piece::Text(text) => emit(code, text),
                Piece::Raw(raw) => emit(RAW_CODE, &utf8::encode_raw(stream, raw)),
            }
        }
    }
}

/// `bytes` in pieces of at most `max` bytes, cut where a UTF-8 character starts when one starts
/// in the last four bytes of a piece (so text stays text on both sides of a cut).
pub fn chunks(bytes: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len().min(max.max(4));
        if cut < rest.len() {
            let start = (cut - 3..=cut).rev().find(|&i| rest[i] & 0xC0 != 0x80);
            cut = start.filter(|&i| i > 0).unwrap_or(cut);
        }
        let (piece, after) = rest.split_at(cut);
        rest = after;
        Some(piece)
    })
}

/// `text` cut to at most [`MAX_TEXT_EVENT`] bytes at a character boundary, with a note of how
/// many bytes were cut.
fn bounded_text(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_TEXT_EVENT {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_TEXT_EVENT - 64;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [{} bytes cut: longer than sessrec keeps]",
        &text[..end],
        text.len() - end
    ))
}

/// One `[time, "code", "data"]` line; `time` writes the time straight into `out`.
fn write_line(out: &mut Vec<u8>, time: impl FnOnce(&mut Vec<u8>), code: &str, data: &str) {
    out.push(b'[');
    time(out);
    out.extend_from_slice(b", ");
    write_json_str(out, code);
    out.extend_from_slice(b", ");
    write_json_str(out, data);
    out.extend_from_slice(b"]\n");
}

/// Writes `s` as a JSON string, with every character that could act on a terminal escaped
/// (C0 controls and DEL, and also C1, bidi and invisible characters: see
/// [`crate::text::is_unsafe`]), so the file is safe to `cat`. Terminal output is mostly plain
/// ASCII with escape sequences, so runs that need no escaping are found eight bytes at a time
/// and copied whole (the hot path of recording: measured 3x faster than serde_json's byte loop
/// on terminal output); a non-ASCII character is decoded and checked on its own.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let w = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
            let control = w.wrapping_sub(0x2020_2020_2020_2020) & !w & HI;
            let special = control
                | (w & HI)
                | has_zero(w ^ (LO * u64::from(b'"')))
                | has_zero(w ^ (LO * u64::from(b'\\')))
                | has_zero(w ^ (LO * 0x7f));
            // The lowest flagged byte is exact (a false flag can only follow a true one): skip
            // straight to it.
            i += (special.trailing_zeros() / 8) as usize;
            if special == 0 {
                continue;
            }
        }
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0..=0x1f | 0x7f => None,
            0x80.. if !may_start_unsafe(b) => {
                // Most non-ASCII text (accents, CJK, box drawing's E2 aside) is skipped without
                // decoding: `s` is a str, so `i` starts a character and its lead byte gives its
                // length.
                i += utf8_len(b);
                while i < bytes.len() && bytes[i] >= 0x80 && !may_start_unsafe(bytes[i]) {
                    i += utf8_len(bytes[i]);
                }
                continue;
            }
            0x80.. => {
                let c = s[i..].chars().next().unwrap_or('\u{FFFD}');
                if !crate::text::is_unsafe(c) {
                    i += c.len_utf8();
                    continue;
                }
                out.extend_from_slice(&bytes[start..i]);
                let mut escaped = String::new();
                crate::text::push_json_escape(&mut escaped, c);
                out.extend_from_slice(escaped.as_bytes());
                i += c.len_utf8();
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether a character with this UTF-8 lead byte can be one that [`crate::text::is_unsafe`]
/// escapes: C1 and U+00AD (C2), U+034F (CD), U+0600-070F (D8, DB, DC), U+0890-08E2 (E0), the
/// U+1xxx, U+2xxx, U+3164 and U+Fxxx ranges (E1, E2, E3, EF), and the supplementary ones (F0,
/// F3). Every other lead byte starts a character that is always shown as it is.
fn may_start_unsafe(lead: u8) -> bool {
    matches!(
        lead,
        0xC2 | 0xCD | 0xD8 | 0xDB | 0xDC | 0xE0 | 0xE1 | 0xE2 | 0xE3 | 0xEF | 0xF0 | 0xF3
    )
}

/// The length of the UTF-8 character this lead byte starts.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_lines() {
        let mut enc = V3Encoder::new();
        let mut out = Vec::new();
        enc.event(&Event::output(11_400, "$ "), &mut out);
        enc.event(
            &Event {
                time: 1_500_000,
                data: EventData::Exit(3),
            },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[0.011, \"o\", \"$ \"]\n[1.489, \"x\", \"3\"]\n"
        );
    }

    #[test]
    fn json_strings_match_serde_json() {
        let samples = [
            "",
            "plain text that is long enough for words",
            "\u{1b}[1;31mred\u{1b}[0m\r\n",
            "quote \" and \\ backslash\t\u{8}\u{c}\u{0}\u{1f}\u{7f} 日本語 🎉",
            "12345678\"2345678\\",
            "C1 \u{9b}31m and \u{9d}0;title\u{9c}, bidi \u{202E}, zero-width \u{200B}\u{1BCA0} ok",
            "box ─│┌ and 日本語 then \u{E0041} at the end\u{7f}",
        ];
        for s in samples {
            let mut ours = Vec::new();
            write_json_str(&mut ours, s);
            let ours = String::from_utf8(ours).unwrap();
            assert_eq!(
                ours,
                crate::text::json_safe(&serde_json::to_string(s).unwrap()),
                "{s:?}"
            );
            assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), *s);
        }
    }

    #[test]
    fn every_unsafe_character_starts_with_a_flagged_lead_byte() {
        for c in (0x80..=0x10FFFFu32).filter_map(char::from_u32) {
            if crate::text::is_unsafe(c) {
                let mut b = [0u8; 4];
                let lead = c.encode_utf8(&mut b).as_bytes()[0];
                assert!(may_start_unsafe(lead), "{c:?} starts with {lead:#x}");
            }
        }
    }

    #[test]
    fn invalid_utf8_takes_extra_lines() {
        let mut enc = V2Encoder;
        let mut out = Vec::new();
        enc.event(&Event::output(1_000_000, &b"a\xffb"[..]), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[1.0, \"o\", \"a\"]\n[1.0, \"b\", \"o:/w==\"]\n[1.0, \"o\", \"b\"]\n"
        );
    }
}
