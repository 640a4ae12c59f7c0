//! What a terminal would show left of its cursor: a small model of the screen's text (no
//! colours, no scrollback), enough to read a prompt drawn with escape sequences: a colour
//! reset or a cursor show after it, a curses dialog that puts the cursor in its entry field
//! (pinentry), vim's command line. Bulk output is not modelled byte by byte: of a large read
//! only the end is, since a prompt is what comes last.

use std::collections::BTreeMap;

/// Of a read longer than this, only the last this many bytes are modelled (a curses dialog
/// such as pinentry's is drawn in about 1.5 KB).
pub const MODEL_TAIL: usize = 2048;
/// Columns kept per row.
const MAX_COLS: usize = 512;
/// Rows kept (a curses dialog fits; more rows are forgotten, oldest first).
const MAX_ROWS: usize = 128;
/// An escape sequence longer than this is dropped (a hostile program cannot grow it).
const MAX_SEQ: usize = 64;

#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    /// The output read that wrote it.
    written: u64,
}

enum State {
    Ground,
    Esc,
    /// An ESC ( X style designation: one more byte.
    Designate,
    Csi([u8; MAX_SEQ], usize),
    /// OSC, DCS and the like: until BEL or ESC \.
    String {
        esc: bool,
    },
    /// A UTF-8 character under way: its bytes so far and how many it needs.
    Utf8(Vec<u8>, usize),
}

/// The screen's text, as output draws it.
pub struct Screen {
    rows: BTreeMap<u16, Vec<Cell>>,
    row: u16,
    col: u16,
    saved: (u16, u16),
    height: u16,
    state: State,
    /// Output reads so far.
    reads: u64,
}

impl Screen {
    /// A blank screen `height` rows high.
    pub fn new(height: u16) -> Screen {
        Screen {
            rows: BTreeMap::new(),
            row: 0,
            col: 0,
            saved: (0, 0),
            height: height.max(1),
            state: State::Ground,
            reads: 0,
        }
    }

    /// The terminal changed size.
    pub fn resize(&mut self, rows: u16) {
        self.height = rows.max(1);
        self.row = self.row.min(self.height - 1);
    }

