"""The `magvit` command line: one subcommand per MAGVIT task, thin over runners.py. Each command
takes typed options with help text, checks their combinations, makes one call into the library
and prints through console.py; batch.py names the outputs and runs the inputs; usage.py words
option errors.

Errors: the project's own errors print one line on stderr (exit 2 for usage, 1 at run time);
a traceback only with MAGVIT_DEBUG=1.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import json
import math
import os
import re
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, List, Optional

import typer

from . import hdr, options, pipes, video
from .batch import each, pipes_for, refuse_folder, refuse_overwrite, run_batch
from .console import (Progress, State, describe_output, emit, fail, plain_console, show_table, stdout_gone, summary,
                      warn_line)
from .errors import MagvitError, UsageError, die_of_stop_signal, stop_on_signals
from .usage import OneLineUsageErrors


class _OnUse:
    """A library module imported on first use: they import torch (about 2 s), so `--help`,
    `--version` and option errors answer at once."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(f"{__package__}.{self._name}"), attr)


runners, pipeline, tasks = _OnUse("runners"), _OnUse("pipeline"), _OnUse("tasks")


app = typer.Typer(
    cls=OneLineUsageErrors,
    help="MAGVIT video editing: interpolate, predict, outpaint, inpaint and generate video with a causal "
         "3D-CNN LFQ tokenizer and a masked transformer (COMMIT decoding).\n\n"
         "Tasks (paper names): interpolate = FI, predict = FP (CFP with --class), outpaint = OPC/OPV/OPH/OPD, "
         "inpaint = IPC/IPD, generate = CG.",
    no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,  # --install-completion: tab completion
    rich_markup_mode=None)  # plain help (click's): at 80 columns the help text gets 50 of them, not the boxed table's 29
train_app = typer.Typer(help="Train a tokenizer or a transformer (torchrun for several processes).", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(train_app, name="train")
weights_app = typer.Typer(help="Weights: list, inspect, download from and upload to the Hugging Face Hub.", no_args_is_help=True,
                          rich_markup_mode=None)
app.add_typer(weights_app, name="weights")


def _print_version(value: bool):
    if value:
        from . import __version__
        print(f"magvit {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(allow_pickle: bool = typer.Option(False, "--allow-pickle", help=(
        "Load pickled weights (model.pt/.ckpt/.bin) with torch.load(weights_only=True). Off by default: "
        "pickle files can run code. Before the command or after it.")),
        version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                     help="Print the version and exit.")):
    """SIGTERM ends a run like Ctrl-C: temporary outputs are removed, nothing half-written stays."""
    # each call starts afresh (one process may run several)
    State.allow_pickle, State.quiet, State.json, State.stdout_busy = allow_pickle, False, False, False
    video.use_input_fps(None)  # a command with --input-fps sets it; one without reads untimed inputs at the default
    stop_on_signals()


# --- shared options -------------------------------------------------------------------------
Inputs = typer.Argument(..., metavar="IN", readable=False, help="Input video(s), image(s) or image sequence(s) like 'frames/%04d.png' (quoted); anything PyAV decodes; - reads stdin.", show_default=False)
OutputOpt = typer.Option(None, "-o", "--output", readable=False, help="Output file (one input only); - sends it to stdout (video as Matroska) once it is complete. Default: IN.<command>.mp4 beside the input.")
OutDirOpt = typer.Option(None, "--out-dir", readable=False, help="Folder for the outputs (derived names), for several inputs; made if missing.")
ForceOpt = typer.Option(False, "--force", help="Overwrite an existing output file.")
SkipOpt = typer.Option(False, "--skip-existing", help=(
    "Leave each input whose output already exists (a line says so) and run the rest: a batch run again after a stop "
    "picks up where it was (an input that is another's output, the last run's beside it, is left too); one whose output "
    "another run over the same folder is writing is left to it (one job per GPU over a folder splits the work). "
    "Not with --force."))
def _weights_source(ctx: typer.Context, param: typer.CallbackParam, value: Optional[str]) -> Optional[str]:
    """Note whether --weights was set by $MAGVIT_WEIGHTS (asked while the call's options are parsed:
    the model may load later, outside click's context)."""
    source = ctx.get_parameter_source(param.name)
    State.weights_from_env = getattr(source, "name", None) == "ENVIRONMENT"  # Typer's own click or the package's
    return value


def _values(choices: Callable[[], list[str]]):
    """Tab completion of an option's values (after `magvit --install-completion`): those of `choices()`
    that begin as typed; asked only as the shell completes, so a slow one (the classes of a
    model's config) costs nothing elsewhere."""
    return lambda incomplete: [v for v in choices() if v.startswith(incomplete)]


def _encoders() -> list[str]:
    """The video encoders of the FFmpeg that PyAV carries (--codec's values)."""
    import av
    names = []
    for name in sorted(av.codecs_available):
        with contextlib.suppress(Exception):  # a decoder only
            if av.Codec(name, "w").type == "video":
                names.append(name)
    return names


def _modes(kind: str) -> list[str]:
    return list({"outpaint": options.OUTPAINT_MODES, "inpaint": options.INPAINT_MODES}[kind])


def _classes(ctx: typer.Context, incomplete: str) -> list[str]:
    """--class's values: the class names of the weights the call names so far (--weights, else
    $MAGVIT_WEIGHTS, else the shipped ones), local ones only."""
    from .weights import local_class_names
    names = local_class_names(ctx.params.get("weights") or os.environ.get("MAGVIT_WEIGHTS"))
    return [n for n in names if n.startswith(incomplete)]


def _task_list(module: str, name: str):
    """--tasks' values (eval's, bench's): `all`, or the comma list typed so far with each task that can
    come next (`fi,ip` -> fi,ipc and fi,ipd: in the case typed, which tasks_named reads in any; the
    shell keeps only what begins as typed)."""
    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",")
        choices = getattr(importlib.import_module(f".{module}", __package__), name)
        given = {t.lower() for t in done.split(",")}
        head = done + "," if done else ""
        cased = str.lower if last.islower() else str.upper if last.isupper() else str
        return [head + cased(t) for t in ([] if done else ["all"]) + list(choices)
                if t.lower().startswith(last.lower()) and t.lower() not in given]
    return complete


def _presets(kind: str) -> list[str]:
    """`train KIND --preset`'s values."""
    if kind == "tokenizer":
        from .train.tokenizer import TOKENIZER_PRESETS as presets
    else:
        from .train.transformer import TRANSFORMER_PRESETS as presets
    return list(presets)


WeightsOpt = typer.Option(None, "--weights", envvar="MAGVIT_WEIGHTS", show_envvar=False, callback=_weights_source, help=(
    "Weights folder, single file from `magvit weights pack`, or Hub id org/name[@rev]. "
    "Default: $MAGVIT_WEIGHTS where set (a batch script's or shell's own weights), else the shipped weights/default "
    "(`--weights default` names them, over $MAGVIT_WEIGHTS)."))
