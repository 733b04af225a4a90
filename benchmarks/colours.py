"""How the tokenizer keeps colour: flat frames of saturated and natural colours, and a colour-bar
clip (ffmpeg's testsrc2), encoded and decoded (and with --refine's token search), each colour's
mean error in 8-bit levels and the bars' PSNR; next to a natural clip's PSNR from the same run.

    python benchmarks/colours.py [--weights weights/default] [--clip examples/carphone.mp4] [--report weights/eval_colours.json]
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from magvit_cli import pipeline  # noqa: E402
from magvit_cli.video import read_frames  # noqa: E402

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0), "magenta": (255, 0, 255),
           "cyan": (0, 255, 255), "white": (255, 255, 255), "black": (0, 0, 0), "mid grey": (128, 128, 128),
           "skin": (204, 153, 128), "sky": (102, 153, 230), "foliage": (70, 110, 40), "half red": (192, 64, 64)}
SIZE, FRAMES = 64, 17  # one window at the shipped models' working size


def roundtrip(m: pipeline.Magvit, video: torch.Tensor, refine: int) -> torch.Tensor:
    """(1, 3, T, H, W) in [-1, 1] -> its reconstruction, clamped."""
    with torch.no_grad():
        return m.tokenizer.decode(m.encode(video, refine)).float().clamp(-1, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) * 127.5).pow(2).mean())
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


def clip_tensor(path: Path, frames: int = FRAMES) -> torch.Tensor:
    x = torch.from_numpy(read_frames(path)[:frames]).float().div(127.5).sub(1)  # (T, H, W, 3)
    h, w = x.shape[1] // 8 * 8, x.shape[2] // 8 * 8
    return x[:, :h, :w].permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, T, H, W)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--clip", default=str(Path(__file__).resolve().parent.parent / "examples" / "carphone.mp4"))
    ap.add_argument("--refine", type=int, default=10)
    ap.add_argument("--report", default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    m = pipeline.Magvit(a.weights, "cpu", "auto", need_transformer=False)
    report = {"weights": a.weights or "weights/default", "refine": a.refine, "colours": {}}
    print(f"{'colour':10} {'in (RGB)':>15}  {'out':>15} {'error':>6}  {'out, refine':>15} {'error':>6}   (8-bit levels)")
    for name, rgb in COLOURS.items():
        x = (torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1).view(1, 3, 1, 1, 1).expand(1, 3, FRAMES, SIZE, SIZE).contiguous()
        row = {"in": list(rgb)}
        for key, k in (("plain", 0), ("refine", a.refine)):
            y = roundtrip(m, x, k)[0, :, FRAMES // 2]  # a middle frame
            out = [round(float(v)) for v in (y.mean(dim=(1, 2)) + 1) * 127.5]
            row[key] = {"out": out, "mean_abs_error": round(sum(abs(o - i) for o, i in zip(out, rgb)) / 3, 1)}
        report["colours"][name] = row
        print(f"{name:10} {str(rgb):>15}  {str(tuple(row['plain']['out'])):>15} {row['plain']['mean_abs_error']:6.1f}  "
              f"{str(tuple(row['refine']['out'])):>15} {row['refine']['mean_abs_error']:6.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        bars = Path(tmp) / "bars.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=176x144:rate=25:duration={FRAMES / 25}", "-c:v", "libx264", "-crf", "10", str(bars)], check=True)
        for label, path in (("colour bars (testsrc2)", bars), (Path(a.clip).name, Path(a.clip))):
            x = clip_tensor(path)
            got = {"plain": psnr(roundtrip(m, x, 0), x), "refine": psnr(roundtrip(m, x, a.refine), x)}
            report[label] = {k: round(v, 2) for k, v in got.items()}
            print(f"{label}: PSNR {got['plain']:.2f} dB, {got['refine']:.2f} with --refine {a.refine} ({FRAMES} frames)")
    if a.report:
        Path(a.report).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
