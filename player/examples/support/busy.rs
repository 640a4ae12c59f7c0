//! A long, busy synthetic session for the player's benchmarks: coloured listing and log lines
//! in 4 KiB outputs every 10 ms, a keystroke now and then, a marker every minute.

use sessrec_formats::{Event, EventData};

/// Events of a session with `output_bytes` of output, in time order.
pub fn busy_session(output_bytes: usize) -> impl Iterator<Item = Event> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const WORDS: &[&str] = &[
        "pod",
        "api-7f9",
        "Running",
        "kube-system",
        "error",
        "timeout",
        "GET",
        "/healthz",
        "200",
        "deployment",
        "rollout",
        "restarted",
        "node-3",
        "Ready",
        "10.0.4.17",
        "OOMKilled",
    ];
    let mut sent = 0usize;
    let mut time = 0u64;
    let mut n = 0u64;
    std::iter::from_fn(move || {
        if sent >= output_bytes {
            return None;
        }
        n += 1;
        time += 10_000;
        if n.is_multiple_of(6000) {
            return Some(Event {
                time,
                data: EventData::Marker(format!("minute {}", n / 6000)),
            });
        }
        if n.is_multiple_of(500) {
            return Some(Event {
                time,
                data: EventData::Input(b"kubectl get pods -A\r".to_vec()),
            });
        }
        let mut chunk = String::with_capacity(4200);
        while chunk.len() < 4096 {
            let colour = 31 + next() % 6;
            chunk.push_str(&format!("\x1b[{colour}m{:>6}\x1b[0m ", next() % 100_000));
            for _ in 0..8 {
                chunk.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
                chunk.push(' ');
            }
            chunk.push_str("\r\n");
        }
        sent += chunk.len();
        Some(Event::output(time, chunk))
    })
}
