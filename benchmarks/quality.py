"""Quality of the shipped (or given) weights on a held-out clip, through the same runner path the
CLI uses, scored only on the generated region (PSNR, dB) next to the simple alternatives:

  tokenizer      bits per pixel and reconstruction PSNR at full resolution
  FI x2          drop every other frame, interpolate back   | frame repeat, linear blend
  FP             5 frames known, predict 12                   | repeat the last frame
  OPC/OPV/OPH    crop the known part, outpaint back           | edge replication
  OPD            sliding half-width strip, outpaint back      | edge replication per frame
  IPC/IPD        remove the box, inpaint it back              | diffusion fill (Laplace, per frame)

    python benchmarks/quality.py --clip examples/carphone.mp4 [--weights DIR] [--frames 33] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from magvit_cli import runners  # noqa: E402
from magvit_cli.pipeline import Magvit, Sampling  # noqa: E402
from magvit_cli.tasks import window_left_edges  # noqa: E402
from magvit_cli.video import VideoWriter, probe, read_frames  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = (a - b) ** 2
    if region is not None:
        d = d[region]
    return 10 * math.log10(255 ** 2 / max(d.mean(), 1e-10))


def write(path, frames, fps):
    with VideoWriter(path, fps, frames.shape[2], frames.shape[1], lossless=True) as w:
        for f in frames:
            w.write(f)
    return path


def edge_fill(frame: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Unknown pixels copy the nearest pixel of the known bounding box."""
    rows, cols = np.nonzero(known.any(1))[0], np.nonzero(known.any(0))[0]
    ri = np.clip(np.arange(frame.shape[0]), rows[0], rows[-1])
    ci = np.clip(np.arange(frame.shape[1]), cols[0], cols[-1])
    out = frame[ri][:, ci]
    return np.where(known[..., None], frame, out)


