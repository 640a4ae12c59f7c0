//! Where a segment's compressed events are kept: in memory up to a budget, then in a file (an
//! unnamed temporary file while building, or the index cache file it was loaded from). So a
//! reviewer's memory stays bounded however long or incompressible the recording is; the page
//! cache, not the heap, holds what does not fit.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// Compressed events kept in memory before later segments go to a file.
pub const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// A segment's events, encoded and compressed.
pub(crate) enum StoredEvents {
    /// Held in memory.
    Memory(Vec<u8>),
    /// `len` bytes at `offset` in `file`.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
}

impl StoredEvents {
    /// The compressed bytes.
    pub(crate) fn bytes(&self) -> io::Result<Cow<'_, [u8]>> {
        match self {
            StoredEvents::Memory(b) => Ok(Cow::Borrowed(b)),
            StoredEvents::File { file, offset, len } => {
                let mut out = vec![0; usize::try_from(*len).map_err(io::Error::other)?];
                file.read_exact_at(&mut out, *offset)?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// Bytes held in memory.
    pub(crate) fn in_memory(&self) -> usize {
        match self {
            StoredEvents::Memory(b) => b.len(),
            StoredEvents::File { .. } => 0,
        }
    }

    /// Bytes held in a file.
    pub(crate) fn in_file(&self) -> u64 {
        match self {
            StoredEvents::Memory(_) => 0,
            StoredEvents::File { len, .. } => *len,
        }
    }
}

/// Puts segments in memory until the budget is spent, then in an unnamed file in a directory.
pub(crate) struct Spill {
    dir: Option<PathBuf>,
    budget: usize,
    in_memory: usize,
    file: Option<(Arc<File>, u64)>,
    /// Set once the file could not be made or written: the rest stays in memory.
    failed: bool,
}

impl Spill {
    /// Everything in memory.
    pub(crate) fn none() -> Spill {
        Spill {
            dir: None,
            budget: usize::MAX,
            in_memory: 0,
            file: None,
            failed: false,
        }
    }

    /// Past `budget` bytes in memory, into a file in `dir`.
    pub(crate) fn to(dir: PathBuf, budget: usize) -> Spill {
        Spill {
            dir: Some(dir),
            budget,
            ..Spill::none()
        }
    }

    /// Keeps `compressed` where there is room for it. A file that cannot be made or written
    /// (a full disk) leaves it in memory: the player gets heavier, never loses a segment.
    pub(crate) fn keep(&mut self, compressed: Vec<u8>) -> StoredEvents {
        if self.in_memory + compressed.len() > self.budget && !self.failed {
            match self.write(&compressed) {
                Ok(stored) => return stored,
                Err(_) => self.failed = true,
            }
        }
        self.in_memory += compressed.len();
        StoredEvents::Memory(compressed)
    }

    fn write(&mut self, compressed: &[u8]) -> io::Result<StoredEvents> {
        if self.file.is_none() {
            let dir = self
                .dir
                .as_ref()
                .ok_or_else(|| io::Error::other("no dir"))?;
            std::fs::create_dir_all(dir)?;
            self.file = Some((Arc::new(tempfile::tempfile_in(dir)?), 0));
        }
        let (file, end) = self.file.as_mut().expect("made above");
        file.write_all_at(compressed, *end)?;
        let stored = StoredEvents::File {
            file: file.clone(),
            offset: *end,
            len: compressed.len() as u64,
        };
        *end += compressed.len() as u64;
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_budget_segments_go_to_a_file_and_read_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut spill = Spill::to(dir.path().join("spill"), 10);
        let a = spill.keep(b"0123456789".to_vec());
        let b = spill.keep(b"abc".to_vec());
        let c = spill.keep(b"defg".to_vec());
        assert_eq!((a.in_memory(), a.in_file()), (10, 0));
        assert_eq!((b.in_memory(), b.in_file()), (0, 3));
        assert_eq!(&*a.bytes().unwrap(), b"0123456789");
        assert_eq!(&*b.bytes().unwrap(), b"abc");
        assert_eq!(&*c.bytes().unwrap(), b"defg");
        // The file is unnamed: nothing is left behind in the directory.
        assert_eq!(
            std::fs::read_dir(dir.path().join("spill")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_directory_that_cannot_be_written_keeps_segments_in_memory() {
        let dir = tempfile::TempDir::new().unwrap();
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"not a directory").unwrap();
        let mut spill = Spill::to(blocked.join("spill"), 0);
        let a = spill.keep(b"abc".to_vec());
        assert_eq!(a.in_memory(), 3);
        assert_eq!(&*a.bytes().unwrap(), b"abc");
    }
}
