//! The unsigned tail: events of a `.cast.zst` after its last checkpoint. A crash leaves a short
//! one; so does a copy cut after a checkpoint with invented events appended, and nothing in the
//! file tells the two apart. [`SignedEvents`] yields only what a checkpoint covers (or, asked
//! to, the tail too, counted), so no tool presents unsigned events as part of the evidence.

use std::collections::VecDeque;

use crate::model::{Event, EventData};
use crate::open::EventReader;
use crate::{FormatError, Result};

/// Most bytes held back while waiting for the checkpoint after them: a live frame holds at most
/// 16 MiB, so more means a hostile frame that never ends.
const MAX_HELD: usize = 256 * 1024 * 1024;

/// What came after the last checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tail {
    /// Events in it.
    pub events: u64,
    /// Time (µs) of its first event.
    pub from_us: u64,
    /// Time (µs) of its last event.
    pub to_us: u64,
}

impl Tail {
    /// How long it spans, in milliseconds (from the last signed event, when known).
    pub fn span_ms(&self, signed_end_us: u64) -> u64 {
        self.to_us.saturating_sub(signed_end_us.min(self.from_us)) / 1000
    }
}

/// The events of `reader` that a checkpoint covers, in order; with `keep_tail`, the unsigned
/// tail after them as well. Readers of other formats pass through unchanged.
pub struct SignedEvents<'r> {
    reader: &'r mut EventReader,
    keep_tail: bool,
    held: VecDeque<Event>,
    held_bytes: usize,
    released: u64,
    done: bool,
    tail: Tail,
    last_signed_us: u64,
}

impl<'r> SignedEvents<'r> {
    /// Wraps `reader`.
    pub fn new(reader: &'r mut EventReader, keep_tail: bool) -> Self {
        SignedEvents {
            reader,
            keep_tail,
            held: VecDeque::new(),
            held_bytes: 0,
            released: 0,
            done: false,
            tail: Tail::default(),
            last_signed_us: 0,
        }
    }

    /// Once the events are exhausted: the unsigned tail, if there was one.
    pub fn tail(&self) -> Option<Tail> {
        (self.tail.events > 0).then_some(self.tail)
    }

    /// Time (µs) of the last event a checkpoint covers.
    pub fn last_signed_us(&self) -> u64 {
        self.last_signed_us
    }

    fn release(&mut self) -> Option<Event> {
        let event = self.held.pop_front()?;
        self.held_bytes -= size_of(&event);
        self.released += 1;
        Some(event)
    }
}

fn size_of(event: &Event) -> usize {
    match &event.data {
        EventData::Output(b) | EventData::Input(b) => b.len() + 32,
        _ => 64,
    }
}

impl Iterator for SignedEvents<'_> {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        loop {
            let Some(covered) = self.reader.verified_events() else {
                return self.reader.next();
            };
            if !self.held.is_empty() && self.released < covered {
                let event = self.release()?;
                self.last_signed_us = event.time;
                return Some(Ok(event));
            }
            if self.done {
                let event = self.release()?;
                if self.tail.events == 0 {
                    self.tail.from_us = event.time;
                }
                self.tail.events += 1;
                self.tail.to_us = event.time;
                if self.keep_tail {
                    return Some(Ok(event));
                }
                continue;
            }
            match self.reader.next() {
                Some(Ok(event)) => {
                    self.held_bytes += size_of(&event);
                    self.held.push_back(event);
                    if self.held_bytes > MAX_HELD {
                        return Some(Err(FormatError::Invalid(format!(
                            "more than {} MiB of events follow the last checkpoint; the file \
                             is damaged or hostile",
                            MAX_HELD >> 20
                        ))));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => self.done = true,
            }
        }
    }
}
