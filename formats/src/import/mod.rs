//! Readers for recordings made by other tools. Each turns its input into the sessrec model with
//! nothing dropped: output bytes exactly as stored, input where the tool kept it, sizes, exit
//! status and the tool's metadata.

pub(crate) mod civil;
pub(crate) mod script;
pub(crate) mod tlog;
pub(crate) mod ttyrec;

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub(crate) fn read_full(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