    /// Draws `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.reads += 1;
        let bytes = if bytes.len() > MODEL_TAIL {
            self.state = State::Ground;
            &bytes[bytes.len() - MODEL_TAIL..]
        } else {
            bytes
        };
        let mut i = 0;
        while i < bytes.len() {
            if matches!(self.state, State::Ground) {
                // Plain text, the bulk of most output, is written a run at a time.
                let run = bytes[i..]
                    .iter()
                    .take_while(|b| (0x20..0x7f).contains(*b))
                    .count();
                if run > 0 {
                    self.put_ascii(&bytes[i..i + run]);
                    i += run;
                    continue;
                }
            }
            self.byte(bytes[i]);
            i += 1;
        }
    }

    /// The text of the row above the cursor's when it was drawn after the mark `since` (a
    /// question whose answer line is `> `); empty otherwise.
    pub fn row_above_text(&self, since: u64) -> String {
        let Some(cells) = self.row.checked_sub(1).and_then(|r| self.rows.get(&r)) else {
            return String::new();
        };
        let cells = &cells[cells.len().saturating_sub(200)..];
        let fresh = cells
            .iter()
            .rev()
            .find(|c| c.ch != ' ')
            .is_some_and(|c| c.written > since);
        if !fresh {
            return String::new();
        }
        cells.iter().map(|c| c.ch).collect()
    }

    /// How many times output was drawn so far (a mark for [`Screen::before_cursor`]).
    pub fn drawn(&self) -> u64 {
        self.reads
    }

    /// The text left of the cursor on its row, and whether its last visible character was
    /// drawn after the mark `since` (a prompt just shown, not old text the cursor was moved
    /// next to).
    pub fn before_cursor(&self, since: u64) -> (String, bool) {
        let Some(cells) = self.rows.get(&self.row) else {
            return (String::new(), false);
        };
        let upto = cells.len().min(usize::from(self.col));
        // A prompt is short: the last 200 cells are all that is ever matched.
        let cells = &cells[upto.saturating_sub(200)..upto];
        let text: String = cells.iter().map(|c| c.ch).collect();
        let fresh = cells
            .iter()
            .rev()
            .find(|c| c.ch != ' ')
            .is_some_and(|c| c.written > since);
        (text, fresh)
    }

    fn byte(&mut self, b: u8) {
        match std::mem::replace(&mut self.state, State::Ground) {
            State::Ground => self.ground(b),
            State::Esc => self.escape(b),
            State::Designate => {}
            State::Csi(mut seq, len) => {
                if (0x40..=0x7e).contains(&b) {
                    self.csi(&seq[..len], b);
                } else if len < MAX_SEQ {
                    seq[len] = b;
                    self.state = State::Csi(seq, len + 1);
                }
            }
            State::String { esc } => {
                if b == 0x07 || (esc && b == b'\\') {
                    return;
                }
                self.state = State::String { esc: b == 0x1b };
            }
            State::Utf8(mut bytes, need) => {
                if b & 0xc0 != 0x80 {
                    self.put('\u{fffd}');
                    return self.byte(b);
                }
                bytes.push(b);
                if bytes.len() < need {
                    self.state = State::Utf8(bytes, need);
                } else {
                    let ch = std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|s| s.chars().next())
                        .unwrap_or('\u{fffd}');
                    self.put(ch);
                }
            }
        }
    }

    fn ground(&mut self, b: u8) {
        match b {
            0x1b => self.state = State::Esc,
            b'\r' => self.col = 0,
            b'\n' | 0x0b | 0x0c => self.line_feed(),
            0x08 => self.col = self.col.saturating_sub(1),
            b'\t' => self.col = ((self.col / 8 + 1) * 8).min(MAX_COLS as u16),
            0x20..=0x7e => self.put(b as char),
            0xc0..=0xdf => self.state = State::Utf8(vec![b], 2),
            0xe0..=0xef => self.state = State::Utf8(vec![b], 3),
            0xf0..=0xf7 => self.state = State::Utf8(vec![b], 4),
            _ => {}
        }
    }

    fn escape(&mut self, b: u8) {
        match b {
            b'[' => self.state = State::Csi([0; MAX_SEQ], 0),
            b']' | b'P' | b'_' | b'^' | b'X' => self.state = State::String { esc: false },
            b'(' | b')' | b'*' | b'+' | b'#' | b'%' => self.state = State::Designate,
            b'7' => self.saved = (self.row, self.col),
            b'8' => (self.row, self.col) = self.saved,
            b'D' => self.line_feed(),
            b'E' => {
                self.col = 0;
                self.line_feed();
            }
            b'M' => self.row = self.row.saturating_sub(1),
            b'c' => {
                self.rows.clear();
                (self.row, self.col) = (0, 0);
            }
            _ => {}
        }
    }

    fn csi(&mut self, seq: &[u8], fin: u8) {
        if seq
            .first()
            .is_some_and(|c| matches!(c, b'?' | b'>' | b'<' | b'='))
        {
            return; // private modes: cursor show, mouse, bracketed paste...
        }
        let params: Vec<u16> = seq
            .split(|&c| c == b';')
            .map(|p| {
                std::str::from_utf8(p)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        let p = |i: usize| params.get(i).copied().unwrap_or(0);
        let n = |i: usize| p(i).max(1);
        let last_row = self.height - 1;
        match fin {
            b'H' | b'f' => {
                self.row = (n(0) - 1).min(last_row);
                self.col = (n(1) - 1).min(MAX_COLS as u16);
            }
            b'G' | b'`' => self.col = (n(0) - 1).min(MAX_COLS as u16),
            b'd' => self.row = (n(0) - 1).min(last_row),
            b'A' => self.row = self.row.saturating_sub(n(0)),
            b'B' | b'e' => self.row = self.row.saturating_add(n(0)).min(last_row),
            b'C' | b'a' => self.col = self.col.saturating_add(n(0)).min(MAX_COLS as u16),
            b'D' => self.col = self.col.saturating_sub(n(0)),
            b'E' => {
                self.row = self.row.saturating_add(n(0)).min(last_row);
                self.col = 0;
            }
            b'F' => {
                self.row = self.row.saturating_sub(n(0));
                self.col = 0;
            }
            b'K' => self.erase_line(p(0)),
            b'J' => self.erase_display(p(0)),
            b'X' => {
                let (col, count) = (usize::from(self.col), usize::from(n(0)));
                if let Some(cells) = self.rows.get_mut(&self.row) {
                    for c in cells.iter_mut().skip(col).take(count) {
                        c.ch = ' ';
                    }
                }
            }
            b's' => self.saved = (self.row, self.col),
            b'u' => (self.row, self.col) = self.saved,
            _ => {}
        }
    }

    fn erase_line(&mut self, how: u16) {
        let col = usize::from(self.col);
        if let Some(cells) = self.rows.get_mut(&self.row) {
            match how {
                0 => cells.truncate(col),
                1 => cells.iter_mut().take(col + 1).for_each(|c| c.ch = ' '),
                _ => cells.clear(),
            }
        }
    }

    fn erase_display(&mut self, how: u16) {
        match how {
            0 => {
                self.erase_line(0);
                let row = self.row;
                self.rows.retain(|&r, _| r <= row);
            }
            1 => {
                self.erase_line(1);
                let row = self.row;
                self.rows.retain(|&r, _| r >= row);
            }
            _ => self.rows.clear(),
        }
    }

    fn line_feed(&mut self) {
        if self.row + 1 >= self.height {
            // A scroll: the rows above move up. Only the new bottom row matters for a prompt.
            self.rows.clear();
        } else {
            self.row += 1;
        }
    }

    fn put_ascii(&mut self, text: &[u8]) {
        let col = usize::from(self.col);
        let room = MAX_COLS.saturating_sub(col).min(text.len());
        if room == 0 {
            return;
        }
        let written = self.reads;
        let cells = self.row_cells();
        if cells.len() < col + room {
            cells.resize(
                col + room,
                Cell {
                    ch: ' ',
                    written: 0,
                },
            );
        }
        for (c, &b) in cells[col..col + room].iter_mut().zip(text) {
            *c = Cell {
                ch: b as char,
                written,
            };
        }
        self.col += room as u16;
    }

    /// The cells of the cursor's row, made if need be (the row farthest away is forgotten
    /// when too many are kept).
    fn row_cells(&mut self) -> &mut Vec<Cell> {
        if !self.rows.contains_key(&self.row) && self.rows.len() >= MAX_ROWS {
            let far = *self
                .rows
                .keys()
                .max_by_key(|&&r| r.abs_diff(self.row))
                .expect("rows is not empty");
            self.rows.remove(&far);
        }
        self.rows.entry(self.row).or_default()
    }

    fn put(&mut self, ch: char) {
        let col = usize::from(self.col);
        if col >= MAX_COLS {
            return;
        }
        let written = self.reads;
        let cells = self.row_cells();
        let blank = Cell {
            ch: ' ',
            written: 0,
        };
        if cells.len() <= col {
            cells.resize(col + 1, blank);
        }
        cells[col] = Cell { ch, written };
        self.col += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(bytes: &[u8]) -> String {
        let mut s = Screen::new(24);
        s.feed(bytes);
        s.before_cursor(0).0
    }

    #[test]
    fn prompts_drawn_with_escapes_read_as_text() {
        assert_eq!(shown(b"ok\r\nPassword: "), "Password: ");
        assert_eq!(
            shown(b"\x1b[H\x1b[2J\x1b[?25l\x1b[24;1HEnter encryption key: \x1b[?25h"),
            "Enter encryption key: "
        );
        assert_eq!(
            shown(b"\x1b[32m?\x1b[0m \x1b[1mEnter your API token\x1b[22m \x1b[0m "),
            "? Enter your API token  "
        );
        // pinentry-curses: the dialog is drawn, then the cursor goes to the entry field.
        let pinentry = b"\x1b[12;13H\x1b(0\x1b[0mx\x1b(B\x1b[0m Passphrase: ________ \x1b(0x\x1b(B\x1b[14;21H<OK>\x1b[14;55H<Cancel>\x1b[12;27H\x1b(0\x1b[0m\x1b(B";
        assert_eq!(shown(pinentry).trim_start(), "x Passphrase: ");
        assert_eq!(
            shown("Mot de passe\u{a0}: ".as_bytes()),
            "Mot de passe\u{a0}: "
        );
    }

    #[test]
    fn old_text_next_to_the_cursor_is_not_fresh() {
        let mut s = Screen::new(24);
        s.feed(b"\x1b[3;1Hdb password: x");
        // A keystroke (the mark), then the program moves the cursor next to the old text.
        let mark = s.drawn();
        s.feed(b"\x1b[3;14H");
        let (text, fresh) = s.before_cursor(mark);
        assert_eq!(text, "db password: ");
        assert!(!fresh);
        s.feed(b"\x1b[3;1Hdb password: ");
        assert!(s.before_cursor(mark).1);
    }

    #[test]
    fn hostile_sequences_stay_bounded() {
        let mut s = Screen::new(24);
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100_000));
        s.feed(&long);
        s.feed(b"\x1b[99999;99999Hx");
        s.feed(b"\rPIN: ");
        assert_eq!(s.before_cursor(0).0, "PIN: ");
        s.feed(&vec![b'\n'; 10_000]);
        s.feed(&[0xff, 0xe2, 0x82]);
    }
}
