//! Files sessrec writes for its caller (`convert`, `keygen`): whole or not at all, through a
//! random temporary file that nobody can plant beforehand, and never in place of anything but a
//! regular file, even with `--force`: a link planted where the output goes (to someone else's
//! recording, the audit log, a device) is refused and left as it was.

use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::Path;

use tempfile::TempDir;

use crate::util::{Req, fixture, s, sessrec_output as run, stderr};

/// This file's tests.
pub fn tests() -> Vec<crate::util::Test> {
    crate::tests![
        a_link_at_the_output_is_never_followed_or_replaced,
        a_device_or_fifo_is_never_replaced => [Req::Tool("mkfifo")],
        a_regular_file_is_replaced_only_with_force_and_nothing_is_left_behind,
    ]
}

fn only_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn a_link_at_the_output_is_never_followed_or_replaced() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let victim = d.join("victim.cast.zst");
    std::fs::write(&victim, b"someone else's recording").unwrap();
    let link = d.join("out.cast.zst");
    symlink(&victim, &link).unwrap();
    let input = fixture("peers/asciinema3-v3.cast");
    for force in [false, true] {
        let mut args = vec!["convert", s(&input), s(&link)];
        if force {
            args.push("--force");
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    }
    let key_link = d.join("key");
    symlink(&victim, &key_link).unwrap();
    let o = run(&["keygen", "-o", s(&key_link), "--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), b"someone else's recording");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(only_entries(d), ["key", "out.cast.zst", "victim.cast.zst"]);
}

fn a_device_or_fifo_is_never_replaced() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("pipe.cast");
    crate::util::run(&["mkfifo", s(&fifo)]);
    let input = fixture("peers/asciinema3-v3.cast");
    let o = run(&["convert", s(&input), s(&fifo), "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a FIFO or socket"), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let o = run(&["keygen", "-o", "/dev/null", "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is a device"), "{}", stderr(&o));
}

fn a_regular_file_is_replaced_only_with_force_and_nothing_is_left_behind() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let out = d.join("out.cast");
    std::fs::write(&out, b"old").unwrap();
    let input = fixture("peers/asciinema3-v3.cast");
    let o = run(&["convert", s(&input), s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("pass --force"), "{}", stderr(&o));
    assert!(
        run(&["convert", s(&input), s(&out), "--force"])
            .status
            .success()
    );
    assert_ne!(std::fs::read(&out).unwrap(), b"old");
    // A failed conversion leaves neither an output nor a temporary file.
    let bad = d.join("bad.cast");
    std::fs::write(
        &bad,
        b"{\"version\": 2, \"width\": 80, \"height\": 24}\n[1.0, \"o\", \"x\"]\nnot json\n",
    )
    .unwrap();
    let o = run(&["convert", s(&bad), s(&d.join("never.cast.zst"))]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(only_entries(d), ["bad.cast", "out.cast"]);
    let key = d.join("k");
    assert!(run(&["keygen", "-o", s(&key)]).status.success());
    let first = std::fs::read(&key).unwrap();
    assert!(run(&["keygen", "-o", s(&key), "--force"]).status.success());
    assert_ne!(std::fs::read(&key).unwrap(), first);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(only_entries(d), ["bad.cast", "k", "k.pub", "out.cast"]);
}
