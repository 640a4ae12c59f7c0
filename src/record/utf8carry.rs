//! Keeps a character split across two PTY reads together: the incomplete tail of one read is
//! held back and prepended to the next, so the recording's output events are whole characters
//! (a truly invalid byte still goes through, losslessly, as raw bytes).

/// Holds back at most 3 bytes of an incomplete UTF-8 sequence.
#[derive(Default)]
pub struct Utf8Carry {
    held: Vec<u8>,
}

impl Utf8Carry {
    /// Returns the bytes to record now for a new chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.held.len() + chunk.len());
        bytes.append(&mut self.held);
        bytes.extend_from_slice(chunk);
        let keep = incomplete_tail(&bytes);
        self.held.extend_from_slice(&bytes[bytes.len() - keep..]);
        bytes.truncate(bytes.len() - keep);
        bytes
    }

    /// Whatever is held back, at the end.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Length of an incomplete (but so far valid) UTF-8 sequence at the end of `b`.
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let byte = b[b.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let need = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if back < need { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_split_characters() {
        let mut c = Utf8Carry::default();
        assert_eq!(c.push(b"ab\xe6\x97"), b"ab");
        assert_eq!(c.push(b"\xa5c"), "日c".as_bytes());
        assert_eq!(c.push(b"\xff"), b"\xff");
        assert_eq!(c.push(b"\xf0\x9f"), b"");
        assert_eq!(c.take(), b"\xf0\x9f");
    }
}
