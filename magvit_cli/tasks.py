"""The ten MAGVIT tasks (SPEC section 1): one registry that builds, for a clip of any T, H, W,
the pixel mask of known pixels, the condition video (unknown part padded by the task's rule)
and the latent mask (the condition region in token space). A transformer trained with the
"padded" condition region (`condition_region`) sees the whole padded video instead, padded
with the task's simple alternative (`Task.padding_for`).

Masks are boolean tensors of shape (T, H, W), True = known pixel. A user mask (any boolean
pixel mask) goes through the same `condition_video` and `latent_mask` functions.

Padding values live in the video range [-1, 1] of tokenizer.py, so "zeros" is mid-grey.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def window_left_edges(frames: int, width: int) -> list[int]:
    """Left edge of the W/2-wide sliding window at each frame: round(linspace(0, W/2, T))."""
    return [int(round(v)) for v in torch.linspace(0, width // 2, frames).tolist()]


def _box(T, H, W, rows, cols):
    m = torch.zeros(T, H, W, dtype=torch.bool)
    m[:, rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


def _center(H, W):
    return (H // 4, H // 4 + H // 2), (W // 4, W // 4 + W // 2)


def _sliding(T, H, W, full_height):
    m = torch.zeros(T, H, W, dtype=torch.bool)
    r0, r1 = (0, H) if full_height else _center(H, W)[0]
    for t, x in enumerate(window_left_edges(T, W)):
        m[t, r0:r1, x:x + W // 2] = True
    return m


def known_frames(T, H, W, every: int | None = None, first: int = 0) -> torch.Tensor:
    """Frames 0, every, 2*every, ... < T known (FI); or the first `first` frames (FP)."""
    m = torch.zeros(T, H, W, dtype=torch.bool)
    if first:
        m[:first] = True
    if every:
        m[::every] = True
    return m


@dataclass(frozen=True)
class Task:
    code: str  # paper's abbreviation, e.g. "FP"
    id: int  # the transformer's task token
    description: str
    padding: str  # repeat | blend | edge | zeros (SPEC)
    needs_class: bool
    known: Callable[..., torch.Tensor]  # (T, H, W, **options) -> (T, H, W) bool
    # padding for the "padded" condition region, where the model refines the padded video: the
    # simple alternative a user has (edge replication, diffusion fill) instead of grey
    refine_padding: str | None = None

    def padding_for(self, region: str) -> str:
        return self.refine_padding if region == "padded" and self.refine_padding else self.padding


def _fp(T, H, W, known=1):
    return known_frames(T, H, W, first=known)


def _fi(T, H, W, every=None):
    return known_frames(T, H, W, every=every or max(T - 1, 1))


TASKS: dict[str, Task] = {t.code: t for t in [
    Task("FP", 0, "frame prediction: first frames known, the rest generated", "repeat", False, _fp),
    Task("FI", 1, "frame interpolation: first and last (or every k-th) frame known", "blend", False, _fi),
    Task("OPC", 2, "outpaint central: central H/2 x W/2 box known", "edge", False,
         lambda T, H, W: _box(T, H, W, *_center(H, W))),
    Task("OPV", 3, "outpaint vertical: central vertical strip known, left and right generated", "edge", False,
         lambda T, H, W: _box(T, H, W, (0, H), _center(H, W)[1])),
    Task("OPH", 4, "outpaint horizontal: central horizontal strip known, top and bottom generated", "edge", False,
         lambda T, H, W: _box(T, H, W, _center(H, W)[0], (0, W))),
    Task("OPD", 5, "outpaint dynamic: a W/2 vertical strip sliding left to right is known", "zeros", False,
         lambda T, H, W: _sliding(T, H, W, full_height=True), "fill"),
    Task("IPC", 6, "inpaint central: all but the central H/2 x W/2 box known", "zeros", False,
         lambda T, H, W: ~_box(T, H, W, *_center(H, W)), "fill"),
    Task("IPD", 7, "inpaint dynamic: all but a H/2 x W/2 box sliding left to right known", "zeros", False,
         lambda T, H, W: ~_sliding(T, H, W, full_height=False), "fill"),
    Task("CG", 8, "class-conditional generation: nothing known but the class", "zeros", True,
         lambda T, H, W: torch.zeros(T, H, W, dtype=torch.bool)),
    Task("CFP", 9, "class-conditional frame prediction: class and first frame known", "repeat", True, _fp),
]}


def get_task(code: str) -> Task:
    try:
        return TASKS[code.upper()]
    except KeyError:
        raise ValueError(f"unknown task {code!r}; one of {', '.join(TASKS)}") from None


def _fill_frames(video, frame_known, mode):
    """Whole-frame padding along time. video (B, C, T, H, W), frame_known (T,) bool."""
    idx = torch.nonzero(frame_known).flatten().tolist()
    out = video.clone()
    if not idx:
        return out.zero_()
    for t in range(video.shape[2]):
        if frame_known[t]:
            continue
        prev = max((i for i in idx if i < t), default=None)
        nxt = min((i for i in idx if i > t), default=None)
        if mode == "blend" and prev is not None and nxt is not None:
            a = (t - prev) / (nxt - prev)
            out[:, :, t] = (1 - a) * video[:, :, prev] + a * video[:, :, nxt]
        else:  # repeat the last known frame (the first known one before any)
            out[:, :, t] = video[:, :, prev if prev is not None else nxt]
    return out


def _edge_replicate(video, known):
    """Each frame: unknown pixels copy the nearest pixel of the known region's bounding box."""
    out = video.clone()
    T, H, W = known.shape
    for t in range(T):
        rows = torch.nonzero(known[t].any(1)).flatten()
        cols = torch.nonzero(known[t].any(0)).flatten()
        if len(rows) == 0:
            out[:, :, t] = 0
            continue
        ri = torch.arange(H).clamp(int(rows[0]), int(rows[-1]))
        ci = torch.arange(W).clamp(int(cols[0]), int(cols[-1]))
        filled = video[:, :, t][:, :, ri][:, :, :, ci]
        out[:, :, t] = torch.where(known[t].to(video.device), video[:, :, t], filled)
    return out


