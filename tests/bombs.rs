//! Hostile input against the binary: every kept crasher (fixtures/crashers) and decompression
//! bomb (fixtures/bombs), through every command that reads a recording, gives a clear error or
//! the right result within 2 s of CPU and 256 MB of memory, never a panic. And the seam the
//! fuzzing found between writers and readers: what sessrec writes from hostile input, it reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::util::{BIN, Req, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        every_crasher_and_bomb_is_refused_or_read_within_bounds => [Req::Tool("python3")],
        each_bomb_is_stopped_by_its_limit_with_a_clear_reason,
        a_record_of_8_mib_of_controls_converts_to_a_file_that_reads_back_whole,
        a_v1_document_with_tlog_keys_is_read_as_v1,
        a_cut_recording_of_another_format_plays_as_cut,
    ]
}

const CPU_LIMIT_S: f64 = 2.0;
const MEMORY_LIMIT_MB: u64 = 256;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| !matches!(p.extension().and_then(|e| e.to_str()), Some("md" | "py")))
        .collect();
    files.sort();
    files
}

/// What one run of sessrec cost: exit status, stderr, CPU seconds and peak memory, measured by
/// a parent of its own (python's RUSAGE_CHILDREN), so other tests' processes do not count.
struct Cost {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    cpu_s: f64,
    max_rss_mb: u64,
}

fn measure(args: &[&str]) -> Cost {
    const WRAPPER: &str = "import json, resource, subprocess, sys\n\
        p = subprocess.run(sys.argv[1:], capture_output=True)\n\
        r = resource.getrusage(resource.RUSAGE_CHILDREN)\n\
        print(json.dumps([p.returncode, r.ru_utime + r.ru_stime, r.ru_maxrss,\n\
            p.stdout[:4096].decode(errors='replace'), p.stderr.decode(errors='replace')]))\n";
    let out = Command::new("python3")
        .args(["-c", WRAPPER, BIN])
        .args(args)
        .output()
        .expect("run python3");
    let (code, cpu_s, rss_kb, stdout, stderr): (i32, f64, u64, String, String) =
        serde_json::from_slice(&out.stdout).expect("the wrapper's figures");
    Cost {
        // A negative return code is a signal (a crash or the OOM killer).
        status: (code >= 0).then_some(code),
        stdout,
        stderr,
        cpu_s,
        max_rss_mb: rss_kb / 1024,
    }
}

fn every_crasher_and_bomb_is_refused_or_read_within_bounds() {
    let out = TempDir::new().unwrap();
    let (txt, zst) = (out.path().join("t.txt"), out.path().join("z.cast.zst"));
    let mut checked = 0;
    let mut worst = (0.0, String::new(), 0, String::new());
    for file in fixtures("crashers").into_iter().chain(fixtures("bombs")) {
        let f = file.to_str().unwrap();
        for args in [
            vec!["play", "--dump", f],
            vec!["verify", f],
            vec!["info", f],
            vec!["convert", f, txt.to_str().unwrap()],
            vec!["convert", "--force", f, zst.to_str().unwrap()],
        ] {
            let cost = measure(&args);
            let what = format!("sessrec {}", args.join(" "));
            let status = cost
                .status
                .unwrap_or_else(|| panic!("{what}: killed by a signal"));
            assert!(
                status != 101 && !cost.stderr.contains("panicked"),
                "{what}: panicked: {}",
                cost.stderr
            );
            if status != 0 {
                // The reason: on stderr, or for verify its verdict on stdout; a line or three.
                let lines = cost.stderr.lines().filter(|l| !l.trim().is_empty()).count();
                assert!(
                    lines <= 3 && (lines > 0 || !cost.stdout.trim().is_empty()),
                    "{what}: exit {status} wants a short reason, got {lines} lines: {}",
                    cost.stderr
                );
            }
            assert!(
                cost.cpu_s <= CPU_LIMIT_S,
                "{what}: {:.2} s of CPU (limit {CPU_LIMIT_S} s)",
                cost.cpu_s
            );
            assert!(
                cost.max_rss_mb <= MEMORY_LIMIT_MB,
                "{what}: {} MB (limit {MEMORY_LIMIT_MB} MB)",
                cost.max_rss_mb
            );
            if cost.cpu_s > worst.0 {
                (worst.0, worst.1) = (cost.cpu_s, what.clone());
            }
            if cost.max_rss_mb > worst.2 {
                (worst.2, worst.3) = (cost.max_rss_mb, what.clone());
            }
            checked += 1;
        }
    }
    assert!(checked >= 5 * 16, "only {checked} runs: fixtures missing?");
    eprintln!(
        "worst: {:.2} s of CPU ({}), {} MB ({})",
        worst.0, worst.1, worst.2, worst.3
    );
}

