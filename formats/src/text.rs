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
/// but change how the text around them reads (Unicode's default-ignorable format characters,
/// without the variation selectors that emoji need).
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'              // soft hyphen
        | '\u{034F}'            // combining grapheme joiner
        | '\u{061C}'            // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM, RLM
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
        | '\u{FEFF}'            // zero-width no-break space (BOM)
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}' // tags
    )
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
