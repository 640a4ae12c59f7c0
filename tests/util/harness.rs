//! The test harness (libtest-mimic): every test is registered with what it needs, and a test
//! whose needs are missing is counted as skipped (ignored) and says so on stderr, or fails when
//! `SESSREC_TEST_REQUIRE=all` (as scripts/test.sh sets it: there nothing may be skipped).
//!
//! libtest cannot skip a test once it runs, which is why the root package has its own harness:
//! `main` decides before anything runs which tests are ignored, so `cargo test` and
//! `cargo nextest` both report them as skipped, never as passed.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use libtest_mimic::{Arguments, Failed, Trial};

/// The variable that makes every requirement mandatory.
pub const REQUIRE_VAR: &str = "SESSREC_TEST_REQUIRE";

/// What a test needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// Running as root (mount namespaces, tmpfs, test users, sshd).
    Root,
    /// A program, on PATH or at an absolute path (peers, servers, tmux, zstd, ...).
    Tool(&'static str),
}

impl Req {
    /// Whether this machine has it.
    pub fn met(&self) -> bool {
        match self {
            Req::Root => rustix::process::geteuid().is_root(),
            Req::Tool(tool) => super::which(tool).is_some(),
        }
    }
}

impl std::fmt::Display for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Req::Root => f.write_str("root"),
            Req::Tool(tool) => f.write_str(tool),
        }
    }
}

/// One registered test: its name (`module::function`), what it needs, and its body.
pub struct Test {
    pub name: String,
    pub needs: Vec<Req>,
    pub run: fn(),
}

/// Registers a module's tests: `tests![a, b => [Req::Root], c]`, optionally after
/// `needs: [...];` for what every test of the list needs (a [`Req`] or an array of them each).
/// The names come from the functions, prefixed with the module (`rec::a`), so `cargo test
/// rec::` runs one file's tests. A test function left out of the list is never called: the
/// crate denies dead code, so that is a build error rather than a test that never runs.
#[macro_export]
macro_rules! tests {
    (needs: $all:expr; $($name:ident $(=> [$($req:expr),* $(,)?])?),* $(,)?) => {
        vec![$($crate::util::harness::Test {
            name: $crate::util::harness::test_name(module_path!(), stringify!($name)),
            needs: {
                let mut needs = Vec::new();
                $crate::util::harness::Needs::add_to($all, &mut needs);
                $($($crate::util::harness::Needs::add_to($req, &mut needs);)*)?
                needs
            },
            run: $name,
        }),*]
    };
    ($($name:ident $(=> [$($req:expr),* $(,)?])?),* $(,)?) => {
        $crate::tests!(needs: $crate::util::harness::NOTHING; $($name $(=> [$($req),*])?),*)
    };
}

/// No needs (what `tests![...]` without `needs:` means).
pub const NOTHING: [Req; 0] = [];

/// What can be listed as a test's needs: one [`Req`], or an array of them (a fixture's).
pub trait Needs {
    /// Appends itself to `needs`.
    fn add_to(self, needs: &mut Vec<Req>);
}

impl Needs for Req {
    fn add_to(self, needs: &mut Vec<Req>) {
        needs.push(self);
    }
}

impl<const N: usize> Needs for [Req; N] {
    fn add_to(self, needs: &mut Vec<Req>) {
        needs.extend(self);
    }
}

/// `module::function`, without the crate's own name.
pub fn test_name(module: &str, function: &str) -> String {
    let module = module.strip_prefix("tests::").unwrap_or(module);
    format!("{module}::{function}")
}

/// Whether `SESSREC_TEST_REQUIRE=all`; exits on any other value, and on the variables it
/// replaced, so that a CI set up for them does not silently skip tests.
fn everything_required() -> bool {
    for old in ["SESSREC_PEERS", "SESSREC_S3", "SESSREC_SSH"] {
        if std::env::var_os(old).is_some() {
            eprintln!("error: {old} is no longer read; set {REQUIRE_VAR}=all instead");
            std::process::exit(2);
        }
    }
    match std::env::var(REQUIRE_VAR).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("") => false,
        Ok("all") => true,
        Ok(other) => {
            eprintln!(
                "error: {REQUIRE_VAR}={other:?}: the only value is `all` (or leave it unset)"
            );
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("error: {REQUIRE_VAR}: {e}");
            std::process::exit(2);
        }
    }
}

/// Runs the tests as libtest would (same flags, same output), and exits.
pub fn main(tests: Vec<Test>) -> ! {
    let args = Arguments::from_args();
    let required = everything_required();
    let mut names = BTreeSet::new();
    for t in &tests {
        assert!(
            names.insert(t.name.clone()),
            "{} is registered twice",
            t.name
        );
    }
    let mut reasons = Vec::new();
    let trials: Vec<Trial> = tests
        .into_iter()
        .map(|t| {
            let missing: Vec<String> = t
                .needs
                .iter()
                .filter(|r| !r.met())
                .map(Req::to_string)
                .collect();
            if missing.is_empty() {
                let run = t.run;
                return Trial::test(t.name, move || {
                    run();
                    Ok(())
                });
            }
            let why = format!("needs {}", missing.join(", "));
            reasons.push((t.name.clone(), why.clone()));
            // Run all the same (everything required, or --ignored), it fails and says why.
            let fail = if required {
                format!("{why}, which is missing, and {REQUIRE_VAR}=all allows no skipping")
            } else {
                format!("{why}, which is missing")
            };
            Trial::test(t.name, move || {
                Err(Failed::from(format!(
                    "{fail} (scripts/test.sh installs every tool and runs as root)"
                )))
            })
            .with_ignored_flag(!required)
        })
        .collect();
    if !args.list {
        for t in &trials {
            let Some((_, why)) = reasons.iter().find(|(n, _)| n == t.name()) else {
                continue;
            };
            if args.is_ignored(t) && !args.is_filtered_out(t) {
                eprintln!(
                    "skipped {}: {why} ({REQUIRE_VAR}=all makes this fail)",
                    t.name()
                );
            }
        }
    }
    libtest_mimic::run(&args, trials).exit()
}

/// Runs one named step of a long test; a failure inside says which step it was in (the panic
/// itself is printed above it as usual).
pub fn step<T>(name: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            match msg {
                Some(msg) => panic!("step {name:?} failed: {msg}"),
                None => resume_unwind(payload),
            }
        }
    }
}
