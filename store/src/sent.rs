//! What an upload sent: its size, its SHA-256 for the manifest, and the MD5 of each part, which
//! S3-compatible stores combine into the ETag of the whole.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::manifest::hex;

/// What was sent: its size, SHA-256, and the MD5 of each `part`-sized slice (the parts of the
/// multipart upload: to compare with the store's ETag, or with the read-back slice by slice).
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub size: u64,
    pub sha256: String,
    pub parts: Vec<[u8; 16]>,
}

impl Sent {
    /// The ETag an S3-compatible store gives an object uploaded in these parts: the MD5 of the
    /// parts' MD5s, a dash, and the number of parts.
    pub fn multipart_etag(&self) -> String {
        let mut all = Md5::new();
        for part in &self.parts {
            all.update(part);
        }
        format!("{}-{}", hex(&all.finalize()), self.parts.len())
    }
}

/// Hashes what is sent, chunk by chunk, into a [`Sent`].
pub(crate) struct SentHasher {
    part: u64,
    whole: Sha256,
    slice: Md5,
    parts: Vec<[u8; 16]>,
    size: u64,
}

impl SentHasher {
    /// Slices are `part` bytes long.
    pub fn new(part: usize) -> SentHasher {
        SentHasher {
            part: part as u64,
            whole: Sha256::new(),
            slice: Md5::new(),
            parts: Vec::new(),
            size: 0,
        }
    }

    /// The next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.whole.update(chunk);
        // Slice ends may fall inside a chunk: split there.
        let mut rest = chunk;
        while !rest.is_empty() {
            let take = ((self.part - self.size % self.part) as usize).min(rest.len());
            self.slice.update(&rest[..take]);
            self.size += take as u64;
            if self.size.is_multiple_of(self.part) {
                self.parts
                    .push(std::mem::take(&mut self.slice).finalize().into());
            }
            rest = &rest[take..];
        }
    }

    /// The MD5 of the slice completed last (of the bytes so far, if the last one is short).
    pub fn last_part(&self) -> [u8; 16] {
        if self.size.is_multiple_of(self.part) && !self.parts.is_empty() {
            *self.parts.last().expect("not empty")
        } else {
            self.slice.clone().finalize().into()
        }
    }

    /// What was sent.
    pub fn finish(mut self) -> Sent {
        if !self.size.is_multiple_of(self.part) || self.parts.is_empty() {
            self.parts.push(self.slice.finalize().into());
        }
        Sent {
            size: self.size,
            sha256: hex(&self.whole.finalize()),
            parts: self.parts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_and_etag_match_hashing_in_one_go() {
        let data: Vec<u8> = (0..25u32).flat_map(|i| [i as u8; 1000]).collect();
        let mut h = SentHasher::new(10_000);
        // Uneven chunks, so slice ends fall inside them.
        for chunk in data.chunks(3_333) {
            h.update(chunk);
        }
        let sent = h.finish();
        assert_eq!(sent.size, 25_000);
        assert_eq!(sent.sha256, hex(&Sha256::digest(&data)));
        let want: Vec<[u8; 16]> = data.chunks(10_000).map(|c| Md5::digest(c).into()).collect();
        assert_eq!(sent.parts, want);
        let mut all = Md5::new();
        for p in &want {
            all.update(p);
        }
        assert_eq!(sent.multipart_etag(), format!("{}-3", hex(&all.finalize())));
    }
}
