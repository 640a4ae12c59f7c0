//! Checking a whole chain from its pieces, in order: a host's log, or the segments it was
//! shipped in. A piece may begin with lines of the piece before it (a segment stored again
//! after a crash, from the same start); each such line must be that very line. Inside a piece
//! every line follows the one before.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{ChainBreak, ChainCheck, ChainSummary, MAX_AUDIT_LINE};
use crate::keys::PublicKey;

/// The most of a piece whose lines a next piece may repeat (a shipped segment is 512 KiB).
const REMEMBERED: usize = 1024 * 1024;

/// What a checked chain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainVerdict {
    /// Whole from seq 1, every line follows from the one before, the last is signed by a
    /// trusted key.
    Intact,
    /// Whole and linked, but the last lines are not signed yet: nothing vouches for them.
    UnsignedTail,
    /// Lines are missing: at the start, between pieces or inside one.
    Cut,
    /// A line was edited, replaced or is not an audit line.
    Altered,
    /// Signed only by keys that are not trusted.
    UntrustedKey,
    /// No line is signed.
    Unsigned,
}

/// The result of checking a chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// The verdict.
    pub verdict: ChainVerdict,
    /// What the chain held, up to where the check stopped.
    pub summary: ChainSummary,
    /// Lines read (repeats in overlapping pieces not counted).
    pub lines: u64,
    /// Pieces read.
    pub pieces: u64,
    /// Where and why the chain breaks, for a cut or altered one: "PIECE line N: why".
    pub problem: Option<String>,
}

