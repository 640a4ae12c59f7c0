//! Writes into a `file://` store that no link can redirect. Whoever can write the store's
//! directory can plant a link in it at any moment; a write by path follows it. Here every
//! directory of a key is opened from the store's root with `openat(O_NOFOLLOW | O_DIRECTORY)`
//! (made if missing), and the file is written under a temporary name in that directory and
//! renamed into place there: a link planted at any time is refused, never followed. Names on
//! disk are the object path's parts, as `object_store`'s local store lays them out (and reads
//! them back).

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// How a file is put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Only where nothing is: an existing file is never replaced (`Err` of kind AlreadyExists).
    New,
    /// Replacing what is there (the same bytes again: a live part shipped twice).
    Replace,
}

/// Opens (making it if needed) the directory `parts` below `root`, never through a link.
fn open_dir(root: &Path, parts: &[String]) -> io::Result<OwnedFd> {
    let dir_flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    let mut fd = rustix::fs::open(root, dir_flags, Mode::empty())?;
    for part in parts {
        if part.is_empty() || part == "." || part == ".." {
            return Err(io::Error::other(format!(
                "{part:?} is not a store path part"
            )));
        }
        match rustix::fs::mkdirat(&fd, part.as_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        fd = rustix::fs::openat(&fd, part.as_str(), dir_flags, Mode::empty()).map_err(|e| {
            if e == Errno::LOOP || e == Errno::NOTDIR {
                io::Error::other(format!(
                    "{part} in the store is a link or not a directory; nothing is written \
                     through it (remove it)"
                ))
            } else {
                e.into()
            }
        })?;
    }
    Ok(fd)
}

/// Writes what `fill` produces to `parts` (the last part is the file name) below `root`.
fn put_with(
    root: &Path,
    parts: &[String],
    place: Place,
    fill: impl FnOnce(&mut std::fs::File) -> io::Result<()>,
) -> io::Result<()> {
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| io::Error::other("an empty store key"))?;
    let dir = open_dir(root, dirs)?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
    let tmp = format!(".{name}.tmp-{}", crate::manifest::hex(&nonce));
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir, tmp.as_str(), flags, Mode::from_raw_mode(0o644))?;
    let mut file = std::fs::File::from(fd);
    let written = fill(&mut file).and_then(|()| file.sync_all());
    let placed = written.and_then(|()| {
        let how = match place {
            Place::New => RenameFlags::NOREPLACE,
            Place::Replace => RenameFlags::empty(),
        };
        rustix::fs::renameat_with(&dir, tmp.as_str(), &dir, name.as_str(), how)
            .map_err(io::Error::from)
    });
    if placed.is_err() {
        let _ = rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty());
    }
    placed
}

/// Copies `source` to `parts` below `root`; returns the bytes written.
pub fn put_file(
    root: &Path,
    parts: &[String],
    source: &mut impl Read,
    place: Place,
) -> io::Result<u64> {
    let mut size = 0;
    put_with(root, parts, place, |file| {
        size = io::copy(source, file)?;
        Ok(())
    })?;
    Ok(size)
}

/// Writes `bytes` to `parts` below `root`.
pub fn put_bytes(root: &Path, parts: &[String], bytes: &[u8], place: Place) -> io::Result<()> {
    put_with(root, parts, place, |file| file.write_all(bytes))
}

/// Removes the file `parts` below `root` (gone already is fine).
pub fn remove(root: &Path, parts: &[String]) -> io::Result<()> {
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| io::Error::other("an empty store key"))?;
    let dir = open_dir(root, dirs)?;
    match rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(key: &str) -> Vec<String> {
        key.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn a_link_anywhere_is_refused_and_nothing_is_replaced() {
        let dir = tempfile::TempDir::new().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir(&root).unwrap();
        put_bytes(&root, &parts("a/b/c.json"), b"one", Place::New).unwrap();
        assert_eq!(std::fs::read(root.join("a/b/c.json")).unwrap(), b"one");
        let again = put_bytes(&root, &parts("a/b/c.json"), b"two", Place::New).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(root.join("a/b/c.json")).unwrap(), b"one");
        put_bytes(&root, &parts("a/b/c.json"), b"two", Place::Replace).unwrap();
        assert_eq!(std::fs::read(root.join("a/b/c.json")).unwrap(), b"two");

        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/x")).unwrap();
        let e = put_bytes(&root, &parts("a/x/y.json"), b"z", Place::New).unwrap_err();
        assert!(e.to_string().contains("is a link"), "{e}");
        std::os::unix::fs::symlink(outside.join("f"), root.join("a/b/l.json")).unwrap();
        assert!(put_bytes(&root, &parts("a/b/l.json"), b"z", Place::Replace).is_ok());
        assert!(
            !outside.join("f").exists(),
            "the link itself was replaced, not followed"
        );
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        remove(&root, &parts("a/b/c.json")).unwrap();
        assert!(!root.join("a/b/c.json").exists());
        assert!(put_bytes(&root, &parts("a/../b"), b"z", Place::New).is_err());
    }
}
