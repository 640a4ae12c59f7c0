//! Text that came from a recording, a manifest, a store or a recorded user's environment, made
//! safe to print on a reviewer's terminal.
//!
//! Everything a recorded engineer controls (a command line, `TERM`, a user or host name, a marker,
//! a file name in the spool) may carry escape sequences meant for the person who reads it later:
//! OSC 52 writes the clipboard, OSC 0 the window title, `\r` plus `CSI 2K` rewrites the line just
//! printed (a verdict, say), and bidirectional overrides or zero-width characters make text read
//! differently from what it is. [`terminal_safe`] shows every such character as a visible escape
//! instead, so the reviewer sees that it was there and nothing acts on it.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character that could act on a terminal or hide what the text says
/// written as a visible escape: C0 controls, ESC and DEL as `\xHH` (`\n` and `\t` too),
/// C1 controls, bidirectional controls, zero-width and other invisible format characters as
/// `\u{HHHH}`. Text without such characters is returned as it is, without a copy.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Like [`terminal_safe`], but keeps line feeds and tabs: for text shown as lines (transcripts).
pub fn terminal_safe_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let keep = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !is_unsafe(c) || keep(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_invisible_format(c)
}

/// Bidirectional controls, zero-width characters and other code points that print as nothing
/// but change how the text around them reads: Unicode's format characters (category Cf) and
/// default-ignorable code points, variation selectors among them (a `ro\u{fe0f}ot` must not
/// read as `root`).
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'              // soft hyphen
        | '\u{034F}'            // combining grapheme joiner
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}' | '\u{08E2}'
        | '\u{061C}'            // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'            // zero-width no-break space (BOM)
        | '\u{FFF0}'..='\u{FFFB}' // unassigned specials, interlinear annotation
        | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1345F}' // Egyptian hieroglyph format controls
        | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}' // musical symbol format controls
        | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

/// JSON text with every character that [`terminal_safe`] would escape written as a JSON
/// `\uXXXX` escape instead: the same JSON value, safe on a terminal. serde_json escapes C0
/// controls itself but leaves DEL, C1 controls, bidi and zero-width characters raw. A raw line
/// feed, tab or carriage return can only be the layout of pretty JSON, and is kept.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let escape = |c: char| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r');
    if !json.chars().any(escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escape(c) {
            push_json_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `c` as JSON `\uXXXX` escapes (a surrogate pair above U+FFFF).
pub(crate) fn push_json_escape(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        let _ = write!(out, "\\u{unit:04x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(
            terminal_safe("alice@bastion ümlaut 日本"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escape_sequences_and_rewrites_are_visible() {
        assert_eq!(
            terminal_safe("a\x1b]52;c;eA==\x07b"),
            "a\\x1b]52;c;eA==\\x07b"
        );
        assert_eq!(
            terminal_safe("x\r\x1b[2Kintact\n"),
            "x\\x0d\\x1b[2Kintact\\x0a"
        );
        assert_eq!(terminal_safe("\u{9b}31m\x7f"), "\\u{009b}31m\\x7f");
    }

    #[test]
    fn bidi_and_zero_width_are_visible() {
        assert_eq!(terminal_safe("rm\u{202E}fdp.exe"), "rm\\u{202e}fdp.exe");
        assert_eq!(
            terminal_safe("a\u{200B}b\u{2066}c\u{FEFF}"),
            "a\\u{200b}b\\u{2066}c\\u{feff}"
        );
        assert_eq!(terminal_safe("tag\u{E0041}"), "tag\\u{e0041}");
    }

    #[test]
    fn other_invisible_characters_are_visible() {
        for c in [
            '\u{1BCA0}',
            '\u{FFF0}',
            '\u{FE0F}',
            '\u{0600}',
            '\u{13430}',
            '\u{180E}',
        ] {
            assert!(
                terminal_safe(&format!("ro{c}ot")).starts_with("ro\\u{"),
                "{c:?}"
            );
        }
    }

    #[test]
    fn json_stays_the_same_value_and_becomes_terminal_safe() {
        let text = "{\n  \"user\": \"a\u{9b}31m\u{202E}x\u{7f}\u{E0041}\\n\"\n}";
        let safe = json_safe(text);
        assert!(safe.is_ascii() && safe.contains("{\n"), "{safe}");
        assert!(
            safe.contains("\\u009b") && safe.contains("\\udb40\\udc41"),
            "{safe}"
        );
    }

    #[test]
    fn lines_keep_line_feeds_and_tabs() {
        assert_eq!(
            terminal_safe_lines("a\tb\nc\x1b[0m\r"),
            "a\tb\nc\\x1b[0m\\x0d"
        );
    }

    #[test]
    fn every_control_character_is_caught() {
        for c in (0u32..0xa0)
            .filter_map(char::from_u32)
            .filter(|c| c.is_control())
        {
            let shown = terminal_safe_lines(&c.to_string()).into_owned();
            if c == '\n' || c == '\t' {
                assert_eq!(shown, c.to_string());
            } else {
                assert!(
                    shown.starts_with('\\') && shown.is_ascii(),
                    "{c:?} -> {shown:?}"
                );
            }
        }
    }
}
