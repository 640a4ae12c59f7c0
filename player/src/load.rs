//! Loading a recording in the background: the timeline grows segment by segment while the
//! player already shows and plays what is there.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use sessrec_formats::{Event, EventReader, Format, FormatError, Header};

use crate::stored::MEMORY_BUDGET;
use crate::timeline::{Timeline, TimelineBuilder};

/// How often the loader hands what it has over to the player.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Events read ahead of the emulator (about 1 MiB of output in 4 KiB writes).
/// (Sending events one by one costs no measurable build rate: the emulator bounds it.)
const READ_AHEAD: usize = 256;

/// A recording being loaded.
#[derive(Clone)]
pub struct Loading {
    shared: Arc<Shared>,
}

struct Shared {
    header: Header,
    timeline: RwLock<Timeline>,
    done: AtomicBool,
    error: Mutex<Option<String>>,
}

/// How a recording is loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Compressed segments past [`MEMORY_BUDGET`] go to an unnamed file here (else they all
    /// stay in memory).
    pub spill_dir: Option<PathBuf>,
    /// The recording is still being written: its newest events are shown as they come, so
    /// keyframes are computed on the loading thread rather than on all cores.
    pub live: bool,
}

/// Segments per chunk of keyframe work handed to a core (each chunk costs a warm-up of at most
/// 256 KiB of output; the chunks in flight, two per core, bound the memory this takes).
const CHUNK_SEGMENTS: usize = 8;

/// Cores used for keyframes at most: past this, reading the file is the limit, and each core
/// adds chunks in flight to memory.
const MAX_WORKERS: usize = 4;

/// Starts loading `reader` on a thread of its own, keeping the whole timeline in memory.
pub fn load(reader: EventReader) -> std::io::Result<Loading> {
    load_then(reader, LoadOptions::default(), |_| {})
}

/// The same, with `options`; once the whole recording is loaded without error, calls `done`
/// with the timeline (to save it in the cache).
pub fn load_then(
    reader: EventReader,
    options: LoadOptions,
    done: impl FnOnce(&Timeline) + Send + 'static,
) -> std::io::Result<Loading> {
    let header = reader.header().clone();
    let mut builder = TimelineBuilder::new(header.cols, header.rows);
    if let Some(dir) = options.spill_dir {
        builder = builder.spill_to(dir, MEMORY_BUDGET);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !options.live && cores > 1 {
        builder = builder.on_threads(cores.min(MAX_WORKERS), CHUNK_SEGMENTS)?;
    }
    let shared = Arc::new(Shared {
        header,
        timeline: RwLock::new(builder.empty()),
        done: AtomicBool::new(false),
        error: Mutex::new(None),
    });
    // Reading runs on a thread of its own, so that while it waits for a live recording to
    // grow, what arrived last is still handed to the player (see `build`).
    let (events, received) = std::sync::mpsc::sync_channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("read".into())
        .spawn(move || {
            let mut reader = reader;
            for event in reader.by_ref() {
                let failed = event.is_err();
                if events.send(event).is_err() || failed {
                    return;
                }
            }
            // A file of another format cut short ends like a whole one: say so. (A .cast.zst's
            // cut is the verifier's to report, with what its signatures cover.)
            if reader.format() != Format::CastZst
                && let Some(cut) = reader.truncation()
            {
                let _ = events.send(Err(FormatError::Invalid(cut)));
            }
        })?;
    let s = shared.clone();
    std::thread::Builder::new()
        .name("load".into())
        .spawn(move || {
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                build(&mut builder, &received, &s, done);
            }));
            if built.is_err() {
                // A bug in the emulator ends the timeline where it got to, with a reason,
                // rather than leaving the player waiting for the rest.
                let mut error = s.error.lock().unwrap_or_else(|p| p.into_inner());
                error.get_or_insert_with(|| "the virtual terminal failed on this recording".into());
                drop(error);
                s.done.store(true, Ordering::SeqCst);
            }
        })?;
    Ok(Loading { shared })
}

