#!/usr/bin/env bash
# Runs sessrec's fuzz targets (fuzz/, see fuzz/README.md) with cargo-fuzz on the nightly
# toolchain: each for SECONDS (default 20), or the named targets only. Installs cargo-fuzz once
# into ~/.cache/sessrec-test. A crash, a panic, a leak of time (-timeout) or memory (-rss_limit_mb)
# fails the run; the input that caused it is left in fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# A long campaign: scripts/fuzz.sh 3600 open   (or FUZZ_JOBS=2 for two processes per target;
# FUZZ_SEED=N for a fixed seed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
shift || true
tools=${SESSREC_TEST_TOOLS:-$HOME/.cache/sessrec-test}
if ! "$tools/cargo-fuzz/bin/cargo-fuzz" --version >/dev/null 2>&1; then
    echo "== building cargo-fuzz 0.13.2 into $tools/cargo-fuzz"
    cargo install cargo-fuzz --version 0.13.2 --locked --quiet --root "$tools/cargo-fuzz"
fi
export PATH="$tools/cargo-fuzz/bin:$PATH"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
./seed.sh
# Debug assertions on (overflow is a bug); no sanitizer: the code fuzzed is safe Rust, and
# libFuzzer's coverage and limits find what matters here at twice the speed.
flags=(-s none -a)
cargo +nightly fuzz build "${flags[@]}"
# The targets' scratch files (index caches they write) go in a directory removed at the end.
TMPDIR=$(mktemp -d)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
jobs=()
[ "${FUZZ_JOBS:-1}" = 1 ] || jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
# FUZZ_SEED fixes libFuzzer's seed (the test suite's brief runs: the same paths every time).
[ -z "${FUZZ_SEED:-}" ] || jobs+=(-seed="$FUZZ_SEED")
for t in "${targets[@]}"; do
    # Targets that replay a terminal per input go faster on shorter inputs.
    case "$t" in review|seek_oracle|timeline|transcript) max_len=4096 ;; *) max_len=65536 ;; esac
    echo "== fuzzing $t for ${seconds}s"
    cargo +nightly fuzz run "${flags[@]}" "$t" -- -max_total_time="$seconds" \
        -dict=formats.dict -max_len="$max_len" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 \
        "${jobs[@]}" -print_final_stats=1 2>&1 |
        grep -E '^(stat::|==|INFO: seed|#[0-9]+ +DONE|.*(panicked|ERROR|SUMMARY|Test unit written))' || true
    if compgen -G "artifacts/$t/*" >/dev/null; then
        echo "fuzz target $t failed: its input is in fuzz/artifacts/$t/ (replay: cargo +nightly fuzz run $t FILE)" >&2
        exit 1
    fi
done
