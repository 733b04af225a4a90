"""The MAGVIT pipeline: read -> condition -> tokenize -> COMMIT decode -> composite -> write.

`Magvit` holds the loaded models and the steps every task shares (`encode`, `fill`: COMMIT decoding
of one window, `lift`: back to full resolution); runners.py has one documented call per task on
real files (`runners.interpolate(m, src, dst, ...)`, `predict`, `outpaint`, `inpaint`, `generate`,
`reconstruct`, `tokenize`), usable from scripts; the CLI is a thin layer on top.

How any resolution and length is handled (and why):
- Time: the transformer works on windows of `window_frames` (17) frames. Windows overlap by
  the frames the next one is conditioned on (one already generated frame for outpaint/inpaint,
  the known frames at the window ends for interpolation, the last 5 frames for prediction), so
  each window continues what came before and no seam appears in time.
- Space: every window is resized to the model's working size (e.g. 64x64) for one pass, and
  the result is brought back to full resolution by *residual compositing*: the full-resolution
  condition video (the task's padding: motion-compensated frames for interpolation and
  prediction, motion.py, or the paper's linear blend and held frame; edge replication for
  outpainting) plus the upsampled difference between the
  decoded generated tokens and the decoded condition tokens. The tokenizer's reconstruction
  error cancels in that difference; where the model agrees with the padding, full-resolution
  detail is kept; where it moves things, the change comes in at the model's resolution. A
  downscaled pass has no tile seams; tiling would need a model trained at larger sizes to pay.
- Soft decoding (outpainting's default, `Sampling.soft`): the tokenizer decodes each token's
  expected LFQ code under the distribution COMMIT committed it with, so where the model is
  unsure the result relaxes toward an average instead of a guess. With residual compositing the
  condition is decoded with the same confidence (`lfq.swap_argmax`), so a kept token adds nothing.
- Known pixels are pasted back exactly: only the unknown region comes from the model.
Frames are streamed: at most one window of full-resolution frames is held at a time.
"""
from __future__ import annotations

import difflib
import functools
import math
import re
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from . import commit
from .errors import MagvitError, UsageError
from .models import load_model
from .models.lfq import expected_codes, swap_argmax
from .options import check_sampling
from .refine import SHARPNESS, refine_indices
from .tasks import TASKS, Task, condition_region, condition_video
from .weights import other_encoder, resolve

MAX_PIXELS = 3840 * 2160  # frames larger than 4K UHD are refused (memory per window grows with it)
MAX_CANVAS = 4 * MAX_PIXELS  # outpainting canvases: 8K UHD (a 4K input's central 2W x 2H); 8000x8000 took 7.7 GB here


def to_tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 (or uint16, 0-65535) -> (C, H, W) float in [-1, 1] (C: 3, or 4 with alpha)."""
    if frame.dtype == np.uint16:  # float32 holds all 65536 levels exactly
        return torch.from_numpy(frame.astype(np.float32)).permute(2, 0, 1).div_(32767.5).sub_(1.0)
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)  # in place: 2x faster


def to_frame(x: torch.Tensor, deep: bool = False) -> np.ndarray:
    """(C, H, W) float in [-1, 1] -> (H, W, C) uint8, or with `deep` uint16 (rounded, clamped)."""
    y = (x.detach().float().clamp(-1, 1) + 1).mul_(32767.5 if deep else 127.5).round_()  # in place after the first copy
    return y.permute(1, 2, 0).cpu().numpy().astype(np.uint16 if deep else np.uint8)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., C, H, W) float -> (..., C, h, w), antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    lead = x.shape[:-3]
    y = x.reshape(-1, *x.shape[-3:])
    shrink = size[0] < y.shape[-2] or size[1] < y.shape[-1]
    y = F.interpolate(y, size=size, mode="bilinear", antialias=shrink, align_corners=False)
    return y.reshape(*lead, *y.shape[-3:])


def resize_mask(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(T, H, W) bool -> (T, h, w) bool: a low-res pixel is known when most of its area is."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.interpolate(m.float().unsqueeze(1), size=size, mode="area").squeeze(1) > 0.5


def cpu_fallback(doing: str) -> str:
    """What `--device auto` says when it finds no GPU (inference: running, training: training)."""
    return f"no GPU found: {doing} on the CPU (slow); --device cpu silences this"


def pick_device(device: str) -> tuple[torch.device, str | None]:
    """'auto' takes a GPU when there is one and says so when it falls back to the CPU. 'cuda:N'
    picks one GPU of several (a batch script running one job per GPU); it becomes the current
    device, so nothing lands on GPU 0 by default."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda"), None
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps"), None
        return torch.device("cpu"), cpu_fallback("running")
    index = re.fullmatch(r"cuda:(\d+)", device)
    if device not in ("cpu", "cuda", "mps") and index is None:
        raise UsageError(f"--device must be auto, cpu, cuda, cuda:N or mps, not {device!r}", option="--device")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MagvitError(f"--device {device}: no CUDA device is available (use --device cpu to run on the CPU)", option="--device")
        n = torch.cuda.device_count()
        if index is not None and int(index[1]) >= n:
            raise UsageError(f"--device {device}: this machine has {n} CUDA device{'s' * (n != 1)} (cuda:0 to cuda:{n - 1})", option="--device")
        if index is not None:
            torch.cuda.set_device(int(index[1]))
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise MagvitError("--device mps: MPS is not available here (use --device cpu)", option="--device")
    return torch.device(device), None


