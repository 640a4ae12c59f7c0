//! Shipping under faults: a proxy between the uploader and a real S3 server (s3s-fs) cuts
//! connections mid-part, answers 503, damages what is read back and the ETags it reports,
//! stalls past the client's timeout; the uploader is killed
//! with SIGKILL mid-pass; a recorder is killed mid-session. After every pass nothing is lost or
//! damaged, and in the end every recording is in the store exactly once, byte for byte.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::util::config::Config;
use crate::util::harness::step;
use crate::util::proxy::{Fault, FaultProxy};
use crate::util::s3::{S3Server, settings_for};
use crate::util::spool::Bastion;
use crate::util::{Req, noise, sessrec_process, stderr, walk};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        needs: [Req::Tool("s3s-fs")];
        uploads_survive_cut_connections_errors_stalls_and_kills,
        an_interrupted_upload_resumes_where_it_stopped,
    ]
}

/// A bastion shipping to s3s-fs through `proxy`, with `extra` settings in `[s3]`.
fn bastion(proxy: &FaultProxy, extra: &[(&str, toml::Value)]) -> Bastion {
    let mut s3 = settings_for(proxy.port);
    s3.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Bastion::new(|d| {
        Config::new(d)
            .storage("s3://sessrec-test/chaos")
            .table("s3", s3)
    })
}

fn uploads_survive_cut_connections_errors_stalls_and_kills() {
    let s3 = S3Server::start();
    let proxy = FaultProxy::start(s3.port);
    let b = bastion(&proxy, &[("timeout_secs", 2.into())]);
    let (names, originals) = step("three recordings and a killed one in the spool", || {
        spool_with_a_killed_recording(&b)
    });
    let passes = [
        (Fault::CutLargeRequests, None),
        (Fault::Unavailable, None),
        (Fault::CorruptLargeResponses, None),
        (Fault::StallFirst, None),
        (Fault::None, Some(300)),
        (Fault::CutLargeRequests, Some(900)),
        (Fault::None, Some(60)),
    ];
    for (pass, (fault, kill_ms)) in passes.into_iter().enumerate() {
        let name = format!("pass {pass}: {fault:?}, killed after {kill_ms:?} ms");
        step(&name, || {
            proxy.set(fault);
            let mut up = b.spawn_upload();
            if let Some(ms) = kill_ms {
                std::thread::sleep(Duration::from_millis(ms));
                let _ = up.kill();
            }
            up.wait().unwrap();
            nothing_lost(&b, &s3, &names, &originals, &name);
            if pass < 3 {
                // The faults bite: small recordings get through cut connections, the two-part
                // one does not; nothing gets through 503s; a damaged read-back keeps the local
                // copy.
                let left = b.spool_names();
                assert!(left.contains(&names[1]), "after {fault:?}: {left:?}");
                assert!(!left.contains(&names[0]), "after {fault:?}: {left:?}");
            }
        });
    }
    step(
        "the audit log names the damaged read-back and the ETags",
        || {
            let audit = b.audit();
            assert!(
                audit.contains("differs from what was sent"),
                "the damaged read-back was caught: {audit}"
            );
            assert!(
                audit.contains("\"confirmed\":\"etag\""),
                "undamaged uploads are confirmed by their ETags: {audit}"
            );
        },
    );
    step("a clean pass ships every recording once, whole", || {
        proxy.set(Fault::None);
        let out = b.upload();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(b.spool_names().is_empty(), "{:?}", b.spool_names());
        let stored = stored_recordings(&s3);
        assert_eq!(stored.len(), originals.len(), "each recording once");
        for original in &originals {
            assert!(
                stored
                    .iter()
                    .any(|p| std::fs::read(p).unwrap() == *original),
                "a recording is missing or differs in the store"
            );
        }
        let listed = b.ls(&[]);
        let mut verdicts: Vec<&str> = listed
            .iter()
            .map(|m| m["verdict"].as_str().unwrap())
            .collect();
        verdicts.sort();
        // The killed one was never sealed: no signed manifest, so no verdict in the list.
        assert_eq!(verdicts, ["intact", "intact", "intact", "unverified"]);
        let live = s3.data.path().join("sessrec-test/chaos/live");
        assert_eq!(walk(&live).len(), 0, "no live parts left behind");
    });
}