DeviceOpt = typer.Option("auto", "--device", autocompletion=_values(lambda: ["auto", "cpu", "cuda", "mps"]), help="auto | cpu | cuda | cuda:N | mps. auto takes a GPU when there is one; cuda:N picks one of several.")
PrecisionOpt = typer.Option("auto", "--precision", autocompletion=_values(lambda: ["auto", "fp32", "bf16", "fp16"]), help="auto | fp32 | bf16 | fp16. auto: fp32 on CPU, bf16 on GPU.")
StepsOpt = typer.Option(12, "--steps", help="COMMIT decoding steps.")
def _finite(value: Optional[float]) -> Optional[float]:
    """Every float option's check: 'nan' and 'inf' parse as floats (a range, min=0, refuses nan but
    not inf): --guidance inf wrote frames of NaN, exit 0."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def _finite_at_least_0(value: Optional[float]) -> Optional[float]:
    """_finite, and not below 0 (checked after it, so that nan is said to be nan)."""
    if _finite(value) is not None and value < 0:
        raise typer.BadParameter(f"{value:g} is below 0")
    return value


TempOpt = typer.Option(None, "--temperature", callback=_finite, help=(
    "Sampling temperature (0 = greedy). Default: 1 (the paper's); 0 with a padded-condition model on a "
    "conditional task (measured better: weights/README.md)."), show_default=False)
GuidanceOpt = typer.Option(0.0, "--guidance", callback=_finite, help="Classifier-free guidance scale (0 = off).")
def _seed(value: int) -> int:
    """A seed torch.Generator.manual_seed takes (beyond 64 bits: 'error: ValueError: Overflow when unpacking long long')."""
    if not -2**63 <= value < 2**64:
        raise typer.BadParameter(f"{value} does not fit in 64 bits (-2^63 to 2^64-1)")
    return value


SeedOpt = typer.Option(0, "--seed", callback=_seed, help="Random seed: the same seed gives the same output.")
CrfOpt = typer.Option(None, "--crf", show_default=False, help="Quality 0-51, lower = better and bigger (H.264/H.265; VP9, VP8 and AV1 take it + 13 on their 0-63 scale; MPEG-4, MPEG-2, MJPEG and a .jpg a quantiser of crf / 6; a WebP quality 100 - crf). Default: 18; not with --lossless, nor for an output with no quality to set (PNG, GIF, FFV1, ...).")
CodecOpt = typer.Option(None, "--codec", show_default=False, autocompletion=_values(_encoders), help=(
    "Video encoder: libx264, libx265, libvpx-vp9, prores_ks (10-bit), dnxhd (as DNxHR HQ; HQX for 10-bit input), mjpeg, libsvtav1, ... Default: by the output's type: libx264 (.mp4, .mov, .mkv, .avi; "
    "10-bit input into .mp4/.mov: libx265, tagged hvc1), libvpx-vp9 (.webm), gif (.gif)."))
PresetOpt = typer.Option(None, "--preset", show_default=False, autocompletion=_values(lambda: list(video.PRESETS)), help=(
    "H.264/H.265 encoder speed for its size, as ffmpeg's -preset: ultrafast, superfast, veryfast, faster, fast, "
    "medium (default), slow, slower, veryslow, placebo. Faster presets make bigger files at the same --crf."))
LosslessOpt = typer.Option(False, "--lossless", help="Lossless RGB H.264: known pixels come back bit-exact (8 bits: a 10-bit input is read at 8).")
NoAudioOpt = typer.Option(False, "--no-audio", help="Drop the input's audio (copied by default).")
PlainOpt = typer.Option(None, "--residual/--no-residual", help=(
    "Residual compositing (full-res padding + the model's low-res change) or plain upsampling of the model's output. "
    "Default: the measured best (residual for interpolate/predict, plain for outpaint; for inpaint and vertical "
    "and dynamic outpaint, residual with a padded-condition model, plain otherwise)."), show_default=False)
SoftOpt = typer.Option(None, "--soft/--hard", help=(
    "Soft: decode each token's expected code under the model's distribution (sharp where it is sure, an average where "
    "it is not); hard: the chosen tokens. Default: the measured best (soft for outpaint, interpolate and predict "
    "without --class with a padded-condition model, hard otherwise)."), show_default=False)
MotionOpt = typer.Option(True, "--motion/--no-motion", help=(
    "Motion-compensated padding, which the model then refines: interpolation warps each pair of frames along their "
    "optical flow (OpenCV DIS) to the in-between time, prediction carries the last frame on along its steady motion "
    "(not with --class, whose class names the motion), a moving inpainting hole or dynamic outpainting canvas is "
    "filled from the other frames warped along the motion; each pixel mixed with (or, for the canvas, checked "
    "against) the plain padding by how far the motion is trusted there. "
    "--no-motion: the linear blend, the held last frame, the other frames as they are."))
RefineOpt = typer.Option(0, "--refine", min=0, metavar="N", help=(
    "Encoder effort: search N steps for the tokens that decode closest to the input (same bits per pixel; "
    "held-out +2.3 to +4.5 dB at 10 steps). Each step is a decoder pass forward and back: per 17-frame window "
    "on 2 CPU cores about 2.7 s at 176x144 and 42 s at 640x360, far less on a GPU. 0 = the encoder's tokens."))
TaskRefineOpt = typer.Option(None, "--refine", min=0, metavar="N", show_default=False, help=(
    "Search the condition's tokens N steps through the decoder (as `reconstruct --refine`, at the model's "
    "working size). Default with a padded-condition model (the shipped one): 10 where the task composites "
    "plainly (central/horizontal outpainting: +0.2 to +0.7 dB measured), 0 where residual compositing cancels "
    "the tokenizer's error; 0 with a footprint-condition model (measured: the search lost there)."))
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars or summary lines.")
JsonOpt = typer.Option(False, "--json", help="Print a JSON summary per output on stdout.")
InputFpsOpt = typer.Option(None, "--input-fps", help=(
    "Frame rate of inputs that carry no timing (default 25): image sequences such as frames/%04d.png, images "
    "piped one after another, an elementary stream (.h264, .hevc) whose stream states none, and a photo "
    "(`predict photo.jpg` animates it at this rate). A video with timing of its own keeps it (a warning says so). "
    "A fraction like 30000/1001 is fine; 29.97 means it too."), show_default=False)

StartOpt = typer.Option(None, "--start", show_default=False, help=(
    "Process from this time on: seconds (12.5, 12.5s, 500ms) or [HH:]MM:SS[.ms] from the first frame (as ffmpeg's -ss). "
    "The output is that part alone, its audio and subtitles cut to it."))
EndOpt = typer.Option(None, "--end", show_default=False, help="Process up to this time (same form; default: the end).")


def _span(start: Optional[str], end: Optional[str]) -> Optional[video.Span]:
    if start is None and end is None:
        return None
    return video.Span(Fraction(0) if start is None else video.parse_time(start, "--start"),
                      None if end is None else video.parse_time(end, "--end"))


def _load(weights, device, precision, need_transformer=True, warn: bool = True, per_input: bool = False) -> pipeline.Magvit:
    """The model, once per call; `warn`: say when `--device auto` falls back to the CPU (not where
    the call prints the device itself); `per_input`: say it at the first work, once the call's
    settings and input have passed their checks (a bad one gets its one-line error alone)."""
    with _weights_errors():
        return pipeline.Magvit(weights, device, precision, need_transformer, warn=warn_line if warn else None,
                               allow_pickle=State.allow_pickle, defer_note=per_input)


@contextlib.contextmanager
def _weights_errors():
    """Errors of the call's weights (or device, precision): the whole call's, whatever the input, and
    a weights error says where they came from when $MAGVIT_WEIGHTS gave them."""
    try:
        yield
    except Exception as e:
        e.whole_call = True  # the weights, device and precision are the call's: no other input would load them
        if isinstance(e, MagvitError) and State.weights_from_env and getattr(e, "option", None) is None:
            e.args = (f"{e} (--weights from $MAGVIT_WEIGHTS)",)  # said of the weights' errors, not the device's
        raise


def _sampling(steps, temperature, guidance, seed, residual, soft=None, refine=None) -> pipeline.Sampling:
    options.check_sampling(steps, temperature, guidance, refine)  # first: pipeline imports torch (1 s)
    return pipeline.Sampling(steps=steps, temperature=temperature, guidance=guidance, seed=seed, residual=residual, soft=soft,
                             refine=refine)


def _write(crf, codec, lossless, no_audio, preset=None, output=None) -> options.WriteOptions:
    """The writer's options; `output` `-` (stdout, Matroska): a transparent input keeps its alpha in FFV1."""
    if crf is not None and lossless:  # it was ignored without a word
        raise UsageError("give --lossless or --crf, not both: --lossless stores every pixel exactly, whatever the --crf")
    if crf is not None and not 0 <= crf <= 51:
        raise UsageError(f"--crf must be 0 (lossless quality) to 51, got {crf}")
    return options.WriteOptions(crf=18 if crf is None else crf, crf_given=crf is not None, codec=codec, lossless=lossless,
                                audio=not no_audio, preset=preset,
                                transparent_codec="ffv1" if pipes.is_stdout(output) and not lossless else None)


# --- task commands --------------------------------------------------------------------------
# The options every task command takes after its own, in --help order: (name, type, option).
TASK_OPTIONS = [
    ("output", Optional[Path], OutputOpt), ("out_dir", Optional[Path], OutDirOpt), ("force", bool, ForceOpt),
    ("skip_existing", bool, SkipOpt),
    ("weights", Optional[str], WeightsOpt), ("device", str, DeviceOpt), ("precision", str, PrecisionOpt),
    ("steps", int, StepsOpt), ("temperature", Optional[float], TempOpt), ("guidance", float, GuidanceOpt),
    ("seed", int, SeedOpt), ("residual", Optional[bool], PlainOpt), ("soft", Optional[bool], SoftOpt),
    ("refine", Optional[int], TaskRefineOpt), ("crf", Optional[int], CrfOpt), ("codec", Optional[str], CodecOpt), ("preset", Optional[str], PresetOpt), ("lossless", bool, LosslessOpt), ("no_audio", bool, NoAudioOpt),
    ("input_fps", Optional[str], InputFpsOpt), ("start", Optional[str], StartOpt), ("end", Optional[str], EndOpt),
    ("quiet", bool, QuietOpt), ("json_", bool, JsonOpt)]


class TaskRun:
    """The shared options of one task command call, and what they make: the model (loaded once
    for all inputs, on first use, so a load error is reported like any other), the sampling
    settings and the writer options."""

    def __init__(self, **options):
        self.__dict__.update(options)
        self._model: pipeline.Magvit | None = None

    def model(self) -> pipeline.Magvit:
        if self._model is None:
            self._model = _load(self.weights, self.device, self.precision, per_input=True)
        return self._model

    def sampling(self) -> pipeline.Sampling:
        return _sampling(self.steps, self.temperature, self.guidance, self.seed, self.residual, self.soft, self.refine)

    def check_sampling(self) -> None:  # before any work: no torch (pipeline imports it)
        options.check_sampling(self.steps, self.temperature, self.guidance, self.refine)

    def write(self) -> options.WriteOptions:
        return _write(self.crf, self.codec, self.lossless, self.no_audio, self.preset, self.output)

    def span(self) -> Optional[video.Span]:
        return _span(self.start, self.end)


