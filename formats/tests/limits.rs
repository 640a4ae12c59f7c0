//! The shared limits (formats::limits) hold on both sides: whatever a writer is given, it
//! writes lines, frames, windows and headers a reader accepts, and a reader stops a file that
//! asks for more, with an error that names the limit.

mod common;

use std::io::{Cursor, Read, Write};

use sessrec_formats::asciicast::{V2Encoder, V3Encoder, chunks};
use sessrec_formats::container::{ContainerReader, ContainerWriter, WriterOptions, verify};
use sessrec_formats::limits::{MAX_FRAME_PLAIN, MAX_HEADER, MAX_LINE};
use sessrec_formats::{Event, EventData, Format, OpenOptions, open_reader};

use common::{header, merged, read_all};

fn longest_line(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

#[test]
fn encoders_split_long_output_into_lines_readers_accept() {
    // Control bytes escape to six bytes each: 3 MiB of them would be an 18 MiB line.
    let data: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|i| [1u8, b'a', 0xff][i % 3])
        .collect();
    let event = Event::output(1_000, data.clone());
    let (mut v3, mut v2) = (Vec::new(), Vec::new());
    V3Encoder::new().event(&event, &mut v3);
    V2Encoder.event(&event, &mut v2);
    assert!(longest_line(&v3) <= MAX_LINE, "{}", longest_line(&v3));
    assert!(longest_line(&v2) <= MAX_LINE, "{}", longest_line(&v2));
    let bytes = common::container(std::slice::from_ref(&event), None, 16 << 20);
    let (_, back) = read_all(bytes);
    assert_eq!(merged(&back), vec![Event::output(1_000, data)]);
}

#[test]
fn chunks_cut_at_character_boundaries() {
    let text = "日本語".repeat(1000);
    for max in [4, 5, 7, 1024] {
        let pieces: Vec<&[u8]> = chunks(text.as_bytes(), max).collect();
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= max.max(4) && std::str::from_utf8(p).is_ok())
        );
        assert_eq!(pieces.concat(), text.as_bytes());
    }
    // Bytes that are not UTF-8 are cut anyway, and nothing is lost.
    let junk = vec![0x80u8; 10];
    assert_eq!(
        chunks(&junk, 4).map(<[u8]>::len).collect::<Vec<_>>(),
        [4, 4, 2]
    );
}

#[test]
fn an_oversized_marker_is_cut_visibly_not_made_unreadable() {
    let label = "\u{7f}".repeat(2 * 1024 * 1024);
    let event = Event {
        time: 0,
        data: EventData::Marker(label),
    };
    let bytes = common::container(&[event], None, 16 << 20);
    let (_, back) = read_all(bytes);
    let [
        Event {
            data: EventData::Marker(got),
            ..
        },
    ] = &back[..]
    else {
        panic!("{back:?}");
    };
    assert!(
        got.ends_with("bytes cut: longer than sessrec keeps]"),
        "{}",
        &got[got.len() - 60..]
    );
}

#[test]
fn writer_options_past_the_limits_are_clamped() {
    // A 128 MiB window asked for, and frames of 1 GiB: what comes out is still readable.
    let opts = WriterOptions {
        level: 22,
        window_log: Some(27),
        frame_bytes: 1 << 30,
        ..WriterOptions::default()
    };
    let mut w = ContainerWriter::new(Vec::new(), &header(), None, opts).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for i in 0..40 {
        w.write_event(&Event::output(i, chunk.clone())).unwrap();
    }
    let bytes = w.finish(None).unwrap();
    let report = verify(Cursor::new(&bytes), Vec::new()).unwrap();
    assert!(
        report.integrity.damage.is_none(),
        "{:?}",
        report.integrity.damage
    );
    let frames = report.integrity.trailer.as_ref().unwrap().frames.clone();
    assert!(frames.len() >= 2, "frames were not cut: {}", frames.len());
    assert!(frames.iter().all(|f| f.plain_len <= MAX_FRAME_PLAIN));
    let (_, back) = read_all(bytes);
    assert_eq!(back.len(), 40);
}

#[test]
fn a_header_too_long_to_write_back_is_refused_on_both_sides() {
    let mut h = header();
    h.title = Some("t".repeat(MAX_HEADER + 1));
    let err = ContainerWriter::new(Vec::new(), &h, None, WriterOptions::default()).err();
    assert!(err.is_some_and(|e| e.to_string().contains("the header to write")));
    // Read: DEL escapes to six bytes, so 400 KiB of them is a header of 2.4 MiB written.
    let line = format!(
        "{{\"version\": 2, \"width\": 80, \"height\": 24, \"title\": \"{}\"}}\n",
        "\u{7f}".repeat(400 * 1024)
    );
    let err = open_reader(
        Box::new(Cursor::new(line.into_bytes())),
        &OpenOptions::default(),
    )
    .err();
    assert!(err.is_some_and(|e| e.to_string().contains("the header is longer")));
}

#[test]
fn a_gzip_that_expands_without_measure_is_stopped() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"version\": 2, \"width\": 80, \"height\": 24}\n")
        .unwrap();
    let blank = vec![b'\n'; 1 << 20];
    for _ in 0..100 {
        gz.write_all(&blank).unwrap();
    }
    let bytes = gz.finish().unwrap();
    let r = open_reader(Box::new(Cursor::new(bytes)), &OpenOptions::default()).unwrap();
    let err = r.into_iter().find_map(Result::err).expect("an error");
    assert!(
        err.explain().contains("expands more than 256 times"),
        "{}",
        err.explain()
    );
}

#[test]
fn a_frame_asking_for_a_huge_window_is_refused_before_decoding() {
    // zstd frame header: no single segment, window descriptor for 2^31, then a raw block.
    let line = b"{\"version\": 3, \"term\": {\"cols\": 80, \"rows\": 24}}\n";
    let mut bytes = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, (31 - 10) << 3];
    let block = ((line.len() as u32) << 3) | 1;
    bytes.extend_from_slice(&block.to_le_bytes()[..3]);
    bytes.extend_from_slice(line);
    let mut r = ContainerReader::new(Cursor::new(bytes), Vec::new()).unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    let damage = r.integrity().damage.clone().expect("damage");
    assert!(
        damage.reason.contains("zstd window over 16 MiB"),
        "{}",
        damage.reason
    );
}

#[test]
fn a_v1_document_with_tlog_keys_is_v1() {
    let doc = "{\"version\": 1, \"width\": 8, \"height\": 2, \"ver\": 1, \"timing\": \"=8x2\", \
               \"stdout\": [[0.5, \"hi\"]]}\n\n";
    let r = open_reader(
        Box::new(Cursor::new(doc.as_bytes().to_vec())),
        &OpenOptions::default(),
    );
    assert_eq!(r.unwrap().format(), Format::AsciicastV1);
}
