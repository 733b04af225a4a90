"""Training clips: random (3, T, S, S) crops in [-1, 1] with a class label.

Sources, mixable by weight:
- `synthetic`: needs no files. Moving shapes over a background whose class names the motion
  ("bounce", "orbit") and camera motion over a picture ("pan-left", "pan-right", "zoom-in",
  "zoom-out"). Pictures are the photos found in the data folders, or procedural textures.
- folders: videos (anything PyAV decodes) give random T-frame crops (random temporal stride
  1-2, random scale, crop, horizontal flip); images become clips by the same synthetic camera
  motion. Class labels come from the first sub-folder name under a data folder, when there are
  sub-folders, or from a `file,class` CSV (`labels`); otherwise clips are unlabelled (the
  transformer's "unconditional" class).

Decoded videos are held downscaled (short side at most 2 S) in a per-worker cache bounded in
bytes, so memory stays bounded whatever the folder holds.
"""
from __future__ import annotations

import filecmp
import glob
import math
import random
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import MagvitError, UsageError
from ..video import MEDIA_SUFFIXES, PHOTO_SUFFIXES, check_readable, is_wildcard, iter_frames

SYNTHETIC_CLASSES = ("bounce", "orbit", "pan-left", "pan-right", "zoom-in", "zoom-out")


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 127.5 - 1.0


def resize_short(x: torch.Tensor, short: int) -> torch.Tensor:
    """(C, T, H, W) -> short side `short`, antialiased."""
    h, w = x.shape[-2:]
    s = short / min(h, w)
    size = (max(short, round(h * s)), max(short, round(w * s)))
    if size == (h, w):
        return x
    return F.interpolate(x.transpose(0, 1), size=size, mode="bilinear", antialias=True, align_corners=False).transpose(0, 1)


def camera_clip(picture: torch.Tensor, frames: int, size: int, motion: str, rng: random.Random) -> torch.Tensor:
    """A (3, T, S, S) clip of a virtual camera panning or zooming over `picture` (3, H, W)."""
    h, w = picture.shape[-2:]
    zoom0 = rng.uniform(0.35, 0.8)  # crop size as a fraction of the picture's short side
    speed = rng.uniform(0.1, 0.45)  # total travel over the clip, fraction of the picture
    cx, cy = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
    thetas = []
    for t in range(frames):
        a = t / max(frames - 1, 1)
        z, x, y = zoom0, cx, cy
        if motion == "pan-left":
            x = cx + speed * (a - 0.5)
        elif motion == "pan-right":
            x = cx - speed * (a - 0.5)
        elif motion == "zoom-in":
            z = zoom0 * (1 - 0.5 * speed * 2 * a)
        elif motion == "zoom-out":
            z = zoom0 * (1 - 0.5 * speed * 2 * (1 - a))
        sx, sy = z * min(h, w) / w, z * min(h, w) / h
        thetas.append([[sx, 0, x * (1 - sx)], [0, sy, y * (1 - sy)]])
    theta = torch.tensor(thetas, dtype=torch.float32)
    grid = F.affine_grid(theta, (frames, 3, size, size), align_corners=False)
    src = picture.unsqueeze(0).expand(frames, -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="reflection", align_corners=False).transpose(0, 1)


def texture(size: int, rng: random.Random) -> torch.Tensor:
    """A smooth random colour texture (3, 2S, 2S) when no photos are at hand."""
    g = torch.Generator().manual_seed(rng.randrange(2 ** 31))
    low = torch.rand(1, 3, 6, 6, generator=g) * 2 - 1
    return F.interpolate(low, size=(2 * size, 2 * size), mode="bicubic", align_corners=False)[0].clamp(-1, 1)


def shapes_clip(background: torch.Tensor, frames: int, size: int, motion: str, rng: random.Random) -> torch.Tensor:
    """1-3 discs or squares that bounce off the walls or orbit a centre, over a still background."""
    clip = background.unsqueeze(1).repeat(1, frames, 1, 1)  # (3, T, S, S)
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    for _ in range(rng.randint(1, 3)):
        r = rng.uniform(0.08, 0.2) * size
        colour = torch.tensor([rng.uniform(-1, 1) for _ in range(3)]).view(3, 1, 1)
        square = rng.random() < 0.5
        x, y = rng.uniform(r, size - r), rng.uniform(r, size - r)
        vx, vy = rng.uniform(-1, 1) * size / 10, rng.uniform(-1, 1) * size / 10
        ox, oy, rad, w0 = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size, rng.uniform(0.15, 0.3) * size, rng.uniform(0, 6.28)
        dw = rng.choice([-1, 1]) * rng.uniform(0.15, 0.5)
        for t in range(frames):
            if motion == "orbit":
                x, y = ox + rad * math.cos(w0 + dw * t), oy + rad * math.sin(w0 + dw * t)
            if square:
                m = ((xx - x).abs() < r) & ((yy - y).abs() < r)
            else:
                m = (xx - x) ** 2 + (yy - y) ** 2 < r * r
            clip[:, t] = torch.where(m, colour, clip[:, t])
            if motion == "bounce":
                x, y = x + vx, y + vy
                if not r <= x <= size - r:
                    vx, x = -vx, min(max(x, r), size - r)
                if not r <= y <= size - r:
                    vy, y = -vy, min(max(y, r), size - r)
    return clip