def _loose(name: str) -> str:
    """A class name as typed loosely: lower case, without spaces, hyphens or underscores."""
    return re.sub(r"[\s_-]+", "", name).lower()


SHOWN_CLASSES = 12  # a class table up to this long is listed in an error; a longer one (UCF-101's) is named by `magvit classes`


def _class_hint(cls: str, names: list[str]) -> str:
    """How an unknown class name's error goes on: the nearest names (a typo, 'zom-in'), and the
    table itself where it is short."""
    by_loose: dict[str, list[str]] = {}
    for n in names:
        by_loose.setdefault(_loose(n), []).append(n)
    begun = [k for k in by_loose if _loose(cls) and k.startswith(_loose(cls))]  # 'pan': pan-left and pan-right alike
    close = difflib.get_close_matches(_loose(cls), list(by_loose), n=3, cutoff=0.6)
    near = [n for k in dict.fromkeys(begun[:3] if begun else close) for n in by_loose[k]]
    table = f"one of: {', '.join(names) or '(none)'}" if len(names) <= SHOWN_CLASSES else f"`magvit classes` lists its {len(names)}"
    return f"; did you mean {' or '.join(near)}? ({table})" if near else f"; {table}"


def kernel_number(path: str, key: str | None = None) -> int | None:
    """A number the kernel states in a file: a /proc table's `key` (kB) in bytes, or a cgroup file's
    bare count; None where the file or the number is not there (cgroup v2 says "max": no limit)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if key is not None:
        line = next((ln for ln in text.splitlines() if ln.startswith(key + ":")), None)
        return int(line.split()[1]) * 1024 if line else None
    return int(text) if text.strip().isdigit() else None


def free_memory(device: torch.device) -> int | None:
    """Bytes a run can still take on `device`, None where unknown (then nothing is checked). CPU:
    the kernel's MemAvailable, or less where a cgroup (a container, a batch job) limits this
    process; CUDA: the device's free memory and what PyTorch holds unused."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if device.type != "cpu":
        return None
    left = [kernel_number("/proc/meminfo", "MemAvailable")]
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, cur = kernel_number(limit), kernel_number(used)
        if lim is not None and cur is not None and lim < 1 << 60:  # v1 says 2^63 - page for no limit
            left.append(lim - cur)
    left = [n for n in left if n is not None]
    return max(0, min(left)) if left else None


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    """fp32 on the CPU, bf16 autocast on a GPU by default. (bf16 is slow on CPUs without bf16
    units; one with AMX ran interpolation 1.4x faster in bf16, its other effects unmeasured.)"""
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision == "auto":
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    if precision not in table:
        raise UsageError(f"--precision must be auto, fp32, bf16 or fp16, not {precision!r}", option="--precision")
    return table[precision]


