//! A virtual terminal's screen as HTML: one `<pre>` of `<span>`s with inline colours, drawn
//! from the emulator's cells (never the recorded bytes), every character escaped, so a
//! hostile recording cannot put markup or script into a report.

use std::fmt::Write;

use avt::{Color, Pen};

use crate::screen::VirtualTerminal;

/// The default foreground and background of a report's screens.
const FG: &str = "#d0d0d0";
const BG: &str = "#101010";

/// The xterm palette's first 16 colours.
const BASIC: [&str; 16] = [
    "#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
    "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
];

/// The screen as `<pre class="screen">...</pre>`.
pub fn screen_html(vt: &VirtualTerminal) -> String {
    // As wide as the terminal, whatever the last column holds.
    let mut out = format!("<pre class=\"screen\" style=\"width:{}ch\">", vt.size().0);
    for row in vt.rows() {
        let end = row
            .iter()
            .rposition(|c| c.0 != ' ' || !c.2.is_default())
            .map_or(0, |i| i + 1);
        let mut open: Option<Pen> = None;
        for &(ch, _, pen) in &row[..end] {
            if open != Some(pen) {
                if open.is_some_and(|p| !p.is_default()) {
                    out.push_str("</span>");
                }
                if !pen.is_default() {
                    let _ = write!(out, "<span style=\"{}\">", style(&pen));
                }
                open = Some(pen);
            }
            escape_char(ch, &mut out);
        }
        if open.is_some_and(|p| !p.is_default()) {
            out.push_str("</span>");
        }
        out.push('\n');
    }
    out.push_str("</pre>");
    out
}

/// `text` with `& < > " '` escaped, for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        escape_char(ch, &mut out);
    }
    out
}

fn escape_char(ch: char, out: &mut String) {
    match ch {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        // Line breaks and tabs are text; other controls and bidi overrides never reach the
        // page as themselves.
        '\n' | '\t' => out.push(ch),
        c if c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c) =>
        {
            out.push('\u{fffd}')
        }
        c => out.push(c),
    }
}

fn style(pen: &Pen) -> String {
    let (mut fg, mut bg) = (pen.foreground().map(css), pen.background().map(css));
    if pen.is_inverse() {
        let f = fg.take().unwrap_or_else(|| FG.to_string());
        let b = bg.take().unwrap_or_else(|| BG.to_string());
        fg = Some(b);
        bg = Some(f);
    }
    let mut s = String::new();
    if let Some(c) = fg {
        let _ = write!(s, "color:{c};");
    }
    if let Some(c) = bg {
        let _ = write!(s, "background:{c};");
    }
    if pen.is_bold() {
        s.push_str("font-weight:bold;");
    }
    if pen.is_faint() {
        s.push_str("opacity:.6;");
    }
    if pen.is_italic() {
        s.push_str("font-style:italic;");
    }
    match (pen.is_underline(), pen.is_strikethrough()) {
        (true, true) => s.push_str("text-decoration:underline line-through;"),
        (true, false) => s.push_str("text-decoration:underline;"),
        (false, true) => s.push_str("text-decoration:line-through;"),
        (false, false) => {}
    }
    s
}

fn css(c: Color) -> String {
    match c {
        Color::RGB(rgb) => format!("#{:02x}{:02x}{:02x}", rgb.r, rgb.g, rgb.b),
        Color::Indexed(i) if i < 16 => BASIC[i as usize].to_string(),
        Color::Indexed(i) if i < 232 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(i / 36),
                level(i / 6 % 6),
                level(i % 6)
            )
        }
        Color::Indexed(i) => {
            let v = 8 + 10 * (i - 232);
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessrec_formats::EventData;

    #[test]
    fn markup_in_a_recording_stays_text() {
        let mut vt = VirtualTerminal::new(40, 3);
        vt.apply(&EventData::Output(
            b"<script>alert(1)</script> \x1b[31mred\x1b[0m \"q\" &".to_vec(),
        ));
        let html = screen_html(&vt);
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<span style=\"color:#cd0000;\">red</span>"),
            "{html}"
        );
        assert!(html.contains("&quot;q&quot; &amp;"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert_eq!(escape("a\nb\u{202e}"), "a\nb\u{fffd}");
    }
}
