//! Keyframes computed on several cores. The emulator bounds the index build, and each keyframe
//! is the state the one before it leads to, so the segments are handed out in chunks, each
//! emulated from a guess: a blank terminal warmed up on the output just before the chunk. Terminal
//! state forgets its past quickly (a screenful of output replaces it), so the guess usually
//! reaches the true state at once. The chunks are then checked in order: where a chunk's first
//! keyframe differs from the true state the chunk before it ended in, the chunk is replayed from
//! that state until its keyframes agree again. The keyframes are therefore exactly those of a
//! build on one core; only the time differs.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sessrec_formats::{EventData, Micros};

use crate::screen::{Keyframe, VirtualTerminal};
use crate::timeline::{compress, decode_all, decompress};

/// Output a chunk's guess is warmed up on, at most (the end of the segment before the chunk).
const WARMUP_BYTES: usize = 256 * 1024;

/// A segment read and cut, waiting for its keyframe.
pub(crate) struct Pending {
    pub start: Micros,
    /// Its events, encoded.
    pub raw: Vec<u8>,
    /// The terminal's size where it starts.
    pub size: (usize, usize),
}

/// A segment with its keyframe, checked.
pub(crate) struct Keyed {
    pub start: Micros,
    pub keyframe: Keyframe,
    pub compressed: Vec<u8>,
}

enum Start {
    /// The recording's first state.
    Exact(Keyframe),
    /// A blank terminal of this size, fed the warm-up events first.
    Guess {
        size: (usize, usize),
        warmup: Vec<u8>,
    },
}

struct Job {
    index: usize,
    start: Start,
    segments: Vec<Pending>,
}

struct Done {
    index: usize,
    starts: Vec<Micros>,
    keyframes: Vec<Keyframe>,
    compressed: Vec<Vec<u8>>,
    end: Keyframe,
}

/// Keyframes for segments handed over in order, computed by a pool of threads.
pub(crate) struct ParallelKeyframes {
    jobs: Option<Sender<Job>>,
    results: Receiver<Result<Done, usize>>,
    workers: Vec<JoinHandle<()>>,
    chunk_segments: usize,
    chunk: Vec<Pending>,
    /// The last segment handed out, to warm the next chunk's guess up on.
    previous: Option<(Vec<u8>, (usize, usize))>,
    sent: usize,
    arrived: BTreeMap<usize, Done>,
    checked: usize,
    /// The true state where the next chunk to check starts.
    truth: Keyframe,
}

impl ParallelKeyframes {
    /// `workers` threads, from `initial` (the blank terminal the recording starts on); a chunk
    /// holds `chunk_segments` segments (the first only one, so the first frame comes at once).
    pub(crate) fn start(
        initial: Keyframe,
        workers: usize,
        chunk_segments: usize,
    ) -> std::io::Result<ParallelKeyframes> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let (report, results) = std::sync::mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let mut handles = Vec::new();
        for n in 0..workers.max(1) {
            let queue = queue.clone();
            let report = report.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("keyframes-{n}"))
                    .spawn(move || work(&queue, &report))?,
            );
        }
        Ok(ParallelKeyframes {
            jobs: Some(jobs),
            results,
            workers: handles,
            chunk_segments: chunk_segments.max(1),
            chunk: Vec::new(),
            previous: None,
            sent: 0,
            arrived: BTreeMap::new(),
            checked: 0,
            truth: initial,
        })
    }

    /// Takes a finished segment; hands a chunk out when it is full. Waits while as many
    /// chunks as two per worker are out, so memory stays bounded.
    pub(crate) fn add(&mut self, segment: Pending, keyed: &mut Vec<Keyed>) -> Result<(), String> {
        self.chunk.push(segment);
        let wanted = if self.sent == 0 {
            1
        } else {
            self.chunk_segments
        };
        if self.chunk.len() >= wanted {
            // The first chunk is the first frame on screen: it gets the cores to itself.
            while self.sent == 1 && self.checked == 0 {
                self.receive(true, keyed)?;
            }
            self.send();
        }
        while self.sent - self.checked > 2 * self.workers.len() {
            self.receive(true, keyed)?;
        }
        self.receive(false, keyed)
    }

    /// Collects what is done without waiting.
    pub(crate) fn collect(&mut self, keyed: &mut Vec<Keyed>) -> Result<(), String> {
        self.receive(false, keyed)
    }

    /// Hands out the last chunk and waits for every keyframe.
    pub(crate) fn finish(&mut self, keyed: &mut Vec<Keyed>) -> Result<(), String> {
        self.send();
        while self.checked < self.sent {
            self.receive(true, keyed)?;
        }
        Ok(())
    }

    fn send(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let segments = std::mem::take(&mut self.chunk);
        let start = match self.previous.take() {
            None => Start::Exact(self.truth.clone()),
            Some((warmup, size)) => Start::Guess { size, warmup },
        };
        let last = segments.last().expect("not empty");
        self.previous = Some((last.raw.clone(), last.size));
        let job = Job {
            index: self.sent,
            start,
            segments,
        };
        self.sent += 1;
        // The workers live as long as `jobs`: a send cannot fail while it is held.
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    fn receive(&mut self, wait: bool, keyed: &mut Vec<Keyed>) -> Result<(), String> {
        let mut wait = wait;
        loop {
            let result = if wait {
                self.results.recv().map_err(|_| TryRecvError::Disconnected)
            } else {
                self.results.try_recv()
            };
            match result {
                Ok(Ok(done)) => {
                    self.arrived.insert(done.index, done);
                }
                Ok(Err(index)) => {
                    return Err(format!(
                        "the virtual terminal failed on part {index} of the recording"
                    ));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    return Err("the keyframe threads stopped".into());
                }
            }
            while let Some(done) = self.arrived.remove(&self.checked) {
                self.check(done, keyed);
                self.checked += 1;
                wait = false;
            }
        }
        Ok(())
    }

    /// Keeps `done`'s keyframes where they start from the true state, and replays the chunk
    /// from the true state where they do not, until they agree.
    fn check(&mut self, mut done: Done, keyed: &mut Vec<Keyed>) {
        if done.keyframes.first() != Some(&self.truth) {
            let mut term = VirtualTerminal::restore(&self.truth);
            let mut agreed = false;
            for (keyframe, compressed) in done.keyframes.iter_mut().zip(&done.compressed) {
                let now = term.keyframe();
                if now == *keyframe {
                    agreed = true;
                    break;
                }
                *keyframe = now;
                for (_, data) in decode_all(&decompress(compressed)) {
                    term.apply(&data);
                }
            }
            if !agreed {
                done.end = term.keyframe();
            }
        }
        self.truth = done.end;
        for ((start, keyframe), compressed) in done
            .starts
            .into_iter()
            .zip(done.keyframes)
            .zip(done.compressed)
        {
            keyed.push(Keyed {
                start,
                keyframe,
                compressed,
            });
        }
    }
}

