//! Reading recordings back: verified, as events, and the parts of them tests compare.

use std::path::{Path, PathBuf};

use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Event, EventData, OpenOptions, open_path};

/// The files in `dir`, sorted (recordings are named by time-ordered session ids); not the
/// uploader's state directories (`.upload`, `quarantine`), nor the sealed manifests the
/// recording service writes beside its recordings.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| !p.is_dir())
        .filter(|p| !p.to_string_lossy().ends_with(".manifest.json"))
        .collect();
    v.sort();
    v
}

/// Asserts the recording at `path` is intact and signed by `key`, and returns its events.
pub fn verified_events(path: &Path, key: &PublicKey) -> Vec<Event> {
    let report = verify(std::fs::File::open(path).unwrap(), vec![key.clone()]).unwrap();
    assert_eq!(report.verdict, Verdict::Intact, "{path:?}: {report:?}");
    events(path)
}

/// The events of the recording at `path`, unverified.
pub fn events(path: &Path) -> Vec<Event> {
    open_path(path, &OpenOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Everything typed, as text.
pub fn input_text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Input(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

/// Everything shown, as bytes.
pub fn output_bytes(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Output(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Everything shown, as text.
pub fn output_text(events: &[Event]) -> String {
    String::from_utf8_lossy(&output_bytes(events)).into_owned()
}

/// The markers' labels.
pub fn markers(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Marker(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Asserts that in the recording at `path` the header's start time plus an event's offset is
/// the wall time the event happened, within 50 ms: the session prints `WALL<seconds>.<nanos>`
/// (`date +WALL%s.%N`), and the output event that carries it must be stamped within 50 ms after.
/// Returns how far off it was, in milliseconds.
pub fn assert_wall_clock(path: &Path) -> i64 {
    let reader = open_path(path, &OpenOptions::default()).unwrap();
    let start: jiff::Timestamp = reader
        .header()
        .sessrec
        .as_ref()
        .and_then(|m| m.start.as_deref())
        .expect("a sessrec start time")
        .parse()
        .unwrap();
    let events: Vec<Event> = reader.collect::<Result<_, _>>().unwrap();
    let (time, text) = events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Output(b) => {
                let text = String::from_utf8_lossy(b);
                let at = text.find("WALL1")?;
                let digits: String = text[at + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                Some((e.time, digits))
            }
            _ => None,
        })
        .expect("the session printed its wall time");
    let printed_ms = (text.parse::<f64>().unwrap() * 1000.0) as i64;
    let recorded_ms = start.as_millisecond() + (time / 1000) as i64;
    let off = recorded_ms - printed_ms;
    assert!(
        (-50..=50).contains(&off),
        "start {start} + offset {} ms is {off} ms from the wall time the session printed ({text})",
        time / 1000
    );
    off
}

/// The recording at `path` rewritten with 1 KiB frames, signed with the key at `key`.
pub fn small_frames(path: &std::path::Path, key: &std::path::Path) -> Vec<u8> {
    use sessrec_formats::container::{ContainerWriter, WriterOptions};
    let signer =
        sessrec_formats::keys::SigningKey::from_pem(&std::fs::read_to_string(key).unwrap())
            .unwrap();
    let mut reader =
        sessrec_formats::open_path(path, &sessrec_formats::OpenOptions::default()).unwrap();
    let header = reader.header().clone();
    let options = WriterOptions {
        frame_bytes: 1024,
        ..WriterOptions::default()
    };
    let mut out = Vec::new();
    let mut w = ContainerWriter::new(&mut out, &header, Some(signer), options).unwrap();
    for event in &mut reader {
        w.write_event(&event.unwrap()).unwrap();
    }
    w.finish(None).unwrap();
    out
}
