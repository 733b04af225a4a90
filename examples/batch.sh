#!/usr/bin/env bash
# Interpolate every video in a folder x2 into OUT/, skipping files that fail (and saying so).
# usage: examples/batch.sh IN_DIR OUT_DIR [extra magvit options...]
set -u
in=${1:?usage: batch.sh IN_DIR OUT_DIR [options]}
out=${2:?usage: batch.sh IN_DIR OUT_DIR [options]}
shift 2
mkdir -p "$out"
failed=0
for f in "$in"/*.mp4 "$in"/*.mov "$in"/*.mkv "$in"/*.webm; do
  [ -e "$f" ] || continue
  if magvit interpolate "$f" --factor 2 --out-dir "$out" --quiet "$@"; then
    echo "ok   $f"
  else
    echo "FAIL $f (exit $?)" >&2
    failed=$((failed + 1))
  fi
done
exit $(( failed > 0 ))
