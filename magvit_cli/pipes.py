"""Standard input and output in place of files, for shell pipelines:
`ffmpeg -i in.mov -f matroska - | magvit interpolate - -o - | ffmpeg -i - out.mp4`.

A run reads its input several times (probe, count, frames, then each audio and subtitle track
from the start) and a writer needs a seekable file, so `-` as an input (and a named pipe, or a
shell's process substitution `<(...)`) is first read whole into a temporary file, and `-o -` is written to a temporary file that is copied to stdout only once
it is complete: a failed or interrupted run sends nothing down the pipe. Video sent to stdout is
Matroska (it streams, and holds every codec an input's audio and subtitles come in); a token file
(`tokenize -o -`) is sent as it is. The temporary folder is removed at the end either way.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

from .errors import MagvitError, UsageError, at_exit
from .video import FULL

DASH = Path("-")
ROOM = "set TMPDIR to a folder with room, or give a file instead of -"
STDOUT_SUFFIX = ".mkv"  # what `-o -` sends, where the command's own output type is a video
PREFIX = "magvit-pipe."  # the temporary folders' names start so


CLOSED: set[str] = set()  # the standard streams that were closed when the process started (open_closed_streams)


def open_closed_streams() -> None:
    """/dev/null for a standard stream the process started without (`magvit ... >&-` or `2>&-`, `<&-`;
    a daemon's or a service's): Python gives None for it, and the run wrote its output, then died
    of a traceback on the summary line. Nothing said there is seen, as a shell command's print
    into a closed stream is not; `-o -` and `-` refuse it (CLOSED). In order, so each takes its fd."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode))
            CLOSED.add(name)


_STAND_INS: dict[str, str] = {}  # a named pipe's temporary copy -> the pipe as the user gave it


def is_stream(path: Path) -> bool:
    """Whether an input can be read once only: `-` (stdin), or a named pipe or a shell's process
    substitution (`magvit interpolate <(ffmpeg -i in.mov -f matroska -)`, read as /dev/fd/63), which
    was "file is empty" (a pipe has no size). Those are read whole into a temporary file first."""
    if path == DASH:
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def shown(text: str) -> str:
    """A message as the user should read it: the temporary files standing in for stdin and stdout
    named `-`, and for a named pipe the pipe, as given (an error named '/tmp/magvit-pipe.x1y2/stdin')."""
    for copy, given in _STAND_INS.items():
        text = text.replace(copy, given)
    folder = re.escape(str(Path(tempfile.gettempdir()) / PREFIX))
    return re.sub(folder + r"[^/\s]+/std(in|out)[\w.]*", "-", text)


def _named_by_content(head: bytes) -> str:
    """The suffix stdin's copy needs where its reader goes by the name: a token file (safetensors:
    an 8-byte header length, then its JSON), a phone's HEIF/AVIF photo and a WebP (read through
    the bundled ffmpeg); '' for the rest, which PyAV reads by their content."""
    if len(head) >= 9 and head[8:9] == b"{":
        return ".safetensors"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return ".heic"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return ".avif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ""


def is_stdout(output: Path | None) -> bool:
    """Whether an output goes to stdout: `-o -`, or `-o /dev/stdout` (or another name of it)."""
    if output is None or output == DASH:
        return output == DASH
    try:
        return os.path.samestat(os.stat(output), os.fstat(1))
    except (OSError, ValueError):
        return False


def _stdout_or_refused(output: Path) -> Path:
    """`-` for an output that is this process's stdout (`-o /dev/stdout`, which was "exists; pass
    --force", then "unknown output type"); another pipe (`-o >(...)`, a named pipe) is refused in a
    line saying how to send the output down it; any other output as it is."""
    if is_stdout(output):
        return DASH
    if is_stream(output):
        raise UsageError(f"-o {output}: a pipe, which the output is not written into as it is made; "
                         f"send it down the pipe from stdout: -o - > {output}")
    return output


def _read_whole(source, path: Path, name: str, empty: str) -> Path:
    """`source` (a binary file object) read to its end into `path`, renamed by its content where
    its reader goes by the name (_named_by_content); `name` is how errors name the source, `empty`
    the error where nothing came."""
    try:
        with open(path, "wb") as f:
            shutil.copyfileobj(source, f, 1 << 20)
    except OSError as e:  # the pipe's end (BrokenPipe and the like) is not this: only the file's
        if e.filename is None and e.errno not in FULL:
            raise
        raise MagvitError(f"{name}: cannot hold it in the temporary folder {tempfile.gettempdir()} "
                          f"({os.strerror(e.errno).lower()}); {ROOM}") from None
    if path.stat().st_size == 0:
        raise UsageError(empty)
    with open(path, "rb") as f:
        kind = _named_by_content(f.read(16))
    if kind and path.suffix.lower() != kind:
        path = path.rename(path.with_name(path.name + kind))
    return path


_STDIN_READ = False  # whether stdin has been read (an input or an option's file given as -)


def _read_stdin(folder: Path, name: str, what: str = "the input", given: str = "-") -> Path:
    """stdin read whole into `folder`/stdin (with a suffix where its content needs one); `name`: how
    errors name it; `what` it holds and how the call `given` it, for the error where it is a terminal."""
    global _STDIN_READ
    source = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
    if hasattr(source, "isatty") and source.isatty():
        raise UsageError(f"{given} reads {what} from stdin, which is a terminal: pipe a file in (... | magvit CMD {given})")
    _STDIN_READ = True
    return _read_whole(source, folder / "stdin", name, f"{name} was empty: nothing was piped in")


