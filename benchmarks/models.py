"""Model benchmarks on the current device, every figure also a ratio to the machine's measured
matmul peak from the same run.

    python benchmarks/models.py [--device cpu|cuda] [--weights weights/default] [--train]

Prints: matmul GFLOP/s; tokenizer encode and decode clips/s and GFLOP/s; one COMMIT step's
tokens/s and GFLOP/s; the extra memory of the LFQ entropy loss for 2^18 codes on 2 x 1280
tokens; with --train, training clips/s of the `small` tokenizer and transformer presets.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from magvit_cli.models import LFQ, MaskedTransformer, TokenizerConfig, TransformerConfig, VideoTokenizer, load_model  # noqa: E402
from magvit_cli.train.tokenizer import TOKENIZER_PRESETS  # noqa: E402
from magvit_cli.train.transformer import TRANSFORMER_PRESETS  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, device, min_time=2.0, warmup=1):
    for _ in range(warmup):
        fn()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        sync(device)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / n


def flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def matmul_peak(device, dtype) -> float:
    n = 2048 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    t = timeit(lambda: a @ b, device, min_time=2.0)
    return 2 * n ** 3 / t / 1e9


class PeakLive(TorchDispatchMode):
    """Peak bytes of tensors created inside the block that are alive at the same time."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(t, torch.Tensor) and not t._is_view():
                size = t.untyped_storage().nbytes()
                self.live += size
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._free, size)
        return out

    def _free(self, size):
        self.live -= size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--weights", default=None, help="weights folder (tokenizer/ + transformer/); default: small presets, random")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--train", action="store_true", help="also time training steps of the small presets")
    ap.add_argument("--e2e", default=None, metavar="CLIP",
                    help="also time `interpolate --factor 2` end to end on the first 10 s of CLIP resized to 640x360")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    amp = dict(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32)
    res = {"device": str(device), "threads": torch.get_num_threads(), "dtype": str(dtype)}
    res["matmul_gflops"] = peak = matmul_peak(device, dtype)

    if args.weights:
        tok = load_model(Path(args.weights) / "tokenizer", device=device)
        tr = load_model(Path(args.weights) / "transformer", device=device)
    else:
        tok = VideoTokenizer(TokenizerConfig(**TOKENIZER_PRESETS["small"])).to(device).eval()
        tr = MaskedTransformer(TransformerConfig(bits=12, latent_shape=(5, 8, 8), num_classes=6,
                                                 **TRANSFORMER_PRESETS["small"])).to(device).eval()
    t_lat, h_lat, _ = tr.config.latent_shape
    frames, size = (t_lat - 1) * tok.config.time_factor + 1, h_lat * tok.config.space_factor
    x = torch.rand(args.batch, 3, frames, size, size, device=device) * 2 - 1
    with torch.no_grad(), torch.autocast(**amp):
        idx = tok.encode(x)
        enc = lambda: tok.encode(x)
        dec = lambda: tok.decode(idx)
        for name, fn in [("encode", enc), ("decode", dec)]:
            t = timeit(fn, device)
            f = flops(fn)
            res[f"tokenizer_{name}_clips_per_s"] = args.batch / t
            res[f"tokenizer_{name}_gflops"] = f / t / 1e9
            res[f"tokenizer_{name}_peak_fraction"] = f / t / 1e9 / peak
        tokens = idx.flatten(1)
        task = torch.zeros(args.batch, dtype=torch.long, device=device)
        step = lambda: tr(tokens, task, task)
        t = timeit(step, device)
        f = flops(step)
        res["commit_step_tokens_per_s"] = tokens.numel() / t
        res["commit_step_gflops"] = f / t / 1e9
        res["commit_step_peak_fraction"] = f / t / 1e9 / peak
        res["window_seconds_12_steps_plus_codec"] = (12 * timeit(lambda: tr(tokens[:1], task[:1], task[:1]), device)
                                                     + timeit(lambda: tok.encode(x[:1]), device)
                                                     + timeit(lambda: tok.decode(idx[:1]), device))

    z = torch.randn(2, 18, 5, 16, 16, device=device, requires_grad=True)
    lfq = LFQ(18)
    with PeakLive() as probe:
        out = lfq(z)
        (out.entropy + out.commitment).backward()
    res["lfq_18bit_entropy_peak_mb"] = probe.peak / 2 ** 20
    res["lfq_naive_matrix_mb"] = 2 * 1280 * 2 ** 18 * 4 / 2 ** 20

    if args.train:
        for name, model, batch in [("tokenizer", VideoTokenizer(TokenizerConfig(**TOKENIZER_PRESETS["small"])), 8)]:
            model = model.to(device).train()
            opt = torch.optim.Adam(model.parameters())
            xb = torch.rand(batch, 3, 9, 32, 32, device=device) * 2 - 1

            def train_step():
                with torch.autocast(**amp):
                    o = model(xb)
                    loss = (o.reconstruction.float() - xb).abs().mean() + 0.1 * o.lfq.entropy
                opt.zero_grad()
                loss.backward()
                opt.step()
            t = timeit(train_step, device, min_time=4.0)
            f = flops(train_step)
            res[f"train_{name}_small_9x32x32_clips_per_s"] = batch / t
            res[f"train_{name}_small_peak_fraction"] = f / t / 1e9 / peak
        model = MaskedTransformer(TransformerConfig(bits=12, latent_shape=(5, 8, 8), num_classes=6,
                                                    **TRANSFORMER_PRESETS["small"])).to(device).train()
        opt = torch.optim.AdamW(model.parameters())
        zb = torch.randint(0, 4096, (16, 320), device=device)
        tb = torch.zeros(16, dtype=torch.long, device=device)

        def tr_step():
            from magvit_cli.commit import training_loss
            with torch.autocast(**amp):
                loss = training_loss(model(zb, tb, tb), zb, model)
            opt.zero_grad()
            loss.backward()
            opt.step()
        t = timeit(tr_step, device, min_time=4.0)
        res["train_transformer_small_clips_per_s"] = 16 / t
        res["train_transformer_small_peak_fraction"] = flops(tr_step) / t / 1e9 / peak

    if args.e2e:
        import tempfile
        from magvit_cli import runners
        from magvit_cli.pipeline import Magvit, Sampling, resize, to_frame, to_tensor
        from magvit_cli.video import VideoWriter, iter_frames, probe
        info = probe(args.e2e)
        tmp = Path(tempfile.mkdtemp())
        n = int(10 * info.fps)
        with VideoWriter(tmp / "in.mp4", info.fps, 640, 360) as w:
            for f in iter_frames(args.e2e, 0, n):
                w.write(to_frame(resize(to_tensor(f), (360, 640))))
        m = Magvit(args.weights, str(device), "auto")
        t0 = time.perf_counter()
        out = runners.interpolate(m, tmp / "in.mp4", tmp / "out.mp4", 2, Sampling())
        res["e2e_interpolate_x2_640x360_seconds"] = time.perf_counter() - t0
        res["e2e_input_seconds"] = float(n / info.fps)
        res["e2e_output_frames"] = out.frames

    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:48s} {v:.4g}" if isinstance(v, float) else f"{k:48s} {v}")


if __name__ == "__main__":
    main()
