"""Motion-compensated padding (beyond the paper): frames between two frames (interpolation,
`PairMotion`), after the last ones (prediction, `Continuation`), and a moving hole or a moving
known region filled from the other frames (dynamic inpainting and outpainting, `fill_holes`);
`pad_clip` makes a whole training clip's interpolation or prediction padding.

The paper pads frame interpolation with the linear blend of the known frames. Where things move,
a blend shows both positions at half strength (ghosting); warping each known frame along the
optical flow to the in-between time puts them where they belong. The transformer then refines
that padding instead of the blend, and residual compositing keeps it at full resolution where
the model agrees with it (pipeline.py).

How (one pair of frames a, b; a frame at time t in (0, 1)):
- Flow both ways with OpenCV's DIS optical flow (Kroeger et al. 2016), FAST preset, on the
  luma of the frames (at most FLOW_MAX_SIDE pixels on the longer side; scaled up after).
  Flows under SNAP_PX pixels are set to zero: a static scene stays sharp instead of being
  resampled by sub-pixel noise.
- The flow from time t back to a and to b from the two flows (Jiang et al. 2018, Super SloMo:
  F_t->a = -(1-t) t F_a->b + t^2 F_b->a, F_t->b = (1-t)^2 F_a->b - t (1-t) F_b->a); each known
  frame is warped to t with it and the two are mixed (1-t) : t.
- Per pixel, the warped frame and the linear blend are mixed by inverse-variance weights
  (`_inverse_variance`), each one's error guessed from how much its own pair disagrees
  (|warp(a) - warp(b)| against |a - b|, both smoothed over BLUR_FRAC of the shorter side): where
  the warps agree and the unwarped frames do not, the warped frame; where warping does not bring
  the pair closer (occlusions, flow failures), the blend; where both disagree alike (a motion
  the flow cannot follow over many frames), half of each, the smaller expected error.

Prediction (the last three frames known; frame s steps after the last): the flow from the last
frame to the one before is its velocity, kept where the same content moved alike a frame earlier
(the two flows differ by less than CONSISTENCY of it; a back-and-forth motion is held still), and
the last frame is warped along it s times over. Plain constant velocity lost 2.4 dB to the held
frame on a held-out clip whose subject moves back and forth. Per pixel, that continuation and the
held frame are mixed by inverse-variance weights, each one's error guessed from how well it would
have predicted the last frame from the one before (the older velocity carried one frame on,
against the frame before held).

Dynamic inpainting: the flow from each frame to the others is computed on the plain fill
(tasks.fill_frame: each hole pixel from the nearest frame that shows it, as it is there), so the
hole's own pixels are never read; inside the hole it is replaced by a harmonic interpolation
of the flow around it (swept up to FLOW_FILL_SIDE pixels, upsampled above: the flow is smooth,
and the full-size sweeps were most of the dynamic modes' time), and each hole pixel is taken
from the nearest frame that shows it along that flow. A hole that stays put (central
inpainting) keeps the plain fill: completing the flow across a large still hole under camera
motion lost 1.8 dB on a training clip.

Dynamic outpainting (`fill_holes(versus_plain=True)`): the flow is extrapolated across the
canvas rather than interpolated, and carries a moving subject's motion over a still background;
so each pixel takes the warped or the plain candidate by which pair of sources agrees better
(a logistic switch, `_trust`). Inpainting's hole keeps the warped one: the check
lost on the held-out clips there.

Both dynamic modes take what no frame of the window shows from the canvas as the frames before
the window last showed it (`memory`, kept by runners.spatial), before the harmonic fill.

The constants were chosen on the training clips (bikes, bigbuckbunny, and the four extra clips
of examples/fetch_training_data.py), x2 and x16 interpolation, 12-frame prediction and the
sliding inpainting hole, by PSNR against the true frames; the held-out clips were measured with
them (weights/README.md).
"""
from __future__ import annotations

import functools
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from .tasks import FILL_DECAY, fill_frame, harmonic_fill, nearest_first