def task_command(image_out: bool = False, check: Optional[Callable[..., None]] = None):
    """Register fn(run, src, dst, progress, <own options>) -> runners.Output as a command taking
    the inputs, its own options, then TASK_OPTIONS; it runs once per input through run_batch.
    check(<own options>) raises on what is wrong with them alone (no model or input needed); it
    runs with the sampling options' check, before any work."""
    def register(fn):
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[4:]
        shared = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d, annotation=a)
                  for n, a, d in TASK_OPTIONS]
        inputs = inspect.Parameter("inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=Inputs, annotation=List[Path])

        @functools.wraps(fn)
        def command(**kw):
            run = TaskRun(**{n: kw.pop(n) for n, _, _ in TASK_OPTIONS})
            srcs = kw.pop("inputs")
            run_batch(srcs, fn.__name__, run.output, run.out_dir, run.force, run.quiet, run.json_,
                   lambda src, dst, progress: fn(run, src, dst, progress, **kw), image_out=image_out, input_fps=run.input_fps,
                   writes=run.write, check=lambda: (run.check_sampling(), run.span(), check and check(**kw)),
                   skip_existing=run.skip_existing)

        command.__signature__ = inspect.Signature([inputs, *own, *shared])
        del command.__wrapped__  # Typer reads the signature above, not fn's
        return app.command()(command)
    return register


def _check_interpolate(factor, fps, slow_motion, **_) -> None:
    if factor is not None and fps is not None:
        raise UsageError("give --factor or --fps, not both")
    options.check_slow_motion(slow_motion, fps)
    if fps is not None:
        video.parse_rate(fps, "--fps")
    else:
        options.check_factor(2 if factor is None else factor)


@task_command(check=_check_interpolate)
def interpolate(run: TaskRun, src: Path, dst: Path, progress,
                factor: Optional[int] = typer.Option(None, "--factor", "-f", show_default=False, help=(
                    "Output frames per input frame (integer >= 2; default 2); fps is multiplied by it exactly.")),
                fps: Optional[str] = typer.Option(None, "--fps", show_default=False, help=(
                    "Target frame rate instead of a factor, above the input's: 60, 59.94 (read as 60000/1001) or a "
                    "fraction. 24 -> 60 fps runs x5 and keeps every 2nd frame; otherwise the nearest frames of the "
                    "cheapest grid within a tenth of a frame (25 -> 60: x8; jitter_ms in --json).")),
                scene_threshold: float = typer.Option(0.25, "--scene-threshold", callback=_finite_at_least_0, help="Scene-cut threshold (mean abs luminance change, 0..1); pairs across a cut are held, not morphed. 1: no cuts; 0: every pair a cut."),
                motion: bool = MotionOpt,
                slow_motion: bool = typer.Option(False, "--slow-motion", help=(
                    "Play the frames at the input's rate instead: N x as long (slow motion). The audio is slowed with "
                    "them, its pitch kept (FFmpeg's atempo; --no-audio leaves it out); subtitles and chapters come N x "
                    "later and last N x as long. With --factor, not --fps."))):
    """Frame interpolation (FI): N-1 new frames between each pair; same duration, N x the frame rate (or --fps;
    or --slow-motion: the input's rate, N x as long)."""
    return runners.interpolate(run.model(), src, dst, 2 if factor is None and fps is None else factor, run.sampling(),
                               run.write(), scene_threshold, progress, motion, None if fps is None else video.parse_rate(fps, "--fps"),
                               run.span(), slow_motion)


def _frames_or_seconds(text: str) -> int | Fraction:
    """predict's --frames: a count of frames (16), or seconds of them (2s, 0.5s, 500ms: a Fraction)."""
    try:
        n = video.with_unit(text)
        n = int(text) if n is None else n
    except ValueError:
        raise UsageError(f"--frames must be a count of frames (16) or seconds (2s, 500ms), got {text!r}") from None
    if isinstance(n, Fraction):
        if n <= 0:
            raise UsageError(f"--frames {text}: seconds must be > 0")
        return n
    options.check_frames(n)
    return n


@task_command(check=lambda frames, **_: _frames_or_seconds(frames))
def predict(run: TaskRun, src: Path, dst: Path, progress,
            frames: str = typer.Option("16", "--frames", "-n", help=(
                "How many frames to add after the input's last frame, or seconds of them at the input's rate: 2s, 500ms.")),
            cls: Optional[str] = typer.Option(None, "--class", autocompletion=_classes, help="Class name or id: class-conditional prediction (CFP). See `magvit classes`."),
            motion: bool = MotionOpt):
    """Frame prediction (FP, or CFP with --class): the input plus K generated frames. A photo is animated."""
    return runners.predict(run.model(), src, dst, _frames_or_seconds(frames), run.sampling(), cls, run.write(), progress, motion,
                           run.span())


def _parse_size(size: Optional[str], forms: str = "WxH, e.g. 1280x720"):
    if size is None:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must be {forms}, got {size!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"--size must be positive, got {size!r}")
    return w, h


def _parse_canvas(size: Optional[str]):
    """outpaint's --size: WxH pixels, or W:H an aspect ratio (16:9) the mode's side grows to."""
    forms = "WxH (1280x720) or an aspect ratio W:H (16:9)"
    if size is None or ":" not in size:
        return _parse_size(size, forms)
    try:
        w, h = (Fraction(v) for v in size.split(":"))
    except ValueError:
        raise UsageError(f"--size must be {forms}, got {size!r}") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"--size must be positive, got {size!r}")
    return w / h


@task_command(image_out=True, check=lambda mode, size, track, **_: (options.check_outpaint(mode, track), _parse_canvas(size)))
def outpaint(run: TaskRun, src: Path, dst: Path, progress,
             mode: str = typer.Option("central", "--mode", "-m", autocompletion=_values(lambda: _modes("outpaint")), help=(
                 "central (OPC): the input in the middle of a canvas 2x wide and 2x tall. "
                 "vertical (OPV): the input kept as a vertical strip, width doubled (grows sideways). "
                 "horizontal (OPH): the input kept as a horizontal strip, height doubled (grows up and down). "
                 "dynamic (OPD): the input slides from the left to the right edge of a 2x wide canvas, or along --track.")),
             size: Optional[str] = typer.Option(None, "--size", help=(
                 "Canvas WxH instead of the mode's default, or an aspect ratio W:H (16:9) the canvas grows to: "
                 "sideways (vertical, dynamic), up and down (horizontal), whichever the input needs (central); "
                 "a phone's portrait video made landscape: --size 16:9.")),
             track: Optional[Path] = typer.Option(None, "--track", help="CSV frame,x,y: the input's top-left corner on the canvas per frame (dynamic mode; camera stabilization)."),
             motion: bool = MotionOpt):
    """Outpainting (OPC/OPV/OPH/OPD): the input becomes the known part of a larger canvas. An image gives an image."""
    return runners.outpaint(run.model(), src, dst, mode, run.sampling(), _parse_canvas(size),
                            str(track) if track else None, run.write(), progress, motion, run.span())


@task_command(image_out=True, check=lambda mode, box, mask, **_: options.check_inpaint(mode, box, pipes.spooled(mask, "--mask")))
def inpaint(run: TaskRun, src: Path, dst: Path, progress,
            mode: Optional[str] = typer.Option(None, "--mode", "-m", autocompletion=_values(lambda: _modes("inpaint")), help=(
                "central (IPC): the central box of half the width and height is generated (default). "
                "dynamic (IPD): a half-width, half-height box sliding left to right over the clip.")),
            box: Optional[str] = typer.Option(None, "--box", help="x,y,w,h of the hole, or a CSV file of frame,x,y,w,h rows."),
            mask: Optional[Path] = typer.Option(None, "--mask", help=("Mask image (every frame) or mask video (same frame count): white = hole, black or "
                                                   "transparent = kept; drawn at another size of the input's shape, it is scaled.")),
            motion: bool = MotionOpt):
    """Inpainting (IPC/IPD or your own box/mask): only the hole is generated; same size out."""
    mask = pipes.spooled(mask, "--mask")  # one given as a pipe: read once, for the check and the run alike
    return runners.inpaint(run.model(), src, dst, mode, run.sampling(), box, str(mask) if mask else None, run.write(), progress,
                           motion, run.span())


@app.command()
def generate(cls: str = typer.Option(..., "--class", autocompletion=_classes, help="Class name or id of the loaded model (see `magvit classes`)."),
             frames: str = typer.Option("17", "--frames", "-n", help="Frames to generate, or seconds of them at --fps: 2s, 500ms."),
             fps: str = typer.Option("25", "--fps", help="Frame rate of the clip (a fraction like 30000/1001 is fine; 29.97 means it too)."),
             size: Optional[str] = typer.Option(None, "--size", help="Write at WxH, upscaled (bilinear) from the model's working size; default the working size."),
             output: Optional[Path] = typer.Option(None, "-o", "--output", readable=False, show_default=False, help=(
                 "Output file; - sends it to stdout (Matroska) once it is complete. Default: CLASS.generate.mp4 "
                 "(CLASS.seedN.generate.mp4 with --seed N), so that a loop over classes or seeds keeps each clip.")),
             force: bool = ForceOpt, weights: Optional[str] = WeightsOpt, device: str = DeviceOpt,
             precision: str = PrecisionOpt, steps: int = StepsOpt, temperature: Optional[float] = TempOpt,
             guidance: float = typer.Option(0.0, "--guidance", callback=_finite, help="Classifier-free guidance scale (0 = off)."),
             seed: int = SeedOpt, crf: Optional[int] = CrfOpt, codec: Optional[str] = CodecOpt, preset: Optional[str] = PresetOpt,
             lossless: bool = LosslessOpt,
             quiet: bool = QuietOpt, json_: bool = JsonOpt):
    """Class-conditional generation (CG): a new clip at the model's working size."""
    State.quiet, State.json = quiet, json_
    try:
        with pipes_for([], output or _generated_name(cls, seed), json_) as p:
            refuse_folder(p.output, "-o", "name the output file")
            refuse_overwrite(p.output, force)
            video.check_output(p.output, codec, lossless, preset, crf is not None)
            video.check_folder(p.output)
            count = _frames_or_seconds(frames)
            size_wh = _parse_size(size)
            write = _write(crf, codec, lossless, True, preset)
            rate = video.parse_rate(fps, "--fps")
            count = options.frame_count(count, rate)
            s = _sampling(steps, temperature, guidance, seed, None)
            with Progress("generate") as progress:
                out = p.deliver(runners.generate(_load(weights, device, precision, per_input=True), p.output, cls, count, s, rate,
                                                 write, progress, size_wh))
        emit(summary(out), describe_output(out))
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