/// Checks `pieces` (name, reader) as one chain, calling `on_line` with each line's fields in
/// order and whether a trusted key signed that line. Stops at the first break.
pub fn check_pieces<R: BufRead>(
    pieces: impl IntoIterator<Item = (String, R)>,
    trusted: Vec<PublicKey>,
    mut on_line: impl FnMut(&Map<String, Value>, bool),
) -> std::io::Result<ChainReport> {
    let mut check = ChainCheck::new(trusted);
    let mut lines = 0u64;
    let mut count = 0u64;
    let mut problem = None;
    let mut verdict = None;
    let mut buf = Vec::new();
    // The hashes of the piece before, by seq: what a piece that repeats its lines must match.
    // Kept for pieces the size of a shipped segment; a larger piece (a whole log) is not
    // repeated.
    let mut this: HashMap<u64, [u8; 32]> = HashMap::new();
    'pieces: for (name, mut reader) in pieces {
        count += 1;
        let mut number = 0u64;
        // Whether this piece is still repeating lines of the one before.
        let mut repeating = true;
        let before = std::mem::take(&mut this);
        let mut piece_bytes = 0usize;
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_AUDIT_LINE as u64 + 2)
                .read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            number += 1;
            piece_bytes += n;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            let at = |why: String| format!("{name} line {number}: {why}");
            let seq = serde_json::from_slice::<Value>(&buf)
                .ok()
                .and_then(|v| v.get("seq").and_then(Value::as_u64));
            let head = check.head();
            match (seq, head) {
                // The first line of the chain must be its first.
                (Some(s), None) if s != 1 => {
                    verdict = Some(ChainVerdict::Cut);
                    problem = Some(at(format!(
                        "the chain starts at seq {s}: the lines before it are missing"
                    )));
                    break 'pieces;
                }
                // A piece's first lines may repeat the piece before: each the very same line.
                (Some(s), Some(h)) if s <= h.seq && repeating => {
                    let hash = <[u8; 32]>::from(Sha256::digest(&buf));
                    if before.get(&s) != Some(&hash) {
                        verdict = Some(ChainVerdict::Altered);
                        problem = Some(at(format!(
                            "seq {s} repeats a line that is not the piece before's line {s}"
                        )));
                        break 'pieces;
                    }
                    this.insert(s, hash);
                    continue;
                }
                _ => {}
            }
            repeating = false;
            match check.feed(&buf) {
                Ok(fed) => {
                    lines += 1;
                    if piece_bytes > REMEMBERED {
                        this.clear();
                    } else if let Some(h) = check.head() {
                        this.insert(h.seq, h.hash);
                    }
                    on_line(&fed.fields, fed.signed);
                }
                Err(e) => {
                    verdict = Some(match e {
                        ChainBreak::Gap { .. } => ChainVerdict::Cut,
                        _ => ChainVerdict::Altered,
                    });
                    problem = Some(at(e.to_string()));
                    break 'pieces;
                }
            }
        }
    }
    let summary = check.summary();
    let verdict = verdict.unwrap_or(match (&summary.last_signed, summary.seqs) {
        (_, None) => ChainVerdict::Unsigned,
        (None, _) if !summary.untrusted.is_empty() => ChainVerdict::UntrustedKey,
        (None, _) => ChainVerdict::Unsigned,
        (Some(_), _) if summary.unsigned_tail > 0 => ChainVerdict::UnsignedTail,
        (Some(_), _) => ChainVerdict::Intact,
    });
    Ok(ChainReport {
        verdict,
        summary,
        lines,
        pieces: count,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Head, link};
    use crate::keys::SigningKey;
    use serde_json::json;

    fn lines(key: &SigningKey, n: usize) -> Vec<String> {
        let mut head = Head::START;
        (0..n)
            .map(|i| {
                let Value::Object(f) = json!({"event": "e", "i": i}) else {
                    unreachable!()
                };
                let (l, h) = link(&head, f, Some(key));
                head = h;
                l + "\n"
            })
            .collect()
    }

    fn check(key: &SigningKey, pieces: &[String]) -> ChainReport {
        let pieces = pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("p{i}"), p.as_bytes()));
        check_pieces(pieces, vec![key.public()], |_, _| {}).unwrap()
    }

    #[test]
    fn pieces_join_overlap_and_break() {
        let key = SigningKey::generate().unwrap();
        let l = lines(&key, 6);
        let whole = check(&key, &[l[..3].concat(), l[3..].concat()]);
        assert_eq!(whole.verdict, ChainVerdict::Intact);
        assert_eq!(whole.lines, 6);
        // Stored twice from the same start after a crash: the same lines, so still whole.
        let overlap = check(&key, &[l[..3].concat(), l[..5].concat(), l[5..].concat()]);
        assert_eq!(overlap.verdict, ChainVerdict::Intact);
        assert_eq!(overlap.lines, 6);
        // A piece missing in the middle, or at the start.
        let cut = check(&key, &[l[..2].concat(), l[4..].concat()]);
        assert_eq!(cut.verdict, ChainVerdict::Cut);
        assert!(cut.problem.unwrap().contains("p1 line 1"));
        let start = check(&key, &[l[2..].concat()]);
        assert_eq!(start.verdict, ChainVerdict::Cut);
        // Inside one piece a repeated or lower seq is never skipped.
        let inside = check(&key, &[l[..3].concat() + &l[1] + &l[3]]);
        assert_eq!(
            inside.verdict,
            ChainVerdict::Altered,
            "{:?}",
            inside.problem
        );
        let forged = l[..3].concat() + "{\"seq\":0,\"anything\":\"goes\"}\n";
        assert_eq!(check(&key, &[forged]).verdict, ChainVerdict::Altered);
        // A planted piece of old lines that are not the piece before's.
        let planted = check(&key, &[l[..3].concat(), l[..1].concat() + &l[3..].concat()]);
        assert_eq!(
            planted.verdict,
            ChainVerdict::Intact,
            "the very lines repeated"
        );
        let other = lines(&SigningKey::generate().unwrap(), 2);
        let planted = check(
            &key,
            &[l[..3].concat(), other[1].clone() + &l[3..].concat()],
        );
        assert_eq!(planted.verdict, ChainVerdict::Altered);
        // A line edited in a repeat.
        let edited = l[2].replace("\"i\":2", "\"i\":3");
        let twice = check(&key, &[l[..3].concat(), edited]);
        assert_eq!(twice.verdict, ChainVerdict::Altered);
    }
}
