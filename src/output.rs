//! Output files written whole or not at all: data goes to a temporary file beside the target,
//! which is synced and renamed into place only when the command succeeded.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

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
        if path.exists() && !overwrite {
            bail!("{} exists; pass --force to replace it", path.display());
        }
        let name = path
            .file_name()
            .context("the output path has no file name")?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
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