def _generated_name(cls: str, seed: int) -> Path:
    """generate's default output, named by the class as typed (a file-name-safe copy) and a seed other than 0."""
    name = re.sub(r"[\s/\\:]+", "-", cls.strip()).strip("-.") or "class"
    return Path(f"{name}{f'.seed{seed}' if seed else ''}.generate.mp4")


@app.command()
def reconstruct(inputs: List[Path] = Inputs,
                output: Optional[Path] = OutputOpt, out_dir: Optional[Path] = OutDirOpt, force: bool = ForceOpt,
                skip_existing: bool = SkipOpt, weights: Optional[str] = WeightsOpt, device: str = DeviceOpt, precision: str = PrecisionOpt,
                crf: Optional[int] = CrfOpt, codec: Optional[str] = CodecOpt, preset: Optional[str] = PresetOpt, lossless: bool = LosslessOpt,
                no_audio: bool = NoAudioOpt,
                input_fps: Optional[str] = InputFpsOpt, refine: int = RefineOpt,
                start: Optional[str] = StartOpt, end: Optional[str] = EndOpt, quiet: bool = QuietOpt, json_: bool = JsonOpt):
    """Tokenizer only: encode -> decode a video (or a token file from `tokenize`); prints bits per pixel and PSNR.
    A photo comes back as a photo (a JPEG's as JPEG, others as PNG), as outpaint and inpaint write theirs."""
    model = functools.cache(lambda: _load(weights, device, precision, need_transformer=False, per_input=True))  # once a call

    def write() -> options.WriteOptions:
        return _write(crf, codec, lossless, no_audio, preset, output)

    def make(src, dst, progress):
        return runners.reconstruct(model(), src, dst, write(), progress=progress, refine=refine, span=_span(start, end))
    run_batch(inputs, "reconstruct", output, out_dir, force, quiet, json_, make, input_fps=input_fps, image_out=True,
           writes=write, check=lambda: _span(start, end), skip_existing=skip_existing)


@app.command()
def tokenize(inputs: List[Path] = Inputs,
             output: Optional[Path] = typer.Option(None, "-o", "--output", readable=False, help="Token file (.safetensors). Default: IN.tokens.safetensors."),
             out_dir: Optional[Path] = OutDirOpt, force: bool = ForceOpt, skip_existing: bool = SkipOpt,
             weights: Optional[str] = WeightsOpt,
             device: str = DeviceOpt, precision: str = PrecisionOpt, input_fps: Optional[str] = InputFpsOpt,
             refine: int = RefineOpt, start: Optional[str] = StartOpt, end: Optional[str] = EndOpt,
             quiet: bool = QuietOpt, json_: bool = JsonOpt):
    """Write the token grid of a video to a safetensors file (`reconstruct` reads it back)."""
    model = functools.cache(lambda: _load(weights, device, precision, need_transformer=False, per_input=True))  # once a call

    def make(src, dst, progress):
        return runners.tokenize(model(), src, dst, progress=progress,
                                refine=refine, span=_span(start, end))
    run_batch(inputs, "tokens", output, out_dir, force, quiet, json_, make, input_fps=input_fps, suffix=".safetensors",
           check=lambda: (_token_file_name(output), _span(start, end)), skip_existing=skip_existing)


def _token_file_name(output: Optional[Path]) -> None:
    """A token file is named .safetensors: reconstruct and info know one by that (tokenize wrote
    `-o t.txt`, which reconstruct then took for a video that did not open)."""
    if output is not None and not pipes.is_stdout(output) and output.suffix.lower() != ".safetensors":
        raise UsageError(f"-o {output}: a token file is named .safetensors (reconstruct reads it back by that); "
                         f"-o {output.with_suffix('.safetensors')}")


def _rate_text(fps: Fraction, varies: bool) -> str:
    """A rate as `info` says it: '25 fps', '30000/1001 (29.970) fps', '... on average (variable)'."""
    return (str(fps) if fps.denominator == 1 else f"{fps} ({float(fps):.3f})") + " fps" + (" on average (variable)" if varies else "")


def _describe_input(i: video.VideoInfo, name: Path) -> tuple[dict, str]:
    """One input's facts as the JSON summary and a human line; `name` is the input as given (- for stdin)."""
    n = 1 if i.is_image else video.count_frames(i)
    times = None if i.is_image else video.frame_times(i)
    varies = times is not None
    # how long it plays: at a varying rate from the first frame's time to the last one's end (n / fps was 0.3 s off on tree.mp4)
    seconds = None if i.is_image else float(video.timeline(times, i.fps, 1, video.last_shown(i))(len(times))) if varies else n / float(i.fps)
    rate = _rate_text(i.fps, varies)
    # HDR by its transfer: HLG (a phone's), PQ (HDR10 where it carries the mastering display's metadata)
    hdr_kind = {hdr.PQ: "HDR10 (PQ)" if i.colour.hdr10 else "HDR (PQ)", hdr.HLG: "HDR (HLG)"}.get(i.colour.trc)
    result = {"input": str(name), "width": i.width, "height": i.height, "fps": str(i.fps), "variable_rate": varies, "frames": n,
              "seconds": None if seconds is None else round(seconds, 3), "image": i.is_image, "depth": i.depth,
              "chroma": "4:4:4" if i.full_chroma else "subsampled", "audio": i.has_audio, "subtitles": i.has_subtitles, "tracks": i.tracks,
              "chapters": [video.shown_text(ch["metadata"].get("title", "")) for ch in i.chapters], "rotation": i.rotation, "mirrored": i.mirrored,
              "sample_aspect": None if i.sample_aspect is None else str(i.sample_aspect), "interlaced": i.interlaced, "alpha": i.alpha, "timecode": i.timecode, "other_video_tracks": i.other_video,
              "video_start": float(i.start), "hdr": hdr_kind, "colour": dataclasses.asdict(i.colour)}
    facts = ["image" if i.is_image else f"{rate}, {n} frame{'s' * (n != 1)}, {result['seconds']:.3f} s", f"{i.depth}-bit",
             *(["4:4:4"] if i.full_chroma else []),
             *(kind if n == 1 else f"{n} {kind.rstrip('s')} tracks" for kind, n in i.tracks.items()),
             *([f"{i.other_video} more video track{'s' * (i.other_video > 1)} (left out)"] if i.other_video else []),
             *([f"{len(i.chapters)} chapters"] if i.chapters else []),
             *(["mirrored (read as shown)"] if i.mirrored else [f"rotated {i.rotation} (read upright)"] if i.rotation else []), *([f"pixel aspect {i.sample_aspect}"] if i.sample_aspect else []),
             *([hdr_kind] if hdr_kind else []),
             *(["interlaced"] if i.interlaced else []), *(["alpha"] if i.alpha else []),
             *([f"timecode {i.timecode}"] if i.timecode else []), *([f"video starts at {float(i.start):.3f} s"] if i.start else [])]
    return result, f"{name}: {i.width}x{i.height}, " + ", ".join(facts)


def _describe(path: Path, name: Path) -> tuple[dict, str]:
    """An input of `info`: a video or image as read (_describe_input), or a token file from `tokenize`."""
    if not video.is_token_file(path):
        info = video.probe(path)
        if (unused := video.input_fps_unused(info)) is not None:
            warn_line(unused)
        return _describe_input(info, name)
    t = runners.describe_tokens(path)
    kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF"}.get(str(t["photo"]).lower(), str(t["photo"]).lstrip(".").upper())
    held = (f"a {kind} photo, {t['width']}x{t['height']}" if t["photo"] else
            f"{t['width']}x{t['height']}, {_rate_text(t['fps'], t['variable_rate'])}, "
            f"{t['frames']} frame{'s' * (t['frames'] != 1)}, {t['seconds']:.3f} s")
    line = (f"{name}: tokens of {held}; {t['windows']} window{'s' * (t['windows'] != 1)}, "
            f"{t['tokens']} tokens of {t['bits']} bits" + (f", encoder {t['encoder']}" if t["encoder"] else ""))
    return {"input": str(name), "tokens_file": True, **t, "fps": str(t["fps"]), "seconds": round(t["seconds"], 3)}, line


