//! The output side of a secret typed with echo on (`read -p 'Password: '`, `sudo -S`, `aws
//! configure`): the user still sees it live, but the recording gets each visible character of
//! the echo as `*`. Escape sequences pass unchanged, so the recorded screen keeps its shape.

/// At most this many output bytes are masked once the secret's Enter was typed: the rest of the
/// echo, up to the end of the line or the next escape sequence (a full-screen program moving
/// on).
const AFTER_ENTER: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seq {
    None,
    Esc,
    Csi,
    Str,
    StrEsc,
}

/// Masks echoed secrets in the output.
pub struct Mask {
    /// A secret is being typed: every visible character is masked.
    active: bool,
    /// The Enter was typed: mask until the end of the line, this many bytes at most.
    after: usize,
    seq: Seq,
}

impl Mask {
    /// A mask that is off.
    pub fn new() -> Mask {
        Mask {
            active: false,
            after: 0,
            seq: Seq::None,
        }
    }

    /// A secret prompt's run began (true) or its Enter was typed (false).
    pub fn set(&mut self, typing: bool) {
        if typing {
            self.active = true;
        } else if self.active {
            self.active = false;
            self.after = AFTER_ENTER;
        }
    }

    /// Whether output must go through [`Mask::apply`].
    pub fn on(&self) -> bool {
        self.active || self.after > 0
    }

    /// The recorded form of `bytes`.
    pub fn apply(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if !self.on() {
                out.push(b);
                continue;
            }
            if !self.active {
                self.after -= 1;
            }
            self.seq = match (self.seq, b) {
                (Seq::None, 0x1b) if !self.active => {
                    self.after = 0;
                    Seq::Esc
                }
                (Seq::None, 0x1b) => Seq::Esc,
                (Seq::Esc, b'[') => Seq::Csi,
                (Seq::Esc, b']' | b'P' | b'_' | b'^') => Seq::Str,
                (Seq::Esc, _) => Seq::None,
                (Seq::Csi, 0x40..=0x7e) => Seq::None,
                (Seq::Csi, _) => Seq::Csi,
                (Seq::Str, 0x07) => Seq::None,
                (Seq::Str, 0x1b) => Seq::StrEsc,
                (Seq::StrEsc, b'\\') => Seq::None,
                (Seq::Str | Seq::StrEsc, _) => Seq::Str,
                (Seq::None, _) => {
                    match b {
                        b'\r' | b'\n' if !self.active => self.after = 0,
                        0x20..=0x7e | 0xc0..=0xff => {
                            out.push(b'*');
                            continue;
                        }
                        // The rest of a character already masked.
                        0x80..=0xbf => continue,
                        _ => {}
                    }
                    Seq::None
                }
            };
            out.push(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_is_masked_until_the_end_of_its_line() {
        let mut m = Mask::new();
        assert!(!m.on());
        m.set(true);
        let a = m.apply("hun\x1b[1mté".as_bytes());
        assert_eq!(a, b"***\x1b[1m**");
        m.set(false);
        assert_eq!(m.apply(b"r2\r\nok $ "), b"**\r\nok $ ");
        assert!(!m.on());
        assert_eq!(m.apply(b"plain"), b"plain");
    }
}
