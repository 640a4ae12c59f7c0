//! `verify` and seeking. Every input is verified and its seek index loaded; for a file whose
//! records are all signed and undamaged (so its index is the writer's, not the fuzzer's), the
//! events from a seek to `t` must be exactly the events at or after `t` of a full read.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sessrec_formats::OpenOptions;
use sessrec_formats::container::{SeekIndex, open_at, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(report) = verify(Cursor::new(data), Vec::new()) else {
        return;
    };
    let _ = report.unverified_tail_ms();
    let index = SeekIndex::load(&mut Cursor::new(data));
    let integ = &report.integrity;
    let signed = integ.damage.is_none()
        && integ.session_id.is_some()
        && integ.unsigned == 0
        && integ.untrusted_signatures + integ.trusted_signatures > 0;
    let (Ok(index), true) = (index, signed) else {
        return;
    };
    let Some(mut full) = sessrec_fuzz::open(data, &OpenOptions::default()) else {
        panic!("verify accepted a file that does not open");
    };
    let (all, failed) = sessrec_fuzz::drain(&mut full);
    if failed || all.len() >= sessrec_fuzz::MAX_EVENTS {
        return;
    }
    let mut times: Vec<u64> = vec![0, 1, u64::MAX];
    for f in &index.frames {
        let t = f.base_ms.saturating_mul(1000);
        times.extend([t, t.saturating_add(1), t.saturating_sub(1)]);
    }
    times.extend(all.iter().map(|e| e.time));
    times.sort_unstable();
    times.dedup();
    for &t in times.iter().take(64) {
        let mut sought = open_at(Cursor::new(data.to_vec()), t).expect("seek in a verified file");
        let (got, failed) = sessrec_fuzz::drain(&mut sought);
        assert!(!failed, "seek to {t} failed where a full read did not");
        let want: Vec<_> = all.iter().filter(|e| e.time >= t).cloned().collect();
        assert_eq!(got, want, "seek to {t}");
    }
});
