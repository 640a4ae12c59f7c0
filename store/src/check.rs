//! Verifying a spool recording before it is shipped, and hashing it in the same read: what
//! the uploader compares with the sealed manifest and the store.

use std::path::Path;

use sessrec_formats::container::verify;
use sessrec_formats::keys::PublicKey;

use crate::manifest::{ShippedVerdict, hex};
use crate::{Result, StoreError};

/// What [`check`] found of a local recording.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Its verdict.
    pub verdict: ShippedVerdict,
    /// To its last event, in milliseconds.
    pub duration_ms: u64,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Verifies a local recording against `trusted` and hashes it, in one read.
pub fn check(path: &Path, trusted: &[PublicKey]) -> Result<Checked> {
    use sha2::Digest;
    struct Hashing<R> {
        inner: R,
        hasher: sha2::Sha256,
        size: u64,
        pos: u64,
    }
    impl<R: std::io::Read> std::io::Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            // verify looks at the end first, then reads from the start: hash each byte once,
            // in order, and nothing read ahead of what is hashed.
            let end = self.pos + n as u64;
            if self.pos <= self.size && end > self.size {
                let skip = (self.size - self.pos) as usize;
                self.hasher.update(&buf[skip..n]);
                self.size = end;
            }
            self.pos = end;
            Ok(n)
        }
    }
    impl<R: std::io::Seek> std::io::Seek for Hashing<R> {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.pos = self.inner.seek(to)?;
            Ok(self.pos)
        }
    }
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| StoreError::io(format!("opening {shown}"), e))?;
    let len = file
        .metadata()
        .map_err(|e| StoreError::io(format!("opening {shown}"), e))?
        .len();
    let mut reader = Hashing {
        inner: std::io::BufReader::new(file),
        hasher: sha2::Sha256::new(),
        size: 0,
        pos: 0,
    };
    let report = verify(&mut reader, trusted.to_vec())
        .map_err(|e| StoreError::Recording(format!("{shown}: {e}")))?;
    if reader.size != len {
        return Err(StoreError::Recording(format!(
            "{shown} changed while it was verified ({len} bytes, {} read)",
            reader.size
        )));
    }
    Ok(Checked {
        verdict: report.verdict.into(),
        duration_ms: report.last_event_ms,
        sha256: hex(&reader.hasher.finalize()),
        size: reader.size,
    })
}
