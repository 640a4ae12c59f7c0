//! The index on disk: a timeline built once is saved in the user's cache directory and loaded
//! the next time the same recording is played, instead of being rebuilt. "The same" is its
//! path, size and the SHA-256 of all its bytes: whoever can write a recording can also set its
//! modification time, and a timeline built from a forged file must never be shown for the
//! genuine one (a hash of its edges alone was fooled that way). A cache file that
//! cannot be read is ignored (the timeline is rebuilt); the cache keeps at most [`LIMIT`]
//! bytes, dropping the least recently used files first.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::screen::Keyframe;
use crate::stored::StoredEvents;
use crate::timeline::{MARKER_LABEL, MAX_SEGMENT_RAW, Marker, MarkerKind, Segment, Timeline};
use sessrec_formats::limits::MAX_SCREEN;

const MAGIC: &[u8] = b"sessrec-index-4\n";
/// The most the cache directory holds.
pub const LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The cache file for the recording at `path` in `dir`, if the recording can be read.
pub fn entry(dir: &Path, path: &Path) -> Option<PathBuf> {
    let mut file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut h = Sha256::new();
    h.update(
        std::fs::canonicalize(path)
            .ok()?
            .as_os_str()
            .as_encoded_bytes(),
    );
    h.update(meta.len().to_le_bytes());
    let mut content = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => content.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    h.update(content.finalize());
    let name: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(dir.join(format!("{name}.index")))
}

/// The timeline saved at `at`, if there is one and it reads whole. Its segments' events stay
/// in the file (read when a seek needs them), so loading costs little memory.
pub fn load(at: &Path) -> Option<Timeline> {
    let file = Arc::new(File::open(at).ok()?);
    if !written_only_by_me(&file.metadata().ok()?)
        || !written_only_by_me(&std::fs::metadata(at.parent()?).ok()?)
    {
        // Someone else could have written it: rebuild rather than show what they planted.
        return None;
    }
    let mut r = BufReader::new(&*file);
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic).ok()?;
    if magic != MAGIC {
        return None;
    }
    // Bound to its entry: an index saved for one recording, copied under another's name, is
    // not that recording's.
    let mut name = [0u8; 8];
    r.read_exact(&mut name).ok()?;
    let len = u64::from_le_bytes(name);
    let mut bound = vec![0u8; usize::try_from(len).ok().filter(|&n| n <= 256)?];
    r.read_exact(&mut bound).ok()?;
    if bound != entry_name(at) {
        return None;
    }
    let t = read_timeline(&mut r, &file).ok()?;
    // Mark it used, for the pruning.
    let _ = File::options()
        .append(true)
        .open(at)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    Some(t)
}

/// The entry a cache file is for: its file name, which [`entry`] derives from the recording's
/// path, size and content hash.
fn entry_name(at: &Path) -> Vec<u8> {
    at.file_name()
        .map(|n| n.as_encoded_bytes().to_vec())
        .unwrap_or_default()
}

/// Whether only this user (or root) can have written what `meta` describes: owned by the
/// effective user and not writable by group or others.
fn written_only_by_me(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    meta.uid() == me && meta.mode() & 0o022 == 0
}

/// Saves `timeline` at `at` (whole or not at all), then trims the cache directory.
pub fn save(at: &Path, timeline: &Timeline) -> io::Result<()> {
    let dir = at.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = at.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut w = BufWriter::new(File::create(&tmp)?);
    w.write_all(MAGIC)?;
    bytes(&mut w, &entry_name(at))?;
    write_timeline(&mut w, timeline)?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, at)?;
    prune(dir, LIMIT);
    Ok(())
}

