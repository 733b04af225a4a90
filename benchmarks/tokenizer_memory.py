"""Peak memory and time of the tokenizer at full resolution: encode and decode of one window,
each in its own process (peak RSS is per process), on the in-place inference path and on the
plain one (the modules' autograd path, without autograd), next to `runners.window_bytes`, the
estimate `reconstruct` and `tokenize` size their windows by.

    python benchmarks/tokenizer_memory.py [--weights weights/default] [--size 480x272] [--frames 17] [--report F]

CPU only (fp32; the in-place path's domain). Ratios are within this one run.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _reset_peak() -> bool:
    """Start the peak RSS afresh from the current one (Linux: clear_refs 5), so the peak measured
    is the stage's, not the imports'; False where it cannot be."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def one(weights: str, frames: int, height: int, width: int, stage: str, path: str) -> dict:
    """Run one stage in this process and return its figures (the child's side)."""
    import torch
    from magvit_cli.models import tokenizer as module
    from magvit_cli.pipeline import Magvit, kernel_number
    if path == "plain":
        module.lean = lambda x: False
    m = Magvit(weights, device="cpu", need_transformer=False)
    tok, cfg = m.tokenizer, m.tokenizer.config
    g = torch.Generator().manual_seed(0)
    t, h, w = cfg.latent_shape(frames, height, width)
    if stage == "encode":
        x = torch.rand(1, 3, frames, height, width, generator=g) * 2 - 1
    else:
        idx = torch.randint(0, 2 ** cfg.bits, (1, t, h, w), generator=g)
    fresh = _reset_peak()
    before = kernel_number("/proc/self/status", "VmRSS") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    with torch.no_grad():
        out = tok.encode(x) if stage == "encode" else tok.decode(idx)
    seconds = time.perf_counter() - t0
    peak = kernel_number("/proc/self/status", "VmHWM") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del out
    return {"seconds": round(seconds, 2), "peak_gb": round(peak / 2 ** 30, 3), "before_gb": round(before / 2 ** 30, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default"))
    ap.add_argument("--size", default="480x272", help="WxH, multiples of the tokenizer's space factor")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--report", help="write the figures as JSON here")
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    if a.child:
        print(json.dumps(one(a.weights, a.frames, height, width, *a.child)))
        return
    from magvit_cli import runners
    from magvit_cli.pipeline import Magvit
    m = Magvit(a.weights, device="cpu", need_transformer=False)
    estimate = runners.window_bytes(m, a.frames, height, width) / 2 ** 30
    rows = {}
    for path in ("in place", "plain"):
        for stage in ("encode", "decode"):
            r = subprocess.run([sys.executable, __file__, "--weights", a.weights, "--size", a.size, "--frames", str(a.frames),
                                "--child", stage, path.replace(" ", "-")],
                               capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{stage} ({path}) failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            rows[f"{stage} {path}"] = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"{a.frames} frames of {width}x{height}, CPU fp32; estimate (runners.window_bytes) {estimate:.2f} GB")
    print(f"{'':16} {'seconds':>8} {'peak GB':>8} {'added GB':>9}")
    for name, r in rows.items():
        print(f"{name:16} {r['seconds']:8.2f} {r['peak_gb']:8.2f} {r['peak_gb'] - r['before_gb']:9.2f}")
    added = {k: r["peak_gb"] - r["before_gb"] for k, r in rows.items()}
    ratio = lambda a, b: round(a / b, 3) if b > 0 else None  # None: too small to measure
    ratios = {stage: {"memory": ratio(added[f"{stage} in place"], added[f"{stage} plain"]),
                      "time": ratio(rows[f"{stage} in place"]["seconds"], rows[f"{stage} plain"]["seconds"])}
              for stage in ("encode", "decode")}
    shown = lambda v: "n/a" if v is None else f"{v:.2f}"
    for stage, r in ratios.items():
        print(f"{stage}: in place / plain = {shown(r['memory'])} of the memory, {shown(r['time'])} of the time")
    worst = max(added[f"{s} in place"] for s in ("encode", "decode"))
    print(f"estimate / measured (in place, the larger stage): {shown(ratio(estimate, worst))}")
    if a.report:
        Path(a.report).write_text(json.dumps({"frames": a.frames, "width": width, "height": height, "estimate_gb": round(estimate, 3),
                                              "rows": rows, "ratios": ratios, "estimate_over_measured": ratio(estimate, worst)},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
