//! What someone who can write a recording but lacks its key can make of it: added fields,
//! cut-and-append, a stop that claims completeness. Each must get a verdict that is true.

mod common;

use std::io::Cursor;

use common::*;
use sessrec_formats::container::{
    CHECKPOINT_MAGIC, ContainerWriter, SeekIndex, Stopped, TRAILER_MAGIC, Verdict, WriterOptions,
};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Event, OpenOptions, open_reader};

/// Offsets of every skippable frame with `magic`.
fn skippables(bytes: &[u8], magic: u32) -> Vec<(usize, usize)> {
    let index = SeekIndex::load(&mut Cursor::new(bytes.to_vec())).unwrap();
    let mut out: Vec<(usize, usize)> = index
        .frames
        .iter()
        .map(|f| (f.offset + f.len) as usize)
        .chain(std::iter::once(bytes.len()))
        .filter_map(|at| {
            // The trailer sits after the last checkpoint: find each skippable frame by walking.
            let m = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
            let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
            (m == magic).then_some((at, 8 + size))
        })
        .collect();
    if magic == TRAILER_MAGIC {
        let (cp, len) = *skippables(bytes, CHECKPOINT_MAGIC).last().unwrap();
        let at = cp + len;
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        out = vec![(at, 8 + size)];
    }
    out
}

/// Replaces the skippable frame at `at` (of `len` bytes) with one holding `payload`.
fn replace_skippable(bytes: &[u8], at: usize, len: usize, payload: &[u8]) -> Vec<u8> {
    let magic = &bytes[at..at + 4];
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(magic);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&bytes[at + len..]);
    out
}

/// Inserts `field` (`"name":value,`) right after the opening brace of a record's JSON.
fn add_field(record: &[u8], field: &str) -> Vec<u8> {
    let mut out = b"{".to_vec();
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(&record[1..]);
    out
}