@app.command()
def info(ctx: typer.Context, inputs: Optional[List[Path]] = typer.Argument(None, show_default=False, readable=False, help=(
             "Videos or images to describe instead: what magvit reads from each (size, rate, frames, length, "
             "depth, audio, subtitles, attachments, chapters, rotation, pixel shape, interlacing) and keeps on its output; "
             "or token files from `magvit tokenize` (the video they hold, their grid).")),
         weights: Optional[str] = WeightsOpt, device: str = DeviceOpt, precision: str = PrecisionOpt,
         input_fps: Optional[str] = InputFpsOpt, json_: bool = JsonOpt):
    """The loaded weights, their configs, the device and precision that would be used, and the settings
    each task decodes with when no option is given (they differ between footprint and padded models).
    With inputs: each input as magvit reads it (no model is loaded)."""
    State.json = json_
    try:
        given = lambda *names: [f"--{k.replace('_', '-')}" for k in names  # on the command line (not $MAGVIT_WEIGHTS)
                                if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"]
        if inputs and (model_opts := given("weights", "device", "precision")):  # each was taken without a word
            warn_line(f"{', '.join(model_opts)} not used: with inputs `info` describes them and loads no model (without, the model)")
        if not inputs and given("input_fps"):
            warn_line("--input-fps not used: it is the rate inputs are read at, and none was given")
        if inputs:
            video.use_input_fps(input_fps)
            with pipes.Pipes(inputs, None) as p:  # each input's line; one that does not open is an error line and the rest go on
                read = dict(zip(inputs, p.inputs))
                each([(given, None) for given in inputs], lambda k, given, _: emit(*_describe(read[given], given)),
                      len(inputs) > 1, "described")
            return
        m = _load(weights, device, precision, need_transformer=False, warn=False)
        from .weights import resolve
        paths = resolve(weights)
        tr = None
        if paths.transformer is not None:
            from .models import load_model
            tr = load_model(paths.transformer, expect="transformer", allow_pickle=State.allow_pickle)
        n_tok = sum(p.numel() for p in m.tokenizer.parameters())
        result = {"weights": str(paths.root), "device": str(m.device), "precision": str(m.dtype).replace("torch.", ""),
                  "tokenizer": {"parameters": n_tok, "encoder": m.encoder_digest, **dataclasses.asdict(m.tokenizer.config)},
                  "transformer": None if tr is None else {"parameters": sum(p.numel() for p in tr.parameters()),
                                                          "trained_on_encoder": tr.metadata.get("encoder"),
                                                          **dataclasses.asdict(tr.config)}}
        human = (f"weights   {paths.root}\ndevice    {m.device} ({result['precision']})\n"
                 f"tokenizer {n_tok / 1e6:.2f}M params, {m.tokenizer.config.bits}-bit LFQ, "
                 f"{m.tokenizer.config.time_factor}x{m.tokenizer.config.space_factor}x{m.tokenizer.config.space_factor} downsampling, "
                 f"encoder {m.encoder_digest}")
        if tr is not None:
            h = tr.config.latent_shape[1] * m.tokenizer.config.space_factor
            t = (tr.config.latent_shape[0] - 1) * m.tokenizer.config.time_factor + 1
            made = tr.metadata.get("encoder")  # none recorded before the record
            pair = "" if not made else ", trained on this tokenizer's tokens" if made == m.encoder_digest else \
                f", trained on another tokenizer's tokens (encoder {made})"
            human += (f"\ntransformer {result['transformer']['parameters'] / 1e6:.2f}M params, {tr.config.layers} layers x {tr.config.dim}, "
                      f"window {t} frames at {h}x{h}, {tr.config.num_classes} classes{pair}")
            defaults = pipeline.task_defaults(tr.config.condition)
            result["task_defaults"] = {code: dataclasses.asdict(d) for code, d in defaults.items()}
            human += f"\ncondition {tr.config.condition}; defaults per task (--residual/--soft/--refine/--temperature):"
            for code, d in defaults.items():
                human += (f"\n  {code:<4}{'residual' if d.residual else 'plain':>9} {'soft' if d.soft else 'hard'}"
                          f"  refine {d.refine:<3} temperature {d.temperature:g}")
        emit(result, human)
    except (MagvitError, Exception) as e:
        fail(e)


@app.command()
def classes(weights: Optional[str] = WeightsOpt, json_: bool = JsonOpt):
    """List the class names of the loaded transformer (for generate and predict --class)."""
    State.json = json_
    try:
        from .weights import class_names
        with _weights_errors():
            names = class_names(weights)  # from the config: no model loaded
        emit({"classes": names}, "\n".join(f"{i:3d}  {n}" for i, n in enumerate(names)) or "(the model has no classes)")
    except (MagvitError, Exception) as e:
        fail(e)


# --- training -------------------------------------------------------------------------------
ResumeOpt = typer.Option(False, "--resume", help="Continue from OUT/checkpoint.pt exactly.")
StopAfterOpt = typer.Option(None, "--stop-after", min=1, help="Stop after N steps of this call (checkpointed; --resume goes on).")
InitOpt = typer.Option(None, "--init", help="Exported weights to start from (fine-tuning; the architecture comes from it): a run's export/, or what --weights takes (default: the shipped ones).")
MaxMinutesOpt = typer.Option(None, "--max-minutes", min=0, callback=_finite, help=(
    "Stop once this call has run this long (set-up included), checkpointed and exported: "
    "fits a run into a GPU lease or a session; --resume goes on."))
NprocOpt = typer.Option(1, "--nproc", min=1, help="Processes to launch with torchrun (DDP: gloo on CPU, NCCL on GPU).")
TRAIN_HELP = {  # the options both `train` commands take, with their own defaults
    "--steps": "Optimizer steps in the whole run; the learning rate's cosine decay (to a tenth) spans them, "
               "so --resume with --stop-after or --max-minutes continues one schedule.",
    "--batch": "Clips per process per micro-batch.",
    "--accumulate": "Micro-batches per optimizer step.",
    "--frames": "Clip length in frames (1 + 4k).",
    "--size": "Crop size in pixels (square).",
    "--lr": "Peak learning rate, reached after --warmup steps.",
    "--warmup": "Steps of linear learning-rate warm-up from 0.",
    "--synthetic-weight": "Share of synthetic clips (1 without --data).",
    "--eval-every": "Steps between held-out measurements in OUT/metrics.jsonl (and at the end).",
    "--ckpt-every": "Steps between checkpoints (OUT/checkpoint.pt, what --resume continues from).",
    "--seed": "Random seed of the model's initialization and the data order.",
    "--compile": "torch.compile the model before training (the first steps wait for the compile).",
    "--device": "auto | cpu | cuda. auto takes a GPU when there is one, and says so when it trains on the CPU.",
}


TRAIN_RANGE = {  # their bounds (typer: a one-line error, and the range shown in --help)
    "--steps": {"min": 1}, "--batch": {"min": 1}, "--accumulate": {"min": 1}, "--frames": {"min": 1}, "--size": {"min": 1},
    "--lr": {"min": 0}, "--warmup": {"min": 0}, "--synthetic-weight": {"min": 0, "max": 1}, "--eval-every": {"min": 1},
    "--ckpt-every": {"min": 1}, "--seed": {"callback": _seed},
}


def _train_opt(default, name: str):
    """A `train` option shared by the tokenizer and transformer commands, with its help text and bounds."""
    return typer.Option(default, name, help=TRAIN_HELP[name], **TRAIN_RANGE.get(name, {}),
                        **({"callback": _finite} if isinstance(default, float) else {}))


def _launch(nproc: int) -> None:
    """Re-run this very command under torch.distributed.run with `nproc` processes (once)."""
    if nproc <= 1 or "WORLD_SIZE" in os.environ:
        return
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        argv.append(a)
    cmd = [sys.executable, "-m", "magvit_cli.train.launch", str(nproc), *argv]  # torchrun, ending as one process would
    # the cores shared out between the processes (torchrun would set 1 each, in a banner on stderr)
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc)), **os.environ}
    # a process stopped by torchrun as another ended sometimes leaves its data queues' semaphores to
    # multiprocessing's tracker, which frees them and says so in a warning: freed, so not said
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), "ignore:resource_tracker:UserWarning"]))
    sys.stdout.flush()
    sys.stderr.flush()
    # this process becomes the launch, so a stop signal sent to it (kill, timeout) reaches torchrun, which
    # stops the training processes with it and they save; a launch run beside it was killed, and they trained on
    os.execve(sys.executable, cmd, env)


def _trained(path: Path, quiet: bool) -> None:
    if not quiet and os.environ.get("RANK", "0") == "0":  # once, not per process of --nproc
        print(f"exported {path}")  # one line however long the path (rich wraps at 80 columns off a terminal)


def _betas(text: str) -> tuple[float, float]:
    """Adam's b1,b2: each in [0, 1) (torch.optim.Adam's own check failed as 'error: ValueError: ...')."""
    try:
        b1, b2 = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--betas must be b1,b2, got {text!r}") from None
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise UsageError(f"--betas must be two numbers in [0, 1) (b1,b2; the paper's 0,0.99), got {text!r}")
    return b1, b2