FLOW_MAX_SIDE = 1920  # flow is computed at most at this size (4K input: at half size); memory and time
FLOW_MIN_SIDE = 32  # smaller frames are edge-padded to this for the flow (DIS needs a few patches)
SNAP_PX = 0.5  # flow vectors shorter than this (pixels of the a -> b motion) count as no motion
SIGMA = 5.0  # dynamic outpainting: width of the warped/plain decision, 8-bit levels
MARGIN = 1.0  # dynamic outpainting: the warped pair must agree this much better (8-bit levels) to be preferred
BLUR_FRAC = 0.02  # the disagreements' smoothing (Gaussian sigma) as a fraction of the shorter side
SMOOTH_SHRINK_SIGMA = 7.0  # a smoothing this wide twice over runs at a reduced size, keeping this sigma there (_smooth)
ERROR_FLOOR = 1.0  # inverse-variance weights: a level of error neither estimate is trusted below (8-bit levels)
FLOW_FILL_SIDE = 256  # the flow across a hole is completed with sweeps up to this size, upsampled above (3x faster, same PSNR)
CACHE_BYTES = 512 << 20  # dynamic inpainting keeps a window's frames (float32) up to this much memory (720p: all 17)
FAR_CAP = 3.0  # dynamic outpainting: the plain pair's disagreement is scaled by the sources' distance ratio, at most this much (chosen on the training clips and a validation clip, weights/README.md)
CONSISTENCY = 0.5  # prediction: a velocity is kept where the one a frame earlier differs by less than this share of it


def _luma(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W) uint8 luma (BT.601 weights)."""
    y = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    return ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) float -> (H, W, 3) float32 in 8-bit levels."""
    return ((x.float() + 1) * 127.5).permute(1, 2, 0).contiguous().numpy()


def _flow_scale(size: tuple[int, int]) -> float:
    """The flow's size relative to frames of `size` (H, W): at most FLOW_MAX_SIDE on the longer side."""
    return min(1.0, FLOW_MAX_SIDE / max(size))


def _flow_luma(x: torch.Tensor, scale: float) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> its luma at the flow's size, (h, w) uint8."""
    y = _luma(x)
    if scale < 1:
        H, W = y.shape
        y = cv2.resize(y, (max(1, round(W * scale)), max(1, round(H * scale))), interpolation=cv2.INTER_AREA)
    return y


def _flow(la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """DIS flow a -> b of two lumas (h, w): (h, w, 2), where each pixel's content lies in b.
    Vectors under SNAP_PX are zero."""
    h, w = la.shape
    if min(h, w) < FLOW_MIN_SIDE:  # DIS refuses tiny frames: edge-replicate them up, crop the flow back
        grow = dict(top=0, bottom=max(0, FLOW_MIN_SIDE - h), left=0, right=max(0, FLOW_MIN_SIDE - w),
                    borderType=cv2.BORDER_REPLICATE)
        la, lb = (cv2.copyMakeBorder(x, **grow) for x in (la, lb))
    f = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(la, lb, None)
    f = f if f.shape[:2] == (h, w) else f[:h, :w].copy()
    still = _shorter(f[..., 0], f[..., 1], SNAP_PX)
    f[..., 0][still] = 0  # per component: a third faster than f[still] = 0 on (h, w, 2)
    f[..., 1][still] = 0
    return f


def _shorter(x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Where the vector (x, y) is shorter than r: np.hypot(x, y) < r, bit for bit, at about half its
    cost (x^2 + y^2 against r^2 decides all but the vectors within a part in a thousand of r^2,
    which np.hypot decides)."""
    m2 = x * x
    m2 += y * y
    out = m2 < np.float32(r * r * 0.999)
    near = np.flatnonzero(out ^ (m2 <= np.float32(r * r * 1.001)))
    if near.size:
        out.flat[near] = np.hypot(x.flat[near], y.flat[near]) < r
    return out


def _flow_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, np.ndarray, float]:
    """Flows a -> b and b -> a of two (3, H, W) frames, in pixels of the flow's size, and that
    size's scale (<= 1) relative to the frames."""
    scale = _flow_scale(tuple(a.shape[1:]))
    la, lb = _flow_luma(a, scale), _flow_luma(b, scale)
    return _flow(la, lb), _flow(lb, la), scale


def _full(flow: np.ndarray, size: tuple[int, int], scale: float) -> np.ndarray:
    """A flow at the flow's size -> at the frames' size (H, W), in the frames' pixels."""
    if scale == 1:
        return flow
    return cv2.resize(np.ascontiguousarray(flow), (size[1], size[0]), interpolation=cv2.INTER_LINEAR) / scale


@functools.lru_cache(maxsize=4)
def _grid(H: int, W: int) -> np.ndarray:
    """Each pixel's (x, y), (H, W, 2) float32 (read-only: shared by every warp of that size)."""
    g = np.stack(np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32)), -1)
    g.flags.writeable = False
    return g


