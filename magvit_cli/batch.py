"""Inputs to outputs for the task commands: each output's name (-o, --out-dir or derived), checked
before any work (never the input, never over a file unasked, a folder refused), then the inputs
run one by one, one that fails said in a line while the rest go on (`run_batch`, `each`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional

import typer

from . import pipes, video
from .console import Progress, State, describe_output, emit, error_line, fail, is_stdout_gone, report, summary
from .errors import MagvitError, UsageError
from .video import is_sequence, sequence_match, sequence_stem

if TYPE_CHECKING:  # runners imports torch (about 2 s): types only here
    from .options import WriteOptions
    from .runners import Output


def output_path(src: Path, command: str, output: Optional[Path], out_dir: Optional[Path], force: bool,
                image_out: bool = False, suffix: Optional[str] = None) -> Path:
    """-o, or a name derived from the input ({stem}.{command}.mp4), in --out-dir or beside it.
    One that exists is refused unless `force`."""
    if output is None:
        seq = is_sequence(src)  # frames/%04d.png -> frames/frames.<command>.mp4
        photo = _photo_out(src, named=True) if image_out else None
        ext = suffix or photo or ".mp4"  # a HEIF photo's: a JPEG
        # a photo called 'score 100%d.png' -> 'score 100.outpaint.png', not a pattern that writes 'score 1001...'
        stem = sequence_stem(src) if seq or video.patterned(src) else src.stem
        output = (out_dir or src.parent) / f"{stem}.{command}{ext}"
    elif out_dir is not None:
        raise UsageError("use either -o/--output or --out-dir")
    else:
        refuse_folder(output, "-o", f"use --out-dir {output}, or name the output file")
    if src.exists() and (output.resolve() == src.resolve() or _same_file(output, src)):
        # samefile: another name of it too (a hard link; CLIP.MP4 for clip.mp4 where names ignore case: macOS, Windows)
        raise UsageError(f"output {output} is the input file; choose another -o")
    refuse_overwrite(output, force, " (--skip-existing: leave that input)")
    if is_sequence(src) and is_sequence(output) and output.resolve() == src.resolve():
        raise UsageError(f"output {output} is the input sequence; choose another -o")
    return output


def _photo_out(src: Path, named: bool) -> Optional[str]:
    """The photo type an edit of `src` is written as (video.photo_suffix), or None for a video: a
    photo's; a token file's from a photo (`tokenize p.jpg`: reconstruct writes a JPEG). `named`:
    by the name alone (deriving the output's name before any work; a photo has an image's suffix),
    else by probing it (stdin's copy, whose name says nothing)."""
    if video.is_token_file(src):
        from .runners import token_photo
        return token_photo(src) if src.is_file() else None
    if is_sequence(src):
        return None
    if named:
        return video.photo_suffix(src) if src.suffix.lower() in video.PHOTO_SUFFIXES else None
    return video.photo_suffix(src) if video.probe(src).is_image else None


def _same_file(a: Path, b: Path) -> bool:
    """Whether two names are one file; False where either is not there (or cannot be: a name too long)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_folder(output: Path, label: str, hint: str) -> None:
    """An output file named as a folder is refused before any work: one that is there (--force
    ran the whole job and then failed to move its file in place), or a name written with a
    trailing slash (`-o clips/` for a folder still to make; Typer's Path drops the slash)."""
    if output.is_dir():
        raise UsageError(f"{label} {output} is a folder: {hint}")
    if not output.exists() and _written_as_folder(output):
        raise UsageError(f"{label} {output}{os.sep} names a folder: {hint}")


def _written_as_folder(path: Path) -> bool:
    """Whether the call wrote `path` with a trailing slash (-o DIR/, --output=DIR/, -oDIR/)."""
    for word in State.argv:
        if word.endswith(("/", os.sep)) and word.strip("/" + os.sep):
            if any(c and Path(c) == path for c in (word, word.partition("=")[2], word[2:] if word.startswith("-o") else "")):
                return True
    return False


def refuse_overwrite(output: Path, force: bool, more: str = "") -> None:
    """Every command's guard for its output: a name too long for its file system is refused; one
    that exists (or a file of an output sequence) is refused unless `force`; `more` adds to the
    message."""
    video.check_name(output)
    taken = None if force else existing(output)
    if taken is not None:
        raise UsageError(f"{taken} exists{f' (output sequence {output})' if taken != output else ''}; "
                         f"pass --force to overwrite it{more}")


def existing(output: Path) -> Optional[Path]:
    """The file an output would overwrite: itself, or for an output sequence (out/%04d.png) any
    file of it; None where there is none."""
    if output.exists():
        return output
    if is_sequence(output) and output.parent.is_dir():
        return next((f for f in output.parent.iterdir() if sequence_match(output, f.name)), None)
    return None


def run_batch(inputs: List[Path], command: str, output, out_dir, force, quiet, json_, make: Callable[[Path, Path], Output],
              image_out: bool = False, suffix: Optional[str] = None, input_fps: Optional[str] = None,
              writes: Optional[Callable[[], WriteOptions]] = None, check: Optional[Callable[[], object]] = None,
              skip_existing: bool = False):
    """Run make(src, dst, progress) for each input. Before any work (and before the model loads),
    as one-line errors: every input and output name, `writes()` (the video outputs' options)
    against each output's type, and `check()` (the options that need no model). With several
    inputs, one that fails as it runs is reported in a line and the rest go on (as cp and gzip
    do); the call then ends with a line naming the failed ones and their worst exit code. A
    failure no input would escape (loading the model) ends the call at once."""
    State.quiet, State.json = quiet, json_
    try:
        video.use_input_fps(input_fps)
        if force and skip_existing:
            raise UsageError("give --force or --skip-existing, not both")
        if output is not None and len(inputs) > 1:
            raise UsageError("-o/--output takes one input; use --out-dir for several")
        stream = next((p for p in inputs if pipes.is_stream(p)), None)
        if stream is not None and output is None and out_dir is None:
            raise UsageError(f"{'- (stdin)' if stream == pipes.DASH else f'{stream} (a pipe)'} has no name to derive the "
                             f"output's from: give -o (-o - for stdout) or --out-dir")
        with pipes_for(inputs, output, json_, suffix) as p:
            if image_out and p.to_stdout and len(p.inputs) == 1:  # a photo's edit goes down the pipe as a photo
                video.check_input(p.inputs[0])
                photo = _photo_out(p.inputs[0], named=False)
                if photo:
                    p.output = p.output.with_suffix(photo)
            jobs = [(src, output_path(src, command, p.output, out_dir, force or skip_existing, image_out, suffix)) for src in p.inputs]
            if skip_existing:
                jobs = _leave_own_outputs(jobs)
            _distinct_outputs(jobs)
            given = len(jobs)
            if skip_existing and not p.to_stdout:
                jobs = [(src, dst) for src, dst in jobs if not _skipped(src, dst, claims=False)]  # claims: as each comes
            opts = writes() if writes is not None else None
            for src, dst in jobs:  # every input there, every output makeable, before any work (and before the model loads)
                video.check_input(src)
                video.check_folder(dst, create=out_dir is not None)
                if opts is not None:
                    video.check_output(dst, opts.codec, opts.lossless, opts.preset, opts.crf_given)
            if check is not None:
                check()
            if out_dir is not None:
                _make_folder(out_dir)

            def one(k: int, src: Path, dst: Path) -> Optional[bool]:  # False: left (each counts it)
                mine = None
                if skip_existing and not p.to_stdout:
                    if _skipped(src, dst):  # another run's, since the batch began
                        return False
                    mine = video.claim(dst)  # before the work: a run started with this one leaves dst to it
                    if mine is None:
                        _skipped(src, dst, first=True)
                        return False
                try:
                    with Progress(f"{command} {src.name}" + (f" ({k}/{len(jobs)})" if len(jobs) > 1 else "")) as progress:
                        out = p.deliver(make(src, dst, progress))
                except video.OutputAppeared:  # another run over the same folder finished it first: that one is kept
                    if not skip_existing:
                        raise
                    _skipped(src, dst, appeared=True)
                    return False
                finally:
                    if mine is not None:
                        mine.unlink(missing_ok=True)
                emit({"input": pipes.shown(str(src)), **summary(out)}, describe_output(out))  # as a skip's and an error's record
            each(jobs, one, len(p.inputs) > 1, "written", left=given - len(jobs))
    except (MagvitError, KeyboardInterrupt, Exception) as e:
        fail(e)


def _skipped(src: Path, dst: Path, appeared: bool = False, claims: bool = True, first: bool = False) -> bool:
    """--skip-existing: whether `src` is left: its output is there, or (`claims`) another live run is
    writing it (video.being_written: one job per GPU over one folder splits the work; it lists the
    folder, so it is asked as each input comes, not for all at the start), or (`appeared`) another
    run's came while this one worked, or (`first`) another claimed it at the moment this one did
    (video.claim). A line, or a --json record, says which."""
    if appeared:
        kind, why = "appeared", f"{dst} appeared while this run worked (another run's?); this run's was not written"
    elif (taken := existing(dst)) is not None:
        kind, why = "exists", f"{taken} exists"
    elif claims and (claim := video.being_written(dst)) is not None:
        kind, why = "being written", f"another run is writing {dst} ({claim.name})"
    elif first:  # its claim gone since (that run ended): said all the same
        kind, why = "being written", f"another run claimed {dst} first"
    else:
        return False
    emit({"input": str(src), "output": str(dst), "skipped": kind}, f"skipped {src}: {why}")
    return True


def each(jobs: list[tuple[Path, Optional[Path]]], one: Callable[[int, Path, Optional[Path]], Optional[bool]], several: bool,
          done: str, left: int = 0) -> None:
    """`one(k, src, dst)` for each job (k from 1; it returns False where it left the input to another
    run). With `several` inputs one that fails is reported in a line (with --json its record too:
    input, output, error, exit_code) and the rest go on, as cp and gzip do; the call then ends with
    a line naming the failed ones, with their worst exit code. A failure no input would escape
    (`whole_call`: loading the model) ends the call at once; so does a stop (KeyboardInterrupt).
    `done`: what became of the others ("written"); `left`: the inputs --skip-existing left out
    before (counted among the inputs in that line, with those left as they came, as skipped)."""
    failed: dict[Path, int] = {}  # input -> its exit code
    total, late = len(jobs) + left, 0  # the inputs as given; those left as they came (another run's outputs)
    for k, (src, dst) in enumerate(jobs, 1):
        try:
            late += one(k, src, dst) is False
        except KeyboardInterrupt as e:  # the line says what was done and how to go on (it said no more than 'nothing was left')
            if not several or str(e):
                raise
            ended = k - 1 - len(failed) - late
            raise KeyboardInterrupt(f"{pipes.shown(str(src))} was not finished, and nothing of it was kept; {ended} of {len(jobs)} "
                                    f"inputs {done}" + ("; the same command with --skip-existing goes on from there" if ended else "")) from None
        except Exception as e:
            if not several or getattr(e, "whole_call", False) or is_stdout_gone(e) or os.environ.get("MAGVIT_DEBUG") == "1":
                raise
            name = Path(pipes.shown(str(src)))  # stdin's temporary file as `-`
            text, failed[name] = report(e, name)
            if State.json:  # every input has its record
                print(json.dumps({"input": str(name), **({} if dst is None else {"output": str(dst)}),
                                  "error": text, "exit_code": failed[name]}))
    if failed:  # '1 of 3 inputs failed (c.mkv); 2 skipped', not '1 of 1': each skip said why in its line
        written, left = len(jobs) - len(failed) - late, left + late
        rest = [f"the others were {done}" if not left else f"{written} {done}"] * bool(written)
        rest += [f"{left} skipped"] * bool(left)
        error_line(f"{len(failed)} of {total} inputs failed ({', '.join(map(str, failed))})" + "".join(f"; {r}" for r in rest))
        raise typer.Exit(max(failed.values()))


def _make_folder(folder: Path) -> None:
    """--out-dir, made (with its parents) where it is missing, once the call's checks have passed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out-dir {folder}: cannot make it ({os.strerror(e.errno).lower()})") from None


def _leave_own_outputs(jobs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """--skip-existing over a folder's files again (`magvit interpolate *.mp4 --skip-existing`
    after a stop, outputs beside the inputs): the last run's outputs are among the inputs. Each
    input that is another input's output in this call is left (a line, or a JSON record, says
    so), not refused, and not made into a.interpolate.interpolate.mp4."""
    made = {dst.resolve(): src for src, dst in jobs}
    kept = []
    for src, dst in jobs:
        by = made.get(src.resolve())
        if by is None or by.resolve() == src.resolve():
            kept.append((src, dst))
        else:
            emit({"input": str(src), "skipped": "output", "of": str(by)}, f"skipped {src}: the output of {by}")
    return kept


def _distinct_outputs(jobs: list[tuple[Path, Path]]) -> None:
    """No output of a batch overwrites another's (inputs of one name from two folders into one
    --out-dir) or an input of the same batch (read after it would have been replaced)."""
    made: dict[Path, Path] = {}
    inputs = {src.resolve(): src for src, _ in jobs}
    for src, dst in jobs:
        key = dst.resolve()
        if key in made and made[key].resolve() == src.resolve():
            raise UsageError(f"{src} is given twice")
        if key in made:
            raise UsageError(f"{made[key]} and {src} would both be written to {dst}; give them different --out-dir folders or names")
        if key in inputs:
            raise UsageError(f"the output {dst} of {src} is an input of the same call; choose another --out-dir")
        made[key] = src


def pipes_for(inputs, output, json_, suffix=None) -> pipes.Pipes:
    """The call's stdin and stdout standing in for files (pipes.py); messages move to stderr while
    stdout carries the output."""
    p = pipes.Pipes(inputs, output, suffix, json_)
    State.stdout_busy = p.to_stdout
    return p
