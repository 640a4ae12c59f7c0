//! Lossless handling of bytes that are not valid UTF-8.
//!
//! asciicast stores event data as JSON strings, which must be valid UTF-8. sessrec never replaces
//! invalid bytes with U+FFFD on disk: an output or input chunk is split into runs, valid runs
//! become ordinary `o`/`i` events and each invalid run becomes one `b` event whose data is the
//! stream letter, a colon and the bytes in standard base64, e.g. `[0.000, "b", "o:/w=="]`.
//! Players that do not know `b` skip it (the asciicast spec says readers ignore unknown codes),
//! which is what they would show for invalid bytes anyway; sessrec's readers put the bytes back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Valid runs shorter than this between invalid bytes go into the raw piece.
const MIN_TEXT_RUN: usize = 32;

/// The event code for raw (non-UTF-8) bytes.
pub(crate) const RAW_CODE: &str = "b";

/// A piece of a byte chunk.
pub(crate) enum Piece<'a> {
    /// Valid UTF-8.
    Text(&'a str),
    /// Bytes that are not valid UTF-8 (including an incomplete sequence at the end).
    Raw(&'a [u8]),
}

/// Splits `bytes` into alternating valid and invalid pieces, in order.
pub(crate) fn pieces(mut bytes: &[u8]) -> impl Iterator<Item = Piece<'_>> {
    let mut pending_raw: Option<&[u8]> = None;
    std::iter::from_fn(move || {
        if let Some(raw) = pending_raw.take() {
            return Some(Piece::Raw(raw));
        }
        if bytes.is_empty() {
            return None;
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                bytes = &[];
                Some(Piece::Text(text))
            }
            Err(e) => {
                let valid = e.valid_up_to();
                let bad = e.error_len().unwrap_or(bytes.len() - valid);
                // Gather consecutive invalid sequences into one raw piece, with the short valid
                // runs between them: binary output would otherwise become an event every few
                // bytes (random bytes: one per byte, 2.4 times their size on disk).
                let mut end = valid + bad;
                while end < bytes.len() {
                    match std::str::from_utf8(&bytes[end..]) {
                        Err(e2) if e2.valid_up_to() < MIN_TEXT_RUN => {
                            let run = e2.valid_up_to();
                            end += run + e2.error_len().unwrap_or(bytes.len() - end - run);
                        }
                        _ => break,
                    }
                }
                let text = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
                let raw = &bytes[valid..end];
                bytes = &bytes[end..];
                if text.is_empty() {
                    Some(Piece::Raw(raw))
                } else {
                    pending_raw = Some(raw);
                    Some(Piece::Text(text))
                }
            }
        }
    })
}

/// Encodes raw bytes of stream `stream` (`'o'` or `'i'`) as `b` event data.
pub(crate) fn encode_raw(stream: char, raw: &[u8]) -> String {
    let mut s = String::with_capacity(2 + raw.len().div_ceil(3) * 4);
    s.push(stream);
    s.push(':');
    STANDARD.encode_string(raw, &mut s);
    s
}

/// Decodes `b` event data into its stream letter and bytes.
pub(crate) fn decode_raw(data: &str) -> Option<(char, Vec<u8>)> {
    let (stream, b64) = data.split_once(':')?;
    let stream = match stream {
        "o" => 'o',
        "i" => 'i',
        _ => return None,
    };
    Some((stream, STANDARD.decode(b64).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(b: &[u8]) -> Vec<(bool, Vec<u8>)> {
        pieces(b)
            .map(|p| match p {
                Piece::Text(t) => (true, t.as_bytes().to_vec()),
                Piece::Raw(r) => (false, r.to_vec()),
            })
            .collect()
    }

    #[test]
    fn splits_invalid_runs() {
        assert_eq!(split(b"abc"), vec![(true, b"abc".to_vec())]);
        // A short valid run between invalid bytes stays with them.
        assert_eq!(
            split(b"a\xff\xfeb\xe6\x97"),
            vec![
                (true, b"a".to_vec()),
                (false, b"\xff\xfeb\xe6\x97".to_vec())
            ]
        );
        // A long one is text again.
        let long = [&b"\xff"[..], &[b'x'; 40], b"\xfe"].concat();
        assert_eq!(
            split(&long),
            vec![
                (false, b"\xff".to_vec()),
                (true, vec![b'x'; 40]),
                (false, b"\xfe".to_vec())
            ]
        );
        assert_eq!(split(b"\xff"), vec![(false, b"\xff".to_vec())]);
    }

    #[test]
    fn raw_round_trip() {
        let d = encode_raw('o', b"\xff\x00x");
        assert_eq!(decode_raw(&d), Some(('o', b"\xff\x00x".to_vec())));
        assert_eq!(decode_raw("q:AA=="), None);
    }
}