/// Feeds what the reading thread sends into `builder`, publishing as it goes.
fn build(
    builder: &mut TimelineBuilder,
    received: &Receiver<Result<Event, FormatError>>,
    s: &Shared,
    done: impl FnOnce(&Timeline),
) {
    let mut published = Instant::now();
    let mut unpublished = false;
    let mut first = true;
    loop {
        match received.recv_timeout(PUBLISH_EVERY) {
            Ok(Ok(e)) => {
                builder.push(&e);
                unpublished = true;
                if let Some(why) = builder.failed() {
                    *s.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
                    break;
                }
            }
            Ok(Err(e)) => {
                // What was read before the damage stays playable.
                *s.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.explain());
                break;
            }
            // A live recording that went quiet: what arrived last is shown below.
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // The first segment goes out at once: that is the first frame on screen. After that,
        // whatever is new goes out every PUBLISH_EVERY (a live recording's first seconds too).
        let due = (first && builder.has_finished_segments())
            || (unpublished && published.elapsed() >= PUBLISH_EVERY);
        if due {
            first = false;
            unpublished = false;
            builder.publish(&mut s.timeline.write().unwrap_or_else(|p| p.into_inner()));
            published = Instant::now();
        }
    }
    builder.close_last();
    if let Some(why) = builder.failed() {
        let mut error = s.error.lock().unwrap_or_else(|p| p.into_inner());
        error.get_or_insert_with(|| why.to_string());
    }
    builder.publish(&mut s.timeline.write().unwrap_or_else(|p| p.into_inner()));
    let failed = s.error.lock().map(|e| e.is_some()).unwrap_or(true);
    if !failed {
        // Under a read lock: the player keeps drawing while the cache is written.
        done(&s.timeline.read().unwrap_or_else(|p| p.into_inner()));
    }
    s.done.store(true, Ordering::SeqCst);
}

impl Loading {
    /// A recording already loaded (tests, benchmarks, and callers that built the timeline).
    pub fn loaded(header: Header, timeline: Timeline) -> Loading {
        Loading {
            shared: Arc::new(Shared {
                header,
                timeline: RwLock::new(timeline),
                done: AtomicBool::new(true),
                error: Mutex::new(None),
            }),
        }
    }

    /// The recording's header.
    pub fn header(&self) -> &Header {
        &self.shared.header
    }

    /// The timeline as far as it is built.
    pub fn timeline(&self) -> RwLockReadGuard<'_, Timeline> {
        self.shared
            .timeline
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the whole recording is loaded.
    pub fn is_done(&self) -> bool {
        self.shared.done.load(Ordering::SeqCst)
    }

    /// Why loading stopped early, if it did (a damaged or truncated recording).
    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the whole recording is loaded.
    pub fn wait(&self) {
        while !self.is_done() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use sessrec_formats::{OpenOptions, open_reader};

    use super::*;

    #[test]
    fn a_live_recording_that_goes_quiet_shows_its_last_events() {
        let (read, mut write) = std::io::pipe().unwrap();
        write
            .write_all(b"{\"version\": 2, \"width\": 20, \"height\": 4}\n[0.5, \"o\", \"$ ls\\r\\n\"]\n[1.25, \"o\", \"file\\r\\n\"]\n")
            .unwrap();
        let input: Box<dyn Read + Send> = Box::new(read);
        let reader = open_reader(input, &OpenOptions::default()).unwrap();
        let live = LoadOptions {
            live: true,
            ..LoadOptions::default()
        };
        let loading = load_then(reader, live, |_| {}).unwrap();
        // The writer stays open: the reader waits for more, as it does on a live recording.
        let deadline = Instant::now() + Duration::from_secs(10);
        while loading.timeline().duration < 1_250_000 {
            assert!(
                Instant::now() < deadline,
                "the last events were not handed over while the recording was quiet"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!loading.is_done());
        drop(write);
        loading.wait();
        assert_eq!(loading.timeline().duration, 1_250_000);
    }
}
