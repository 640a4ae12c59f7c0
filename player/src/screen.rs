//! The virtual terminal that recorded output is fed into (avt), and what is read off it: the
//! screen as text or as cells with styles. Recorded bytes only ever reach this emulator, never
//! the reviewer's terminal; what leaves it is characters and colours.

use std::fmt::Write as _;

use avt::{Color, Pen, Terminal};
use sessrec_formats::EventData;

use crate::utf8::Utf8Decoder;

/// The widest and tallest screen the emulator is given. A header or resize event asking for
/// more (a hostile or damaged recording: 60000×60000 would be 3.6 billion cells) is clipped to
/// it, so a recording cannot exhaust the reviewer's memory that way.
pub const MAX_SIZE: (usize, usize) = sessrec_formats::limits::MAX_SCREEN;

/// `cols`×`rows` as the emulator gets them: at least 1×1, at most [`MAX_SIZE`].
pub(crate) fn screen_size(cols: u16, rows: u16) -> (usize, usize) {
    (
        usize::from(cols).clamp(1, MAX_SIZE.0),
        usize::from(rows).clamp(1, MAX_SIZE.1),
    )
}

/// The terminal state a segment starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyframe {
    /// Escape sequences that rebuild the screen, cursor, modes and pending parse.
    dump: String,
    /// The start of a character split across events.
    carry: Vec<u8>,
    size: (usize, usize),
}

impl Keyframe {
    /// Its parts: the dump, the carried bytes, the size (to save it).
    pub(crate) fn parts(&self) -> (&str, &[u8], (usize, usize)) {
        (&self.dump, &self.carry, self.size)
    }

    /// A keyframe from saved parts.
    pub(crate) fn from_parts(dump: String, carry: Vec<u8>, size: (usize, usize)) -> Keyframe {
        Keyframe { dump, carry, size }
    }

    /// Bytes it holds.
    pub(crate) fn len(&self) -> usize {
        self.dump.len() + self.carry.len()
    }
}

/// A virtual terminal fed with recorded events.
pub struct VirtualTerminal {
    term: Terminal,
    decoder: Utf8Decoder,
}

impl VirtualTerminal {
    /// A blank `cols`×`rows` terminal (clipped to 1×1 … [`MAX_SIZE`]).
    pub fn new(cols: u16, rows: u16) -> VirtualTerminal {
        let (cols, rows) = screen_size(cols, rows);
        VirtualTerminal {
            term: Terminal::new(cols, rows).expect("sizes are at least 1"),
            decoder: Utf8Decoder::default(),
        }
    }

    /// Applies an event: output is interpreted, a resize resizes; the rest does not change
    /// the screen.
    pub fn apply(&mut self, data: &EventData) {
        match data {
            EventData::Output(bytes) => {
                let text = self.decoder.decode(bytes);
                self.term.feed(text.as_str());
            }
            EventData::Resize { cols, rows } if *cols > 0 && *rows > 0 => {
                let (cols, rows) = screen_size(*cols, *rows);
                self.term.resize(cols, rows);
            }
            _ => {}
        }
    }

    /// Columns and rows.
    pub fn size(&self) -> (usize, usize) {
        self.term.size()
    }

    pub(crate) fn keyframe(&self) -> Keyframe {
        Keyframe {
            dump: self.term.dump(),
            carry: self.decoder.carry().to_vec(),
            size: self.term.size(),
        }
    }

    pub(crate) fn restore(k: &Keyframe) -> VirtualTerminal {
        let (cols, rows) = k.size;
        let mut term = Terminal::new(cols.max(1), rows.max(1)).expect("sizes are at least 1");
        term.feed(k.dump.as_str());
        VirtualTerminal {
            term,
            decoder: Utf8Decoder::with_carry(k.carry.clone()),
        }
    }

    /// The cursor's column and row, if it is shown.
    pub fn cursor(&self) -> Option<(usize, usize)> {
        let c = self.term.cursor();
        c.visible.then_some((c.col, c.row))
    }

