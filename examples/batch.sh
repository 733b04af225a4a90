#!/usr/bin/env bash
# Interpolate every video in a folder x2 into OUT_DIR, in one call (the model loads once).
# An input that fails is named in a line and the rest go on; outputs already there are left as
# they are, so running it again after a stop picks up where it was; one run per GPU over the same
# folders splits the work (`examples/batch.sh in out --device cuda:0 & examples/batch.sh in out
# --device cuda:1`: each leaves the inputs the other is writing). Exit status: 0 when every input
# was written, else that of the worst failure.
# usage: examples/batch.sh IN_DIR OUT_DIR [extra magvit options...]
set -u
shopt -s nullglob nocaseglob
in=${1:?usage: batch.sh IN_DIR OUT_DIR [options]}
out=${2:?usage: batch.sh IN_DIR OUT_DIR [options]}
shift 2
files=("$in"/*.mp4 "$in"/*.mov "$in"/*.mkv "$in"/*.webm "$in"/*.avi "$in"/*.m4v "$in"/*.mts "$in"/*.m2ts)
if [ ${#files[@]} -eq 0 ]; then
  echo "no .mp4, .mov, .mkv, .webm, .avi, .m4v, .mts or .m2ts files in $in" >&2
  exit 2
fi
exec magvit interpolate "${files[@]}" --factor 2 --out-dir "$out" --skip-existing "$@"
