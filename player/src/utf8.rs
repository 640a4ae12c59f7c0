//! Incremental UTF-8 decoding for display: a character split across two output events is
//! joined; invalid bytes become U+FFFD and DEL is dropped (only on screen, never on disk).

/// Decodes a byte stream chunk by chunk.
#[derive(Default)]
pub(crate) struct Utf8Decoder {
    carry: Vec<u8>,
}

impl Utf8Decoder {
    /// A decoder that continues after `carry`, the start of an unfinished character.
    pub(crate) fn with_carry(carry: Vec<u8>) -> Self {
        Utf8Decoder { carry }
    }

    /// The start of an unfinished character, kept for the next call.
    pub(crate) fn carry(&self) -> &[u8] {
        &self.carry
    }

    /// Decodes `bytes` after any incomplete sequence left from the previous call.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(bytes);
        let mut out = String::with_capacity(buf.len());
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &after[n..];
                        }
                        None => {
                            self.carry = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        // A terminal ignores DEL wherever it comes (the VT parser drops it in every state);
        // the emulator would print it, so it is dropped here, for the screen and transcripts.
        if memchr::memchr(0x7f, out.as_bytes()).is_some() {
            out.retain(|c| c != '\x7f');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_split_characters() {
        let mut d = Utf8Decoder::default();
        assert_eq!(d.decode(b"a\xe6\x97"), "a");
        assert_eq!(d.decode(b"\xa5b\xff"), "日b\u{FFFD}");
    }

    #[test]
    fn drops_del_as_a_terminal_does() {
        let mut d = Utf8Decoder::default();
        assert_eq!(
            d.decode(b"ab\x7fc\x1b]0;t\x7fi\x07\x7f"),
            "abc\x1b]0;ti\x07"
        );
    }
}