def neighbour_mean(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> the mean of each pixel's 4 neighbours, edges replicated: one Jacobi sweep
    of Laplace's equation. Slices, not a depthwise conv2d: 5x faster on the CPU (float64 too)."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return ((p[..., :-2, 1:-1] + p[..., 2:, 1:-1]) + (p[..., 1:-1, :-2] + p[..., 1:-1, 2:])) * 0.25


def harmonic_fill(x: torch.Tensor, known: torch.Tensor, iters: int = 40, fine_iters: int = 10,
                  decay: float | None = None, mean: torch.Tensor | None = None,
                  sweep_side: int | None = None) -> torch.Tensor:
    """x (N, C, H, W), known (N, 1, H, W) bool (or (1, 1, H, W): one mask for all N, pooled once)
    -> unknown pixels solve Laplace's equation with
    the known ones as boundary (a smooth fill from the border inwards). With `decay`, the
    screened equation instead: away from the border the fill relaxes to the mean colour of the
    known pixels over decay * min(H, W) pixels (resolution independent). Coarse to fine: each
    level starts from the upsampled solution of the half-size one and takes a few Jacobi sweeps
    (`iters` up to 64 px, `fine_iters` on larger levels), so the cost is a few sweeps at full
    size. Exact for smooth surroundings; where the border differs sharply from the pixels
    beyond it the coarse levels blend the two and the fill leans toward the latter (an
    approximation, not a solver). An image with nothing known gets the mean of nothing: zeros.
    `sweep_side`: levels longer than this take no sweeps, the upsampled coarser solution stands
    (for fields smooth at that scale, such as optical flow: the fine sweeps are most of the cost)."""
    N, C, H, W = x.shape
    kf = known.to(x.dtype)
    xk = x * kf  # made once: the mean's and the pooling's
    if mean is None:
        mean = xk.sum((2, 3), keepdim=True) / kf.sum((2, 3), keepdim=True).clamp_min(1)
    if min(H, W) > 8:
        w = F.avg_pool2d(kf, 2, ceil_mode=True)
        coarse = harmonic_fill(F.avg_pool2d(xk, 2, ceil_mode=True) / w.clamp_min(1e-6), w > 0, iters, fine_iters,
                               decay, mean, sweep_side)
        start = F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)
    else:
        start = mean.expand_as(x)
    k = known.expand_as(x)
    out = torch.where(k, x, start)
    s2 = 0.0 if decay is None else (1.0 / (decay * min(H, W))) ** 2  # screening per pixel^2 at this level
    sweeps = iters if max(H, W) <= 64 else fine_iters if sweep_side is None or max(H, W) <= sweep_side else 0
    box = _unknown_box(known) if sweeps else None
    if box is None:
        return out
    # A sweep changes only unknown pixels, each from its 4 neighbours: swept on the unknown pixels'
    # bounding box grown by one (its edge is known, kept), the result is the same, bit for bit
    # (a logo's box at 720p: its pixels swept, not the frame's).
    part, k, x = out[box], k[box], x[box]
    for _ in range(sweeps):  # unscreened (s2 = 0): the neighbours' mean itself, three operations fewer a sweep
        part = torch.where(k, x, neighbour_mean(part) if s2 == 0 else (4 * neighbour_mean(part) + s2 * mean) / (4 + s2))
    out[box] = part
    return out


