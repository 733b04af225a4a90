"""What the task commands' options mean and how each is checked, with no model and no torch: the
command line answers a wrong option, a missing file or a taken output name before it loads
anything (about 0.3 s, not the 1.2 s torch's import takes). runners.py acts on them."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import UsageError
from .pipes import is_stream
from .video import VideoInfo, check_input, probe

MAX_STEPS = 4096  # COMMIT steps: past a window's tokens (320 here, 1280 with the base preset) a step commits nothing new; 10^20 ran forever


def check_sampling(steps: int, temperature: float | None, guidance: float, refine: int | None) -> None:
    """The COMMIT decoding options (pipeline.Sampling) alone."""
    if not 1 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps must be 1 to {MAX_STEPS}, got {steps}")
    if temperature is not None and temperature < 0:
        raise UsageError(f"--temperature must be >= 0, got {temperature}")
    if guidance < 0:
        raise UsageError(f"--guidance must be >= 0, got {guidance}")
    if refine is not None and refine < 0:
        raise UsageError(f"--refine must be >= 0, got {refine}")


@dataclass
class WriteOptions:
    crf: int = 18
    crf_given: bool = False  # --crf was given: an output whose encoder has no quality to set refuses it (video.check_output)
    codec: str | None = None  # None: by the output's type (video.output_codec)
    lossless: bool = False
    audio: bool = True
    preset: str | None = None  # H.264/H.265's speed for its size; None: medium
    # the encoder a transparent input gets where --codec is not given (None: the output type's own);
    # `-o -` sends Matroska, whose H.264 holds no alpha: FFV1 there, whose alpha FFmpeg's own decoder reads
    transparent_codec: str | None = None

    def codec_for(self, info: VideoInfo) -> str | None:
        """The --codec an input is written with: transparent_codec where it has an alpha channel."""
        return self.transparent_codec if info.alpha and self.codec is None and self.transparent_codec else self.codec

    def encoding(self, info: VideoInfo | None = None) -> dict:
        """The VideoWriter arguments these set (for `info`'s frames where given: codec_for)."""
        return dict(codec=self.codec if info is None else self.codec_for(info), crf=self.crf, lossless=self.lossless,
                    preset=self.preset)


def check_factor(factor) -> None:
    if not isinstance(factor, int) or factor < 2:
        raise UsageError(f"--factor must be an integer >= 2, got {factor}")


def check_slow_motion(slow_motion: bool, fps) -> None:
    if slow_motion and fps is not None:
        raise UsageError("--slow-motion plays the frames at the input's rate: give --factor, not --fps")


def check_frames(frames: int) -> None:
    if frames < 1:
        raise UsageError(f"--frames must be >= 1, got {frames}")


def frame_count(frames: int | Fraction, fps: Fraction) -> int:
    """--frames as a count: itself, or a Fraction's seconds of frames at `fps` (one at least)."""
    if not isinstance(frames, Fraction):
        check_frames(frames)
        return frames
    if round(frames * fps) < 1:
        raise UsageError(f"--frames {float(frames):g}s is under one frame at {float(fps):g} fps")
    return round(frames * fps)


OUTPAINT_MODES = {"central": "OPC", "vertical": "OPV", "horizontal": "OPH", "dynamic": "OPD"}


INPAINT_MODES = {"central": "IPC", "dynamic": "IPD"}


def check_outpaint(mode: str, track) -> None:
    if mode not in OUTPAINT_MODES:
        raise UsageError(f"--mode must be one of {', '.join(OUTPAINT_MODES)}, not {mode!r}")
    if track and mode != "dynamic":
        raise UsageError("--track goes with --mode dynamic")
    if track:
        read_track(track, "--track", 2)  # a missing or malformed file: one line before any work


_PIPED: dict[str, str] = {}  # a --box or --track file given as a pipe -> what came through it


def _read_text(path: str) -> str:
    """A CSV file's text. One given as a pipe (`--box <(python boxes.py)`) is kept: the file is
    checked before any work and read again by the run, and the pipe had nothing left ("no rows")."""
    if path in _PIPED:
        return _PIPED[path]
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    if is_stream(Path(path)):
        _PIPED[path] = text
    return text


def read_track(path, flag: str = "", values: int | None = None) -> dict[int, tuple[int, ...]]:
    """CSV rows frame,x,y[,w,h] (a header line is allowed) -> {frame: (x, y, ...)}; `flag` (the
    option that gave the file) starts the errors; `values`: how many each row has after its frame
    (2: x,y; 4: x,y,w,h), where one with another count is an error naming it. Spreadsheets' other
    ways are read too: a UTF-8 byte-order mark, semicolons (a European Excel's, whose decimal comma
    is then read as a point), tabs or spaces between the values."""
    name = f"{flag} {path}".lstrip()
    columns = "frame,x,y" if values != 4 else "frame,x,y,w,h"
    rows = {}

    def number(v: str, line: int) -> int:
        try:
            return int(round(float(v.replace(",", ".") if sep == ";" else v)))
        except (ValueError, OverflowError):  # nan, inf and words alike
            raise UsageError(f"{name}: line {line}: {v.strip()!r} is not a number (rows are {columns})") from None
    try:
        text = _read_text(str(path))
        first = next((line for line in text.splitlines() if line.strip()), "")
        sep = next((d for d in (";", "\t", ",") if d in first), None)  # a semicolon file's decimal commas are not separators
        lines = csv.reader(io.StringIO(text), delimiter=sep) if sep else (line.split() for line in text.splitlines())
        for i, row in enumerate(lines):
            if not row or (i == 0 and not row[0].strip().lstrip("-").isdigit()):
                continue
            while row and not row[-1].strip():  # a spreadsheet's trailing separators
                row = row[:-1]
            vals = [number(v, i + 1) for v in row]
            if values is not None and len(vals) != values + 1:
                raise UsageError(f"{name}: rows must be {columns}; line {i + 1} has {len(vals)} value{'s' * (len(vals) != 1)}")
            rows[vals[0]] = tuple(vals[1:])
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{name}: expected CSV rows of integers {columns} ({e})") from None
    if not rows:
        raise UsageError(f"{name}: no rows")
    return rows


def check_inpaint(mode: str | None, box, mask) -> str | None:
    """The hole options alone -> the mode (central when none of the three is given)."""
    given = [x for x in (mode, box, mask) if x is not None]
    if len(given) > 1:
        raise UsageError("use one of --mode, --box, --mask")
    mode = mode or ("central" if not given else None)
    if mode is not None and mode not in INPAINT_MODES:
        raise UsageError(f"--mode must be one of {', '.join(INPAINT_MODES)}, not {mode!r}")
    if box is not None and track_file(box):
        read_track(box, "--box", 4)  # as --track: before any work
    elif box is not None:
        box_values(box)  # its frame's size is known once the input is probed (check_box)
    if mask is not None:
        try:
            check_input(mask)
            probe(mask)  # a file that is no picture: said as the mask's, before the model loads
        except UsageError as e:
            raise UsageError(f"--mask {e}") from None
    return mode


def track_file(box: str) -> bool:
    """Whether --box names a CSV track file (else it is x,y,w,h)."""
    return Path(box).suffix.lower() == ".csv" or Path(box).exists()


def box_values(text: str) -> tuple[int, int, int, int]:
    """--box x,y,w,h as four integers (the frame it must fit in: check_box)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box must be x,y,w,h integers, got {text!r}") from None
    return x, y, w, h


def parse_box(text: str, W: int, H: int) -> tuple[int, int, int, int]:
    box = box_values(text)
    check_box(box, W, H, text)
    return box


def check_box(box, W, H, what):
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise UsageError(f"--box {what}: width and height must be > 0")
    if x < 0 or y < 0 or x + w > W or y + h > H:
        raise UsageError(f"--box {what} reaches outside the {W}x{H} frame")
