//! The seek oracle: after a seek to any time, the player's screen is exactly a terminal fed
//! every event up to that time, for a timeline built on one thread and one built on the
//! keyframe pool (whose saved index must be byte for byte the one-thread one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_formats::Event;
use sessrec_player::{Player, Timeline, TimelineBuilder, VirtualTerminal, cache};

fuzz_target!(|data: &[u8]| {
    let (seeks, rest) = data.split_at(data.len().min(8));
    let events = sessrec_fuzz::events_from(rest);
    let alone = Timeline::build(40, 10, events.iter().cloned().map(Ok::<_, ()>)).unwrap();
    let mut pooled = TimelineBuilder::new(40, 10)
        .on_threads(2, 2)
        .expect("start the pool");
    for e in &events {
        pooled.push(e);
    }
    let pooled = pooled.finish();
    let dir = sessrec_fuzz::scratch_dir();
    // The same entry name in two directories (an index file names the entry it is for).
    let (a, b) = (dir.join("a/x.index"), dir.join("b/x.index"));
    if cache::save(&a, &alone).is_ok() && cache::save(&b, &pooled).is_ok() {
        assert!(
            std::fs::read(&a).ok() == std::fs::read(&b).ok(),
            "pool and one thread differ"
        );
    }
    for timeline in [&alone, &pooled] {
        let mut player = Player::new(timeline);
        for &s in seeks {
            let at = match s {
                0 => 0,
                255 => u64::MAX,
                _ => timeline.duration / 254 * u64::from(s),
            };
            player.seek(timeline, at);
            let want = replayed(&events, at);
            let got = player.terminal();
            assert_eq!(got.size(), want.size(), "size at {at}");
            assert_eq!(got.ansi(), want.ansi(), "screen at {at}");
            assert_eq!(got.cursor(), want.cursor(), "cursor at {at}");
        }
    }
});

fn replayed(events: &[Event], until: u64) -> VirtualTerminal {
    let mut t = VirtualTerminal::new(40, 10);
    for e in events.iter().take_while(|e| e.time <= until) {
        t.apply(&e.data);
    }
    t
}
