//! Keeps a character split across two PTY reads together: the incomplete tail of a batch of
//! output is held back and put in front of the next, so output events are whole characters (a
//! truly invalid byte still goes through, losslessly, as raw bytes).

/// Length of an incomplete (but so far valid) UTF-8 sequence at the end of `b`.
pub fn incomplete_tail(b: &[u8]) -> usize {
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
    fn finds_split_characters() {
        assert_eq!(incomplete_tail(b"ab\xe6\x97"), 2);
        assert_eq!(incomplete_tail("ab日".as_bytes()), 0);
        assert_eq!(incomplete_tail(b"\xff"), 0);
        assert_eq!(incomplete_tail(b"\xf0\x9f"), 2);
        assert_eq!(incomplete_tail(b"x\xf0\x9f\x8e"), 3);
        assert_eq!(incomplete_tail(b""), 0);
    }
}