def _warp(img: np.ndarray, flow: np.ndarray, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """Backward warp: out[y, x] = img[y + flow_y, x + flow_x] (bilinear, edges replicated). `box`:
    the flow (and out) cover only that part of img's pixels (each pixel's value is the same)."""
    g = _grid(*img.shape[:2])
    if box is not None:
        g = g[box]
    return cv2.remap(img, g + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # one (x, y) map


def _seen(known: torch.Tensor, flow: np.ndarray, box: tuple[slice, slice] | None = None) -> np.ndarray:
    """(H, W) bool: where the pixel that `flow` points to in a frame with mask `known` (H, W) is
    known (`box`: as _warp's)."""
    return _warp(known.numpy().astype(np.float32), flow, box) > 0.99


def _box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box (rows, cols) of a (H, W) bool mask's set pixels; None where none is set."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


_THIRDS = np.full((1, 3), 1 / 3, np.float32)


def _gap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pixel, the mean absolute difference over the colour channels of two (H, W, 3) float32
    images (an alpha channel after them is not looked at) -> (H, W) float32: .mean(-1) to float
    rounding, in OpenCV (3 x numpy's speed at 1080p)."""
    if x.shape[-1] > 3:
        x, y = np.ascontiguousarray(x[..., :3]), np.ascontiguousarray(y[..., :3])
    return cv2.transform(cv2.absdiff(x, y), _THIRDS)


def _smooth(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Gaussian smoothing over BLUR_FRAC of the shorter side. Where that is SMOOTH_SHRINK_SIGMA
    pixels or more twice over (short sides from 700 px), at 1/f size (f = sigma // that): shrunk by
    area, blurred, enlarged bilinearly, the blur narrowed by the f^2/4 of variance the two resizes
    add (the 720p blur: 117 taps, about 40 ms a call here, most of interpolation's motion time)."""
    sigma = BLUR_FRAC * min(size)
    f = int(sigma // SMOOTH_SHRINK_SIGMA)
    if f < 2:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    h, w = x.shape[:2]
    small = cv2.resize(x, (-(-w // f), -(-h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), (sigma * sigma - f * f / 4) ** 0.5 / f)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _trust(d_warped: np.ndarray, d_plain: np.ndarray) -> np.ndarray:
    """Per pixel, how far to trust the motion-compensated pixels (0..1) from two smoothed
    disagreements in 8-bit levels: theirs and the plain (unwarped) pixels'. The warped ones must
    agree MARGIN better; the switch is a logistic of width SIGMA."""
    return 1 / (1 + np.exp(np.clip((d_warped - d_plain + MARGIN) / SIGMA, -50, 50)))


def _inverse_variance(err: np.ndarray, err_other: np.ndarray) -> np.ndarray:
    """Per pixel, the weight (0..1) of one estimate against another when mixing them, from a
    guess of each one's error (8-bit levels, >= 0): inverse-variance weighting, the error taken
    for a standard deviation (floored at ERROR_FLOOR). Equal errors give 1/2: the mean of two
    estimates that go wrong independently is nearer the truth than either."""
    v, v_other = (cv2.pow(np.asarray(e, np.float32) + np.float32(ERROR_FLOOR), 2) for e in (err, err_other))
    return cv2.divide(v_other, cv2.add(v, v_other))


def _mix(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """w (H, W) * x + (1 - w) * y for images (H, W, C) -> float32 (as y + w (x - y), in OpenCV)."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    return cv2.add(y, cv2.multiply(cv2.merge([w] * x.shape[-1]), cv2.subtract(x, y)))


def _tensor(hwc: np.ndarray) -> torch.Tensor:
    """(H, W, 3) in 8-bit levels -> (3, H, W) in [-1, 1]."""
    return torch.from_numpy(hwc).permute(2, 0, 1).float() / 127.5 - 1


class PairMotion:
    """Flow between frames a and b (each (3, H, W) in [-1, 1], on the CPU), and `frame(t)`: the
    motion-compensated frame at time t in (0, 1) between them. Frames with an alpha channel
    ((4, H, W)): the flow and the trust in it from the colours, the alpha moved and mixed with them."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        if a.shape != b.shape or a.dim() != 3:
            raise ValueError(f"PairMotion needs two (3, H, W) frames of one size, got {tuple(a.shape)} and {tuple(b.shape)}")
        self.a, self.b = a, b
        self.size = tuple(a.shape[1:])
        self.ab, self.ba, self.scale = _flow_pair(a, b)

    def frame(self, t: float) -> torch.Tensor:
        """The frame at time t (0 < t < 1; 0 is a, 1 is b) -> (C, H, W) in [-1, 1], as a and b."""
        if not 0 < t < 1:
            raise ValueError(f"t must lie strictly between 0 and 1, got {t}")
        ab, ba, a, b, d_blend = self._parts
        wa = _warp(a, cv2.addWeighted(ab, -(1 - t) * t, ba, t * t, 0))  # (H, W, 3)
        wb = _warp(b, cv2.addWeighted(ab, (1 - t) ** 2, ba, -t * (1 - t), 0))
        warped, blend = cv2.addWeighted(wa, 1 - t, wb, t, 0), cv2.addWeighted(a, 1 - t, b, t, 0)
        d_warped = _smooth(_gap(wa, wb), self.size)
        return _tensor(_mix(_inverse_variance(d_warped, d_blend), warped, blend))

    @functools.cached_property
    def _parts(self) -> tuple[np.ndarray, ...]:
        """What every frame(t) of the pair shares, made once: both flows at the frames' size, both
        frames (H, W, 3) in 8-bit levels, and the smoothed disagreement of the unwarped pair."""
        ab, ba = (_full(f, self.size, self.scale) for f in (self.ab, self.ba))
        a, b = _hwc(self.a), _hwc(self.b)
        return ab, ba, a, b, _smooth(_gap(a, b), self.size)


class Continuation:
    """Prediction's padding: the last frame carried on along its own motion at constant
    velocity, where that motion agrees with the motion one frame earlier (elsewhere it holds
    still), mixed per pixel with the held last frame by how well each would have predicted the
    last frame from the one before. `frames`: the last three known frames, oldest first, each
    (3, H, W) in [-1, 1]."""

    def __init__(self, frames: list[torch.Tensor]):
        if len(frames) != 3 or any(f.shape != frames[-1].shape or f.dim() != 3 for f in frames):
            raise ValueError(f"Continuation needs the last three (3, H, W) frames of one size, got {[tuple(f.shape) for f in frames]}")
        first, prev, last = frames
        self.last, self.size = last, tuple(last.shape[1:])
        back, _, scale = _flow_pair(last, prev)  # last -> prev: where each pixel of `last` was a frame earlier
        before, _, _ = _flow_pair(prev, first)
        back, before = (_full(f, self.size, scale) for f in (back, before))
        # the same content's motion a frame earlier, read where it was then; a velocity is kept
        # where the two agree to within CONSISTENCY of its length (at least a pixel's worth)
        change = np.hypot(*(back - _warp(before, back)).transpose(2, 0, 1))
        speed = np.maximum(np.hypot(back[..., 0], back[..., 1]), 1.0)
        keep = _smooth(np.exp(-(change / (CONSISTENCY * speed)) ** 2).astype(np.float32), self.size)
        self.velocity = keep[..., None] * back  # (H, W, 2): per frame, toward the past
        # each estimate tried one frame back: the older velocity carried on from `prev`, and
        # `prev` held, against `last`; their errors set the weights of the two (H, W)
        p, l = _hwc(prev), _hwc(last)
        err_moved, err_held = (_smooth(_gap(x, l), self.size) for x in (_warp(p, before), p))
        self.weight = _inverse_variance(err_moved, err_held)  # (H, W): of the carried-on frame

    def frame(self, s: int) -> torch.Tensor:
        """The frame s >= 1 steps after the last one -> (3, H, W) in [-1, 1]."""
        if s < 1:
            raise ValueError(f"s must be >= 1, got {s}")
        last = _hwc(self.last)
        return _tensor(_mix(self.weight, _warp(last, s * self.velocity), last))


class _FirstTwo:
    """Per pixel, the first two candidates offered for it (8-bit levels) and the frames they came
    from: fill_holes' check of one kind of candidate against a second source."""

    def __init__(self, size: tuple[int, int]):
        self.val = np.zeros((2, *size, 3), np.float16)  # (2, H, W, 3): half the memory, a level's precision to spare
        self.src = np.zeros((2, *size), np.int16)  # the frame index each came from
        self.count = np.zeros(size, np.uint8)  # 0, 1 or 2 candidates so far

    def offer(self, where: np.ndarray, img: np.ndarray, j: int):
        """img (H, W, 3) from frame j is a candidate where `where` (H, W) holds. Works on the
        bounding box of the pixels that still take one (a strip of the canvas, mostly)."""
        where = where & (self.count < 2)
        box = _box(where)
        if box is None:
            return
        where, count, img = where[box], self.count[box], img[box]  # views: writes land in self
        for slot in (0, 1):
            take = where & (count == slot)
            self.val[slot][box][take] = img[take]
            self.src[slot][box][take] = j
        count[where] += 1

    def complete(self, where: np.ndarray) -> bool:
        return bool((self.count[where] >= 2).all())

    def spread(self, weight: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """How much the two candidates disagree (8-bit levels, times `weight`), smoothed as
        PairMotion's disagreements are, over the pixels that have both -> (H, W) float32, and (H, W)
        bool where that smoothing saw any such pixel."""
        size = self.count.shape
        two = (self.count >= 2).astype(np.float32)
        d = _gap(self.val[0].astype(np.float32), self.val[1].astype(np.float32)) * weight * two
        w = _smooth(two, size)
        return _smooth(d, size) / np.maximum(w, 1e-3), w > 1e-2


class _HoleFlows:
    """fill_holes' flows from frame i to the others, each completed across frame i's hole
    (harmonic_fill from the flow around it) and at the frames' size: flow_to(j) -> (H, W, 2).
    Asked for nearest first, they are made in batches of 2, 4, 8, ... of the frames next in that
    order, one harmonic fill a batch: the fill's sweeps over its small levels cost per call, not
    per pixel (most of the dynamic modes' time at 720p, one fill a flow). A caller that stops early
    has had at most about twice the flows it used made."""

    def __init__(self, lumas: list[np.ndarray], i: int, hole: torch.Tensor, size: tuple[int, int], scale: float):
        self.lumas, self.i, self.hole, self.size, self.scale = lumas, i, hole, size, scale
        self.order, self.made, self.batch = list(nearest_first(i, len(lumas))), {}, 2

    def __call__(self, j: int) -> np.ndarray:
        if j not in self.made:
            at = self.order.index(j)
            js = [k for k in self.order[at:at + self.batch] if k not in self.made]
            self.batch *= 2
            raw = torch.stack([torch.from_numpy(_flow(self.lumas[self.i], self.lumas[k])).permute(2, 0, 1) for k in js])  # (B, 2, h, w)
            known = (~self.hole)[None, None]  # (1, 1, h, w): one hole for the batch, its pooling done once
            done = harmonic_fill(raw, known, sweep_side=FLOW_FILL_SIDE).permute(0, 2, 3, 1).numpy()  # (B, h, w, 2)
            self.made.update({k: _full(f, self.size, self.scale) for k, f in zip(js, done)})
        return self.made.pop(j)


def fill_holes(get: Callable[[int], torch.Tensor], known: list[torch.Tensor], versus_plain: bool = False,
               memory: tuple[torch.Tensor, torch.Tensor] | None = None) -> Iterator[torch.Tensor]:
    """The padding along the motion where the unknown part moves (IPD's hole, OPD's canvas around
    the sliding strip): each unknown pixel from the nearest frame that shows it, as
    tasks.fill_frame does, but that frame warped to this one along the flow between them, the
    flow inside the hole interpolated from its border (the hole's own pixels are never read: the
    flow is computed on tasks.fill_frame's padding); what no frame shows is filled harmonically. get(i) -> frame i, (3, H, W) in [-1, 1], called as needed;
    known[i]: (H, W) bool. Yields the padded frames in order.

    `versus_plain` (dynamic outpainting): per pixel, the warped candidate or the plain one (the
    same position in the nearest frame that shows it, as tasks.fill_frame takes it), by which
    agrees better with a second source of its kind (_fill_versus_plain).

    `memory`: (frame (3, H, W), known (H, W) bool), each pixel as the frames before this window
    last showed it; what no frame of the window shows is taken from it, as it is, before the
    harmonic fill (_rest)."""
    n = len(known)
    size = tuple(known[0].shape)
    scale = _flow_scale(size)

    def others(i):
        return ((known[j], lambda j=j: get(j)[None]) for j in nearest_first(i, n))

    # frames (H, W, 3) in 8-bit levels, kept for the window where they fit in CACHE_BYTES (each is
    # warped to every other frame's hole: laid out and converted once, not n - 1 times)
    shown = functools.lru_cache(maxsize=max(1, CACHE_BYTES // (12 * size[0] * size[1])))(lambda j: _hwc(get(j)))
    lumas = [_flow_luma(fill_frame(get(i)[None], known[i], others(i))[0], scale) for i in range(n)]
    for i in range(n):
        hole = torch.from_numpy(cv2.resize((~known[i]).numpy().astype(np.uint8), lumas[i].shape[::-1],
                                           interpolation=cv2.INTER_NEAREST).astype(bool)) if scale < 1 else ~known[i]
        flow_to = _HoleFlows(lumas, i, hole, size, scale)
        if versus_plain:
            yield _fill_versus_plain(i, get, known, flow_to, memory)
            continue
        frame, missing = get(i), ~known[i]
        box = _box(missing.numpy())  # the hole's bounding box: only its pixels are warped and taken
        if box is not None:
            part, miss = frame[:, box[0], box[1]], missing[box]
            for j in nearest_first(i, n):
                if not miss.any():
                    break
                flow = flow_to(j)[box]
                take = miss & torch.from_numpy(_seen(known[j], flow, box))
                if take.any():
                    part = torch.where(take, _tensor(_warp(shown(j), flow, box)), part)
                    miss = miss & ~take
            frame, missing = frame.clone(), missing.clone()
            frame[:, box[0], box[1]], missing[box] = part, miss
        yield _rest(frame, missing, memory)


def _rest(frame: torch.Tensor, missing: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """The pixels of frame (3, H, W) that no frame of the window shows (`missing`, (H, W) bool):
    from `memory` where an earlier frame showed them, the rest filled harmonically."""
    if memory is not None:
        take = missing & memory[1]
        frame, missing = torch.where(take, memory[0], frame), missing & ~take
    if missing.any():
        frame = harmonic_fill(frame[None], ~missing[None, None], decay=FILL_DECAY)[0]
    return frame


def _fill_versus_plain(i: int, get: Callable[[int], torch.Tensor], known: list[torch.Tensor],
                       flow_to: Callable[[int], np.ndarray], memory: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Frame i of fill_holes(versus_plain=True) -> (3, H, W) in [-1, 1]. Each unknown pixel has
    up to two warped candidates (the nearest frames that show it along the motion) and two plain
    ones (the nearest frames that show it where it is). Where both kinds have two, a logistic
    switch (_trust) picks between them by how much each pair disagrees: right motion makes the
    warped pair agree, a still scene the plain pair. The plain pair's disagreement is scaled by
    how much farther frame i lies from the first source than the two sources lie apart (two
    neighbouring frames far off agree about content that has since moved), at most FAR_CAP times:
    unbounded, a still background's small disagreement (camera shake, noise) grew 8-16 x for far
    sources and lost to warps carrying a moving subject's extrapolated motion. Where only one kind
    has a candidate it is taken; where neither, `memory` or the harmonic fill (_rest).
    Extrapolating the flow across a canvas carries a moving subject's motion over a still
    background; this catches that."""
    size = tuple(known[i].shape)
    miss = (~known[i]).numpy()
    warped, plain = _FirstTwo(size), _FirstTwo(size)
    for j in nearest_first(i, len(known)):
        more_warped = not warped.complete(miss)
        if not more_warped and plain.complete(miss):
            break
        img = _hwc(get(j))  # each frame once a frame i, in order: no use keeping it
        plain.offer(miss & known[j].numpy(), img, j)
        if more_warped:
            flow = flow_to(j)
            warped.offer(miss & _seen(known[j], flow), _warp(img, flow), j)
    d_warped, both_warped = warped.spread()
    far = np.minimum(np.abs(i - plain.src[0]).astype(np.float32) / np.maximum(np.abs(plain.src[1].astype(np.float32) - plain.src[0]), 1),
                     np.float32(FAR_CAP))
    d_plain, both_plain = plain.spread(far)
    has_warped, has_plain = warped.count > 0, plain.count > 0
    t = np.where(both_warped & both_plain, _trust(d_warped, d_plain), 1.0)
    t = np.where(has_warped & has_plain, t, has_warped).astype(np.float32)  # (H, W)
    out = _hwc(get(i))
    filled = miss & (has_warped | has_plain)
    out[filled] = _mix(t, warped.val[0], plain.val[0])[filled]
    return _rest(_tensor(out), torch.from_numpy(miss & ~filled), memory)


def pad_clip(video: torch.Tensor, known: torch.Tensor, code: str) -> torch.Tensor | None:
    """A whole clip's interpolation (FI) or prediction (FP) padding along the motion, as the
    runners make it for one window (for training on what inference shows). video (3, T, H, W)
    in [-1, 1], known (T, H, W) bool -> (3, T, H, W) with the known frames as they are, or None
    where the task pads without motion (prediction from fewer than three frames)."""
    T = video.shape[1]
    out = [video[:, t].float() for t in range(T)]
    whole = [bool(known[t].all()) for t in range(T)]
    if code == "FI":
        keys = [t for t in range(T) if whole[t]]
        for a, b in zip(keys, keys[1:]):
            if b - a > 1:
                pair = PairMotion(out[a], out[b])
                out[a + 1:b] = [pair.frame((t - a) / (b - a)) for t in range(a + 1, b)]
        return torch.stack(out, 1)
    if code == "FP":
        n = whole.index(False) if False in whole else T  # known prefix
        if n < 3:
            return None
        cont = Continuation(out[n - 3:n])
        out[n:] = [cont.frame(t - n + 1) for t in range(n, T)]
        return torch.stack(out, 1)
    raise ValueError(f"pad_clip pads FI and FP (dynamic in/outpainting: fill_holes), not {code!r}")