/// Records a, b (two 8 MiB parts: random bytes hardly compress) and c, and d, whose recorder is
/// killed mid-session so it has no end; returns their names in the spool and their bytes.
fn spool_with_a_killed_recording(b: &Bastion) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut paths = vec![
        b.record("a.cast.zst", b"first\n"),
        b.record("b.cast.zst", &noise(10_000_000)),
        b.record("c.cast.zst", b"third\n"),
    ];
    let spool = b.path("spool");
    let mut rec = sessrec_process()
        .args(["rec", "-q", "-o", spool.to_str().unwrap(), "--sign-key"])
        .arg(&b.key.path)
        .args([
            "--",
            "sh",
            "-c",
            "i=0; while :; do echo line $i; i=$((i+1)); done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(rec.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    rec.wait().unwrap();
    let killed = b
        .spool_names()
        .into_iter()
        .map(|n| spool.join(n))
        .find(|p| !paths.contains(p))
        .expect("the killed recording");
    paths.push(killed);
    let originals: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(originals[1].len() > 8 * 1024 * 1024, "two parts");
    let names = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    (names, originals)
}

/// An uploader killed in the middle of a large recording: the next pass sends only the parts
/// the store had not confirmed, and the stored recording is whole.
fn an_interrupted_upload_resumes_where_it_stopped() {
    const PART: usize = 8 * 1024 * 1024;
    let s3 = S3Server::start();
    let proxy = FaultProxy::start(s3.port);
    let b = bastion(&proxy, &[]);
    let big = b.record("big.cast.zst", &noise(40_000_000));
    let original = std::fs::read(&big).unwrap();
    let big_name = big.file_name().unwrap().to_string_lossy().into_owned();
    let parts = original.len().div_ceil(PART);
    assert!(parts >= 5, "{parts} parts");

    // A slow link, and the uploader killed once the store confirmed a part.
    proxy.set(Fault::Slow);
    let mut up = b.spawn_upload();
    let checkpoint = b.path(&format!("spool/.upload/{big_name}.multipart"));
    let confirmed = || -> usize {
        std::fs::read(&checkpoint)
            .ok()
            .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok())
            .and_then(|v| v["parts"].as_object().map(|p| p.len()))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while confirmed() == 0 {
        assert!(std::time::Instant::now() < deadline, "no part confirmed");
        std::thread::sleep(Duration::from_millis(10));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    let kept = confirmed();
    assert!(kept < parts, "killed before the end");
    // What the killed uploader left in its sockets still drains through the proxy: wait for
    // it, so that only the next pass is counted.
    let passed = || {
        proxy
            .upstream_bytes
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    loop {
        let before = passed();
        std::thread::sleep(Duration::from_millis(500));
        if passed() == before {
            break;
        }
    }

    proxy.set(Fault::None);
    let out = b.upload();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!(
            "resumed, {kept} of {parts} parts were already stored"
        )),
        "{said}"
    );
    let sent = passed();
    let left = original.len() - kept * PART;
    assert!(
        sent >= left && sent < left + 1024 * 1024,
        "sent {sent} bytes for the {left} not yet stored"
    );
    let stored = stored_recordings(&s3);
    assert_eq!(stored.len(), 1);
    assert_eq!(std::fs::read(&stored[0]).unwrap(), original);
    assert!(!checkpoint.exists(), "the checkpoint is gone once shipped");
    let audit = b.audit();
    assert!(
        audit.contains(&format!("\"resumed_parts\":{kept}")),
        "{audit}"
    );
}

/// After any pass: every recording is still in the spool unchanged, or in the store whole. (A
/// killed pass may leave a partial object in the store while the spool keeps the recording: the
/// next pass overwrites it, and the final check wants exactly the recordings.)
fn nothing_lost(b: &Bastion, s3: &S3Server, names: &[String], originals: &[Vec<u8>], when: &str) {
    // The server may still be finishing a request of the killed uploader.
    std::thread::sleep(Duration::from_millis(300));
    let stored: Vec<Vec<u8>> = stored_recordings(s3)
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    for (i, original) in originals.iter().enumerate() {
        let name = &names[i];
        let local = std::fs::read(b.path(&format!("spool/{name}"))).ok();
        match local {
            Some(bytes) => assert_eq!(&bytes, original, "{when}: {name} changed in the spool"),
            None => assert!(
                stored.contains(original),
                "{when}: {name} left the spool unshipped"
            ),
        }
    }
}

fn stored_recordings(s3: &S3Server) -> Vec<PathBuf> {
    let mut out = walk(&s3.data.path().join("sessrec-test/chaos/sessions"));
    out.retain(|p| p.to_string_lossy().ends_with(".cast.zst"));
    out
}