impl Drop for ParallelKeyframes {
    fn drop(&mut self) {
        // Closing the queue ends the workers.
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn work(queue: &Mutex<Receiver<Job>>, report: &Sender<Result<Done, usize>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let index = job.index;
        // A panic in the emulator is reported as this chunk's failure, not a hang.
        let done = std::panic::catch_unwind(AssertUnwindSafe(|| keyframe_chunk(job)));
        if report.send(done.map_err(|_| index)).is_err() {
            return;
        }
    }
}

fn keyframe_chunk(job: Job) -> Done {
    let mut term = match &job.start {
        Start::Exact(k) => VirtualTerminal::restore(k),
        Start::Guess { size, warmup } => {
            let mut t = VirtualTerminal::new(size.0 as u16, size.1 as u16);
            let events = decode_all(warmup);
            // Only the warm-up's last WARMUP_BYTES of output are emulated (with every resize
            // before them): a few screenfuls usually settle the state, at little cost.
            let mut output = 0;
            let tail = events
                .iter()
                .rposition(|(_, data)| {
                    if let EventData::Output(bytes) = data {
                        output += bytes.len();
                    }
                    output >= WARMUP_BYTES
                })
                .unwrap_or(0);
            for (i, (_, data)) in events.iter().enumerate() {
                if i >= tail || matches!(data, EventData::Resize { .. }) {
                    t.apply(data);
                }
            }
            t
        }
    };
    let mut done = Done {
        index: job.index,
        starts: Vec::with_capacity(job.segments.len()),
        keyframes: Vec::with_capacity(job.segments.len()),
        compressed: Vec::with_capacity(job.segments.len()),
        end: term.keyframe(),
    };
    for segment in job.segments {
        done.starts.push(segment.start);
        done.keyframes.push(term.keyframe());
        for (_, data) in decode_all(&segment.raw) {
            term.apply(&data);
        }
        done.compressed.push(compress(&segment.raw));
    }
    done.end = term.keyframe();
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::encode;

    #[test]
    fn a_guess_warmed_up_on_the_end_of_a_long_segment_reaches_the_true_state() {
        // A resize early on, then far more output than the warm-up emulates.
        let mut events = vec![(0, EventData::Resize { cols: 50, rows: 8 })];
        for n in 0..20_000u64 {
            let line = format!("\x1b[3{}mline {n} of a long listing\x1b[0m\r\n", n % 8);
            events.push((n + 1, EventData::Output(line.into_bytes())));
        }
        let mut raw = Vec::new();
        let mut truth = VirtualTerminal::new(80, 24);
        for (time, data) in &events {
            encode(&mut raw, *time, data);
            truth.apply(data);
        }
        let job = Job {
            index: 1,
            start: Start::Guess {
                size: (80, 24),
                warmup: raw,
            },
            segments: vec![Pending {
                start: 30_000,
                raw: Vec::new(),
                size: (50, 8),
            }],
        };
        let done = keyframe_chunk(job);
        assert_eq!(done.keyframes[0], truth.keyframe());
    }
}
