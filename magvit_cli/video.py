"""Reading and writing video with PyAV.

Frames are numpy (H, W, 3) RGB arrays: uint8, or for an input of more than 8 bits per component
read with `deep=True` uint16 on the full 0-65535 scale (written as 10-bit video or 16-bit PNG/TIFF).
Reading streams frame by frame; writing goes to a temporary file beside the target and is renamed
at the end, so an error or Ctrl-C never leaves a half-written output. The output's type follows
its name (CONTAINERS, IMAGE_CODECS). Audio is remuxed (copied without re-encoding) from a source
file when asked, or re-encoded where the output type does not hold it well (AUDIO_CODECS). Frame
rates are kept as exact fractions.
"""
from __future__ import annotations

import bisect
import contextlib
import dataclasses
import errno
import functools
import glob
import io
import itertools
import math
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import av
from av.subtitles.subtitle import SubtitleSet
import numpy as np

from . import hdr
from .errors import MagvitError, OutputAppeared, UsageError, at_exit, check_interrupt, interrupt_requested, signals_held

# Image outputs by suffix: the encoder and its pixel formats for 8-bit and for deep frames (None: 8 bits only)
IMAGE_CODECS = {".png": ("png", "rgb24", "rgb48be"), ".jpg": ("mjpeg", "yuvj444p", None), ".jpeg": ("mjpeg", "yuvj444p", None),
                ".bmp": ("bmp", "bgr24", None), ".tif": ("tiff", "rgb24", "rgb48le"), ".tiff": ("tiff", "rgb24", "rgb48le"),
                ".webp": ("libwebp", "yuv420p", None)}
IMAGE_SUFFIXES = set(IMAGE_CODECS)
HEIF_SUFFIXES = {".heic", ".heif", ".avif"}  # phone photos read (through the bundled ffmpeg), not written
PHOTO_SUFFIXES = IMAGE_SUFFIXES | HEIF_SUFFIXES  # what a folder's photos are named
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".gif",  # and its videos: also a
                  ".mts", ".m2ts", ".ts", ".3gp", ".3g2", ".wmv", ".flv", ".ogv", ".vob", ".mxf", ".dv", ".y4m"}  # camcorder's, old phone's, ...
MEDIA_SUFFIXES = VIDEO_SUFFIXES | PHOTO_SUFFIXES

# Matrix coefficients (AVColorSpace values) swscale can convert RGB into; others are not tagged.
_CONVERTIBLE_MATRICES = {1, 4, 5, 6, 7, 9}  # BT.709, FCC, BT.470BG, SMPTE 170M, SMPTE 240M, BT.2020 NCL
_UNSPECIFIED = 2  # for primaries, transfer and matrix alike; range 0 is unspecified


@dataclass(frozen=True)
class Colour:
    """The colour description of a stream (ffmpeg's enum values). The reader converts to RGB with
    the tagged matrix and range (PyAV does, from the decoded frame's tags); the writer converts
    back with the same ones and tags them, so a BT.709 full-range input comes out BT.709
    full-range, not silently re-labelled BT.601."""
    primaries: int = _UNSPECIFIED
    trc: int = _UNSPECIFIED
    matrix: int = _UNSPECIFIED
    range: int = 0  # 1: limited (MPEG), 2: full (JPEG)
    # HDR10 static metadata (the mastering display, SMPTE ST 2086, and the content light level) in
    # x265's notation, "master-display=G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min):max-cll=CLL,FALL"; "" where none
    hdr10: str = ""

    @classmethod
    def of(cls, frame: "av.VideoFrame", codec: str = "") -> "Colour":
        """`codec`: the decoder's name (some frames' side data cannot be read: _side_data)."""
        return cls(int(frame.color_primaries), int(frame.color_trc), int(frame.colorspace), int(frame.color_range),
                   _hdr10(frame, codec))

    @property
    def tagged(self) -> bool:
        return (self.primaries, self.trc, self.matrix, self.range) != (_UNSPECIFIED, _UNSPECIFIED, _UNSPECIFIED, 0)


# Decoders whose frames hold side data with a dictionary of its own (the PNG decoder names an ICC
# profile, which macOS screenshots and most exported PNGs carry): PyAV 18 wraps that dictionary as
# its own and frees it again after the frame has, a segmentation fault once both are gone. Their
# side data is never listed; a photo's orientation comes from its EXIF then (_exif_matrix).
_UNLISTED_SIDE_DATA = {"png", "apng"}


def _side_data(frame: "av.VideoFrame", codec: str):
    """A decoded frame's side data (PyAV's mapping by type); None where PyAV cannot list it: frames
    of a decoder in _UNLISTED_SIDE_DATA, or a photo with an EXIF block (a type newer than PyAV's
    table: it refuses the whole list)."""
    if codec in _UNLISTED_SIDE_DATA:
        return None
    try:
        return frame.side_data
    except ValueError:
        return None


def _hdr10(frame: "av.VideoFrame", codec: str = "") -> str:
    """A decoded frame's HDR10 static metadata (Colour.hdr10), from its side data (the HEVC SEI,
    or the container's mdcv/clli or Matroska colour elements, which FFmpeg hands on to frames).
    Read for HDR transfers only (PQ, HLG); "" where the side data cannot be read (_side_data)."""
    if not hdr.is_hdr(int(frame.color_trc)):
        return ""
    side, kind = _side_data(frame, codec), av.sidedata.sidedata.Type
    if side is None:
        return ""
    # by type (PyAV 18 iterates over the side data, 19 over their types)
    mastering, light = (bytes(sd) if (sd := side.get(t)) is not None else b""
                        for t in (kind.MASTERING_DISPLAY_METADATA, kind.CONTENT_LIGHT_LEVEL))
    parts = []
    if len(mastering) >= 88:
        v = np.frombuffer(mastering[:88], np.int32)  # AVMasteringDisplayMetadata: 10 rationals (R, G, B, white; min, max), 2 flags
        if v[20] and v[21]:  # x265 takes both the primaries and the luminance, or neither
            q = [Fraction(int(a), int(b)) if b else Fraction(0) for a, b in v[:20].reshape(10, 2)]
            xy = [round(c * 50000) for c in q[:8]]  # chromaticity in 0.00002 units, luminance in 0.0001 cd/m2
            (rx, ry, gx, gy, bx, by, wx, wy), lo, hi = xy, round(q[8] * 10000), round(q[9] * 10000)
            parts.append(f"master-display=G({gx},{gy})B({bx},{by})R({rx},{ry})WP({wx},{wy})L({hi},{lo})")
    if len(light) >= 8:
        cll, fall = np.frombuffer(light[:8], np.uint32)
        parts.append(f"max-cll={cll},{fall}")
    return ":".join(parts)


# ---------------------------------------------------------------------------- image sequences
# `frames/%04d.png` (ffmpeg's printf pattern) names an image sequence: its files, numbered in
# order, are the frames. Images carry no timing, so a sequence plays at SEQUENCE_FPS (ffmpeg's
# image2 default, 25) unless the command's --input-fps sets another; so does an elementary stream
# whose stream states no rate (ELEMENTARY_STREAMS), and a photo (what prediction animates it at).
DEFAULT_SEQUENCE_FPS = Fraction(25)
SEQUENCE_FPS = DEFAULT_SEQUENCE_FPS
INPUT_FPS_GIVEN = False  # --input-fps was given: an input with timing of its own says it keeps it (input_fps_unused)


def use_input_fps(input_fps: str | None) -> None:
    """The rate image sequences (and elementary streams without one of their own, and photos) are read at: --input-fps, else the default."""
    global SEQUENCE_FPS, INPUT_FPS_GIVEN
    SEQUENCE_FPS = DEFAULT_SEQUENCE_FPS if input_fps is None else parse_rate(input_fps, "--input-fps")
    INPUT_FPS_GIVEN = input_fps is not None


def input_fps_unused(info: "VideoInfo") -> str | None:
    """The warning for an input whose own timing --input-fps does not change (it was taken silently,
    as if it retimed the video), or None."""
    if not INPUT_FPS_GIVEN or info.untimed:
        return None
    return (f"{info.path} keeps its own {float(info.fps):.6g} fps: --input-fps is the rate of inputs with no timing of "
            "their own (image sequences, piped images, a bare .h264 stream, a photo to predict from)")


def parse_rate(text: str, flag: str) -> Fraction:
    """A frame rate as typed: a number or fraction. A decimal within 0.005 of an NTSC rate
    (k x 1000/1001: 23.976, 29.97, 59.94, ...) is that rate, as a video's own timing has it."""
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{flag} must be a number or fraction, got {text!r}") from None
    if rate <= 0:
        raise UsageError(f"{flag} must be > 0")
    ntsc = Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001)
    if "." in text and ntsc.denominator != 1 and abs(rate - ntsc) < Fraction(1, 200):
        return ntsc
    return rate


_NUMBER = re.compile(r"%(0?\d*)d")


def photo_suffix(path: str | Path) -> str:
    """The type a photo's edit is written as (outpaint, inpaint): the photo's own (.png, .jpg,
    ...), a JPEG for a phone's HEIF/AVIF (read, not written); a file without a known suffix (stdin)
    by its first bytes: a JPEG as JPEG, the rest as PNG (lossless)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return Path(path).suffix
    if suffix in HEIF_SUFFIXES:
        return ".jpg"
    with open(path, "rb") as f:
        return ".jpg" if f.read(3) == b"\xff\xd8\xff" else ".png"


def is_token_file(path) -> bool:
    """Whether an input is a token file (`tokenize`'s .safetensors), not a video."""
    return str(path).lower().endswith(".safetensors")  # as tokenize takes -o T.SafeTensors


def is_sequence(path: str | Path) -> bool:
    """Whether `path` is a printf pattern of numbered images (frames/%04d.png); a file of that very
    name is that file (a photo called 'score 100%d.png' was refused: no files match the pattern)."""
    return patterned(path) and Path(path).suffix.lower() in IMAGE_SUFFIXES and not Path(path).is_file()


def patterned(path: str | Path) -> bool:
    """Whether a file name holds one printf frame number (%d, %04d): as an output, a sequence."""
    return len(_NUMBER.findall(Path(path).name)) == 1


def sequence_match(pattern: str | Path, name: str) -> int | None:
    """The frame number when `name` is one of the pattern's files, else None."""
    head, tail = _NUMBER.split(Path(pattern).name)[0], _NUMBER.split(Path(pattern).name)[-1]
    m = re.fullmatch(re.escape(head) + r"(\d+)" + re.escape(tail), name)
    return int(m.group(1)) if m else None


def sequence_files(pattern: str | Path) -> list[Path]:
    """The files a printf pattern names, by frame number; the numbers must run without gaps."""
    pattern = Path(pattern)
    folder = pattern.parent
    if not folder.is_dir():
        raise UsageError(f"{pattern}: folder {folder} does not exist")
    found = sorted((m, folder / f.name) for f in folder.iterdir() if (m := sequence_match(pattern, f.name)) is not None)
    if not found:
        raise UsageError(f"{pattern}: no files match this image-sequence pattern")
    numbers = [n for n, _ in found]
    if numbers[-1] - numbers[0] + 1 != len(numbers):
        missing = next(n for a, n in zip(numbers, range(numbers[0], numbers[-1] + 1)) if a != n)
        raise UsageError(f"{pattern}: frame {missing} of the sequence {numbers[0]}..{numbers[-1]} is missing")
    return [f for _, f in found]


_NUMBERED = re.compile(r"(.*?)(\d+)(\D*)")  # a file name's last run of digits, with what surrounds it


def is_wildcard(path: str | Path) -> bool:
    """Whether a path is a glob pattern (`clips/*.mp4`, `f/img_0??.png`): what a shell left quoted."""
    return any(c in str(path) for c in "*?[")


def sequence_pattern(path: str | Path) -> str | None:
    """The printf pattern of the image sequence a name belongs to, for hints: an image whose
    folder holds more images numbered the same way (`f/0001.png` -> `f/%04d.png`), or a wildcard
    that matches such images (`f/*.png`); None when there is no such sequence."""
    path = Path(path)
    if is_wildcard(path.name):
        names = [Path(m) for m in sorted(glob.glob(str(path)))]
    elif path.parent.is_dir():
        key = _NUMBERED.fullmatch(path.name)
        names = [f for f in sorted(path.parent.iterdir()) if key and (m := _NUMBERED.fullmatch(f.name))
                 and (m.group(1), m.group(3)) == (key.group(1), key.group(3))]
    else:
        return None
    parts = [_NUMBERED.fullmatch(n.name) for n in names if n.suffix.lower() in IMAGE_SUFFIXES]
    if len(parts) < 2 or len(parts) < len(names) or None in parts or len({(m.group(1), m.group(3)) for m in parts}) > 1:
        return None
    widths = {len(m.group(2)) for m in parts}
    padded = len(widths) == 1 and any(m.group(2).startswith("0") for m in parts)
    number = f"%0{widths.pop()}d" if padded else "%d"
    return str(names[0].parent / f"{parts[0].group(1)}{number}{parts[0].group(3)}")


def sequence_hint(path: str | Path) -> str:
    """'; an image sequence is given by its pattern, quoted: 'f/%04d.png'' where `path` is one of
    a sequence's images or a wildcard over them (sequence_pattern), else ''."""
    pattern = sequence_pattern(path)
    return f"; an image sequence is given by its pattern, quoted: '{pattern}'" if pattern else ""


def sequence_stem(pattern: str | Path) -> str:
    """A name for outputs derived from a sequence: `shots/img_%04d.png` -> `img`, `f/%04d.png` -> `f`."""
    stem = _NUMBER.sub("", Path(pattern).stem).strip("._- ")
    return stem or Path(pattern).parent.resolve().name or "sequence"


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None  # None when the container does not say; trimmed: the frames in the span
    is_image: bool
    rotation: int = 0  # display rotation (degrees counter-clockwise) the container asks for: frames are read turned upright by it, width and height as displayed
    colour: Colour = Colour()  # primaries, transfer, matrix and range tags, kept on output
    depth: int = 8  # bits per component of the decoded frames (10 for HDR phone video, 16 for some PNGs)
    full_chroma: bool = False  # YUV 4:4:4 video: the output keeps full-resolution colour (else 4:2:0, what players expect)
    metadata: dict = field(default_factory=dict)  # the container's tags (title, creation_time, location, ...)
    sample_aspect: Fraction | None = None  # the pixels' shape where not square (DV, DVD, HDV: 720x480 shown 4:3), kept on output
    interlaced: bool = False  # frames hold two fields (DV, broadcast): processed as whole frames, moving edges comb
    start: Fraction = Fraction(0)  # when the video stream starts on the file's timeline (s): its offset to the audio is kept
    first: int = 0  # index of the first frame processed (trim: a --start)
    chapters: list = field(default_factory=list)  # the container's chapters (PyAV dicts: start, end, time_base, metadata)
    tracks: dict = field(default_factory=dict)  # audio, subtitle and attachment streams, each counted ({"audio": 2}): all are kept
    span: tuple[Fraction, Fraction | None] | None = None  # trimmed: [from, to) on the file's timeline (s), for the audio
    alpha: bool = False  # frames carry transparency (ProRes 4444, PNG with alpha): dropped, the output is opaque
    timecode: str | None = None  # the first frame's SMPTE timecode (HH:MM:SS:FF; ';' drop-frame), kept on output (shift_timecode)
    video_tags: dict = field(default_factory=dict)  # the video stream's TRACK_TAGS (its language, its title), kept on output
    other_video: int = 0  # video tracks besides the one processed (another angle, a second camera; not cover pictures): left out
    exact: bool = False  # trimmed by the frames' own times (a varying rate: _trim_by_times): span holds them exactly
    mirrored: bool = False  # the display matrix mirrors the picture (a selfie camera's, an editor's flip): read as shown
    untimed: bool = False  # its rate is SEQUENCE_FPS (--input-fps): an image sequence, a stream without timing, a photo

    @property
    def has_audio(self) -> bool:
        return "audio" in self.tracks

    @property
    def has_subtitles(self) -> bool:
        return "subtitles" in self.tracks


@dataclass(frozen=True)
class Span:
    """A part of an input by time, in seconds from its first frame: the frames shown at
    start <= t < end (end None: to the last)."""
    start: Fraction = Fraction(0)
    end: Fraction | None = None

    def __post_init__(self):
        if self.start < 0:
            raise UsageError(f"--start must be >= 0, got {_clock(self.start)}")
        if self.end is not None and self.end <= self.start:
            raise UsageError(f"--end {_clock(self.end)} is not after --start {_clock(self.start)}")


_UNITS = {"s": Fraction(1), "ms": Fraction(1, 1000), "us": Fraction(1, 10 ** 6)}  # of a plain number of seconds


def with_unit(text: str) -> Fraction | None:
    """Seconds given with their unit as ffmpeg takes them (12.5s, 500ms, 250000us); None for text without one."""
    unit = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*(s|ms|us)\s*", text.lower())
    return Fraction(unit[1]) * _UNITS[unit[2]] if unit else None


def parse_time(text: str, flag: str) -> Fraction:
    """Seconds as typed: 12.5, 1:02.5 or 1:02:03.25, or with a unit, 12.5s or 500ms (as ffmpeg's -ss
    takes them; '1s' was refused)."""
    try:
        if (seconds := with_unit(text)) is not None:
            if seconds < 0:
                raise ValueError
            return seconds
        parts = [Fraction(p) for p in text.strip().split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
            raise ValueError
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{flag} must be seconds (12.5, 12.5s, 500ms) or [HH:]MM:SS[.ms], got {text!r}") from None
    return sum((p * 60 ** i for i, p in enumerate(reversed(parts))), Fraction(0))


def _clock(t: Fraction) -> str:
    return f"{float(t):.3f}".rstrip("0").rstrip(".") + " s"


def trim(info: VideoInfo, span: Span) -> VideoInfo:
    """`info` narrowed to the frames of `span` (frame k shown at k / fps): their first index and
    count, and the span on the file's timeline, which the writer cuts the audio and subtitles to."""
    if info.is_image:
        raise UsageError(f"{info.path}: a still image has no time to take --start/--end from")
    got = None if is_sequence(info.path) else _demuxed(info.path)
    if got is not None and _off_grid(got.times, got.tick, info.fps):
        return _trim_by_times(info, span, got.times)
    first = math.ceil(span.start * info.fps)
    stop = None if span.end is None else math.ceil(span.end * info.fps)
    if info.frames is not None:
        if first >= info.frames:
            raise UsageError(f"{info.path}: --start {_clock(span.start)} is past its end ({info.frames} frames, "
                             f"{_clock(info.frames / info.fps)})")
        stop = info.frames if stop is None else min(stop, info.frames)
    t0 = info.start + first / info.fps
    return dataclasses.replace(info, first=first, frames=None if stop is None else stop - first,
                               span=(t0, None if stop is None else info.start + stop / info.fps))


def _trim_by_times(info: VideoInfo, span: Span, times: Sequence[Fraction]) -> VideoInfo:
    """`trim` where the frame rate varies (phone video in low light, screen recordings that hold a
    frame for seconds): the frames whose own times (sorted, the file's timeline) lie in the span,
    as ffmpeg's -ss/-to cut them, not those of the average rate's grid, which is a frame or more
    off there (its frame indices, which mask videos and --box tracks count, and the audio's
    cut with them). The span starts at the first frame kept, so the audio keeps in step with it."""
    a = times[0] + span.start
    b = None if span.end is None else times[0] + span.end
    first = bisect.bisect_left(times, a)
    stop = len(times) if b is None else bisect.bisect_left(times, b)
    if first == len(times):
        raise UsageError(f"{info.path}: --start {_clock(span.start)} is past its last frame (at {_clock(times[-1] - times[0])})")
    if stop == first:
        raise UsageError(f"{info.path}: no frame between {_clock(span.start)} and {_clock(span.end)} (its frame rate varies: "
                         f"the last before is at {_clock(times[first - 1] - times[0]) if first else 'none'}, "
                         f"the next at {_clock(times[first] - times[0])})")
    return dataclasses.replace(info, first=first, frames=stop - first, span=(times[first], b), exact=True)


def depth_of(frame: "av.VideoFrame") -> int:
    return max((c.bits for c in frame.format.components), default=8)


# Output types by suffix. Video: the container (ffmpeg's format name) and the encoder it gets
# when --codec is not given (images: IMAGE_CODECS).
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm", ".gif": "gif",
              ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts",  # MPEG-TS: broadcast, HLS; .m2ts/.mts: a camcorder's (192-byte packets)
              ".y4m": "yuv4mpegpipe",  # raw YUV frames: what x264, VMAF and research tools read
              ".apng": "apng"}  # an animated PNG: lossless, transparent, looping (stickers)
DEFAULT_CODECS = {".webm": "libvpx-vp9", ".gif": "gif", ".y4m": "wrapped_avframe", ".apng": "apng"}  # the rest: libx264 (10-bit into .mp4/.mov: libx265)
_FASTSTART = ("mp4", "mov")  # the index (moov) is moved before the media when the file closes, so a player streaming it starts at once
_HEVC_TAGGED = ("mp4", "mov")  # H.265 in these is tagged hvc1 (ffmpeg's default hev1 does not play on Apple devices)


def output_codec(path: str | Path, codec: str | None, lossless: bool = False, deep: bool = False) -> str:
    """The encoder a video output gets: --codec, or its container's default; lossless H.264 is
    its RGB variant (known pixels come back bit-exact). `deep` (more than 8 bits kept) into .mp4
    or .mov: H.265, as phones record 10-bit HDR; H.264's 10-bit profile plays in VLC and mpv but
    not on Apple devices, in browsers or in Windows' player."""
    if codec is None and deep and not lossless and CONTAINERS.get(Path(path).suffix.lower()) in _HEVC_TAGGED:
        return "libx265"
    codec = codec or DEFAULT_CODECS.get(Path(path).suffix.lower(), "libx264")
    return "libx264rgb" if lossless and codec == "libx264" else codec


def holds_aspect(path: str | Path, codec: str | None) -> bool:
    """Whether an output of this type keeps the tag of non-square pixels (VideoWriter._tag_aspect):
    not VP9 in Matroska/WebM (the muxer reads a stream field PyAV cannot set), BMP or WebP."""
    suffix = Path(path).suffix.lower()
    if suffix in (".bmp", ".webp"):
        return False
    return not (CONTAINERS.get(suffix) in ("matroska", "webm") and output_codec(path, codec) == "libvpx-vp9")


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
PRESET_CODECS = ("libx264", "libx265", "libx264rgb")  # the encoders --preset speaks to (x264's and x265's shared names)


def check_output(path: str | Path, codec: str | None, lossless: bool, preset: str | None = None, crf: bool = False) -> None:
    """An output's type is one this writer makes, and its container holds the encoder (tried in
    memory: nothing is written); a `preset` is one of PRESETS and its encoder takes presets; a
    --crf given (`crf`) goes to an encoder with a quality to set (CRF_ENCODERS), and --lossless
    to a type that stores every pixel. Cheap: the CLI checks every output before any work."""
    path = Path(path)
    suffix = path.suffix.lower()
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"--preset {preset}: one of {', '.join(PRESETS)}")
    if suffix in IMAGE_CODECS:
        if preset is not None:
            raise UsageError(f"--preset: {path} is an image; presets set a video encoder's speed")
        if lossless and IMAGE_CODECS[suffix][0] == "mjpeg":  # it was written lossy without a word
            raise UsageError(f"--lossless: {path} is a JPEG, which loses detail; .png, .webp or .tif keep every pixel")
        if crf and IMAGE_CODECS[suffix][0] not in CRF_ENCODERS:
            raise UsageError(f"--crf: {path} is stored losslessly ({suffix.lstrip('.').upper()}); --crf sets a lossy encoder's quality")
        return
    if suffix not in CONTAINERS:
        if not suffix and path.name.lower() in {*CONTAINERS, *IMAGE_CODECS}:  # `-o .mp4`: a hidden file's name, no type
            raise UsageError(f"{path}: a name with no type ({path.name} alone is a hidden file's name); name it like out{path.name}")
        raise UsageError(f"{path}: unknown output type {suffix or '(no suffix)'}; use {', '.join(CONTAINERS)}, "
                         f"an image ({', '.join(IMAGE_CODECS)}) or a sequence like out/%04d.png")
    codec = output_codec(path, codec, lossless)
    shown = {"wrapped_avframe": "raw frames"}.get(codec, codec)
    try:  # first: an unknown --codec is named as such, before what it would be asked to do
        _holds(CONTAINERS[suffix], codec)
    except (ValueError, av.FFmpegError) as e:  # an unknown encoder, or one the container does not hold
        if "format does not support" not in str(e):
            raise UsageError(f"--codec {codec}: no such encoder") from None
        raise UsageError(f"{path}: {e}{_held_by(suffix, codec)}") from None
    if CONTAINERS[suffix] in RAW_ONLY and codec not in RAW_ONLY[CONTAINERS[suffix]]:  # the muxer refused it as the output opened
        raise UsageError(f"{path}: {suffix} holds raw frames only, not {codec}{_held_by(suffix, codec)}")
    if lossless and codec != "libx264rgb":
        raise UsageError(f"--lossless is RGB H.264 (libx264); {path} is written with {shown}")
    if preset is not None and codec not in PRESET_CODECS:
        raise UsageError(f"--preset sets H.264/H.265's speed (libx264, libx265); {path} is written with {shown}, which has none")
    if crf and codec not in CRF_ENCODERS:  # it was ignored without a word
        raise UsageError(f"--crf sets a lossy encoder's quality; {path} is written with {shown}, which has none to set")


