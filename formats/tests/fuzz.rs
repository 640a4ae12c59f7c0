//! Every reader against arbitrary and mutated bytes: errors are fine, panics and unbounded
//! allocation are not. Inputs that once broke a reader are kept in fixtures/crashers/ and
//! replayed here.

mod common;

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use sessrec_formats::container::verify;
use sessrec_formats::{OpenOptions, open_reader};

/// Reads everything a reader yields; returns how many events.
fn drain(bytes: &[u8], timing: Option<&Path>) -> usize {
    let opts = OpenOptions {
        timing: timing.map(Path::to_path_buf),
        ..OpenOptions::default()
    };
    let Ok(reader) = open_reader(Box::new(Cursor::new(bytes.to_vec())), &opts) else {
        return 0;
    };
    let mut n = 0;
    for event in reader {
        if event.is_err() {
            break;
        }
        n += 1;
    }
    let _ = verify(Cursor::new(bytes.to_vec()), Vec::new());
    n
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/peers");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures/peers")
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".raw"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    out.push(common::container(&common::session(40), None, 700));
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutate(mut bytes: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, x) => {
                if let Some(b) = bytes.get_mut(i % len) {
                    *b ^= x | 1;
                }
            }
            Mutation::Cut(i) => bytes.truncate(i % len),
            Mutation::Insert(i, v) => {
                let at = (i % len).min(bytes.len());
                bytes.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = (i % len).min(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<usize>().prop_map(Mutation::Cut),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        drain(&bytes, None);
    }

    #[test]
    fn arbitrary_bytes_with_known_magics_never_panic(
        prefix in prop_oneof![
            Just(b"{\"version\": 3, \"term\": {\"cols\": 80, \"rows\": 24}}\n".to_vec()),
            Just(b"{\"version\": 2, \"width\": 80, \"height\": 24}\n".to_vec()),
            Just(b"{\"ver\":\"2.3\",\"pos\":0,\"timing\":\"".to_vec()),
            Just(b"Script started on 2026-01-01 00:00:00+00:00 [COLUMNS=\"80\"]\n".to_vec()),
            Just(vec![0x28, 0xb5, 0x2f, 0xfd]),
            Just(vec![0x53, 0x2a, 0x4d, 0x18]),
            Just(vec![0x1f, 0x8b, 8, 0]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        drain(&[prefix, rest].concat(), None);
    }

    #[test]
    fn mutated_recordings_never_panic(which in 0usize..64, muts in proptest::collection::vec(arb_mutation(), 1..6)) {
        let all = fixtures();
        let bytes = mutate(all[which % all.len()].clone(), &muts);
        drain(&bytes, None);
    }

    #[test]
    fn mutated_script_timing_never_panics(muts in proptest::collection::vec(arb_mutation(), 1..6)) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/peers");
        let ts = std::fs::read(dir.join("script-advanced.io")).unwrap();
        let tm = mutate(std::fs::read(dir.join("script-advanced.io.tm")).unwrap(), &muts);
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), tm).unwrap();
        drain(&ts, Some(tmp.path()));
    }
}

#[test]
fn kept_crashers_are_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/crashers");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures/crashers") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        drain(&std::fs::read(&path).unwrap(), None);
        seen += 1;
    }
    assert!(seen >= 5, "fixtures/crashers holds the hostile inputs");
}