def turn_colours(clip: torch.Tensor, rng: random.Random, saturate: float = 2.0) -> torch.Tensor:
    """(3, T, S, S) in [-1, 1] -> the same clip with its hues turned by a random angle about the
    grey axis and its saturation scaled by a random factor in [1, `saturate`], then clipped:
    footage of every hue and of strong colours, which the real clips (muted, much of it grey,
    green and brown) show too little of for a tokenizer to learn them."""
    angle = rng.uniform(0, 2 * math.pi)
    k = torch.full((3,), 1 / math.sqrt(3))  # the grey axis, unit length
    cross = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    turn = math.cos(angle) * torch.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * torch.outer(k, k)  # Rodrigues
    grey = clip.mean(0, keepdim=True)  # (1, T, S, S)
    chroma = torch.einsum("ij,jthw->ithw", turn, clip - grey) * rng.uniform(1.0, saturate)
    return (grey + chroma).clamp(-1, 1)


def read_labels(path: str | Path) -> dict[str, str]:
    """CSV rows `file,class` (a header row `file,class` is allowed) -> {file name or path: class}."""
    import csv
    out = {}
    if not Path(path).is_file():
        raise UsageError(f"--labels {path}: no such file")
    with open(path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if len(row) < 2 or (i == 0 and row[0].strip().lower() in ("file", "path", "filename")):
                continue
            out[row[0].strip()] = row[1].strip()
    if not out:
        raise UsageError(f"{path}: no file,class rows")
    return out


def _expand(paths: list[str | Path], flag: str) -> Iterator[Path]:
    """Each path, or where it does not exist and holds a wildcard (*, ?, [...]), the folders and
    the videos and images it matches ('clips/*.mp4' quoted, so that the shell leaves it; **
    spans folders)."""
    for path in map(str, paths):
        if Path(path).exists():
            yield Path(path)
        elif is_wildcard(path):
            matches = [Path(m) for m in sorted(glob.glob(path, recursive=True))]
            matches = [m for m in matches if m.is_dir() or m.suffix.lower() in MEDIA_SUFFIXES]
            if not matches:
                raise UsageError(f"{flag} {path}: matches no videos, images or folders".lstrip())
            yield from matches
        else:
            raise UsageError(f"{flag} {path}: no such file or folder".lstrip())


# Folders a system keeps beside the files (lower case): a Synology NAS's thumbnails ('@eaDir/clip.mp4/
# SYNOVIDEO_VIDEO_SCREENSHOT.jpg') and recycle bin, Windows' recycle bin and restore points, a Mac
# zip's resource forks, ext4's lost+found
SYSTEM_FOLDERS = {"@eadir", "#recycle", "#snapshot", "$recycle.bin", "system volume information", "__macosx", "lost+found"}


def _hidden(rel: Path) -> bool:
    """Whether a file under a data folder is hidden, or in a hidden or system folder: a Mac's
    AppleDouble twins ('._clip.mp4', which copying to an exFAT drive leaves beside every file),
    thumbnail caches ('.thumbnails/', a NAS's '@eaDir/'), recycle bins; they are no one's clips,
    and such a folder is no class."""
    return any(part.startswith(".") or part.lower() in SYSTEM_FOLDERS for part in rel.parts)


def list_media(folders: list[str | Path], labels: dict[str, str] | None = None,
               used: set[str] | None = None, flag: str = "--data") -> tuple[list[tuple[Path, int]], list[str]]:
    """Files under `folders` with a class id (-1: unlabelled). The class is the file's entry in
    `labels` (by path relative to its data folder, as a path from here, or by file name), else its
    first sub-folder.
    `used` is given the `labels` rows that named a file; `flag`: what the folders were given as,
    for the errors (a path that does not exist, a folder with no media)."""
    items, classes = [], []
    used = set() if used is None else used
    placed = {Path(k).resolve(): k for k in labels or {}}  # a row's file as a path from here ('clips/a.mp4', absolute)
    for root in _expand(folders, flag):
        files = [root] if not root.is_dir() else sorted(p for p in root.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES
                                                     and not _hidden(p.relative_to(root)))
        if not files:
            raise UsageError(f"{flag} {root}: no videos or images in it ({', '.join(sorted(MEDIA_SUFFIXES))})".lstrip())
        for f in files:
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            key = next((k for k in (rel.as_posix(), placed.get(f.resolve()), f.name) if k in (labels or {})), None)
            name = None if key is None else labels[key]
            if key is not None:
                used.add(key)
            if name is None and len(rel.parts) > 1:
                name = rel.parts[0]
            label = -1
            if name is not None:
                if name not in classes:
                    classes.append(name)
                label = classes.index(name)
            items.append((f, label))
    return items, classes


def _readable(items: list[tuple[Path, int]], warn: Callable[[str], None]) -> list[tuple[Path, int]]:
    """The items whose files open as a video or an image (video.check_readable: cheap, nothing
    decoded); the others are left out in one warning line. None opening is an error: a training
    run on the synthetic clips alone is not what --data asked for."""
    kept, bad = [], []
    for path, label in items:
        try:
            check_readable(path)
            kept.append((path, label))
        except MagvitError as e:
            bad.append(str(e))
    if bad and not kept:
        raise UsageError(f"--data: none of the {len(bad)} videos and images opens ({bad[0]})")
    if bad:
        warn(f"--data: {len(bad)} of {len(items)} files do not open and are left out: {'; '.join(bad[:3])}"
             + (f"; and {len(bad) - 3} more" if len(bad) > 3 else ""))
    return kept


def _say_nothing(_message: str) -> None:
    """ClipSource's warnings where nobody is told (a training process other than the first)."""


def _without(items: list[tuple[Path, int]], held_out: str | Path | None, warn: Callable[[str], None]) -> list[tuple[Path, int]]:
    """`items` less the files that hold the same bytes as `held_out` (--heldout, the video the
    held-out numbers are measured on: trained on, they would not be held out), said in a warning."""
    if held_out is None or not Path(held_out).is_file():
        return items
    held = Path(held_out)
    size = held.stat().st_size
    same = [(p, c) for p, c in items if p.stat().st_size == size and filecmp.cmp(p, held, shallow=False)]
    if same and len(same) == len(items):
        raise UsageError(f"--data holds nothing but --heldout {held_out}: give other videos to train on "
                         f"(the held-out numbers are measured on a clip the model has not seen)")
    if same:
        warn(f"--heldout {held_out} is also under --data ({', '.join(str(p) for p, _ in same[:3])}"
             f"{', ...' if len(same) > 3 else ''}): left out of training, so that the held-out numbers stay held out")
    return [item for item in items if item not in same]


class ClipSource:
    """Random clips from media files, plus the synthetic generator. Files that do not open are
    left out at the start (a warning line); one that fails to decode later is left out when it
    does (a warning line from the process that read it), and another is drawn."""

    def __init__(self, folders: list[str | Path], frames: int, size: int, synthetic_weight: float = 0.5,
                 cache_bytes: int = 512 * 2 ** 20, labels: str | Path | None = None, max_short: int | None = None,
                 warn: Callable[[str], None] | None = None, colour_turn: float = 0.0, held_out: str | Path | None = None):
        # colour_turn: share of clips whose hues are turned and saturation raised (turn_colours)
        self.colour_turn = colour_turn
        # max_short: videos are held at a short side of at most this, never upscaled (default: at
        # 2 x size, as the releases trained) and crops are drawn from frames resized to a short side
        # between size and that; a larger value shows crops nearer the footage's own scale (the
        # cache bound grows with the pixels it holds)
        self.warn = warn or _say_nothing  # a function of the module: the source goes to data workers by pickle
        rows, used = (read_labels(labels) if labels else None), set()
        items, self.folder_classes = list_media(folders, rows, used)
        if rows:
            unused = [k for k in rows if k not in used]
            if unused:
                self.warn(f"--labels {labels}: {len(unused)} of {len(rows)} rows name no file under --data "
                          f"(e.g. {unused[0]!r}): those rows are not used")
        items = _without(items, held_out, self.warn)
        kept = _readable(items, self.warn)
        # the classes some file that opens has, in their order; ids renumbered to them
        names = [n for i, n in enumerate(self.folder_classes) if any(c == i for _, c in kept)]
        self.items = [(p, names.index(self.folder_classes[c]) if c >= 0 else -1) for p, c in kept]
        self.folder_classes = names
        self.videos = [(p, c) for p, c in self.items if p.suffix.lower() not in PHOTO_SUFFIXES]
        self.images = [(p, c) for p, c in self.items if p.suffix.lower() in PHOTO_SUFFIXES]
        self.frames, self.size = frames, size
        self.max_short, self.upscale = max(size, max_short or 2 * size), max_short is None
        cache_bytes = int(cache_bytes * max(1.0, (self.max_short / (2 * size)) ** 2))
        self.synthetic_weight = synthetic_weight if self.items else 1.0
        self.cache: OrderedDict[Path, torch.Tensor] = OrderedDict()
        self.cache_bytes = cache_bytes
        self.class_offset = len(SYNTHETIC_CLASSES)  # folder classes come after the synthetic ones

    @property
    def class_names(self) -> list[str]:
        return list(SYNTHETIC_CLASSES) + self.folder_classes

    def _load(self, path: Path) -> torch.Tensor:
        if path in self.cache:
            self.cache.move_to_end(path)
            return self.cache[path]
        short = lambda f: self.max_short if self.upscale else max(self.size, min(self.max_short, *f.shape[:2]))
        frames = [resize_short(to_tensor(f[None]), short(f))[:, 0] for f in iter_frames(path)]
        x = torch.stack(frames, 1).to(torch.float16)  # (3, T, h, w)
        self.cache[path] = x
        while sum(v.numel() * 2 for v in self.cache.values()) > self.cache_bytes and len(self.cache) > 1:
            self.cache.popitem(last=False)
        return x

    def _drop(self, item: tuple[Path, int], e: MagvitError) -> None:
        """Leave out a file that failed to decode part-way (it opened at the start)."""
        for pool in (self.videos, self.images):
            if item in pool:
                pool.remove(item)
        self.warn(f"{e}; left out of training")

    def picture(self, rng: random.Random) -> torch.Tensor:
        while self.images and rng.random() < 0.8:
            item = rng.choice(self.images)
            try:
                return self._load(item[0])[:, 0].float()
            except MagvitError as e:
                self._drop(item, e)
        return texture(self.size, rng)

    def synthetic(self, rng: random.Random) -> tuple[torch.Tensor, int]:
        cls = rng.randrange(len(SYNTHETIC_CLASSES))
        motion = SYNTHETIC_CLASSES[cls]
        if motion in ("bounce", "orbit"):
            bg = camera_clip(self.picture(rng), 1, self.size, "still", rng)[:, 0]
            return shapes_clip(bg, self.frames, self.size, motion, rng), cls
        return camera_clip(self.picture(rng), self.frames, self.size, motion, rng), cls

    def video_clip(self, rng: random.Random) -> tuple[torch.Tensor, int]:
        while True:
            item = rng.choice(self.videos)
            try:
                v = self._load(item[0])
                break
            except MagvitError as e:
                self._drop(item, e)
                if not self.videos:
                    return self.synthetic(rng)
        label = item[1]
        stride = rng.choice([1, 1, 2])
        need = (self.frames - 1) * stride + 1
        if v.shape[1] < need:
            stride, need = 1, self.frames
        t0 = rng.randrange(0, max(1, v.shape[1] - need + 1))
        clip = v[:, t0:t0 + need:stride].float()
        if clip.shape[1] < self.frames:  # very short video: hold the last frame
            clip = torch.cat([clip, clip[:, -1:].expand(-1, self.frames - clip.shape[1], -1, -1)], 1)
        short = rng.randint(self.size, max(self.size, min(clip.shape[-2:])))
        clip = resize_short(clip, short)
        h, w = clip.shape[-2:]
        y, x = rng.randrange(h - self.size + 1), rng.randrange(w - self.size + 1)
        clip = clip[:, :, y:y + self.size, x:x + self.size]
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        return clip.clamp(-1, 1), (label + self.class_offset if label >= 0 else -1)

    def sample(self, rng: random.Random) -> tuple[torch.Tensor, int]:
        clip, label = self.synthetic(rng) if not self.videos or rng.random() < self.synthetic_weight else self.video_clip(rng)
        if self.colour_turn and rng.random() < self.colour_turn:
            clip = turn_colours(clip, rng)
        return clip, label


class RandomClips(IterableDataset):
    """Endless stream of {"video": (3, T, S, S), "label": int (-1 = none)}; each worker and rank
    draws from its own seed."""

    def __init__(self, source: ClipSource, seed: int = 0, rank: int = 0):
        self.source, self.seed, self.rank = source, seed, rank

    def __iter__(self):
        info = get_worker_info()
        wid = info.id if info else 0
        rng = random.Random(self.seed * 1000003 + self.rank * 1009 + wid)
        while True:
            video, label = self.source.sample(rng)
            yield {"video": video, "label": label}