RAW_ONLY = {"yuv4mpegpipe": ("wrapped_avframe", "rawvideo")}  # containers whose muxer takes uncompressed frames alone


def _held_by(suffix: str, codec: str) -> str:
    """'; an output named .mov, .mkv or .mp4 holds it': the general containers other than `suffix`'s that hold `codec`."""
    holders = [s for s in _GENERAL if CONTAINERS[s] != CONTAINERS[suffix] and _held(CONTAINERS[s], codec)]
    return f"; an output named {', '.join(holders[:-1])}{' or ' * (len(holders) > 1)}{holders[-1]} holds it" if holders else ""


def _reason(e: av.FFmpegError) -> str:
    """FFmpeg's words for an error, without the call or the file PyAV adds (the writer's hidden
    temporary name, 'avcodec_open2("libx264", {...})'): 'Generic error in an external library'."""
    return e.strerror or str(e)


_GENERAL = (".mov", ".mkv", ".mp4", ".webm", ".avi")  # the containers an output refused its --codec is pointed to


def _holds(container: str, codec: str) -> None:
    """Raises where `container` (an FFmpeg format name) cannot hold `codec`'s stream (or there is no such encoder)."""
    with av.open(io.BytesIO(), "w", format=container) as c:
        c.add_stream(codec, rate=25)


def _held(container: str, codec: str) -> bool:
    try:
        _holds(container, codec)
        return True
    except (ValueError, av.FFmpegError):
        return False


TEN_BIT_ENCODERS = ("prores_ks", "prores")  # encoders --codec names that write 10 bits and nothing less (editors' intermediates)
# Encoders --codec names that keep 10 bits of deeper input (8-bit input stays 8-bit), with the pixel
# format and settings they take it in. (The bundled VP9 has no 10-bit build.)
DEEP_ENCODERS = {
    "libsvtav1": ("yuv420p10le", {}),  # AV1 Main 10
    "dnxhd": ("yuv422p10le", {"profile": "dnxhr_hqx"}),  # DNxHR HQX: the 10-bit 4:2:2 intermediate editors take
    "ffv1": ("yuv420p10le", {}),  # archives (4:4:4 input: yuv444p10le)
    "wrapped_avframe": ("yuv420p10le", {}),  # .y4m's raw frames (4:4:4 input: yuv444p10le)
}
# PNG video (.apng, --codec png in a .mov) keeps deeper input at 16 bits RGB: (without alpha, with it)
DEEP_RGB_ENCODERS = {"apng": ("rgb48be", "rgba64be"), "png": ("rgb48be", "rgba64be")}


def holds_hdr(path: str | Path) -> bool:
    """Whether an output keeps HDR video as it is (its code values and transfer tags): video
    containers do; a GIF, an animated PNG (no HDR tag: its code values were shown as SDR, grey), a
    WebP or a photo holds SDR only (hdr.to_sdr makes it that)."""
    return CONTAINERS.get(Path(path).suffix.lower()) not in (None, "gif", "apng")


def deep_output(path: str | Path, codec: str | None, lossless: bool, alpha: bool = False) -> bool:
    """Whether the writer keeps more than 8 bits for this output: PNG and TIFF images and PNG video
    (16-bit RGB; an animated PNG without transparency only: FFmpeg's encoder blends 16-bit RGBA
    frames, which its decoder refuses) and lossy H.264/H.265, ProRes and DEEP_ENCODERS (10-bit YUV)
    do; lossless RGB H.264, JPEG and other encoders are 8-bit. `alpha`: the frames keep theirs."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_CODECS:
        return IMAGE_CODECS[suffix][2] is not None
    encoder = output_codec(path, codec)
    return encoder in ("libx264", "libx265") and not lossless or codec in TEN_BIT_ENCODERS \
        or encoder in DEEP_ENCODERS or encoder in DEEP_RGB_ENCODERS and not (alpha and encoder == "apng")  # (a .y4m's own raw frames too)


# Encoders --codec names that keep transparency, and the pixel format they take it in
ALPHA_ENCODERS = {"prores_ks": "yuva444p10le", "prores": "yuva444p10le", "qtrle": "argb", "png": "rgba",
                  "libvpx-vp9": "yuva420p", "apng": "rgba",  # (VP9: .webm's own, which browsers play transparent)
                  "ffv1": "yuva420p"}  # (FFV1: lossless, in .mkv or .avi; its chroma and depth as without alpha, _with_alpha)
# Image types that hold transparency, and the pixel formats for 8-bit and deep frames with it (None: 8 bits only)
ALPHA_IMAGES = {".png": ("rgba", "rgba64be"), ".tif": ("rgba", "rgba64le"), ".tiff": ("rgba", "rgba64le"),
                ".webp": ("yuva420p", None)}


def alpha_output(path: str | Path, codec: str | None, lossless: bool) -> bool:
    """Whether an output keeps transparency: PNG, TIFF and WebP (still, animated, or a sequence), a
    GIF (each pixel see-through or not), VP9 (.webm, as browsers play it transparent), and ProRes 4444,
    QuickTime Animation or PNG video (--codec prores_ks, qtrle or png in a .mov). H.264 and H.265 hold none."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_CODECS:
        return suffix in ALPHA_IMAGES
    return output_codec(path, codec, lossless) in (*ALPHA_ENCODERS, "gif")


def start_of(stream) -> Fraction:
    """When a stream starts on its file's timeline, in seconds (0 when the file does not say)."""
    return Fraction(stream.start_time) * stream.time_base if stream.start_time is not None and stream.time_base else Fraction(0)


_URL = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]+):/+(.+)")  # https://..., rtsp://... (a drive letter, C:/, is one letter)


def check_input(path: str | Path) -> None:
    """The checks an input passes before it is opened: it exists, is a file this user may read and is not empty (an
    image sequence: its files run without gaps). Cheap: the CLI checks every input before any work."""
    path = Path(path)
    if is_sequence(path):
        sequence_files(path)
        return
    if not path.exists():
        url = _URL.match(str(path))
        if url:  # the path has folded its // into /
            url, web = f"{url[1]}://{url[2]}", url[1].lower() in ("http", "https", "ftp")
            how = f"curl -sL '{url}' | magvit COMMAND - -o OUT" if web else f"ffmpeg -i '{url}' -t 60 -c copy clip.mkv"
            raise UsageError(f"{url}: a URL, and inputs are files: " + (f"download it first, or pipe it in ({how})" if web
                             else f"record it to a file first ({how})"))
        hint = sequence_hint(path) if is_wildcard(path.name) else ""
        raise UsageError(f"{path}: no such file" + (" (a wildcard is not expanded here)" + hint if hint else ""))
    if path.is_dir():
        media = sorted(f for f in path.iterdir() if f.suffix.lower() in MEDIA_SUFFIXES and not f.name.startswith("."))
        hint = (f"; it holds {len(media)} videos or images: give them as {path / '*'}" if len(media) > 1 else
                f"; it holds {media[0].name}: give it as {media[0]}" if media else "")
        runs: dict[tuple, list[Path]] = {}  # numbered images by what is around the number
        for f in media:
            if f.suffix.lower() in IMAGE_SUFFIXES and (m := _NUMBERED.fullmatch(f.name)):
                runs.setdefault((m.group(1), m.group(3)), []).append(f)
        pattern = sequence_pattern(max(runs.values(), key=len)[0]) if runs else None
        if pattern:  # a render's or ffmpeg's frames: one video, not each frame a photo
            hint = f"; its numbered images are one video, given by their pattern, quoted: '{pattern}' (each file on its own: {path / '*'})"
        raise UsageError(f"{path}: is a directory, expected a video or image file{hint}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: permission denied (not readable by this user)")
    if stat.S_ISFIFO(path.stat().st_mode):  # where the command does not read it whole first (pipes.is_stream)
        raise UsageError(f"{path}: a pipe, which this command cannot read more than once: give a file")
    if path.stat().st_size == 0:
        raise UsageError(f"{path}: file is empty")


def _named(folder: Path) -> str:
    """A folder as an error message names it: '.' as the current folder, with its path."""
    return f"the current folder, {Path.cwd()}," if str(folder) == "." else str(folder)


_OUTPUT_FLAGS = "-o or --out-dir"  # a task's output: named by either


def check_folder(path: str | Path, create: bool = False, flag: str = _OUTPUT_FLAGS, name: str | None = None) -> None:
    """The folder an output goes to exists and this process may create files in it (the writer
    makes its temporary file there; a folder on a read-only mount, a camera card or another
    user's, failed naming that temporary file, after the model had loaded). `create`: the folder
    may be missing (--out-dir, made before the work starts) where its nearest existing parent
    takes new entries. `flag` is the option to change, `name` what the message starts with (the
    output's path). Cheap: the CLI checks every output before any work."""
    folder = Path(path).parent
    have = folder
    who = name or (f"{flag} {path}" if flag != _OUTPUT_FLAGS else None)  # an option's own output names it
    if not folder.is_dir():
        have = next(p for p in (folder, *folder.parents) if p.exists())
        if not create:
            raise UsageError(f"{who}: folder {folder} does not exist" if who else f"output folder {folder} does not exist")
        if not have.is_dir():
            raise UsageError(f"{who or f'--out-dir {folder}'}: {have} is a file, not a folder")
    if not os.access(have, os.W_OK | os.X_OK):
        where = f"cannot write in {_named(have)}" if have == folder else f"cannot make {folder} in {_named(have)}"
        raise UsageError(f"{name or path}: {where} (permission denied or read-only); choose another {flag}")


def check_name(path: str | Path) -> None:
    """The output's file name fits its file system's limit (255 bytes on most): a long input's
    name plus `.interpolate.mp4` passed it and failed as an OSError naming nothing to do."""
    path = Path(path)
    size = len(os.fsencode(path.name))
    try:
        limit = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if size > limit:
        raise UsageError(f"{path}: its file name is {size} bytes, more than the {limit} a name may have here; "
                         "choose a shorter one with -o")


TEMP_STEM = 64  # characters of an output's name its temporary file's name starts with
CLAIM_FRESH_S = 600  # another machine's temporary file (a shared folder) counts as a live run's this long after its last write


def _host() -> str:
    """This machine's name as a temporary file's name carries it: letters, digits and hyphens."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]


def _writer_tag() -> str:
    """Who writes a temporary file, in its name: this machine and process ('host~1234~'), so that
    another run can tell a live run's output in the making from one a killed run left (being_written)."""
    return f"{_host()}~{os.getpid()}~"


def _temp_prefix(stem: str) -> str:
    return f".{stem[:TEMP_STEM]}.{_writer_tag()}"


CLAIM_MARK = ".claim"  # in the name of a --skip-existing run's claim on an output (claim), before the output's type


def claim(path: str | Path) -> Path | None:
    """This run's claim on the output `path` (--skip-existing): an empty hidden file beside it, named as
    the writer's temporary files are (being_written finds it), made before any work: two runs over
    one folder started together both did their first input, each claiming it only once its model had
    loaded and its writer opened. None, and no claim left, where another live run claimed it first
    (of two made at the same moment, the one with the earlier time, then name, stands)."""
    path = Path(path)
    sequence = is_sequence(path)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(sequence_stem(path) if sequence else path.stem),
                                suffix=CLAIM_MARK + ("" if sequence else path.suffix), dir=path.parent)
    os.close(fd)
    mine = Path(name)
    if being_written(path, mine) is not None:
        mine.unlink(missing_ok=True)
        return None
    return mine


def _claim_key(f: Path) -> tuple[int, str]:
    return f.stat().st_mtime_ns, f.name


def being_written(path: str | Path, mine: Path | None = None) -> Path | None:
    """Another live run's temporary file for the output `path` (its name says whose: _writer_tag), or
    None: `--skip-existing` leaves that input to it (one job per GPU over one folder splits the
    work). A run on this machine is live while its process is; one on another (a shared folder)
    while its file was written in the last CLAIM_FRESH_S. A killed run's leftover claims nothing.
    `mine`: this run's claim (claim); another's made after it does not count."""
    path = Path(path)
    stem = (sequence_stem(path) if is_sequence(path) else path.stem)[:TEMP_STEM]
    pattern = re.compile(rf"\.{re.escape(stem)}\.([A-Za-z0-9-]*)~(\d+)~.*{re.escape('' if is_sequence(path) else path.suffix)}$")
    here = _host()
    try:
        found = [(f, m) for f in path.parent.iterdir() if (m := pattern.fullmatch(f.name)) and f != mine]
        if mine is not None:  # (a claim gone meanwhile was another run's that finished: its output is said as it is)
            after = _claim_key(mine)
            found = [(f, m) for f, m in found if CLAIM_MARK not in f.name or not _later(f, after)]
    except OSError:  # no folder yet: nothing written there
        return None
    for f, m in found:
        host, pid = m.group(1), int(m.group(2))
        if host == here and os.name == "posix":  # (Windows' os.kill(pid, 0) would stop the process)
            if pid != os.getpid() and _alive(pid):
                return f
        else:
            with contextlib.suppress(OSError):
                if time.time() - f.stat().st_mtime < CLAIM_FRESH_S:
                    return f
    return None


