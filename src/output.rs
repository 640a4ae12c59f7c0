//! Output files written whole or not at all: data goes to a temporary file beside the target,
//! which is synced and renamed into place only when the command succeeded. The temporary file
//! has a random name and is created exclusively without following links, so nobody can plant
//! a link or a file under its name beforehand; only a regular file is ever replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Refuses `path` as a target unless it does not exist, or is a regular file and `overwrite`.
/// A link, a directory, a device, a FIFO or a socket is never replaced, even with `--force`.
pub fn check_target(path: &Path, overwrite: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot look at {}", path.display())),
    };
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_fifo() || kind.is_socket() {
        "a FIFO or socket"
    } else if !overwrite {
        bail!("{} exists; pass --force to replace it", path.display());
    } else {
        return Ok(());
    };
    bail!(
        "{} is {what}, not a regular file; refusing to replace it (choose another output path)",
        path.display()
    )
}

/// A new file beside `path` with a random name, created exclusively (`O_EXCL`, `O_NOFOLLOW`)
/// with `mode`; its path.
pub fn temp_beside(path: &Path, mode: u32) -> Result<(File, PathBuf)> {
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)
        .map_err(|e| anyhow::anyhow!("no randomness for a temporary file name: {e}"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", u64::from_le_bytes(random)));
    let tmp = path.with_file_name(tmp_name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok((file, tmp))
}

enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File(BufWriter<File>),
}

/// Where a command writes: standard output, or a file that appears only when complete.
pub struct Output {
    sink: Sink,
    /// The temporary file and its final path, until committed.
    pending: Option<(PathBuf, PathBuf)>,
}

impl Output {
    /// Opens `path` (`-` is standard output). An existing file is refused unless `overwrite`.
    pub fn create(path: &Path, overwrite: bool) -> Result<Output> {
        if path == Path::new("-") {
            return Ok(Output {
                sink: Sink::Stdout(BufWriter::with_capacity(256 * 1024, io::stdout())),
                pending: None,
            });
        }
        check_target(path, overwrite)?;
        let (file, tmp) = temp_beside(path, 0o644)?;
        Ok(Output {
            sink: Sink::File(BufWriter::with_capacity(256 * 1024, file)),
            pending: Some((tmp, path.to_owned())),
        })
    }

    /// Flushes, syncs and moves the file into place.
    pub fn commit(mut self) -> Result<()> {
        self.flush().context("writing the output")?;
        if let Sink::File(f) = &self.sink {
            f.get_ref()
                .sync_all()
                .context("syncing the output to disk")?;
        }
        if let Some((tmp, target)) = self.pending.take()
            && let Err(e) = fs::rename(&tmp, &target)
        {
            self.pending = Some((tmp.clone(), target.clone()));
            return Err(e)
                .with_context(|| format!("moving {} to {}", tmp.display(), target.display()));
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::File(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.write_all(buf),
            Sink::File(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::File(w) => w.flush(),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Reached with a pending file only on failure: leave no partial file behind.
        if let Some((tmp, _)) = self.pending.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}
