//! Reading a recording that is still being written (`sessrec play --follow`): at the end of
//! the file, wait while a recorder holds its lock (or, for other recorders' files, while the
//! file changed lately), then read on.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sessrec_formats::container::starts_a_container;

/// How often the end of a growing file is looked at again.
const POLL: Duration = Duration::from_millis(100);
/// A file no recorder holds is taken as finished once it has not changed for this long.
const QUIET: Duration = Duration::from_secs(5);

/// A file read to its end, then followed as it grows.
pub struct Tail {
    file: File,
    path: PathBuf,
    /// A sessrec recording: its recorder's lock alone says whether it is still written.
    locked_only: bool,
}

impl Tail {
    /// Opens `path` to follow it.
    pub fn open(path: &Path) -> io::Result<Tail> {
        let mut magic = [0u8; 4];
        let n = File::open(path)?.read(&mut magic)?;
        Ok(Tail {
            file: File::open(path)?,
            path: path.to_path_buf(),
            locked_only: starts_a_container(&magic[..n]),
        })
    }

    fn growing(&self) -> bool {
        if crate::spool::is_live(&self.path) {
            return true;
        }
        if self.locked_only {
            return false;
        }
        std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < QUIET)
    }
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if !self.growing() {
                // What was written before the lock was released.
                return self.file.read(buf);
            }
            std::thread::sleep(POLL);
        }
    }
}
