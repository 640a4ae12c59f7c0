//! The container under cuts, tampering and seeks.

mod common;

use std::io::Cursor;

use common::*;
use sessrec_formats::container::{ContainerWriter, SeekIndex, Verdict, WriterOptions, open_at};
use sessrec_formats::{Event, EventData};

/// (offset, len) of each data frame and of the checkpoint after it.
fn layout(bytes: &[u8]) -> Vec<((usize, usize), (usize, usize))> {
    let index = SeekIndex::load(&mut Cursor::new(bytes.to_vec())).unwrap();
    assert!(index.from_trailer);
    index
        .frames
        .iter()
        .map(|f| {
            let cp = (f.offset + f.len) as usize;
            let size = u32::from_le_bytes(bytes[cp + 4..cp + 8].try_into().unwrap()) as usize;
            ((f.offset as usize, f.len as usize), (cp, 8 + size))
        })
        .collect()
}

#[test]
fn intact_signed_and_untrusted() {
    let (k, p) = key();
    let bytes = container(&session(300), Some(k), 2048);
    let r = check(&bytes, &p);
    assert_eq!(r.verdict, Verdict::Intact, "{r:?}");
    assert!(r.integrity.data_frames > 5);
    let (_, other) = key();
    assert_eq!(check(&bytes, &other).verdict, Verdict::UntrustedKey);
    let unsigned = container(&session(30), None, 2048);
    assert_eq!(check(&unsigned, &p).verdict, Verdict::Unsigned);
}

#[test]
fn every_cut_is_truncated_and_reads_a_prefix() {
    let (k, p) = key();
    let events = session(120);
    let bytes = container(&events, Some(k), 1500);
    let full = merged(&read_all(bytes.clone()).1);
    let mut verified_somewhere = false;
    for cut in (1..bytes.len()).step_by(3) {
        let r = check(&bytes[..cut], &p);
        assert_eq!(r.verdict, Verdict::Truncated, "cut at {cut}: {r:?}");
        verified_somewhere |= r.integrity.verified_frames > 0;
        if let Ok(mut reader) = sessrec_formats::open_reader(
            Box::new(Cursor::new(bytes[..cut].to_vec())),
            &Default::default(),
        ) {
            let got: Vec<Event> = (&mut reader)
                .collect::<Result<_, _>>()
                .expect("a cut file reads cleanly");
            assert!(reader.truncation().is_some(), "cut at {cut} not reported");
            let got = merged(&got);
            // Every event read is one of the recording's, in order; only the last may be a
            // partly flushed output chunk.
            let n = got.len();
            assert!(n <= full.len());
            if n > 1 {
                assert_eq!(got[..n - 1], full[..n - 1], "cut at {cut}");
            }
            assert!(r.events as usize <= events.len() + 10);
        }
    }
    assert!(verified_somewhere);
}

#[test]
fn every_flipped_byte_is_caught() {
    let (k, p) = key();
    let bytes = container(&session(60), Some(k), 1200);
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            let r = check(&bad, &p);
            assert_eq!(
                r.verdict,
                Verdict::Altered,
                "flip {mask:#x} at byte {i} of {}: {r:?}",
                bytes.len()
            );
        }
    }
}

#[test]
fn reordered_dropped_and_duplicated_frames_are_caught() {
    let (k, p) = key();
    let bytes = container(&session(80), Some(k), 1200);
    let l = layout(&bytes);
    assert!(l.len() >= 4);
    let piece = |(o, n): (usize, usize)| bytes[o..o + n].to_vec();
    let end_of_frames = l.last().map(|(_, (o, n))| o + n).unwrap();
    let rebuild = |order: &[usize], drop_cp: Option<usize>| {
        let mut out = Vec::new();
        for &i in order {
            out.extend(piece(l[i].0));
            if drop_cp != Some(i) {
                out.extend(piece(l[i].1));
            }
        }
        out.extend_from_slice(&bytes[end_of_frames..]);
        out
    };
    let all: Vec<usize> = (0..l.len()).collect();
    assert_eq!(check(&rebuild(&all, None), &p).verdict, Verdict::Intact);
    let mut swapped = all.clone();
    swapped.swap(1, 2);
    let cases = [
        ("swap frames 1 and 2", rebuild(&swapped, None)),
        (
            "drop frame 1",
            rebuild(&[&all[..1], &all[2..]].concat(), None),
        ),
        ("drop the last frame", rebuild(&all[..all.len() - 1], None)),
        (
            "duplicate frame 2",
            rebuild(&[&all[..3], &all[2..]].concat(), None),
        ),
        ("drop checkpoint 1", rebuild(&all, Some(1))),
    ];
    for (what, bad) in cases {
        assert_eq!(check(&bad, &p).verdict, Verdict::Altered, "{what}");
    }
    // Dropping the trailer is what a crash looks like: truncated, never intact.
    assert_eq!(
        check(&bytes[..end_of_frames], &p).verdict,
        Verdict::Truncated
    );
    // Two recordings spliced: the second's frames do not continue the first's chain.
    let (k2, _) = key();
    let other = container(&session(80), Some(k2), 1200);
    let mut spliced = bytes[..l[2].0.0].to_vec();
    spliced.extend_from_slice(&other[layout(&other)[2].0.0..]);
    assert_eq!(check(&spliced, &p).verdict, Verdict::Altered);
}

