//! Seeking through keyframes gives exactly the screen that replaying from the start gives, at
//! any moment, in any order of seeks.

use proptest::prelude::*;
use sessrec_formats::{Event, EventData};
use sessrec_player::{Player, Timeline, TimelineBuilder, VirtualTerminal, cache};

/// Pieces of output that exercise the emulator's state: colours, cursor moves, clears, the
/// alternate screen, scroll regions, wide characters, a character split across events.
const PIECES: &[&[u8]] = &[
    b"hello ",
    b"\r\n",
    b"\x1b[1;31m",
    b"\x1b[0m",
    b"\x1b[2J",
    b"\x1b[H",
    b"\x1b[5;3H",
    b"\x1b[?1049h",
    b"\x1b[?1049l",
    "日本語".as_bytes(),
    b"\xe6\x97",
    b"\xa5",
    b"\x1b[3;8r",
    b"\x1bM",
    b"\x1b[K",
    b"\x1b[38;2;10;20;30m",
    b"\x1b[?25l",
    b"\x1b[?25h",
    b"the quick brown fox jumps over the lazy dog ",
    b"\x1b]0;title\x07",
    b"\x1b[",
    b"7m",
];

fn events() -> impl Strategy<Value = Vec<Event>> {
    let event = (
        0u64..3_000_000,
        prop::collection::vec(0..PIECES.len(), 1..6),
        0u8..20,
    );
    prop::collection::vec(event, 1..120).prop_map(|raw| {
        let mut time = 0;
        raw.into_iter()
            .map(|(gap, pieces, roll)| {
                time += gap;
                let data = if roll == 0 {
                    EventData::Resize {
                        cols: 20 + u16::from(gap as u8 % 40),
                        rows: 5 + u16::from(gap as u8 % 10),
                    }
                } else {
                    EventData::Output(pieces.iter().flat_map(|&i| PIECES[i].to_vec()).collect())
                };
                Event { time, data }
            })
            .collect()
    })
}

fn replayed(events: &[Event], until: u64) -> VirtualTerminal {
    let mut t = VirtualTerminal::new(40, 10);
    for e in events.iter().take_while(|e| e.time <= until) {
        t.apply(&e.data);
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn seeking_equals_replaying(
        events in events(),
        seeks in prop::collection::vec(0u64..400_000_000, 1..8),
        spill in any::<bool>(),
        threads in any::<bool>(),
    ) {
        // Half the cases keep every segment in a file rather than in memory; half compute
        // keyframes on threads, two segments a chunk, so most chunks start from a guess.
        let dir = tempfile::TempDir::new().unwrap();
        let mut builder = TimelineBuilder::new(40, 10);
        if spill {
            builder = builder.spill_to(dir.path().to_path_buf(), 0);
        }
        if threads {
            builder = builder.on_threads(2, 2).unwrap();
        }
        for e in &events {
            builder.push(e);
        }
        let timeline = builder.finish();
        prop_assert_eq!(timeline.in_file() > 0, spill && !events.is_empty());
        if threads {
            // The very same keyframes and segments as a build on one thread: their saved
            // indexes are byte for byte the same.
            let alone = Timeline::build(40, 10, events.iter().cloned().map(Ok::<_, ()>)).unwrap();
            // The same entry name in two directories (an index file names the entry it is for).
            let (a, b) = (dir.path().join("a/x.index"), dir.path().join("b/x.index"));
            cache::save(&a, &timeline).unwrap();
            cache::save(&b, &alone).unwrap();
            prop_assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "indexes differ");
        }
        let mut player = Player::new(&timeline);
        for &fraction in &seeks {
            let at = fraction % (timeline.duration + 2);
            player.seek(&timeline, at);
            let want = replayed(&events, at);
            let got = player.terminal();
            prop_assert_eq!(got.size(), want.size());
            prop_assert_eq!(got.ansi(), want.ansi(), "at {}", at);
            prop_assert_eq!(got.cursor(), want.cursor(), "at {}", at);
        }
    }
}
