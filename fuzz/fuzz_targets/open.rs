//! Format detection and every importer: any bytes, opened the way `sessrec play FILE` opens
//! them (asciicast v1/v2/v3, .cast.zst, gzip of any of them, ttyrec, script, tlog). A leading
//! `T` byte splits the input at the first NUL into a `script` typescript and its timing file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_formats::OpenOptions;

fuzz_target!(|data: &[u8]| {
    let mut opts = OpenOptions::default();
    let mut bytes = data;
    if let Some(rest) = data.strip_prefix(b"T")
        && let Some(nul) = rest.iter().position(|&b| b == 0)
    {
        let path = sessrec_fuzz::scratch_dir().join("typescript.tm");
        if std::fs::write(&path, &rest[nul + 1..]).is_ok() {
            opts.timing = Some(path);
            bytes = &rest[..nul];
        }
    }
    if let Some(mut reader) = sessrec_fuzz::open(bytes, &opts) {
        let _ = reader.header().session_id();
        let _ = sessrec_fuzz::drain(&mut reader);
        let _ = reader.truncation();
        let _ = reader.integrity();
    }
});
