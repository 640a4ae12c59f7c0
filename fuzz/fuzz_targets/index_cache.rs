//! The player's index cache (`~/.cache/sessrec/index`): a file anyone who can write the
//! reviewer's cache may have planted. Loading it must fail or give a timeline that seeks
//! without panicking, whatever sizes and offsets it claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_player::{Player, cache};

fuzz_target!(|data: &[u8]| {
    // A cache file is bound to its entry's name: planted under the name it claims, so that the
    // fuzzer reaches what comes after (the binding itself is a plain comparison).
    let path = sessrec_fuzz::scratch_dir().join(claimed_name(data).unwrap_or("planted.index"));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Some(timeline) = cache::load(&path) {
        let mut player = Player::new(&timeline);
        for t in [0, 1, timeline.duration / 3, timeline.duration, u64::MAX] {
            player.seek(&timeline, t);
            let _ = player.terminal().text();
        }
        let _ = sessrec_player::search::find_all(&timeline, "a", 10);
    }
});

/// The entry name a cache file says it is for (after its 16-byte magic and a length), if it
/// is a plain file name.
fn claimed_name(data: &[u8]) -> Option<&str> {
    let len = u64::from_le_bytes(data.get(16..24)?.try_into().ok()?);
    let name = std::str::from_utf8(data.get(24..24 + usize::try_from(len).ok()?.min(64))?).ok()?;
    (!name.is_empty() && !name.contains('/') && name != "." && name != "..").then_some(name)
}