def _overrides(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes key=value, got {item!r}")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
    return out


@train_app.command("tokenizer")
def train_tokenizer_cmd(
        out: Path = typer.Option(..., "--out", help="Run folder: checkpoint.pt, metrics.jsonl, export/."),
        data: List[str] = typer.Option([], "--data", help="Folder, file or quoted pattern ('clips/*.mp4') of videos/images; repeat for more. Sub-folders name classes."),
        preset: str = typer.Option("small", "--preset", autocompletion=_values(lambda: _presets("tokenizer")), help="tiny | small | base | large."),
        set_: List[str] = typer.Option([], "--set", help="Model config override key=value (JSON values), e.g. --set bits=14."),
        steps: int = _train_opt(1000, "--steps"), batch: int = _train_opt(8, "--batch"),
        accumulate: int = _train_opt(1, "--accumulate"), frames: int = _train_opt(9, "--frames"), size: int = _train_opt(64, "--size"),
        max_short: Optional[int] = typer.Option(None, "--max-short", min=1, help=(
            "Crops come from frames resized to a short side between --size and this (never upscaled). "
            "Default 2 x --size: footage well below its own scale; larger: nearer it.")),
        lr: float = _train_opt(1e-4, "--lr"), warmup: int = _train_opt(100, "--warmup"),
        betas: str = typer.Option("0,0.99", "--betas", help="Adam betas b1,b2 (paper: 0,0.99)."),
        entropy_weight: float = typer.Option(0.1, "--entropy-weight", min=0, callback=_finite, help=(
            "LFQ entropy penalty weight. A fresh run starts at 5x and anneals down to it; with --init "
            "the trained codebook is kept, at this weight from the first step.")),
        recon: str = typer.Option("l1", "--recon", autocompletion=_values(lambda: ["l1", "l2"]), help=(
            "Reconstruction loss: l1 (the default releases' tokenizer) or l2 (mean squared error, what PSNR measures).")),
        perceptual: Optional[str] = typer.Option(None, "--perceptual", help="TorchScript feature network (frames -> features) for a perceptual loss; none ships."),
        perceptual_weight: float = typer.Option(0.1, "--perceptual-weight", min=0, callback=_finite, help="Weight of the perceptual loss (with --perceptual)."),
        disc_weight: float = typer.Option(0.0, "--disc-weight", min=0, callback=_finite, help="GAN weight (0 = no discriminator)."),
        disc_start: int = typer.Option(2000, "--disc-start", min=0, help="Step at which the discriminator switches on."),
        synthetic_weight: float = _train_opt(0.5, "--synthetic-weight"),
        colour_turn: float = typer.Option(0.0, "--colour-turn", min=0, max=1, callback=_finite, help=(
            "Share of clips whose hues are turned at random and saturation raised: strong colours of every "
            "hue, which real footage shows too little of. 0: off.")),
        heldout: Optional[str] = typer.Option(None, "--heldout", help="Video for held-out PSNR in metrics.jsonl."),
        eval_every: int = _train_opt(500, "--eval-every"), ckpt_every: int = _train_opt(250, "--ckpt-every"),
        workers: int = typer.Option(1, "--workers", min=0, help="Data-loading processes beside the training one (0: load in it)."),
        seed: int = _train_opt(0, "--seed"), device: str = _train_opt("auto", "--device"), compile_: bool = _train_opt(False, "--compile"),
        resume: bool = ResumeOpt, init: Optional[Path] = InitOpt,
        freeze_encoder: bool = typer.Option(False, "--freeze-encoder", help="Train the decoder only (with --init): tokens stay the same, so transformers trained on them stay valid."),
        freeze_decoder: bool = typer.Option(False, "--freeze-decoder", help=(
            "Train the encoder only (with --init): it learns the tokens the trained decoder draws best; "
            "generated tokens decode as before.")),
        distill: int = typer.Option(0, "--distill", min=0, help=(
            "With --freeze-decoder: search each batch's tokens through the decoder for N steps (as --refine) "
            "and teach the encoder those bits. 0: off.")),
        distill_weight: float = typer.Option(1.0, "--distill-weight", min=0, callback=_finite, help="Weight of the loss toward the searched bits."),
        stop_after: Optional[int] = StopAfterOpt, max_minutes: Optional[float] = MaxMinutesOpt,
        nproc: int = NprocOpt, quiet: bool = QuietOpt):
    """Train the causal LFQ tokenizer; exports EMA weights to OUT/export (config.json + model.safetensors)."""
    _launch(nproc)
    try:
        if recon not in ("l1", "l2"):
            raise UsageError(f"--recon must be l1 or l2, got {recon!r}")
        from .train.engine import tidy_run
        from .train.tokenizer import TokenizerTrainConfig, train_tokenizer
        cfg = TokenizerTrainConfig(out=out, data=data, preset=preset, model_overrides=_overrides(set_), steps=steps, batch=batch,
                                   accumulate=accumulate, frames=frames, size=size, max_short=max_short, lr=lr,
                                   warmup=warmup, betas=_betas(betas), recon=recon, entropy_weight=entropy_weight,
                                   entropy_start=entropy_weight if init else 5 * entropy_weight, stop_after=stop_after,
                                   max_minutes=max_minutes,
                                   perceptual=perceptual, perceptual_weight=perceptual_weight,
                                   disc_weight=disc_weight, disc_start=disc_start, synthetic_weight=synthetic_weight,
                                   colour_turn=colour_turn, heldout=heldout, eval_every=eval_every, ckpt_every=ckpt_every, workers=workers, seed=seed,
                                   device=device, compile=compile_, resume=resume, quiet=quiet,
                                   init=str(init) if init else None, freeze_encoder=freeze_encoder,
                                   freeze_decoder=freeze_decoder, distill=distill, distill_weight=distill_weight)
        with tidy_run(out):
            _trained(train_tokenizer(cfg, warn=warn_line), quiet)
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


@train_app.command("transformer")
def train_transformer_cmd(
        out: Path = typer.Option(..., "--out", help="Run folder: cache/, checkpoint.pt, metrics.jsonl, export/."),
        tokenizer: Path = typer.Option(..., "--tokenizer", help="Frozen tokenizer: its folder (e.g. a tokenizer run's export/), or what --weights takes (default: the shipped one; a packed file; a Hub id)."),
        data: List[str] = typer.Option([], "--data", help="Folder, file or quoted pattern ('clips/*.mp4') of videos/images; repeat for more."),
        labels: Optional[str] = typer.Option(None, "--labels", help="CSV of file,class rows (default: sub-folder names)."),
        cache: Optional[str] = typer.Option(None, "--cache", help="Token cache folder (built when missing; default OUT/cache)."),
        cache_clips: int = typer.Option(512, "--cache-clips", min=1, help="Clips to tokenize into the cache."),
        cache_variants: Optional[int] = typer.Option(None, "--cache-variants", min=1, help="Condition variants encoded per batch of clips (default all 12; fewer = faster cache)."),
        preset: str = typer.Option("small", "--preset", autocompletion=_values(lambda: _presets("transformer")), help="tiny | small | base | large."),
        set_: List[str] = typer.Option([], "--set", help="Model config override key=value."),
        frames: int = _train_opt(17, "--frames"), size: int = _train_opt(64, "--size"),
        steps: int = _train_opt(2000, "--steps"), batch: int = _train_opt(16, "--batch"),
        accumulate: int = _train_opt(1, "--accumulate"), lr: float = _train_opt(1e-3, "--lr"),
        warmup: int = _train_opt(100, "--warmup"), synthetic_weight: float = _train_opt(0.5, "--synthetic-weight"),
        eval_every: int = _train_opt(250, "--eval-every"), ckpt_every: int = _train_opt(250, "--ckpt-every"),
        seed: int = _train_opt(0, "--seed"), device: str = _train_opt("auto", "--device"), compile_: bool = _train_opt(False, "--compile"),
        resume: bool = ResumeOpt,
        init: Optional[Path] = InitOpt,
        condition: Optional[str] = typer.Option(None, "--condition", autocompletion=_values(lambda: list(importlib.import_module(".tasks", __package__).CONDITION_REGIONS)), help="Tokens that show the condition video: footprint (SPEC: tokens over known pixels; the rest start as [MASK]) or padded (every token shows the padded video: blend, repeat, edge; the model learns to refine it). Default: --init's, else footprint."),
        motion: bool = typer.Option(False, "--motion/--no-motion", help="Padded condition region: pad interpolation and prediction in the token cache along the motion, as inference does (clips drawn at twice --size for the flow). Default: the plain blend and held frame."),
        stop_after: Optional[int] = StopAfterOpt, max_minutes: Optional[float] = MaxMinutesOpt,
        nproc: int = NprocOpt, quiet: bool = QuietOpt):
    """Train the multi-task masked transformer with COMMIT over a frozen tokenizer's token cache."""
    _launch(nproc)
    try:
        from .train.engine import tidy_run
        from .train.transformer import TransformerTrainConfig, train_transformer
        cfg = TransformerTrainConfig(out=out, tokenizer=str(tokenizer), data=data, labels=labels, cache=cache, cache_clips=cache_clips, cache_variants=cache_variants,
                                     preset=preset, model_overrides=_overrides(set_), frames=frames, size=size, steps=steps,
                                     batch=batch, accumulate=accumulate, lr=lr, warmup=warmup,
                                     synthetic_weight=synthetic_weight, eval_every=eval_every, ckpt_every=ckpt_every,
                                     seed=seed, device=device, compile=compile_, resume=resume, quiet=quiet,
                                     stop_after=stop_after, max_minutes=max_minutes, init=str(init) if init else None, condition=condition,
                                     motion=motion)
        if condition is not None and condition not in tasks.CONDITION_REGIONS:
            raise UsageError(f"--condition must be one of {', '.join(tasks.CONDITION_REGIONS)}, got {condition!r}")
        with tidy_run(out):
            _trained(train_transformer(cfg, warn=warn_line), quiet)
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


@train_app.command("export")
def train_export_cmd(run: Path = typer.Argument(..., help="Run folder holding checkpoint.pt."),
                     out: Optional[Path] = typer.Option(None, "--out", help="Export folder (default RUN/export)."),
                     half: bool = typer.Option(False, "--half", help="Store fp16 (half the size; loads into fp32)."),
                     raw: bool = typer.Option(False, "--raw", help="The raw weights instead of the EMA (better early in a run)."),
                     force: bool = typer.Option(False, "--force", help="Overwrite the weights an --out folder holds (RUN/export is always rewritten).")):
    """Write release weights (EMA, config.json + model.safetensors, no optimizer) from a run's checkpoint."""
    try:
        from .train.engine import export_checkpoint
        from .models.io import CONFIG_NAME, WEIGHTS_NAME
        held = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if out is not None and (out / n).exists()]
        if held and not force:  # another folder's weights (a release, the shipped ones) are not replaced unasked
            raise UsageError(f"{out} holds weights ({', '.join(held)}); pass --force to replace them")
        _trained(export_checkpoint(run, out, half, raw), False)
    except (MagvitError, Exception) as e:
        fail(e)