/// Removes the least recently used index files until the directory holds at most `limit`.
fn prune(dir: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "index"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    for (_, len, path) in files {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

fn write_timeline(w: &mut impl Write, t: &Timeline) -> io::Result<()> {
    u64s(
        w,
        &[
            t.duration,
            t.output_bytes,
            t.initial_size.0 as u64,
            t.initial_size.1 as u64,
        ],
    )?;
    match t.exit {
        Some(code) => u64s(w, &[1, code as u32 as u64])?,
        None => u64s(w, &[0, 0])?,
    }
    u64s(w, &[t.markers.len() as u64, t.markers_not_listed])?;
    for m in &t.markers {
        let kind = match m.kind {
            MarkerKind::Note => 0,
            MarkerKind::Withheld => 1,
            MarkerKind::Grant => 2,
            MarkerKind::Suspicious => 3,
        };
        u64s(w, &[m.time, kind])?;
        bytes(w, m.label.as_bytes())?;
    }
    u64s(w, &[t.segments.len() as u64])?;
    for s in &t.segments {
        let (dump, carry, (cols, rows)) = s.keyframe.parts();
        u64s(w, &[s.start, cols as u64, rows as u64])?;
        bytes(w, dump.as_bytes())?;
        bytes(w, carry)?;
        bytes(w, &s.events.bytes()?)?;
    }
    Ok(())
}

/// The longest keyframe read back: a full 640×240 screen with a colour change at every cell.
const MAX_KEYFRAME: u64 = 32 * 1024 * 1024;
/// The most a segment's compressed events take (compression never adds much).
const MAX_COMPRESSED_SEGMENT: u64 = MAX_SEGMENT_RAW as u64 + 1024 * 1024;

/// Reads a saved timeline, trusting nothing in it: whoever can write the reviewer's cache
/// directory may have planted the file. Every count and length is checked against what is
/// left of the file before anything is allocated, sizes against the emulator's limits, times
/// against their order; a segment's events are decompressed only when a seek needs them, then
/// bounded too (see [`Timeline::events`]).
fn read_timeline(r: &mut BufReader<&File>, file: &Arc<File>) -> io::Result<Timeline> {
    let file_len = file.metadata()?.len();
    let mut left = Left { r, file_len };
    let [duration, output_bytes, cols, rows] = left.u64s::<4>()?;
    let [has_exit, exit] = left.u64s::<2>()?;
    let initial_size = screen_size(cols, rows)?;
    if has_exit > 1 || exit > u64::from(u32::MAX) {
        return Err(bad());
    }
    let [marker_count, markers_not_listed] = left.u64s::<2>()?;
    let mut markers = Vec::with_capacity(left.items(marker_count, 24)?);
    for _ in 0..marker_count {
        let [time, kind] = left.u64s::<2>()?;
        let label = String::from_utf8(left.bytes(MARKER_LABEL as u64 + 4)?).map_err(|_| bad())?;
        let kind = match kind {
            0 => MarkerKind::Note,
            1 => MarkerKind::Withheld,
            2 => MarkerKind::Grant,
            3 => MarkerKind::Suspicious,
            _ => return Err(bad()),
        };
        if time > duration || markers.last().is_some_and(|m: &Marker| m.time > time) {
            return Err(bad());
        }
        markers.push(Marker { time, label, kind });
    }
    let segment_count = left.u64s::<1>()?[0];
    let mut segments: Vec<Segment> = Vec::with_capacity(left.items(segment_count, 48)?);
    for _ in 0..segment_count {
        let [start, cols, rows] = left.u64s::<3>()?;
        if start > duration || segments.last().is_some_and(|s| s.start > start) {
            return Err(bad());
        }
        let size = screen_size(cols, rows)?;
        let dump = String::from_utf8(left.bytes(MAX_KEYFRAME)?).map_err(|_| bad())?;
        let carry = left.bytes(4)?;
        let [len] = left.u64s::<1>()?;
        let offset = left.r.stream_position()?;
        if len > MAX_COMPRESSED_SEGMENT || offset.checked_add(len).is_none_or(|e| e > file_len) {
            return Err(bad());
        }
        left.r
            .seek_relative(i64::try_from(len).map_err(|_| bad())?)?;
        let events = StoredEvents::File {
            file: file.clone(),
            offset,
            len,
        };
        segments.push(Segment {
            start,
            keyframe: Keyframe::from_parts(dump, carry, size),
            events,
        });
    }
    if left.r.stream_position()? != file_len {
        return Err(bad());
    }
    Ok(Timeline {
        segments,
        markers,
        markers_not_listed,
        duration,
        exit: (has_exit == 1).then_some(exit as u32 as i32),
        output_bytes,
        initial_size,
        generation: 0,
        provisional: false,
        read_error: Mutex::new(None),
    })
}

/// A terminal size as saved: within what the emulator takes, or the file is not ours.
fn screen_size(cols: u64, rows: u64) -> io::Result<(usize, usize)> {
    let (max_cols, max_rows) = MAX_SCREEN;
    let fits = |v: u64, max: usize| (1..=max as u64).contains(&v);
    if !fits(cols, max_cols) || !fits(rows, max_rows) {
        return Err(bad());
    }
    Ok((cols as usize, rows as usize))
}

fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not a sessrec index")
}

fn u64s(w: &mut impl Write, values: &[u64]) -> io::Result<()> {
    for v in values {
        w.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

fn bytes(w: &mut impl Write, b: &[u8]) -> io::Result<()> {
    u64s(w, &[b.len() as u64])?;
    w.write_all(b)
}

/// A reader that knows how much of the file is left, so that no count or length it reads can
/// ask for more than the file holds.
struct Left<'a, 'f> {
    r: &'a mut BufReader<&'f File>,
    file_len: u64,
}

impl Left<'_, '_> {
    fn remaining(&mut self) -> io::Result<u64> {
        Ok(self.file_len.saturating_sub(self.r.stream_position()?))
    }

    fn u64s<const N: usize>(&mut self) -> io::Result<[u64; N]> {
        let mut out = [0u64; N];
        for v in &mut out {
            let mut b = [0u8; 8];
            self.r.read_exact(&mut b)?;
            *v = u64::from_le_bytes(b);
        }
        Ok(out)
    }

    /// `count` items of at least `each` bytes: an error if the rest of the file cannot hold
    /// them, else the count (to reserve).
    fn items(&mut self, count: u64, each: u64) -> io::Result<usize> {
        if count.saturating_mul(each) > self.remaining()? {
            return Err(bad());
        }
        usize::try_from(count).map_err(|_| bad())
    }

    /// A length-prefixed byte string of at most `max` bytes.
    fn bytes(&mut self, max: u64) -> io::Result<Vec<u8>> {
        let [len] = self.u64s::<1>()?;
        if len > max || len > self.remaining()? {
            return Err(bad());
        }
        let mut out = vec![0; len as usize];
        self.r.read_exact(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessrec_formats::{Event, EventData};

    #[test]
    fn a_file_changed_in_the_middle_is_another_entry_whatever_its_time_and_size() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("r.cast.zst");
        let mut bytes = vec![7u8; 300 * 1024];
        std::fs::write(&path, &bytes).unwrap();
        let when = std::fs::metadata(&path).unwrap().modified().unwrap();
        let genuine = entry(dir.path(), &path).unwrap();
        // Same size, same first and last 64 KiB, same modification time: a forgery.
        bytes[150 * 1024] = 8;
        std::fs::write(&path, &bytes).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
        assert_ne!(entry(dir.path(), &path).unwrap(), genuine);
    }

    #[test]
    fn a_saved_timeline_loads_back_the_same_and_junk_is_ignored() {
        let events = vec![
            Event::output(0, "\x1b[1mhello\x1b[0m\r\n"),
            Event {
                time: 1,
                data: EventData::Input(b"ls\r".to_vec()),
            },
            Event {
                time: 2,
                data: EventData::Marker("grant X expires".into()),
            },
            Event::output(9_000_000, b"later \xe6".to_vec()),
            Event {
                time: 9_000_001,
                data: EventData::Exit(3),
            },
        ];
        let t = Timeline::build(40, 10, events.into_iter().map(Ok::<_, ()>)).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let at = dir.path().join("x.index");
        save(&at, &t).unwrap();
        let back = load(&at).unwrap();
        // Its events stay in the file, which may be pruned by another player meanwhile.
        assert!(back.in_file() > 0);
        std::fs::remove_file(&at).unwrap();
        assert_eq!(back.duration, t.duration);
        assert_eq!(back.exit, Some(3));
        assert_eq!(back.markers, t.markers);
        assert_eq!(back.markers_not_listed, t.markers_not_listed);
        assert_eq!(back.segments.len(), t.segments.len());
        let (mut a, mut b) = (crate::Player::new(&t), crate::Player::new(&back));
        a.seek(&t, 9_000_000);
        b.seek(&back, 9_000_000);
        assert_eq!(a.terminal().ansi(), b.terminal().ansi());
        assert_eq!(back.read_error(), None);
        save(&at, &t).unwrap();
        let whole = std::fs::read(&at).unwrap();
        std::fs::write(&at, &whole[..whole.len() / 2]).unwrap();
        assert!(load(&at).is_none(), "a cut index is ignored");
        // Cut while in use: the segments that are gone say so instead of showing nothing.
        std::fs::write(&at, &whole).unwrap();
        let used = load(&at).unwrap();
        File::options()
            .write(true)
            .open(&at)
            .unwrap()
            .set_len(0)
            .unwrap();
        crate::Player::new(&used).seek(&used, 9_000_000);
        assert!(used.read_error().is_some_and(|e| e.contains("cannot read")));
        std::fs::write(&at, b"junk").unwrap();
        assert!(load(&at).is_none());
        // Saved for one recording, copied under another's entry: not that recording's index.
        let other = dir.path().join("y.index");
        std::fs::write(&other, &whole).unwrap();
        assert!(
            load(&other).is_none(),
            "an index copied under another name was used"
        );
    }
}
