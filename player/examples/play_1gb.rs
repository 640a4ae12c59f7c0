//! The player's goals on a session with 1 GB of output: first frame on screen, index build
//! rate (keyframes on all cores, and on one thread for comparison), seek latency (p50, p99),
//! memory; and replaying from the start for comparison.
//!
//! `cargo run --release -p sessrec-player --example play_1gb [-- MB [KEEP.cast]]` (default
//! 1024 MB). It writes the session as asciicast v2 to a temporary file first (to KEEP.cast if
//! given, kept for measuring `sessrec play` itself).

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sessrec_formats::{EventData, OpenOptions, open_path};
use sessrec_player::app::{App, Meta};
use sessrec_player::{
    LoadOptions, MEMORY_BUDGET, Player, TimelineBuilder, VirtualTerminal, load_then,
};

#[path = "support/busy.rs"]
mod busy;

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::TempDir::new().expect("a temporary directory");
    let path = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("busy.cast"));
    let mut out = BufWriter::new(std::fs::File::create(&path).expect("creating the file"));
    writeln!(out, r#"{{"version": 2, "width": 120, "height": 40}}"#).unwrap();
    let mut output = 0u64;
    for e in busy::busy_session(mb * 1024 * 1024) {
        let (code, text) = match &e.data {
            EventData::Output(b) => {
                output += b.len() as u64;
                ("o", String::from_utf8_lossy(b).into_owned())
            }
            EventData::Input(b) => ("i", String::from_utf8_lossy(b).into_owned()),
            EventData::Marker(m) => ("m", m.clone()),
            _ => continue,
        };
        let text = serde_json::to_string(&text).unwrap();
        writeln!(out, "[{:.6}, \"{code}\", {text}]", e.time as f64 / 1e6).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    println!("session: {:.0} MB of output", output as f64 / 1e6);

    // First frame: open, load in the background, draw as soon as there is a segment.
    let start = Instant::now();
    sessrec_player::keep_heap_compact();
    let reader = open_path(&path, &OpenOptions::default()).expect("opening");
    let options = LoadOptions {
        spill_dir: Some(dir.path().join("spill")),
        live: false,
    };
    let loading = load_then(reader, options, |_| {}).expect("starting the loading thread");
    while loading.timeline().duration == 0 && !loading.is_done() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut app = App::new(loading.clone(), Meta::default());
    app.tick(Duration::ZERO);
    let mut term = Terminal::new(TestBackend::new(120, 44)).unwrap();
    term.draw(|f| app.draw(f)).unwrap();
    let first_frame = start.elapsed();
    loading.wait();
    let built = start.elapsed();
    let timeline = loading.timeline();
    println!(
        "first frame on screen: {:.0} ms",
        first_frame.as_secs_f64() * 1e3
    );
    println!(
        "index build (reading asciicast, parsing, keyframes): {:.2} s, {:.0} MB/s of output",
        built.as_secs_f64(),
        output as f64 / 1e6 / built.as_secs_f64()
    );
    // The same build with keyframes on the loading thread alone (a live recording's way).
    let t = Instant::now();
    let mut alone = TimelineBuilder::new(120, 40).spill_to(dir.path().join("spill"), MEMORY_BUDGET);
    for e in open_path(&path, &OpenOptions::default()).expect("opening") {
        alone.push(&e.expect("reading"));
    }
    drop(alone.finish());
    let one_core = t.elapsed();
    println!(
        "index build with keyframes on one thread: {:.2} s, {:.0} MB/s ({:.2}x slower)",
        one_core.as_secs_f64(),
        output as f64 / 1e6 / one_core.as_secs_f64(),
        one_core.as_secs_f64() / built.as_secs_f64()
    );

    // Seeks to random moments, one after another, as a reviewer jumps around.
    let mut player = Player::new(&timeline);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = x % (timeline.duration + 1);
            let t = Instant::now();
            player.seek(&timeline, at);
            t.elapsed()
        })
        .collect();
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "seek through keyframes (500 random): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );

    // What players without keyframes do: replay from the start to the moment.
    let half = timeline.duration / 2;
    let t = Instant::now();
    let mut replay = VirtualTerminal::new(120, 40);
    for e in open_path(&path, &OpenOptions::default()).expect("opening") {
        let e = e.expect("reading");
        if e.time > half {
            break;
        }
        replay.apply(&e.data);
    }
    let replayed = t.elapsed();
    let t = Instant::now();
    player.seek(&timeline, half);
    let keyed = t.elapsed();
    assert_eq!(player.terminal().ansi(), replay.ansi(), "same screen");
    println!(
        "seek to 50 %: replaying from the start {:.0} ms, through keyframes {:.2} ms ({:.0}x faster)",
        replayed.as_secs_f64() * 1e3,
        keyed.as_secs_f64() * 1e3,
        replayed.as_secs_f64() / keyed.as_secs_f64()
    );
    println!(
        "memory: timeline {:.0} MB in memory (compressed segments up to the budget, keyframes), {:.0} MB in its spill file; peak RSS {} (whole process)",
        timeline.memory() as f64 / 1e6,
        timeline.in_file() as f64 / 1e6,
        peak_rss()
    );

    // The index cache: what a second look at the same recording costs instead of the build.
    let at = dir.path().join("busy.index");
    let t = Instant::now();
    sessrec_player::cache::save(&at, &timeline).expect("saving the index");
    let saved = t.elapsed();
    drop(timeline);
    let t = Instant::now();
    let back = sessrec_player::cache::load(&at).expect("loading the index");
    // Its segments stay in the file: the first seek reads one of them.
    let mut player = Player::new(&back);
    player.seek(&back, back.duration / 2);
    let loaded = t.elapsed();
    println!(
        "index cache: {:.0} MB on disk, saved in {:.2} s, loaded and seeked to 50 % in {:.3} s ({:.0}x faster than building)",
        std::fs::metadata(&at).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        saved.as_secs_f64(),
        loaded.as_secs_f64(),
        built.as_secs_f64() / loaded.as_secs_f64()
    );
    assert_eq!(back.duration, loading.timeline().duration);
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
