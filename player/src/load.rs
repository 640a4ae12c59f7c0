//! Loading a recording in the background: the timeline grows segment by segment while the
//! player already shows and plays what is there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use sessrec_formats::{EventReader, Header};

use crate::timeline::{Timeline, TimelineBuilder};

/// How often the loader hands what it has over to the player.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

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

/// Starts loading `reader` on a thread of its own.
pub fn load(reader: EventReader) -> std::io::Result<Loading> {
    load_then(reader, |_| {})
}

/// The same, and once the whole recording is loaded without error, calls `done` with the
/// timeline (to save it in the cache).
pub fn load_then(
    reader: EventReader,
    done: impl FnOnce(&Timeline) + Send + 'static,
) -> std::io::Result<Loading> {
    let header = reader.header().clone();
    let mut builder = TimelineBuilder::new(header.cols, header.rows);
    let shared = Arc::new(Shared {
        header,
        timeline: RwLock::new(builder.empty()),
        done: AtomicBool::new(false),
        error: Mutex::new(None),
    });
    let s = shared.clone();
    std::thread::Builder::new()
        .name("load".into())
        .spawn(move || {
            let mut published = Instant::now();
            let mut first = true;
            for event in reader {
                match event {
                    Ok(e) => builder.push(&e),
                    Err(e) => {
                        // What was read before the damage stays playable.
                        *s.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                        break;
                    }
                }
                // The first segment goes out at once: that is the first frame on screen.
                let due = if first {
                    builder.has_finished_segments()
                } else {
                    published.elapsed() >= PUBLISH_EVERY
                };
                if due {
                    first = false;
                    builder.publish(&mut s.timeline.write().unwrap_or_else(|p| p.into_inner()));
                    published = Instant::now();
                }
            }
            builder.close_last();
            let mut t = s.timeline.write().unwrap_or_else(|p| p.into_inner());
            builder.publish(&mut t);
            t.duration = builder.position();
            drop(t);
            let failed = s.error.lock().map(|e| e.is_some()).unwrap_or(true);
            if !failed {
                // Under a read lock: the player keeps drawing while the cache is written.
                done(&s.timeline.read().unwrap_or_else(|p| p.into_inner()));
            }
            s.done.store(true, Ordering::SeqCst);
        })?;
    Ok(Loading { shared })
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