#[test]
fn a_field_added_to_a_checkpoint_or_the_trailer_is_an_alteration() {
    let (k, p) = key();
    let bytes = container(&session(300), Some(k), 4096);
    assert_eq!(check(&bytes, &p).verdict, Verdict::Intact);
    let (at, len) = skippables(&bytes, CHECKPOINT_MAGIC)[1];
    let payload = &bytes[at + 8..at + len];
    let forged = replace_skippable(&bytes, at, len, &add_field(payload, r#""note":"ok","#));
    let r = check(&forged, &p);
    assert_eq!(r.verdict, Verdict::Altered, "{r:?}");
    assert!(
        r.integrity.damage.unwrap().reason.contains("exact form"),
        "the reason names the change"
    );

    let (at, len) = skippables(&bytes, TRAILER_MAGIC)[0];
    let payload = &bytes[at + 8..at + len];
    let json_len = payload.len() - 8;
    let mut record = add_field(&payload[..json_len], r#""stopped":null,"#);
    record.extend_from_slice(&(record.len() as u32).to_le_bytes());
    record.extend_from_slice(b"SRT1");
    let r = check(&replace_skippable(&bytes, at, len, &record), &p);
    assert_eq!(r.verdict, Verdict::Altered, "{r:?}");
}

#[test]
fn cut_after_a_checkpoint_with_invented_events_is_an_unsigned_tail() {
    let (k, p) = key();
    let bytes = container(&session(300), Some(k), 4096);
    let checkpoints = skippables(&bytes, CHECKPOINT_MAGIC);
    assert!(checkpoints.len() > 3);
    for (n, &(at, len)) in checkpoints.iter().enumerate() {
        let mut forged = bytes[..at + len].to_vec();
        let invented = b"[5.020, \"o\", \"rm -rf / was never typed\\r\\n\"]\n[0.5, \"o\", \"x\"]\n";
        forged.extend(zstd::encode_all(&invented[..], 3).unwrap());
        let r = check(&forged, &p);
        assert_eq!(
            r.verdict,
            Verdict::Truncated,
            "cut at checkpoint {n}: {r:?}"
        );
        assert_eq!(r.integrity.verified_frames, n as u64 + 1);
        assert_eq!(
            r.unverified_tail_events(),
            2,
            "the invented events are the tail"
        );
        assert_eq!(r.unverified_tail_ms(), 5520);
    }
}

#[test]
fn a_recording_stopped_early_says_so_under_its_signature() {
    let (k, p) = key();
    let events = session(50);
    let mut w = ContainerWriter::new(Vec::new(), &header(), Some(k), WriterOptions::default())
        .expect("writer");
    for e in &events {
        w.write_event(e).unwrap();
    }
    let stopped = Stopped {
        at_ms: events.last().unwrap().time / 1000,
        reason: "the spool's disk is full".into(),
        session_continued: true,
    };
    let bytes = w.finish_stopped(stopped.clone()).unwrap();
    let r = check(&bytes, &p);
    assert_eq!(r.verdict, Verdict::Incomplete, "{r:?}");
    assert_eq!(r.integrity.stopped(), Some(&stopped));

    // Taking the stop out of the trailer breaks its signature.
    let (at, len) = skippables(&bytes, TRAILER_MAGIC)[0];
    let payload = &bytes[at + 8..at + len];
    let text = String::from_utf8(payload[..payload.len() - 8].to_vec()).unwrap();
    let start = text.find(",\"stopped\"").unwrap();
    let end = text.find(",\"key\"").unwrap();
    let mut record = format!("{}{}", &text[..start], &text[end..]).into_bytes();
    record.extend_from_slice(&(record.len() as u32).to_le_bytes());
    record.extend_from_slice(b"SRT1");
    let r = check(&replace_skippable(&bytes, at, len, &record), &p);
    assert_eq!(r.verdict, Verdict::Altered, "{r:?}");
}

#[test]
fn the_written_format_is_2_and_its_records_carry_no_sig_field() {
    let (k, _) = key();
    let bytes = container(&session(10), Some(k), 4096);
    let (header, _) = read_all(bytes.clone());
    assert_eq!(header.sessrec.unwrap().format, 2);
    let (at, len) = skippables(&bytes, CHECKPOINT_MAGIC)[0];
    let payload = String::from_utf8(bytes[at + 8..at + len].to_vec()).unwrap();
    let (json, sig) = payload
        .split_once('\n')
        .expect("JSON, a newline, the signature");
    assert!(!json.contains("\"sig\""), "{json}");
    assert_eq!(sig.len(), 88, "base64 of 64 bytes");
}

#[test]
fn format_1_recordings_still_verify_and_their_records_cannot_grow_fields() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/format1");
    let text = std::fs::read_to_string(dir.join("signing.key.pub")).unwrap();
    let key = PublicKey::from_file_text(&text).unwrap();
    let bytes = std::fs::read(dir.join("signed.cast.zst")).unwrap();
    let r = check(&bytes, &key);
    assert_eq!(r.verdict, Verdict::Intact, "{r:?}");
    assert_eq!(r.integrity.format(), Some(1));
    let reader = open_reader(
        Box::new(Cursor::new(bytes.clone())),
        &OpenOptions::default(),
    );
    let events: Vec<Event> = reader.unwrap().collect::<Result<_, _>>().unwrap();
    assert!(!events.is_empty());

    let (at, len) = skippables(&bytes, CHECKPOINT_MAGIC)[0];
    let payload = &bytes[at + 8..at + len];
    let forged = replace_skippable(&bytes, at, len, &add_field(payload, r#""extra":1,"#));
    assert_eq!(check(&forged, &key).verdict, Verdict::Altered);
}

#[test]
fn the_fast_pass_over_a_whole_file_agrees_with_the_full_one() {
    let (k, p) = key();
    let events = session(400);
    let bytes = container(&events, Some(k), 4096);
    let r = check(&bytes, &p);
    assert_eq!(r.verdict, Verdict::Intact);
    let (_, read) = read_all(bytes.clone());
    assert_eq!(r.events, read.len() as u64);
    assert_eq!(r.last_event_ms, read.last().unwrap().time / 1000);
    assert_eq!(r.integrity.verified_frames, r.integrity.data_frames);
    // One byte changed anywhere in a data frame: the fast pass does not prove it, the full
    // pass names the damage.
    let mut bad = bytes.clone();
    bad[bytes.len() / 3] ^= 1;
    assert_eq!(check(&bad, &p).verdict, Verdict::Altered);
}
