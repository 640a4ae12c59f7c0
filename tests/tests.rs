//! The root package's end-to-end tests of the `sessrec` binary, as one test binary (one build,
//! one link) with its own harness: see tests/README.md, and util/harness.rs for how a test
//! that needs root, a tool or a server is skipped or, with `SESSREC_TEST_REQUIRE=all`, failed.
//!
//! Each file below is a module with `pub fn tests()`, its list of tests; `main` runs them all.

// A test function that is in no list never runs: as dead code it fails the build instead.
#![deny(dead_code)]

mod util;

mod bombs;
mod chaos;
mod cli;
mod cloud;
mod evidence;
mod evidence_store;
mod export;
mod hostile;
mod login;
mod outputs;
mod peers;
mod play;
mod rec;
mod ship;
mod ssh;
mod store_writer;
mod trust;
mod withhold;
mod withhold_ssh;

fn main() {
    let tests = [
        bombs::tests(),
        chaos::tests(),
        cli::tests(),
        cloud::tests(),
        evidence::tests(),
        evidence_store::tests(),
        export::tests(),
        hostile::tests(),
        login::tests(),
        outputs::tests(),
        peers::tests(),
        play::tests(),
        rec::tests(),
        ship::tests(),
        ssh::tests(),
        store_writer::tests(),
        trust::tests(),
        withhold::tests(),
        withhold_ssh::tests(),
        util::azurite::tests(),
        tests![every_test_file_is_a_registered_module],
    ];
    util::harness::main(tests.into_iter().flatten().collect())
}

/// Every `tests/*.rs` file is a module of this binary whose list `main` runs, and no function
/// has libtest's test attribute (this harness never runs those): a file or a test left out
/// would otherwise go unnoticed by never running.
fn every_test_file_is_a_registered_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("tests.rs")).unwrap();
    let mut sources = util::walk(&dir);
    sources.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    assert!(sources.len() > 10, "{sources:?}");
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let marker = concat!("#[", "test]");
        assert!(
            !text.contains(marker),
            "{}: {marker} never runs here",
            path.display()
        );
        if path.parent() != Some(dir.as_path()) || path.ends_with("tests.rs") {
            continue;
        }
        let module = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            main.contains(&format!("\nmod {module};"))
                && main.contains(&format!("{module}::tests(),")),
            "tests/{module}.rs is not a module whose tests() main runs"
        );
    }
}