@app.command("eval")
def eval_cmd(inputs: List[Path] = typer.Argument(..., help="Clips or folders of clips to score (held-out footage).", show_default=False, readable=False),
             tasks: str = typer.Option("all", "--tasks", autocompletion=_task_list("evaluate", "TASK_CODES"), help="all, or a comma list of tokenizer,FI,FP,OPC,OPV,OPH,OPD,IPC,IPD."),
             window: int = typer.Option(17, "--window", help="Frames per evaluation window (1 + 4k)."),
             windows: int = typer.Option(2, "--windows", min=1, help="Windows per clip (from the start)."),
             report: Optional[Path] = typer.Option(None, "--report", help="Write the JSON report here (one there is kept unless --force)."),
             save_examples: Optional[Path] = typer.Option(None, "--save-examples", help="Folder for PNG contact sheets (truth, ours, alternatives)."),
             i3d: Optional[Path] = typer.Option(None, "--i3d", help="TorchScript I3D feature network ((N,3,T,224,224) -> (N,D)) for FVD per task; none ships."),
             weights: Optional[str] = WeightsOpt, device: str = DeviceOpt, precision: str = PrecisionOpt,
             steps: int = StepsOpt, temperature: Optional[float] = TempOpt, guidance: float = GuidanceOpt, seed: int = SeedOpt,
             residual: Optional[bool] = PlainOpt, soft: Optional[bool] = SoftOpt, motion: bool = MotionOpt,
             fi_every: Optional[int] = typer.Option(None, "--fi-every", help=(
                 "FI with every k-th frame known (interpolation x k, e.g. 2 for the common x2) instead of the paper's "
                 "first and last frame of the window."), show_default=False),
             refine: Optional[int] = typer.Option(None, "--refine", min=0, metavar="N", show_default=False, help=(
                 "Tokens searched N steps through the decoder: the tokenizer row's (default 0) and every task's "
                 "condition (default: the tasks' own, see `outpaint --help`).")),
             force: bool = typer.Option(False, "--force", help="Overwrite an existing --report file and --save-examples sheets."),
             quiet: bool = QuietOpt, json_: bool = JsonOpt):
    """Score every task on the generated region only (PSNR, SSIM), next to the alternatives users have:
    frame repeat, linear blend, ffmpeg minterpolate, edge replication, temporal + diffusion fill, x264/x265."""
    State.quiet, State.json = quiet, json_
    try:
        from .evaluate import evaluate, sheets_there, tasks_named
        from .train.data import list_media
        chosen = tasks_named(tasks)
        if fi_every is not None and "FI" not in chosen:  # it was taken without a word
            raise UsageError(f"--fi-every sets interpolation's known frames, and --tasks {tasks} leaves FI out")
        clips = [p for p, _ in list_media(inputs, flag="")[0]]
        if not clips:
            raise UsageError("no video files among the inputs")
        if report is not None:  # before minutes of scoring, not after
            refuse_folder(report, "--report", f"name the report's file, e.g. --report {report / 'report.json'}")
            video.check_folder(report, flag="--report")
            refuse_overwrite(report, force)
            report_existed = report.exists()
        if save_examples is not None:
            video.check_folder(save_examples / "sheet.png", True, "--save-examples", f"--save-examples {save_examples}")
            taken = [] if force else sheets_there(save_examples, clips, chosen)
            if taken:  # a last run's sheets, as the report, are not written over unasked
                raise UsageError(f"--save-examples {save_examples} holds this run's sheets already ({taken[0].name}"
                                 f"{f' and {len(taken) - 1} more' if len(taken) > 1 else ''}); pass --force to overwrite them")
        m = _load(weights, device, precision, need_transformer=any(t != "tokenizer" for t in chosen), per_input=True)
        started = time.time()
        try:
            with Progress("eval", "windows") as progress:
                res = evaluate(m, clips, _sampling(steps, temperature, guidance, seed, residual, soft, refine), window, windows,
                               chosen, save_examples, progress, str(i3d) if i3d else None, motion, fi_every)
        except KeyboardInterrupt:  # the sheets made so far are whole files, kept; the line says so (it said nothing was left)
            made = [f for f in sheets_there(save_examples, clips, chosen) if f.stat().st_mtime >= started] if save_examples else []
            if made:
                raise KeyboardInterrupt(f"no report was written; the {len(made)} contact sheet{'s' * (len(made) != 1)} "
                                        f"made so far {'are' if len(made) != 1 else 'is'} kept in {save_examples}") from None
            raise
        if report:
            video.write_file(report, json.dumps(res, indent=2).encode(), report_existed)
        if State.json:
            print(json.dumps(res))
        elif not quiet:
            from rich.table import Table
            table = Table(title=f"magvit eval: {len(clips)} clip(s), generated region only")
            for col in ("task", "method", "PSNR dB", "SSIM", "bpp"):
                table.add_column(col, justify="right" if col != "method" and col != "task" else "left")
            for task, methods in res["average"].items():
                for i, (method, v) in enumerate(methods.items()):
                    bpp = f"{v['bits_per_pixel']:.4f}" if "bits_per_pixel" in v else ""
                    table.add_row(task if i == 0 else "", method, f"{v['psnr']:.2f}", f"{v['ssim']:.3f}", bpp)
            show_table(table)
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


@app.command("bench")
def bench_cmd(ctx: typer.Context, tasks: str = typer.Option("all", "--tasks", autocompletion=_task_list("bench", "TASKS"), help="all, or a comma list of: interpolate, predict, outpaint, inpaint, outpaint-dynamic, inpaint-dynamic, reconstruct."),
              size: str = typer.Option("640x360", "--size", help="Test clip size WxH."),
              frames: int = typer.Option(33, "--frames", min=2, help="Test clip frames."),
              vs_ffmpeg: bool = typer.Option(False, "--vs-ffmpeg", help="Also time ffmpeg minterpolate x2 on the same clip."),
              smoke: bool = typer.Option(False, "--smoke", help="A quick run: 64x48, 9 frames, 2 steps."),
              weights: Optional[str] = WeightsOpt, device: str = DeviceOpt, precision: str = PrecisionOpt,
              steps: int = StepsOpt, quiet: bool = QuietOpt, json_: bool = JsonOpt):
    """Throughput per subcommand, time per stage, peak memory, GFLOP/s next to the measured matmul peak."""
    State.quiet, State.json = quiet, json_
    try:
        from .bench import TASKS, bench
        from .evaluate import tasks_named
        w, h = _parse_size(size)
        if smoke:  # it set them over what the call gave, without a word
            given = [f"--{k}" for k in ("size", "frames", "steps") if getattr(ctx.get_parameter_source(k), "name", "") != "DEFAULT"]
            if given:
                raise UsageError(f"--smoke runs 64x48, 9 frames, 2 steps: give it or {', '.join(given)}, not both")
            w, h, frames, steps = 64, 48, 9, 2
        chosen = tasks_named(tasks, TASKS)
        m = _load(weights, device, precision, need_transformer=any(t != "reconstruct" for t in chosen))
        with Progress("bench", "subcommands") as progress:
            res = bench(m, chosen, w, h, frames, steps, vs_ffmpeg, progress)
        if State.json:
            print(json.dumps(res))
        elif not quiet:
            from rich.table import Table
            from .bench import STAGES
            t = Table(title=f"magvit bench on {res['device']} ({res['precision']}, {res['threads']} threads): {res['clip']}, "
                            f"matmul {res['matmul_gflops']:.0f}, 3x3x3 conv {res['conv3d_gflops']:.0f} GFLOP/s")
            short = {"decode video": "read", "motion": "flow", "tokenize": "tok", "COMMIT steps": "COMMIT", "detokenize": "detok",
                     "composite": "comp", "encode video": "write"}
            for col in ("task", "s", "in f/s", "out f/s", *(short[k] for k in STAGES), "GFLOP/s", "%peak"):
                t.add_column(col, justify="right" if col != "task" else "left")
            for name, r in res["tasks"].items():
                t.add_row(name, f"{r['seconds']:.2f}", f"{r['frames_in_per_s']:.2f}", f"{r['frames_out_per_s']:.2f}",
                          *(f"{r['stages'][k]:.2f}" for k in STAGES), f"{r.get('model_gflops', 0):.1f}",
                          f"{100 * r.get('model_peak_fraction', 0):.0f}")
            show_table(t)
            if "interpolate_vs_ffmpeg_time_ratio" in res:
                plain_console().print(f"interpolate x2 takes {res['interpolate_vs_ffmpeg_time_ratio']:.1f}x the time of ffmpeg minterpolate")
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


