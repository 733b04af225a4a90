"""Peak memory and time of the tokenizer at full resolution: encode and decode of one window,
on the in-place inference path and on the plain one (the modules' autograd path, without
autograd), next to `runners.window_bytes`, the estimate `reconstruct` and `tokenize` size their
windows by. On the CPU each stage runs in its own process (peak RSS is per process).

    python benchmarks/tokenizer_memory.py [--weights weights/default] [--size 480x272] [--frames 17] [--report F]
                                          [--device cpu|cuda] [--chunk 1]

And the window run `--chunk` latent frames at a time (VideoTokenizer.encode_chunked, what they do
where the whole window does not fit) against `runners.chunk_bytes`.

On the CPU (fp32): the in-place path against the plain one, peak RSS. On a GPU: the in-place path
(fp32) against the plain one under the device's default autocast (bf16; what `reconstruct` runs
there), peak allocated CUDA memory, each stage run twice and the second (warm) run reported; the
estimate is of the default. Ratios are within this one run.
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


def one(weights: str, frames: int, height: int, width: int, stage: str, path: str, device: str = "cpu",
        chunk: int = 1) -> dict:
    """Run one stage in this process and return its figures (the child's side). Path "chunked":
    the device's default path, `chunk` latent frames at a time (VideoTokenizer.encode_chunked)."""
    from magvit_cli.models import tokenizer as module
    from magvit_cli.pipeline import Magvit
    kept = module.lean
    if path == "plain":
        module.lean = lambda x: False
    try:
        return _measure(Magvit(weights, device=device, precision=_precision(device, path), need_transformer=False),
                        frames, height, width, stage, chunk if path == "chunked" else None)
    finally:
        module.lean = kept


def _measure(m, frames: int, height: int, width: int, stage: str, chunk: int | None) -> dict:
    """One stage's seconds and peak (the process's RSS on the CPU, allocated memory on a GPU)."""
    import torch
    from magvit_cli.pipeline import kernel_number
    tok, cfg, gpu = m.tokenizer, m.tokenizer.config, m.device.type == "cuda"
    g = torch.Generator().manual_seed(0)
    t, h, w = cfg.latent_shape(frames, height, width)
    if stage == "encode":
        x = (torch.rand(1, 3, frames, height, width, generator=g) * 2 - 1).to(m.device)
    else:
        idx = torch.randint(0, 2 ** cfg.bits, (1, t, h, w), generator=g).to(m.device)
    if gpu:
        torch.cuda.synchronize(m.device)
        torch.cuda.reset_peak_memory_stats(m.device)
        fresh, before = True, torch.cuda.memory_allocated(m.device)
    else:
        fresh = _reset_peak()
        before = kernel_number("/proc/self/status", "VmRSS") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    with torch.no_grad(), m.autocast():
        if chunk:
            out = tok.encode_chunked(x, chunk) if stage == "encode" else tok.decode_chunked(idx, chunk)
        else:
            out = tok.encode(x) if stage == "encode" else tok.decode(idx)
    if gpu:
        torch.cuda.synchronize(m.device)
    seconds = time.perf_counter() - t0
    if gpu:
        peak = torch.cuda.max_memory_allocated(m.device)
    else:
        peak = kernel_number("/proc/self/status", "VmHWM") if fresh else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del out
    return {"seconds": round(seconds, 2), "peak_gb": round(peak / 2 ** 30, 3), "before_gb": round(before / 2 ** 30, 3)}


def _precision(device: str, path: str) -> str:
    """The in-place path runs in fp32 (tokenizer.lean); the plain one at the device's default (a
    GPU's bf16 autocast, the CPU's fp32)."""
    return "fp32" if path == "in-place" or device == "cpu" else "auto"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(ROOT / "weights" / "default"))
    ap.add_argument("--size", default="480x272", help="WxH, multiples of the tokenizer's space factor")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda[:N]: peak allocated GPU memory")
    ap.add_argument("--chunk", type=int, default=1, help="latent frames at a time on the chunked path")
    ap.add_argument("--report", help="write the figures as JSON here")
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    width, height = map(int, a.size.split("x"))
    if a.child:
        print(json.dumps(one(a.weights, a.frames, height, width, *a.child, device=a.device, chunk=a.chunk)))
        return
    from magvit_cli import runners
    from magvit_cli.pipeline import Magvit
    gpu = a.device.startswith("cuda")
    default = "plain" if gpu else "in place"  # what reconstruct runs on this device, which the estimate is of
    m = Magvit(a.weights, device=a.device, precision=_precision(a.device, default.replace(" ", "-")), need_transformer=False)
    estimate = runners.window_bytes(m, a.frames, height, width) / 2 ** 30
    chunk_estimate = runners.chunk_bytes(m, a.frames, a.chunk, height, width) / 2 ** 30
    rows = {}
    for path in ("in place", "plain", "chunked"):
        for stage in ("encode", "decode"):
            if gpu:  # the device's peak statistics start afresh for each stage: one process does; the first run warms up
                rows[f"{stage} {path}"] = [one(a.weights, a.frames, height, width, stage, path.replace(" ", "-"), a.device,
                                               a.chunk) for _ in range(2)][-1]
                continue
            r = subprocess.run([sys.executable, __file__, "--weights", a.weights, "--size", a.size, "--frames", str(a.frames),
                                "--device", a.device, "--chunk", str(a.chunk), "--child", stage, path.replace(" ", "-")],
                               capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{stage} ({path}) failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
            rows[f"{stage} {path}"] = json.loads(r.stdout.strip().splitlines()[-1])
    kind = f"{a.device}: in place fp32, plain {str(m.dtype).removeprefix('torch.')} autocast" if gpu else "CPU fp32"
    print(f"{a.frames} frames of {width}x{height}, {kind}; estimate (runners.window_bytes, {default}) {estimate:.2f} GB")
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
        r["chunked memory"] = ratio(added[f"{stage} chunked"], added[f"{stage} {default}"])
        r["chunked time"] = ratio(rows[f"{stage} chunked"]["seconds"], rows[f"{stage} {default}"]["seconds"])
        print(f"{stage}: in place / plain = {shown(r['memory'])} of the memory, {shown(r['time'])} of the time; "
              f"chunked / {default} = {shown(r['chunked memory'])} of the memory, {shown(r['chunked time'])} of the time")
    worst = max(added[f"{s} {default}"] for s in ("encode", "decode"))
    worst_chunked = max(added[f"{s} chunked"] for s in ("encode", "decode"))
    print(f"estimate / measured ({default}, the larger stage): {shown(ratio(estimate, worst))}; "
          f"{a.chunk} latent frame{'s' * (a.chunk != 1)} at a time (runners.chunk_bytes {chunk_estimate:.2f} GB): "
          f"{shown(ratio(chunk_estimate, worst_chunked))}")
    if a.report:
        Path(a.report).write_text(json.dumps({"device": a.device, "estimated_path": default,
                                              "frames": a.frames, "width": width, "height": height, "estimate_gb": round(estimate, 3),
                                              "rows": rows, "ratios": ratios, "estimate_over_measured": ratio(estimate, worst),
                                              "chunk": a.chunk, "chunk_estimate_gb": round(chunk_estimate, 3),
                                              "chunk_estimate_over_measured": ratio(chunk_estimate, worst_chunked)},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
