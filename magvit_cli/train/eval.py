"""Held-out measurements used while training: tokenizer reconstruction PSNR and bits per pixel
on windows of a video that was not trained on."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..video import iter_frames
from .data import resize_short, to_tensor


def load_heldout(path, size: int, frames: int = 17, windows: int = 3) -> torch.Tensor:
    """--heldout's windows (`load_windows`), read once before training starts: a path that does
    not open or holds too few frames is a one-line error then, not at the first measurement (which
    ended the run there, before its checkpoint)."""
    from ..errors import MagvitError, UsageError
    try:
        return load_windows(path, frames, size, windows)
    except (MagvitError, ValueError) as e:
        text = str(e)
        raise UsageError(f"--heldout {text}" if text.startswith(str(path)) else f"--heldout {path}: {text}") from None


def load_windows(path, frames: int, size: int, windows: int) -> torch.Tensor:
    """(W, 3, frames, size, size): consecutive windows, short side resized to `size`, centre crop."""
    need = frames * windows
    out = []
    for f in iter_frames(path, 0, need):
        x = resize_short(to_tensor(f[None]), size)[:, 0]
        h, w = x.shape[-2:]
        y0, x0 = (h - size) // 2, (w - size) // 2
        out.append(x[:, y0:y0 + size, x0:x0 + size])
    n = len(out) // frames
    if n == 0:
        raise ValueError(f"{path}: {len(out)} frame{'s' * (len(out) != 1)}, fewer than the {frames} of one held-out window "
                         f"(give a video of {frames} frames or more)")
    return torch.stack(out[: n * frames], 1).reshape(3, n, frames, size, size).transpose(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two videos in [-1, 1] (as 8-bit pixels would be compared)."""
    mse = F.mse_loss(a.clamp(-1, 1), b.clamp(-1, 1)).item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


@torch.no_grad()
def heldout_psnr(tokenizer, clips: torch.Tensor) -> dict:
    """PSNR and bits per pixel of `clips` (W, 3, T, S, S; `load_heldout`) through the tokenizer."""
    clips = clips.to(next(tokenizer.parameters()).device)
    frames, size = clips.shape[2], clips.shape[-1]
    rec = tokenizer.decode(tokenizer.encode(clips))
    t, h, w = tokenizer.config.latent_shape(frames, size, size)
    bpp = t * h * w * tokenizer.config.bits / (frames * size * size)
    return {"heldout_psnr": psnr(rec, clips), "heldout_bpp": bpp}