#[test]
fn seeks_with_the_trailer_and_with_checkpoints_only() {
    let events = session(400);
    let bytes = container(&events, None, 1500);
    let all = read_all(bytes.clone()).1;
    let crashed = &bytes[..layout(&bytes).last().unwrap().1.0 + 1];
    let crashed_all = read_all(crashed.to_vec()).1;
    for t in [0u64, 1, 3_000_000, 17_345_678, 40_000_000, u64::MAX / 2] {
        let want: Vec<Event> = all.iter().filter(|e| e.time >= t).cloned().collect();
        let got: Vec<Event> = open_at(Cursor::new(bytes.clone()), t)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, want, "seek to {t}");
        let want: Vec<Event> = crashed_all
            .iter()
            .filter(|e| e.time >= t)
            .cloned()
            .collect();
        let got: Vec<Event> = open_at(Cursor::new(crashed.to_vec()), t)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, want, "seek in crashed file to {t}");
    }
    let index = SeekIndex::load(&mut Cursor::new(crashed.to_vec())).unwrap();
    assert!(!index.from_trailer && index.frames.len() > 3);
}

#[test]
fn a_cut_live_recording_keeps_everything_up_to_the_last_flush() {
    // A live recorder: events, then a tick 200 ms later flushes; the file is cut right there.
    let opts = sessrec_formats::container::WriterOptions::default();
    let mut w = sessrec_formats::container::ContainerWriter::new(Vec::new(), &header(), None, opts)
        .unwrap();
    for i in 0..50u64 {
        w.write_event(&Event::output(i * 10_000, format!("line {i}\r\n")))
            .unwrap();
    }
    w.tick(700).unwrap();
    let cut = w.get_ref().clone();
    let (_, got) = read_all(cut);
    assert_eq!(got.len(), 50);
    assert_eq!(got[49].data, EventData::Output(b"line 49\r\n".to_vec()));
}

#[test]
fn a_huge_line_is_refused_not_allocated() {
    let mut bytes = b"{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.1, \"o\", \"".to_vec();
    bytes.resize(bytes.len() + sessrec_formats::MAX_LINE + 10, b'a');
    let mut r =
        sessrec_formats::open_reader(Box::new(Cursor::new(bytes)), &Default::default()).unwrap();
    let err = r.next().unwrap().unwrap_err().to_string();
    assert!(err.contains("line 2 is longer than"), "{err}");
}

/// A quiet session: a screenful of log lines every second for half an hour.
fn quiet_session() -> Vec<Event> {
    let mut state = 7u64;
    (0..1800u64)
        .map(|s| {
            let mut out = Vec::new();
            for line in 0..20 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                out.extend_from_slice(
                    format!(
                        "2026-11-26T10:{:02}:{:02}.{:03}Z INFO pod/api-{:x} request {} served in {} ms\r\n",
                        s / 60 % 60,
                        s % 60,
                        line,
                        state >> 52,
                        state >> 40 & 0xffff,
                        state >> 32 & 0x3ff
                    )
                    .as_bytes(),
                );
            }
            Event::output(s * 1_000_000, out)
        })
        .collect()
}

#[test]
fn an_archive_is_smaller_than_zstd_3_of_the_same_asciicast() {
    let (k, _) = key();
    let events = quiet_session();
    let mut plain = Vec::new();
    let mut enc = sessrec_formats::asciicast::V3Encoder::new();
    plain.extend_from_slice(&enc.header(&header()));
    for e in &events {
        enc.event(e, &mut plain);
    }
    let zstd3 = zstd::encode_all(&plain[..], 3).unwrap().len();
    let mut archive = Vec::new();
    let mut w =
        ContainerWriter::new(&mut archive, &header(), Some(k), WriterOptions::archive()).unwrap();
    for e in &events {
        w.write_event(e).unwrap();
    }
    w.finish(None).unwrap();
    eprintln!("archive {} bytes, zstd -3 {zstd3} bytes", archive.len());
    assert!(
        archive.len() <= zstd3,
        "archive {} bytes, zstd -3 {zstd3} bytes",
        archive.len()
    );
}
