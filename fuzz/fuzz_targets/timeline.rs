//! The player's timeline: any recording built into segments and keyframes, searched, and
//! seeked through. Nothing may panic or hold memory out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_formats::OpenOptions;
use sessrec_player::{Player, Timeline, search};

fuzz_target!(|data: &[u8]| {
    let (header, events) = match sessrec_fuzz::open(data, &OpenOptions::default()) {
        Some(mut reader) => {
            let header = reader.header().clone();
            (header, sessrec_fuzz::drain(&mut reader).0)
        }
        None => (
            sessrec_formats::Header::new(80, 24),
            sessrec_fuzz::events_from(data),
        ),
    };
    // Screens up to 160x48: the emulator's limit (640x240) is tested in the player's own tests,
    // and a keyframe of a full-size screen on every fuzzed segment costs 100 times the speed.
    let (cols, rows) = (header.cols.min(160), header.rows.min(48));
    let timeline = Timeline::build(cols, rows, events.into_iter().map(Ok::<_, ()>))
        .expect("events are all Ok");
    let _ = search::find_all(&timeline, "root", 100);
    let _ = search::find_all(&timeline, "\u{65e5}", 100);
    let mut player = Player::new(&timeline);
    for t in [0, timeline.duration / 2, timeline.duration, u64::MAX] {
        player.seek(&timeline, t);
        let _ = player.terminal().text();
        let _ = player.next_frame(&timeline);
        let _ = player.previous_frame(&timeline);
    }
});
