#!/usr/bin/env bash
# sessrec's main job on the embedded default, no server needed: record a shell session into a
# signed recording in a spool, ship it to the local directory store, list it from the catalog,
# verify it from the store by its session id, and show its last screen. The policy file trusts
# the demo's key (`trusted_keys`), so verify and play need no --key. Everything goes under
# ${SESSREC_DEMO:-/tmp/sessrec-demo}, the catalog and the player's index cache too.
set -euo pipefail
cd "$(dirname "$0")/.."
# SESSREC_BIN: a sessrec already built (the tests pass theirs).
if [ -n "${SESSREC_BIN:-}" ]; then
    bin=$SESSREC_BIN
else
    echo "== building sessrec (release, a few minutes the first time)"
    cargo build --release
    bin=$PWD/target/release/sessrec
fi
d=${SESSREC_DEMO:-/tmp/sessrec-demo}
mkdir -p "$d/spool"
[ -f "$d/key" ] || "$bin" keygen -o "$d/key" >/dev/null
cat > "$d/config.toml" <<CONF
spool = "$d/spool"
signing_key = "$d/key"
trusted_keys = ["$d/key.pub"]
storage = "file://$d/store"
audit_log = "$d/audit.log"
syslog = false
CONF
export XDG_CACHE_HOME=$d/cache
echo "== recording a shell: type a few commands, then exit"
"$bin" rec -o "$d/spool/" --sign-key "$d/key" -- "${SHELL:-/bin/sh}"
echo "== shipping the spool to file://$d/store"
"$bin" upload --once --config "$d/config.toml"
echo "== the catalog"
"$bin" ls --config "$d/config.toml" --refresh
id=$("$bin" ls --json --config "$d/config.toml" | tail -n 1 | sed 's/.*"session_id":"\([^"]*\)".*/\1/')
echo "== verifying session $id from the store"
"$bin" verify "$id" --config "$d/config.toml"
echo "== its last screen (sessrec play --dump)"
"$bin" play "$id" --config "$d/config.toml" --dump | awk 'NF { for (; blank > 0; blank--) print ""; print; next } { blank++ }'
echo "== to review the whole session in the player (? lists the keys, q quits):"
echo "XDG_CACHE_HOME=$d/cache $bin play $id --config $d/config.toml"
