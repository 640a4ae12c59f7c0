//! Seeking: the terminal at any moment, from the nearest keyframe plus at most one segment of
//! events.

use std::borrow::Cow;

use sessrec_formats::{EventData, Micros};

use crate::screen::VirtualTerminal;
use crate::timeline::Timeline;

/// The screen at a position of a [`Timeline`].
pub struct Player {
    term: VirtualTerminal,
    /// The segment whose events are decoded in `events`, and how many of them are applied.
    segment: Option<usize>,
    events: Vec<(Micros, EventData)>,
    applied: usize,
    /// The timeline's generation when `events` were decoded.
    generation: u64,
    /// The position: every event at or before it is on the screen.
    time: Micros,
}

impl Player {
    /// At the start of `timeline`, before its first event.
    pub fn new(timeline: &Timeline) -> Player {
        let (cols, rows) = timeline.initial_size;
        Player {
            term: VirtualTerminal::new(cols as u16, rows as u16),
            segment: None,
            events: Vec::new(),
            applied: 0,
            generation: timeline.generation,
            time: 0,
        }
    }

    /// The screen.
    pub fn terminal(&self) -> &VirtualTerminal {
        &self.term
    }

    /// The position.
    pub fn time(&self) -> Micros {
        self.time
    }

    /// Moves to `time`: forward from here when it is ahead in the same segment, else from the
    /// keyframe of the segment that holds it.
    pub fn seek(&mut self, timeline: &Timeline, time: Micros) {
        if timeline.segments.is_empty() {
            self.time = time;
            return;
        }
        let index = timeline.segment_at(time);
        let ahead = self.segment == Some(index)
            && time >= self.time
            && self.generation == timeline.generation;
        if !ahead {
            self.generation = timeline.generation;
            self.term = VirtualTerminal::restore(&timeline.segments[index].keyframe);
            self.events = timeline.events(index);
            self.segment = Some(index);
            self.applied = 0;
        }
        while let Some((t, data)) = self.events.get(self.applied) {
            if *t > time {
                break;
            }
            self.term.apply(data);
            self.applied += 1;
        }
        self.time = time;
    }

    /// The time of the next event after the position that changes the screen (output or a
    /// resize), if any.
    pub fn next_frame(&self, timeline: &Timeline) -> Option<Micros> {
        let first = timeline.segment_at(self.time);
        self.find_change(timeline, first..timeline.segments.len(), false, |t| {
            t > self.time
        })
    }

    /// The time of the last screen-changing event before the one shown last, if any: one
    /// frame back.
    pub fn previous_frame(&self, timeline: &Timeline) -> Option<Micros> {
        let shown = self.last_shown(timeline)?;
        let last = timeline.segment_at(shown);
        self.find_change(timeline, (0..=last).rev(), true, |t| t < shown)
    }

    /// The time of the last screen-changing event at or before the position.
    fn last_shown(&self, timeline: &Timeline) -> Option<Micros> {
        let first = timeline.segment_at(self.time);
        self.find_change(timeline, (0..=first).rev(), true, |t| t <= self.time)
    }

    /// The first screen-changing event whose time passes `keep`, looking through `segments`
    /// in the order given, each from its end if `backwards`.
    fn find_change(
        &self,
        timeline: &Timeline,
        segments: impl Iterator<Item = usize>,
        backwards: bool,
        keep: impl Fn(Micros) -> bool,
    ) -> Option<Micros> {
        for i in segments {
            // The segment on screen is decoded already.
            let events: Cow<'_, [(Micros, EventData)]> = if Some(i) == self.segment {
                Cow::Borrowed(&self.events)
            } else {
                Cow::Owned(timeline.events(i))
            };
            let wanted = |e: &&(Micros, EventData)| keep(e.0) && changes_screen(&e.1);
            let found = if backwards {
                events.iter().rev().find(wanted)
            } else {
                events.iter().find(wanted)
            };
            if let Some((t, _)) = found {
                return Some(*t);
            }
        }
        None
    }
}

fn changes_screen(d: &EventData) -> bool {
    matches!(d, EventData::Output(_) | EventData::Resize { .. })
}
