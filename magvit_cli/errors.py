"""The project's own error type: anything raised as MagvitError becomes a one-line message in
the CLI (exit code 1), or 2 when it is a UsageError (bad options or input the user can fix).

Also how a run stops on Ctrl-C or SIGTERM. Both raise KeyboardInterrupt, and the request is
remembered: Python drops an exception raised inside a finaliser (a generator or PyAV container
closed by the garbage collector, a `__del__`), so a signal that lands there would otherwise be
lost and the run would finish and commit its output. `check_interrupt` raises it again; the video
writer calls it before every frame and before it moves its output into place."""

from __future__ import annotations

import atexit
import os
import signal
import threading
from contextlib import contextmanager, suppress
from typing import Callable


class MagvitError(Exception):
    """A failure at run time with a message fit for the user. `option`: the option it is about
    where that is not the input or the weights (--device, --precision), so the CLI blames the
    right one."""

    exit_code = 1

    def __init__(self, *args, option: str | None = None):
        super().__init__(*args)
        self.option = option


class UsageError(MagvitError):
    """Bad options or input: the user can fix the call."""

    exit_code = 2


class OutputAppeared(MagvitError):
    """An output that was not there when the run began was there when it finished (another run's,
    or a file saved meanwhile): left as it is, this run's not written. With --skip-existing a
    skip, not a failure (two batch runs over one folder)."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_stop = threading.Event()  # set by the handler below; never cleared in a process that got one
_holding = 0  # > 0 inside signals_held(): the handler remembers the request and does not raise
_signal: int | None = None  # the first stop signal that came (die_of_stop_signal)


def _on_stop_signal(signum, frame):
    global _signal
    _signal = _signal or signum
    _stop.set()
    if _holding:
        return  # raised where the hold ends (signals_held)
    raise KeyboardInterrupt


def stop_on_signals() -> dict:
    """Ctrl-C and SIGTERM end the run with KeyboardInterrupt and are remembered (see above).
    Returns the handlers they had, {signal: handler}, for `signal.signal` to put back."""
    old = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for s in _STOP_SIGNALS:
        signal.signal(s, _on_stop_signal)
    return old


def interrupt_requested() -> bool:
    """Whether a stop signal arrived in this process, even one whose exception was dropped."""
    return _stop.is_set()


_at_exit: list[tuple[Callable, tuple]] = []  # what at_exit registered, for die_of_stop_signal to run


def at_exit(fn: Callable, *args) -> None:
    """Run fn(*args) when the process ends (atexit), and also when a stop signal ends it
    (die_of_stop_signal), which atexit does not see: a temporary copy of an input was left in
    the temporary folder by every run a Ctrl-C or SIGTERM (`timeout`) stopped."""
    _at_exit.append((fn, args))
    atexit.register(fn, *args)


def die_of_stop_signal() -> None:
    """End the process by the stop signal that came, once its run has cleaned up, as Python does
    for an uncaught KeyboardInterrupt: a shell then sees the command killed by it, and a loop over
    files (`for f in *.mp4; do magvit ...; done`) stops at Ctrl-C. An exit code of 130 told bash
    the command had handled the signal itself, and the loop went on to the next file."""
    if _signal is None:
        return
    for fn, args in _at_exit:
        with suppress(Exception):
            fn(*args)
    signal.signal(_signal, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [_signal])
    os.kill(os.getpid(), _signal)


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a stop signal arrived (see `interrupt_requested`)."""
    if _stop.is_set():
        raise KeyboardInterrupt


@contextmanager
def signals_held():
    """Hold Ctrl-C/SIGTERM for a few statements (creating a temporary file and remembering it, so
    that nothing can leave it behind); one that arrives meanwhile is raised right after. Two
    layers: the main thread blocks the signals (for handlers other than ours), and our handler
    only remembers a request while held, because a signal sent to the process is delivered to
    any thread that does not block it (OpenCV's and torch's worker threads), and Python then runs
    the handler in the main thread at once, blocked or not."""
    global _holding
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if hasattr(signal, "pthread_sigmask") else None
    _holding += 1
    try:
        yield
    finally:
        _holding -= 1
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # one blocked meanwhile runs our handler here
    if not _holding:
        check_interrupt()  # one that reached another thread meanwhile was only remembered
