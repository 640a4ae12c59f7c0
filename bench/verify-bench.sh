#!/usr/bin/env bash
# `sessrec verify` against `sha256sum` of the same file, measured in one run, alternating, on two
# signed recordings made here: "bulk" (random output, which hardly compresses: a SIZE_MB file,
# default 2048) and "realistic" (bench/recbench.py's terminal corpus, 200 MB of plain text).
# Prints the median time of each over ROUNDS (default 5) and verify's time as a ratio of
# sha256sum's, and of `openssl dgst -sha256` (which uses the CPU's SHA extensions where
# coreutils may not). Usage: bench/verify-bench.sh [SIZE_MB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-2048}
rounds=${2:-5}
work=${TMPDIR:-/tmp}/sessrec-verify-bench
mkdir -p "$work"
cargo build --release -q --bin sessrec
bin=$PWD/target/release/sessrec
[ -f "$work/key" ] || "$bin" keygen -o "$work/key" >/dev/null

bulk=$work/bulk-${size}MB.cast.zst
if [ ! -f "$bulk" ]; then
  # Lines of base64 of random bytes: about 1.3 plain bytes per stored byte.
  python3 - "$work/bulk.cast" "$size" <<'PY'
import base64, json, os, sys
path, size = sys.argv[1], int(sys.argv[2]) * 1_000_000 * 13 // 10
with open(path, 'w') as f:
    f.write('{"version": 3, "term": {"cols": 120, "rows": 40}}\n')
    written = 0
    while written < size:
        chunk = base64.b64encode(os.urandom(3 * 1024 * 64)).decode()
        lines = '\r\n'.join(chunk[i:i + 120] for i in range(0, len(chunk), 120))
        line = '[0.001, "o", %s]\n' % json.dumps(lines + '\r\n')
        f.write(line)
        written += len(line)
PY
  "$bin" convert "$work/bulk.cast" "$bulk" --sign-key "$work/key" --force
  rm -f "$work/bulk.cast"
fi
real=$work/realistic.cast.zst
if [ ! -f "$real" ]; then
  python3 -c "import sys; sys.path.insert(0, 'bench'); import recbench; recbench.make_corpus('$work/corpus.txt', 200_000_000)"
  "$bin" rec -q --force --no-input -o "$real" --sign-key "$work/key" -- cat "$work/corpus.txt" >/dev/null </dev/null
fi

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for file in "$bulk" "$real"; do
  "$bin" verify "$file" --key "$work/key.pub" | grep -q 'intact' || { echo "$file does not verify"; exit 1; }
  cat "$file" >/dev/null # warm the page cache for both
  : >"$work/sha.t"; : >"$work/ossl.t"; : >"$work/verify.t"
  for _ in $(seq "$rounds"); do
    secs sha256sum "$file" >>"$work/sha.t"
    secs openssl dgst -sha256 "$file" >>"$work/ossl.t"
    secs "$bin" verify "$file" --key "$work/key.pub" >>"$work/verify.t"
  done
  sha=$(median <"$work/sha.t"); ossl=$(median <"$work/ossl.t"); ver=$(median <"$work/verify.t")
  mb=$(( $(stat -c %s "$file") / 1000000 ))
  printf '%s: %d MB; sha256sum %.3f s, openssl %.3f s, sessrec verify %.3f s; verify/sha256sum = %.2f, verify/openssl = %.2f\n' \
    "$(basename "$file")" "$mb" "$sha" "$ossl" "$ver" "$(echo "$ver / $sha" | bc -l)" "$(echo "$ver / $ossl" | bc -l)"
done
