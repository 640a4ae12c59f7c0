#!/usr/bin/env bash
# Upload benchmark: `sessrec upload --once` against `aws s3 cp` of the same recording to the same
# s3s-fs server on loopback, in one run; peak memory of the uploader.
# Usage: scripts/bench-upload.sh [SIZE_MB]   (SESSREC_BENCH_ROUNDS, default 3, alternating)   (needs s3s-fs from scripts/test.sh, and awscli)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-2000}
export PATH="${SESSREC_TEST_TOOLS:-$HOME/.cache/sessrec-test}/bin:$PATH"
work=${TMPDIR:-/tmp}/sessrec-bench-upload
rm -rf "$work" && mkdir -p "$work/spool" "$work/s3/sessrec-bench"
cargo build --release -q
bin=$PWD/target/release/sessrec
port=18014
s3s-fs --host 127.0.0.1 --port $port --access-key AKBENCH --secret-key SKBENCH "$work/s3" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
"$bin" keygen -o "$work/key" >/dev/null
cat > "$work/config.toml" <<CONF
spool = "$work/spool"
signing_key = "$work/key"
storage = "s3://sessrec-bench/sessrec"
audit_log = "$work/audit.log"
syslog = false
[s3]
endpoint = "http://127.0.0.1:$port"
region = "us-east-1"
access_key_id = "AKBENCH"
secret_access_key = "SKBENCH"
allow_http = true
CONF
echo "== recording about $size MB of incompressible output"
head -c "$((size * 9 / 10))000000" /dev/urandom | "$bin" rec -q -o "$work/copy.cast.zst" --sign-key "$work/key" -- cat >/dev/null
bytes=$(stat -c %s "$work/copy.cast.zst")
echo "recording: $bytes bytes"
secs() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
export AWS_ACCESS_KEY_ID=AKBENCH AWS_SECRET_ACCESS_KEY=SKBENCH AWS_DEFAULT_REGION=us-east-1
rounds=${SESSREC_BENCH_ROUNDS:-3}
aws_times=() ours_times=()
# Alternating rounds: both see the same page cache and server state.
for r in $(seq "$rounds"); do
  aws_times+=("$(secs aws --endpoint-url "http://127.0.0.1:$port" s3 cp --quiet "$work/copy.cast.zst" "s3://sessrec-bench/aws/copy-$r.cast.zst")")
  cp "$work/copy.cast.zst" "$work/spool/big.cast.zst"
  ours_times+=("$(secs /usr/bin/time -f "%M" -o "$work/rss" "$bin" upload --once --config "$work/config.toml" 2>/dev/null)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
t_aws=$(median "${aws_times[@]}")
t_ours=$(median "${ours_times[@]}")
mbps() { echo "scale=1; $bytes / 1000000 / $1" | bc; }
echo "rounds: $rounds; aws ${aws_times[*]} s; sessrec ${ours_times[*]} s"
echo "aws s3 cp:              $(mbps "$t_aws") MB/s (median $t_aws s)"
echo "sessrec upload --once:  $(mbps "$t_ours") MB/s (median $t_ours s; verify, upload, confirm), max RSS $(( $(cat "$work/rss") / 1024 )) MB"
echo "confirmed by: $(grep -o '"confirmed":"[a-z-]*"' "$work/audit.log" | sort | uniq -c | tr -s ' ')"
echo "ratio (sessrec / aws):  $(echo "scale=2; $t_aws / $t_ours" | bc)x the throughput"
