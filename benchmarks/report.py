"""Markdown tables from `magvit eval --report` and `magvit bench --json` outputs (for the README
and the model card).

    python benchmarks/report.py eval weights/eval_carphone.json [--plain other.json]
    python benchmarks/report.py bench weights/bench_cpu.json
    python benchmarks/report.py compare weights/eval_carphone.json new_carphone.json

`compare`: two eval reports of the same clips and settings (the shipped weights' and new ones',
e.g. what a GPU session brought back): per task, ours before and after, the change, and the
best alternative the report scored, so that the weights are shipped only where they gain.
"""
from __future__ import annotations

import argparse
import json

from magvit_cli.bench import STAGES


def eval_table(rep: dict, plain: dict | None = None) -> str:
    avg = rep["average"]
    rows = ["| task | method | PSNR dB | SSIM | bits/pixel |", "|---|---|---:|---:|---:|"]
    for task, methods in avg.items():
        best_alt = max((v["psnr"] for m, v in methods.items() if m != "ours"), default=None)
        for i, (m, v) in enumerate(methods.items()):
            name = m
            if m == "ours" and best_alt is not None:
                name = "**ours**" if v["psnr"] > best_alt else "ours"
            bpp = f"{v['bits_per_pixel']:.4f}" if "bits_per_pixel" in v else ""
            rows.append(f"| {task if i == 0 else ''} | {name} | {v['psnr']:.2f} | {v['ssim']:.3f} | {bpp} |")
            if m == "ours" and plain and task in plain["average"]:
                p = plain["average"][task]["ours"]
                rows.append(f"| | ours, plain upsampling (no residual compositing) | {p['psnr']:.2f} | {p['ssim']:.3f} | |")
    return "\n".join(rows)


def compare_table(old: dict, new: dict) -> str:
    """Per task of both reports: ours PSNR / SSIM in `old` and `new`, the PSNR change, and the best
    alternative's PSNR (the same in both: the alternatives do not depend on the weights)."""
    if set(old["clips"]) != set(new["clips"]):
        raise SystemExit(f"the reports scored other clips: {', '.join(old['clips'])} and {', '.join(new['clips'])}")
    same = ("window", "windows", "steps", "temperature", "guidance", "seed", "residual", "soft", "motion", "fi_every", "refine")
    other = [f"{k} {old['settings'].get(k)} and {new['settings'].get(k)}" for k in same
             if old["settings"].get(k) != new["settings"].get(k)]
    if other:
        raise SystemExit(f"the reports used other settings: {'; '.join(other)}")
    rows = ["| task | before PSNR / SSIM | after PSNR / SSIM | change dB | best alternative PSNR | after beats it |",
            "|---|---:|---:|---:|---:|---|"]
    for task, methods in new["average"].items():
        if task not in old["average"]:
            continue
        a, b = old["average"][task]["ours"], methods["ours"]
        alt = max((v["psnr"] for m, v in methods.items() if m != "ours"), default=None)
        rows.append(f"| {task} | {a['psnr']:.2f} / {a['ssim']:.3f} | {b['psnr']:.2f} / {b['ssim']:.3f} | "
                    f"{b['psnr'] - a['psnr']:+.2f} | {'' if alt is None else f'{alt:.2f}'} | "
                    f"{'' if alt is None else 'yes' if b['psnr'] > alt else 'no'} |")
    return "\n".join(rows)


def bench_table(res: dict) -> str:
    stages = STAGES
    head = "| subcommand | seconds | frames in/s | frames out/s | " + " | ".join(stages) + " | model GFLOP/s | % of matmul |"
    rows = [head, "|---|" + "---:|" * (len(stages) + 5)]
    for name, r in res["tasks"].items():
        rows.append(f"| {name} | {r['seconds']:.1f} | {r['frames_in_per_s']:.2f} | {r['frames_out_per_s']:.2f} | "
                    + " | ".join(f"{r['stages'].get(s, 0.0):.1f}" for s in stages)
                    + f" | {r.get('model_gflops', 0):.1f} | {100 * r.get('model_peak_fraction', 0):.0f} |")
    rows.append(f"\n{res['clip']} on {res['device']} ({res['precision']}, {res['threads']} threads), {res['steps']} COMMIT steps; "
                f"measured matmul peak {res['matmul_gflops']:.0f} GFLOP/s"
                + (f" (a 3x3x3 convolution of 128 channels, counted as direct multiplies: {res['conv3d_gflops']:.0f})"
                   if "conv3d_gflops" in res else "") + f"; one window = {res['window_gflop']:.1f} GFLOP "
                f"(prediction's; each subcommand's own, search included: "
                + ", ".join(f"{name} {r['window_gflop']:.1f}" for name, r in res["tasks"].items() if "window_gflop" in r) + ").")
    if "interpolate_vs_ffmpeg_time_ratio" in res:
        rows.append(f"ffmpeg minterpolate x2 on the same clip: {res['ffmpeg_minterpolate_x2_seconds']:.1f} s; "
                    f"`interpolate` takes {res['interpolate_vs_ffmpeg_time_ratio']:.1f}x as long.")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["eval", "bench", "compare"])
    ap.add_argument("file")
    ap.add_argument("new", nargs="?", help="compare: the second eval report (the new weights')")
    ap.add_argument("--plain", default=None, help="eval report made with --no-residual, for the ablation rows")
    a = ap.parse_args()
    if (a.kind == "compare") != (a.new is not None):
        ap.error("compare takes two reports, eval and bench one")
    data = json.load(open(a.file))
    if a.kind == "compare":
        print(compare_table(data, json.load(open(a.new))))
    else:
        print(eval_table(data, json.load(open(a.plain)) if a.plain else None) if a.kind == "eval" else bench_table(data))


if __name__ == "__main__":
    main()