def slow_precision(dtype: torch.dtype, device: torch.device) -> str | None:
    """The note for fp16 on the CPU, which has no fp16 arithmetic: measured on this project's 2-core
    machine, interpolation of a 12-frame 64x48 clip took 123 s in fp16 against 2.4 s in fp32 (51x),
    reconstruction 14.2 s against 1.5 s (9x), with no word of why."""
    if dtype == torch.float16 and device.type == "cpu":
        return ("--precision fp16 on the CPU is emulated: 10 to 50 times slower than fp32 (auto runs fp32 on the CPU; "
                "fp16 is for GPUs)")
    return None


class Clock:
    """Seconds and calls per pipeline stage (for `magvit bench`); syncs CUDA so GPU work is
    charged to the stage that queued it."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def reset(self):
        self.seconds.clear()
        self.calls.clear()

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def __call__(self, stage: str):
        self._sync()
        t = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[stage] += time.perf_counter() - t
            self.calls[stage] += 1

    def frames(self, it: Iterable, stage: str = "decode video") -> Iterator:
        """Time each step of a frame iterator (reading and decoding the input)."""
        it = iter(it)
        while True:
            with self(stage):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item


# Tasks composited residually by default, per condition region: the better PSNR of the two
# measured on held-out video (weights/README.md). Plain upsampling wins outpainting (except
# OPV with a padded model: 2.7 dB below edge replication on the second held-out clip, 1.1 dB on
# the mean of both, where residual gives edge replication back; and OPD with a padded model,
# whose padding from the other frames is full-resolution detail: residual +6.8 to +10 dB) and
# inpainting with a footprint model, whose grey padding is no use at full size.
RESIDUAL_TASKS = {"footprint": {"FI", "FP", "CFP"}, "padded": {"FI", "FP", "CFP", "IPC", "IPD", "OPV", "OPD"}}
# Tasks decoded soft by default (Sampling.soft), per condition region: outpainting with a padded
# model, +0.1 to +1.2 dB PSNR and higher SSIM on held-out and training clips alike; on residual
# tasks it gives back the padding (the model is never sure of a change). Over motion-compensated
# padding (interpolation, prediction) hard decoding's changes cost up to 0.5 dB (FI x2 on a
# held-out clip) and soft is equal or better on every clip and setting measured, so FI and FP
# are soft too; for inpainting and CFP hard's changes are a wash (-0.07 to +0.09 dB) and stay
# the default; generation wants a sample, not an average (weights/README.md).
SOFT_TASKS = {"footprint": set(), "padded": {"FI", "FP", "OPC", "OPV", "OPH", "OPD"}}
# Search steps for the condition tokens (Sampling.refine, refine.py) where a task composites
# plainly, per condition region. A padded model's decoded tokens are the output, so a closer
# decode of the padded condition carries through: central and horizontal outpainting +0.22 to
# +0.48 dB on both held-out clips. A footprint model's condition video is grey where unknown,
# and the search draws that grey's edges sharply into the boundary tokens the model keeps: on
# the example clip (two seeds) every plain task but OPD lost, central inpainting 2.2 dB, so
# footprint models are not searched (weights/README.md). With residual compositing the
# tokenizer's error cancels and the search is not run (measured: within 0.16 dB, IPC lower).
REFINE_STEPS = {"footprint": 0, "padded": 10}
# The search's sharpness schedule for the condition tokens at the working size: refine.py's
# 2 -> 20 (better for whole frames) measured OPC / OPH +0.07 / -0.19 dB on the example clip and
# -0.11 / +0.06 on cup against 1 -> 10 here, so the tasks keep 1 -> 10 (weights/README.md).
TASK_SHARPNESS = (1.0, 10.0)


@dataclass
class Sampling:
    """COMMIT decoding settings (SPEC section 2 defaults). None: the measured best for the
    loaded transformer's condition region (weights/README.md)."""
    steps: int = 12
    # token sampling temperature; None: 1 (the paper's) for footprint models and for CG; 0
    # (greedy) for a padded model on a conditional task, which otherwise moves away from the
    # padding it refines more often than it improves on it
    temperature: float | None = None
    choice_temperature: float = 4.5
    guidance: float = 0.0
    schedule: str = "cosine"
    seed: int = 0
    # residual compositing (module docstring) or plain upsampling; None: RESIDUAL_TASKS
    residual: bool | None = None
    # soft decoding: the tokenizer decodes each token's expected LFQ code under the distribution
    # it was committed with (sharp where the model is sure, an average where it is not) instead
    # of the chosen token's code; None: SOFT_TASKS
    soft: bool | None = None
    # the condition's tokens searched this many steps through the decoder (refine.py);
    # None: the region's REFINE_STEPS where the task composites plainly, else 0 (CG has no condition: 0)
    refine: int | None = None

    def resolve(self, task: Task, region: str = "footprint") -> "Decoding":
        """The settings left None made concrete for one task and condition region."""
        temperature = self.temperature
        if temperature is None:
            temperature = 0.0 if region == "padded" and task.code != "CG" else 1.0
        residual = task.code in RESIDUAL_TASKS[region] if self.residual is None else self.residual
        refine = self.refine if self.refine is not None else 0 if residual else REFINE_STEPS[region]
        return Decoding(temperature=temperature, residual=residual,
                        soft=task.code in SOFT_TASKS[region] if self.soft is None else self.soft,
                        refine=0 if task.code == "CG" else refine)

    def check(self):
        check_sampling(self.steps, self.temperature, self.guidance, self.refine)
        if self.schedule not in commit.SCHEDULES:
            raise UsageError(f"--schedule must be one of {', '.join(commit.SCHEDULES)}")