    /// The visible rows, each as (character, pen) cells; a wide character's second cell is
    /// left out (its first has width 2).
    pub fn rows(&self) -> impl Iterator<Item = Vec<(char, u8, Pen)>> + '_ {
        self.term.screen().visible_lines().map(|line| {
            line.cells()
                .iter()
                .filter(|c| c.width() > 0)
                .map(|c| (printable(c.char()), c.width(), *c.pen()))
                .collect()
        })
    }

    /// The screen as plain text, trailing blanks trimmed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for row in self.rows() {
            let line: String = row.iter().map(|c| c.0).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The screen as text with colours and attributes (SGR sequences only: nothing that
    /// moves, queries or reconfigures the terminal it is printed on).
    pub fn ansi(&self) -> String {
        let mut out = String::new();
        for row in self.rows() {
            let mut pen = Pen::default();
            let end = row
                .iter()
                .rposition(|c| c.0 != ' ' || !c.2.is_default())
                .map_or(0, |i| i + 1);
            for &(ch, _, p) in &row[..end] {
                if p != pen {
                    out.push_str(&sgr(&p));
                    pen = p;
                }
                out.push(ch);
            }
            if !pen.is_default() {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
        }
        out
    }
}

/// A character fit to show in a cell: controls (which a virtual terminal should never leave in a
/// cell), bidi overrides and invisible format characters become U+FFFD.
pub(crate) fn printable(c: char) -> char {
    if sessrec_formats::text::is_unsafe(c) {
        '\u{FFFD}'
    } else {
        c
    }
}

/// The SGR sequence that sets exactly `pen`.
fn sgr(pen: &Pen) -> String {
    let mut s = String::from("\x1b[0");
    let attributes = [
        (pen.is_bold(), 1),
        (pen.is_faint(), 2),
        (pen.is_italic(), 3),
        (pen.is_underline(), 4),
        (pen.is_blink(), 5),
        (pen.is_inverse(), 7),
        (pen.is_strikethrough(), 9),
    ];
    for (_, code) in attributes.iter().filter(|a| a.0) {
        let _ = write!(s, ";{code}");
    }
    for (color, base) in [(pen.foreground(), 38), (pen.background(), 48)] {
        match color {
            Some(Color::Indexed(i)) => {
                let _ = write!(s, ";{base};5;{i}");
            }
            Some(Color::RGB(c)) => {
                let _ = write!(s, ";{base};2;{};{};{}", c.r, c.g, c.b);
            }
            None => {}
        }
    }
    s.push('m');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(s: &str) -> EventData {
        EventData::Output(s.as_bytes().to_vec())
    }

    #[test]
    fn a_keyframe_restores_screen_cursor_and_a_split_character() {
        let mut t = VirtualTerminal::new(20, 4);
        t.apply(&out("\x1b[1;31mred\x1b[0m plain\r\n\x1b[2;10r\x1b[?25l"));
        t.apply(&EventData::Output(b"x\xe6\x97".to_vec()));
        let k = t.keyframe();
        let mut back = VirtualTerminal::restore(&k);
        assert_eq!(back.text(), t.text());
        assert_eq!(back.ansi(), t.ansi());
        assert_eq!(back.cursor(), t.cursor());
        t.apply(&EventData::Output(b"\xa5!".to_vec()));
        back.apply(&EventData::Output(b"\xa5!".to_vec()));
        assert_eq!(back.text(), t.text());
        assert!(t.text().contains("x日!"), "{}", t.text());
    }

    #[test]
    fn absurd_sizes_are_clipped() {
        let mut t = VirtualTerminal::new(60_000, 0);
        assert_eq!(t.size(), (MAX_SIZE.0, 1));
        t.apply(&EventData::Resize {
            cols: 65_535,
            rows: 65_535,
        });
        assert_eq!(t.size(), MAX_SIZE);
    }

    #[test]
    fn ansi_output_holds_only_sgr() {
        let mut t = VirtualTerminal::new(30, 3);
        t.apply(&out(
            "\x1b]52;c;aGVsbG8=\x07\x1b]0;evil\x07\x1b[6n\x1b[1;4;38;2;1;2;3mhi\x1b[0m",
        ));
        let a = t.ansi();
        assert!(a.starts_with("\x1b[0;1;4;38;2;1;2;3mhi\x1b[0m"), "{a:?}");
        assert!(
            !a.contains("]52") && !a.contains("evil") && !a.contains("[6n"),
            "{a:?}"
        );
    }
}
