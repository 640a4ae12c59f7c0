//! What the player's tests share: an app over a recording, as the reviewer's terminal gets it.

use std::sync::{Arc, Mutex};

use sessrec_formats::{Event, Header};
use sessrec_player::app::{App, Meta};
use sessrec_player::{Loading, Timeline, Verdict};

/// A loaded 60x12 app over `events`, with alice@db-1 under INC-4711, signed, in UTC.
pub fn app(events: Vec<Event>) -> App {
    let timeline = Timeline::build(60, 12, events.into_iter().map(Ok::<_, ()>)).unwrap();
    let meta = Meta {
        user: Some("alice".into()),
        host: Some("db-1".into()),
        grant: Some("INC-4711".into()),
        start: Some("2026-11-26T10:00:00Z".parse().unwrap()),
        verdict: Arc::new(Mutex::new(Verdict::Signed)),
        unsigned_from: Arc::new(Mutex::new(None)),
    };
    let mut app = App::new(Loading::loaded(Header::new(60, 12), timeline), meta);
    app.local_zone = jiff::tz::TimeZone::UTC;
    app
}
