//! Criterion benchmarks of the container on an 8 MB synthetic session (write, read to events,
//! verify), reported as throughput of plain asciicast. For the 200 MB realistic corpus and the
//! gzip/zstd baselines, run scripts/bench-format.sh.

use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sessrec_formats::asciicast::V3Encoder;
use sessrec_formats::container::{ContainerWriter, WriterOptions, verify};
use sessrec_formats::keys::SigningKey;
use sessrec_formats::{Event, Header, OpenOptions, SessrecMeta, open_reader};

fn session() -> (Header, Vec<Event>) {
    let mut header = Header::new(120, 40);
    header.sessrec = Some(SessrecMeta {
        format: 1,
        session_id: "bench".into(),
        ..Default::default()
    });
    let words = [
        "request",
        "handler",
        "worker",
        "cache",
        "upstream",
        "latency",
        "日本語",
        "→",
        "✓",
    ];
    let mut events = Vec::new();
    let mut chunk = String::new();
    let mut seed = 7u64;
    for i in 0..80_000u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = words[(seed >> 33) as usize % words.len()];
        chunk.push_str(&format!(
            "2024-05-{:02}T12:{:02}:00Z \x1b[32mINFO\x1b[0m {w}::{w} id={:08x} t={}ms\r\n",
            i % 28 + 1,
            i % 60,
            seed >> 32,
            seed % 900
        ));
        if chunk.len() > 4000 {
            events.push(Event::output(i * 1000, std::mem::take(&mut chunk)));
        }
    }
    (header, events)
}

fn bench(c: &mut Criterion) {
    let (header, events) = session();
    let mut enc = V3Encoder::new();
    let mut plain = enc.header(&header);
    for e in &events {
        enc.event(e, &mut plain);
    }
    let key = SigningKey::generate().unwrap();
    let public = key.public();
    let write = |key: Option<SigningKey>| {
        let mut w =
            ContainerWriter::new(Vec::new(), &header, key, WriterOptions::default()).unwrap();
        for e in &events {
            w.write_event(e).unwrap();
        }
        w.finish(None).unwrap()
    };
    let zst = write(SigningKey::from_pem(&key.to_pem().unwrap()).ok());
    let mut g = c.benchmark_group("container");
    g.throughput(Throughput::Bytes(plain.len() as u64));
    g.sample_size(10);
    g.bench_function("write", |b| b.iter(|| write(None)));
    g.bench_function("read_events", |b| {
        b.iter(|| {
            let r =
                open_reader(Box::new(Cursor::new(zst.clone())), &OpenOptions::default()).unwrap();
            r.count()
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| verify(Cursor::new(zst.clone()), vec![public.clone()]).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
