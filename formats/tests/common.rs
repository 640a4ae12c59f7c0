//! Helpers shared by the formats tests.
#![allow(dead_code)]

use std::io::Cursor;

use proptest::prelude::*;
use sessrec_formats::container::{ContainerWriter, VerifyReport, WriterOptions, verify};
use sessrec_formats::keys::{PublicKey, SigningKey};
use sessrec_formats::{Event, EventData, Header, OpenOptions, SessrecMeta, open_reader};

/// Any event payload, including bytes that are not valid UTF-8.
pub fn arb_data() -> impl Strategy<Value = EventData> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(EventData::Output),
        4 => "\\PC{0,40}".prop_map(|s| EventData::Output(s.into_bytes())),
        2 => proptest::collection::vec(any::<u8>(), 1..12).prop_map(EventData::Input),
        1 => (1u16..500, 1u16..200).prop_map(|(cols, rows)| EventData::Resize { cols, rows }),
        1 => "\\PC{0,20}".prop_map(EventData::Marker),
        1 => any::<i32>().prop_map(EventData::Exit),
        1 => ("[ac-hj-lnp-qs-wyzA-Z]", "\\PC{0,20}").prop_map(|(code, data)| EventData::Other { code, data }),
    ]
}

/// Events with non-decreasing times.
pub fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    proptest::collection::vec((0u64..3_000_000, arb_data()), 0..50).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .map(|(dt, data)| {
                t += dt;
                Event { time: t, data }
            })
            .collect()
    })
}

/// A header with sessrec metadata and an unknown key.
pub fn header() -> Header {
    let mut h = Header::new(100, 30);
    h.term_type = Some("xterm-256color".into());
    h.timestamp = Some(1_795_726_591);
    h.command = Some("bash -l".into());
    h.extra
        .insert("x_custom".into(), serde_json::json!({"kept": [1, 2]}));
    h.sessrec = Some(SessrecMeta {
        format: 1,
        session_id: "01a219c2-66b2-7139-aa10-2da86ce065b8".into(),
        host: Some("bastion-1".into()),
        ..SessrecMeta::default()
    });
    h
}

/// Times as v3 stores them: milliseconds, never going back.
pub fn quantised(events: &[Event]) -> Vec<Event> {
    let mut last = 0;
    events
        .iter()
        .map(|e| {
            let ms = ((e.time + 500) / 1000).max(last);
            last = ms;
            Event {
                time: ms * 1000,
                data: e.data.clone(),
            }
        })
        .collect()
}

/// Joins adjacent output (or input) events at the same time: a chunk that is not valid UTF-8 is
/// stored as several lines and read back as several events.
pub fn merged(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        if let Some(last) = out.last_mut()
            && last.time == e.time
        {
            match (&mut last.data, &e.data) {
                (EventData::Output(a), EventData::Output(b))
                | (EventData::Input(a), EventData::Input(b)) => {
                    a.extend_from_slice(b);
                    continue;
                }
                _ => {}
            }
        }
        out.push(e.clone());
    }
    out
}

/// Reads every event of `bytes`.
pub fn read_all(bytes: Vec<u8>) -> (Header, Vec<Event>) {
    let mut r = open_reader(Box::new(Cursor::new(bytes)), &OpenOptions::default()).expect("open");
    let events = (&mut r).collect::<Result<Vec<_>, _>>().expect("events");
    (r.header().clone(), events)
}

/// Writes a container with small frames and a flush after every event, so cuts land everywhere.
pub fn container(events: &[Event], key: Option<SigningKey>, frame_bytes: u64) -> Vec<u8> {
    let opts = WriterOptions {
        frame_bytes,
        flush_ms: 0,
        ..WriterOptions::default()
    };
    let mut w = ContainerWriter::new(Vec::new(), &header(), key, opts).expect("writer");
    for e in events {
        w.write_event(e).expect("write");
        w.tick(e.time / 1000).expect("tick");
    }
    w.finish(None).expect("finish")
}

/// A realistic interactive session.
pub fn session(n: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut t = 0;
    for i in 0..n {
        t += 37_000 + (i as u64 % 7) * 113_000;
        events.push(Event {
            time: t,
            data: EventData::Input(format!("ls -l /var/log/{i}\r").into_bytes()),
        });
        t += 2_000;
        let text = format!(
            "\x1b[1;32mline {i}\x1b[0m total {}\r\n日本語 🎉 -rw-r--r-- 1 root root\r\n$ ",
            i * 7
        );
        events.push(Event::output(t, text));
        if i % 50 == 25 {
            events.push(Event::output(t, &b"\xff\xfe binary \xe6\x97"[..]));
            events.push(Event {
                time: t,
                data: EventData::Resize {
                    cols: 120,
                    rows: 40,
                },
            });
            events.push(Event {
                time: t,
                data: EventData::Marker(format!("m{i}")),
            });
        }
    }
    events.push(Event {
        time: t + 1000,
        data: EventData::Exit(3),
    });
    events
}

/// A new key pair.
pub fn key() -> (SigningKey, PublicKey) {
    let k = SigningKey::generate().unwrap();
    let p = k.public();
    (k, p)
}

/// Verifies `bytes` against `trusted`.
pub fn check(bytes: &[u8], trusted: &PublicKey) -> VerifyReport {
    verify(Cursor::new(bytes.to_vec()), vec![trusted.clone()]).expect("verify runs")
}
