#!/usr/bin/env bash
# sessrec's main job on the embedded default, no server needed: record a shell session into a
# signed recording in a spool, ship it to the local directory store, list it from the catalog and
# verify it from the store by its session id. Everything goes under ${SESSREC_DEMO:-/tmp/sessrec-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
# SESSREC_BIN: a sessrec already built (the tests pass theirs).
if [ -n "${SESSREC_BIN:-}" ]; then
    bin=$SESSREC_BIN
else
    cargo build --release -q
    bin=$PWD/target/release/sessrec
fi
d=${SESSREC_DEMO:-/tmp/sessrec-demo}
mkdir -p "$d/spool"
[ -f "$d/key" ] || "$bin" keygen -o "$d/key" >/dev/null
cat > "$d/config.toml" <<CONF
spool = "$d/spool"
signing_key = "$d/key"
storage = "file://$d/store"
audit_log = "$d/audit.log"
syslog = false
CONF
echo "== recording a shell: type a few commands, then exit"
"$bin" rec -o "$d/spool/demo-$(date +%s).cast.zst" --sign-key "$d/key" -- "${SHELL:-/bin/sh}"
echo "== shipping the spool to file://$d/store"
"$bin" upload --once --config "$d/config.toml"
echo "== the catalog"
"$bin" ls --config "$d/config.toml" --catalog "$d/catalog.sqlite" --refresh
id=$("$bin" ls --json --config "$d/config.toml" --catalog "$d/catalog.sqlite" | tail -n 1 | sed 's/.*"session_id":"\([^"]*\)".*/\1/')
echo "== verifying session $id from the store"
XDG_CACHE_HOME=$d/cache "$bin" verify "$id" --store "file://$d/store" --key "$d/key.pub"
