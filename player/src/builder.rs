//! Building a [`Timeline`] in one pass over the events: cutting them into segments, collecting
//! markers and keystrokes, and computing each segment's keyframe, either here as the events
//! come or on a pool of threads ([`crate::parallel`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use sessrec_formats::{Event, EventData, Micros};

use crate::parallel::{Keyed, ParallelKeyframes, Pending};
use crate::screen::{Keyframe, VirtualTerminal, screen_size};
use crate::stored::{Spill, StoredEvents};
use crate::timeline::{
    MARKERS_PER_SEGMENT, Marker, MarkerKind, SEGMENT_BYTES, SEGMENT_EVENT_BYTES, SEGMENT_TIME,
    SUSPICIOUS_MARKERS_PER_SEGMENT, Segment, Timeline, compress, encode,
};

/// Builds a [`Timeline`] from events in time order.
pub struct TimelineBuilder {
    keyframes: Keyframes,
    /// The terminal's size after the events so far.
    size: (usize, usize),
    done: Vec<Segment>,
    open: Option<Open>,
    markers: Vec<Marker>,
    /// Markers past a segment's share (still in the segment's events, not in the list).
    markers_not_listed: u64,
    last: Micros,
    exit: Option<i32>,
    output_bytes: u64,
    initial_size: (usize, usize),
    /// Markers handed over by [`TimelineBuilder::publish`] so far.
    published: usize,
    spill: Spill,
}

/// Where keyframes come from.
enum Keyframes {
    /// A terminal fed here, event by event.
    Here(Box<VirtualTerminal>),
    /// A pool of threads; the start times of the segments handed to it and not back yet.
    Pool {
        pool: Box<ParallelKeyframes>,
        waiting: VecDeque<Micros>,
        failed: Option<String>,
    },
}

struct Open {
    start: Micros,
    /// Known at once when the terminal is fed here.
    keyframe: Option<Keyframe>,
    raw: Vec<u8>,
    /// Output bytes in it.
    output: usize,
    /// Markers in it: other markers, and suspicious-input ones.
    markers: (usize, usize),
    size: (usize, usize),
}

impl TimelineBuilder {
    /// Starts with a `cols`×`rows` terminal.
    pub fn new(cols: u16, rows: u16) -> TimelineBuilder {
        let term = VirtualTerminal::new(cols, rows);
        let initial_size = term.size();
        TimelineBuilder {
            keyframes: Keyframes::Here(Box::new(term)),
            size: initial_size,
            done: Vec::new(),
            open: None,
            markers: Vec::new(),
            markers_not_listed: 0,
            last: 0,
            exit: None,
            output_bytes: 0,
            initial_size,
            published: 0,
            spill: Spill::none(),
        }
    }

    /// Keeps compressed segments past `budget` bytes in an unnamed file in `dir` rather than
    /// in memory (a full disk leaves them in memory).
    pub fn spill_to(mut self, dir: PathBuf, budget: usize) -> TimelineBuilder {
        self.spill = Spill::to(dir, budget);
        self
    }

    /// Computes keyframes on `workers` threads, `chunk_segments` segments at a time, giving the
    /// same keyframes sooner on several cores. A segment is then handed over only once its
    /// keyframe is known, so the still-open segment of a live recording is not: live
    /// recordings are better built here. Call it before the first event.
    pub fn on_threads(
        mut self,
        workers: usize,
        chunk_segments: usize,
    ) -> std::io::Result<TimelineBuilder> {
        let Keyframes::Here(term) = &self.keyframes else {
            return Ok(self);
        };
        let pool = Box::new(ParallelKeyframes::start(
            term.keyframe(),
            workers,
            chunk_segments,
        )?);
        self.keyframes = Keyframes::Pool {
            pool,
            waiting: VecDeque::new(),
            failed: None,
        };
        Ok(self)
    }

    /// Adds the next event. Times that go backwards are taken as the previous time.
    ///
    /// Every kind of event is kept the same way, compressed in its segment, and a segment ends
    /// at [`SEGMENT_BYTES`] of output or [`SEGMENT_EVENT_BYTES`] of events of any kind: memory
    /// follows the compressed size whatever the recording holds. Beside that, only markers are listed (for the timeline bar and
    /// `[` `]`), a bounded share of each segment's.
    pub fn push(&mut self, event: &Event) {
        if let EventData::Other { .. } = event.data {
            return;
        }
        let time = event.time.max(self.last);
        self.last = time;
        let cut = self.open.as_ref().is_some_and(|o| {
            o.output >= SEGMENT_BYTES
                || o.raw.len() >= SEGMENT_EVENT_BYTES
                || time.saturating_sub(o.start) >= SEGMENT_TIME
        });
        if cut {
            self.close();
        }
        let open = self.open.get_or_insert_with(|| Open {
            start: time,
            keyframe: match &self.keyframes {
                Keyframes::Here(term) => Some(term.keyframe()),
                Keyframes::Pool { .. } => None,
            },
            raw: Vec::new(),
            output: 0,
            markers: (0, 0),
            size: self.size,
        });
        match &event.data {
            EventData::Output(bytes) => {
                open.output += bytes.len();
                self.output_bytes += bytes.len() as u64;
            }
            EventData::Marker(label) => {
                let marker = Marker::listed(time, label);
                // Counted apart: a flood of other markers cannot use up suspicious input's share.
                let (count, share) = if marker.kind == MarkerKind::Suspicious {
                    (&mut open.markers.1, SUSPICIOUS_MARKERS_PER_SEGMENT)
                } else {
                    (&mut open.markers.0, MARKERS_PER_SEGMENT)
                };
                *count += 1;
                if *count <= share {
                    self.markers.push(marker);
                } else {
                    self.markers_not_listed += 1;
                }
            }
            EventData::Exit(code) => self.exit = Some(*code),
            _ => {}
        }
        encode(&mut open.raw, time, &event.data);
        match &event.data {
            // The same rule as the terminal's, so a chunk's guess starts at the right size.
            EventData::Resize { cols, rows } if *cols > 0 && *rows > 0 => {
                self.size = screen_size(*cols, *rows);
            }
            _ => {}
        }
        if let Keyframes::Here(term) = &mut self.keyframes {
            term.apply(&event.data);
        }
    }

