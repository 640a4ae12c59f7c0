#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with a Rust toolchain, as root.
# Installs what the tests need, idempotently: the peer recorders from Debian (asciinema 2, ttyrec,
# termrec, tlog, util-linux script), zstd/gzip, OpenSSH for the end-to-end test and tmux for the
# player; the programs whose password prompts the withholding tests type into (sudo, psql,
# mariadb, openssl, pinentry-curses, vim), age for the escrow key, minisign and headless Chromium for export bundles; asciinema 3, cargo-fuzz and the S3 test servers s3s-fs and Garage from crates.io, built once, and
# the Azure emulator Azurite from the npm registry, all cached in ~/.cache/sessrec-test. Then runs
# every test of the workspace with the peers required.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${SESSREC_TEST_TOOLS:-$HOME/.cache/sessrec-test}
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

# Debian packages: (package, a file it installs).
missing=()
for pair in asciinema:/usr/bin/asciinema ttyrec:/usr/bin/ttyplay termrec:/usr/bin/termrec \
            tlog:/usr/bin/tlog-rec zstd:/usr/bin/zstd gzip:/bin/gzip bsdutils:/usr/bin/script \
            bsdutils:/usr/bin/scriptreplay openssh-server:/usr/sbin/sshd openssh-client:/usr/bin/ssh \
            openssh-sftp-server:/usr/lib/openssh/sftp-server procps:/usr/bin/pgrep \
            util-linux:/usr/bin/unshare passwd:/usr/sbin/useradd nodejs:/usr/bin/node npm:/usr/bin/npm \
            tmux:/usr/bin/tmux strace:/usr/bin/strace e2fsprogs:/usr/bin/chattr python3:/usr/bin/python3 \
            age:/usr/bin/age-keygen sudo:/usr/bin/sudo postgresql-client:/usr/bin/psql \
            mariadb-client:/usr/bin/mariadb openssl:/usr/bin/openssl pinentry-curses:/usr/bin/pinentry-curses \
            vim:/usr/bin/vim less:/usr/bin/less htop:/usr/bin/htop minisign:/usr/bin/minisign \
            chromium:/usr/bin/chromium; do
    [ -e "${pair#*:}" ] || missing+=("${pair%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    $sudo apt-get update -qq
    # Packages must not start services (sshd on port 22): the tests start their own on loopback.
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    $sudo rm -f /usr/sbin/policy-rc.d
fi
# tlog-rec refuses to start without a utmp file (containers often lack one).
if [ ! -e /var/run/utmp ]; then
    $sudo touch /var/run/utmp
    $sudo chgrp utmp /var/run/utmp 2>/dev/null || true
    $sudo chmod 664 /var/run/utmp
fi

# asciinema 3 (reads asciicast v3); about 2.5 minutes to build once.
a3=$tools/asciinema-3.2.0
if [ ! -x "$a3/bin/asciinema" ]; then
    echo "== building asciinema 3.2.0 into $a3"
    cargo install asciinema --version 3.2.0 --locked --quiet --root "$a3"
fi
# s3s-fs, a small S3-compatible server that checks signatures; about 2.5 minutes to build once.
s3=$tools/s3s-fs-0.14.1
if [ ! -x "$s3/bin/s3s-fs" ]; then
    echo "== building s3s-fs 0.14.1 into $s3"
    cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet --root "$s3"
fi
# Garage, a real distributed S3 store; about 14 minutes to build once (2 cores).
garage=$tools/garage-2.5.0
if [ ! -x "$garage/bin/garage" ]; then
    echo "== building garage 2.5.0 into $garage (about 14 minutes, once)"
    cargo install garage --version 2.5.0 --locked --quiet --root "$garage"
fi
# Azurite, Microsoft's Azure Blob Storage emulator, from the npm registry; about a minute once.
azurite=$tools/azurite-3.37.0
if [ ! -x "$azurite/node_modules/.bin/azurite-blob" ]; then
    echo "== installing azurite 3.37.0 into $azurite"
    mkdir -p "$azurite"
    npm install --prefix "$azurite" --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null
fi
mkdir -p "$tools/bin"
ln -sf "$azurite/node_modules/.bin/azurite-blob" "$tools/bin/azurite-blob"
ln -sf "$a3/bin/asciinema" "$tools/bin/asciinema3"
ln -sf "$s3/bin/s3s-fs" "$tools/bin/s3s-fs"
ln -sf "$garage/bin/garage" "$tools/bin/garage"
export PATH="$tools/bin:$PATH"

export SESSREC_TEST_REQUIRE=all
# Style and lints first: a formatting slip or a clippy warning fails the run like a test.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Every fuzz target briefly, on the nightly toolchain (fuzz/README.md: a long campaign).
FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "${SESSREC_FUZZ_SECONDS:-15}"
# Benchmarks run once each as smoke tests (criterion's test mode), then every test.
cargo test --workspace --benches --quiet
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-features --no-fail-fast
else
    cargo test --workspace --all-features --no-fail-fast
fi
