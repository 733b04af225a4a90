"""One function per task on real files: stream frames in, run windows through `Magvit.fill`,
composite at full resolution, stream frames out (see pipeline.py for the scheme)."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save

from . import hdr
from .errors import MagvitError, UsageError
from .motion import Continuation, PairMotion, fill_holes
from .options import (INPAINT_MODES, OUTPAINT_MODES, WriteOptions, check_box, check_factor, check_frames, check_inpaint,
                      check_outpaint, check_slow_motion, frame_count, parse_box, read_track, track_file)
from .pipeline import MAX_CANVAS, MAX_PIXELS, Magvit, Output, Sampling, free_memory, resize, resize_mask, to_frame, to_tensor
from .refine import CHECKPOINT_PIXELS, HALO, TILE
from .tasks import condition_video, fill_frame, get_task, nearest_first, window_left_edges
from .video import (Colour, Span, VideoInfo, VideoWriter, alpha_output, count_frames, deep_output, frame_times,
                    holds_aspect, holds_hdr, input_fps_unused, is_sequence, is_token_file, iter_frames, iter_info, last_shown,
                    photo_suffix, probe, sequence_hint, shift_timecode, temp_file, timeline, trim, write_file)

Progress = Callable[[float, int], None]  # (done, total) in output frames; a fraction: part of a frame's work
TOKENIZER_WINDOW = 17  # frames reconstruct and tokenize encode at a time (1 + 4k; fewer where memory is short)
PLAYER_MAX_FPS = 240  # interpolation above this rate says so, pointing at --slow-motion (high-refresh screens stop at 240)
MOTION_SHARE = 0.9  # the share of a frame's work shown done once its motion padding is made (dynamic modes)


def _noop(done, total):
    pass


def open_input(m: Magvit, path, dst, opts: WriteOptions, span: Span | None = None) -> VideoInfo:
    """The probed input, trimmed to `span` (video.trim) when one is given. Transparency that the
    output `dst` (written with `opts`) holds none of is said to be dropped, in a warning (keeps_alpha)."""
    info = probe(path)
    if span is not None:
        info = trim(info, span)
    if info.width * info.height > MAX_PIXELS:
        raise UsageError(f"{path}: {info.width}x{info.height} frames exceed the limit of {MAX_PIXELS} pixels (4K UHD)")
    if info.alpha and not keeps_alpha(info, dst, opts):
        m.warn(f"{path} has an alpha channel (transparency): {dst} holds none, so the output is opaque; "
               f".png, .apng, .webp, .gif, .webm, .mkv with --codec ffv1 or .mov with --codec prores_ks (ProRes 4444) or qtrle keep it")
    if info.other_video:
        n = info.other_video
        m.warn(f"{path} has {n + 1} video tracks: the first ({info.width}x{info.height}) is processed, the other{'s' * (n > 1)} "
               f"left out of the output (ffmpeg -map 0:v:1 makes a file of the second)")
    if (unused := input_fps_unused(info)) is not None:
        m.warn(unused)
    if info.interlaced:
        m.warn(f"{path} is interlaced: its frames are processed whole, so moving edges comb; "
               "deinterlace it first for clean motion (ffmpeg -i IN -vf bwdif OUT)")
    return info


def _read(m: Magvit, info: VideoInfo, deep: bool, alpha: bool = False) -> Iterator[np.ndarray]:
    """The run's input frames (within the trim; uint16 where `deep`; RGBA with `alpha`), their decoding
    timed on the run's clock, oddities (a size change midway) told through the run's warnings."""
    return m.clock.frames(iter_info(info, deep, m.warn, alpha))


def keeps_alpha(info: VideoInfo, dst, opts: WriteOptions) -> bool:
    """Whether a run reads and writes RGBA frames: the input has an alpha channel and the output type
    holds one (video.alpha_output; a token file holds none)."""
    return info.alpha and alpha_output(dst, opts.codec_for(info), opts.lossless)


def keeps_depth(info: VideoInfo, dst, opts: WriteOptions) -> bool:
    """Whether a run reads and writes frames at 16 bits (uint16): the input has more than 8 bits
    per component (10-bit HDR video, 16-bit PNG) and the output can store them (video.deep_output)."""
    return info.depth > 8 and deep_output(dst, opts.codec_for(info), opts.lossless, keeps_alpha(info, dst, opts))


def _colour_for(m: Magvit, dst, colour: Colour) -> tuple[Colour, Colour | None]:
    """The output's colour and the HDR colour its frames are tone-mapped from (VideoWriter's
    `colour` and `to_sdr`): HDR input into an output that holds SDR only (a GIF, an animated PNG, a WebP, a photo;
    a phone's HLG video into a GIF looked grey) is made SDR, with a warning; else as it is."""
    if not hdr.is_hdr(colour.trc) or holds_hdr(dst):
        return colour, None
    m.warn(f"{dst}: the input is HDR ({'HLG' if colour.trc == hdr.HLG else 'PQ'}) and {Path(dst).suffix or 'this output'} "
           f"holds SDR only: its colours are tone-mapped to SDR (BT.709); .mp4, .mov or .mkv keep the HDR")
    return Colour(), colour


def _writer(m: Magvit, dst, info: VideoInfo, fps, width, height, opts: WriteOptions, deep: bool,
            per_input: int | None = 1, slower: int = 1, alpha: bool = False) -> VideoWriter:
    """The run's output. `per_input`: output frames per input frame, so that input whose frame rate
    varies keeps each frame's time (video.frame_times, video.timeline) and its audio in sync; None:
    frames at a steady `fps` whatever the input. `slower` > 1: slow motion, every time that many
    times later, the audio slowed with it (pitch kept), subtitles and chapters later and longer."""
    times = timeline(frame_times(info), info.fps, per_input, last_shown(info)) if per_input else None
    if slower > 1:
        times = times and (lambda o, base=times: slower * base(o))
    colour, to_sdr = _colour_for(m, dst, info.colour)
    if info.sample_aspect and not holds_aspect(dst, opts.codec_for(info)):
        m.warn(f"{dst} cannot be tagged with the input's pixel aspect {info.sample_aspect} ({Path(dst).suffix} with its "
               f"encoder), so players show its {width}x{height} pixels square; .mp4 or .mkv with H.264 keep it")
    return VideoWriter(dst, fps, width, height, **opts.encoding(info),
                       audio_from=info.path if (opts.audio and info.has_audio) else None,
                       colour=colour, to_sdr=to_sdr, clock=m.clock, deep=deep, full_chroma=info.full_chroma,
                       subtitles_from=info.path if info.has_subtitles else None,
                       attachments_from=info.path if info.tracks.get("attachments") or info.tracks.get("cover") else None, metadata=info.metadata, warn=m.warn,
                       sample_aspect=info.sample_aspect, start=info.start, span=info.span, chapters=info.chapters,
                       times=times, timecode=shift_timecode(info.timecode, info.fps, fps, info.first), stretch=slower,
                       video_tags=info.video_tags, alpha=alpha)


def _output(w: VideoWriter, fps, extra: dict | None = None) -> Output:
    """The run's summary from its (closed) writer: the frames the file holds (a GIF leaves out frames
    due too soon) and their rate, its size, audio and depth."""
    return Output(w.path, w.stored, w.stored_fps(fps), w.width, w.height, w.has_audio, extra or {}, w.depth)


def scene_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of 32x32 luminance thumbnails, in [0, 1] (of the colours: an alpha channel is not looked at)."""
    la, lb = (resize(x[:3].unsqueeze(0), (32, 32))[0].mean(0) for x in (a, b))
    return float((la - lb).abs().mean() / 2)


# ---------------------------------------------------------------------------------- FI
@dataclass(frozen=True)
class RatePlan:
    """How interpolation reaches its output rate: the model fills a grid of `factor` frames per
    input frame, and output frame i is grid frame round(i x step), step = factor x fps_in / fps
    (>= 1; 1 keeps every grid frame). `jitter` is the largest distance in seconds between an output
    frame's time and the grid frame shown then: 0 when the rate ratio's numerator is a factor."""
    factor: int
    step: Fraction
    fps: Fraction
    jitter: float = 0.0

    def grid_index(self, i: int) -> int:
        return math.floor(i * self.step + Fraction(1, 2))


def plan_rate(fps_in: Fraction, fps: Fraction, max_factor: int) -> RatePlan:
    """The grid for a target rate: the factor whose grid puts every output frame within a tenth of
    an output frame interval of its time and packs the most input pairs into a model window (the
    cost: one window per max_factor // factor pairs), the more exact of those, then the smaller.
    fps / fps_in = p / q: the grid x p keeps every q-th frame exactly (24 -> 60 fps: x5, every 2nd),
    but a coarser grid may be as good to the eye and cheaper (25 -> 60: x8, 1.7 ms at most, two
    pairs a window, not x12's one). A ratio too fine for the window (25 -> 29.97 fps: 1200/1001):
    the largest factor the window allows where none is within the tenth."""
    r = Fraction(fps) / Fraction(fps_in)
    if r <= 1:
        raise UsageError(f"--fps {_rate_text(fps)} is not above the input's {_rate_text(fps_in)} fps; interpolation only raises the rate")
    if r > max_factor:
        raise UsageError(f"--fps {_rate_text(fps)} is {float(r):.3g}x the input's {_rate_text(fps_in)} fps; "
                         f"at most x{max_factor} with this model's {max_factor + 1}-frame window" + _two_runs_to(fps, r, max_factor))
    p, q = r.numerator, r.denominator

    def jitter(f: int) -> Fraction:  # output i sits at grid position i*f*q/p; over all i the fractions are multiples of g/p
        g = math.gcd(f * q, p)
        return Fraction(g * ((p // g) // 2), p) / (f * Fraction(fps_in))

    factors = range(math.ceil(r), max_factor + 1)
    fits = [f for f in factors if jitter(f) <= Fraction(1, 10) / Fraction(fps)]
    f = max(fits, key=lambda f: (max_factor // f, -jitter(f), -f)) if fits else max_factor
    return RatePlan(f, f / r, Fraction(fps), float(jitter(f)))


def _rate_text(rate: Fraction) -> str:
    rate = Fraction(rate)
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.5g}"


def _two_runs_to(fps: Fraction, r: Fraction, most: int) -> str:
    """How a rate above the window's reach (`r` x the input's) is two runs: the least --factor
    first that leaves the rest within `most`, then --fps on its output."""
    a = max(2, math.ceil(r / most))
    return f"; two runs reach it: --factor {a}, then --fps {_rate_text(fps)} on its output" if a <= most else ""


def _two_runs(factor: int, most: int) -> str:
    """How a factor above the window's `most` is two runs, one on the other's output, where it is a
    product of two that fit: the most even pair (x32: x4, then x8; fewer frames made from made ones)."""
    pairs = [(a, factor // a) for a in range(2, most + 1) if factor % a == 0 and 2 <= factor // a <= most]
    if not pairs:
        return ""
    a, b = min(pairs, key=lambda p: (abs(p[0] - p[1]), p[0]))
    return f"; x{factor} is two runs: --factor {a}, then --factor {b} on its output"


def interpolate(m: Magvit, src, dst, factor: int | None, sampling: Sampling, opts: WriteOptions = WriteOptions(),
                cut_threshold: float = 0.25, progress: Progress = _noop, motion: bool = True,
                fps: Fraction | None = None, span: Span | None = None, slow_motion: bool = False) -> Output:
    """Frame interpolation x factor: every input frame stays at its time, factor-1 frames are
    generated between each pair, the last frame is held so the duration matches (N_in x factor
    frames at fps x factor). Pairs across a scene cut are held, not morphed. The frames between
    a pair are padded with motion-compensated frames (motion.py), or with `motion=False` the
    linear blend (the paper's). With `fps` instead of a factor: the rate plan's grid (plan_rate),
    keeping the grid frame nearest each output frame's time (along the input's own clock where its
    rate varies: video.frame_times); the duration still matches. `span`:
    only that part of the input (video.Span), its audio cut to it, here and in every task.
    `slow_motion`: the frames at the input's rate instead, factor x as long (with a factor only)."""
    check_slow_motion(slow_motion, fps)
    info = open_input(m, src, dst, opts, span)
    if info.is_image:
        raise UsageError(f"{src}: a still image has no frames to interpolate between" + sequence_hint(src))
    if fps is not None:
        plan = plan_rate(info.fps, fps, m.window_frames - 1)
        factor = plan.factor
    else:
        check_factor(factor)
        if factor > m.window_frames - 1:
            raise UsageError(f"--factor {factor}: at most {m.window_frames - 1} with this model's {m.window_frames}-frame window"
                             + _two_runs(factor, m.window_frames - 1))
        plan = RatePlan(factor, Fraction(1), info.fps * factor)
    H, W = info.height, info.width
    S = m.work_size
    deep = keeps_depth(info, dst, opts)
    alpha = keeps_alpha(info, dst, opts)  # frames (4, H, W): the new frames' transparency is their padding's
    pairs = (m.window_frames - 1) // factor  # input pairs per window
    task, gen = get_task("FI"), m.generator(sampling.seed)
    total = count_frames(info) * factor  # grid frames
    grid = written = cuts = 0
    # --fps over a varying rate: grid frame -> its time along the input's own (video.timeline), and
    # each output frame shows the grid frame nearest its time
    at = timeline(frame_times(info), info.fps, factor, last_shown(info)) if fps is not None else None
    worst = Fraction(0)  # the largest distance between an output frame's time and its grid frame's (varying rate)

    def put(w: VideoWriter, make: Callable[[], np.ndarray]):
        """Grid frame `grid`: made and written when it is the one nearest the next output frame's time
        (more than once where output frames are closer than grid frames)."""
        nonlocal grid, written, worst
        if at is None:
            if grid == plan.grid_index(written):
                w.write(make())
                written += 1
        else:
            edge, frame = (at(grid) + at(grid + 1)) / 2, None
            while written / plan.fps < edge:
                frame = make() if frame is None else frame
                worst = max(worst, abs(written / plan.fps - at(grid)))
                w.write(frame)
                written += 1
        grid += 1

    def run(chunk: list[torch.Tensor], w: VideoWriter):
        """Write chunk[:-1] and what lies between consecutive frames (not the last frame)."""
        nonlocal cuts
        start = 0
        for j in range(len(chunk) - 1):
            if scene_change(chunk[j], chunk[j + 1]) > cut_threshold:
                segment(chunk[start:j + 1], w)
                for _ in range(factor):  # hold frame j across the cut
                    put(w, lambda: to_frame(chunk[j], deep))
                progress(grid, total)
                cuts += 1
                start = j + 1
        segment(chunk[start:], w)

    def segment(frames: list[torch.Tensor], w: VideoWriter):
        c = len(frames) - 1  # pairs
        if c <= 0:
            return
        L = m.window_length(c * factor + 1)
        low = torch.zeros(3, L, *S)
        known = torch.zeros(L, *S, dtype=torch.bool)
        # motion padding, full resolution, at the output's depth: made once, used for the model's view and for compositing
        mids: dict[tuple[int, int], np.ndarray] = {}
        if motion:
            with m.clock("motion"):
                for k in range(c):
                    pair = PairMotion(frames[k], frames[k + 1])
                    mids.update({(k, j): to_frame(pair.frame(j / factor), deep) for j in range(1, factor)})

        def between(k: int, j: int) -> torch.Tensor:  # full-resolution padding of frame j after frames[k]
            if mids:
                return to_tensor(mids[k, j])
            a = j / factor
            return (1 - a) * frames[k] + a * frames[k + 1]

        for k, f in enumerate(frames):
            low[:, k * factor] = resize(f[:3], S)
            known[k * factor] = True
            if mids and k < c:
                for j in range(1, factor):
                    low[:, k * factor + j] = resize(between(k, j)[:3], S)
        win = m.fill(low, known, task, None, sampling, gen, padded=bool(mids))

        def lifted(k: int, j: int) -> np.ndarray:
            cond_full = between(k, j) if win.residual or alpha else None  # (with alpha: the new frame's)
            return to_frame(m.lift(win, k * factor + j, cond_full, (H, W)), deep)

        for k in range(c):
            put(w, lambda: to_frame(frames[k], deep))
            for j in range(1, factor):
                put(w, lambda: lifted(k, j))
            progress(grid, total)

    out_fps = info.fps if slow_motion else plan.fps
    if out_fps > PLAYER_MAX_FPS and fps is None:
        m.warn(f"{dst}: {_rate_text(out_fps)} fps, more than most players and screens show ({PLAYER_MAX_FPS}); "
               f"--slow-motion plays these frames at the input's rate, {factor}x as long")
    with _writer(m, dst, info, out_fps, W, H, opts, deep=deep, per_input=factor if fps is None else None,
                 slower=factor if slow_motion else 1, alpha=alpha) as w:
        chunk: list[torch.Tensor] = []
        n_in = 0
        for frame in _read(m, info, deep, alpha):
            chunk.append(to_tensor(frame))
            n_in += 1
            if len(chunk) == pairs + 1:
                run(chunk, w)
                chunk = chunk[-1:]
        if n_in < 2:
            raise UsageError(f"{src}: {n_in} frame; interpolation needs at least 2")
        run(chunk, w)
        for _ in range(factor):  # the last input frame, held
            put(w, lambda: to_frame(chunk[-1], deep))
        progress(grid, total)
    extra = {"factor": factor, "input_frames": n_in, "scene_cuts": cuts, **({"slow_motion": True} if slow_motion else {})}
    if fps is not None:
        extra.update(grid_step=str(plan.step), jitter_ms=round(float(worst if at else plan.jitter) * 1000, 3))
    return _output(w, out_fps, extra)


# ---------------------------------------------------------------------------------- FP / CFP
def predict(m: Magvit, src, dst, frames: int | Fraction, sampling: Sampling, cls: str | int | None = None,
            opts: WriteOptions = WriteOptions(), progress: Progress = _noop, motion: bool = True,
            span: Span | None = None) -> Output:
    """Frame prediction: the input, then `frames` new frames (a Fraction: seconds of them, at the
    input's rate) conditioned on its tail (the last 5 frames, or the last one for
    class-conditional prediction and for photos). The new frames are padded with the last frame
    carried on along its own motion (motion.Continuation, from the last three frames; FP only: a
    class names its own motion), or with `motion=False` the held last frame (the paper's)."""
    if not isinstance(frames, Fraction):
        check_frames(frames)
    cid = m.class_id(cls)
    info = open_input(m, src, dst, opts, span)
    H, W = info.height, info.width
    S = m.work_size
    task = get_task("CFP" if cid is not None else "FP")
    gen = m.generator(sampling.seed)
    tail: deque[torch.Tensor] = deque(maxlen=5)
    fps = info.fps  # a photo's: --input-fps (25 by default)
    frames = frame_count(frames, fps)
    out_path = Path(dst)
    deep = keeps_depth(info, dst, opts)
    alpha = keeps_alpha(info, dst, opts)  # frames (4, H, W): the new frames' transparency is their padding's
    n_in = 0
    with _writer(m, out_path, info, fps, W, H, opts, deep=deep, alpha=alpha) as w:
        for frame in _read(m, info, deep, alpha):
            w.write(frame)
            tail.append(to_tensor(frame))
            n_in += 1
        total = n_in + frames
        progress(n_in, total)
        kc = 1 if (cid is not None or n_in < 5) else 5
        low_tail = [resize(f[:3], S) for f in list(tail)[-kc:]]
        full_tail, remaining = list(tail)[-3:], frames  # full-resolution frames the motion is read from
        cont, since = None, 0  # the continuation, and how many frames after its last one the window starts
        pads: dict[int, np.ndarray] = {}  # the window's motion padding, at the output's depth: made once, used twice

        def pad(p: int) -> torch.Tensor:  # full-resolution padding of window frame p >= kc
            return to_tensor(pads[p]) if pads else full_tail[-1]

        while remaining > 0:
            L = m.window_length(kc + remaining)  # > kc: the window always has room for new frames
            if motion and cid is None and len(full_tail) == 3:
                with m.clock("motion"):
                    cont = cont or Continuation(full_tail)
                    pads = {p: to_frame(cont.frame(since + p - kc + 1), deep) for p in range(kc, L)}
            low = torch.zeros(3, L, *S)
            known = torch.zeros(L, *S, dtype=torch.bool)
            low[:, :kc] = torch.stack(low_tail, 1)
            known[:kc] = True
            for p in pads:
                low[:, p] = resize(pad(p)[:3], S)
            win = m.fill(low, known, task, cid, sampling, gen, padded=bool(pads))
            made = []
            for p in range(kc, L):
                if remaining == 0:
                    break
                cond = pad(p) if win.residual or alpha else None
                full = m.lift(win, p, cond, (H, W))
                w.write(to_frame(full, deep))
                made.append((win.generated[:, p], full))
                remaining -= 1
                progress(total - remaining, total)
            low_tail = (low_tail + [g for g, _ in made])[-kc:]
            if win.residual:  # the next window continues from the frames just made
                full_tail, cont, since = (full_tail + [f for _, f in made])[-3:], None, 0
            else:
                since += len(made)
    return _output(w, fps, {"new_frames": frames})


# ---------------------------------------------------------------------------------- OP* / IP*


def _track_lookup(rows: dict[int, tuple[int, ...]], t: int) -> tuple[int, ...]:
    """The row for frame t, or the nearest earlier one (the first before any)."""
    keys = [k for k in rows if k <= t]
    return rows[max(keys)] if keys else rows[min(rows)]


def spatial(m: Magvit, info: VideoInfo, dst, task_code: str, canvas: tuple[int, int], layout: Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
            sampling: Sampling, opts: WriteOptions, progress: Progress, extra: dict, total: int | None = None,
            motion: bool = False) -> Output:
    """Shared outpaint/inpaint loop over the probed input `info` (of `total` frames, counted when
    not given). layout(t, frame) -> (canvas frame (C, Hc, Wc), known (Hc, Wc)), C as the frame's
    (4 where transparency is kept: the unknown pixels' alpha is the padding's, the plain one where
    the colours are padded along the motion). `motion`: a moving hole (IPD) or known region (OPD)
    of a padded model is padded along the motion (motion.fill_holes)."""
    Hc, Wc = canvas
    S = m.work_size
    task, gen = get_task(task_code), m.generator(sampling.seed)
    if total is None:
        total = 1 if info.is_image else count_frames(info)
    fps = info.fps
    out_path = Path(dst)
    deep, alpha = keeps_depth(info, dst, opts), keeps_alpha(info, dst, opts)
    written = 0
    prev_low: torch.Tensor | None = None

    # Memory: the window keeps only the input frames (uint8, or uint16 for a deep input); each full-size canvas is laid out
    # when needed, once for the low-res pass and once for compositing, so a 4K input outpainted
    # to an 8K canvas holds one float canvas at a time, not a window of them. The spatial
    # paddings work frame by frame; inpainting's "fill" lays out the other frames of the window
    # one at a time, nearest first, only those that show a missing pixel, until the hole is covered.
    padding = task.padding_for(m.region)
    # an alpha channel is padded as a padded-condition model's colours are (edge replication, the fill from
    # the other frames), whatever the model: a footprint model's zeros would make the new pixels half see-through
    alpha_padding = task.refine_padding or task.padding
    along_motion = motion and padding == "fill" and task_code in ("IPD", "OPD")  # a known region or hole that moves
    # along the motion, what no frame of a window shows comes from the canvas as the frames
    # before it last showed it (motion.fill_holes' memory): a long clip's strip has swept the
    # canvas in earlier windows. (3, Hc, Wc) and (Hc, Wc) bool
    memory = (torch.zeros(3, Hc, Wc), torch.zeros(Hc, Wc, dtype=torch.bool)) if along_motion else None

    def run(frames: list[tuple[int, np.ndarray]], w: VideoWriter):
        nonlocal prev_low, written, memory
        lead = 0 if prev_low is None else 1
        n = len(frames) + lead
        L = m.window_length(n)
        low = torch.zeros(3, L, *S)
        known = torch.zeros(L, *S, dtype=torch.bool)
        masks = []  # full-size known masks (bool: small), so the fill lays out only frames it uses

        def canvas(j: int) -> torch.Tensor:  # window frame j laid out on the canvas, (C, Hc, Wc)
            return layout(frames[j][0], to_tensor(frames[j][1]))[0]

        for i, (t, frame) in enumerate(frames):
            canvas_i, known_i = layout(t, to_tensor(frame))
            low[:, lead + i] = resize(canvas_i[:3], S)
            known[lead + i] = resize_mask(known_i[None], S)[0]
            if "fill" in (padding, alpha_padding if alpha else None):
                masks.append(known_i)
        pads = None  # with along_motion: the window's full-resolution padding, (H, W, 3) per frame at the output's depth
        if along_motion:
            pads = []
            with m.clock("motion"):
                for p in fill_holes(lambda j: canvas(j)[:3], masks, versus_plain=task_code == "OPD",
                                    memory=memory if memory[1].any() else None):
                    pads.append(to_frame(p, deep))
                    # most of a window's time at HD: the bar moves per frame padded, short of the frame written
                    progress(written + len(pads) * MOTION_SHARE, total)
            for i, pad in enumerate(pads):
                low[:, lead + i] = resize(to_tensor(pad), S)
        if lead:
            low[:, 0], known[0] = prev_low, True
        for p in range(n, L):  # padding frames: same geometry as the last real one, discarded
            low[:, p], known[p] = low[:, n - 1], known[n - 1]
        win = m.fill(low, known, task, None, sampling, gen, padded=along_motion)

        def plain(i, canvas_i, known_i, c=slice(None), how=padding):  # frame i's channels c of the condition video, padded plainly
            if how != "fill":
                return condition_video(canvas_i[None, c, None], known_i[None], how)[0, :, 0]
            others = ((masks[j], lambda j=j: canvas(j)[None, c])
                      for j in nearest_first(i, len(frames)))
            return fill_frame(canvas_i[None, c], known_i, others)[0]

        def padded(i, canvas_i, known_i):  # frame i of the condition video at full resolution
            if pads is None and (not alpha or alpha_padding == padding):
                return plain(i, canvas_i, known_i)
            colours = to_tensor(pads[i]) if pads is not None else plain(i, canvas_i, known_i, slice(0, 3))
            return torch.cat([colours, plain(i, canvas_i, known_i, slice(3, None), alpha_padding)]) if alpha else colours

        for i, (t, frame) in enumerate(frames):
            canvas_i, known_i = layout(t, to_tensor(frame))
            cond_i = None
            if win.residual or alpha:
                with m.clock("composite"):
                    cond_i = padded(i, canvas_i, known_i)
            made = m.lift(win, lead + i, cond_i, (Hc, Wc))
            w.write(to_frame(torch.where(known_i, canvas_i, made), deep))
            if memory is not None:
                memory = (torch.where(known_i, canvas_i[:3], memory[0]), memory[1] | known_i)
        written += len(frames)
        progress(written, total)
        prev_low = win.generated[:, n - 1]

    with _writer(m, out_path, info, fps, Wc, Hc, opts, deep=deep, alpha=alpha) as w:
        buf: list[tuple[int, np.ndarray]] = []
        for t, frame in enumerate(_read(m, info, deep, alpha)):
            buf.append((t, frame))
            if len(buf) == m.window_frames - (0 if prev_low is None else 1):
                run(buf, w)
                buf = []
        if buf:
            run(buf, w)
    return _output(w, fps, extra)


def canvas_size(mode: str, W: int, H: int, size: tuple[int, int] | Fraction | None,
                sample_aspect: Fraction | None = None) -> tuple[int, int]:
    """The outpainting canvas (Wc, Hc) for a W x H input: `size` in pixels, or an aspect ratio
    (Fraction W/H, as shown: pixels of `sample_aspect` are not square) the canvas grows to from the
    input (sideways for vertical and dynamic, up and down for horizontal, whichever side needs it
    for central; even sizes, as 4:2:0 video holds), or the mode's default (SPEC geometry: central
    2W x 2H, vertical and dynamic 2W x H, horizontal W x 2H)."""
    if isinstance(size, Fraction):
        even = lambda v: max(2 * round(v / 2), 2)  # noqa: E731
        pixels = size / (sample_aspect or 1)  # the canvas's width / height in pixels (a DVD's 720x480 shows 16:9)
        grows = {"vertical": "width", "dynamic": "width", "horizontal": "height"}.get(
            mode, "width" if Fraction(W, H) < pixels else "height")
        Wc, Hc = (max(even(H * pixels), W), H) if grows == "width" else (W, max(even(W / pixels), H))
        if (Wc, Hc) == (W, H):
            named = f"--size {size.numerator}:{size.denominator}: the {W}x{H} input" + \
                (f" (shown with pixel aspect {sample_aspect})" if sample_aspect and sample_aspect != 1 else "")
            if mode == "central":
                raise UsageError(f"{named} has that shape already: nothing to outpaint")
            other = "horizontal" if grows == "width" else "vertical"
            raise UsageError(f"{named} is already that {'wide' if grows == 'width' else 'tall'} or more (its {mode} mode "
                             f"grows the {grows}; --mode {other} or central grows the other side)")
        return _check_canvas(Wc, Hc, f"--size {size.numerator}:{size.denominator}")
    Wc, Hc = size or {"central": (2 * W, 2 * H), "vertical": (2 * W, H), "horizontal": (W, 2 * H), "dynamic": (2 * W, H)}[mode]
    if Wc < W or Hc < H:
        raise UsageError(f"--size {Wc}x{Hc} is smaller than the input {W}x{H}")
    if (Wc, Hc) == (W, H):
        raise UsageError(f"--size {Wc}x{Hc} equals the input size: nothing to outpaint")
    return _check_canvas(Wc, Hc, "--size" if size else f"--mode {mode}")



def _check_canvas(Wc: int, Hc: int, named: str) -> tuple[int, int]:
    if Wc * Hc > MAX_CANVAS:
        raise UsageError(f"{named}: the {Wc}x{Hc} canvas exceeds the limit of {MAX_CANVAS} pixels (8K UHD, 7680x4320)")
    return Wc, Hc

def outpaint(m: Magvit, src, dst, mode: str, sampling: Sampling, size: tuple[int, int] | None = None,
             track: str | None = None, opts: WriteOptions = WriteOptions(), progress: Progress = _noop,
             motion: bool = True, span: Span | None = None) -> Output:
    """Outpainting: the input becomes the known part of a larger canvas (SPEC geometry by
    default: central 2W x 2H, vertical 2W x H, horizontal W x 2H, dynamic 2W x H sliding left to
    right, or along --track). Dynamic: with a padded model the canvas is padded from the other
    frames where they showed it, along the motion (motion.fill_holes), or with `motion=False`
    as they are."""
    check_outpaint(mode, track)
    info = open_input(m, src, dst, opts, span)
    H, W = info.height, info.width
    Wc, Hc = canvas_size(mode, W, H, size, info.sample_aspect)
    rows = read_track(track, "--track", 2) if track else None
    n = 1 if info.is_image else count_frames(info)
    xs = [int(round(v)) for v in torch.linspace(0, Wc - W, n).tolist()]

    def place(t):
        if rows is not None:
            return _track_lookup(rows, info.first + t)[:2]  # rows number the file's frames
        if mode == "dynamic":
            return xs[min(t, n - 1)], (Hc - H) // 2
        return (Wc - W) // 2, (Hc - H) // 2

    if rows is not None:  # every frame's place on the canvas, before any work
        spots = [place(t) for t in range(n)]
        for t, (x, y) in enumerate(spots):
            if not (0 <= x <= Wc - W and 0 <= y <= Hc - H):
                far = (max(Wc, max(x for x, _ in spots) + W), max(Hc, max(y for _, y in spots) + H))
                fix = ("the track's positions are the input's top-left corner on the canvas, 0 or more"
                       if min(min(p) for p in spots) < 0 else f"--size {far[0]}x{far[1]} holds the whole track")
                raise UsageError(f"--track frame {t}: position {x},{y} puts the {W}x{H} input outside the {Wc}x{Hc} "
                                 f"canvas; {fix}")

    def layout(t, frame):
        x, y = place(t)
        canvas = torch.zeros(frame.shape[0], Hc, Wc)
        known = torch.zeros(Hc, Wc, dtype=torch.bool)
        canvas[:, y:y + H, x:x + W] = frame
        known[y:y + H, x:x + W] = True
        return canvas, known

    return spatial(m, info, dst, OUTPAINT_MODES[mode], (Hc, Wc), layout, sampling, opts, progress,
                   {"mode": mode, "canvas": f"{Wc}x{Hc}"}, motion=motion)


def inpaint(m: Magvit, src, dst, mode: str | None, sampling: Sampling, box: str | None = None,
            mask: str | None = None, opts: WriteOptions = WriteOptions(), progress: Progress = _noop,
            motion: bool = True, span: Span | None = None) -> Output:
    """Inpainting: the hole (the paper's central or sliding box, a --box, or a --mask image/video
    where white marks the hole) is generated; every other pixel is kept. A hole that moves (IPD)
    is padded from the other frames warped along the motion (motion.fill_holes), or with
    `motion=False` from the other frames as they are."""
    mode = check_inpaint(mode, box, mask)
    info = open_input(m, src, dst, opts, span)
    H, W = info.height, info.width
    n = 1 if info.is_image else count_frames(info)
    code = INPAINT_MODES.get(mode, "IPC")
    holes: Callable[[int], torch.Tensor]
    marked = [True]  # whether a mask video marks a hole in any frame (False until one does)
    if mode == "central":
        hole = torch.zeros(H, W, dtype=torch.bool)
        hole[H // 4:H // 4 + H // 2, W // 4:W // 4 + W // 2] = True
        holes = lambda t: hole
    elif mode == "dynamic":
        xs = window_left_edges(n, W)
        def holes(t):
            h = torch.zeros(H, W, dtype=torch.bool)
            h[H // 4:H // 4 + H // 2, xs[min(t, n - 1)]:xs[min(t, n - 1)] + W // 2] = True
            return h
    elif box is not None:
        if track_file(box):
            rows = read_track(box, "--box", 4)
            for t, r in rows.items():
                check_box(r, W, H, f"{box} at frame {t} ({','.join(map(str, r))})")
            code = "IPD"
            def holes(t):
                x, y, w, h = _track_lookup(rows, info.first + t)  # rows number the file's frames
                hm = torch.zeros(H, W, dtype=torch.bool)
                hm[y:y + h, x:x + w] = True
                return hm
        else:
            x, y, w, h = parse_box(box, W, H)
            hole = torch.zeros(H, W, dtype=torch.bool)
            hole[y:y + h, x:x + w] = True
            holes = lambda t: hole
    else:
        minfo = probe(mask)
        check_mask_size(mask, minfo, W, H)
        told = [False]

        def hole_at(frame: np.ndarray) -> torch.Tensor:
            hole, hidden = hole_of(frame, H, W)
            if hidden and not told[0]:
                told[0] = True
                m.warn(f"--mask {mask}: its transparent pixels are kept, though white underneath (white and opaque "
                       f"marks the hole); a hole erased to transparency needs painting white")
            return hole
        if minfo.is_image:
            hole = hole_at(next(iter_frames(mask, alpha=minfo.alpha)))
            if not hole.any():
                m.warn(no_hole(mask))
            holes = lambda t: hole
        else:
            mn, whole = count_frames(minfo), n if info.span is None else count_frames(probe(info.path))
            if mn != whole:  # frame by frame with the whole input, trimmed or not
                raise UsageError(f"--mask video has {mn} frames, the input has {whole}")
            mframes, seen = iter_frames(mask, info.first, alpha=minfo.alpha), {}
            code = "IPD"

            marked = [False]

            def holes(t):  # a window's frames are laid out more than once: read each mask frame once, keep recent ones
                while len(seen) <= t:
                    seen[len(seen)] = hole_at(next(mframes))
                    marked[0] = marked[0] or bool(seen[len(seen) - 1].any())
                for old in range(max(0, t - 2 * m.window_frames), t - m.window_frames):
                    seen[old] = None
                return seen[t]

    def layout(t, frame):
        hole = holes(t)
        return frame, ~hole

    out = spatial(m, info, dst, code, (H, W), layout, sampling, opts, progress,
                  {"mode": mode or ("box" if box else "mask")}, total=n, motion=motion)
    if not marked[0]:
        m.warn(no_hole(mask))
    return out


def check_mask_size(mask, minfo: VideoInfo, W: int, H: int) -> None:
    """A mask of the input's shape at another size (drawn on a proxy, or at 1080p for 4K) is scaled
    to it (hole_of); another shape is refused: stretched, its hole would not be where it was drawn."""
    w, h = minfo.width, minfo.height
    if abs(w * H - h * W) > max(w, h, W, H):  # not the same shape, within a pixel's rounding
        raise UsageError(f"--mask {mask} is {w}x{h}, the input is {W}x{H}: draw it at {W}x{H} (or at that shape, scaled)")


def hole_of(frame: np.ndarray, H: int, W: int) -> tuple[torch.Tensor, bool]:
    """A mask frame (h, w, 3) or with alpha (h, w, 4) -> its hole, (H, W) bool: white (above
    mid-grey) marks the hole, black the kept pixels, and so does transparency (as an image editor's
    strokes on an empty layer); and whether transparency hid white pixels (a hole erased to
    transparency reads the other way). Another size of the same shape is scaled (a pixel is in the
    hole where at least half its area is)."""
    white = frame[..., :3].mean(2) > 127
    hidden = False
    if frame.shape[2] == 4:
        clear = frame[..., 3] < 128
        hidden = bool((white & clear).any())
        white &= ~clear
    hole = torch.from_numpy(white)
    if hole.shape != (H, W):
        hole = ~resize_mask(~hole[None], (H, W))[0]
    return hole, hidden


def no_hole(mask) -> str:
    """The warning for a --mask with no pixel above mid-grey (a mask drawn black on white, or faint)."""
    return f"--mask {mask} marks no pixel as the hole (white, above mid-grey): the output is the input"


# ---------------------------------------------------------------------------------- CG
def generate(m: Magvit, dst, cls: str | int, frames: int, sampling: Sampling, fps: Fraction = Fraction(25),
             opts: WriteOptions = WriteOptions(), progress: Progress = _noop, size: tuple[int, int] | None = None) -> Output:
    """Class-conditional generation at the model's working size (or upscaled to `size` = (W, H),
    bilinear: no detail is added); clips longer than one window continue from the last frame (CFP)."""
    check_frames(frames)
    cid = m.class_id(cls)
    S = m.work_size
    W, H = size or (S[1], S[0])
    if W * H > MAX_PIXELS:
        raise UsageError(f"--size {W}x{H} exceeds the limit of {MAX_PIXELS} pixels (4K UHD)")
    gen = m.generator(sampling.seed)
    sampling = dataclasses.replace(sampling, residual=False)  # frames are upsampled as made: no condition decode
    written, last = 0, None
    with VideoWriter(dst, fps, W, H, **opts.encoding(), warn=m.warn) as w:
        while written < frames:
            lead = 0 if last is None else 1
            L = m.window_length(frames - written + lead)
            low = torch.zeros(3, L, *S)
            known = torch.zeros(L, *S, dtype=torch.bool)
            if last is not None:
                low[:, 0], known[0] = last, True
            win = m.fill(low, known, get_task("CG" if last is None else "CFP"), cid, sampling, gen)
            for p in range(lead, L):
                if written == frames:
                    break
                w.write(to_frame(resize(win.generated[:, p], (H, W))))
                written += 1
            last = win.generated[:, L - 1]
            progress(written, frames)
    return _output(w, fps, {"class": m.class_names[cid] if m.class_names else cid})


# ---------------------------------------------------------------------------------- tokenizer only
def _pad_to(x: torch.Tensor, s: int) -> torch.Tensor:
    """(3, T, H, W) -> replicate-pad H, W up to multiples of s."""
    H, W = x.shape[-2:]
    ph, pw = -H % s, -W % s
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


# Peak memory of the tokenizer at full resolution, in units of one activation of the first
# stage's width over the window (frames x H x W x channels x 4 bytes), measured on the CPU
# (benchmarks/tokenizer_memory.py): in place (fp32) 4.1 (1 frame of 4K) to 4.4 (17 frames of
# 480x272; 4.2 at 960x544, 4.4 at 1080p). The plain path (autocast's; autograd) pads each conv's
# input with two more frames, so its units count frames + 2: 5.2 measured in fp32; a refine search
# 13 (checkpointed, on at most a tile of refine.TILE latent positions a side with its halo) and 23
# (small frames, nothing checkpointed). Each with a margin.
# A window run a chunk of latent frames at a time (VideoTokenizer.encode_chunked) costs a fixed part
# (each causal conv's kept frames, the convolutions' own buffers) and a part per frame of the chunk:
# measured in place at 480x272 (17 frames) 38 units + 1.7 a frame encoding, 42.5 + 2.0 decoding (the
# whole window: 68 and 71), at 960x544 30 + 1.8 and 33 + 1.9.
MEMORY_UNITS = {"in place": 4.5, "plain": 6.0, "refine": 15.0, "refine small": 26.0, "chunk": 38.0, "chunk frame": 2.2}
# the share of the free memory a window may take: closer to the limit a run slows several times
# (the reconstruct of 17 frames of 1080p with 23.5 GB free: one 17-frame window peaking at 20 GB
# took 437 s, windows of 13 and 5 frames peaking at 15.6 GB 179 s)
MEMORY_SHARE = 0.75


def _padded_size(m: Magvit, height: int, width: int) -> tuple[int, int, int]:
    """(H, W) as the tokenizer runs them (rounded up to its space factor), and the bytes of one
    pixel of its first stage's activation: MEMORY_UNITS' unit is that over a frame."""
    cfg = m.tokenizer.config
    s = cfg.space_factor
    return -(-height // s) * s, -(-width // s) * s, cfg.channels * cfg.channel_mult[0] * 4


def window_bytes(m: Magvit, frames: int, height: int, width: int, refine: int = 0) -> int:
    """About the most memory tokenizing and detokenizing one window of `frames` frames at
    height x width takes (MEMORY_UNITS), with the window's frames themselves."""
    H, W, pixel = _padded_size(m, height, width)
    in_place = m.dtype == torch.float32  # tokenizer.lean
    need = MEMORY_UNITS["in place" if in_place else "plain"] * pixel * (frames if in_place else frames + 2) * H * W
    if refine:  # the plain path, on at most a tile
        side = (TILE + 2 * HALO) * m.sf
        key = "refine small" if H * W <= CHECKPOINT_PIXELS else "refine"
        need = max(need, MEMORY_UNITS[key] * pixel * (frames + 2) * min(H, side) * min(W, side))
    return int(need) + frames * H * W * 7 * 4  # the window read (up to 4 channels) and decoded (3), float


def _gb(n: int) -> str:
    return f"{n / 2 ** 30:.1f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MB"


def chunk_bytes(m: Magvit, frames: int, chunk: int, height: int, width: int) -> int:
    """About the most memory a window of `frames` frames takes run `chunk` latent frames at a
    time (VideoTokenizer.encode_chunked; MEMORY_UNITS' chunk figures), with its frames."""
    H, W, pixel = _padded_size(m, height, width)
    scale = 1.0 if m.dtype == torch.float32 else MEMORY_UNITS["plain"] / MEMORY_UNITS["in place"]
    units = MEMORY_UNITS["chunk"] + MEMORY_UNITS["chunk frame"] * min(frames, chunk * m.tf)
    return int(scale * units * pixel * H * W) + frames * H * W * 7 * 4  # with the window's frames, as window_bytes


def _chunk_for(m: Magvit, frames: int, height: int, width: int, budget: float) -> int | None:
    """The most latent frames of a `frames`-frame window to run at a time within `budget` bytes
    (fewer than the window's: else it runs whole); None where none fits or the tokenizer cannot."""
    if not m.tokenizer.chunkable:
        return None
    latents = 1 + (frames - 1) // m.tokenizer.config.time_factor
    return max((c for c in range(1, latents) if chunk_bytes(m, frames, c, height, width) <= budget), default=None)


def fit_window(m: Magvit, src, window: int, height: int, width: int, refine: int = 0) -> tuple[int, int | None]:
    """The window's frames and the latent frames to run at a time (None: all) for a tokenizer
    pass that fits in the device's free memory: the whole window; else the same window a chunk
    at a time (the same tokens), as many latent frames as fit; else (a search, or not even one
    latent frame fits) the longest shorter window, which costs bits (each starts with a frame
    coded on its own) but lets a 4K clip on a 24 GB machine run instead of being killed. Says
    so when it shortens; a one-line error when not even one frame fits."""
    free = free_memory(m.device)
    if free is None:
        return window, None
    budget = free * MEMORY_SHARE
    if window_bytes(m, window, height, width, refine) <= budget:
        return window, None
    tf = m.tokenizer.config.time_factor
    chunk = None if refine else _chunk_for(m, window, height, width, budget)
    if chunk is not None:
        return window, chunk
    fits = [n for n in range(window, 0, -tf) if window_bytes(m, n, height, width, refine) <= budget]
    frames = fits[0] if fits else 1  # one frame beyond the share runs, slowly
    if window_bytes(m, frames, height, width, refine) > free:
        raise MagvitError(f"{src}: one {width}x{height} frame needs about {_gb(window_bytes(m, 1, height, width, refine))} "
                          f"to tokenize at full resolution and {_gb(free)} is free on {m.device.type}"
                          + (" (--refine needs more)" if refine else ""))
    if frames < window:
        m.warn(f"{src}: {window}-frame windows at {width}x{height} need about "
               f"{_gb(window_bytes(m, window, height, width, refine))} and {_gb(free)} is free: "
               f"windows of {frames} frame{'s' * (frames != 1)} (more bits per pixel)")
    return frames, None


def _windows(m: Magvit, info: VideoInfo, frames_per: int, tf: int, deep: bool = False,
             alpha: bool = False) -> Iterator[tuple[torch.Tensor, int]]:
    """(3, L, H, W) windows (4 channels with `alpha`) of up to frames_per frames, the last padded to
    1 + k*tf by holding its last frame; yields (window, real frame count)."""
    buf = []
    for f in _read(m, info, deep, alpha):
        buf.append(to_tensor(f))
        if len(buf) == frames_per:
            yield torch.stack(buf, 1), len(buf)
            buf = []
    if buf:
        n = len(buf)
        L = 1 + math.ceil((n - 1) / tf) * tf
        buf += [buf[-1]] * (L - n)
        yield torch.stack(buf, 1), n


def _encode_window(m: Magvit, x: torch.Tensor, refine: int, done: int, n: int, total: int, progress: Progress,
                   chunk: int | None = None) -> torch.Tensor:
    """One window (3, T, H, W) at full resolution -> (1, t, h, w) tokens, the encoder's (`chunk`
    latent frames at a time) or searched `refine` steps (progress moves through the window's n
    frames as the search goes)."""
    xp = _pad_to(x, m.sf).unsqueeze(0).to(m.device)
    return m.encode(xp, refine, on_step=lambda i, k: progress(done + n * i // k, total), chunk=chunk)


def reconstruct(m: Magvit, src, dst, opts: WriteOptions = WriteOptions(), window: int = TOKENIZER_WINDOW,
                progress: Progress = _noop, refine: int = 0, span: Span | None = None) -> Output:
    """Encode -> decode at full resolution in windows of `window` frames; reports bits per pixel
    and PSNR. `src` may be a token file from `tokenize`. refine > 0: tokens searched that many
    steps (Magvit.encode)."""
    if is_token_file(src):
        if refine:
            raise UsageError("--refine searches tokens for a video; a token file's tokens are decoded as they are")
        if span is not None:
            raise UsageError("--start/--end cut a video; a token file is decoded whole")
        return _reconstruct_tokens(m, src, dst, opts, progress)
    info = open_input(m, src, dst, opts, span)
    H, W = info.height, info.width
    total = 1 if info.is_image else count_frames(info)
    cfg = m.tokenizer.config
    deep, alpha = keeps_depth(info, dst, opts), keeps_alpha(info, dst, opts)
    window, chunk = fit_window(m, src, window, H, W, refine)
    se, bits, pixels, written = 0.0, 0, 0, 0
    with _writer(m, dst, info, info.fps, W, H, opts, deep=deep, alpha=alpha) as w:
        for x, n in _windows(m, info, window, cfg.time_factor, deep, alpha):
            idx = _encode_window(m, x[:3], refine, written, n, total, progress, chunk)
            y = m.decode(idx, chunk)[0, :, :n, :H, :W].cpu()
            for t in range(n):
                fr, ref = to_frame(y[:, t]), to_frame(x[:3, t])  # PSNR on 8-bit levels, whatever the depth
                w.write(to_frame(torch.cat([y[:, t], x[3:, t]]), deep) if deep or alpha else fr)  # the input's transparency as it is
                se += float(((fr.astype(np.float64) - ref) ** 2).sum())
            bits += idx.numel() * cfg.bits
            pixels += n * H * W
            written += n
            progress(written, total)
    mse = se / (pixels * 3)
    return _output(w, info.fps, {"bits_per_pixel": bits / pixels, "psnr": 10 * math.log10(255 ** 2 / max(mse, 1e-10))})


def tokenize(m: Magvit, src, dst, window: int = TOKENIZER_WINDOW, progress: Progress = _noop, refine: int = 0,
             span: Span | None = None) -> Output:
    """Write the token grid of each window to a safetensors file (reconstruct reads it back);
    refine > 0: tokens searched that many steps (Magvit.encode)."""
    existed = os.path.lexists(dst)  # replaced at the end; a file that appears meanwhile is not (video.move_into_place)
    info = open_input(m, src, dst, WriteOptions(), span)
    tmp = temp_file(dst)  # made now, as a video's: another run over the folder (--skip-existing) leaves this input to it
    try:
        return _tokenize(m, src, dst, info, tmp, existed, window, progress, refine)
    finally:
        tmp.unlink(missing_ok=True)


def _tokenize(m: Magvit, src, dst, info: VideoInfo, tmp: Path, existed: bool, window: int, progress: Progress, refine: int) -> Output:
    cfg = m.tokenizer.config
    grids, counts = [], []
    total = 1 if info.is_image else count_frames(info)
    window, chunk = fit_window(m, src, window, info.height, info.width, refine)
    for x, n in _windows(m, info, window, cfg.time_factor):
        grids.append(_encode_window(m, x, refine, sum(counts), n, total, progress, chunk)[0].cpu())
        counts.append(n)
        progress(sum(counts), total)
    tensors = {f"window_{i:05d}": g.to(torch.int32) for i, g in enumerate(grids)}
    tensors["frames"] = torch.tensor(counts, dtype=torch.int32)
    meta = {"fps": str(info.fps), "width": str(info.width), "height": str(info.height), "bits": str(cfg.bits),
            "format": "magvit-tokens-v1", "colour": json.dumps(dataclasses.asdict(info.colour)),
            "sample_aspect": str(info.sample_aspect or 1), "depth": str(info.depth)}
    if info.is_image and not is_sequence(src):  # reconstruct writes it back as a photo of this type
        meta["photo"] = photo_suffix(src)
    meta["tokenizer"] = json.dumps(_architecture(cfg))
    meta["encoder"] = m.encoder_digest  # what the tokens mean: another encoder of this architecture reads them otherwise
    at = timeline(frame_times(info), info.fps, 1, last_shown(info))
    if at is not None:  # a varying rate: each frame's time (s), and the last one's end, so reconstruct keeps them
        meta["times"] = json.dumps([str(at(i)) for i in range(sum(counts) + 1)])
    write_file(dst, save(tensors, metadata=meta), existed, tmp)
    return Output(Path(dst), sum(counts), info.fps, info.width, info.height, False,
                  {"windows": len(grids), "tokens": int(sum(g.numel() for g in grids)), "bits": cfg.bits})


def _architecture(cfg) -> dict:
    """A tokenizer's architecture as a token file records it: its config without the fields only
    training reads (a decoder fine-tuned with --freeze-encoder has the same)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()
            if k not in ("entropy_temperature", "lfq_group_bits")}


def _check_architecture(m: Magvit, src, meta: dict) -> None:
    """A token file made by a tokenizer of another architecture (same bits and downsampling, or the
    grid check would have said), or by another encoder of this one (other weights: a decoder
    fine-tuned with --freeze-encoder keeps it), decodes into other pictures: said in a warning
    naming what differs. Files from before the records have none."""
    if "tokenizer" not in meta:
        return
    made, this = json.loads(meta["tokenizer"]), _architecture(m.tokenizer.config)
    differ = [f"{k} {made[k]} (this one's {this.get(k)})" for k in sorted(made) if made[k] != this.get(k)]
    if not differ and meta.get("encoder", m.encoder_digest) != m.encoder_digest:
        differ = [f"encoder {meta['encoder']} (this one's {m.encoder_digest})"]
    if differ:
        m.warn(f"{src} was made by another tokenizer ({', '.join(differ)}): this one decodes its tokens "
               "into other pictures; --weights the one that made it")


def _check_grid(m: Magvit, src, tensors: dict, W: int, H: int) -> None:
    """Each window's token grid fits this tokenizer's downsampling for the file's frame size and
    frame counts: tokens of a tokenizer with the same bits but another downsampling decoded to
    frames of another size ('ValueError: frame (72, 88, 3) uint8 does not match output 144x176')."""
    want = (-(-H // m.sf), -(-W // m.sf))
    for i, n in enumerate(tensors["frames"].tolist()):
        t, h, w = tensors[f"window_{i:05d}"].shape
        if (h, w) != want or 1 + (t - 1) * m.tf < n:
            raise UsageError(f"{src}: made by another tokenizer: its window {i} is {t}x{h}x{w} tokens for {n} frame{'s' * (n != 1)} of {W}x{H}, "
                             f"where this one ({m.tf}x{m.sf}x{m.sf} downsampling) makes {-(-(n - 1) // m.tf) + 1}x{want[0]}x{want[1]}; "
                             "decode it with the tokenizer that made it (--weights)")


def token_photo(src) -> str | None:
    """The photo type a token file made from a photo is written back as (`tokenize p.jpg`: .jpg),
    or None: its header only, read before any work."""
    from safetensors import safe_open
    try:
        with safe_open(str(src), "pt") as f:
            return (f.metadata() or {}).get("photo")
    except Exception:  # not a token file: read_tokens names what is wrong, once the run reads it
        return None


def read_tokens(src) -> tuple[dict, dict]:
    """A token file's metadata and tensors (what `tokenize` writes), or a one-line error."""
    from safetensors import safe_open
    try:
        with safe_open(str(src), "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(src))
    except Exception as e:
        raise UsageError(f"{src}: not a readable token file ({type(e).__name__})") from None
    if meta.get("format") != "magvit-tokens-v1":
        raise UsageError(f"{src}: not a token file written by `magvit tokenize` (weights: `magvit weights info`)")
    return meta, tensors


def describe_tokens(src) -> dict:
    """A token file's facts for `magvit info`: the video it holds (size, rate, frames, length) and its grid."""
    meta, tensors = read_tokens(src)
    frames, fps = int(tensors["frames"].sum()), Fraction(meta["fps"])
    times = [Fraction(t) for t in json.loads(meta["times"])] if "times" in meta else None
    return {"width": int(meta["width"]), "height": int(meta["height"]), "fps": fps, "frames": frames,
            "seconds": float(times[-1] - times[0]) if times else frames / float(fps), "variable_rate": times is not None,
            "windows": len(tensors["frames"]), "tokens": sum(t.numel() for k, t in tensors.items() if k.startswith("window_")),
            "bits": int(meta["bits"]), "photo": meta.get("photo"), "encoder": meta.get("encoder")}


def _reconstruct_tokens(m: Magvit, src, dst, opts: WriteOptions, progress: Progress) -> Output:
    meta, tensors = read_tokens(src)
    if int(meta["bits"]) != m.tokenizer.config.bits:
        raise UsageError(f"{src}: {meta['bits']}-bit tokens, the tokenizer makes {m.tokenizer.config.bits}-bit ones")
    W, H, fps = int(meta["width"]), int(meta["height"]), Fraction(meta["fps"])
    _check_grid(m, src, tensors, W, H)
    _check_architecture(m, src, meta)
    colour = Colour(**json.loads(meta["colour"])) if "colour" in meta else Colour()  # older files have none
    colour, to_sdr = _colour_for(m, dst, colour)
    # as deep as the video it was made from, where the output holds it (10-bit HDR stays 10-bit; older files say nothing)
    deep = int(meta.get("depth", 8)) > 8 and deep_output(dst, opts.codec, opts.lossless, False)
    told = [Fraction(t) for t in json.loads(meta["times"])] if "times" in meta else None  # a varying rate's frame times, then the end
    times = told and timeline(told[:-1], fps, 1, told[-1] - told[-2])
    counts = tensors["frames"].tolist()
    longest = 1 + (max((tensors[f"window_{i:05d}"].shape[0] for i in range(len(counts))), default=1) - 1) * m.tf  # frames
    need, free, chunk = window_bytes(m, longest, H, W), free_memory(m.device), None
    if free is not None and need > free * MEMORY_SHARE:  # the windows are the file's: a chunk at a time where that fits
        chunk = _chunk_for(m, longest, H, W, free * MEMORY_SHARE)
        need = need if chunk is None else chunk_bytes(m, longest, chunk, H, W)
    if free is not None and need > free:  # beyond the share it runs, slowly
        raise MagvitError(f"{src}: decoding its {longest}-frame windows at {W}x{H} needs about "
                          f"{_gb(need)} and {_gb(free)} is free on {m.device.type} "
                          "(`magvit tokenize` makes shorter windows where memory is short)")
    written = 0
    with VideoWriter(dst, fps, W, H, **opts.encoding(),
                     times=times, deep=deep,
                     rotation=int(meta.get("rotation", 0)), colour=colour, to_sdr=to_sdr, warn=m.warn,
                     sample_aspect=Fraction(meta.get("sample_aspect", "1"))) as w:
        for i, n in enumerate(counts):
            idx = tensors[f"window_{i:05d}"].long().unsqueeze(0).to(m.device)
            y = m.decode(idx, chunk)[0, :, :n, :H, :W].cpu()
            for t in range(n):
                w.write(to_frame(y[:, t], deep))
            written += n
            progress(written, sum(counts))
    return _output(w, fps)
