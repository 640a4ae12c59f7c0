//! Walks the frames of a container without decompressing them: zstd frame and block headers
//! give every frame's length, so a crashed file's checkpoints can be found cheaply.

use std::io::{self, Read, Seek, SeekFrom};

use super::{CHECKPOINT_MAGIC, MAX_SKIPPABLE, ZSTD_MAGIC, is_skippable};

/// One frame of the file.
pub(crate) enum Item {
    /// A zstd data frame.
    Data,
    /// A checkpoint, with its payload.
    Checkpoint(Vec<u8>),
}

/// Calls `visit(offset, item)` for each whole frame until the end, the first damaged frame or
/// a cut (which end the walk quietly: the caller has what could be read).
pub(crate) fn walk<R: Read + Seek>(r: &mut R, mut visit: impl FnMut(u64, Item)) -> io::Result<()> {
    let end = r.seek(SeekFrom::End(0))?;
    let mut offset = 0u64;
    r.seek(SeekFrom::Start(0))?;
    while offset + 4 <= end {
        let magic = u32::from_le_bytes(read_array(r)?);
        if magic == ZSTD_MAGIC {
            match zstd_frame_len(r, offset, end)? {
                Some(len) => {
                    visit(offset, Item::Data);
                    offset += len;
                    r.seek(SeekFrom::Start(offset))?;
                }
                None => return Ok(()),
            }
        } else if is_skippable(magic) {
            if offset + 8 > end {
                return Ok(());
            }
            let size = u64::from(u32::from_le_bytes(read_array(r)?));
            if size > MAX_SKIPPABLE || offset + 8 + size > end {
                return Ok(());
            }
            if magic == CHECKPOINT_MAGIC {
                let mut payload = vec![0; size as usize];
                r.read_exact(&mut payload)?;
                visit(offset, Item::Checkpoint(payload));
            }
            offset += 8 + size;
            r.seek(SeekFrom::Start(offset))?;
        } else {
            return Ok(());
        }
    }
    Ok(())
}

fn read_array<const N: usize, R: Read>(r: &mut R) -> io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a)?;
    Ok(a)
}

/// Length of the zstd frame at `start` (its magic already read), or `None` if it does not fit
/// before `end` or is malformed.
fn zstd_frame_len<R: Read + Seek>(r: &mut R, start: u64, end: u64) -> io::Result<Option<u64>> {
    let mut len = 5u64;
    if start + len > end {
        return Ok(None);
    }
    let [fhd] = read_array::<1, R>(r)?;
    let fcs_flag = fhd >> 6;
    let single_segment = (fhd >> 5) & 1 == 1;
    let checksum = (fhd >> 2) & 1 == 1;
    let dict_bytes = [0u64, 1, 2, 4][usize::from(fhd & 3)];
    let window_bytes = u64::from(!single_segment);
    let fcs_bytes = match fcs_flag {
        0 => u64::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    len += window_bytes + dict_bytes + fcs_bytes;
    loop {
        if start + len + 3 > end {
            return Ok(None);
        }
        r.seek(SeekFrom::Start(start + len))?;
        let b: [u8; 3] = read_array(r)?;
        let header = u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
        let last = header & 1 == 1;
        let size = u64::from(header >> 3);
        let content = match (header >> 1) & 3 {
            0 | 2 => size,
            1 => 1,
            _ => return Ok(None),
        };
        len += 3 + content;
        if last {
            break;
        }
    }
    if checksum {
        len += 4;
    }
    Ok((start + len <= end).then_some(len))
}