def _later(f: Path, key: tuple[int, str]) -> bool:
    """Whether the claim `f` was made after the one of `key` (_claim_key); one gone counts as later (it claims nothing)."""
    try:
        return _claim_key(f) > key
    except OSError:
        return True


def _alive(pid: int) -> bool:
    """Whether process `pid` of this machine runs (POSIX: signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def move_into_place(tmp: Path, path: Path, existed: bool) -> None:
    """Move a finished temporary file to its output `path`. An output that was not there when the
    run began (`existed`; one that was, the CLI let through with --force) and is now, another run's
    or a file saved there meanwhile, is not replaced: the run fails naming it, rather than lose it.
    Atomic where the file system makes hard links (a link refuses a taken name), else checked just
    before the move (FAT, exFAT)."""
    if existed:
        tmp.replace(path)
        return
    try:
        os.link(tmp, path)
        tmp.unlink()
        return
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system
        if not path.exists():
            tmp.replace(path)
            return
    raise OutputAppeared(f"{path}: a file of that name appeared while this run worked (another run's?); "
                         "it is left as it is, and this run's output was not written")


def temp_file(path: str | Path) -> Path:
    """A new hidden file beside `path` to write the output in before it is moved into place (a
    failed run leaves nothing half-written): named after the output (its first TEMP_STEM
    characters, so that a name near the limit still leaves room) and made unique."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.stem), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_file(path: str | Path, data: bytes, existed: bool = True, tmp: Path | None = None) -> Path:
    """A file made whole or not at all (token files, weights, checkpoints): `data` written to a
    temporary file beside `path` (`tmp`: one temp_file made at the start of the work, which claims
    the output meanwhile: being_written), given the shared mode and moved into place
    (move_into_place; `existed` False: not over a file another run made meanwhile). A full disk or
    quota is a one-line error naming `path` (safetensors and torch.save reported it as their own
    errors, and left their half-written file behind); the temporary file is removed either way."""
    path = Path(path)
    tmp = tmp or temp_file(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        share(tmp)
        move_into_place(tmp, path, existed)
    except OSError as e:
        if e.errno in FULL:
            raise MagvitError(f"{path}: {os.strerror(e.errno).lower()}; nothing was written") from e
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


# A file's tags are bytes to FFmpeg; PyAV decodes them as UTF-8 and refused the whole file where one
# was not (a title in Latin-1 from an old Windows tool or a camera: "not a readable video"). Bytes
# that are not UTF-8 are carried as surrogates and written back as the same bytes, as ffmpeg copies
# them; shown_text makes them printable.
TAG_ERRORS = "surrogateescape"


def tag_options(version: str) -> dict:
    """av.open's arguments for TAG_ERRORS under PyAV `version`: 19 reads tags so itself and takes
    no such argument (a TypeError: every file failed to open)."""
    return {} if int(version.split(".")[0]) >= 19 else {"metadata_errors": TAG_ERRORS}


_TAG_OPTIONS = tag_options(av.__version__)


def av_open(path: str | Path, mode: str = "r", **kw):
    """av.open with the file's tags read (and written) as they are (TAG_ERRORS)."""
    return av.open(str(path), mode, **_TAG_OPTIONS, **kw)


def shown_text(text: str) -> str:
    """A tag as read (TAG_ERRORS) made printable: bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", TAG_ERRORS).decode("utf-8", "replace")


def _open(path: str | Path):
    path = Path(path)
    check_input(path)
    if path.suffix.lower() == ".safetensors":  # FFmpeg's 'invalid data' said nothing of what it is
        raise UsageError(f"{path}: a .safetensors file, not a video: `magvit reconstruct` decodes a token file "
                         "(from `magvit tokenize`), and weights go to --weights")
    readable = _decodable(path)
    try:
        container = av_open(readable)
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as e:
        why = getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"  # FFmpeg's reason, without its errno and the path again
        raise UsageError(f"{path}: not a readable video or image ({why[:1].lower() + why[1:]})") from None
    if not container.streams.video:
        container.close()
        raise UsageError(f"{path}: has no video stream")
    return container


def check_readable(path: str | Path) -> None:
    """The input opens as a video or an image with a video stream (UsageError naming why not);
    nothing is decoded: cheap enough to ask of every file of a training folder."""
    _open(path).close()


COVER_TYPES = {"mjpeg": ("image/jpeg", ".jpg"), "png": ("image/png", ".png")}  # a cover picture's MIME type and suffix, by codec


def is_cover(stream) -> bool:
    """Whether a video stream is a cover picture (attached_pic: an MP4's covr, a Matroska image
    attachment), not a film."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def covers(c: "av.container.InputContainer") -> list[tuple["av.stream.Stream", bytes]]:
    """A file's cover pictures (JPEG or PNG ones, as taggers and yt-dlp embed them), each with its
    picture: the one packet FFmpeg hands out for it as the file opens."""
    pics = [s for s in c.streams.video if is_cover(s) and s.codec_context is not None and s.codec_context.name in COVER_TYPES]
    got: dict[int, bytes] = {}
    wanted = {s.index for s in pics}
    for pkt in c.demux() if pics else ():  # the pictures come first; a film's packet means none more will
        if pkt.stream.index not in wanted or pkt.stream.index in got or not pkt.size:
            break
        got[pkt.stream.index] = bytes(pkt)
    return [(s, got[s.index]) for s in pics if s.index in got]


def main_video(c: "av.container.InputContainer") -> "av.video.stream.VideoStream":
    """The video stream a file is about, as FFmpeg picks it (av_find_best_stream): not a cover
    picture stored as a video stream ahead of it (Matroska, MP4 from taggers)."""
    return c.streams.best("video") or c.streams.video[0]


def snap_rate(rate: Fraction) -> Fraction:
    """A container's frame rate read back from a frame duration rounded to the nanosecond (Matroska
    stores whole nanoseconds, and FFmpeg reduces the rate to a fraction of terms up to 30000: 60000/1001
    fps reads back as 19001/317) as the rate it was written at: the NTSC rate (k x 1000/1001) or whole
    number whose frame lasts within 10 ns as long (29.97 exactly, a camera's, differs by 33 ns)."""
    for near in (Fraction(round(rate * Fraction(1001, 1000)) * 1000, 1001), Fraction(round(rate))):
        if near > 0 and abs(1 / rate - 1 / near) <= Fraction(1, 10**8):
            return near
    return rate


_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def _nominal(fps: Fraction) -> int:
    """The frames a second a timecode counts: 30 for 29.97 fps, 24 for 23.976, ..."""
    return max(1, round(fps))


def _dropped(rate: int) -> int:
    """Frame numbers a drop-frame timecode skips at each minute but every tenth: 2 at 30, 4 at 60."""
    return round(rate / 15)


def _timecode_frames(tc: str, rate: int, drop: bool | None = None) -> int | None:
    """A timecode as frames from 00:00:00:00 at `rate` timecode frames a second, drop-frame where
    its last separator is ';' or '.' (or as `drop` says: False reads a drop-frame label as the
    clock time it shows); None where it is not one."""
    m = _TIMECODE.match(tc.strip())
    if m is None:
        return None
    hh, mm, ss, ff = int(m[1]), int(m[2]), int(m[3]), int(m[5])
    if mm > 59 or ss > 59 or ff >= rate:
        return None
    n = (hh * 3600 + mm * 60 + ss) * rate + ff
    if (m[4] in ";.,") if drop is None else drop:
        minutes = 60 * hh + mm
        n -= _dropped(rate) * (minutes - minutes // 10)
    return n


def _timecode_text(n: int, rate: int, drop: bool) -> str:
    """Frames from 00:00:00:00 as a timecode at `rate` (drop-frame: ';', frame numbers skipped)."""
    if drop:
        d = _dropped(rate)
        per10, per1 = rate * 600 - 9 * d, rate * 60 - d
        tens, rest = divmod(n, per10)
        n += 9 * d * tens + (d * ((rest - d) // per1) if rest > d else 0)
    ff, secs = n % rate, n // rate
    return f"{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}{';' if drop else ':'}{ff:02d}"


def shift_timecode(tc: str | None, fps_in: Fraction, fps_out: Fraction, skipped: int = 0) -> str | None:
    """The timecode of an output's first frame, from the input's: moved on by the `skipped` input
    frames a trim leaves out, and counted at the output's rate (interpolation x2 of 29.97 fps:
    frame 04 becomes 08 at 59.94). Drop-frame stays drop-frame where the output's rate is an NTSC
    rate (k x 1000/1001) too; elsewhere its label is read as the clock time it shows."""
    m = _TIMECODE.match(tc.strip()) if tc else None
    if m is None:
        return None
    r_in, r_out = _nominal(fps_in), _nominal(fps_out)
    drop = m[4] in ";.," and fps_out.denominator == 1001 and r_out % 30 == 0
    n = _timecode_frames(tc, r_in, drop=drop)
    if n is None:
        return None
    return _timecode_text(round((n + skipped) * Fraction(r_out, r_in)), r_out, drop)


def _edited(path: Path, c: "av.container.InputContainer") -> bool:
    """Whether an MP4/MOV opens with frames its edit list hides (a cut copied without re-encoding
    keeps the keyframe before it): its stated frame count includes them, so it is not the count."""
    if "mov" not in c.format.name:
        return False
    with av_open(path) as again:
        first = next((p for p in again.demux(main_video(again)) if p.size), None)
    return first is not None and first.is_discard


def _per_file(fn):
    """fn(path) worked out once while the file stays the same (its path, modification time and
    size: a run's probe, count and reads all ask), for the last few files."""
    cached = functools.lru_cache(maxsize=8)(lambda path, mtime_ns, size, *more: fn(Path(path), *more))

    @functools.wraps(fn)
    def once(path: str | Path, *more):
        st = Path(path).stat()
        return cached(str(path), st.st_mtime_ns, st.st_size, *more)
    return once


def _timed_rate(path: Path) -> Fraction | None:
    """The average frame rate from the frames' own times, where FFmpeg's is a guess from the first
    few: a GIF's delays (3, 3, 4 cs at 30 fps read as 33.3 fps; a held frame not counted) and a
    Matroska/WebM file whose frames keep off the rate it names (a browser's MediaRecorder, with no
    duration and a varying rate, read as the first frames' 30 fps: 3.5 s said 3.0; a variable-rate
    .mkv's default frame duration: 0.8 s for 1.5). Not one whose frames keep to its rate (ffmpeg
    piping Matroska has no duration: its 29.97 fps, timed to the millisecond, read as 30). Frames over the time from the first to the end of
    the last (its duration where the file gives one, else the mean gap), from the packets the run
    reads once (_demuxed); None where they give no times."""
    got = _demuxed(path)
    if got is None or len(got.times) < 2 or got.times[-1] <= got.times[0]:
        return None
    n, first, last = len(got.times), got.times[0], got.times[-1]
    span = got.end - first if got.end > last else (last - first) * n / (n - 1)
    return snap_rate(n / span)


def _animated_webp(path: Path) -> bool:
    """Whether a WebP file is animated: its VP8X header's animation flag (RIFF....WEBPVP8X, flags at byte 20)."""
    try:
        with open(path, "rb") as f:
            head = f.read(21)
    except OSError:
        return False
    return len(head) == 21 and head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and bool(head[20] & 0x02)


def _decodable(path: Path) -> Path:
    """The file PyAV reads for `path`: an animated WebP or a HEIF photo as the bundled ffmpeg's
    copy of it (_ffmpeg_copy), anything else as it is."""
    suffix = path.suffix.lower()
    if suffix == ".webp" and _animated_webp(path):
        return _ffmpeg_copy(path, "an animated WebP", ".mkv", "-c:v", "ffv1")  # lossless, each frame's time kept
    if suffix in HEIF_SUFFIXES and _heif_photo(path):
        return _ffmpeg_copy(path, "a HEIF photo", ".png")  # 16-bit where the photo is deeper
    return path


@_per_file
def _heif_photo(path: Path) -> bool:
    """Whether a HEIF file is a photo, not an image sequence (an animated AVIF: a stream of frames
    beside its still one, which PyAV reads as the video it is)."""
    try:
        with av_open(path) as c:
            return not any((s.frames or 0) > 1 for s in c.streams.video)
    except (av.FFmpegError, UnicodeDecodeError, ValueError):
        return True  # the copy says what is wrong with it


def run_ffmpeg(args: Sequence[str], what: str, check: bool = False) -> "subprocess.CompletedProcess":
    """The ffmpeg imageio-ffmpeg brings (or the one IMAGEIO_FFMPEG_EXE names) run with `args`, its errors
    captured; `what` needs it. One that does not run (none for this platform, a wrong IMAGEIO_FFMPEG_EXE)
    is a one-line error in those words, not a FileNotFoundError; with `check`, so is a failed run."""
    import imageio_ffmpeg
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
        done = subprocess.run([exe, "-v", "error", "-nostdin", *args], capture_output=True, text=True)
    except (OSError, RuntimeError) as e:
        raise MagvitError(f"{what} needs ffmpeg, which did not run ({e}); imageio-ffmpeg brings one "
                          f"(pip install imageio-ffmpeg), IMAGEIO_FFMPEG_EXE names another") from None
    if check and done.returncode != 0:
        raise MagvitError(f"{what}: ffmpeg failed ({(done.stderr.strip().splitlines() or ['no message'])[-1]})")
    return done


@_per_file
def _ffmpeg_copy(path: Path, what: str, suffix: str, *args: str) -> Path:
    """`path` written by the ffmpeg imageio-ffmpeg brings, which reads what the FFmpeg inside PyAV
    does not (an animated WebP; a HEIF photo's tiles joined and turned upright, as a phone stores
    it), once a process, into a temporary folder removed when the process ends."""
    with signals_held():  # made and remembered together
        folder = Path(tempfile.mkdtemp(prefix="magvit-copy."))
        at_exit(shutil.rmtree, folder, True)
    out = folder / f"{path.stem}{suffix}"
    done = run_ffmpeg(["-i", str(path), *args, str(out)], f"{path}: reading {what}")
    if done.returncode != 0 or not out.exists():
        raise UsageError(f"{path}: {what} that could not be decoded "
                         f"({(done.stderr.strip().splitlines() or ['ffmpeg failed'])[-1]})")
    return out


TRACK_TAGS = ("language", "title")  # a stream's tags that say which track it is: kept on the output's
STILL_CODECS = ("png", "mjpeg", "bmp", "tiff", "webp")  # an image's codecs, and a few videos' (MJPEG, PNG in .mov)
# Elementary streams with no container (a security camera's or a Raspberry Pi's .h264, .hevc, .m2v): the demuxer
# declares 25 fps whatever the stream's timing says; the stream's own rate (the decoder's, from the H.264/HEVC VUI or
# the MPEG-2 sequence header) is what ffmpeg times them by. A 15 fps camera's file played 1.67 x fast. One that
# states none plays at SEQUENCE_FPS (--input-fps), as ffmpeg's -framerate sets it; so do images piped one after
# another (the image pipes' demuxers, `*_pipe`: `ffmpeg -f mjpeg`, `-f image2pipe`).
ELEMENTARY_STREAMS = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "vc1", "cavsvideo", "avs2", "avs3", "h263", "dirac", "obu",
                      "mjpeg"}


def _second_packet(path: Path) -> bool:
    """Whether the main video stream has a second packet: a stream of one of STILL_CODECS whose
    container gives no frame count is a video when it does (a webcam's MJPEG, PNGs piped one
    after another: `ffmpeg -f image2pipe`), a still image when it does not."""
    with _open(path) as c:
        s = main_video(c)
        return sum(1 for _, p in zip(range(2), (p for p in c.demux(s) if p.size))) == 2


def probe(path: str | Path, in_sequence: bool = False) -> VideoInfo:
    """Size, exact frame rate, frame count and audio presence of a video or image file, or of
    an image sequence (`frames/%04d.png`). `in_sequence`: the file is a sequence's first frame, whose
    alpha channel counts whether it uses it or not (the next frames may)."""
    path = Path(path)
    if is_sequence(path):
        files = sequence_files(path)
        first = probe(files[0], in_sequence=True)
        return VideoInfo(path, first.width, first.height, Fraction(SEQUENCE_FPS), len(files), False, colour=first.colour,
                         depth=first.depth, full_chroma=first.full_chroma, sample_aspect=first.sample_aspect, alpha=first.alpha,
                         untimed=True)
    with _open(path) as c:
        s = main_video(c)
        if s.codec_context is None:  # a truncated file can keep the stream's header but not its codec's
            raise UsageError(f"{path}: its video stream has no decoder settings (a truncated or damaged file?)")
        is_image = c.format.name != "matroska,webm" and (  # an animated WebP opens as its Matroska copy (_open)
            # an animated PNG (stickers, browser animations) is a video: it was read as its first frame
            path.suffix.lower() in IMAGE_SUFFIXES and not (c.format.name == "apng" and _second_packet(path))
            or path.suffix.lower() in HEIF_SUFFIXES and _heif_photo(path)
            or s.codec_context.name in STILL_CODECS and (
                s.frames == 1 or not s.frames and not _second_packet(path)))
        bare = c.format.name in ELEMENTARY_STREAMS or c.format.name.endswith("_pipe")
        own = s.codec_context.framerate or SEQUENCE_FPS if bare else None
        avg, guess = s.average_rate, s.guessed_rate
        if avg and guess and avg >= 2 * guess:  # a demuxer's clock given as the rate (a camcorder's .dv: 60000 fps on
            avg = guess                         # a 1/60000 time base; GXF: the field rate): ffmpeg's own guess, which its
                                                # CLI times output by
        fps = snap_rate(Fraction(own or avg or guess or 25))
        untimed = is_image or bare and not s.codec_context.framerate
        if is_image:  # a photo has no rate of its own: prediction animates it at this one
            fps = SEQUENCE_FPS
        # a GIF's or an animated WebP's rate: from each frame's delay, the last one's (a loop's pause) included
        animated = s.codec_context.name in ("gif", "apng") or path.suffix.lower() == ".webp"
        if not is_image and (animated or "matroska" in c.format.name and (
                (got := _demuxed(path)) is not None and _off_grid(got.times, got.tick, fps))):
            fps = _timed_rate(path) or fps
        rotation, colour, depth, full_chroma, interlaced, alpha, mirrored = 0, Colour(), 8, False, False, False, False
        start = start_of(s)
        try:
            first = next(c.decode(s))
            if first.pts is not None and first.time_base:
                # the first frame shown, not the first packet: a recording that starts mid-GOP (a TS
                # capture, a cut) has packets nothing decodes before it, and the audio would be
                # placed against them (out of sync by the time they take)
                start = Fraction(first.pts) * first.time_base
            rotation = int(round(first.rotation or 0)) % 360
            mirrored = _mirrors(_display_matrix(first, s.codec_context.name, _exif_matrix(path, s)))
            colour, depth = Colour.of(first, s.codec_context.name), depth_of(first)
            full_chroma = first.format.name.startswith(("yuv444", "yuvj444"))
            interlaced = bool(first.interlaced_frame)
            alpha = any(c.is_alpha for c in first.format.components) or _side_alpha(s)
            # GIF and animated WebP decode with alpha always, and a photo is saved as RGBA all opaque (screenshots,
            # exports): transparent only where a pixel is (the opaque photo's edit said its transparency was dropped);
            # an animation's in any frame (a sticker that opens opaque and turns see-through later)
            if alpha and (animated or is_image and not in_sequence):
                alpha = _see_through(itertools.chain([first], c.decode(s)) if animated and not is_image else [first])
        except (StopIteration, av.FFmpegError, AttributeError):
            pass
        sar = s.sample_aspect_ratio or s.codec_context.sample_aspect_ratio  # the container's, else the bitstream's
        width, height = s.codec_context.width, s.codec_context.height
        if rotation in (90, 270):  # frames are read upright (`upright`): as displayed, its pixels' shape turned too
            width, height, sar = height, width, (1 / Fraction(sar) if sar else sar)
        frames = None if _edited(path, c) else s.frames or None
        tags = [s.metadata, dict(c.metadata), *(d.metadata for d in c.streams.data)]
        timecode = next((v for t in tags for k, v in t.items()
                         if k.lower() == "timecode" and _timecode_frames(v, _nominal(fps)) is not None), None)
        return VideoInfo(path, width, height, Fraction(fps), frames, is_image,
                         rotation, colour, depth, full_chroma, dict(c.metadata), Fraction(sar) if sar and sar != 1 else None,
                         interlaced, start, chapters=list(c.chapters()),
                         tracks={k: n for k, n in (("audio", len(c.streams.audio)), ("subtitles", len(c.streams.subtitles)),
                                                   ("attachments", len(c.streams.attachments)),
                                                   ("cover", sum(map(is_cover, c.streams.video)))) if n},
                         alpha=alpha,
                         timecode=timecode, video_tags=_track_tags(s),
                         other_video=sum(v is not s and not is_cover(v)
                                         and v.frames != 1 for v in c.streams.video),  # not a still: a cover, an animated AVIF's
                         mirrored=mirrored, untimed=untimed)


def _see_through(frames: Iterable["av.VideoFrame"]) -> bool:
    """Whether a pixel of any of `frames` is not fully opaque; stops at the first that is. A frame
    that does not decode ends the search (the read itself says so)."""
    try:
        return any(bool((exact_alpha(f, f.to_ndarray(format="bgra"))[..., 3] < 255).any()) for f in frames)
    except av.FFmpegError:
        return False


def _track_tags(stream) -> dict:
    """A stream's TRACK_TAGS that say something ('und', undetermined, says nothing)."""
    return {k: v for k, v in stream.metadata.items() if k in TRACK_TAGS and v and v != "und"}


def upright(frame: "av.VideoFrame", fmt: str, size: tuple[int, int] | None = None,
            m: tuple[int, ...] | None = None) -> np.ndarray:
    """A decoded frame as an (H, W, 3) array the way it is shown: turned (and mirrored) by the display
    matrix its file gives (phone video shot upright is stored on its side), as ffmpeg does by default.
    So the output needs no rotation tag, and outpainting's modes, boxes, masks and sizes mean what
    the user sees. `size` (W, H) as stored: a frame of another size is scaled to it first (bicubic,
    as ffmpeg's scaler). `m`: the frame's display matrix (_display_matrix), which says whether it mirrors."""
    turn = round(-(frame.rotation or 0) / 90) % 4  # quarter turns clockwise
    if size is not None and (frame.width, frame.height) != size:
        frame = frame.reformat(width=size[0], height=size[1], format=fmt, interpolation="BICUBIC")
    x = exact_alpha(frame, frame.to_ndarray(format=fmt))
    if not _mirrors(m):  # a turn, no mirror
        return np.ascontiguousarray(np.rot90(x, -turn)) if turn else x
    # mirrored (a selfie camera's or an editor's horizontal flip), undone as ffmpeg's transpose/hflip/vflip do it:
    # the mirror read as a turn left the picture upside down
    if turn == 1:
        x = x.transpose(1, 0, 2) if m[3] > 0 else np.rot90(x, -1)
    elif turn == 3:
        x = np.rot90(x, -1)[::-1] if m[3] < 0 else np.rot90(x, 1)
    else:  # no turn, or half a turn: each axis flipped where the matrix flips it
        x = x[::-1 if m[4] < 0 else 1, ::-1 if m[0] < 0 and turn == 2 else 1]
    return np.ascontiguousarray(x)


def _display_matrix(frame: "av.VideoFrame", codec: str, exif: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    """The frame's display matrix (3 x 3, 16.16 fixed point, row by row), where it has one. Where its
    side data cannot be read (_side_data: a photo's), `exif`: the matrix FFmpeg made of the photo's
    orientation tag (_exif_matrix)."""
    side = _side_data(frame, codec)
    if side is None:
        return exif
    sd = side.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
    raw = b"" if sd is None else bytes(sd)
    return struct.unpack("<9i", raw) if len(raw) == 36 else None


# FFmpeg's display matrix of each EXIF orientation (libavcodec/exif.c): a turn (degrees counter-clockwise),
# then, for the mirrored ones, the first column negated (av_display_matrix_flip, horizontally)
_EXIF_TURNS = {1: (0, False), 2: (0, True), 3: (180, False), 4: (180, True), 5: (90, True), 6: (90, False),
               7: (-90, True), 8: (-90, False)}


def _exif_block(path: Path, codec: str) -> bytes:
    """The TIFF block of a photo's EXIF, b"" where none: a JPEG's APP1 segment, a PNG's (or APNG's)
    eXIf chunk, a WebP's EXIF chunk (the last two may start with JPEG's "Exif" and two zero bytes too).
    Any other codec's file is not opened (a video's reader asks too)."""
    png, webp = codec in ("png", "apng"), codec == "webp"
    if not (png or webp or codec == "mjpeg"):
        return b""
    try:
        with open(path, "rb") as f:
            if codec == "mjpeg":
                head = f.read(65536)
                at = head.find(b"Exif\x00\x00")
                return head[at + 6:] if at >= 0 and head[:2] == b"\xff\xd8" else b""
            if f.read(8) != b"\x89PNG\r\n\x1a\n" if png else f.read(12)[8:] != b"WEBP":
                return b""
            while len(head := f.read(8)) == 8:  # PNG: length (big-endian), type; RIFF: fourcc, length (little-endian), padded to even
                kind, size = (head[4:], struct.unpack(">I", head[:4])[0]) if png else (head[:4], struct.unpack("<I", head[4:])[0])
                if kind in (b"eXIf", b"EXIF"):
                    block = f.read(min(size, 1 << 20))
                    return block[6:] if block.startswith(b"Exif\x00\x00") else block
                if kind == b"IEND":
                    break
                f.seek(size + 4 if png else size + (size & 1), os.SEEK_CUR)  # PNG: the CRC after the data
    except OSError:
        pass
    return b""


def _exif_matrix(path: Path, stream) -> tuple[int, ...] | None:
    """The display matrix of a photo's EXIF orientation tag (the first IFD's tag 0x0112) as FFmpeg
    builds it, for JPEG, PNG and WebP; None where there is none."""
    tiff = _exif_block(path, stream.codec_context.name)
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 10:
        return None
    ifd = struct.unpack(order + "I", tiff[4:8])[0]
    count = struct.unpack(order + "H", tiff[ifd:ifd + 2])[0] if len(tiff) >= ifd + 2 else 0
    for k in range(count):
        entry = tiff[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        if len(entry) == 12 and struct.unpack(order + "H", entry[:2])[0] == 0x0112:
            turn = _EXIF_TURNS.get(struct.unpack(order + "H", entry[8:10])[0])
            if turn is None:
                return None
            c, s = round(math.cos(math.radians(turn[0]))), round(math.sin(math.radians(turn[0])))
            m = [c << 16, s << 16, 0, -s << 16, c << 16, 0, 0, 0, 1 << 30]  # av_display_rotation_set (it turns by -angle)
            if turn[1]:
                m[0], m[3], m[6] = -m[0], -m[3], -m[6]
            return tuple(m)
    return None


def _mirrors(m: tuple[int, ...] | None) -> bool:
    """Whether a display matrix mirrors the picture (its 2 x 2 part's determinant is negative)."""
    return m is not None and m[0] * m[4] - m[1] * m[3] < 0


class _Shown:
    """A stream's decoded frames as `upright` arrays, each at the stream's size: where the frame
    size changes midway (a download of adaptive streaming that switched quality, recordings joined
    with `cat`), the other frames are scaled to the size the file gives (the probed one), as ffmpeg
    does, and `warn` is told once. Without that, a run failed at the first pair of sizes."""

    def __init__(self, path, stream, fmt: str, warn: Callable[[str], None] | None):
        self.path, self.fmt, self.warn = path, fmt, warn
        self.size = (stream.codec_context.width, stream.codec_context.height)
        self.told = False
        self.codec, self.exif = stream.codec_context.name, _exif_matrix(path, stream)

    def __call__(self, frame: "av.VideoFrame") -> np.ndarray:
        if not all(self.size):  # no size in the stream's parameters: its first frame's
            self.size = (frame.width, frame.height)
        if (frame.width, frame.height) != self.size and not self.told:
            self.told = True
            if self.warn is not None:
                self.warn(f"{self.path}: the frame size changes midway ({self.size[0]}x{self.size[1]}, then "
                          f"{frame.width}x{frame.height}); every frame is scaled to {self.size[0]}x{self.size[1]}, as ffmpeg does")
        return upright(frame, self.fmt, self.size, _display_matrix(frame, self.codec, self.exif))


class _Damage:
    """What `_frames` skipped in a file: refused packets, and the first reason."""

    def __init__(self):
        self.packets, self.reason = 0, None


# VP8 and VP9 in WebM/Matroska keep an alpha channel beside the colour (the stream's alpha_mode tag), which
# FFmpeg's own decoders leave out and libvpx's read
_ALPHA_DECODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx"}


def _side_alpha(s) -> bool:
    """Whether a video stream is VP8/VP9 with its alpha kept aside (a transparent WebM: browsers' and
    editors' web overlays)."""
    return s.codec_context.name in _ALPHA_DECODERS and s.metadata.get("alpha_mode") == "1"


def _decoder(s, alpha: bool) -> Callable:
    """What decodes stream s's packets: its own decoder, or where `alpha` is asked of a stream that
    keeps it aside (_side_alpha), libvpx's, which reads it."""
    if not (alpha and _side_alpha(s)):
        return s.decode
    ctx = av.CodecContext.create(_ALPHA_DECODERS[s.codec_context.name], "r")
    ctx.extradata = s.codec_context.extradata
    return ctx.decode


def _frames(c: "av.container.InputContainer", s, damage: _Damage, alpha: bool = False) -> Iterator["av.VideoFrame"]:
    """Stream s's frames in presentation order, decoded packet by packet. A packet the decoder
    refuses (a damaged file: bytes zeroed or lost mid-stream) no longer ends the run (ffmpeg goes
    on past it too): the frame shown before it is held in its place, at the missing frame's own
    time, so the frame count and every later frame's time stay as the file gives them (the audio
    in step); the first good frame where none came before. Which packet failed is read from the
    frames that come out (a threaded decoder reports an error a few packets late): the packets'
    times that no frame took, as many as were refused. `damage` counts them, for a warning. `alpha`:
    decoded with the alpha channel a VP8/VP9 stream keeps aside (_decoder)."""
    decode = _decoder(s, alpha)
    unseen: list[int] = []  # times (pts) of packets sent whose frame has not come out, ascending
    owed = 0  # refused packets whose frame is not yet held
    last = None

    def holds(before: int | None) -> Iterator["av.VideoFrame"]:
        nonlocal owed
        gone = [t for t in unseen if before is None or t < before]
        del unseen[:len(gone)]
        for t in gone[:owed]:
            last.pts = t  # consumers read each frame before the next is made
            yield last
        owed -= min(owed, len(gone))

    for packet in c.demux(s):
        if packet.size and packet.pts is not None:
            bisect.insort(unseen, packet.pts)
        try:
            frames = decode(packet)
        except av.FFmpegError as e:
            if not packet.size:  # the flush at the end
                break
            damage.packets += 1
            owed += 1
            damage.reason = damage.reason or _reason(e)
            continue
        for frame in frames:
            if frame.pts is None:  # times unknown: nothing to place a held frame by
                unseen.clear()
            else:
                if last is None:  # refused before any frame: the first good one stands in
                    last = frame
                yield from holds(frame.pts)  # and those before it that came out as no frame are let go
                if unseen and unseen[0] == frame.pts:
                    del unseen[0]
            last = frame
            yield frame
    if last is not None and owed:
        yield from holds(None)


def damage_note(path, damage: _Damage, warn: Callable[[str], None] | None) -> None:
    """The warning for a damaged file's refused packets (`_frames`)."""
    if damage.packets and warn is not None:
        n = damage.packets
        warn(f"{path} is damaged: {n} frame{'s' * (n != 1)} could not be decoded ({damage.reason}); "
             f"the frame before stands in for {'each' if n != 1 else 'it'}")


def rgb_format(deep: bool, alpha: bool = False) -> str:
    """The pixel format frames are read and written in: RGB (RGBA with `alpha`), 8 or 16 bits a component."""
    return ("rgba64le" if deep else "rgba") if alpha else "rgb48le" if deep else "rgb24"


def _levels(x: np.ndarray, bits: int, to_bits: int) -> np.ndarray:
    """`bits`-bit values at `to_bits` bits, scaled and rounded (255 -> 1023 -> 65535)."""
    if bits == to_bits:
        return x
    top, to_top = (1 << bits) - 1, (1 << to_bits) - 1
    return ((x.astype(np.uint32) * to_top + top // 2) // top).astype(np.uint8 if to_bits <= 8 else np.uint16)


def _alpha_plane(frame: "av.VideoFrame") -> tuple[np.ndarray, int]:
    """A YUVA frame's alpha plane, (H, W), a view that writes through, and its bits."""
    p, bits = frame.planes[3], frame.format.components[3].bits
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    return np.frombuffer(memoryview(p), dtype).reshape(p.height, -1)[:, :p.width], bits


def exact_alpha(frame: "av.VideoFrame", rgba: np.ndarray) -> np.ndarray:
    """`rgba` (frame.to_ndarray's RGBA, 8 or 16 bits) with the alpha of the YUVA `frame` it was
    converted from, exactly: FFmpeg's scaler lifts alpha 128..254 a level from RGBA to YUVA and back,
    and reads 8-bit alpha as 16-bit by a shift (255 -> 65280, not opaque). Other frames: as it is."""
    if frame.format.name.startswith("yuva") and rgba.shape[-1] == 4 and (frame.width, frame.height) == rgba.shape[1::-1]:
        alpha, bits = _alpha_plane(frame)
        rgba[..., 3] = _levels(alpha, bits, 8 if rgba.dtype == np.uint8 else 16)
    return rgba


def put_alpha(frame: "av.VideoFrame", alpha: np.ndarray) -> "av.VideoFrame":
    """A YUVA `frame` (converted from RGBA by FFmpeg's scaler) given `alpha` ((H, W), 8 or 16 bits)
    exactly, at its own depth (exact_alpha says why)."""
    plane, bits = _alpha_plane(frame)
    plane[...] = _levels(alpha, 8 if alpha.dtype == np.uint8 else 16, bits)
    return frame


def iter_frames(path: str | Path, start: int = 0, count: int | None = None, deep: bool = False,
                warn: Callable[[str], None] | None = None, alpha: bool = False) -> Iterator[np.ndarray]:
    """Decode RGB frames [start, start + count) one at a time: uint8, or with `deep` uint16
    (0-65535, whatever the input's own depth), all at the stream's size (`_Shown`; `warn` is told
    where some were not). `alpha`: RGBA (opaque where the input has no alpha)."""
    if is_sequence(path):
        yield from _iter_sequence(path, start, count, deep, alpha)
        return
    fmt = rgb_format(deep, alpha)
    c = _open(path)
    try:
        s = main_video(c)
        s.thread_type = "AUTO"
        shown = _Shown(path, s, fmt, warn)
        i, got, damage = 0, 0, _Damage()
        try:
            for frame in _frames(c, s, damage, alpha):
                if i >= start:
                    yield shown(frame)
                    got += 1
                    if count is not None and got >= count:
                        return
                i += 1
        except av.FFmpegError as e:  # reading the file itself failed
            if got == 0 and i == 0:
                raise UsageError(f"{path}: no decodable frames ({_reason(e)})") from None
            raise MagvitError(f"{path}: decoding failed after frame {i} ({_reason(e)})") from None
        if got == 0 and i == 0:
            raise UsageError(f"{path}: no decodable frames" + (f" ({damage.reason})" if damage.reason else ""))
    finally:
        c.close()
    damage_note(path, damage, warn)


def iter_info(info: VideoInfo, deep: bool = False, warn: Callable[[str], None] | None = None,
              alpha: bool = False) -> Iterator[np.ndarray]:
    """The frames of a probed input, within its trim (`trim`) if it has one: a video file is
    sought to the keyframe before the trim's start, so a cut late in a long file starts at once.
    `warn`: told where frames of another size were scaled to the input's (`_Shown`). `alpha`: RGBA."""
    got = 0
    frames = _iter_span(info, deep, warn=warn, alpha=alpha) if info.span and not is_sequence(info.path) else \
        iter_frames(info.path, info.first, info.frames if info.span else None, deep, warn, alpha)
    for frame in frames:
        got += 1
        yield frame
    if info.span and not got:
        raise UsageError(f"{info.path}: no frames from {_clock((info.span[0] - info.start))} on (past its end?)")


def _in_trim(info: VideoInfo, t: Fraction) -> bool:
    """Whether a frame at time t (s, the file's timeline) is in info's trim: within half a frame
    of its grid, or where the rate varies (info.exact) by the frame's own time."""
    half = 0 if info.exact else 1 / (2 * info.fps)
    t0, t1 = info.span
    return t >= t0 - half and (t1 is None or t < t1 - half)


def _packet_times(info: VideoInfo) -> tuple[list[Fraction], Fraction] | None:
    """The times (s, the file's timeline, in presentation order) of a probed video's frames within
    its trim, read by demuxing without decoding (_demuxed); and the stream's tick (its time base:
    every time is a whole number of them). None where packets are not frames or one has no
    timestamp."""
    if is_sequence(info.path) or info.is_image:
        return None
    got = _demuxed(info.path)
    if got is None:
        return None
    return [t for t in got.times if info.span is None or _in_trim(info, t)], got.tick


class _Demuxed(NamedTuple):
    times: tuple[Fraction, ...]  # each frame's time (s, the file's timeline), sorted: presentation order
    tick: Fraction  # the stream's time base
    end: Fraction  # when the last frame ends (its time, plus its duration where the file gives one)


@_per_file
def _demuxed(path: Path) -> _Demuxed | None:
    """A file's video packets read once a run while the file stays the same (probe's rate, the
    frame count and the frame times all ask), where one packet is a frame: Matroska/WebM,
    MP4/MOV, AVI, GIF and animated PNG (whose frames each have their own delay). None elsewhere,
    or where a packet has no timestamp."""
    with _open(path) as c:
        if not any(k in c.format.name for k in ("matroska", "mov", "avi", "gif", "apng")):
            return None
        times, last, end = [], None, Fraction(0)
        s = main_video(c)
        for pkt in c.demux(s):
            if not pkt.size or pkt.is_discard:  # discard: before an MP4 edit list's start, never shown
                continue
            if pkt.pts is None or pkt.time_base is None:
                return None
            t = pkt.pts * pkt.time_base
            times.append(t)
            if last is None or t >= last:
                last, end = t, t + Fraction(pkt.duration or 0) * pkt.time_base
        told = min(times) + Fraction(s.duration) * s.time_base if s.duration and s.time_base and times else 0
        if "mov" in c.format.name and told > max(times):
            # MP4/MOV: a packet's duration is its decode-order step (stts), not how long it is shown;
            # where B-frames reorder, the frame shown last is not the last decoded and its step says
            # nothing of the end. The track's duration does (as players and ffprobe take it), where
            # it ends after the last frame (one muxed with B-frames at a varying rate can end before)
            end = told
        return _Demuxed(tuple(sorted(times)), Fraction(s.time_base or 0), end)


def _end_animation_at(path: Path, end_ms: int, least: int = 1) -> int:
    """Make an animated WebP end at `end_ms` by how long it shows its last frame (its last ANMF
    chunk's 24-bit duration, in milliseconds: the WebP container's layout), `least` ms at least.
    The last frame may stand for several (the encoder merges repeats, as a held end), so its
    start is the sum of the frames' durations before it. Returns the frames the file holds (the
    encoder makes frames that are all alike one still image: 1)."""
    with open(path, "r+b") as f:
        data = f.read()
        at, spots = 12, []  # past 'RIFF' size 'WEBP'
        while at + 8 <= len(data):
            tag, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
            if tag == b"ANMF":  # X, Y, width - 1, height - 1 (3 bytes each), then the duration
                spots.append(at + 8 + 12)
            at += 8 + size + (size & 1)
        if spots:
            start = sum(int.from_bytes(data[k:k + 3], "little") for k in spots[:-1])
            f.seek(spots[-1])
            f.write(min(max(end_ms - start, least), 2**24 - 1).to_bytes(3, "little"))
    return max(len(spots), 1)


GIF_RESERVED = 255  # palettegen's reserve_transparent keeps its last entry for transparency: no opaque pixel uses it


def _clear_between_frames(path: Path) -> None:
    """Make each frame of a transparent GIF show only itself: FFmpeg's encoder lets a frame with
    no see-through pixel stay under the next ("do not dispose"), so where a sticker turns
    transparent after an opaque frame, its first transparent frame showed that frame through its
    holes. Every Graphic Control Extension is set to "restore to background" after its frame, with
    its transparent index (GIF_RESERVED where it had none), so the cleared canvas is see-through to
    browsers and FFmpeg alike; the encoder's own frame-to-frame savings must be off (gifflags 0).
    The GIF layout: header, screen descriptor, global colour table, then extension (0x21) and
    image (0x2C) blocks of length-prefixed sub-blocks up to the trailer (0x3B)."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        at = 13 + (3 * (2 << (data[10] & 7)) if data[10] & 0x80 else 0)
        while at < len(data) and data[at] != 0x3B:
            if data[at] == 0x21:
                if data[at + 1] == 0xF9 and data[at + 2] == 4:  # flags, delay (2 bytes), transparent index
                    flags = data[at + 3]
                    data[at + 3] = (flags & ~0x1C) | 2 << 2 | 1
                    if not flags & 1:
                        data[at + 6] = GIF_RESERVED
                at += 2
            elif data[at] == 0x2C:
                table = data[at + 9]
                at += 10 + (3 * (2 << (table & 7)) if table & 0x80 else 0) + 1  # the LZW code size byte
            else:
                raise ValueError(f"{path}: not a GIF block at byte {at}")
            while data[at]:  # sub-blocks
                at += data[at] + 1
            at += 1
        f.seek(0)
        f.write(data)


MAX_REORDER = 60  # s: an encoder's decode times lead its frames by its reorder delay, never by a minute


def _sane_dts(pts: int | None, dts: int | None, last: int | None, time_base: Fraction | None = None) -> int | None:
    """A packet's decode time as a muxer needs it. libx265 hands back a clip of one or two frames
    with its decode times uninitialised (garbage like -1.4e17; the MP4 muxer then fails "pts/dts pair
    unsupported" about one time in five): a dts after its pts, more than MAX_REORDER seconds before
    it (in the muxer's finer time base the gap overflowed 32 bits even where it fit in the
    encoder's), or not after the last packet's, is taken as the pts, kept after the last packet's."""
    if pts is None or dts is None:
        return dts
    near = pts - dts < 2**31 if time_base is None else (pts - dts) * time_base <= MAX_REORDER
    if dts <= pts and near and (last is None or dts > last):
        return dts
    return pts if last is None or pts > last else last + 1


_TS_DISCONT = 0x0200  # AVFMT_TS_DISCONT: the format's timestamps may jump (MPEG-TS, MPEG-PS)


@_per_file
def clock_restarts(path: Path) -> bool:
    """Whether a file's video clock goes back midway (MPEG-TS recordings joined with `cat`): there
    a time names a moment in more than one part, so a seek may land in either, and times are
    read on from the start instead, run forward across each restart (_Forward), as ffmpeg does."""
    with _open(path) as c:
        if not c.format.flags & _TS_DISCONT:
            return False
        s, last = main_video(c), None
        for pkt in c.demux(s):  # packets only, in decoding order: a few ms per MB
            if pkt.dts is None or pkt.time_base is None:
                continue
            t = pkt.dts * pkt.time_base
            if last is not None and last - t > _RESTART:
                return True
            last = t
    return False


def count_packets(info: VideoInfo) -> int | None:
    """Frames of a probed video (within its trim) counted by demuxing, without decoding (tens of
    times faster than decoding; _packet_times). None where packets are not frames: decode instead."""
    got = _packet_times(info)
    return None if got is None else len(got[0])


def count_frames(info: VideoInfo) -> int:
    """Frame count (within the trim) from the container, or where it does not say by counting its
    packets (count_packets), or by decoding."""
    if info.frames:
        return info.frames
    n = count_packets(info)
    return n if n is not None else sum(1 for _ in iter_info(info))


def frame_times(info: VideoInfo) -> list[Fraction] | None:
    """Each frame's presentation time (s, from the first frame processed) where the frame rate
    varies (phone video drops to 20 fps in low light, screen recordings hold frames): a tenth of
    a frame or more off the average rate's grid, and more than the rounding to the stream's tick
    moves it (a 30 fps GIF's delays are 3, 3, 4 cs: steady). None where it is steady, or where
    the packets are not frames (MPEG-TS: taken as steady)."""
    got = _packet_times(info)
    if got is None or not (info.exact or _off_grid(*got, info.fps)):  # a varying file's part varies, steady as it may look
        return None
    return [t - got[0][0] for t in got[0]]


def _off_grid(times: Sequence[Fraction], tick: Fraction, fps: Fraction) -> bool:
    """Whether frames at these times (sorted) keep off the grid of `fps` from the first: one a tenth
    of a frame or more away from its place, and further than the rounding to the stream's tick moves it."""
    if len(times) < 2:
        return False
    step = 1 / fps
    return any(abs(t - times[0] - i * step) >= step / 10 and abs(t - times[0] - i * step) > tick / 2
               for i, t in enumerate(times))


def timeline(times: list[Fraction] | None, fps: Fraction, factor: int = 1, last: Fraction | None = None) -> Callable[[int], Fraction] | None:
    """Output frame o -> its time (s) for a run that writes `factor` frames per input frame: frame
    o // factor's time, plus (o % factor) / factor of the way to the next input frame's; the last
    input frame's `factor` share its own time on screen (`last`, as last_shown gives it, else one
    frame at the average rate `fps`), so frame n x factor comes when it ends; past that (a
    prediction) at the average rate. None for steady input (times None): frames at o / (fps x factor)."""
    if times is None:
        return None
    n = len(times)
    shown = last or 1 / fps

    def at(o: int) -> Fraction:
        i, j = divmod(o, factor)
        if i + 1 < n:
            return times[i] + (times[i + 1] - times[i]) * Fraction(j, factor)
        if i + 1 == n:
            return times[-1] + shown * Fraction(j, factor)
        return times[-1] + shown + Fraction(o - n * factor, factor) / fps
    return at


def last_shown(info: VideoInfo) -> Fraction | None:
    """How long the last frame processed is on screen: until the file's next frame (a cut ends
    before one) or the end the file gives it; None where the packets do not say (_demuxed)."""
    got = None if is_sequence(info.path) or info.is_image else _demuxed(info.path)
    if got is None or not got.times:
        return None
    kept = [k for k, t in enumerate(got.times) if info.span is None or _in_trim(info, t)]
    if not kept:
        return None
    k = kept[-1]
    gap = got.times[k + 1] - got.times[k] if k + 1 < len(got.times) else got.end - got.times[k]
    if info.exact and info.span[1] is not None:  # an --end cuts the last frame's time short, as ffmpeg's -to -r
        gap = min(gap, info.span[1] - got.times[k])
    return gap if gap > 0 else None


# How far before a cut's start the copied tracks are sought to (a seek may land late: MPEG-TS
# lands on the next keyframe); the packets before the cut are then skipped by their times.
SEEK_MARGIN = 10


def _iter_span(info: VideoInfo, deep: bool, margin: int | None = 0, warn: Callable[[str], None] | None = None,
               alpha: bool = False) -> Iterator[np.ndarray]:
    """Decode the frames shown in info.span (within half a frame), from a seek to `margin` seconds
    before its start. A seek that lands past the span's first frame (MPEG-TS seeks to the next
    keyframe, or to the end where none follows) tries again 10 s earlier, then decodes from the file's start (margin None); frames
    without timestamps are counted from it."""
    t0, t1 = info.span
    half = 1 / (2 * info.fps)
    fmt = rgb_format(deep, alpha)
    c = _open(info.path)
    overshot = False
    try:
        s = main_video(c)
        seek = margin is not None and bool(s.time_base) and t0 - margin > 0 and not clock_restarts(info.path)
        if seek:
            try:
                c.seek(math.floor((t0 - half - margin) / s.time_base), stream=s, backward=True)
            except av.FFmpegError:  # not seekable (an elementary stream, .h264): decoded from the start, opened
                seek = False        # again (a refused seek leaves the demuxer at its end: the cut had no frames)
                c.close()
                c = _open(info.path)
                s = main_video(c)
        s.thread_type = "AUTO"
        shown = _Shown(info.path, s, fmt, warn)
        damage = _Damage()
        try:
            decoded, forward = 0, None
            for k, frame in enumerate(_frames(c, s, damage, alpha)):
                decoded += 1
                if frame.pts is None or frame.time_base is None:
                    c.close()
                    yield from iter_frames(info.path, info.first, info.frames, deep, warn, alpha)
                    return
                forward = forward or _Forward(frame.time_base)  # a restarted clock runs on, as the audio's does
                t = forward.place(frame.pts, round(1 / (info.fps * frame.time_base))) * frame.time_base
                if k == 0 and seek and t > t0 + half:
                    overshot = True
                    break
                if _in_trim(info, t):
                    yield shown(frame)
                elif t >= t0:  # past the end
                    damage_note(info.path, damage, warn)
                    return
            # an MPEG-TS seek with no keyframe after its target (a short clip's one GOP) lands at the
            # end: nothing decoded, so the span was missed, not past the end
            overshot = overshot or (seek and not decoded)
        except av.FFmpegError as e:  # reading the file itself failed
            raise MagvitError(f"{info.path}: reading failed after {_clock(t0 - info.start)} ({_reason(e)})") from None
    finally:
        c.close()
    if not overshot:
        damage_note(info.path, damage, warn)
    if overshot:
        yield from _iter_span(info, deep, SEEK_MARGIN if margin == 0 else None, warn, alpha)


def _iter_sequence(pattern, start: int, count: int | None, deep: bool, alpha: bool = False) -> Iterator[np.ndarray]:
    files = sequence_files(pattern)[start:]
    shape = None
    for f in files if count is None else files[:count]:
        frame = next(iter_frames(f, deep=deep, alpha=alpha))
        if shape is not None and frame.shape != shape:
            raise UsageError(f"{f}: {frame.shape[1]}x{frame.shape[0]}, but the sequence's frames are {shape[1]}x{shape[0]}")
        shape = frame.shape
        yield frame


def read_frames(path: str | Path, start: int = 0, count: int | None = None, deep: bool = False) -> np.ndarray:
    """(T, H, W, 3) array of frames [start, start + count): uint8, or with `deep` uint16."""
    frames = list(iter_frames(path, start, count, deep))
    return np.stack(frames)


def shared_file_mode() -> int:
    """rw for everyone the umask allows (temp files are created 0600; outputs are meant to be shared)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def share(path: str | Path) -> None:
    """A finished output (its temporary file, made 0600) given the mode a new file gets
    (shared_file_mode). Best effort: a file system without Unix modes may refuse (FAT or exFAT on a
    camera card or USB stick refuses a mode its mount's mask does not allow, 0664 under umask 002),
    and the file is whole either way: that refusal failed the run at its very end."""
    try:
        os.chmod(path, shared_file_mode())
    except OSError:
        pass


# Audio an output type holds as players expect, and the encoder other audio is re-encoded with
# (None: the type holds no audio, it is dropped); types not listed copy what their muxer holds
# and re-encode the rest to its default (.avi: Opus to MP3), as ffmpeg does. In an .mp4,
# PCM from a camera's .mov, Vorbis from .mkv or MP2 from .avi would mux, but many players then
# play the video silent.
_MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}
# A .mov refuses Opus, FLAC and Vorbis (the muxer names Opus and FLAC as held, then fails to write them).
_PCM = {f"pcm_{k}" for k in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le", "f32be", "f64le", "f64be",
                             "u8", "s8", "mulaw", "alaw")}
_MOV_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "alac"} | _PCM
_TS_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "dts", "truehd", "opus"}  # MPEG-TS: what broadcasts and Blu-rays carry (re-encoded: AAC, not FFmpeg's MP2)
# Lossless audio (decoder or codec names) that a type does not hold is re-encoded losslessly where the type has
# such an encoder: FLAC into a .mov as ALAC (Apple's own), mu-law into a .mkv as FLAC, ALAC into an .avi as PCM of
# the decoded samples (_PCM_OF; it was MP3). (.mp4 keeps AAC: it plays everywhere.)
_LOSSLESS_AUDIO = {"flac", "alac", "truehd", "mlp", "wavpack", "ape", "tta"} | _PCM
_LOSSLESS_ENCODERS = {".mov": "alac", ".mkv": "flac", ".avi": "pcm"}
_PCM_OF = {"u8": "pcm_u8", "s16": "pcm_s16le", "s32": "pcm_s32le", "flt": "pcm_f32le", "dbl": "pcm_f64le"}  # by packed format
AUDIO_CODECS = {".mp4": (_MP4_AUDIO, "aac"), ".m4v": (_MP4_AUDIO, "aac"), ".mov": (_MOV_AUDIO, "aac"),
                ".webm": ({"opus", "vorbis"}, "libopus"), ".gif": (set(), None), ".apng": (set(), None),
                ".ts": (_TS_AUDIO, "aac"), ".m2ts": (_TS_AUDIO, "aac"), ".mts": (_TS_AUDIO, "aac"), ".y4m": (set(), None)}


def holds_audio(path: str | Path) -> bool:
    """Whether an output type holds audio: not an image, an image sequence, a WebP, a GIF, an
    animated PNG or raw Y4M frames (AUDIO_CODECS' types without an encoder or codec)."""
    suffix = Path(path).suffix.lower()
    if is_sequence(path) or suffix in IMAGE_SUFFIXES:
        return False
    held, encoder = AUDIO_CODECS.get(suffix, (None, ""))
    return encoder is not None or bool(held)


# Subtitles an output type holds, copied as they are (frames keep their times, so do they):
# text, and in .mkv the bitmap subtitles of DVDs, Blu-rays and broadcasts (decoder and codec names);
# others, and any in types not listed, are left out, with a warning line.
DVD_SUBTITLES = {"dvdsub", "dvd_subtitle"}  # a cue's display dates are inside it (_stretch_dvd_cue)
BITMAP_SUBTITLES = DVD_SUBTITLES | {"pgssub", "hdmv_pgs_subtitle", "dvbsub", "dvb_subtitle"}
SUBTITLE_CODECS = {".mp4": {"mov_text"}, ".m4v": {"mov_text"}, ".mov": {"mov_text"},
                   ".mkv": {"srt", "subrip", "ass", "ssa", "webvtt"} | BITMAP_SUBTITLES, ".webm": {"webvtt"},
                   **{k: {"dvbsub", "dvb_subtitle"} for k in (".ts", ".m2ts", ".mts")}}  # a broadcast's own
# Text subtitles another type does not hold are converted (as ffmpeg does): to this encoder, per output type.
TEXT_SUBTITLES = {"srt", "subrip", "ass", "ssa", "webvtt", "mov_text", "text"}
SUBTITLE_ENCODERS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "ass", ".webm": "webvtt"}
# Container tags that describe the file's making, not its content: the muxer writes its own.
_TECHNICAL_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _palette_graph(width: int, height: int, time_base: Fraction, alpha: bool = False) -> "av.filter.Graph":
    """ffmpeg's palettegen (one palette per frame) and paletteuse on RGB frames of this size,
    timed in `time_base`; with `alpha` RGBA frames, a palette entry kept for transparent pixels
    (a GIF's pixel is see-through or not: below half opaque it is)."""
    g = av.filter.Graph()
    src = g.add_buffer(width=width, height=height, format=rgb_format(False, alpha), time_base=time_base)
    split, gen = g.add("split"), g.add("palettegen", f"stats_mode=single:reserve_transparent={int(alpha)}")
    use, sink = g.add("paletteuse", "new=1" + (":alpha_threshold=128" if alpha else "")), g.add("buffersink")
    src.link_to(split)
    split.link_to(gen, 0, 0)
    split.link_to(use, 1, 0)
    gen.link_to(use, 0, 1)
    use.link_to(sink)
    g.configure()
    return g


# Output containers that keep each frame's own time (VideoWriter `times`), and the encoder's time base for them.
_REVERSE_DNS = re.compile(r"(com|org|net)\.[\w-]+\.")  # a vendor's tag key: com.apple.quicktime.make, com.android.version
_TIMED_CONTAINERS = {"mp4", "mov", "matroska", "webm", "apng"}  # (MPEG-TS is written and read at a steady rate, as .avi)
VFR_TIME_BASE = Fraction(1, 90000)
GIF_TIME_BASE = Fraction(1, 100)  # a GIF frame's delay is in centiseconds
WEBP_TIME_BASE = Fraction(1, 1000)  # an animated WebP frame's duration is in milliseconds
WEBP_MIN_DELAY = 11  # browsers (and Android's decoders) show a WebP frame of 10 ms or less for 100 ms
# The shortest delay browsers honour: they show a frame of 1 cs (or 0) for 10 cs, so a 60 fps GIF
# played at a fraction of its speed. A frame due sooner after the last one is shown that much
# later, or left out where that is more than half of it late (50 fps at most; 60 fps keeps 5 of 6).
GIF_MIN_DELAY = 2
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # write errors of a full disk, quota or file-size limit


_RESTART = Fraction(1, 10)  # a clock going back by more than this (s) restarted (MPEG-TS joined with `cat`)


class _Forward:
    """Timestamps of one carried-over track made to run forward, as ffmpeg makes them: muxers
    refuse one that goes back, which failed the run after its video was made. Where the track's
    clock restarts (MPEG-TS recordings joined with `cat`: back by more than a tenth of a second)
    the rest of the track is moved on to follow what came before; a packet only a little behind
    (or level with) the last is placed one tick after it. Subtitles (`restarts` False) are never
    moved on: a cue out of order would carry every later cue off its time; it alone is placed one
    tick after the last."""

    def __init__(self, time_base: Fraction, restarts: bool = True):
        self.tick, self.restarts = Fraction(time_base), restarts
        self.offset = 0  # ticks added to the rest of the track since its clock restarted
        self.last: int | None = None  # the last placed timestamp
        self.end = 0  # where the last placed packet ends

    def place(self, ts: int, length: int | None) -> int:
        """The timestamp (in ticks) to give a packet of `length` ticks stamped `ts`; later by the same
        amount as the packets before it, or later still where it would go back."""
        ts += self.offset
        if self.last is not None and ts <= self.last:
            if self.restarts and (self.last - ts) * self.tick > _RESTART:  # the clock restarted: carry on from the last end
                self.offset += self.end - ts
                ts = self.end
            else:
                ts = self.last + 1
        self.last, self.end = ts, max(ts + (length or 0), ts + 1)
        return ts


@dataclass
class _Track:
    """A stream the writer carries over from a source file: `how` is copy (remux), reencode
    (audio, AUDIO_CODECS) or convert (text subtitles, SUBTITLE_ENCODERS)."""
    container: "av.container.InputContainer"  # its own, so each track is read start to end
    source: "av.stream.Stream"
    target: "av.stream.Stream"
    how: str
    packets: Iterator["av.Packet"] | None = None  # what it muxes, made as the video is written (VideoWriter._carry)
    waiting: "av.Packet | None" = None  # the next of them, made ahead of the video of its time
    kind: str = field(init=False)  # audio, subtitle, ...: kept, as PyAV 19 refuses to say once the output is closed

    def __post_init__(self):
        self.kind = self.target.type


def _decoded(source, packet) -> list:
    """What a packet of `source` decodes to; nothing where the decoder refuses it (damaged)."""
    try:
        return list(source.codec_context.decode(packet))
    except av.FFmpegError:
        return []


def _stretch_dvd_cue(data: bytes, n: int) -> bytes:
    """A DVD subtitle packet (SPU) whose display commands come n x later: each control sequence's
    date (1024/90000 s ticks from the packet's time: when the cue shows, when it goes) times n,
    at most 0xFFFF. Players take the cue's end from its stop date, not the packet's duration.
    A packet that does not parse as an SPU comes back as it was."""
    out = bytearray(data)
    if len(out) < 4:
        return data
    at, seen = int.from_bytes(out[2:4], "big"), set()
    while at + 4 <= len(out) and at not in seen:
        seen.add(at)
        date, nxt = int.from_bytes(out[at:at + 2], "big"), int.from_bytes(out[at + 2:at + 4], "big")
        out[at:at + 2] = min(date * n, 0xFFFF).to_bytes(2, "big")
        if nxt == at:  # the last control sequence points at itself
            return bytes(out)
        at = nxt
    return data


def _retimed(pkt: "av.Packet", data: bytes) -> "av.Packet":
    """A packet with other bytes and the same times."""
    new = av.Packet(data)
    new.pts, new.dts, new.duration, new.time_base = pkt.pts, pkt.dts, pkt.duration, pkt.time_base
    return new


def _due(pkt: "av.Packet") -> Fraction | None:
    """When a packet is due on its stream's clock (its dts, else its pts), in seconds; None where it does not say."""
    ts = pkt.dts if pkt.dts is not None else pkt.pts
    return ts * pkt.time_base if ts is not None and pkt.time_base else None


def _sources(path, kind: str) -> Iterator[tuple["av.container.InputContainer", "av.stream.Stream"]]:
    """Each `kind` ("audio" or "subtitles") stream of a file, each with its own opening of the file
    (so each track is read start to end on its own); the caller closes the ones it keeps."""
    with av_open(path) as c:
        n = len(getattr(c.streams, kind))
    for i in range(n):
        src = av_open(path)
        yield src, getattr(src.streams, kind)[i]


def _layout(a) -> str:
    """An audio stream's (or frame's) channel layout by name; one that gives only a channel count
    ("2 channels") gets that count's usual layout."""
    return a.layout.name if "channels" not in a.layout.name else _LAYOUTS.get(len(a.layout.channels), "stereo")


def _audio_target(encoder: str, rate: int, layout: str, fmt: str | None) -> tuple[int, str, str] | None:
    """The sample rate, channel layout and sample format to encode audio of `rate`, `layout` and
    `fmt` with `encoder`: its own where the encoder takes them, else the nearest it takes (as
    ffmpeg negotiates): the next higher rate it lists (Opus: 44.1 -> 48 kHz; MP3 and AC-3 stop at
    48), the usual layout of that many channels (AC-3's and broadcasts' 5.1(side) -> 5.1 for Opus),
    else fewer (MP3: 5.1 -> stereo), the format _sample_format picks. Each layout tried by opening
    the encoder; PyAV resamples and remixes to it. None: there is no such encoder, or it opens
    with none of them (WMA's needs more than its defaults)."""
    try:
        codec = av.codec.Codec(encoder, "w")
    except (av.FFmpegError, ValueError):  # a decoder only
        return None
    rates = sorted(codec.audio_rates or [rate])
    rate = rate if rate in rates else next((r for r in rates if r > rate), rates[-1])
    channels = av.AudioLayout(layout).nb_channels
    tried = dict.fromkeys([layout, _LAYOUTS.get(channels, "stereo"), *(n for c, n in sorted(_LAYOUTS.items(), reverse=True)
                                                                      if c < channels and c in (1, 2, 6))])
    fmt = _sample_format([f.name for f in codec.audio_formats], fmt)
    # bit_rate 0 as an output stream has it (a context made on its own starts at 128 kb/s)
    return next(((rate, name, fmt) for name in tried if _opens(encoder, sample_rate=rate, layout=name, format=fmt, bit_rate=0)), None)


def _sample_format(formats: list[str], fmt: str | None) -> str:
    """Of an encoder's sample `formats`, the one for samples in `fmt`, as ffmpeg's negotiation
    picks: the same, else one as wide or wider (integers staying integers, planes as they were),
    else the widest. The encoder's first was taken: a 16-bit FLAC went into ALAC as 24-bit, a
    24-bit one slowed down (re-encoded as FLAC) was cut to 16 bits."""
    if fmt is None or fmt in formats:
        return fmt or formats[0]
    src, floats = av.AudioFormat(fmt), ("flt", "fltp", "dbl", "dblp")

    def rank(name):
        f = av.AudioFormat(name)
        return f.bytes < src.bytes, (name in floats) != (fmt in floats), abs(f.bytes - src.bytes), f.is_planar != src.is_planar
    return min(formats, key=rank)


def _opens(encoder: str, **settings) -> bool:
    """Whether `encoder` opens with these codec context settings (a trial: nothing is encoded)."""
    trial = av.codec.CodecContext.create(encoder, "w")
    for k, v in settings.items():
        setattr(trial, k, v)
    try:
        trial.open()
        return True
    except av.FFmpegError:
        return False


def _muxes(fmt: str, source) -> bool:
    """Whether a container of format `fmt` takes a copy of `source`'s packets: its muxer writes
    the header. Some name a codec as held and then refuse it (ADPCM from Flash video in .avi)."""
    try:
        with av.open(io.BytesIO(), "w", format=fmt) as trial:
            trial.add_stream_from_template(source)
            trial.start_encoding()
        return True
    except (av.FFmpegError, ValueError):
        return False


ATEMPO_MIN = Fraction(1, 2)  # the slowest one atempo filter plays (FFmpeg); slower is a chain of them


class _Tempo:
    """Audio frames played `stretch` x slower with their pitch kept: a chain of FFmpeg atempo
    filters (each 0.5 at the slowest), as `ffmpeg -af atempo=0.5,atempo=0.5` slows 4 x. A frame's
    pts is its time already stretched; what comes out runs on from the first one's, later by the
    chain's lead (`_tempo_lead`), so that a sound stays at its frame. Rebuilt (the old graph
    flushed) where the audio's format, rate or layout changes."""

    def __init__(self, stretch: int):
        self.factors, left = [], Fraction(1, stretch)
        while left < ATEMPO_MIN:
            self.factors.append(ATEMPO_MIN)
            left /= ATEMPO_MIN
        self.factors.append(left)
        self.factors = tuple(self.factors)
        self.graph, self.key, self.lead = None, None, Fraction(0)

    def push(self, frame) -> list:
        """Push a frame (None: the end); the frames the chain gives back."""
        out = []
        key = None if frame is None else (frame.format.name, frame.sample_rate, _layout(frame),
                                          frame.time_base or Fraction(1, frame.sample_rate))
        if self.graph is not None and (frame is None or key != self.key):
            out += self._through(None)
            self.graph = None
        if frame is None:
            return out
        if self.graph is None:
            self.graph, self.key = _tempo_graph(self.factors, *key), key
            self.lead = _tempo_lead(self.factors, key[1])
        return out + self._through(frame)

    def _through(self, frame) -> list:
        out = _pushed(self.graph, frame)
        for f in out:
            if f.pts is not None and f.time_base:
                f.pts += round(self.lead / f.time_base)
        return out


def _tempo_graph(factors: tuple, fmt: str, rate: int, layout: str, time_base: Fraction) -> "av.filter.Graph":
    g = av.filter.Graph()
    node = g.add_abuffer(format=fmt, sample_rate=rate, layout=layout, time_base=time_base)
    for f in factors:
        nxt = g.add("atempo", f"{float(f):.6f}")
        node.link_to(nxt)
        node = nxt
    node.link_to(g.add("abuffersink"))
    g.configure()
    return g


def _pushed(graph, frame) -> list:
    """Push a frame (None: the end) into a filter graph; the frames it gives back."""
    graph.push(frame)
    out = []
    while True:
        try:
            out.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return out


@functools.lru_cache(maxsize=None)
def _tempo_lead(factors: tuple, rate: int) -> Fraction:
    """How early (s) the atempo chain plays a sound against its stretched time: its overlap-add
    windows start the output ahead (measured: 33 ms at x2, 0.23 s at x8 for 8 kHz audio, a lip-sync
    error of several frames). Found by a click through the same chain: its energy's centre."""
    stretch = 1 / math.prod(factors)
    g = _tempo_graph(factors, "s16", rate, "mono", Fraction(1, rate))
    x, width = np.zeros(rate, np.int16), max(rate // 200, 1)  # 1 s of silence with a 5 ms click at 0.5 s
    x[rate // 2:rate // 2 + width] = 10000
    out = []
    for k in range(0, rate, 1024):
        f = av.AudioFrame.from_ndarray(x[None, k:k + 1024], format="s16", layout="mono")
        f.sample_rate, f.pts, f.time_base = rate, k, Fraction(1, rate)
        out += _pushed(g, f)
    y = np.abs(np.concatenate([f.to_ndarray()[0] for f in out + _pushed(g, None)]).astype(np.float64))
    heard = (y * np.arange(len(y))).sum() / max(y.sum(), 1) / rate
    return Fraction(float(stretch) * (rate // 2 + width / 2) / rate - heard).limit_denominator(rate)


# Pixel formats tried, in order, for an encoder the writer has no settings of its own for: 8-bit
# 4:2:0 as the others are written, then more chroma, JPEG's full range, 10 bits, RGB.
_PIXEL_FORMATS = ("yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p",
                  "yuv420p10le", "yuv422p10le", "yuv444p10le", "rgb24", "gbrp", "bgr0")


# Settings of those encoders that open with none of their own: DNxHD takes only broadcast sizes at
# set bit rates, its DNxHR profiles any HD-scale size at constant quality (HQ: 8-bit 4:2:2).
ENCODER_OPTIONS = {"dnxhd": {"profile": "dnxhr_hq"}}


# Encoders of the MPEG family that take a constant quantiser (ffmpeg's -q:v, 1 best .. 31) and
# otherwise hold 200 kb/s whatever the size (8.7 dB under H.264 at the default --crf on the example clip).
QSCALE_ENCODERS = ("mpeg4", "mpeg2video", "mpeg1video", "msmpeg4", "msmpeg4v2", "h263", "h263p", "flv", "wmv1", "wmv2", "mjpeg")


# the encoders --crf sets the quality of (VideoWriter); the rest are lossless (PNG, FFV1, APNG, raw
# .y4m), palette-bound (GIF) or set otherwise (ProRes profiles, DNxHR bitrates), and refuse a --crf
CRF_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libwebp", *QSCALE_ENCODERS)


def _qscale(crf: int) -> int:
    """--crf (H.264's 0-51 scale, default 18) -> a quantiser 1-31: 18 -> 3, 23 -> 4, 51 -> 8. At 3,
    MPEG-4 Part 2 writes the example clip's reconstruction at 37.4 dB from the lossless one against
    x264's 37.5 at crf 18 (1.3 x the size; 28.8 dB at the 200 kb/s default): the default keeps its
    meaning, high quality."""
    return max(1, min(31, round(crf / 6)))


def _crf63(crf: int) -> str:
    """--crf (H.264's 0-51 scale, default 18) on the 0-63 scale of VP9, VP8 and AV1: + 13, so the
    default becomes 31, the usual VP9 setting for HD; 51 (H.264's lowest quality) their 63."""
    return str(min(63, crf + 13))


def _pixel_format(codec: str, width: int, height: int, fps: Fraction, full_chroma: bool) -> str | None:
    """The first of _PIXEL_FORMATS that `codec` lists and opens with at this size (4:4:4 and RGB
    first where 4:2:0 cannot hold the size): ProRes takes only 10-bit 4:2:2 and up, MJPEG lists
    yuv420p but opens only full-range JPEG formats. None: none opens; '': the encoder lists none
    (its own default then)."""
    listed = {f.name for f in av.codec.Codec(codec, "w").video_formats or ()}
    if not listed:
        return ""
    order = [f for f in _PIXEL_FORMATS if f in listed]
    if full_chroma:
        order.sort(key=lambda f: not ("444" in f or f[:3] in ("rgb", "gbr", "bgr")))
    return next((f for f in order if _opens(codec, width=width, height=height, pix_fmt=f, time_base=1 / Fraction(fps),
                                            framerate=Fraction(fps), options=dict(ENCODER_OPTIONS.get(codec, {})))), None)


def _with_alpha(pix_fmt: str) -> str:
    """A YUV pixel format with an alpha plane added (yuv444p10le -> yuva444p10le); yuva420p for another."""
    return "yuva" + pix_fmt[3:] if pix_fmt.startswith("yuv") and not pix_fmt.startswith("yuvj") else ALPHA_ENCODERS["ffv1"]


class VideoWriter:
    """Write RGB frames to `path` (mp4/H.264 by default) through a temporary file.

    Use as a context manager: the file appears at `path` only when the block ends without an
    exception. `audio_from` copies every audio stream of that file (remux, no re-encode; audio the
    output type does not hold well is re-encoded, AUDIO_CODECS); `subtitles_from` copies every
    subtitle stream of that file the output type holds (SUBTITLE_CODECS), text subtitles it does
    not hold converted to its text format (SUBTITLE_ENCODERS); `attachments_from` copies every
    attachment of that file (the fonts its styled subtitles are drawn with) into a .mkv, the one
    output type that holds them, and its cover pictures into a .mkv or .mp4 (_open_attachments);
    `rotation` tags the output with a display rotation (frames are read upright, so only a token
    file written before that, whose frames were stored on their side, asks for one);
    `sample_aspect` with its pixels' shape where they are not square (players stretch to it);
    `start`: when the input's video starts on its timeline (s); the copied audio and subtitles keep
    their own starts, so their offset to the video stays, and the output's timeline begins at the
    earliest of them (as ffmpeg does);
    `span`: [from, to) on the input's timeline (s; to None: the end) for a trimmed input: the output
    begins at `from`, and copied audio and subtitle packets outside it are left out;
    `metadata`: the input container's tags, copied (title, creation time, location, ...);
    `chapters`: the input's chapters (VideoInfo.chapters), kept in mp4/mov/mkv/webm on the
    output's timeline (cut to the span);
    `times`: output frame index -> its time (s, from the first frame; `timeline`) for input whose
    frame rate varies, so each frame keeps its time and the audio its sync (.mp4, .mov, .mkv,
    .webm; .avi and .gif hold a steady rate: frames at index / fps there, and where it is None);
    `timecode`: the first frame's SMPTE timecode (shift_timecode), on the video stream (a tmcd
    track in .mp4/.mov, a tag in .mkv);
    `colour` converts RGB to YUV with that matrix and range and tags the stream with it;
    `to_sdr`: frames are HDR of that colour (PQ, HLG) and the output holds SDR only (holds_hdr):
    they are tone-mapped (hdr.to_sdr) as they are written.
    `deep`: frames are uint16 (0-65535) and stored at more than 8 bits: 10-bit YUV for H.264 and
    H.265, 16-bit RGB for PNG and TIFF (only where `deep_output` allows). `full_chroma`: H.264/H.265 in
    YUV 4:4:4 (as for odd sizes, which 4:2:0 cannot hold) instead of 4:2:0.
    `stretch` N > 1: slow motion, the input's timeline N x as long (`times` already are): the audio
    re-encoded N x slower with its pitch kept (FFmpeg's atempo), subtitle cues and chapters N x later
    and longer, so all of it stays in step with the slowed video.
    `alpha`: frames are RGBA (H, W, 4), their transparency kept (only where alpha_output says the
    output holds it)."""

    def __init__(self, path: str | Path, fps: Fraction, width: int, height: int, *, codec: str | None = None,
                 crf: int = 18, lossless: bool = False, preset: str | None = None, audio_from: str | Path | None = None, rotation: int = 0,
                 colour: Colour = Colour(), clock=None, deep: bool = False, full_chroma: bool = False,
                 subtitles_from: str | Path | None = None, attachments_from: str | Path | None = None,
                 times: Callable[[int], Fraction] | None = None, timecode: str | None = None,
                 metadata: dict | None = None, warn: Callable[[str], None] | None = None,
                 sample_aspect: Fraction | None = None, start: Fraction = Fraction(0),
                 span: tuple[Fraction, Fraction | None] | None = None, chapters: list | None = None, stretch: int = 1,
                 video_tags: dict | None = None, to_sdr: Colour | None = None, alpha: bool = False):
        if deep and not deep_output(path, codec, lossless, alpha):
            raise ValueError(f"{path}: this output ({codec}{', lossless' if lossless else ''}) stores 8 bits per component")
        if alpha and not alpha_output(path, codec, lossless):
            raise ValueError(f"{path}: this output ({codec}{', lossless' if lossless else ''}) holds no transparency")
        self.alpha = alpha
        self.rotation, self.colour, self.deep = rotation, colour, deep
        self.to_sdr = to_sdr  # HDR frames of this colour, made SDR as they are written (hdr.to_sdr)
        self.sample_aspect = sample_aspect
        self.span = span  # a trimmed input's video starts at the span's start, the output's 0
        self.stretch = stretch  # slow motion: output time = stretch x input time (from the origin)
        self.chapters = chapters or []
        self.start = self.origin = Fraction(span[0] if span else start)  # origin: the input time the output's 0 stands for (set on open)
        self.full_chroma = full_chroma or width % 2 or height % 2
        self.convert = None  # reformat arguments RGB -> the encoder's YUV, when colour asks for them
        self.clock = clock  # optional pipeline Clock: time spent encoding goes to "encode video"
        self.path = Path(path)
        self.fps, self.width, self.height = Fraction(fps), width, height
        self.codec, self.crf, self.lossless = output_codec(path, codec, lossless, deep), crf, lossless
        self.preset = preset or "medium"  # H.264/H.265's speed for its size (x264's and x265's default)
        self.audio_from = Path(audio_from) if audio_from else None
        self.subtitles_from = Path(subtitles_from) if subtitles_from else None
        self.attachments_from = Path(attachments_from) if attachments_from else None
        self.container = container = CONTAINERS.get(self.path.suffix.lower())  # None: an image or a sequence
        # a .webp: a still, or an animated WebP once a second frame comes (_to_animation)
        self.webp = self.path.suffix.lower() == ".webp" and not is_sequence(self.path)
        self.held = None  # .webp: its first frame, until the second (or the end) says which
        # each frame at its own time: the timed containers, a .gif (in GIF_TIME_BASE, through the palette
        # graph) and an animated .webp (in milliseconds)
        timed = container in _TIMED_CONTAINERS and self.codec != "gif" or container == "gif" and self.codec == "gif" or self.webp
        self.times = times if timed else None
        self.last_pts = -1  # the last frame's pts in VFR_TIME_BASE (times given), a GIF's in GIF_TIME_BASE, a WebP's in WEBP_TIME_BASE
        self.shown: dict[int, int] = {}  # a frame's pts -> its time on screen, set on its packet (the encoder knows only the average rate): times given, or a GIF
        self.dropped = 0  # GIF, WebP: frames left out, due too soon after the last one (_shown_at)
        self.merged = 0  # WebP: frames the encoder merged into the one before (a repeat: a held frame, a still photo's)
        self.last_dts = None  # the last video packet's decode time, in the encoder's time base (_sane_dts)
        # MP4/MOV at each frame's own time: the last packet is held back and its decode time and duration set at
        # the end (_end_tail), so the decode timeline ends where the frames do
        self.tail: "av.Packet | None" = None
        self.delay: int | None = None  # the first packet's pts - dts: the encoder's reordering delay, in its ticks
        self.end_pts = 0  # where the frames end (the latest pts + duration), in the encoder's ticks
        self.warn = warn
        # the input's timecode tag (if any) is replaced by `timecode`, set on the video stream (MP4/MOV: a tmcd track)
        self.metadata = {k: v for k, v in (metadata or {}).items() if k.lower() not in _TECHNICAL_TAGS | {"timecode"}}
        self.timecode = timecode
        self.video_tags = video_tags or {}
        self.sequence = is_sequence(self.path)  # out/%04d.png: one image per frame, numbered from 1
        # audio the output cannot hold: said once it is written (__exit__), as a subtitle track or a cover left out is
        self.audio_left_out = self.audio_from is not None and not holds_audio(self.path)
        if self.audio_left_out:
            self.audio_from = None
        self.is_image = self.path.suffix.lower() in IMAGE_SUFFIXES and not self.sequence
        self.frames = 0
        self.existed = os.path.lexists(self.path)  # an output there now is replaced at the end; one that appears meanwhile is not

    @property
    def stored(self) -> int:
        """Frames the file holds: those written, less a GIF's or WebP's left out (`dropped`) and a
        WebP's repeats merged into the frame before (`merged`)."""
        return self.frames - self.dropped - self.merged

    def stored_fps(self, fps) -> Fraction:
        """The rate the file holds: `fps`, or where a GIF or WebP left out or merged frames, the
        frames it holds over its length (what `magvit info` reads back), so that a summary's frames
        and rate give its length (a 90 fps clip into a GIF said 30 frames at 90 fps: 50 it is)."""
        if self.stored == self.frames or self.stored < 2:  # (one frame left: a still, at no rate)
            return Fraction(fps)
        tick = GIF_TIME_BASE if self.palette is not None else WEBP_TIME_BASE
        return (Fraction(self.stored) / (round(self._time_of(self.frames) / tick) * tick)).limit_denominator(1001)

    @property
    def has_audio(self) -> bool:
        """Whether the output carries audio (known once the writer is open)."""
        return any(t.kind == "audio" for t in getattr(self, "tracks", ()))

    @property
    def depth(self) -> int:
        """Bits per component the output stores: 16 for a deep PNG or TIFF (an image, a sequence or PNG
        video), 10 for other deep video, else 8."""
        return (16 if self.is_image or self.sequence or self.codec in DEEP_RGB_ENCODERS else 10) if self.deep else 8

    def __enter__(self):
        folder = self.path.parent
        check_folder(self.path)
        self.tmp = None
        try:
            with signals_held():  # no Ctrl-C between creating the temporary and remembering it
                try:
                    if self.sequence:  # frames go to a hidden folder beside the target, moved into place at the end
                        self.tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(sequence_stem(self.path)), dir=folder))
                    else:
                        self.tmp = temp_file(self.path)
                except OSError as e:  # named by the output, not the temporary file it could not make
                    raise MagvitError(f"{self.path}: cannot write in {_named(folder)} ({os.strerror(e.errno).lower()}); "
                                      "nothing was written") from e
            if not self.sequence:
                self._open()
        except BaseException:
            if self.tmp is not None:
                self._close(ok=False)
            raise
        return self

    def _open(self):
        self.tracks: list[_Track] = []  # the audio and subtitle streams carried over, in the input's order
        self.covers: list[tuple["av.stream.Stream", bytes]] = []  # .mp4: the cover pictures' streams and data, muxed after the header
        self.palette = None  # GIF: the filter graph that gives each frame its palette
        if self.webp:  # opened by its second frame (an animation) or its end (a still)
            return
        if self.is_image:
            self._open_image()
            return
        fast = self.container in _FASTSTART
        # a phone's own tags are reverse-DNS keys (com.apple.quicktime.location.ISO6709, .make, .model,
        # .creationdate): an MP4/MOV holds them as mdta keys, which the muxer leaves out unless told
        if fast:  # one that came through a Matroska file was upper-cased there (COM.APPLE.QUICKTIME.MAKE): lower again
            self.metadata = {(k.lower().replace(".iso6709", ".ISO6709") if k.isupper() and _REVERSE_DNS.match(k.lower()) else k): v
                             for k, v in self.metadata.items()}  # (Apple's keys are lower case but for location.ISO6709)
        keyed = fast and any(_REVERSE_DNS.match(k) for k in self.metadata)
        options = {"movflags": "+faststart" + ("+use_metadata_tags" if keyed else "")} if fast else {}
        if self.path.suffix.lower() in (".m2ts", ".mts"):  # BDAV: 192-byte packets, as camcorders and Blu-rays store them
            options["mpegts_m2ts_mode"] = "1"
        if self.container == "yuv4mpegpipe" and self.deep:  # 10-bit Y4M (C420p10), which x264 and VMAF read, is "unofficial"
            options["strict"] = "unofficial"
        if self.container == "apng":  # loops, as a GIF does (FFmpeg's muxer plays it once)
            options["plays"] = "0"
        self.out = av_open(self.tmp, "w", options=options or None)
        self.out.metadata.update(self.metadata)
        codec = self.codec
        self.stream = self.out.add_stream(codec, rate=self.fps)
        self.stream.width, self.stream.height = self.width, self.height
        if self.times is not None:
            self.stream.codec_context.time_base = VFR_TIME_BASE
        self.stream.metadata.update(self.video_tags)
        if self.timecode:
            self.stream.metadata["timecode"] = self.timecode
        if self.rotation:
            self.stream.set_display_rotation(self.rotation)
        self._tag_aspect()
        if codec == "libx264rgb":
            self.stream.pix_fmt = "rgb24"
            self.stream.options = {"qp": "0", "preset": self.preset}
        elif codec in ("libx264", "libx265"):
            self.stream.pix_fmt = ("yuv444p" if self.full_chroma else "yuv420p") + ("10le" if self.deep else "")
            options = {"crf": str(self.crf), "preset": self.preset}
            if codec == "libx265":  # quiet: x265 prints its settings to stderr otherwise
                # frames 33-48 px wide corrupt the bundled libx265's heap (a crash at exit) unless cutree is off (seen here)
                options["x265-params"] = "log-level=error" + (":cutree=0" if min(self.width, self.height) < 64 else "") + \
                    (f":hdr10=1:{self.colour.hdr10}" if self.deep and self.colour.hdr10 else "")
                if self.container in _HEVC_TAGGED:
                    self.stream.codec_tag = "hvc1"
            self.stream.options = options
        elif codec == "libvpx-vp9":
            self.stream.pix_fmt = "yuv420p" if not self.full_chroma else "yuv444p"
            self.stream.options = {"crf": _crf63(self.crf), "b": "0", "row-mt": "1"}  # constant quality
        elif codec == "libvpx":  # VP8: its constant quality needs a bitrate cap (else FFmpeg's 256 kb/s holds),
            self.stream.pix_fmt = "yuv420p"  # set far above what it takes: 4 bits a pixel
            self.stream.options = {"crf": _crf63(self.crf), "b": str(round(4 * self.width * self.height * self.fps))}
        elif codec == "gif":  # each frame with its own 256-colour palette: a fixed one loses 16 dB (example clip)
            self.stream.pix_fmt = "pal8"
            self.stream.codec_context.time_base = GIF_TIME_BASE
            self.palette = _palette_graph(self.width, self.height, GIF_TIME_BASE, self.alpha)
            if self.alpha:  # each frame whole, nothing left to show through (_clear_between_frames)
                self.stream.options = {"gifflags": "0"}
        elif codec == "libsvtav1":
            os.environ.setdefault("SVT_LOG", "1")  # quiet: SVT-AV1 prints its settings to stderr otherwise
            self.stream.pix_fmt = DEEP_ENCODERS[codec][0] if self.deep else "yuv420p"
            self.stream.options = {"crf": _crf63(self.crf)}
        elif self.deep and codec in DEEP_ENCODERS:  # 10 bits kept (DNxHR HQX, FFV1)
            pix, options = DEEP_ENCODERS[codec]
            self.stream.pix_fmt = pix.replace("420", "444") if self.full_chroma and codec in ("ffv1", "wrapped_avframe") else pix
            self.stream.options = dict(options)
        elif codec == "wrapped_avframe":  # .y4m: raw YUV as the input has it (4:4:4 or 4:2:0)
            self.stream.pix_fmt = "yuv444p" if self.full_chroma else "yuv420p"
        else:  # another --codec (ProRes, MJPEG, DNxHR, ...): a pixel format it takes
            fmt = _pixel_format(codec, self.width, self.height, self.fps, self.full_chroma)
            if fmt is None:  # said here: PyAV 19 crashes opening an encoder with no pixel format set
                raise UsageError(f"{self.path}: the {codec} encoder refuses {self.width}x{self.height} frames (it opens with "
                                 f"none of its pixel formats at this size); another --codec or output type may take them")
            self.stream.pix_fmt = fmt or self.stream.pix_fmt
            self.stream.options = dict(ENCODER_OPTIONS.get(codec, {}))
            if codec in QSCALE_ENCODERS:  # constant quality from --crf; their default is 200 kb/s at any size
                # pinned by qmin = qmax (ffmpeg's -q:v also sets each frame's quality, which PyAV cannot)
                self.stream.codec_context.qmin = self.stream.codec_context.qmax = _qscale(self.crf)
        if self.alpha and codec in ALPHA_ENCODERS:  # ProRes as 4444 (with its alpha), QuickTime Animation and PNG as RGBA
            self.stream.pix_fmt = _with_alpha(self.stream.pix_fmt) if codec == "ffv1" else ALPHA_ENCODERS[codec]
        if self.deep and codec in DEEP_RGB_ENCODERS:  # 16 bits a component, transparency too
            self.stream.pix_fmt = DEEP_RGB_ENCODERS[codec][self.alpha]
        self._tag_colour()
        if self.audio_from is not None:
            self._open_audio()
        if self.subtitles_from is not None:
            self._open_subtitles()
        if self.attachments_from is not None:
            self._open_attachments()
        for t in self.tracks:  # language and title: which track is which
            t.target.metadata.update(_track_tags(t.source))
        self.origin = self.span[0] if self.span else min([self.start] + [start_of(t.source) for t in self.tracks])
        if self.chapters and self.container in ("mp4", "mov", "matroska", "webm"):
            self.out.set_chapters(self._rebased_chapters())
        encoder = self.stream.codec_context.name  # read before its open: PyAV 19 crashes reading it after a failed one
        try:  # the video encoder first: one that refuses the frames (x265 at a few pixels a side) is named as such
            self.stream.codec_context.open()
        except av.FFmpegError as e:
            raise UsageError(f"{self.path}: the {encoder} encoder refuses {self.width}x{self.height} "
                             f"frames{' at 10 bits' if self.deep else ''} ({_reason(e)}); another --codec or output type may take them") from None
        try:  # the header now, not at the first frame's packet: a track the muxer refuses fails before any work
            self.out.start_encoding()
        except av.FFmpegError as e:
            if not _muxes(self.out.format.name, self.stream):  # the video alone is refused: its encoder, not the tracks
                raise UsageError(f"{self.path}: {self.path.suffix or 'this output'} cannot hold {self.codec} video ({_reason(e)}); "
                                 f"another --codec or output type (.mkv holds the most)") from None
            raise UsageError(f"{self.path}: this output type cannot be written with the input's tracks ({_reason(e)}); "
                             f".mkv holds the most, --no-audio leaves the audio out") from None
        for target, data in self.covers:  # a cover's one packet, before any frame (the muxer keeps it for the index)
            pkt = av.Packet(data)
            pkt.stream = target
            self.out.mux(pkt)

    def _attach(self, name: str, mimetype: str, data: bytes):
        """One attachment, its file name and type as the source's bytes (TAG_ERRORS): PyAV encodes
        them as strict UTF-8, and a Latin-1 font name failed the whole run."""
        target = self.out.add_attachment(shown_text(name), shown_text(mimetype), data)
        target.metadata.update({"filename": name, "mimetype": mimetype})  # written with the container's TAG_ERRORS

    def _open_attachments(self):
        """The source's attachments (the fonts its styled subtitles are drawn with) into a .mkv, and
        its cover pictures (attached_pic streams: an MP4's covr, a Matroska image attachment) into a
        .mkv as an image attachment or an .mp4 as its covr; elsewhere a cover is left out, said so."""
        with av_open(self.attachments_from) as c:
            if self.container == "matroska":
                for a in c.streams.attachments:
                    if a.name and a.data:
                        self._attach(a.name, a.mimetype or "application/octet-stream", bytes(a.data))
            for k, (stream, data) in enumerate(covers(c)):
                mime, suffix = COVER_TYPES[stream.codec_context.name]
                if self.container == "matroska":
                    self._attach(stream.metadata.get("filename") or f"cover{'' if k == 0 else k + 1}{suffix}",
                                 stream.metadata.get("mimetype") or mime, data)
                elif self.container == "mp4":
                    target = self.out.add_stream_from_template(stream)
                    target.disposition = av.stream.Disposition.attached_pic
                    self.covers.append((target, data))
                elif self.warn is not None and k == 0 and self.container != "gif":
                    self.warn(f"{self.path}: the input's cover picture is left out: {self.path.suffix} does not hold one; .mp4 and .mkv do")

    def _open_image(self):
        encoder, eight, deep = IMAGE_CODECS[self.path.suffix.lower()]
        if self.alpha:
            eight, deep = ALPHA_IMAGES[self.path.suffix.lower()]
        self.out = av_open(self.tmp, "w", format="image2")
        self.stream = self.out.add_stream(encoder)
        self.stream.pix_fmt = deep if self.deep else eight
        self.stream.width, self.stream.height = self.width, self.height
        if self.lossless and encoder == "libwebp":  # RGB: every pixel as it is (4:2:0 would lose colour)
            self.stream.pix_fmt, self.stream.options = "bgra", {"lossless": "1"}
        elif encoder == "libwebp":  # quality 100 - crf, as an animated WebP's (libwebp's own default, 75, ignored --crf)
            self.stream.options = {"quality": str(max(0, 100 - self.crf))}
        elif encoder == "mjpeg":  # a quantiser from --crf, as MJPEG video's (_qscale: 18 -> 3); none was set, --crf ignored
            self.stream.codec_context.qmin = self.stream.codec_context.qmax = _qscale(self.crf)
        self._tag_aspect()

    def _to_animation(self):
        """A .webp given a second frame: an animated WebP (as browsers and chat apps play, looping),
        each frame at its time in milliseconds; lossy at quality 100 - crf (18: 82), or --lossless."""
        self.is_image = False
        self.out = av_open(self.tmp, "w", format="webp", options={"loop": "0"})  # the muxer's default plays once
        self.stream = self.out.add_stream("libwebp_anim", rate=self.fps)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "bgra" if self.lossless else "yuva420p" if self.alpha else "yuv420p"  # lossless: RGB, every pixel as it is
        self.stream.codec_context.time_base = WEBP_TIME_BASE
        self.stream.options = {"lossless": "1"} if self.lossless else {"quality": str(max(0, 100 - self.crf))}
        held, self.held = self.held, None
        self._encode_webp(held, 0)

    def _encode_webp(self, frame, index: int):
        pts = self._shown_at(index, WEBP_TIME_BASE, WEBP_MIN_DELAY)
        if pts is not None:
            vf = self._frame(frame, False)
            vf.pts, vf.time_base = pts, WEBP_TIME_BASE
            self._encode_frames([vf])

    def _open_audio(self):
        """One output stream per audio stream of the source: a copy, or a re-encoding where the
        type does not hold its codec (AUDIO_CODECS); none where the type holds no audio."""
        held, encoder = AUDIO_CODECS.get(self.path.suffix.lower(), (self.out.supported_codecs, self.out.default_audio_codec))
        for src, source in _sources(self.audio_from, "audio"):
            a = source.codec_context
            # held by its decoder's name or its codec's: MP3 decodes with "mp3float" (and was re-encoded, to AAC
            # in an .mp4, for that), DTS with "dca"
            kind = a and next((n for n in (a.name, a.codec.canonical_name) if n in held), None)
            if a is None or (kind is None and encoder is None):
                src.close()
            elif kind and self.stretch == 1 and _muxes(self.out.format.name, source):
                self.tracks.append(_Track(src, source, self.out.add_stream_from_template(source), "copy"))
            else:  # re-encoded (slow motion: stretched) in its own codec where the type holds it, else the type's
                fmt = a.format and a.format.name
                lossless = _LOSSLESS_ENCODERS.get(self.path.suffix.lower()) \
                    if {a.name, a.codec.canonical_name} & _LOSSLESS_AUDIO else None  # (a lossless track stays lossless)
                if lossless == "pcm":
                    lossless = fmt and _PCM_OF.get(a.format.packed.name)
                names, layout = [n for n in (kind, lossless, encoder) if n], _layout(a)
                name, rate, layout, fmt = next(((n, *t) for n in names if (t := _audio_target(n, a.sample_rate, layout, fmt))),
                                               (encoder or a.name, a.sample_rate, layout, None))  # none opens: the muxer's error names it
                target = self.out.add_stream(name, rate=rate)
                target.layout = layout
                if fmt:
                    target.format = fmt
                self.tracks.append(_Track(src, source, target, "reencode"))

    def _open_subtitles(self):
        """One output stream per subtitle stream of the source: a copy where the type holds it, or
        text subtitles converted to the type's text format (SubRip into .mp4: mov_text)."""
        suffix = self.path.suffix.lower()
        for src, source in _sources(self.subtitles_from, "subtitles"):
            name = source.codec_context.name if source.codec_context is not None else None
            if name in SUBTITLE_CODECS.get(suffix, ()):
                self.tracks.append(_Track(src, source, self.out.add_stream_from_template(source), "copy"))
            elif name in TEXT_SUBTITLES and suffix in SUBTITLE_ENCODERS and self._encodes_subtitles(source, SUBTITLE_ENCODERS[suffix]):
                target = self.out.add_stream(SUBTITLE_ENCODERS[suffix])
                target.codec_context.subtitle_header = source.codec_context.subtitle_header
                target.time_base = Fraction(1, 1000)
                self.tracks.append(_Track(src, source, target, "convert"))
            else:
                src.close()
                if self.warn is not None:
                    kind = "bitmap" if name in BITMAP_SUBTITLES else "text" if name in TEXT_SUBTITLES else "other"
                    self.warn(f"{self.path}: a {kind} subtitle track ({name}) is left out: {suffix or 'this output'} does not hold it"
                              + ("; .mkv does" if name in SUBTITLE_CODECS[".mkv"] else ""))

    @staticmethod
    def _encodes_subtitles(source, encoder: str) -> bool:
        """Whether `encoder` opens with the source decoder's ASS header (which it styles the cues
        by); tried on its own, so a failure leaves the subtitles out, not the run."""
        try:
            source.codec_context.open()
            trial = av.codec.CodecContext.create(encoder, "w")
            trial.subtitle_header = source.codec_context.subtitle_header
            trial.open()
            return True
        except (av.FFmpegError, TypeError, ValueError):
            return False

    def _tag_aspect(self):
        """Tag the encoder with the pixels' shape; the muxer takes it from there (mp4, mov, mkv, avi,
        PNG, JPEG, TIFF; GIF rounds it to 1/64; where it is lost: holds_aspect)."""
        if self.sample_aspect and self.sample_aspect != 1:  # square pixels: nothing to say
            self.stream.codec_context.sample_aspect_ratio = self.sample_aspect

    def _tag_colour(self):
        """Copy primaries/transfer as tags; matrix and range only where the RGB -> YUV conversion
        can use them (an RGB encoding has no matrix)."""
        c, cc = self.colour, self.stream.codec_context
        if c.hdr10 and not (self.deep and self.codec == "libx265") and self.warn is not None:
            self.warn(f"{self.path}: the input's HDR10 mastering metadata is left out ({'8-bit output' if not self.deep else self.codec}); "
                      f"10-bit H.265 keeps it (.mp4/.mov, or --codec libx265)")
        if not c.tagged:
            return
        cc.color_primaries, cc.color_trc = c.primaries, c.trc
        if cc.format.name.startswith("yuv") and c.matrix in _CONVERTIBLE_MATRICES:
            cc.colorspace = c.matrix
            cc.color_range = c.range or 1
            self.convert = dict(format=cc.format.name, dst_colorspace=c.matrix, dst_color_range=cc.color_range)

    def write(self, frame: np.ndarray):
        """One (H, W, 3) RGB frame ((H, W, 4) RGBA for an `alpha` writer): uint8, uint16 for a `deep` writer."""
        check_interrupt()
        if self.is_image and self.frames == 1 and not self.webp:
            raise UsageError(f"{self.path} holds one image and the output has more frames: write a video, "
                             f"or one image per frame with a sequence like {sequence_stem(self.path)}_%04d{self.path.suffix}")
        channels = 4 if self.alpha else 3
        if frame.shape != (self.height, self.width, channels) or frame.dtype != (np.uint16 if self.deep else np.uint8):
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match output {self.height}x{self.width}x{channels} "
                             f"{'uint16' if self.deep else 'uint8'}")
        if self.to_sdr is not None:  # the colours; transparency stays
            frame = np.concatenate([hdr.to_sdr(frame[..., :3], self.to_sdr.trc, self.to_sdr.primaries), frame[..., 3:]], -1)
        if self.clock is not None:
            with self.clock("encode video"):
                self._encode(frame)
        else:
            self._encode(frame)
        self.frames += 1

    def _frame(self, frame: np.ndarray, deep: bool, convert: dict | None = None) -> "av.VideoFrame":
        """An RGB(A) frame for the encoder, converted with `convert` (reformat's arguments) where given;
        into a YUVA encoder converted here either way, its alpha kept exactly (put_alpha)."""
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=rgb_format(deep, self.alpha))
        target = self.stream.codec_context.format
        if convert is None and self.alpha and target is not None and target.name.startswith("yuva"):
            convert = dict(format=target.name)
        if convert is not None:
            vf = vf.reformat(**convert)
        return put_alpha(vf, frame[..., 3]) if self.alpha and vf.format.name.startswith("yuva") else vf

    def _encode(self, frame):
        if self.sequence:
            with VideoWriter(self.tmp / (self.path.name % (self.frames + 1)), 1, self.width, self.height, deep=self.deep,
                             sample_aspect=self.sample_aspect, alpha=self.alpha) as w:
                w.write(frame)
            return
        if self.webp:  # held until the next frame says it is an animation
            if self.frames == 0:
                self.held = frame
                return
            if self.frames == 1:
                self._to_animation()
            self._encode_webp(frame, self.frames)
            return
        vf = self._frame(frame, self.deep, self.convert)
        if self.convert is not None:
            c = self.colour
            vf.colorspace, vf.color_range, vf.color_primaries, vf.color_trc = c.matrix, self.convert["dst_color_range"], c.primaries, c.trc
        if self.times is not None and self.palette is None:  # the frame's own time (varying rate); else the encoder counts frames at 1 / fps
            self.last_pts = max(round(self.times(self.frames) / VFR_TIME_BASE), self.last_pts + 1)
            vf.pts, vf.time_base = self.last_pts, VFR_TIME_BASE
            self.shown[vf.pts] = max(round(self.times(self.frames + 1) / VFR_TIME_BASE) - vf.pts, 1)
        self._encode_frames(self._through_palette(vf) if self.palette is not None else [vf])

    def _through_palette(self, vf: "av.VideoFrame | None") -> list:
        """Push a frame (None: the end) through the palette graph; the frames it gives back."""
        if vf is not None:  # at its time in the GIF's centiseconds (its own where the rate varies), kept through the graph
            pts = self._shown_at(self.frames, GIF_TIME_BASE, GIF_MIN_DELAY)
            if pts is None:
                return []
            vf.pts, vf.time_base = pts, GIF_TIME_BASE
            # until the next frame is due: the muxer gives the last frame its packet's duration
            self.shown[pts] = max(round(self._time_of(self.frames + 1) / GIF_TIME_BASE) - pts, GIF_MIN_DELAY)
        return _pushed(self.palette, vf)

    def _time_of(self, index: int) -> Fraction:
        """When output frame `index` is due (s): its own time where the rate varies (`times`), else
        index / fps; index = the frame count: when the last frame ends."""
        return Fraction(self.times(index) if self.times is not None else index / self.fps)

    def _shown_at(self, index: int, tick: Fraction, least: int) -> int | None:
        """When an animated image (GIF, WebP) shows frame `index`, in `tick`s: at its time (its own
        where the rate varies), but no sooner than `least` ticks after the last frame (browsers show
        a shorter frame for 0.1 s, slowing the animation); None: left out, as it would come more
        than half of that late (counted in `dropped`)."""
        due = self._time_of(index) / tick
        pts = round(due) if self.last_pts < 0 else max(round(due), self.last_pts + least)
        if pts - due > Fraction(least, 2):
            self.dropped += 1
            return None
        self.last_pts = pts
        return pts

    def _encode_frames(self, frames: list):
        for vf in frames:
            for pkt in self.stream.encode(vf):
                self._mux_video(pkt)

    def _mux_video(self, pkt):
        """Mux an encoded video packet (see _put_video), each frame's own time on screen its duration."""
        pkt.dts = self.last_dts = _sane_dts(pkt.pts, pkt.dts, self.last_dts, pkt.time_base)
        if pkt.pts in self.shown:  # so the last frame lasts until its own end, not one frame at the average rate
            pkt.duration = self.shown.pop(pkt.pts)
        if self.tail is not None:  # the packet held back is not the last: it goes as it is
            self._put_video(self.tail)
            self.tail = None
        if self.times is None or self.container not in _FASTSTART or pkt.pts is None or pkt.dts is None:
            self._put_video(pkt)
            return
        if self.delay is None:
            self.delay = pkt.pts - pkt.dts
        self.end_pts = max(self.end_pts, pkt.pts + (pkt.duration or 0))
        self.tail = pkt

    def _end_tail(self):
        """Mux the held-back last packet so the decode timeline ends where the frames do. MP4/MOV store
        decode times and each sample's decode duration; FFmpeg (and so every player built on it) reads a
        track's length as their sum, not from the frames' own times. With B-frames the last decode
        times trail the frames shown by the encoder's delay, so a long last frame or a gap among the
        last few (a phone's dropped frame, a GIF's closing pause) was cut off there (a 1.4 s GIF read
        back 0.95 s long; QuickTime, reading the edit list, was right). Its decode time is moved up to
        its pts less the delay (never past its pts) and its duration runs to the frames' end at least
        (FFmpeg takes the shorter of that sum and the edit list's length)."""
        pkt, self.tail = self.tail, None
        if pkt is None:
            return
        pkt.dts = max(pkt.dts, pkt.pts - self.delay)
        pkt.duration = max(self.end_pts - self.delay - pkt.dts, pkt.duration or 1)
        self._put_video(pkt)

    def _put_video(self, pkt):
        """Mux a video packet, later by the input video's start past the output's origin (in a time
        base 1000x finer than the encoder's, so any offset lands within a millisecond)."""
        shift = (self.start - self.origin) * self.stretch
        if shift and pkt.time_base:
            fine = pkt.time_base / 1000
            ticks = round(shift / fine)
            pkt.pts = None if pkt.pts is None else pkt.pts * 1000 + ticks
            pkt.dts = None if pkt.dts is None else pkt.dts * 1000 + ticks
            if pkt.duration:  # else unknown, as it was
                pkt.duration *= 1000
            pkt.time_base = fine
        at = _due(pkt)  # before muxing moves it to the stream's time base
        self.out.mux(pkt)
        if at is not None:
            self._carry(at)

    def _carry(self, until: Fraction | None):
        """Mux the carried-over tracks' packets up to `until` on the output's timeline (None: all that
        are left), so each is stored beside the video of its time, as ffmpeg interleaves them: made
        after all the video, the audio of a clip longer than the muxer's 10 s of buffering was
        stored after nearly all of it (a player streaming the file reads two far places at once).
        Re-encoding (and slowing) the audio so runs during the video's, not after its last frame."""
        for t in self.tracks:
            if t.packets is None:
                t.packets = self._packets(t)
            while True:
                if t.waiting is None:
                    t.waiting = next(t.packets, None)
                if t.waiting is None:
                    break
                due = _due(t.waiting)
                if until is not None and due is not None and due > until:
                    break
                self.out.mux(t.waiting)
                t.waiting = None

    def _packets(self, t: _Track) -> Iterator["av.Packet"]:
        """The packets of a carried-over track on the output's timeline, ready to mux, read as asked for."""
        if self.span and self.span[0] > SEEK_MARGIN and t.source.time_base and not clock_restarts(t.container.name):
            # a late cut: no need to read up to it (where the clock restarts, read on from the start)
            try:
                t.container.seek(math.floor((self.span[0] - SEEK_MARGIN) / t.source.time_base), stream=t.source, backward=True)
            except av.FFmpegError:
                pass
        yield from {"copy": self._copied, "reencode": self._reencoded, "convert": self._converted}[t.how](
            t.container, t.source, t.target)

    def _finish(self):
        if self.webp and self.is_image:  # one frame (or none) came: a still WebP
            self.webp, held, self.held = False, self.held, None
            self._open_image()
            if held is not None:
                self._encode(held)
        if self.palette is not None:
            self._encode_frames(self._through_palette(None))
        if self.dropped and self.warn is not None:
            kind, least = ("GIF", GIF_MIN_DELAY * GIF_TIME_BASE) if self.palette is not None else ("WebP", WEBP_MIN_DELAY * WEBP_TIME_BASE)
            self.warn(f"{self.path}: {self.dropped} of {self.frames} frames left out: a {kind} frame shows for {float(least):g} s "
                      f"at least (browsers slow shorter ones to 0.1 s), {int(1 / least)} fps at most; a video output keeps them all")
        for pkt in self.stream.encode():
            self._mux_video(pkt)
        self._end_tail()
        self._carry(None)
        for t in self.tracks:
            t.container.close()
        self.out.close()
        if self.palette is not None and self.alpha:
            _clear_between_frames(self.tmp)
        if self.webp and self.frames > 1:  # the encoder gives the last frame the average frame's time
            held = _end_animation_at(self.tmp, round(self._time_of(self.frames) / WEBP_TIME_BASE), WEBP_MIN_DELAY)
            self.merged = self.frames - self.dropped - held

    def _reencoded(self, container, source, target) -> Iterator["av.Packet"]:
        """The audio of `source` decoded and encoded for `target`, at its time on the output's
        timeline. A packet the decoder refuses (damaged) is skipped, as ffmpeg does: a gap in the
        audio, not the run lost after its video is made. Slow motion (`stretch`) passes the frames
        through a _Tempo on the way."""
        forward, tempo = None, _Tempo(self.stretch) if self.stretch > 1 else None

        def encode(frames):  # a frame None: the encoder's end
            for f in frames:
                yield from target.encode(f)

        for packet in container.demux(source):
            for frame in _decoded(source, packet):
                if frame.pts is not None and frame.time_base:
                    forward = forward or _Forward(frame.time_base)
                    frame.pts = forward.place(frame.pts, round(Fraction(frame.samples, frame.sample_rate) / frame.time_base))
                if not self._in_span(frame.pts, frame.time_base):
                    continue
                if frame.pts is not None and frame.time_base:
                    frame.pts = (frame.pts - round(self.origin / frame.time_base)) * self.stretch
                yield from encode(tempo.push(frame) if tempo else [frame])
        yield from encode((tempo.push(None) if tempo else []) + [None])

    def _copied(self, container, source, target) -> Iterator["av.Packet"]:
        """The packets of `source` (a stream of `container`) for `target`, run forward (_Forward)."""
        forward = _Forward(source.time_base or Fraction(1, 1000), restarts=source.type == "audio")
        for pkt in container.demux(source):
            if pkt.dts is None:
                continue
            dts = forward.place(pkt.dts, pkt.duration)
            pkt.pts = None if pkt.pts is None else max(pkt.pts + dts - pkt.dts, dts)
            pkt.dts = dts
            if not self._in_span(pkt.dts if pkt.pts is None else pkt.pts, pkt.time_base):
                continue
            if self.origin and pkt.time_base:  # the output's timeline begins at the input's `origin`
                ticks = round(self.origin / pkt.time_base)
                pkt.dts -= ticks
                pkt.pts = None if pkt.pts is None else pkt.pts - ticks
            if self.stretch > 1:  # slow motion: a subtitle cue N x later and longer (audio is re-encoded, not copied)
                pkt.dts *= self.stretch
                pkt.pts = None if pkt.pts is None else pkt.pts * self.stretch
                pkt.duration = pkt.duration and pkt.duration * self.stretch
                if source.codec_context is not None and source.codec_context.name in DVD_SUBTITLES:
                    pkt = _retimed(pkt, _stretch_dvd_cue(bytes(pkt), self.stretch))
            pkt.stream = target
            yield pkt

    def _converted(self, container, source, target) -> Iterator["av.Packet"]:
        """Each cue of `source` decoded and encoded for `target` (1 ms time base), at its time on
        the output's timeline; cues without a duration are left out (a text cue needs an end)."""
        ms = Fraction(1, 1000)
        forward = _Forward(source.time_base or ms, restarts=False)
        for pkt in container.demux(source):
            if pkt.pts is None or not pkt.duration or not pkt.time_base:
                continue
            pkt.pts = forward.place(pkt.pts, pkt.duration)
            if not self._in_span(pkt.pts, pkt.time_base):
                continue
            start = round((pkt.pts * pkt.time_base - self.origin) * self.stretch / ms)
            length = round(pkt.duration * pkt.time_base * self.stretch / ms)
            for cue in _decoded(source, pkt):
                if getattr(cue, "ass", None) is None:  # a bitmap: not text
                    continue
                out = target.codec_context.encode_subtitle(SubtitleSet.create(cue.ass, 0, length, pts=start * 1000))
                out.stream, out.time_base = target, ms
                out.pts = out.dts = start
                out.duration = length
                yield out

    def _rebased_chapters(self) -> list:
        """The input's chapters on the output's timeline: moved back by the origin, and where the
        input is trimmed, those outside the span left out and the rest cut to it."""
        length = None if not self.span or self.span[1] is None else self.span[1] - self.span[0]
        out = []
        for ch in self.chapters:
            tb = Fraction(ch["time_base"])
            a, b = ch["start"] * tb - self.origin, ch["end"] * tb - self.origin
            if b <= 0 or (length is not None and a >= length):
                continue
            a, b = max(a, Fraction(0)), b if length is None else min(b, length)
            a, b = a * self.stretch, b * self.stretch
            out.append({"id": len(out) + 1, "start": round(a / tb), "end": round(b / tb), "time_base": tb,
                        "metadata": dict(ch.get("metadata") or {})})
        return out

    def _in_span(self, pts, time_base) -> bool:
        """Whether a copied packet or audio frame starting at pts lies in the span (all do untrimmed)."""
        if not self.span or pts is None or not time_base:
            return True
        t = pts * time_base
        return self.span[0] <= t and (self.span[1] is None or t < self.span[1])

    def _exit_sequence(self, ok: bool):
        try:
            if ok:
                for f in sorted(self.tmp.iterdir()):
                    share(f)
                    f.replace(self.path.parent / f.name)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb):
        # A stop signal whose exception was dropped (errors.py): clean up and commit nothing.
        interrupted = exc_type is None and interrupt_requested()
        ok = exc_type is None and not interrupted
        try:
            self._close(ok=ok)
            if ok and self.audio_left_out and self.warn is not None:
                self.warn(f"{self.path}: the input's audio is left out: {self.path.suffix or 'this output'} holds none "
                          f"(.mp4, .mkv and .webm do; --no-audio says nothing)")
        except OSError as e:
            if e.errno not in FULL:
                raise
            exc = e
        # named by the output, not its temporary file (nor, for an image sequence, its frame writer's)
        full = exc if isinstance(exc, OSError) else exc.__cause__ if self.sequence and isinstance(exc, MagvitError) else None
        if isinstance(full, OSError) and full.errno in FULL:
            raise MagvitError(f"{self.path}: {os.strerror(full.errno).lower()}; nothing was written") from full
        if interrupted:
            raise KeyboardInterrupt
        return False

    def _close(self, ok: bool):
        if self.sequence:
            self._exit_sequence(ok)
            return
        try:
            if ok:
                self._finish()
                share(self.tmp)
                move_into_place(self.tmp, self.path, self.existed)
                return
            try:
                self.out.close()
            except Exception:
                pass
            for t in getattr(self, "tracks", ()):
                t.container.close()
        finally:
            self.tmp.unlink(missing_ok=True)