fn each_bomb_is_stopped_by_its_limit_with_a_clear_reason() {
    let bomb = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bombs")
            .join(name);
        path.to_str().unwrap().to_string()
    };
    let says = |args: &[&str], want: &str| {
        let out = crate::util::sessrec_output(args);
        let err = stderr(&out);
        assert!(err.contains(want), "sessrec {}: {err}", args.join(" "));
        out.status.code()
    };
    let f = bomb("zstd-window-2gib.cast.zst");
    assert_eq!(
        says(&["play", "--dump", &f], "zstd window over 16 MiB"),
        Some(1)
    );
    let f = bomb("zstd-frame-1gib.cast.zst");
    assert_eq!(
        says(&["info", &f], "decompresses to more than 64 MiB"),
        Some(4)
    );
    let verify = crate::util::sessrec_output(&["verify", &f]);
    assert_eq!(verify.status.code(), Some(4), "{}", stderr(&verify));
    let f = bomb("gzip-newlines-128mib.cast.gz");
    says(&["play", "--dump", &f], "expands more than 256 times");
    // Bounded, and still the right result: what is there is read.
    let f = bomb("gzip-skippable-claims.cast.zst.gz");
    let out = crate::util::sessrec_output(&["info", &f]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("80x24"),
        "{}",
        stderr(&out)
    );
    let f = bomb("gzip-v1-many-events.json.gz");
    let out = crate::util::sessrec_output(&["info", &f]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("asciicast v1"),
        "{}",
        stderr(&out)
    );
    for kind in ["input", "marker", "resize"] {
        let f = bomb(&format!("{kind}-events.cast.zst"));
        let out = crate::util::sessrec_output(&["info", &f]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("{kind} ")),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn a_record_of_8_mib_of_controls_converts_to_a_file_that_reads_back_whole() {
    let dir = TempDir::new().unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bombs/ttyrec-8mib-controls.ttyrec.gz");
    let zst = dir.path().join("r.cast.zst");
    let raw = dir.path().join("r.raw");
    let run = |args: &[&str]| {
        let out = crate::util::sessrec_output(args);
        assert!(
            out.status.success(),
            "sessrec {}: {}",
            args.join(" "),
            stderr(&out)
        );
    };
    run(&["convert", src.to_str().unwrap(), zst.to_str().unwrap()]);
    // Every line is one a reader accepts: the file verifies whole (unsigned, not cut short).
    let verify = crate::util::sessrec_output(&["verify", zst.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&verify.stdout).into_owned() + &stderr(&verify);
    assert!(
        !said.contains("truncated") && !said.contains("cut"),
        "{said}"
    );
    let plain = Command::new("zstd")
        .args(["-dc", zst.to_str().unwrap()])
        .output();
    if let Ok(plain) = plain {
        let longest = plain
            .stdout
            .split(|&b| b == b'\n')
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest <= sessrec_formats::MAX_LINE,
            "a line of {longest} bytes"
        );
    }
    run(&["convert", zst.to_str().unwrap(), raw.to_str().unwrap()]);
    let bytes = std::fs::read(&raw).unwrap();
    assert_eq!(bytes.len(), 8 * 1024 * 1024);
    assert!(
        bytes.iter().all(|&b| b == 1),
        "the output changed on the way"
    );
}

fn a_v1_document_with_tlog_keys_is_read_as_v1() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("v1.json");
    // Multi-line, and its first line is a whole JSON object with tlog's `ver` and `timing`.
    std::fs::write(
        &file,
        "{\"version\": 1, \"width\": 20, \"height\": 5, \"ver\": \"2.3\", \"timing\": \"=20x5\", \
         \"stdout\": [[0.5, \"hello\"]]}\n\n",
    )
    .unwrap();
    let out = crate::util::sessrec_output(&["info", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("asciicast v1"));
}

fn a_cut_recording_of_another_format_plays_as_cut() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("cut.cast");
    // The last line is cut mid-event (found by the red team: `play --dump` said nothing).
    std::fs::write(
        &file,
        "{\"version\": 2, \"width\": 20, \"height\": 5}\n[0.5, \"o\", \"hello\"]\n[1.0, \"o\", \"wor",
    )
    .unwrap();
    let out = crate::util::sessrec_output(&["play", "--dump", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("stops early"), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello"));
}
