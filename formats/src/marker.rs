//! What a marker stands for. A marker's label is free text in asciicast; sessrec's recorder
//! starts the labels it writes with a fixed prefix per kind, so a reader tells the kinds apart
//! by that prefix alone, not by words that a note could also contain.

/// The kind of a marker event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkerKind {
    /// A marker set by the user or a tool (anything without a known prefix).
    Note,
    /// Input withheld from the recording (a password prompt, echo off).
    Withheld,
    /// A grant warning or the grant's expiry.
    Grant,
    /// Input that was withheld, or would have been, but looks like work rather than a
    /// password (echo off at a shell prompt, many lines, a long run): possible evasion.
    Suspicious,
}

/// The event code of escrowed input: the keystrokes of a withheld run, encrypted to the
/// policy's escrow recipients (an age file, base64), recorded right after the run's marker.
/// Players that do not know it skip it (asciicast's rule for unknown codes).
pub const ESCROW_CODE: &str = "sessrec.escrow";

impl MarkerKind {
    /// The prefix the recorder writes, `""` for a note.
    pub fn prefix(self) -> &'static str {
        match self {
            MarkerKind::Note => "",
            MarkerKind::Withheld => "input withheld: ",
            MarkerKind::Grant => "grant ",
            MarkerKind::Suspicious => "suspicious input: ",
        }
    }

    /// The label of a marker of this kind saying `text`.
    pub fn label(self, text: &str) -> String {
        format!("{}{text}", self.prefix())
    }

    /// The kind of a marker with this label.
    pub fn of(label: &str) -> MarkerKind {
        [
            MarkerKind::Withheld,
            MarkerKind::Grant,
            MarkerKind::Suspicious,
        ]
        .into_iter()
        .find(|k| label.starts_with(k.prefix()))
        .unwrap_or(MarkerKind::Note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_prefix_only() {
        for kind in [
            MarkerKind::Note,
            MarkerKind::Withheld,
            MarkerKind::Grant,
            MarkerKind::Suspicious,
        ] {
            assert_eq!(MarkerKind::of(&kind.label("x 8 keystrokes")), kind);
        }
        assert_eq!(
            MarkerKind::of("deploying the grant service"),
            MarkerKind::Note
        );
        assert_eq!(MarkerKind::of("Input withheld: no"), MarkerKind::Note);
    }
}
