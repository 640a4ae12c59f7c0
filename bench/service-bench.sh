#!/bin/sh
# recbench with sessrec's real login path (the login client handing the terminal to the
# recording service, `sessrec daemon`) as recorder `sessrec-service`, beside the in-process
# `sessrec rec` (recorder `sessrec`) and the peers, in one run. As root, on cgroup v2: the
# service runs in a cgroup of its own, whose CPU and processes recbench counts with the
# client's (--service-cgroup). Arguments go to recbench, e.g.
#   bench/service-bench.sh --rounds 3 --only sessrec,sessrec-service,script --markdown t.md
# With --memory [IDLE [BUSY]] instead: the service's memory (PSS) with IDLE sessions at a
# prompt and BUSY ones printing (bench/service-memory.py; default 45 and 5).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/sessrec
[ -x "$bin" ] || (cd "$root" && cargo build --release)
w=${TMPDIR:-/tmp}/sessrec-service-bench
rm -rf "$w"
mkdir -p "$w/etc" "$w/spool" "$w/log" "$w/run"
"$bin" keygen -o "$w/etc/signing.key" >/dev/null
# The template's sh stands in for sshd as the program that starts the login.
cat > "$w/etc/config.toml" <<CONF
shell = "/bin/sh"
spool = "$w/spool"
signing_key = "$w/etc/signing.key"
audit_log = "$w/log/audit.log"
syslog = false
min_free_mb = 0
banner = ""
[service]
socket = "$w/run/sessrec.sock"
launchers = ["/usr/bin/dash"]
CONF
cg2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
[ -n "$cg2" ] || { echo "service-bench.sh: needs a cgroup v2 hierarchy" >&2; exit 1; }
cg=$cg2/sessrec-bench-$$
mkdir "$cg"
sh -c 'echo $$ > "$1/cgroup.procs"; exec "$2" daemon --config "$3"' sh "$cg" "$bin" "$w/etc/config.toml" \
    > "$w/daemon.log" 2>&1 &
daemon=$!
cleanup() {
    kill "$daemon" 2>/dev/null || true
    sleep 0.2
    for d in "$cg"/sessrec-*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT
while [ ! -S "$w/run/sessrec.sock" ]; do sleep 0.05; done
if [ "${1:-}" = --memory ]; then
    shift
    unshare -m sh -c 'mkdir -p /etc/sessrec && mount --bind "$1" /etc/sessrec && shift && exec python3 "$@"' \
        sh "$w/etc" "$root/bench/service-memory.py" "$bin" "$cg" "$@"
    exit
fi
unshare -m sh -c 'mkdir -p /etc/sessrec && mount --bind "$1" /etc/sessrec && shift && exec python3 "$@"' \
    sh "$w/etc" "$root/bench/recbench.py" \
    --recorder "sessrec-service=$root/bench/login-through-service.sh $bin $w/spool {out} {cmd}" \
    --service-cgroup "sessrec-service=$cg" "$@"
