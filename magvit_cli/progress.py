"""Progress where stderr is not a terminal (a log file: a batch script, `nohup`, a training run in
the background). A live bar draws nothing there until the run is over, so a long run looked
stuck; instead a plain line says how far it is, now and then:

    interpolate talk.mp4 1200/9000 frames, 0:12:40 left
    tokenizer 400/4000 rec 0.0712 ent -7.1 psnr 22.3 | 2.40 clips/s, 1:05:10 left

The commands' live bars (on a terminal) are in console.py and train/engine.py; both hand over to this
off a terminal."""
from __future__ import annotations

import datetime
import sys
import time

LOG_EVERY_S = 60.0  # seconds between lines: a run shorter than this writes none (batch logs stay one line an input)


class LogLines:
    """`update` as often as it likes; a line goes to stderr when LOG_EVERY_S have passed since the
    start or the last line. `flush` writes the last update if it has not been written (a training
    run's final numbers)."""

    def __init__(self, label: str, total: int | None = None, start: float = 0, unit: str = ""):
        self.label, self.total, self.start, self.unit = label, total, start, unit
        self.t0 = self.logged = time.time()
        self.pending: tuple[float, str] | None = None  # (done, info) not yet written

    def update(self, done: float, total: int | None = None, info: str = "", final: bool = False) -> None:
        """`final`: write it whatever the time (the last step)."""
        self.total = total if total is not None else self.total
        self.pending = (done, info)
        if final or time.time() - self.logged >= LOG_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        done, info = self.pending
        now = time.time()
        count = f"{int(done)}/{self.total}" if self.total else f"{int(done)}"
        parts = [self.label, count + (f" {self.unit}" if self.unit else ""), info]
        left = ""
        if self.total and self.start < done < self.total:
            seconds = (now - self.t0) / (done - self.start) * (self.total - done)
            left = f", {datetime.timedelta(seconds=round(seconds))} left"
        print(" ".join(p for p in parts if p) + left, file=sys.stderr, flush=True)
        self.logged, self.pending = now, None
