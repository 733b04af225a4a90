"""`magvit bench`: speed of each subcommand on this device, with the time split by stage, peak
memory, and the model's achieved GFLOP/s next to the machine's matmul GFLOP/s measured in the
same run. `--vs-ffmpeg` times ffmpeg's motion-compensated minterpolate x2 on the same clip."""
from __future__ import annotations

import functools
import resource
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import runners
from .evaluate import tasks_named
from .pipeline import Magvit, Sampling, to_frame
from .tasks import get_task
from .video import VideoWriter, run_ffmpeg

TASKS = ("interpolate", "predict", "outpaint", "inpaint", "outpaint-dynamic", "inpaint-dynamic", "reconstruct")
STAGES = ("decode video", "motion", "tokenize", "COMMIT steps", "detokenize", "composite", "encode video")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """Measured dense matmul throughput: the machine's practical peak for this dtype."""
    n = 1024 if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
        _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def conv3d_gflops(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """Measured throughput of a 3x3x3 convolution like the tokenizer's widest (128 channels in and
    out, 17 x 32 x 32), its work counted as direct multiplies (as the model's FLOPs are): on this
    CPU oneDNN's ran at 2.3x the matmul rate, so a model's share of the matmul rate can pass 1.
    A second reference, not a ceiling."""
    conv = torch.nn.Conv3d(128, 128, 3, padding=1, bias=False).to(device, dtype)
    x = torch.randn(1, 128, 17, 32, 32, device=device, dtype=dtype)
    with torch.no_grad():
        conv(x)
        _sync(device)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            conv(x)
            reps += 1
            _sync(device)
    return 2 * 128 * 128 * 27 * 17 * 32 * 32 * reps / (time.perf_counter() - t0) / 1e9


# the task whose window each subcommand runs (its geometry and default settings decide the
# window's FLOPs: central outpainting's condition search costs more than its COMMIT steps)
TASK_CODES = {"interpolate": "FI", "predict": "FP", "outpaint": "OPC", "inpaint": "IPC",
              "outpaint-dynamic": "OPD", "inpaint-dynamic": "IPD"}


def window_flops(m: Magvit, steps: int, code: str = "FP") -> float:
    """FLOPs of one full window of task `code` with the default settings: tokenize (with the
    condition search where the task runs one, forward and backward), `steps` COMMIT steps, the
    detokenizations."""
    T = m.window_frames
    S = m.work_size
    task = get_task(code)
    low = torch.rand(3, T, *S) * 2 - 1
    with FlopCounterMode(display=False) as fc:
        m.fill(low, task.known(T, *S), task, None, Sampling(steps=steps), m.generator(0))
    return float(fc.get_total_flops())


def reconstruct_flops(m: Magvit, width: int, height: int, frames: int) -> float:
    """FLOPs of `reconstruct` of `frames` frames at width x height: the tokenizer's encode and
    decode of one window of runners.TOKENIZER_WINDOW frames at 8x8 tokens, scaled by the padded
    frame's area and by the frames (a convolutional network: its cost is linear in both; a clip
    shorter than the window is one shorter window, not a whole one counted). No transformer needed."""
    T, side = runners.TOKENIZER_WINDOW, 8 * m.sf
    x = torch.rand(1, 3, T, side, side, device=m.device) * 2 - 1
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m.tokenizer.decode(m.tokenizer.encode(x))
    area = (-(-height // m.sf) * m.sf) * (-(-width // m.sf) * m.sf)
    return float(fc.get_total_flops()) * area / side ** 2 * frames / T


def test_clip(path: Path, width: int, height: int, frames: int, fps: int = 25) -> Path:
    """A synthetic clip: a textured picture panning under moving discs."""
    from .train.data import camera_clip, shapes_clip, texture
    import random
    rng = random.Random(0)
    size = max(width, height)
    pic = texture(size, rng)
    clip = shapes_clip(camera_clip(pic, 1, size, "still", rng)[:, 0], frames, size, "bounce", rng)
    with VideoWriter(path, fps, width, height, crf=12) as w:
        for t in range(frames):
            w.write(to_frame(clip[:, t, :height, :width]))
    return path


def ffmpeg_minterpolate_seconds(src: Path, fps: float) -> float:
    t0 = time.perf_counter()
    run_ffmpeg(["-y", "-i", str(src), "-vf", f"minterpolate=fps={2 * fps}:mi_mode=mci", "-f", "null", "-"],
               "--vs-ffmpeg", check=True)
    return time.perf_counter() - t0


def bench(m: Magvit, tasks=TASKS, width: int = 640, height: int = 360, frames: int = 33, steps: int = 12,
          vs_ffmpeg: bool = False, progress=lambda done, total: None) -> dict:
    tasks = tasks_named(",".join(tasks), TASKS)  # the command checked them before loading the model
    peak = matmul_gflops(m.device, m.dtype)
    conv = conv3d_gflops(m.device, m.dtype)
    flops_of = functools.cache(lambda code: window_flops(m, steps, code))  # task code -> one window's FLOPs, counted once
    per_window = flops_of("FP") if m.transformer is not None else None  # the plain window (prediction: no search)
    s = Sampling(steps=steps)
    res = {"device": str(m.device), "precision": str(m.dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
           "clip": f"{frames} frames {width}x{height}", "steps": steps, "matmul_gflops": peak, "conv3d_gflops": conv,
           "window_gflop": per_window / 1e9 if per_window is not None else None, "tasks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = test_clip(tmp / "in.mp4", width, height, frames)
        for i, task in enumerate(tasks):
            m.clock.reset()
            if m.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(m.device)
            out = tmp / f"{task}.mp4"
            t0 = time.perf_counter()
            if task == "interpolate":
                o = runners.interpolate(m, src, out, 2, s)
            elif task == "predict":
                o = runners.predict(m, src, out, 16, s)
            elif task.startswith("outpaint"):  # the central canvas, or the dynamic one filled along the motion
                o = runners.outpaint(m, src, out, "dynamic" if task.endswith("dynamic") else "central", s)
            elif task.startswith("inpaint"):
                o = runners.inpaint(m, src, out, "dynamic" if task.endswith("dynamic") else "central", s)
            else:
                o = runners.reconstruct(m, src, out)
            total = time.perf_counter() - t0
            plain_tokenizer = task == "reconstruct"  # no COMMIT: its windows are its decodes
            windows = m.clock.calls.get("detokenize" if plain_tokenizer else "COMMIT steps", 0)
            model_time = sum(m.clock.seconds.get(k, 0.0) for k in ("tokenize", "COMMIT steps", "detokenize"))
            row = {"seconds": total, "frames_in_per_s": frames / total, "frames_out_per_s": o.frames / total,
                   "frames_out": o.frames, "windows": windows,
                   "stages": {k: m.clock.seconds.get(k, 0.0) for k in STAGES},
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            if windows:
                # reconstruct's work counted by its frames (a 9-frame clip counted as whole windows read 123% of
                # the matmul peak); a task's windows are whole
                done = reconstruct_flops(m, width, height, o.frames) if plain_tokenizer else windows * flops_of(TASK_CODES[task])
                gflops = done / 1e9 / max(model_time, 1e-9)
                row.update(window_gflop=done / windows / 1e9, model_gflops=gflops, model_peak_fraction=gflops / peak)
            if m.device.type == "cuda":
                row["gpu_peak_mb"] = torch.cuda.max_memory_allocated(m.device) / 2 ** 20
            res["tasks"][task] = row
            progress(i + 1, len(tasks))
        if vs_ffmpeg:
            sec = ffmpeg_minterpolate_seconds(src, 25)
            res["ffmpeg_minterpolate_x2_seconds"] = sec
            if "interpolate" in res["tasks"]:
                res["interpolate_vs_ffmpeg_time_ratio"] = res["tasks"]["interpolate"]["seconds"] / sec
    return res