def _unknown_box(known: torch.Tensor) -> tuple[slice, ...] | None:
    """Index of the bounding box (rows, cols) of the pixels unknown in any image of known
    (N, 1, H, W), grown by one pixel within the image; None where every pixel is known."""
    unknown = ~known.all(0).all(0)  # (H, W)
    rows, cols = torch.nonzero(unknown.any(1)).flatten(), torch.nonzero(unknown.any(0)).flatten()
    if rows.numel() == 0:
        return None
    H, W = unknown.shape
    return (..., slice(max(0, int(rows[0]) - 1), min(H, int(rows[-1]) + 2)),
            slice(max(0, int(cols[0]) - 1), min(W, int(cols[-1]) + 2)))


# Inpainting's spatial fill relaxes to the mean colour over this fraction of the frame's
# shorter side: the diffusion length of the evaluation's diffusion-fill alternative (300
# Jacobi sweeps from the mean, sqrt(300) = 17 px on the 144-px held-out clip), made
# resolution independent. A fully converged harmonic fill measured 2.4 dB worse (weights/README.md).
FILL_DECAY: float | None = 0.12


def fill_frame(frame: torch.Tensor, known: torch.Tensor, others) -> torch.Tensor:
    """Inpainting's simple alternative for one frame: frame (B, C, H, W), known (H, W) bool,
    others: (known, get) of the other frames, nearest in time first, where get() returns that
    frame (B, C, H, W): called only when the frame shows a missing pixel, so callers can lay
    frames out lazily. Each unknown pixel comes from the nearest frame that shows it; what no
    frame shows is filled harmonically."""
    out, missing = frame.clone(), ~known
    for k, get in others:
        if not missing.any():
            break
        take = missing & k
        if take.any():
            out = torch.where(take, get(), out)
            missing = missing & ~take
    if missing.any():
        out = harmonic_fill(out, ~missing[None, None].expand(out.shape[0], 1, *missing.shape), decay=FILL_DECAY)
    return out


def nearest_first(t: int, n: int) -> list[int]:
    """The other frame indices of a window of n, nearest to t first (earlier first on ties)."""
    return sorted((s for s in range(n) if s != t), key=lambda s: (abs(s - t), s))


