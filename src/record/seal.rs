//! The sealed manifest the recording service writes beside a spool recording once it is sealed:
//! whose session it is, its size and SHA-256, complete or stopped, signed with the host's key
//! (the uploader cannot read that key, so the service signs for it). The bytes are hashed as
//! they are written, so sealing costs no second read of the recording.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sessrec_formats::Header;
use sessrec_formats::keys::SigningKey;
use sessrec_store::{Sealed, SealedState};
use sha2::{Digest, Sha256};

/// A file that hashes what is written to it.
pub struct HashingFile {
    file: File,
    hasher: Sha256,
    size: u64,
}

impl HashingFile {
    /// Wraps a new, empty file.
    pub fn new(file: File) -> HashingFile {
        HashingFile {
            file,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file, the bytes written and their SHA-256 (hex).
    pub fn finish(self) -> (File, u64, String) {
        let digest = self.hasher.finalize();
        (self.file, self.size, sessrec_store::manifest::hex(&digest))
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where and with which key the sealed manifest is written.
pub struct SealNote {
    /// `SPOOL/SESSION.manifest.json`.
    pub path: PathBuf,
    /// The host's key.
    pub key: Option<SigningKey>,
    /// The recording's header.
    pub header: Header,
}

impl SealNote {
    /// For the spool recording at `recording`.
    pub fn beside(recording: &Path, key: Option<SigningKey>, header: Header) -> SealNote {
        let name = recording
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".cast.zst"))
            .unwrap_or("recording");
        SealNote {
            path: recording.with_file_name(format!("{name}.manifest.json")),
            key,
            header,
        }
    }

    /// Writes the signed manifest of a sealed recording (synced, then renamed into place, so
    /// the uploader sees all of it or nothing; readable by the spool's group).
    pub fn write(&self, size: u64, sha256: String, end_ms: u64, stopped: bool) -> Result<()> {
        let state = if stopped {
            SealedState::Stopped
        } else {
            SealedState::Complete
        };
        let sealed = Sealed::new(&self.header, size, sha256, end_ms, state)
            .context("describing the sealed recording")?;
        let json = serde_json::to_vec(&sealed.attest(self.key.as_ref()))
            .context("writing the sealed manifest")?;
        let tmp = self.path.with_extension("json.tmp");
        let what = || format!("cannot write the sealed manifest {}", self.path.display());
        let _ = std::fs::remove_file(&tmp);
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&tmp)
                .with_context(what)?
        };
        if let Some(dir) = self.path.parent()
            && let Ok(meta) = std::fs::metadata(dir)
        {
            use std::os::unix::fs::MetadataExt;
            let _ = rustix::fs::fchown(&file, None, Some(rustix::fs::Gid::from_raw(meta.gid())));
        }
        file.write_all(&json).with_context(what)?;
        file.sync_all().with_context(what)?;
        std::fs::rename(&tmp, &self.path).with_context(what)?;
        Ok(())
    }
}