def _read_pipe(given: Path, folder: Path, name: str) -> Path:
    """A named pipe (or process substitution) read whole into a file of its name in `folder`, which
    errors name as the pipe, as given (`name`)."""
    try:
        source = open(given, "rb")
    except OSError as e:
        raise UsageError(f"{name}: cannot read the pipe ({os.strerror(e.errno).lower()})") from None
    with source:
        path = _read_whole(source, folder / given.name, name, f"{name}: nothing came through the pipe")
    _STAND_INS[str(path)] = str(given)
    return path


def _temporary_folder(what: str) -> Path:
    """A new folder for the pipes' copies (`what`: the input or option they stand in for, in the error)."""
    try:
        return Path(tempfile.mkdtemp(prefix=PREFIX))
    except OSError as e:
        raise MagvitError(f"cannot make a temporary folder for {what} in {tempfile.gettempdir()} "
                          f"({os.strerror(e.errno).lower()}); {ROOM}") from None


_SPOOLED: dict[str, Path] = {}  # an option's pipe, as given -> its temporary copy


def spooled(path: Path | None, flag: str) -> Path | None:
    """An option's file given as a pipe (`--mask <(ffmpeg -i in.mp4 -vf ... -f matroska -)`) read
    whole into a temporary file (removed at exit) the first time, that copy after: the option is
    checked before the model loads and read again by the run, and a pipe reads once (it was refused).
    Any other path as it is."""
    if path is None or not is_stream(Path(path)):
        return path
    if str(path) not in _SPOOLED:
        if path == DASH and _STDIN_READ:
            raise UsageError(f"{flag} -: stdin is the input here, and it can be read once; give {flag} a file")
        folder = _temporary_folder(flag)
        at_exit(shutil.rmtree, folder, True)
        if path == DASH:
            _SPOOLED[str(path)] = _read_stdin(folder, f"{flag} - (stdin)", f"the {flag.lstrip('-')}", f"{flag} -")
        else:
            _SPOOLED[str(path)] = _read_pipe(Path(path), folder, f"{flag} {path}")
    return _SPOOLED[str(path)]


class Pipes:
    """Use as a context manager around a batch: `inputs` and `output` are the command's, with `-`
    (and a named pipe or process substitution among the inputs, is_stream) replaced by temporary files; `deliver(result)` copies a finished output to stdout where it stands
    in for `-o -`; `to_stdout` says whether stdout carries data (messages then go to stderr)."""

    def __init__(self, inputs: list[Path], output: Path | None, suffix: str | None = None, json: bool = False):
        global _STDIN_READ
        _SPOOLED.clear()  # a new call (many in one process under tests): its pipes are its own
        _STDIN_READ = False
        if output is not None and output != DASH:
            output = _stdout_or_refused(output)
        self.given_inputs, self.given_output, self.suffix, self.json = list(inputs), output, suffix, json
        self.to_stdout = output == DASH
        self.reads_stdin = DASH in self.given_inputs
        self.streams = [p for p in self.given_inputs if is_stream(p)]

    def __enter__(self) -> "Pipes":
        self.folder = None
        if self.reads_stdin and self.given_inputs.count(DASH) > 1:
            raise UsageError("- (stdin) can be read once: give it as one input")
        if self.to_stdout and "stdout" in CLOSED:
            raise UsageError("-o -: stdout is closed, so the output has nowhere to go; give a file")
        if self.to_stdout and sys.stdout.isatty():  # as gzip does: a video's bytes scramble the terminal
            raise UsageError("-o - sends the output to stdout, which is a terminal: redirect it (-o - > out.mkv) or pipe it on")
        if self.reads_stdin and "stdin" in CLOSED:
            raise UsageError("-: stdin is closed, so there is no input to read; give a file")
        if self.to_stdout and self.json:
            raise UsageError("--json prints on stdout, which -o - fills with the output; leave one out")
        if self.to_stdout or self.streams:
            self.folder = _temporary_folder("-")
        try:
            self.inputs = [self._spool(p, k) if p in self.streams else p for k, p in enumerate(self.given_inputs)]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.output = self.folder / f"stdout{self.suffix or STDOUT_SUFFIX}" if self.to_stdout else self.given_output
        return self

    def _spool(self, given: Path, k: int) -> Path:
        """A stream input read whole into a temporary file: stdin into one named `stdin`
        (`stdin.safetensors` for a token file), a named pipe into one of its own name."""
        if given == DASH:
            return _read_stdin(self.folder, "- (stdin)")
        (self.folder / f"pipe{k}").mkdir()
        return _read_pipe(given, self.folder / f"pipe{k}", str(given))

    def named(self, path: Path) -> Path:
        """How a (possibly temporary) path is named to the user: `-` for the pipes."""
        return Path(shown(str(path)))

    def deliver(self, result):
        """A finished run's result (an object with a `path`): its file copied to stdout where it
        stands for `-o -`, and the result with the path as the user named it."""
        if self.to_stdout and result.path == self.output:
            out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout
            with open(result.path, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            out.flush()
        return dataclasses.replace(result, path=self.named(result.path))

    def __exit__(self, exc_type, exc, tb):
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        full = getattr(exc, "__cause__", None)  # the writer's "no space left" is raised from the OSError
        if self.to_stdout and isinstance(exc, MagvitError) and getattr(full, "errno", None) in FULL:  # say which device
            exc.args = (f"{exc} (- is written in the temporary folder {tempfile.gettempdir()} first; {ROOM})",)
        return False
