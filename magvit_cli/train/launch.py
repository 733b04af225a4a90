"""`magvit train ... --nproc N`: the command run again in N processes under torchrun, ending as
one process would. Each process meets a bad input alike and said so (N times over), then torchrun
added its own log lines and a traceback of the failed processes, and ended with exit status 1
whatever the processes' was. Here torchrun's logging is off, each process's error line is kept in
a folder (ERRORS) rather than printed but the first's, and the launch says once what the others
said differently, and ends with the first process's status (else the first to fail). The command
becomes this launch (exec), so a stop signal sent to it reaches torchrun, which stops the processes
with it (each saves its checkpoint first); the launch then dies of it, as one process does.

Run as `python -m magvit_cli.train.launch N <the magvit command's arguments>`; nothing here
imports torch until then (the CLI imports `keep_error` for its error line)."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ERRORS = "MAGVIT_RANK_ERRORS"  # the folder where each process keeps its error line, a file per rank


def another_process() -> bool:
    """Whether this is a process of --nproc other than the first (which says what all say alike: a stop)."""
    return bool(os.environ.get(ERRORS)) and os.environ.get("RANK", "0") != "0"


def keep_error(text: str, code: int) -> bool:
    """Keep a process's error line and exit status for the launch (a file named by its rank); True
    where it is not the first process's, whose line is printed as it comes (the launch says the others')."""
    folder, rank = os.environ.get(ERRORS), os.environ.get("RANK")
    if not folder or rank is None:
        return False
    try:
        (Path(folder) / rank).write_text(f"{code} {text}", encoding="utf-8")
    except OSError:
        return False  # said here then: never lost
    return rank != "0"


def _status(code: int) -> int:
    """A process's exit code as a shell says it: 128 + N for one ended by signal N."""
    return 128 - code if code < 0 else code


def ending(failures: dict[int, int], said: dict[int, tuple[int, str]], n: int) -> tuple[list[str], int]:
    """What the launch says, and its exit status, after `failures` (rank -> exit code as torchrun
    saw it, negative for a signal); `said`: each process's kept exit status and error line. The
    first process has said its own; another's line is said once, naming its process. The status is
    the first process's own, else the first to say an error's, else that of the first failure
    torchrun did not cause itself (it stops the others with SIGTERM), which is then named."""
    lines, seen = [], {said[0][1]} if 0 in said else set()
    for rank in sorted(said):
        if rank and said[rank][1] not in seen:
            lines.append(f"training process {rank + 1} of {n}: {said[rank][1]}")
            seen.add(said[rank][1])
    if said:
        return lines, said[min(said)][0]
    rank = min((r for r, c in failures.items() if c != -signal.SIGTERM), default=min(failures, default=0))
    code = _status(failures.get(rank, 1))
    return [f"training process {rank + 1} of {n} ended with exit status {code}"], code


def _kept(path: Path) -> tuple[int, str]:
    code, text = path.read_text(encoding="utf-8").split(" ", 1)
    return int(code), text


def main(n: int, argv: list[str]) -> int:
    """Run the command in `n` processes; the exit status, or minus the stop signal that ended them."""
    folder = tempfile.mkdtemp(prefix="magvit-nproc-")
    os.environ[ERRORS] = folder
    try:
        from torch.distributed.elastic.multiprocessing.api import SignalException
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.run import main as torchrun
        for name in list(logging.root.manager.loggerDict):  # each its own level (torch's logging sets them)
            if name.startswith("torch.distributed"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            torchrun(["--standalone", f"--nproc_per_node={n}", "-m", "magvit_cli", *argv])
            return 0
        except ChildFailedError as e:
            failures = {rank: f.exitcode for rank, f in e.failures.items()}
            said = {int(p.name): _kept(p) for p in Path(folder).iterdir() if p.name.isdigit()}
            lines, code = ending(failures, said, n)
            from ..console import error_line
            for line in lines:
                error_line(line)
            return code
        except SignalException as e:  # Ctrl-C, a kill: torchrun has stopped the processes, which said what they saved
            return -int(e.sigval)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _die_of(sig: int) -> None:
    """End as the processes did, killed by the stop signal: a shell loop stops at Ctrl-C (errors.die_of_stop_signal)."""
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


if __name__ == "__main__":
    status = main(int(sys.argv[1]), sys.argv[2:])
    if status < 0:
        _die_of(-status)
    sys.exit(status)
