"""Accelerator checks, for a session lent a GPU (`benchmarks/gpu_session.sh` runs them first):
the shipped weights under bf16 autocast agree with fp32 on the CPU, the same seed gives the same
output, training steps run, the bench runs, the tokenizer's peak memory is within the estimate
windows are sized by, and a window run a chunk at a time matches it whole. Skipped without CUDA (never counted as passing on
the CPU); MAGVIT_TEST_DEVICE=cpu runs the same checks on the CPU, to test the checks."""
import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import metrics_rows
from magvit_cli.cli import app
from magvit_cli.video import read_frames

DEVICE = os.environ.get("MAGVIT_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
pytestmark = pytest.mark.skipif(DEVICE is None, reason="no CUDA device (MAGVIT_TEST_DEVICE=cpu runs these on the CPU)")
runner = CliRunner()


def run_json(*args) -> dict:
    r = runner.invoke(app, [*map(str, args), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_reconstruct_under_autocast_matches_fp32_on_the_cpu(short, tmp_path):
    """The tokenizer at the device's default precision (bf16 on a GPU) loses under 0.3 dB to fp32
    on the CPU; fp16 runs too."""
    cpu = run_json("reconstruct", short, "--device", "cpu", "-o", tmp_path / "cpu.mp4")
    dev = run_json("reconstruct", short, "--device", DEVICE, "-o", tmp_path / "dev.mp4")
    assert abs(dev["psnr"] - cpu["psnr"]) < 0.3, f"{DEVICE} {dev['psnr']:.2f} dB vs cpu fp32 {cpu['psnr']:.2f} dB"
    half = run_json("reconstruct", short, "--device", DEVICE, "--precision", "fp16", "-o", tmp_path / "half.mp4")
    assert abs(half["psnr"] - cpu["psnr"]) < 0.3, f"{DEVICE} fp16 {half['psnr']:.2f} dB vs cpu fp32 {cpu['psnr']:.2f} dB"


def test_interpolate_same_seed_same_output_and_known_frames_kept(short, tmp_path):
    outs = []
    second = "cuda:0" if DEVICE == "cuda" else DEVICE  # the same GPU named by its index
    for name, device in (("a.mp4", DEVICE), ("b.mp4", second)):
        res = run_json("interpolate", short, "--factor", "2", "--lossless", "--seed", "3", "--device", device, "-o", tmp_path / name)
        assert res["frames"] == 18, f"9 frames x2: {res['frames']} frames"
        outs.append(read_frames(tmp_path / name))
    assert np.array_equal(outs[0], outs[1]), f"same seed, same device ({DEVICE}, {second}): the same output"
    src = read_frames(short)
    assert all(np.array_equal(outs[0][2 * i], src[i]) for i in range(9)), "input frames must come back unchanged"


def test_training_steps_run(tmp_path):
    common = ["--preset", "tiny", "--frames", "5", "--size", "16", "--batch", "4", "--warmup", "1", "--device", DEVICE, "-q"]
    r = runner.invoke(app, ["train", "tokenizer", "--out", str(tmp_path / "tok"), "--steps", "3", "--workers", "0", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "transformer", "--out", str(tmp_path / "tr"), "--tokenizer", str(tmp_path / "tok/export"),
                            "--cache-clips", "8", "--cache-variants", "2", "--steps", "3", "--eval-every", "1000", *common])
    assert r.exit_code == 0, r.output
    for run in ("tok", "tr"):
        losses = [r.get("loss") for r in metrics_rows(tmp_path / run / "metrics.jsonl")]
        assert losses and all(np.isfinite(x) for x in losses if x is not None), f"{run}: losses {losses}"


def test_bench_smoke_runs_on_the_device():
    res = run_json("bench", "--smoke", "--tasks", "interpolate,outpaint", "--device", DEVICE, "-q")
    assert res["device"].startswith(DEVICE) and set(res["tasks"]) == {"interpolate", "outpaint"}
    assert all(r["seconds"] > 0 for r in res["tasks"].values())


def test_window_memory_estimate_covers_the_device_peak(tmp_path):
    """reconstruct and tokenize size their windows by runners.window_bytes, measured on the CPU:
    on the device, at its default precision, the tokenizer's peak must not exceed it (a window
    sized by it would run out of memory). The report (benchmarks/tokenizer_memory.py) holds the
    figures that recalibrate it."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    report = tmp_path / "memory.json"
    r = subprocess.run([sys.executable, str(root / "benchmarks" / "tokenizer_memory.py"), "--device", DEVICE,
                        "--size", "480x272", "--frames", "17", "--report", str(report)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    got = json.loads(report.read_text())
    assert got["estimate_over_measured"] >= 1.0, \
        f"{DEVICE}: the estimate {got['estimate_gb']} GB is under the measured peak ({got['estimated_path']}): {got['rows']}"


def test_a_window_run_a_chunk_at_a_time_on_the_device():
    """Where a window does not fit, reconstruct runs it a chunk of latent frames at a time: on the
    device at its default precision (bf16 autocast on a GPU) the shipped tokenizer gives nearly the
    same tokens and frames that way as whole (rounding differs with the shapes)."""
    from magvit_cli.pipeline import Magvit
    m = Magvit(device=DEVICE, need_transformer=False)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 17, 64, 96, generator=g) * 2 - 1).to(m.device)
    whole, chunked = m.encode(x), m.encode(x, chunk=2)
    same = (whole == chunked).float().mean().item()
    assert same > 0.99, f"{DEVICE}: {same:.4f} of the tokens the same whole and two latent frames at a time"
    err = (m.decode(whole) - m.decode(whole, chunk=1)).abs().max().item()
    assert err < 0.1, f"{DEVICE}: frames decoded a latent frame at a time differ by {err:.3f} (of 2)"
