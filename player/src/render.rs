//! Drawing the virtual terminal's screen into a ratatui buffer: cells, colours, attributes,
//! wide characters and the cursor, clipped to the area and panned.

use avt::{Color as AvtColor, Pen};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

use crate::screen::VirtualTerminal;

/// The screen, drawn from column `pan.0` and row `pan.1` on.
pub(crate) struct ScreenView<'a> {
    pub term: &'a VirtualTerminal,
    pub pan: (usize, usize),
}

impl Widget for ScreenView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let cursor = self.term.cursor();
        for (y, row) in self.term.rows().skip(self.pan.1).enumerate() {
            if y >= usize::from(area.height) {
                break;
            }
            let mut col = 0usize;
            for (ch, width, pen) in row {
                let width = usize::from(width.max(1));
                let at = col;
                col += width;
                if at < self.pan.0 {
                    continue;
                }
                let x = at - self.pan.0;
                if x + width > usize::from(area.width) {
                    break;
                }
                let mut style = style_of(&pen);
                if cursor == Some((at, y + self.pan.1)) {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                let mut text = [0u8; 4];
                buf.set_stringn(
                    area.x + x as u16,
                    area.y + y as u16,
                    ch.encode_utf8(&mut text),
                    width,
                    style,
                );
            }
            // The cursor past the end of the text, or on an empty row.
            let past_text = cursor.filter(|&(cx, cy)| {
                cy == y + self.pan.1
                    && cx >= col
                    && cx >= self.pan.0
                    && cx - self.pan.0 < usize::from(area.width)
            });
            if let Some((cx, _)) = past_text {
                let cell = &mut buf[(area.x + (cx - self.pan.0) as u16, area.y + y as u16)];
                cell.set_style(Style::default().add_modifier(Modifier::REVERSED));
            }
        }
    }
}

/// The ratatui style of an avt pen.
pub(crate) fn style_of(pen: &Pen) -> Style {
    let mut style = Style::default();
    if let Some(c) = pen.foreground() {
        style = style.fg(color(c));
    }
    if let Some(c) = pen.background() {
        style = style.bg(color(c));
    }
    let flags = [
        (pen.is_bold(), Modifier::BOLD),
        (pen.is_faint(), Modifier::DIM),
        (pen.is_italic(), Modifier::ITALIC),
        (pen.is_underline(), Modifier::UNDERLINED),
        (pen.is_blink(), Modifier::SLOW_BLINK),
        (pen.is_inverse(), Modifier::REVERSED),
        (pen.is_strikethrough(), Modifier::CROSSED_OUT),
    ];
    for (on, m) in flags {
        if on {
            style = style.add_modifier(m);
        }
    }
    style
}

fn color(c: AvtColor) -> Color {
    match c {
        AvtColor::Indexed(i) => Color::Indexed(i),
        AvtColor::RGB(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
    }
}
