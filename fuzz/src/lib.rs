//! What the fuzz targets share: reading a recording from bytes the way `sessrec` reads a file,
//! and turning fuzzed bytes into events for the targets that exercise the player directly.

use std::io::Cursor;

use sessrec_formats::{Event, EventData, EventReader, OpenOptions, open_reader};

/// Events read past this are not kept: a small input may legitimately hold many (a zstd frame
/// of repeated lines), and the targets look for bugs, not for how many events fit in memory.
pub const MAX_EVENTS: usize = 20_000;

/// Opens `bytes` as a recording of any format sessrec reads, detecting it.
pub fn open(bytes: &[u8], opts: &OpenOptions) -> Option<EventReader> {
    open_reader(Box::new(Cursor::new(bytes.to_vec())), opts).ok()
}

/// Every event `reader` yields up to the first error (or [`MAX_EVENTS`]), and whether it
/// ended on an error.
pub fn drain(reader: &mut EventReader) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    for event in reader.by_ref() {
        match event {
            Ok(e) if events.len() < MAX_EVENTS => events.push(e),
            Ok(_) => {}
            Err(_) => return (events, true),
        }
    }
    (events, false)
}

/// Terminal output fragments that move the emulator's state around; fuzzed bytes pick among
/// them and mix in bytes of their own.
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
    "\u{65e5}\u{672c}".as_bytes(),
    b"\xe6\x97",
    b"\xa5",
    b"\x1b[3;8r",
    b"\x1bM",
    b"\x1b[K",
    b"\x1b[38;2;10;20;30m",
    b"\x1b]0;title\x07",
    b"\x1b[",
    b"\x1b[?7l",
    b"\t\x08\x7f",
];

/// Events decoded from fuzzed bytes: each takes a kind byte, a time step and a payload.
/// Times only grow (by up to about 16 s a step, or a jump near the end of the time range).
pub fn events_from(bytes: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut time: u64 = 0;
    let mut rest = bytes;
    while let [kind, step, len, tail @ ..] = rest {
        let len = usize::from(*len % 24).min(tail.len());
        let (payload, after) = tail.split_at(len);
        rest = after;
        time = if *step == 0xff {
            time.saturating_add(u64::MAX / 4)
        } else {
            time.saturating_add(u64::from(*step) * 65_536)
        };
        let data = match kind % 8 {
            0 => EventData::Output(payload.to_vec()),
            1..=3 => EventData::Output(
                payload
                    .iter()
                    .flat_map(|&b| PIECES[usize::from(b) % PIECES.len()].iter().copied())
                    .collect(),
            ),
            4 => EventData::Input(payload.to_vec()),
            5 => EventData::Resize {
                cols: u16::from(payload.first().copied().unwrap_or(80)) + 1,
                rows: u16::from(payload.get(1).copied().unwrap_or(24) % 64) + 1,
            },
            6 => EventData::Marker(String::from_utf8_lossy(payload).into_owned()),
            _ => EventData::Exit(i32::from(payload.first().copied().unwrap_or(0))),
        };
        events.push(Event { time, data });
    }
    events
}

/// A directory of this fuzzing process's own for the files a target must write (a timing
/// file, an index cache): the cache prunes its directory, so it never shares one.
pub fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sessrec-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
