//! Search: text that appeared on the screen (the output with its escape sequences taken out)
//! and text that was typed, case-insensitively; a hit is the moment the text was complete.

use memchr::memmem::Finder;
use sessrec_formats::{EventData, Micros};

use crate::load::Loading;
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
    scan(pattern, limit, |index| {
        (index < timeline.segments.len()).then(|| timeline.events(index))
    })
}

/// The same in a recording that may still be loading, as far as it is loaded. The timeline is
/// locked one segment at a time, so the loader and the player go on while this runs.
pub fn find_all_loaded(loading: &Loading, pattern: &str, limit: usize) -> Vec<Hit> {
    scan(pattern, limit, |index| {
        let timeline = loading.timeline();
        (index < timeline.segments.len()).then(|| timeline.events(index))
    })
}

/// The hits, in time order, at most `limit`, in the events `segment` gives for each index
/// until it gives none.
fn scan(
    pattern: &str,
    limit: usize,
    segment: impl Fn(usize) -> Option<Vec<(Micros, EventData)>>,
) -> Vec<Hit> {
    let mut hits = Vec::new();
    let needle = pattern.to_lowercase().into_bytes();
    if needle.is_empty() {
        return hits;
    }
    let finder = Finder::new(&needle);
    let mut output = Stream::default();
    let mut input = Stream::default();
    for events in (0..).map_while(segment) {
        for (time, data) in events {
            let (stream, source, bytes) = match &data {
                EventData::Output(bytes) => (&mut output, Source::Output, bytes),
                EventData::Input(bytes) => (&mut input, Source::Input, bytes),
                _ => continue,
            };
            if stream.push(bytes, &finder, needle.len()) {
                hits.push(Hit { time, source });
                if hits.len() >= limit {
                    return hits;
                }
            }
        }
    }
    hits
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
            find_all(&t, "KUBECTL Delete", 10),
            hits,
            "case does not matter"
        );
        assert_eq!(
            find_all(&t, "kubectl delete", 2),
            hits[..2],
            "at most the limit"
        );
        assert_eq!(find_all(&t, "absent", 10), []);
        let loaded = crate::Loading::loaded(sessrec_formats::Header::default(), t);
        assert_eq!(find_all_loaded(&loaded, "kubectl delete", 10), hits);
    }
}
