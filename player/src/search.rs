//! Search: text that appeared on the screen (the output with its escape sequences taken out)
//! and text that was typed, case-insensitively; a hit is the moment the text was complete.

use memchr::memmem::Finder;
use sessrec_formats::{EventData, Micros};

use crate::timeline::Timeline;

/// Where a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// On the screen.
    Output,
    /// In the keystrokes.
    Input,
}

/// A hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// When the text was complete.
    pub time: Micros,
    /// Where.
    pub source: Source,
}

/// Every hit of `pattern` in `timeline`, in time order, at most `limit`.
pub fn find_all(timeline: &Timeline, pattern: &str, limit: usize) -> Vec<Hit> {
    let mut hits = Vec::new();
    scan(timeline, pattern, |hit| {
        hits.push(hit);
        hits.len() < limit
    });
    hits
}

/// The first hit after `after`.
pub fn next(timeline: &Timeline, pattern: &str, after: Micros) -> Option<Hit> {
    let mut found = None;
    scan(timeline, pattern, |hit| {
        if hit.time > after {
            found = Some(hit);
            return false;
        }
        true
    });
    found
}

/// The last hit before `before`.
pub fn previous(timeline: &Timeline, pattern: &str, before: Micros) -> Option<Hit> {
    let mut found = None;
    scan(timeline, pattern, |hit| {
        if hit.time >= before {
            return false;
        }
        found = Some(hit);
        true
    });
    found
}

/// Calls `each` with every hit in time order until it returns false.
fn scan(timeline: &Timeline, pattern: &str, mut each: impl FnMut(Hit) -> bool) {
    let needle = pattern.to_lowercase().into_bytes();
    if needle.is_empty() {
        return;
    }
    let finder = Finder::new(&needle);
    let mut output = Stream::default();
    let mut input = Stream::default();
    for index in 0..timeline.segments.len() {
        for (time, data) in timeline.events(index) {
            let (stream, source) = match &data {
                EventData::Output(_) => (&mut output, Source::Output),
                EventData::Input(_) => (&mut input, Source::Input),
                _ => continue,
            };
            let (EventData::Output(bytes) | EventData::Input(bytes)) = &data else {
                continue;
            };
            if stream.push(bytes, &finder, needle.len()) && !each(Hit { time, source }) {
                return;
            }
        }
    }
}

/// Text with its escape sequences taken out, and the tail that a match may start in.
#[derive(Default)]
struct Stream {
    strip: Strip,
    window: Vec<u8>,
}

impl Stream {
    /// Adds an event's bytes; whether a match ends in them.
    fn push(&mut self, bytes: &[u8], finder: &Finder, len: usize) -> bool {
        let keep = len.saturating_sub(1).min(self.window.len());
        self.window.drain(..self.window.len() - keep);
        let old = self.window.len();
        self.strip.push(bytes, &mut self.window);
        // The window holds fewer than `len` older bytes: any match in it ends in the new ones.
        let hit = self.window.len() > old && finder.find(&self.window).is_some();
        if hit {
            // A hit is reported once: forget the text it was found in.
            self.window.clear();
        }
        hit
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Strip {
    #[default]
    Text,
    Escape,
    Csi,
    /// OSC, DCS, SOS, PM, APC: up to BEL or ST.
    Text8,
    Text8Escape,
}

impl Strip {
    /// Appends the text of `bytes` to `out`, lower-cased.
    fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            *self = match (*self, b) {
                (Strip::Text, 0x1b) => Strip::Escape,
                (Strip::Text, b'\n') => {
                    out.push(b'\n');
                    Strip::Text
                }
                (Strip::Text, b) if b < 0x20 || b == 0x7f => Strip::Text,
                (Strip::Text, b) => {
                    out.push(b.to_ascii_lowercase());
                    Strip::Text
                }
                (Strip::Escape, b'[') => Strip::Csi,
                (Strip::Escape, b']' | b'P' | b'X' | b'^' | b'_') => Strip::Text8,
                (Strip::Escape, _) => Strip::Text,
                (Strip::Csi, 0x40..=0x7e) => Strip::Text,
                (Strip::Csi, _) => Strip::Csi,
                (Strip::Text8, 0x07) => Strip::Text,
                (Strip::Text8, 0x1b) => Strip::Text8Escape,
                (Strip::Text8, _) => Strip::Text8,
                (Strip::Text8Escape, _) => Strip::Text,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessrec_formats::Event;

    fn timeline(events: Vec<Event>) -> Timeline {
        Timeline::build(80, 24, events.into_iter().map(Ok::<_, ()>)).unwrap()
    }

    #[test]
    fn finds_text_split_by_escapes_and_events_and_what_was_typed() {
        let t = timeline(vec![
            Event::output(1_000_000, "$ kube"),
            Event::output(2_000_000, "\x1b[1mctl\x1b[0m DEL"),
            Event::output(3_000_000, "ete pod\r\n"),
            Event {
                time: 4_000_000,
                data: EventData::Input(b"kubectl delete ns\r".to_vec()),
            },
            Event::output(70_000_000, "kubectl delete again"),
        ]);
        let hits = find_all(&t, "kubectl delete", 10);
        assert_eq!(
            hits,
            [
                Hit {
                    time: 3_000_000,
                    source: Source::Output
                },
                Hit {
                    time: 4_000_000,
                    source: Source::Input
                },
                Hit {
                    time: 70_000_000,
                    source: Source::Output
                },
            ]
        );
        assert_eq!(
            next(&t, "KUBECTL delete", 3_000_000).unwrap().time,
            4_000_000
        );
        assert_eq!(
            previous(&t, "kubectl delete", 70_000_000).unwrap().time,
            4_000_000
        );
        assert_eq!(next(&t, "absent", 0), None);
    }
}
