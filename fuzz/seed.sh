#!/usr/bin/env bash
# Builds each target's seed corpus in fuzz/corpus/TARGET from the repository's fixtures: the
# peers' recordings, sessrec's own (format 1 and 2), the kept crashers and bombs. Idempotent;
# inputs a campaign found are kept beside the seeds.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../fixtures
recordings=()
for f in "$fixtures"/peers/* "$fixtures"/format1/*.cast.zst "$fixtures"/crashers/* "$fixtures"/bombs/*; do
    case "$f" in *.raw|*.md|*.pub|*.tm|*.py) continue ;; esac
    [ -f "$f" ] && recordings+=("$f")
done
for target in open container verify_seek transcript timeline; do
    mkdir -p "corpus/$target"
    cp -n "${recordings[@]}" "corpus/$target/" 2>/dev/null || true
done
# A script typescript with its timing file, as the open target takes them: T, typescript, NUL, timing.
for ts in "$fixtures"/peers/script-*; do
    case "$ts" in *.tm|*.raw) continue ;; esac
    [ -f "$ts.tm" ] || continue
    { printf T; cat "$ts"; printf '\0'; cat "$ts.tm"; } > "corpus/open/$(basename "$ts").with-timing"
done
# Index caches saved by the player (see fixtures/index/README.md).
mkdir -p corpus/index_cache
if compgen -G "$fixtures/index/*.index" >/dev/null; then
    cp -n "$fixtures"/index/*.index corpus/index_cache/
fi
# Inputs that once broke a target (kept in regressions/TARGET): every run replays them first.
for dir in regressions/*/; do
    target=$(basename "$dir")
    mkdir -p "corpus/$target"
    cp -n "$dir"* "corpus/$target/"
done
# The event-coded targets start from a few hand-made inputs.
mkdir -p corpus/seek_oracle corpus/review
printf '\x01\x10\x05\x00\x01\x02\x03\x04\x05\x20\x03\x07\x08\x09\x0a\x0b\x05\x01\x02\x30\x10' > corpus/seek_oracle/mixed
printf '\x01\xff\x03\x01\x02\x03\x06\x01\x04mark\x01\x10\x02\x05\x06' > corpus/seek_oracle/far-times
printf 'lll>>.,][ 0\x01\x02\xc4\x82\x10/x\x05g10:00\x05n?\x00\x01\x10\x05\x00\x01\x02\x03\x04\x06\x30\x04mark\x01\xff\x02\x07\x08' > corpus/review/keys
printf '\x0d\x0d\x0d\x18\x18 \xff\xff\x00\x01\xff\x03abc\x01\xff\x03def' > corpus/review/far-times
