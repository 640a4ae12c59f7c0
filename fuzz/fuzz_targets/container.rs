//! The container reader: a `.cast.zst` read as the plain stream it holds, its structure and
//! hash chain checked on the way, then opened for events. Reading must end (data, a cut or
//! damage) with memory bounded whatever the frames claim.
#![no_main]

use std::io::{Cursor, Read};

use libfuzzer_sys::fuzz_target;
use sessrec_formats::OpenOptions;
use sessrec_formats::container::ContainerReader;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = ContainerReader::new(Cursor::new(data), Vec::new()) {
        let mut sink = [0u8; 64 * 1024];
        while let Ok(n) = reader.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        let integrity = reader.integrity();
        assert!(
            integrity.bytes_read <= data.len() as u64,
            "read past the end"
        );
    }
    if let Some(mut reader) = sessrec_fuzz::open(data, &OpenOptions::default()) {
        let _ = sessrec_fuzz::drain(&mut reader);
    }
});
