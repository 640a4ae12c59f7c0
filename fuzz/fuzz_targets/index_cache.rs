//! The player's index cache (`~/.cache/sessrec/index`): a file anyone who can write the
//! reviewer's cache may have planted. Loading it must fail or give a timeline that seeks
//! without panicking, whatever sizes and offsets it claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessrec_player::{Player, cache};

fuzz_target!(|data: &[u8]| {
    let path = sessrec_fuzz::scratch_dir().join("planted.index");
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