def _fill(video, known):
    return torch.stack([fill_frame(video[:, :, t], known[t], ((known[s], lambda s=s: video[:, :, s]) for s in nearest_first(t, video.shape[2])))
                        for t in range(video.shape[2])], 2)


def condition_video(video: torch.Tensor, known: torch.Tensor, padding: str) -> torch.Tensor:
    """video (B, C, T, H, W), known (T, H, W) bool -> the condition video: known pixels kept,
    the rest padded by `padding` (repeat | blend | edge | zeros | fill)."""
    if known.shape != video.shape[2:]:
        raise ValueError(f"mask shape {tuple(known.shape)} does not match video (T, H, W) {tuple(video.shape[2:])}")
    k = known.to(video.device)
    if padding in ("repeat", "blend"):
        frame_known = k.flatten(1).all(1)
        if bool((k.flatten(1).any(1) & ~frame_known).any()):  # partially known frames: keep pixels, zero the rest
            return torch.where(k, video, torch.zeros_like(video))
        return _fill_frames(video, frame_known, padding)
    if padding == "edge":
        return _edge_replicate(video, k)
    if padding == "zeros":
        return torch.where(k, video, torch.zeros_like(video))
    if padding == "fill":
        return _fill(video, k)
    raise ValueError(f"unknown padding {padding!r}")


def latent_mask(known: torch.Tensor, time_factor: int, space_factor: int) -> torch.Tensor:
    """(T, H, W) pixel mask -> (t, h, w) condition region: a token is a condition token when its
    footprint holds any known pixel. Latent frame 0 covers frame 0; frame k covers frames
    (k-1)*f+1 .. k*f (the causal tokenizer)."""
    T, H, W = known.shape
    f, s = time_factor, space_factor
    if (T - 1) % f or H % s or W % s:
        raise ValueError(f"mask of {T}x{H}x{W} does not tile into 1+k*{f} frames and {s}x{s} pixels")
    padded = torch.cat([known[:1].expand(f - 1, H, W) & False, known], 0)  # (f*t, H, W)
    t = padded.shape[0] // f
    return padded.reshape(t, f, H // s, s, W // s, s).any(5).any(3).any(1)


CONDITION_REGIONS = ("footprint", "padded")


def condition_region(known: torch.Tensor, time_factor: int, space_factor: int, kind: str = "footprint") -> torch.Tensor:
    """(T, H, W) pixel mask -> (t, h, w) tokens that show the condition video's token.
    "footprint": SPEC's latent mask (`latent_mask`); every other token starts as [MASK].
    "padded" (beyond the paper): every token, whenever any pixel is known, so the model refines
    the padded video (blend, repeat, edge) instead of drawing the unknown part from [MASK]; with
    nothing known (CG) it is empty."""
    lm = latent_mask(known, time_factor, space_factor)
    if kind == "footprint":
        return lm
    if kind == "padded":
        return torch.full_like(lm, bool(known.any()))
    raise ValueError(f"unknown condition region {kind!r}; one of {', '.join(CONDITION_REGIONS)}")


@dataclass
class Condition:
    """Everything the transformer needs about what is known."""
    video: torch.Tensor  # (B, 3, T, H, W) condition video
    known: torch.Tensor  # (T, H, W) bool pixel mask
    latent: torch.Tensor  # (t, h, w) bool latent mask
    task: Task


def build_condition(video: torch.Tensor, task: str | Task, time_factor: int, space_factor: int,
                    known: torch.Tensor | None = None, region: str = "footprint", **options) -> Condition:
    """The task's geometry (or a user `known` mask) applied to `video` (B, 3, T, H, W), padded
    as the condition region `region` wants."""
    task = get_task(task) if isinstance(task, str) else task
    T, H, W = video.shape[2:]
    if known is None:
        known = task.known(T, H, W, **options)
    return Condition(condition_video(video, known, task.padding_for(region)), known,
                     latent_mask(known, time_factor, space_factor), task)
