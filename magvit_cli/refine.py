"""Analysis-by-synthesis encoding (beyond the paper): search for the tokens that decode closest
to the input, with the decoder itself as the judge.

The encoder maps a video to the sign of its latent z; nothing makes that the token grid the
decoder turns back into the nearest video. `refine_indices` starts from the encoder's latent and
runs `steps` gradient steps on the decoder's squared error with the codes relaxed to
tanh(a * u), the sharpness a rising linearly from `SHARPNESS[0]` to `SHARPNESS[1]` so that the
codes settle on +-1; the result is sign(u). Same token grid, same bits per pixel: this is the
encoder spending effort, as a video codec's slower presets do. If the searched tokens decode
worse than the encoder's (never seen), the encoder's are kept.

Cost: each step is one decoder pass forward and back (about 3x a decode). Frames larger than
CHECKPOINT_PIXELS are checkpointed: the backward pass holds only block inputs and recomputes
the rest. Memory: that still holds about 5.7 GB for a 17-frame 480x360 window, so frames
larger than `tile` x `tile` latent positions are refined tile by tile, each
tile decoded with a `halo` of neighbouring tokens and its loss taken on its own pixels only.
That is an approximation: the per-frame norms see the tile, not the frame, and a two-tile
search gained about 1 dB less than the whole-frame one (weights/README.md; fixing the tiles'
norms to the whole frame's statistics made the decodes agree but did not recover it: the
gradient through the statistics matters). The final comparison with the encoder's tokens
decodes whole frames. Deterministic: no randomness.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch

from .models.lfq import codes_to_indices

SHARPNESS = (2.0, 20.0)  # a of tanh(a * u) at the first and the last step: soft codes first, then +-1 (1 -> 10 before: 0.4-1.1 dB less in 10 steps at full size)
LR = 0.1  # Adam step on u (u starts at z / mean|z| * 0.5: the encoder's confidence carries over)
TILE = 80  # latent positions per tile side (640 px at 8x): a 640x360 window is refined whole, larger ones in tiles
HALO = 4  # latent positions of context decoded around each tile (tile 12 on the example clip: halo 6 gained 0.2 dB over 2)
# decodes of more pixels a frame than this are checkpointed in the backward pass; smaller ones (the
# tasks' 64x64 working size, the example clip's 176x144) keep every activation: 10% faster a step
# on the CPU, 30-40% more memory (1.8 GB peak for a 17-frame 176x144 window)
CHECKPOINT_PIXELS = 256 * 256


@contextmanager
def _frozen(module: torch.nn.Module):
    """No parameter gradients while the codes are searched (and the flags restored after)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


def _tiles(h: int, w: int, tile: int):
    """Interior boxes (y0, y1, x0, x1) covering an h x w latent grid in near-equal tiles of at
    most `tile` a side."""
    th, tw = -(-h // -(-h // tile)), -(-w // -(-w // tile))  # ceil(h / ceil(h / tile))
    for y0 in range(0, h, th):
        for x0 in range(0, w, tw):
            yield y0, min(h, y0 + th), x0, min(w, x0 + tw)


def _sq_error(tokenizer, codes: Callable[[slice, slice], torch.Tensor], grid: tuple[int, int], video, sf: int,
              tile: int, halo: int, backward: bool) -> float:
    """Sum of squared decoding error against `video` (B, 3, T, H, W) of the codes of an h x w
    latent `grid`, `codes(rows, cols)` -> (B, d, t, rows, cols) made per tile (its own graph);
    with backward, the gradient of the mean squared error accumulates tile by tile."""
    h, w = grid
    err = 0.0
    for y0, y1, x0, x1 in _tiles(h, w, tile):
        a0, a1, b0, b1 = max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)
        big = (a1 - a0) * (b1 - b0) * sf * sf > CHECKPOINT_PIXELS
        rec = tokenizer.decode_codes(codes(slice(a0, a1), slice(b0, b1)), checkpoint=backward and big).float()  # (B, 3, T, rows*sf, cols*sf)
        rec = rec[..., (y0 - a0) * sf:(y1 - a0) * sf, (x0 - b0) * sf:(x1 - b0) * sf]
        se = (rec - video[..., y0 * sf:y1 * sf, x0 * sf:x1 * sf]).pow(2).sum()
        if backward:
            (se / video.numel()).backward()
        err += se.item()
    return err


def refine_indices(tokenizer, video: torch.Tensor, steps: int, lr: float = LR, tile: int = TILE, halo: int = HALO,
                   on_step: Callable[[int, int], None] | None = None,
                   sharpness: tuple[float, float] = SHARPNESS) -> torch.Tensor:
    """(B, 3, T, H, W) video in [-1, 1] -> (B, t, h, w) token indices, searched for `steps` steps
    (0: the encoder's own). Runs under the caller's autocast; the error is measured in fp32."""
    if steps < 0 or tile < 1 or halo < 0 or min(sharpness) <= 0:
        raise ValueError(f"refine needs steps >= 0, tile >= 1, halo >= 0, sharpness > 0; got {steps}, {tile}, {halo}, {sharpness}")
    if steps == 0:
        return tokenizer.encode(video)
    with torch.no_grad():
        z = tokenizer.encoder(video).float()  # (B, d, t, h, w)
    start = torch.where(z > 0, 1.0, -1.0)
    sf, grid = tokenizer.config.space_factor, tuple(z.shape[-2:])
    video = video.float()
    u = (z / z.abs().mean().clamp_min(1e-6) * 0.5).requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr)
    s0, s1 = sharpness
    with _frozen(tokenizer), torch.enable_grad():
        for i in range(steps):
            a = s0 + (s1 - s0) * i / max(1, steps - 1)
            opt.zero_grad(set_to_none=True)
            _sq_error(tokenizer, lambda r, c: torch.tanh(a * u[..., r, c]), grid, video, sf, tile, halo, backward=True)
            opt.step()
            if on_step is not None:
                on_step(i + 1, steps)
    found = torch.where(u.detach() > 0, 1.0, -1.0)
    with torch.no_grad():  # the final comparison decodes whole frames
        err = [_sq_error(tokenizer, lambda r, col: c[..., r, col], grid, video, sf, max(grid), 0, False)
               for c in (found, start)]
    return codes_to_indices(found if err[0] <= err[1] else start)
