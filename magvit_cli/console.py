"""What the command line prints: one error line (`fail`, `report`), a result as a human line or
JSON (`emit`), warnings; the call's settings that decide where it goes (`State`: --quiet, --json,
stdout carrying the output). Rich consoles that print text as given.
"""
from __future__ import annotations

import contextlib
import json
import os
import select
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.markup import escape

from . import pipes
from .errors import MagvitError
from .progress import LogLines
from .train.launch import another_process, keep_error

if TYPE_CHECKING:  # runners imports torch: a type only
    from .runners import Output


def plain_console(**kw) -> Console:
    """A rich console that prints text as given: file names like yt-dlp's 'Title [dQw4w9WgXcQ].mp4'
    lost their [...] as markup, and ':v:' became an emoji. Styled lines (error:, warning:) ask
    for markup and escape what they carry."""
    return Console(markup=False, emoji=False, highlight=False, **kw)


err = plain_console(stderr=True)


class State:
    quiet = False
    json = False
    allow_pickle = False
    stdout_busy = False  # -o -: stdout carries the output, so messages go to stderr
    weights_from_env = False  # --weights came from $MAGVIT_WEIGHTS: a load error says so
    argv: list = []  # the call's words after `magvit`


def fail(e: BaseException) -> None:
    """Library errors -> one line and an exit code; tracebacks only with MAGVIT_DEBUG=1. An exit
    already decided (typer.Exit: several inputs, some failed) goes through as it is."""
    if isinstance(e, typer.Exit) or os.environ.get("MAGVIT_DEBUG") == "1":
        raise e
    if is_stdout_gone(e):
        raise typer.Exit(stdout_gone())
    if isinstance(e, KeyboardInterrupt) and another_process():  # under --nproc, said by the first
        raise typer.Exit(130)
    if isinstance(e, KeyboardInterrupt):
        err.print(f"interrupted: {e}" if str(e) else "interrupted: no partial output was left behind", highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    raise typer.Exit(report(e)[1])


def stdout_gone() -> int:
    """stdout's reader has gone (`magvit info *.mp4 --json | head -1`): stdout goes to /dev/null,
    so nothing more is said of it, and the call ends with exit code 1 and no error line, as rich
    ends a human line's print (Console.on_broken_pipe) and Python's documentation advises. It said
    'error: BrokenPipeError' per input and went on to the next."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


def is_stdout_gone(e: BaseException) -> bool:
    """Whether `e` is a write to stdout that failed because its reader has gone (a pipe whose reader
    has gone reads as an error to poll(2); a broken pipe to a helper process does not count)."""
    if not isinstance(e, BrokenPipeError):
        return False
    with contextlib.suppress(OSError, ValueError, AttributeError):
        p = select.poll()
        p.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in p.poll(0))
    return False


def report(e: Exception, src: Optional[Path] = None) -> tuple[str, int]:
    """An error as one line on stderr (naming `src`, one input of several, where it does not
    already); returns that line's text and the exit code: 2 for bad options or input, 1 otherwise."""
    message = pipes.shown(str(e).strip())  # stdin's and stdout's temporary files as `-`
    if "Traceback (most recent call last)" in message:  # re-raised from another process (a data-loading worker): its last line says what
        message = message.splitlines()[-1].strip()
        text = message if isinstance(e, MagvitError) else f"{message} (in another process; MAGVIT_DEBUG=1 shows the traceback)"
    else:
        message = " ".join(message.split())  # one line
        text = message if isinstance(e, MagvitError) else f"{type(e).__name__}: {message} (MAGVIT_DEBUG=1 shows the traceback)"
    text = text if src is None or str(src) in text else f"{src}: {text}"
    code = e.exit_code if isinstance(e, MagvitError) else 1
    if not keep_error(text, code):  # under --nproc, said by the first process only (train.launch)
        error_line(text)
    return text, code


def error_line(text: str) -> None:
    """The one way an error reaches the user: 'error: ...' on one line of stderr."""
    err.print(f"[red]error:[/red] {escape(text)}", markup=True, soft_wrap=True)


def emit(result: dict, human: str) -> None:
    """The one output helper: JSON on stdout with --json, else a human line."""
    if State.json:
        print(json.dumps(result, default=str))
    elif not State.quiet:  # one line per result, whatever the width: greppable
        (err if State.stdout_busy else plain_console()).print(human, soft_wrap=True)


def show_table(table) -> None:
    """A rich table on stdout, whole: off a terminal (a file, a pipe) as wide as its contents, where
    rich squeezed it into 80 columns and cut bench's numbers to '0.…'."""
    out = plain_console()
    (out if out.is_terminal else plain_console(width=1000)).print(table)


def summary(out: Output) -> dict:
    return {"output": str(out.path), "frames": out.frames, "fps": str(out.fps), "width": out.width,
            "height": out.height, "audio": out.audio, "depth": out.depth, **out.extra}


def describe_output(out: Output) -> str:
    extra = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in out.extra.items())
    depth = f", {out.depth}-bit" if out.depth > 8 else ""
    return f"wrote {out.path} ({out.frames} frame{'s' * (out.frames != 1)}, {out.width}x{out.height} @ {out.fps} fps{depth}{', audio' if out.audio else ''}) {extra}".rstrip()


def warn_line(msg: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {escape(pipes.shown(msg))}", markup=True, soft_wrap=True)


class Progress:
    """A command's progress on stderr, unless --quiet or --json: a live bar on a terminal; in a log
    (a batch script, nohup) a plain line now and then (progress.LogLines: none for a run under a
    minute), where the bar's transient display left blank lines and a long run showed nothing."""

    def __init__(self, label: str, unit: str = "frames"):
        self.label, self.unit = label, unit
        self.bar = self.log = None

    def __enter__(self):
        if State.quiet or State.json:
            return self
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RP, TextColumn, TimeRemainingColumn
            self.bar = RP(TextColumn(f"[bold]{escape(self.label)}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                          TimeRemainingColumn(), console=err, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None)
        else:
            self.log = LogLines(self.label, unit=self.unit)
        return self

    def __call__(self, done: float, total: int):
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
        elif self.log is not None:
            self.log.update(done, total)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
