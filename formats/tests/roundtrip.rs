//! Property tests: model → v2 / v3 / .cast.zst → model loses nothing (times to the format's
//! precision).

mod common;

use common::*;
use proptest::prelude::*;
use sessrec_formats::asciicast::{Encoder, V2Encoder, V3Encoder};
use sessrec_formats::{Event, Header};

fn encode(mut enc: impl Encoder, header: &Header, events: &[Event]) -> Vec<u8> {
    let mut out = enc.header(header);
    for e in events {
        enc.event(e, &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn v3_round_trip(events in arb_events()) {
        let (h, read) = read_all(encode(V3Encoder::new(), &header(), &events));
        prop_assert_eq!(h, header());
        prop_assert_eq!(merged(&read), merged(&quantised(&events)));
    }

    #[test]
    fn v2_round_trip(events in arb_events()) {
        let expected = header();
        let (h, read) = read_all(encode(V2Encoder, &expected, &events));
        prop_assert_eq!(h.cols, 100);
        prop_assert_eq!(h.term_type.as_deref(), Some("xterm-256color"));
        prop_assert_eq!(&h.sessrec, &expected.sessrec);
        prop_assert_eq!(h.extra.get("x_custom"), expected.extra.get("x_custom"));
        prop_assert_eq!(merged(&read), merged(&events));
    }

    #[test]
    fn container_round_trip(events in arb_events(), frame_bytes in 64u64..4096) {
        let expected = header();
        let (h, read) = read_all(container(&events, None, frame_bytes));
        prop_assert_eq!(h.session_id(), expected.session_id());
        prop_assert_eq!(h.extra.get("x_custom"), expected.extra.get("x_custom"));
        prop_assert_eq!(merged(&read), merged(&quantised(&events)));
    }
}

#[test]
fn quantised_times_never_drift() {
    // 10 000 events 1.4 ms apart: naive per-interval rounding would drift by 4 s.
    let events: Vec<Event> = (1..=10_000)
        .map(|i| Event::output(i * 1_400, "x"))
        .collect();
    let (_, read) = read_all(encode(V3Encoder::new(), &header(), &events));
    assert_eq!(read.last().map(|e| e.time), Some(14_000_000));
}
