//! Throughput and size of the `.cast.zst` container on a realistic session, for the numbers in
//! the format issue. Usage: `formatbench CORPUS` where CORPUS is terminal output (scripts/bench-format.sh
//! makes one with ../shared/bench/recbench.py's generator). The output is cut into 4 KiB reads with
//! `\n` turned into `\r\n` as a PTY does, one event per read, 1 ms apart.

use std::io::Cursor;
use std::time::Instant;

use sessrec_formats::asciicast::V3Encoder;
use sessrec_formats::container::{ContainerWriter, WriterOptions, verify};
use sessrec_formats::keys::SigningKey;
use sessrec_formats::{Event, Header, OpenOptions, SessrecMeta, open_reader};

fn main() {
    let path = std::env::args().nth(1).expect("usage: formatbench CORPUS");
    let corpus = std::fs::read(&path).expect("read corpus");
    let mut tty = Vec::with_capacity(corpus.len() * 21 / 20);
    for &b in &corpus {
        if b == b'\n' {
            tty.push(b'\r');
        }
        tty.push(b);
    }
    // Reads end on character boundaries, as the recorder's UTF-8 carry makes them.
    let mut events = Vec::new();
    let mut rest = &tty[..];
    while !rest.is_empty() {
        let mut end = rest.len().min(4096);
        while end < rest.len() && (rest[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        events.push(Event::output(
            events.len() as u64 * 1000,
            rest[..end].to_vec(),
        ));
        rest = &rest[end..];
    }
    let mut header = Header::new(120, 40);
    header.sessrec = Some(SessrecMeta {
        format: 1,
        session_id: "bench".into(),
        ..Default::default()
    });
    let key = SigningKey::generate().expect("key");
    let public = key.public();

    let t = Instant::now();
    let mut enc = V3Encoder::new();
    let mut plain = enc.header(&header);
    for e in &events {
        enc.event(e, &mut plain);
    }
    let encode_s = t.elapsed().as_secs_f64();
    let mb = |n: usize| n as f64 / 1e6;

    let t = Instant::now();
    // FORMATBENCH_LEVEL, _WLOG, _HLOG and _FRAME_KIB explore other settings than the defaults.
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let mut opts = WriterOptions::default();
    if let Some(level) = knob("FORMATBENCH_LEVEL") {
        opts.level = level as i32;
    }
    opts.window_log = knob("FORMATBENCH_WLOG")
        .map(|v| v as u32)
        .or(opts.window_log);
    opts.hash_log = knob("FORMATBENCH_HLOG").map(|v| v as u32).or(opts.hash_log);
    if let Some(kib) = knob("FORMATBENCH_FRAME_KIB") {
        opts.frame_bytes = kib * 1024;
    }
    let mut w = ContainerWriter::new(
        Vec::with_capacity(plain.len() / 6),
        &header,
        Some(key),
        opts,
    )
    .expect("writer");
    for e in &events {
        w.write_event(e).expect("write");
    }
    let zst = w.finish(None).expect("finish");
    let write_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let reader =
        open_reader(Box::new(Cursor::new(zst.clone())), &OpenOptions::default()).expect("open");
    let mut n = 0usize;
    for e in reader {
        e.expect("event");
        n += 1;
    }
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(n, events.len());

    let t = Instant::now();
    let report = verify(Cursor::new(zst.clone()), vec![public]).expect("verify");
    let verify_s = t.elapsed().as_secs_f64();
    assert_eq!(format!("{:?}", report.verdict), "Intact");

    std::fs::write(format!("{path}.cast"), &plain).expect("write plain");
    std::fs::write(format!("{path}.sessrec.cast.zst"), &zst).expect("write zst");
    println!(
        "plain asciicast v3: {:.1} MB ({} events)",
        mb(plain.len()),
        events.len()
    );
    println!(
        "container:          {:.1} MB ({:.2}x smaller than plain)",
        mb(zst.len()),
        plain.len() as f64 / zst.len() as f64
    );
    println!(
        "encode: {:.0} MB/s of plain asciicast (events to text, no compression)",
        mb(plain.len()) / encode_s
    );
    println!(
        "write:  {:.0} MB/s of plain asciicast ({write_s:.2} s)",
        mb(plain.len()) / write_s
    );
    println!(
        "read:   {:.0} MB/s of plain asciicast, decoded to events ({read_s:.2} s)",
        mb(plain.len()) / read_s
    );
    println!(
        "verify: {:.0} MB/s of plain asciicast ({verify_s:.2} s)",
        mb(plain.len()) / verify_s
    );
}