    fn close(&mut self) {
        let Some(o) = self.open.take() else { return };
        match &mut self.keyframes {
            Keyframes::Here(_) => self.done.push(Segment {
                start: o.start,
                keyframe: o.keyframe.expect("kept when fed here"),
                events: self.spill.keep(compress(&o.raw)),
            }),
            Keyframes::Pool {
                pool,
                waiting,
                failed,
            } => {
                waiting.push_back(o.start);
                let pending = Pending {
                    start: o.start,
                    raw: o.raw,
                    size: o.size,
                };
                let mut keyed = Vec::new();
                if let Err(e) = pool.add(pending, &mut keyed) {
                    failed.get_or_insert(e);
                }
                self.take(keyed);
            }
        }
    }

    /// Moves segments whose keyframes came back to `done`.
    fn take(&mut self, keyed: Vec<Keyed>) {
        if let Keyframes::Pool { waiting, .. } = &mut self.keyframes {
            for k in keyed {
                waiting.pop_front();
                self.done.push(Segment {
                    start: k.start,
                    keyframe: k.keyframe,
                    events: self.spill.keep(k.compressed),
                });
            }
        }
    }

    /// Collects keyframes the pool has finished, without waiting.
    fn collect(&mut self) {
        let mut keyed = Vec::new();
        if let Keyframes::Pool { pool, failed, .. } = &mut self.keyframes
            && let Err(e) = pool.collect(&mut keyed)
        {
            failed.get_or_insert(e);
        }
        self.take(keyed);
    }

    /// Why keyframes could not be computed, if they could not (the timeline then ends early).
    pub fn failed(&self) -> Option<&str> {
        match &self.keyframes {
            Keyframes::Pool { failed, .. } => failed.as_deref(),
            Keyframes::Here(_) => None,
        }
    }

    /// Hands what is finished so far over to `timeline` (a background build does so as it
    /// goes, so that playback can start at once).
    pub fn publish(&mut self, timeline: &mut Timeline) {
        self.collect();
        if std::mem::take(&mut timeline.provisional) {
            timeline.segments.pop();
        }
        timeline.segments.append(&mut self.done);
        // The open segment goes too, as a copy, so that the player reaches the last event.
        if let Some(o) = &self.open
            && let Some(keyframe) = &o.keyframe
        {
            timeline.segments.push(Segment {
                start: o.start,
                keyframe: keyframe.clone(),
                events: StoredEvents::Memory(compress(&o.raw)),
            });
            timeline.provisional = true;
        }
        timeline.generation += 1;
        timeline
            .markers
            .extend_from_slice(&self.markers[self.published..]);
        self.published = self.markers.len();
        timeline.markers_not_listed = self.markers_not_listed;
        // With a pool, the timeline reaches as far as the first segment without a keyframe.
        timeline.duration = match &self.keyframes {
            Keyframes::Pool { waiting, .. } => waiting
                .front()
                .or(self.open.as_ref().map(|o| &o.start))
                .copied()
                .unwrap_or(self.last),
            Keyframes::Here(_) => self.last,
        };
        timeline.exit = self.exit;
        timeline.output_bytes = self.output_bytes;
        timeline.initial_size = self.initial_size;
    }

    /// Whether finished segments wait to be published.
    pub fn has_finished_segments(&mut self) -> bool {
        self.collect();
        !self.done.is_empty()
    }

    /// An empty timeline to publish into.
    pub fn empty(&self) -> Timeline {
        Timeline {
            segments: Vec::new(),
            markers: Vec::new(),
            markers_not_listed: 0,
            duration: 0,
            exit: None,
            output_bytes: 0,
            initial_size: self.initial_size,
            generation: 0,
            provisional: false,
            read_error: Mutex::new(None),
        }
    }

    /// The time of the last event so far.
    pub fn position(&self) -> Micros {
        self.last
    }

    /// Closes the last segment and waits for every keyframe; then
    /// [`TimelineBuilder::publish`] hands over the rest.
    pub fn close_last(&mut self) {
        self.close();
        let mut keyed = Vec::new();
        if let Keyframes::Pool { pool, failed, .. } = &mut self.keyframes
            && let Err(e) = pool.finish(&mut keyed)
        {
            failed.get_or_insert(e);
        }
        self.take(keyed);
    }

    /// The finished timeline.
    pub fn finish(mut self) -> Timeline {
        self.close_last();
        let mut t = self.empty();
        self.publish(&mut t);
        t
    }
}
