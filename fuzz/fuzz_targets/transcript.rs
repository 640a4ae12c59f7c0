//! Transcripts (`sessrec convert --to txt`): any recording rendered to text. The text must
//! hold no character that acts on a terminal, and DEL, which a terminal ignores, must change
//! nothing: the transcript of a recording equals that of the same recording without DELs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_formats::{Event, EventData, OpenOptions};

fuzz_target!(|data: &[u8]| {
    let events = match sessrec_fuzz::open(data, &OpenOptions::default()) {
        Some(mut reader) => sessrec_fuzz::drain(&mut reader).0,
        None => sessrec_fuzz::events_from(data),
    };
    let text = transcript(&events);
    for c in text.chars() {
        assert!(
            !sessrec_formats::text::is_unsafe(c) || c == '\n' || c == '\t',
            "{c:?} reached the transcript"
        );
    }
    let without_del: Vec<Event> = events
        .iter()
        .map(|e| match &e.data {
            EventData::Output(b) => Event::output(
                e.time,
                b.iter()
                    .copied()
                    .filter(|&x| x != 0x7f)
                    .collect::<Vec<u8>>(),
            ),
            _ => e.clone(),
        })
        .collect();
    assert_eq!(text, transcript(&without_del), "DEL changed the transcript");
});

fn transcript(events: &[Event]) -> String {
    let mut out = Vec::new();
    let events = events.iter().cloned().map(Ok);
    sessrec_player::write_transcript(events, 80, 24, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("a transcript is UTF-8")
}
