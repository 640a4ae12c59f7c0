//! Reading recordings back: verified, as events, and the parts of them tests compare.

use std::path::{Path, PathBuf};

use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Event, EventData, OpenOptions, open_path};

/// The files in `dir`, sorted (recordings are named by time-ordered session ids).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
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
