//! Files and directories of a bundle are always new: created exclusively, never through a link,
//! so nothing planted in the bundle directory while an export runs is written through.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// A new file at `path` (it must not exist, not even as a link).
pub fn new_file(path: impl AsRef<Path>) -> io::Result<File> {
    let path = path.as_ref();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}

/// A new file at `path` holding `bytes`.
pub fn write_new(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    let mut f = new_file(path)?;
    f.write_all(bytes.as_ref())?;
    f.sync_all()
}

/// A new directory at `path`.
pub fn new_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}
