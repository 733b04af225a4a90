"""What both trainers share: distributed set-up (PyTorch DDP under torchrun: gloo on CPU, NCCL
on GPU), deterministic sample indices (so `--resume` continues exactly), EMA, checkpoints
(model + optimizer + EMA + step + RNG; written atomically, every N steps and on Ctrl-C),
a JSON-lines metrics log, a rich progress line and the learning-rate schedule.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import MagvitError, UsageError, stop_on_signals
from ..progress import LogLines
from ..video import check_folder, write_file


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE set); else single process."""
    if device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda for training, not {device!r}")
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise MagvitError("--device cuda asked for, but no CUDA device is available")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device("cuda") if want_cuda else torch.device("cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want_cuda else "gloo")
    dev = torch.device("cuda", local) if want_cuda else torch.device("cpu")
    if want_cuda:
        torch.cuda.set_device(dev)
    return Dist(rank, world, local, dev)


class Deadline:
    """A wall-clock budget for one call (`--max-minutes`: a GPU lease, a session), counted from
    its creation. `passed()` is asked once per step; under DDP all ranks follow rank 0's clock,
    so none goes on to a step the others skip (a collective would wait forever)."""

    def __init__(self, minutes: float | None, d: Dist):
        self.end = None if minutes is None else time.time() + 60 * minutes
        self.d = d

    def passed(self) -> bool:
        if self.end is None:
            return False
        flag = time.time() >= self.end
        if self.d.world > 1:
            t = torch.tensor([float(flag)], device=self.d.device)
            dist.broadcast(t, 0)
            flag = bool(t.item())
        return flag


class IndexedSampler(Sampler):
    """Global sample indices for this rank from `start_step` on: step s, slot j of rank r gets
    index (s * batch + j) * world + r, so one process with world*batch sees the union."""

    def __init__(self, batch: int, start_step: int, d: Dist):
        self.batch, self.start, self.d = batch, start_step, d

    def __iter__(self):
        s = self.start
        while True:
            for j in range(self.batch):
                yield (s * self.batch + j) * self.d.world + self.d.rank
            s += 1


class IndexedClips(Dataset):
    """Sample i is drawn from its own seeded RNG: the data order is a function of the index."""

    def __init__(self, source, seed: int):
        self.source, self.seed = source, seed

    def __len__(self):
        return 2 ** 62

    def __getitem__(self, i):
        import random
        video, label = self.source.sample(random.Random(self.seed * 2 ** 40 + i))
        return {"video": video, "label": label}


def worker_init(_worker_id: int):
    """DataLoader workers ignore Ctrl-C and SIGTERM: the main process stops them after it has
    saved its checkpoint. (A terminal's Ctrl-C and `pkill -f` reach the workers too; a worker
    killed first made the main process fail with "DataLoader worker ... killed" before saving.)
    And they say nothing of a training process that went away while taking a batch (_quiet_lost_peer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.excepthook = _quiet_lost_peer


def _quiet_lost_peer(kind, value, tb):
    """A worker's hook for what it does not catch: a batch's tensors go to the training process
    through a server thread of the worker (multiprocessing.resource_sharer), which hands any error
    to sys.excepthook; the training process stopped by a signal mid-handover made it print an
    EOFError or ConnectionResetError traceback among the run's last line (seen under --nproc).
    Those say only that the peer has gone, and are let pass; anything else is printed as ever."""
    if issubclass(kind, (EOFError, ConnectionError)):
        return
    sys.__excepthook__(kind, value, tb)


def worker_start():
    """How data workers start: forked from a clean server process that has imported the data code,
    not from the training process. A fork copies a process's locks and per-thread state but not its
    threads: PyAV 19 keeps each thread's swscale context, with its slice threads, and a worker forked
    after the main process had decoded hung freeing the copy (seen here). Python 3.14 starts workers
    so by default; a script that runs the CLI needs its `if __name__ == "__main__":` guard, as on macOS."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["magvit_cli.train.data"])  # imported once, not in each worker (torch, PyAV)
    return ctx


@contextmanager
def batches(source, batch: int, start_step: int, d: Dist, seed: int, workers: int):
    """The training batches (an iterator of {"video", "label"} batches, from `start_step` on), for
    the block; its worker processes are stopped when the block ends, however it ends. (They ignore
    SIGTERM, stop_on_signal's reason: left to the interpreter's exit, which stops its children with
    SIGTERM and waits for them, a run whose worker had failed never ended.)"""
    it = iter(DataLoader(IndexedClips(source, seed), batch_size=batch,
                         sampler=IndexedSampler(batch, start_step, d), num_workers=workers,
                         persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
                         worker_init_fn=worker_init if workers else None,
                         multiprocessing_context=worker_start() if workers else None))
    try:
        yield it
    finally:
        stop = getattr(it, "_shutdown_workers", None)  # PyTorch's own shutdown (its finaliser's); none without workers
        if stop is not None:
            stop()


class EMA:
    """Exponential moving average of a model's parameters and buffers."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        self.frozen = {k for k, p in model.named_parameters() if not p.requires_grad}  # copied, never averaged

    @torch.no_grad()
    def update(self, model: torch.nn.Module):
        for k, v in model.state_dict().items():
            if v.is_floating_point() and k not in self.frozen:
                self.state[k].mul_(self.decay).add_(v.float(), alpha=1 - self.decay)
            else:
                self.state[k].copy_(v)

    def copy_to(self, model: torch.nn.Module):
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in self.state.items()})

    def model(self, like: torch.nn.Module) -> torch.nn.Module:
        """A fresh model of `like`'s class and config holding the EMA weights, in eval mode."""
        m = type(like)(like.config).to(next(like.parameters()).device)
        self.copy_to(m)
        return m.eval()


# what a config field takes, by the type of its preset or default value: (that type, in words, the
# types a --set value may have); bool first (a bool is an int), and an int is a fine float
_KINDS = ((bool, "true or false", (bool,)), (int, "an integer", (int,)), (float, "a number", (int, float)),
          ((tuple, list), "a JSON list", (tuple, list)), (str, "a string", (str,)))


def _kind(default) -> tuple[str, tuple[type, ...]] | None:
    """(what a field with this default takes, in words; the types a value may have); None: anything."""
    return next(((words, takes) for types, words, takes in _KINDS if isinstance(default, types)), None)


def model_config(cls, base: dict, overrides: dict, what: str):
    """A model config from a preset's fields and --set overrides: a key the config does not have,
    or a value of another kind than its field's (--set channels=abc, layers=1.5), is one line
    naming it, where it failed deep inside the model's construction, after the run folder was made."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in overrides.items():
        if key not in fields:
            raise UsageError(f"--set {key}: not a {what} setting; one of {', '.join(fields)}")
        default = base.get(key, fields[key].default)
        kind = _kind(default)
        if kind is not None and not (isinstance(value, kind[1]) and isinstance(value, bool) == (bool in kind[1])):
            raise UsageError(f"--set {key}={json.dumps(value)}: takes {kind[0]}, like {json.dumps(default)}")
    try:
        return cls(**{**base, **overrides})
    except (TypeError, ValueError) as e:
        raise UsageError(f"bad {what} setting: {e}") from None


def clip_grid(config, frames: int, size: int) -> tuple[int, int, int]:
    """The token grid of --frames x --size clips, or a one-line error naming the options."""
    try:
        return config.latent_shape(frames, size, size)
    except ValueError as e:
        raise UsageError(f"--frames {frames} --size {size}: {e}") from None


def given_model(path: str | Path, expect: str, device, flag: str) -> torch.nn.Module:
    """The model a training option names (`--tokenizer`, `--init`) as --weights names weights (a
    folder, a packed file, `default`: the shipped ones, a Hub id), loaded strictly: one that is not
    there or does not load is that option's error, exit status 2 (it was 'no config.json in PATH',
    status 1, as if the run had failed). `loaded_from`: where it was found (a Hub id's download),
    found once: an export records it without asking the network again."""
    from ..models.io import load_model
    from ..weights import model_path
    try:
        where = model_path(path, expect, flag)
        model = load_model(where, expect=expect, device=device)
        model.loaded_from = where.resolve()
        return model
    except UsageError:
        raise
    except MagvitError as e:
        raise UsageError(f"{flag}: {e}") from None


def warm_start(init: str | None, expect: str, device) -> torch.nn.Module | None:
    """Weights to start a fresh run from (`--init`): an exported folder, loaded strictly. The
    run takes its architecture from there; the optimizer, schedule and step start anew."""
    if not init:
        return None
    return given_model(init, expect, device, "--init").float().train()


def lr_at(step: int, base: float, warmup: int, total: int, schedule: str = "cosine") -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def run_folder(out: Path | str, resume: bool, device: str, d: Dist, warn, quiet: bool) -> Path:
    """The run folder, created, once the call's settings have passed their checks; a fresh run
    never writes over another run's checkpoint (hours of training lost to a forgotten --resume), and
    --resume needs one. Then, where `--device auto` found no GPU, a warning says so (once, not per
    process; after the checks, so that a bad call gets its error alone)."""
    out = Path(out)
    ck = out / "checkpoint.pt"
    if resume and not ck.exists():
        raise UsageError(f"--resume: no checkpoint at {ck}")
    if not resume and ck.exists():
        raise UsageError(f"{out} already holds a training run (checkpoint.pt): add --resume to continue it, "
                         "or give a new --out")
    check_folder(ck, True, "--out", f"--out {out}")
    out.mkdir(parents=True, exist_ok=True)
    if device == "auto" and d.device.type == "cpu" and d.main and not quiet and warn is not None:
        from ..pipeline import cpu_fallback
        warn(cpu_fallback("training"))
    return out


@contextmanager
def tidy_run(out: str | Path):
    """A run folder this call makes is taken away again if the call fails or is stopped before
    anything is written in it (a token cache stopped part-way, a bad --data found late): it left
    an empty folder that the next call's --out had to step round. A folder that was there, or that
    holds anything, is left as it is; the first process alone tidies (--nproc)."""
    out = Path(out)
    made = not os.path.lexists(out)
    try:
        yield
    except BaseException:
        if made and os.environ.get("RANK", "0") == "0" and out.is_dir() and not any(out.iterdir()):
            with suppress(OSError):
                out.rmdir()
        raise


def save_checkpoint(path: Path, state: dict):
    """The whole checkpoint or the last one kept (video.write_file: a full disk is a one-line error)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_file(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """Reached from --resume (after run_folder checked) and from `train export`, so the message
    names the file, not a flag."""
    if not path.exists():
        raise MagvitError(f"no training checkpoint at {path} (a run folder from `magvit train ... --out`)")
    return torch.load(path, map_location="cpu", weights_only=True)


def resume(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, ema: "EMA", device) -> dict:
    """Restore model, optimizer, EMA and RNG from path exactly; returns the checkpoint (its
    "step", and any extra parts the trainer restores itself)."""
    ck = load_checkpoint(path)
    check_same_model(path, ck.get("config"), model)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    ema.state = {k: v.to(device) for k, v in ck["ema"].items()}
    set_rng_state(ck["rng"])
    return ck


def check_same_model(path: Path, saved: dict | None, model: torch.nn.Module) -> None:
    """--resume builds the model from this call's --preset and --set: one that differs from the
    run's is refused naming the settings that differ (loading it failed with every mis-shaped
    tensor named, pages of them)."""
    if saved is None:  # a checkpoint that does not say its model's config: loading names what does not fit
        return
    plain = lambda v: list(map(plain, v)) if isinstance(v, (list, tuple)) else v
    now = {k: plain(v) for k, v in dataclasses.asdict(model.config).items()}
    was = {k: plain(v) for k, v in saved.items()}
    differ = [k for k in sorted(now.keys() | was.keys()) if now.get(k) != was.get(k)]
    if differ:
        show = lambda d: ", ".join(f"{k}={d.get(k)}" for k in differ)
        raise UsageError(f"--resume: {path.parent} trains a model with {show(was)}; this call's --preset/--set "
                         f"make {show(now)}: give the run's own, or a new --out")


def rng_state() -> dict:
    s = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict):
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


class Metrics:
    """Appends one JSON object per line to run/metrics.jsonl (rank 0 only)."""

    def __init__(self, path: Path | None):
        self.path = path

    def log(self, **row):
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")


@contextmanager
def stop_on_signal():
    """Turn SIGTERM (and Ctrl-C) into a remembered KeyboardInterrupt (errors.stop_on_signals) so
    the trainer checkpoints on either; the loops call `errors.check_interrupt` every step, which
    raises it again if it was dropped in a finaliser."""
    old = stop_on_signals()
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def checkpointed(progress: "Progress", save, path: Path):
    """Run a training loop: Ctrl-C or SIGTERM saves a checkpoint (`save()` returns its step) to
    `path` and re-raises, saying where it is; a normal end saves one too. The progress line is
    closed either way."""
    try:
        with stop_on_signal():
            yield
    except KeyboardInterrupt:
        step = save()
        progress.close()
        raise KeyboardInterrupt(f"checkpoint of step {step} saved in {path.parent}; the same command "
                                "with --resume goes on") from None
    progress.close()
    save()


class Progress:
    """Rank 0's progress, unless quiet, on stderr (the exported folder is the run's one line on
    stdout): on a terminal a rich line with the loss terms, clips/s and the time left; otherwise
    (a log file) the same as a plain line now and then and at the end (progress.LogLines), where
    the rich line used to show up only once the run was over."""

    def __init__(self, total: int, start: int, enabled: bool, what: str):
        self.enabled, self.total = enabled, total
        self.live = enabled and sys.stderr.isatty()
        self.log = LogLines(what, total, start) if enabled and not self.live else None
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, Progress as RP, TextColumn, TimeRemainingColumn
            self.p = RP(TextColumn(f"[bold]{what}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False,
                        console=Console(stderr=True))
            self.p.start()
            self.task = self.p.add_task(what, total=total, completed=start, info="")

    def update(self, step: int, clips_per_s: float | None = None, **losses):
        if not self.enabled:
            return
        info = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        info += f" | {clips_per_s:.2f} clips/s" if clips_per_s is not None else ""
        if self.live:
            self.p.update(self.task, completed=step, info=info)
        else:
            self.log.update(step, info=info, final=step >= self.total)

    def close(self):
        if self.live:
            self.p.stop()
        elif self.log is not None:  # stopped between lines (Ctrl-C, --stop-after, --max-minutes)
            self.log.flush()


def all_reduce_mean(x: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        x = x.clone()
        dist.all_reduce(x)
        x /= d.world
    return x


def export_checkpoint(run: Path, out: Path | None = None, half: bool = False, raw: bool = False) -> Path:
    """Release weights (EMA, or the raw weights with `raw`; no optimizer state) from
    run/checkpoint.pt into run/export; fp16 storage with `half`."""
    from ..models.io import build_model, save_model
    ck = load_checkpoint(Path(run) / "checkpoint.pt")
    cfg = ck["config"]
    kind = ck.get("model_type") or ("tokenizer" if "channels" in cfg else "transformer")
    model = build_model({"model_type": kind, "config": cfg})
    model.load_state_dict(ck["model"] if raw else ck["ema"])
    out = out or Path(run) / "export"
    check_folder(out / "config.json", True, "--out", f"export folder {out}")
    told = {"encoder": ck["encoder"]} if ck.get("encoder") else {}  # a transformer's: the encoder whose tokens it models
    return save_model(model, out, dtype=torch.float16 if half else torch.float32,
                      metadata={"steps": ck["step"], "exported_from": "checkpoint.pt", "weights": "raw" if raw else "ema", **told})
