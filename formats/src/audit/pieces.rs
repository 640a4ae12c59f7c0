//! Checking a whole chain from its pieces, in order: a host's log, or the segments it was
//! shipped in. Pieces may overlap (a segment stored again after a crash, from the same start);
//! a line seen twice must be the same line.

use std::io::{BufRead, Read};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{ChainBreak, ChainCheck, ChainSummary, MAX_AUDIT_LINE};
use crate::keys::PublicKey;

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
/// order. Stops at the first break.
pub fn check_pieces<R: BufRead>(
    pieces: impl IntoIterator<Item = (String, R)>,
    trusted: Vec<PublicKey>,
    mut on_line: impl FnMut(&Map<String, Value>),
) -> std::io::Result<ChainReport> {
    let mut check = ChainCheck::new(trusted);
    let mut lines = 0u64;
    let mut count = 0u64;
    let mut problem = None;
    let mut verdict = None;
    let mut buf = Vec::new();
    'pieces: for (name, mut reader) in pieces {
        count += 1;
        let mut number = 0u64;
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_AUDIT_LINE as u64 + 2)
                .read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            number += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            let at = |why: String| format!("{name} line {number}: {why}");
            let seq = serde_json::from_slice::<Value>(&buf)
                .ok()
                .and_then(|v| v.get("seq").and_then(Value::as_u64));
            let head = check.summary().head;
            match (seq, head) {
                // The first line of the chain must be its first.
                (Some(s), None) if s != 1 => {
                    verdict = Some(ChainVerdict::Cut);
                    problem = Some(at(format!(
                        "the chain starts at seq {s}: the lines before it are missing"
                    )));
                    break 'pieces;
                }
                // A line already seen (overlapping pieces) must be the very same line.
                (Some(s), Some(h)) if s <= h.seq => {
                    if s == h.seq && <[u8; 32]>::from(Sha256::digest(&buf)) != h.hash {
                        verdict = Some(ChainVerdict::Altered);
                        problem = Some(at(format!("seq {s} appears twice, with other content")));
                        break 'pieces;
                    }
                    continue;
                }
                _ => {}
            }
            match check.feed(&buf) {
                Ok(fields) => {
                    lines += 1;
                    on_line(&fields);
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
        check_pieces(pieces, vec![key.public()], |_| {}).unwrap()
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
        // A line edited in a repeat.
        let edited = l[2].replace("\"i\":2", "\"i\":3");
        let twice = check(&key, &[l[..3].concat(), edited]);
        assert_eq!(twice.verdict, ChainVerdict::Altered);
    }
}
