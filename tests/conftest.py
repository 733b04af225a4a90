"""Seeded tiny configurations shared by the tests."""
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from magvit_cli.models import MaskedTransformer, TokenizerConfig, TransformerConfig, VideoTokenizer

torch.set_num_threads(1)  # tiny models: threads only contend (and CI's 2 cores may be shared)

TINY_TOKENIZER = dict(channels=8, channel_mult=(1, 2, 2), num_res_blocks=1,
                      temporal_down=(True, True), bits=6, norm_groups=4)


def tiny_tokenizer(seed=0, **kw):
    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig(**{**TINY_TOKENIZER, **kw})).eval()


def tiny_transformer(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(bits=6, latent_shape=(5, 4, 4), num_classes=3, dim=32, layers=1, heads=2, dropout=0.0,
               class_names=("a", "b", "c"))
    return MaskedTransformer(TransformerConfig(**{**cfg, **kw})).eval()


def metrics_rows(path) -> list[dict]:
    """The rows of a training run's metrics.jsonl."""
    import json
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "carphone.mp4"


@pytest.fixture(scope="session")
def short(tmp_path_factory):
    """The first 9 frames of the example clip, losslessly re-encoded."""
    from magvit_cli.video import VideoWriter, probe, read_frames
    path = tmp_path_factory.mktemp("shipped") / "short.mp4"
    frames = read_frames(EXAMPLE, 0, 9)
    with VideoWriter(path, probe(EXAMPLE).fps, frames.shape[2], frames.shape[1], lossless=True) as w:
        for f in frames:
            w.write(f)
    return path


@pytest.fixture
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture
def transformer():
    return tiny_transformer()


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (H, W, 3) uint8: blurred noise, which optical flow can follow."""
    import cv2
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.float32)
    return np.clip((cv2.GaussianBlur(noise, (0, 0), 4.0) - 128) * 8 + 128, 0, 255).astype(np.uint8)


def panning(frames: int, height: int, width: int, step: int) -> np.ndarray:
    """(frames, H, W, 3): a window sliding `step` pixels right per frame over one texture."""
    tex = texture(height, width + step * frames)
    return np.stack([tex[:, step * t:step * t + width] for t in range(frames)])


def make_video(path, frames=9, width=48, height=32, fps=Fraction(30000, 1001), audio=False, seed=0):
    """A small real mp4 (H.264, optional AAC sine audio) with moving colour blocks."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        as_ = None
        if audio:
            as_ = out.add_stream("aac", rate=44100)
            as_.layout = "mono"
        for t in range(frames):
            img = np.roll(base, 2 * t, axis=1)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if as_ is not None:
            n = int(44100 * frames / float(fps))
            samples = (0.2 * np.sin(np.arange(n) * 2 * np.pi * 440 / 44100)).astype(np.float32)
            for i in range(0, n, 1024):
                chunk = samples[i:i + 1024]
                fr = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
                fr.sample_rate = 44100
                for p in as_.encode(fr):
                    out.mux(p)
            for p in as_.encode():
                out.mux(p)
    return path