def diffusion_fill(frame: np.ndarray, known: np.ndarray, iters: int = 400) -> np.ndarray:
    """Harmonic (Laplace) fill of the unknown pixels from their border, Jacobi iterations."""
    x = torch.from_numpy(frame).float().permute(2, 0, 1)[None]
    k = torch.from_numpy(known)[None, None]
    x = torch.where(k, x, x[k.expand_as(x)].view(3, -1).mean(1).view(1, 3, 1, 1) if k.any() else x)
    kernel = torch.tensor([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    known_vals = x.clone()
    for _ in range(iters):
        x = torch.where(k, known_vals, F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3))
    return x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="examples/carphone.mp4")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-residual", action="store_true", help="plain upsampling instead of residual compositing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    m = Magvit(args.weights, args.device, "auto")
    s = Sampling(steps=args.steps, seed=args.seed, residual=not args.no_residual)
    info = probe(args.clip)
    gt = read_frames(args.clip, 0, args.frames)  # (T, H, W, 3)
    T, H, W, _ = gt.shape
    res: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp())
    t0 = time.time()

    # tokenizer
    r = runners.reconstruct(m, write(tmp / "gt.mp4", gt, info.fps), tmp / "rec.mp4", runners.WriteOptions(lossless=True))
    res["tokenizer"] = {"bits_per_pixel": r.extra["bits_per_pixel"], "psnr": r.extra["psnr"]}

    # FI x2: even frames in, odd frames scored
    even = gt[0::2]
    n = len(even)
    runners.interpolate(m, write(tmp / "even.mp4", even, info.fps), tmp / "fi.mp4", 2, s, runners.WriteOptions(lossless=True))
    fi = read_frames(tmp / "fi.mp4")
    odd = list(range(1, 2 * n - 1, 2))
    truth = np.stack([gt[i] for i in odd])
    res["FI x2"] = {"ours": psnr(np.stack([fi[i] for i in odd]), truth),
                    "frame repeat": psnr(np.stack([gt[i - 1] for i in odd]), truth),
                    "linear blend": psnr(np.stack([((gt[i - 1].astype(np.float64) + gt[i + 1]) / 2).round() for i in odd]), truth)}

    # FP: 5 known, 12 predicted
    runners.predict(m, write(tmp / "fp_in.mp4", gt[:5], info.fps), tmp / "fp.mp4", 12, s, None, runners.WriteOptions(lossless=True))
    fp = read_frames(tmp / "fp.mp4")
    res["FP 5->12"] = {"ours": psnr(fp[5:17], gt[5:17]), "repeat last frame": psnr(np.repeat(gt[4:5], 12, 0), gt[5:17])}

    clip17 = gt[:17]
    h4, w4 = H // 4, W // 4
    for mode, (y0, y1, x0, x1) in {"central": (h4, h4 + H // 2, w4, w4 + W // 2), "vertical": (0, H, w4, w4 + W // 2),
                                   "horizontal": (h4, h4 + H // 2, 0, W)}.items():
        src = write(tmp / f"op_{mode}.mp4", np.ascontiguousarray(clip17[:, y0:y1, x0:x1]), info.fps)
        runners.outpaint(m, src, tmp / f"op_{mode}_out.mp4", mode, s, (W, H), None, runners.WriteOptions(lossless=True))
        out = read_frames(tmp / f"op_{mode}_out.mp4")
        known = np.zeros((H, W), bool)
        known[y0:y1, x0:x1] = True
        region = np.broadcast_to(~known[None, :, :, None], clip17.shape)
        base = np.stack([edge_fill(f, known) for f in clip17])
        code = {"central": "OPC", "vertical": "OPV", "horizontal": "OPH"}[mode]
        res[code] = {"ours": psnr(out, clip17, region), "edge replication": psnr(base, clip17, region)}

    xs = window_left_edges(17, W)
    strip = np.stack([clip17[t, :, xs[t]:xs[t] + W // 2] for t in range(17)])
    track = tmp / "track.csv"
    track.write_text("".join(f"{t},{xs[t]},0\n" for t in range(17)))
    runners.outpaint(m, write(tmp / "opd.mp4", np.ascontiguousarray(strip), info.fps), tmp / "opd_out.mp4", "dynamic", s,
                     (W, H), str(track), runners.WriteOptions(lossless=True))
    out = read_frames(tmp / "opd_out.mp4")
    knowns = np.zeros((17, H, W), bool)
    for t in range(17):
        knowns[t, :, xs[t]:xs[t] + W // 2] = True
    region = np.broadcast_to(~knowns[..., None], clip17.shape)
    base = np.stack([edge_fill(clip17[t], knowns[t]) for t in range(17)])
    res["OPD"] = {"ours": psnr(out, clip17, region), "edge replication": psnr(base, clip17, region)}

    for mode in ("central", "dynamic"):
        runners.inpaint(m, write(tmp / "ip_in.mp4", clip17, info.fps), tmp / f"ip_{mode}.mp4", mode, s,
                        opts=runners.WriteOptions(lossless=True))
        out = read_frames(tmp / f"ip_{mode}.mp4")
        holes = np.zeros((17, H, W), bool)
        for t in range(17):
            x = w4 if mode == "central" else xs[t]
            holes[t, h4:h4 + H // 2, x:x + W // 2] = True
        region = np.broadcast_to(holes[..., None], clip17.shape)
        base = np.stack([diffusion_fill(clip17[t], ~holes[t]) for t in range(17)])
        res["IPC" if mode == "central" else "IPD"] = {"ours": psnr(out, clip17, region), "diffusion fill": psnr(base, clip17, region)}

    res["_meta"] = {"clip": str(args.clip), "frames": T, "size": f"{W}x{H}", "steps": args.steps, "seed": args.seed,
                    "residual": not args.no_residual,
                    "device": str(m.device), "seconds": round(time.time() - t0, 1), "weights": str(m.paths.root)}
    for k, v in res.items():
        print(f"{k:10s} " + "  ".join(f"{a}: {b:.2f}" if isinstance(b, float) else f"{a}: {b}" for a, b in v.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