@dataclass(frozen=True)
class Decoding:
    """Sampling resolved for one task (Sampling.resolve): no None left."""
    temperature: float
    residual: bool
    soft: bool
    refine: int


def task_defaults(region: str) -> dict[str, Decoding]:
    """What each task decodes with when no option is given, for a model of this condition region
    (`magvit info` shows it: the measured defaults differ between footprint and padded models)."""
    return {code: Sampling().resolve(task, region) for code, task in TASKS.items()}


@dataclass
class Window:
    """One window at working resolution: what the model saw and made."""
    generated: torch.Tensor  # (3, T, S, S) decoded generated tokens
    # (3, T, S, S) decoded condition tokens (the tokenizer's view of the condition) for residual
    # compositing; None when the task composites plainly (no decoder pass spent on it)
    condition: torch.Tensor | None

    @property
    def residual(self) -> bool:
        return self.condition is not None


@dataclass
class Output:
    """What a task wrote, for the summary."""
    path: Path
    frames: int
    fps: Fraction
    width: int
    height: int
    audio: bool
    extra: dict = field(default_factory=dict)
    depth: int = 8  # bits per component stored (VideoWriter.depth)


class Magvit:
    """Loaded models on a device, and the steps the tasks share (runners.py: one call per task)."""

    def __init__(self, weights: str | Path | None = None, device: str = "auto", precision: str = "auto",
                 need_transformer: bool = True, warn: Callable[[str], None] | None = None, allow_pickle: bool = False,
                 defer_note: bool = False):
        self.warn = warn or (lambda msg: None)  # one-line notes for the user (the CLI prints them on stderr)
        self.paths = resolve(weights)
        self.device, note = pick_device(device)
        self.dtype = pick_dtype(precision, self.device)
        self.notes = [n for n in (note, slow_precision(self.dtype, self.device)) if n]  # said by say_device
        self.clock = Clock(self.device)
        self.tokenizer = load_model(self.paths.tokenizer, expect="tokenizer", device=self.device, allow_pickle=allow_pickle)
        self.transformer = None
        if need_transformer:
            if self.paths.transformer is None:
                root = Path(self.paths.root)
                if root == Path(self.paths.tokenizer) and root.is_dir():  # a tokenizer's own folder (a run's export/)
                    raise MagvitError(f"--weights {root}: a tokenizer alone; this task needs a transformer too (train one on it: "
                                      f"magvit train transformer --tokenizer {root} ...)")
                inside = "holds no transformer" if root.is_file() else "no transformer/ inside"
                raise MagvitError(f"--weights {root}: {inside}; this task needs one")
            self.transformer = load_model(self.paths.transformer, expect="transformer", device=self.device,
                                          allow_pickle=allow_pickle)
            if self.transformer.config.bits != self.tokenizer.config.bits:
                raise MagvitError(f"transformer models {self.transformer.config.bits}-bit tokens, tokenizer makes "
                                  f"{self.tokenizer.config.bits}-bit ones")
            self._check_pair()
        if not defer_note:  # else said at the first work (encode, decode): a bad call or input gets its error alone
            self.say_device()

    def _check_pair(self) -> None:
        """A transformer trained on another encoder's tokens (its export records the encoder's digest;
        older ones do not) models tokens that mean other pictures here: said in a warning, as a
        fine-tuned encoder may be meant (with the device's notes: say_device)."""
        said = other_encoder(getattr(self.transformer, "metadata", {}), self.encoder_digest,
                             "--weights the pair it was trained on (`magvit weights pack TOKENIZER TRANSFORMER FILE`)")
        if said:
            self.notes.append(said)

    @functools.cached_property
    def encoder_digest(self) -> str:
        """What this tokenizer's tokens mean (models.tokenizer.encoder_digest)."""
        from .models.tokenizer import encoder_digest
        return encoder_digest(self.tokenizer.state_dict())

    def say_device(self) -> None:
        """Say (once) where `--device auto` fell back to the CPU, a precision the CPU runs slowly, and
        a transformer trained on another encoder's tokens."""
        for note in self.notes:
            self.warn(note)
        self.notes = []

    # -- geometry of the model --------------------------------------------------------------
    @property
    def tf(self) -> int:
        return self.tokenizer.config.time_factor

    @property
    def sf(self) -> int:
        return self.tokenizer.config.space_factor

    @property
    def window_frames(self) -> int:
        return (self.transformer.config.latent_shape[0] - 1) * self.tf + 1

    @property
    def work_size(self) -> tuple[int, int]:
        _, h, w = self.transformer.config.latent_shape
        return h * self.sf, w * self.sf

    @property
    def region(self) -> str:
        """The transformer's condition region (tasks.condition_region)."""
        return self.transformer.config.condition if self.transformer else "footprint"

    @property
    def class_names(self) -> list[str]:
        return list(self.transformer.config.class_names) if self.transformer else []

    def class_id(self, cls: str | int | None) -> int | None:
        """A class name or id of the loaded model -> id; None stays None. A name is matched
        exactly, else ignoring case and spaces, hyphens and underscores where that picks one class
        (UCF-101's 'ApplyEyeMakeup' as applyeyemakeup, 'pan-left' as 'Pan Left')."""
        if cls is None:
            return None
        names = self.class_names
        n = self.transformer.config.num_classes
        if isinstance(cls, str) and not cls.strip().lstrip("-").isdigit():
            if cls in names:
                return names.index(cls)
            loose = [i for i, name in enumerate(names) if _loose(name) == _loose(cls)]
            if len(loose) > 1:
                raise UsageError(f"class {cls!r} matches {len(loose)} classes loosely ({', '.join(names[i] for i in loose)}): "
                                 "type one exactly")
            if not loose:
                raise UsageError(f"class {cls!r} is not in the model{_class_hint(cls, names)}")
            return loose[0]
        i = int(cls)
        if not 0 <= i < n:
            raise UsageError(f"class id {i} out of range: the model has {n} classes (0..{n - 1})")
        return i

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)

    def encode(self, video: torch.Tensor, refine: int = 0, on_step: Callable[[int, int], None] | None = None,
               sharpness: tuple[float, float] = SHARPNESS, chunk: int | None = None) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, t, h, w) tokens: the encoder's, or with refine > 0
        searched that many steps for the tokens that decode closest (refine.py; same bits).
        `chunk`: the encoder's, that many latent frames at a time (the same tokens in less memory)."""
        self.say_device()  # at the first work: every check of the call and its input has passed
        with self.autocast(), self.clock("tokenize"):
            if chunk and not refine:
                return self.tokenizer.encode_chunked(video, chunk)
            return refine_indices(self.tokenizer, video, refine, on_step=on_step, sharpness=sharpness)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """(B, t, h, w) tokens -> (B, 3, T, H, W) float in [-1, 1]; `chunk` latent frames at a time."""
        self.say_device()
        with self.autocast(), self.clock("detokenize"):
            y = self.tokenizer.decode_chunked(indices, chunk) if chunk else self.tokenizer.decode(indices)
            return y.float().clamp(-1, 1)

    # -- the one model call -----------------------------------------------------------------
    @torch.no_grad()
    def fill(self, low: torch.Tensor, known: torch.Tensor, task: Task, cls: int | None, sampling: Sampling,
             generator: torch.Generator, padded: bool = False) -> Window:
        """low (3, T, S, S) in [-1, 1], known (T, S, S) bool -> generated window.
        T must be 1 + k * time_factor and at most window_frames. `padded`: low's unknown pixels
        already hold the padding (interpolation's motion-compensated frames); else the task's
        padding rule fills them."""
        cond = (low.unsqueeze(0) if padded else condition_video(low.unsqueeze(0), known, task.padding_for(self.region))).to(self.device)
        how = sampling.resolve(task, self.region)
        z = self.encode(cond, how.refine, sharpness=TASK_SHARPNESS)  # (1, t, h, w)
        grid = tuple(z.shape[1:])
        with self.autocast(), self.clock("COMMIT steps"):
            cmask = condition_region(known, self.tf, self.sf, self.region).flatten().to(self.device)
            null = self.transformer.config.num_classes
            c = torch.tensor([null if cls is None else cls], device=self.device)
            out = commit.decode(self.transformer, z.flatten(1), cmask, torch.tensor([task.id], device=self.device), c,
                                steps=sampling.steps, schedule=sampling.schedule, temperature=how.temperature,
                                choice_temperature=sampling.choice_temperature, guidance=sampling.guidance,
                                generator=generator, grid=grid, return_probs=how.soft)
            tokens, probs = out if how.soft else (out, None)
        with self.autocast(), self.clock("detokenize"):
            def decode_soft(p):  # per-table distributions -> video of their expected codes
                codes = expected_codes(p)[0].T.reshape(1, -1, *grid)  # (1, bits, t, h, w)
                return self.tokenizer.decode_codes(codes).float().clamp(-1, 1)
            if probs is not None:
                video = decode_soft(probs)
            else:
                video = self.tokenizer.decode(tokens.view(1, *grid)).float().clamp(-1, 1)
            cond_rec = None
            if how.residual:
                # soft: the condition as the model would have it with the same confidence, so the
                # residual difference is zero wherever the model keeps the condition token
                cond_rec = (decode_soft(swap_argmax(probs, self.transformer.split(z.flatten(1)))) if probs is not None
                            else self.tokenizer.decode(z).float().clamp(-1, 1))[0].cpu()
        return Window(video[0].cpu(), cond_rec)

    def generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(seed)

    def lift(self, window: Window, t: int, cond_full: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        """Frame t of a generated window at full resolution. Residual windows: cond_full +
        up(decode(generated) - decode(condition tokens)): the tokenizer's own error cancels, and
        where the model keeps the condition tokens the full-resolution padding comes through
        untouched. Else up(generated). A condition frame with an alpha channel ((4, H, W): a run
        that keeps transparency) gives the frame its alpha: the padding's."""
        with self.clock("composite"):
            if window.residual:
                if cond_full is None:
                    raise ValueError("a residual window needs the full-resolution condition frame")
                rgb = (cond_full[:3] + resize(window.generated[:, t] - window.condition[:, t], size)).clamp(-1, 1)
            else:
                rgb = resize(window.generated[:, t], size).clamp(-1, 1)
            return rgb if cond_full is None or cond_full.shape[0] == 3 else torch.cat([rgb, cond_full[3:]])

    def window_length(self, frames: int) -> int:
        """Smallest 1 + k * time_factor >= frames (at most window_frames)."""
        return min(self.window_frames, 1 + math.ceil(max(frames - 1, 0) / self.tf) * self.tf)