@weights_app.command("list")
def weights_list(json_: bool = JsonOpt):
    """The shipped weights and the magvit weights in the Hugging Face cache."""
    State.json = json_
    try:
        from .weights import list_weights
        rows = list_weights()
        emit({"weights": rows}, "\n".join(f"{r['source']:10s} {r['id']}  ({', '.join(r['models'])})" for r in rows) or "(none)")
    except (MagvitError, Exception) as e:
        fail(e)


@weights_app.command("info")
def weights_info(weights: Optional[str] = typer.Argument(None, help="Folder or Hub id org/name[@rev]; default (or `default`) the shipped weights."),
                 json_: bool = JsonOpt):
    """Config, parameter counts, tasks, classes and sha256 of each model."""
    State.json = json_
    try:
        from .weights import describe
        d = describe(weights)
        human = [f"weights {d['weights']}"]
        for kind, m in d["models"].items():
            human.append(f"{kind:11s} {m['parameters'] / 1e6:.2f}M params  sha256 {m['sha256'][:16]}...")
            if kind == "tokenizer":
                human.append(f"            encoder {m['encoder']} (what its tokens mean)")
            if kind == "transformer":
                human.append(f"            tasks: {', '.join(m['tasks'])}; condition region: {m['condition']}; "
                             f"classes: {', '.join(m['classes']) or '(none)'}")
                if m["metadata"].get("encoder"):
                    human.append(f"            trained on the tokens of encoder {m['metadata']['encoder']}")
        emit(d, "\n".join(human))
    except (MagvitError, Exception) as e:
        fail(e)


@weights_app.command("pull")
def weights_pull(repo_id: str = typer.Argument(..., help="Hub id org/name."),
                 revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit."),
                 json_: bool = JsonOpt):
    """Download weights into the Hugging Face cache (HF_HOME, HF_HUB_OFFLINE and tokens apply)."""
    State.json = json_
    try:
        from .weights import pull
        path = pull(repo_id, revision)
        emit({"path": str(path)}, f"{repo_id}: {path}")
    except (MagvitError, Exception) as e:
        fail(e)


@weights_app.command("push")
def weights_push(folder: Path = typer.Argument(..., help="Weights folder (tokenizer/ and transformer/); `default`: the shipped one."),
                 repo_id: str = typer.Argument(..., help="Hub id org/name to create or update."),
                 private: bool = typer.Option(False, "--private", help="Create the repo as private."),
                 json_: bool = JsonOpt):
    """Upload a trained model with a generated model card (README.md) when the folder has none."""
    State.json = json_
    try:
        from .weights import push
        url = push(folder, repo_id, private)
        emit({"url": url}, f"pushed {folder} to {url}")
    except (MagvitError, Exception) as e:
        fail(e)


@weights_app.command("pack")
def weights_pack(folders: List[Path] = typer.Argument(..., help=(
                     "Weights folder (tokenizer/ and transformer/, or one model's folder); `default`: the shipped one. "
                     "Or two models' folders, a tokenizer's and a transformer's (training runs' export/)."), show_default=False),
                 file: Path = typer.Argument(..., help="Single .safetensors file to write; use it as --weights FILE."),
                 force: bool = ForceOpt, json_: bool = JsonOpt):
    """Pack a weights folder, or a tokenizer's and a transformer's, into one .safetensors file (configs in its header)."""
    State.json = json_
    try:
        from .weights import pack_folders
        if file.suffix != ".safetensors":
            raise UsageError(f"{file}: the single file must end in .safetensors")
        refuse_folder(file, "FILE", "name the single file to write")
        refuse_overwrite(file, force)
        video.check_folder(file, flag="FILE")
        path, models = pack_folders(folders, file, warn_line)
        emit({"output": str(path), "models": models}, f"wrote {path} ({', '.join(models)})")
    except (MagvitError, Exception) as e:
        fail(e)


@weights_app.command("convert")
def weights_convert(src: Path = typer.Argument(..., help="Upstream checkpoint: .safetensors, or .ckpt/.pt with --allow-pickle."),
                    dst: Path = typer.Argument(..., help="Tokenizer folder to write (config.json + model.safetensors); use it as --weights."),
                    source: str = typer.Option(..., "--from", help="open-magvit2 (TencentARC Open-MAGVIT2, video or image) | o2-magvit2 (cofe-ai O2-MAGVIT2)."),
                    inflate: bool = typer.Option(False, "--inflate", help=(
                        "Image checkpoints: inflate to a video tokenizer (2D kernels in the last temporal slice, "
                        "Open-MAGVIT2's temporal layout) instead of a per-frame one.")),
                    ema: bool = typer.Option(True, "--ema/--no-ema", help="Use the checkpoint's EMA weights when it has them."),
                    half: bool = typer.Option(False, "--half", help="Store fp16."),
                    force: bool = ForceOpt, json_: bool = JsonOpt):
    """Convert an open MAGVIT-v2 video tokenizer into this project's tokenizer (exact architecture; bit order kept)."""
    State.json = json_
    try:
        from .convert import SOURCES, convert
        if source not in SOURCES:
            raise UsageError(f"--from must be one of {', '.join(SOURCES)}, got {source!r}")
        refuse_overwrite(dst, force)
        video.check_folder(dst / "config.json", True, "DST", str(dst))
        path, cfg, report = convert(src, dst, source, inflate, ema, State.allow_pickle, half)
        import dataclasses
        emit({"output": str(path), "source": source, "kind": report.kind, "ema": report.ema, "used": report.used,
              "ignored": report.ignored, "config": dataclasses.asdict(cfg)},
             f"wrote {path}: {report.kind} tokenizer from {source}, {report.used} tensors used"
             f"{' (EMA)' if report.ema else ''}; {cfg.bits}-bit tokens, {cfg.time_factor}x{cfg.space_factor}x{cfg.space_factor} "
             f"downsampling" + (f"; ignored {report.ignored}" if report.ignored else ""))
    except (MagvitError, Exception) as e:
        fail(e)


# One line each in `magvit --help` (plain help cuts a command's first sentence at the width)
SHORT_HELP = {
    "interpolate": "Frame interpolation (FI): more frames per second, or slow motion.",
    "predict": "Frame prediction (FP; CFP with --class): frames after the end.",
    "outpaint": "Outpainting (OPC/OPV/OPH/OPD): a larger canvas around the input.",
    "inpaint": "Inpainting (IPC/IPD, or a box or mask): fill a hole.",
    "generate": "Class-conditional generation (CG): a new clip.",
    "reconstruct": "Tokenizer only: encode and decode; bits per pixel, PSNR.",
    "tokenize": "Write a video's token grid to a safetensors file.",
    "info": "The weights, device and settings; or each input as read.",
    "classes": "The class names of the loaded transformer.",
    "eval": "Score every task on clips (PSNR, SSIM, FVD) against alternatives.",
    "bench": "Speed per subcommand and stage, peak memory, GFLOP/s.",
    "train": "Train a tokenizer or a transformer.",
    "weights": "List, inspect, convert, pack, download and upload weights.",
    "train tokenizer": "Train the causal LFQ tokenizer.",
    "train transformer": "Train the multi-task masked transformer (COMMIT).",
    "train export": "Write a run's release weights (no optimizer state).",
    "weights list": "The shipped weights and those in the Hugging Face cache.",
    "weights info": "Configs, sizes, tasks, classes and sha256 of weights.",
    "weights pull": "Download weights from the Hugging Face Hub.",
    "weights push": "Upload trained weights with a model card.",
    "weights pack": "Pack a weights folder into one .safetensors file.",
    "weights convert": "Convert an open MAGVIT-v2 tokenizer into this project's.",
}
for _prefix, _typer in [("", app)] + [(f"{g.name} ", g.typer_instance) for g in app.registered_groups]:
    for _c in _typer.registered_commands:
        _c.short_help = SHORT_HELP[_prefix + (_c.name or _c.callback.__name__.removesuffix("_cmd"))]
for _g in app.registered_groups:
    _g.short_help = SHORT_HELP[_g.name]


def main():
    """The `magvit` command: the app, then stdout flushed where a pipe's reader that has gone
    cannot make Python's exit say so (stdout_gone); a run a stop signal ended dies of it."""
    pipes.open_closed_streams()
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = stdout_gone()
    if code:  # stopped by Ctrl-C or SIGTERM (outputs cleaned up): die of it, so a shell loop stops too
        sys.stderr.flush()
        die_of_stop_signal()
    sys.exit(code)


if __name__ == "__main__":
    main()
