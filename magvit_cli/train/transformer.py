"""`magvit train transformer`: multi-task COMMIT training over a frozen tokenizer (SPEC 2-3).

The dataset is tokenized once into a token cache (safetensors shards): for every clip the
target tokens z and, for every task variant, the condition tokens z~ (the condition video
encoded by the same tokenizer). Transformer steps then never run the CNN. Variants whose known
part is a prefix of whole frames (FP, CFP) need no extra encode: with a causal tokenizer the
condition tokens of a fully known prefix equal the targets there.

Each step draws one task variant for the whole batch, uniformly (SPEC section 1); CG and CFP
only draw labelled clips. Non-class tasks see the "unconditional" class; class tasks drop the
class with probability `class_dropout` so classifier-free guidance works. AdamW betas
(0.9, 0.96), weight decay 0.045, warmup + cosine, gradient clip 1.0 (SPEC section 3).
"""
from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import commit
from ..errors import MagvitError, UsageError, check_interrupt
from ..models import MaskedTransformer, TransformerConfig, save_model
from ..models.tokenizer import encoder_digest
from ..motion import pad_clip
from ..pipeline import resize
from ..tasks import condition_region, condition_video, get_task, latent_mask
from ..video import write_file
from . import engine
from .data import ClipSource

TRANSFORMER_PRESETS = {
    "tiny": dict(dim=32, layers=1, heads=2, dropout=0.0, prenorm=True),
    "small": dict(dim=256, layers=6, heads=4, dropout=0.1, prenorm=True),
    "base": dict(dim=768, layers=12, heads=12, dropout=0.1, prenorm=False),
    "large": dict(dim=1024, layers=24, heads=16, dropout=0.1, prenorm=False),
}

# (variant name, task code, geometry options): the tasks of SPEC section 1 plus the
# interpolation strides the CLI uses (known frame every 2, 4, 8 frames) and K600-style FP.
VARIANTS: list[tuple[str, str, dict]] = [
    ("FP", "FP", {"known": 1}), ("FP5", "FP", {"known": 5}),
    ("FI", "FI", {}), ("FI8", "FI", {"every": 8}), ("FI4", "FI", {"every": 4}), ("FI2", "FI", {"every": 2}),
    ("OPC", "OPC", {}), ("OPV", "OPV", {}), ("OPH", "OPH", {}), ("OPD", "OPD", {}),
    ("IPC", "IPC", {}), ("IPD", "IPD", {}), ("CG", "CG", {}), ("CFP", "CFP", {"known": 1}),
]
COND_ALIAS = {"CFP": "FP"}  # same geometry and padding: one set of condition tokens
PREFIX_VARIANTS = {"FP", "FP5", "CFP"}  # footprint region: z~ = z there (causal tokenizer), no encode needed


def variant_condition(name: str, frames: int, size: int, time_factor: int, space_factor: int,
                      region: str = "footprint"):
    """(task, pixel mask, condition region, latent mask) of a training variant."""
    _, code, opts = next(v for v in VARIANTS if v[0] == name)
    task = get_task(code)
    known = task.known(frames, size, size, **opts)
    return (task, known, condition_region(known, time_factor, space_factor, region),
            latent_mask(known, time_factor, space_factor))


ENCODED_VARIANTS = [v[0] for v in VARIANTS if v[0] not in COND_ALIAS and v[1] != "CG"]
# the tasks whose cache padding goes along the motion (motion.pad_clip), as inference pads
# them; dynamic in- and outpainting keep the plain fill there: their flow fill (motion.fill_holes,
# about 3 s a clip on 2 cores, the harmonic flow completion) would triple the cache's time
CACHE_MOTION_TASKS = ("FI", "FP")
MOTION_OVERSAMPLE = 2  # with motion, clips are drawn at 2x the size and the motion read there (inference reads it at full resolution)


def condition_clips(video: torch.Tensor, known: torch.Tensor, task, region: str, motion: bool, size: int) -> torch.Tensor:
    """The condition videos of a batch (B, 3, T, h, w) -> (B, 3, T, size, size): padded as the
    region says, along the motion where `motion` and the task pads so at inference; then
    resized to the model's size (antialiased, as the runners shrink frames)."""
    if motion and region == "padded" and task.code in CACHE_MOTION_TASKS:
        pads = [pad_clip(v, known, task.code) for v in video.cpu()]
        if pads[0] is not None:  # one mask for the batch: all or none
            return resize(torch.stack(pads).to(video.device).transpose(1, 2), (size, size)).transpose(1, 2)
    return resize(condition_video(video, known, task.padding_for(region)).transpose(1, 2), (size, size)).transpose(1, 2)


@torch.no_grad()
def build_token_cache(tokenizer, source: ClipSource, out: Path, clips: int, frames: int, size: int,
                      seed: int = 0, batch: int = 8, shard: int = 256, device="cpu", progress: bool = True,
                      variants_per_batch: int | None = None, region: str = "footprint", motion: bool = False) -> Path:
    """Tokenize `clips` random clips into out/shard_*.safetensors + out/cache.json.

    Every clip gets its target tokens; condition tokens (the whole padded video, which the
    "padded" condition region needs) are encoded for all variants, or, with
    `variants_per_batch` = k, for k of them per batch in rotation (k+1 encodes per clip instead
    of 11, or 13 for the padded region: the CNN is the cost). `has.<variant>` marks the clips
    that have a variant (the footprint region needs none for FP: z~ = z there). The
    condition region picks each task's padding (Task.padding_for), so a cache serves one region.
    `motion` (padded region): interpolation and prediction padded along the motion
    (condition_clips); the source then draws clips at MOTION_OVERSAMPLE x `size`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = tokenizer.config
    grid = cfg.latent_shape(frames, size, size)
    rows: dict[str, list[torch.Tensor]] = {"z": [], "label": []}
    n_shards, done, b_index = 0, 0, 0
    encoded = [v for v in ENCODED_VARIANTS if region != "footprint" or v not in PREFIX_VARIANTS]
    k = len(encoded) if variants_per_batch is None else max(1, min(variants_per_batch, len(encoded)))
    prog = engine.Progress(clips, 0, progress, "token cache")

    def flush():
        nonlocal n_shards
        if rows["z"]:
            write_file(out / f"shard_{n_shards:05d}.safetensors", save({k: torch.cat(v) for k, v in rows.items()}))
            n_shards += 1
            for v in rows.values():
                v.clear()

    while done < clips:
        b = min(batch, clips - done)
        samples = [source.sample(random.Random(seed * 2 ** 40 + done + j)) for j in range(b)]
        big = torch.stack([s[0] for s in samples]).to(device)  # (B, 3, T, h, w): h = size, or more with motion
        video = resize(big.transpose(1, 2), (size, size)).transpose(1, 2)  # (B, 3, T, size, size)
        z = tokenizer.encode(video).flatten(1).to(torch.int32)  # (B, N)
        rows["z"].append(z.cpu())
        rows["label"].append(torch.tensor([s[1] for s in samples], dtype=torch.int64))
        chosen = {encoded[(b_index * k + i) % len(encoded)] for i in range(k)}
        for name in encoded:
            if name in chosen:
                task, known, _, _ = variant_condition(name, frames, big.shape[-1], cfg.time_factor, cfg.space_factor)
                zc = tokenizer.encode(condition_clips(big, known, task, region, motion, size)).flatten(1).to(torch.int32).cpu()
            else:
                zc = z.cpu()
            rows.setdefault(f"cond.{name}", []).append(zc)
            rows.setdefault(f"has.{name}", []).append(torch.full((b,), name in chosen, dtype=torch.uint8))
        done += b
        b_index += 1
        prog.update(done)
        if sum(x.shape[0] for x in rows["z"]) >= shard:
            flush()
    flush()
    prog.close()
    meta = {"clips": clips, "frames": frames, "size": size, "grid": list(grid), "bits": cfg.bits,
            "class_names": source.class_names, "shards": n_shards, "seed": seed, "variants_per_batch": k,
            "condition": region, "motion": motion, "encoder": encoder_digest(tokenizer.state_dict())}
    (out / "cache.json").write_text(json.dumps(meta, indent=2))
    return out


class TokenCache:
    """All shards of a cache in memory (int32 tokens are small: 320 tokens x 4 B per clip)."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        try:
            self.meta = json.loads((folder / "cache.json").read_text())
        except FileNotFoundError:
            raise MagvitError(f"no token cache at {folder} (cache.json missing)") from None
        parts = [load_file(str(p)) for p in sorted(folder.glob("shard_*.safetensors"))]
        self.data = {k: torch.cat([p[k] for p in parts]).long() for k in parts[0]}
        self.labelled = torch.nonzero(self.data["label"] >= 0).flatten()
        self.region = self.meta.get("condition", "footprint")  # caches before the field: footprint
        self.motion = bool(self.meta.get("motion", False))  # caches before the field: no motion

    def rows_with(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """The clips among idx whose cache holds condition tokens for variant `name` (all of
        them for a prefix variant on the footprint region: its z~ there is z)."""
        key = f"has.{COND_ALIAS.get(name, name)}"
        if key not in self.data or self._cond_is_target(name):
            return idx
        return idx[self.data[key][idx].bool()]

    def _cond_is_target(self, name: str) -> bool:
        """A prefix variant on the footprint region: its z~ there is z (causal tokenizer)."""
        return self.region == "footprint" and name in PREFIX_VARIANTS

    def __len__(self):
        return self.data["z"].shape[0]

    def cond(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """Condition tokens z~ of a variant (z for CG, and for a prefix variant on the footprint
        region, where z~ = z with a causal tokenizer; older caches did not encode those)."""
        key = f"cond.{COND_ALIAS.get(name, name)}"
        if key in self.data and not self._cond_is_target(name):
            return self.data[key][idx]
        return self.data["z"][idx]


@dataclass
class TransformerTrainConfig:
    out: Path  # run folder
    tokenizer: str  # folder of the frozen tokenizer (config.json + model.safetensors)
    data: list[str] = field(default_factory=list)
    labels: str | None = None  # CSV file,class (else sub-folder names)
    cache: str | None = None  # token cache folder (built into out/cache when missing)
    cache_clips: int = 512
    cache_variants: int | None = None  # condition variants encoded per batch of clips (None: all)
    preset: str = "small"
    model_overrides: dict = field(default_factory=dict)
    frames: int = 17
    size: int = 64
    steps: int = 2000
    batch: int = 16  # per process
    accumulate: int = 1
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.045
    class_dropout: float = 0.1
    label_smoothing: float = 1e-4
    ema_decay: float = 0.999
    synthetic_weight: float = 0.5
    eval_every: int = 250
    ckpt_every: int = 250
    heldout_fraction: float = 0.05  # clips of the cache kept for masked-token accuracy
    log_every: int = 10  # metrics.jsonl row every N steps
    stop_after: int | None = None  # stop (checkpointed, resumable) after this many steps of this call
    max_minutes: float | None = None  # stop (checkpointed, resumable, exported) once this call has run this long
    init: str | None = None  # exported transformer to start from (fine-tuning); must match the cache's grid, bits, classes
    condition: str | None = None  # condition region (tasks.condition_region); None: --init's, else "footprint"
    motion: bool = False  # padded region: the cache pads interpolation and prediction along the motion, as inference does
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    resume: bool = False
    quiet: bool = False


def model_config(cfg: TransformerTrainConfig, grid, bits, class_names) -> TransformerConfig:
    if cfg.preset not in TRANSFORMER_PRESETS:
        raise UsageError(f"unknown preset {cfg.preset!r}; one of {', '.join(TRANSFORMER_PRESETS)}")
    return engine.model_config(TransformerConfig, {**TRANSFORMER_PRESETS[cfg.preset], "bits": bits, "latent_shape": tuple(grid),
                                                   "num_classes": len(class_names), "class_names": tuple(class_names),
                                                   **({"condition": cfg.condition} if cfg.condition else {})},
                               cfg.model_overrides, "transformer")


def make_batch(cache: TokenCache, idx: torch.Tensor, variant: str, mcfg: TransformerConfig, tcfg, gen: torch.Generator,
               class_dropout: float):
    """Inputs, targets, task ids and classes of one COMMIT training batch."""
    task, _, cmask, _ = variant_condition(variant, cache.meta["frames"], cache.meta["size"], *tcfg, mcfg.condition)
    z, zc = cache.data["z"][idx], cache.cond(variant, idx)
    inputs, _ = commit.training_inputs(z, zc, cmask.flatten(), mcfg.mask_id, gen)
    null = mcfg.num_classes
    if task.needs_class:
        labels = cache.data["label"][idx]
        drop = torch.rand(len(idx), generator=gen) < class_dropout
        cls = torch.where(drop | (labels < 0), torch.full_like(labels, null), labels)
    else:
        cls = torch.full((len(idx),), null, dtype=torch.long)
    return inputs, z, torch.full((len(idx),), task.id, dtype=torch.long), cls


@torch.no_grad()
def masked_accuracy(model, cache: TokenCache, idx: torch.Tensor, tcfg, device, ratio: float = 0.5) -> dict:
    """Per task variant: accuracy of the argmax prediction at masked tokens outside the SPEC
    footprint (the unknown part); with the padded region also `copy.<variant>`, how often the
    padded video's own token is right there (what the model has to beat)."""
    model.eval()
    region = model.config.condition
    out = {}
    for name, code, _ in VARIANTS:
        use = cache.labelled[-len(idx):] if get_task(code).needs_class and len(cache.labelled) else idx
        use = cache.rows_with(name, use)
        if len(use) == 0:
            continue
        gen = torch.Generator().manual_seed(0)
        task, _, cmask, foot = variant_condition(name, cache.meta["frames"], cache.meta["size"], *tcfg, region)
        z, zc = cache.data["z"][use], cache.cond(name, use)
        masked = torch.rand(z.shape, generator=gen) < ratio
        inputs = torch.where(masked, torch.where(cmask.flatten(), zc, torch.full_like(z, model.config.mask_id)), z)
        cls = cache.data["label"][use].clamp_min(0) if task.needs_class else torch.full((len(use),), model.config.num_classes)
        logits = model(inputs.to(device), torch.full((len(use),), task.id, device=device), cls.to(device))
        pred = model.join([lg.argmax(-1) for lg in logits]).cpu()
        sel = masked & ~foot.flatten()
        if sel.any():
            out[f"acc.{name}"] = float((pred[sel] == z[sel]).float().mean())
            if region != "footprint" and cmask.any():
                out[f"copy.{name}"] = float((zc[sel] == z[sel]).float().mean())
    model.train()
    return out


@contextmanager
def _whole_or_none(folder: Path):
    """A token cache built whole, or none of it kept: a build stopped part-way (Ctrl-C, an error)
    takes its shards away, and the folder where it made it; it left them, and said 'no partial
    output was left behind'."""
    made = not folder.exists()
    try:
        yield
    except BaseException as e:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for shard in folder.glob("shard_*.safetensors"):
                shard.unlink(missing_ok=True)
        if isinstance(e, KeyboardInterrupt):
            raise KeyboardInterrupt(f"the token cache was not finished, so none of it is kept ({folder}); "
                                    "the same command builds it again") from None
        raise


def train_transformer(cfg: TransformerTrainConfig, warn: Callable[[str], None] | None = None) -> Path:
    d = engine.setup_distributed(cfg.device)
    deadline = engine.Deadline(cfg.max_minutes, d)  # counts the set-up (cache, data) too: the whole call fits
    tokenizer = engine.given_model(cfg.tokenizer, "tokenizer", d.device, "--tokenizer")
    tcfg = (tokenizer.config.time_factor, tokenizer.config.space_factor)
    model = engine.warm_start(cfg.init, "transformer", d.device)
    # the condition region is a field of the inputs, not the weights: fine-tuning may change it
    region = cfg.condition or (model.config.condition if model is not None else "footprint")
    if cfg.motion and region != "padded":
        raise UsageError(f"--motion pads the padded condition region; this run's region is {region} (give --condition padded)")
    cache_dir = Path(cfg.cache) if cfg.cache else Path(cfg.out) / "cache"
    building = not (cache_dir / "cache.json").exists()
    draw = cfg.size * (MOTION_OVERSAMPLE if cfg.motion else 1)
    source = ClipSource(cfg.data, cfg.frames, draw, cfg.synthetic_weight, labels=cfg.labels, warn=warn) if building and d.main else None
    grid = engine.clip_grid(tokenizer.config, cfg.frames, cfg.size)
    if model is None:  # the model's settings as far as they are known before the cache (its classes come with it)
        model_config(cfg, grid, tokenizer.config.bits, source.class_names if source is not None else ())
    out = engine.run_folder(cfg.out, cfg.resume, cfg.device, d, warn, cfg.quiet)  # after the checks above: a bad call leaves no run folder behind
    if building:
        if d.main:
            with _whole_or_none(cache_dir):
                build_token_cache(tokenizer, source, cache_dir,
                                  cfg.cache_clips, cfg.frames, cfg.size, cfg.seed, device=d.device, progress=not cfg.quiet,
                                  variants_per_batch=cfg.cache_variants, region=region, motion=cfg.motion)
        if d.world > 1:
            torch.distributed.barrier()
    cache = TokenCache(cache_dir)
    if cache.meta["bits"] != tokenizer.config.bits:
        raise MagvitError(f"token cache has {cache.meta['bits']}-bit tokens, tokenizer has {tokenizer.config.bits}")
    encoder = encoder_digest(tokenizer.state_dict())  # what the tokens mean: the export records it (pipeline.Magvit checks the pair)
    # the tokenizer's own folder (or packed file) by absolute path, the shipped one's (`default`) and a Hub
    # id's download too: the hint to pack the pair (weights._pair_hint) holds from any folder
    where = str(tokenizer.loaded_from)
    if cache.meta.get("encoder", encoder) != encoder:  # caches from before the record have none
        raise UsageError(f"token cache {cache_dir} was built by another tokenizer (encoder {cache.meta['encoder']}, "
                         f"--tokenizer {cfg.tokenizer}'s is {encoder}): give the tokenizer that built it, or another --cache")
    if cache.region != region:
        raise MagvitError(f"token cache {cache_dir} was built for the {cache.region} condition region, not {region} "
                          "(the paddings differ): give another --cache")
    if cache.motion != cfg.motion:
        raise MagvitError(f"token cache {cache_dir} was built {'with' if cache.motion else 'without'} --motion, "
                          f"this run is {'with' if cfg.motion else 'without'} (the paddings differ): give another --cache")
    del tokenizer
    n_held = max(1, int(len(cache) * cfg.heldout_fraction))
    held = torch.arange(len(cache) - n_held, len(cache))
    train_idx = torch.arange(len(cache) - n_held)
    train_lab = cache.labelled[cache.labelled < len(cache) - n_held]
    mcfg = model_config(cfg, cache.meta["grid"], cache.meta["bits"], cache.meta["class_names"])
    torch.manual_seed(cfg.seed)
    if model is None:
        model = MaskedTransformer(mcfg).to(d.device)
    else:
        got = (model.config.bits, tuple(model.config.latent_shape), tuple(model.config.class_names))
        want = (mcfg.bits, tuple(mcfg.latent_shape), tuple(mcfg.class_names))
        if got != want:
            raise MagvitError(f"--init {cfg.init}: (bits, grid, classes) {got} do not match the token cache's {want}")
        mcfg = model.config
    mcfg.condition = region
    ema = engine.EMA(model, cfg.ema_decay)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.96))
    start = 0
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume:
        start = engine.resume(ckpt_path, model, opt, ema, d.device)["step"]
    net = DDP(model) if d.world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    metrics = engine.Metrics(out / "metrics.jsonl" if d.main else None)
    amp = dict(device_type=d.device.type, dtype=torch.bfloat16, enabled=d.device.type == "cuda")
    progress = engine.Progress(cfg.steps, start, d.main and not cfg.quiet, "transformer")
    pools = {name: cache.rows_with(name, train_lab if get_task(code).needs_class else train_idx) for name, code, _ in VARIANTS}
    names = [name for name in pools if len(pools[name]) > 0]

    def checkpoint(step):
        if d.main:
            engine.save_checkpoint(ckpt_path, {"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state,
                                               "step": step, "rng": engine.rng_state(), "config": dataclasses.asdict(mcfg),
                                               "encoder": encoder})
        return step

    step, t_last, clips = start, time.time(), 0
    with engine.checkpointed(progress, lambda: checkpoint(step), ckpt_path):
        end = cfg.steps if cfg.stop_after is None else min(cfg.steps, start + cfg.stop_after)
        stop = False
        while step < end and not stop:
            check_interrupt()  # a Ctrl-C dropped in a finaliser still checkpoints and stops
            gen = torch.Generator().manual_seed(cfg.seed * 2 ** 32 + step * 1009 + d.rank)
            lr = engine.lr_at(step, cfg.lr, cfg.warmup, cfg.steps)
            for g in opt.param_groups:
                g["lr"] = lr
            variant = names[int(torch.randint(len(names), (), generator=gen))]
            pool = pools[variant]
            opt.zero_grad(set_to_none=True)
            for _ in range(cfg.accumulate):
                idx = pool[torch.randint(len(pool), (cfg.batch,), generator=gen)]
                inputs, z, task, cls = make_batch(cache, idx, variant, mcfg, tcfg, gen, cfg.class_dropout)
                with torch.autocast(**amp):
                    logits = net(inputs.to(d.device), task.to(d.device), cls.to(d.device))
                    loss = commit.training_loss(logits, z.to(d.device), model, cfg.label_smoothing)
                (loss / cfg.accumulate).backward()
                clips += cfg.batch * d.world
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update(model)
            step += 1
            stop = deadline.passed()  # out of time: log, evaluate and checkpoint this step as the last
            last = stop or step == cfg.steps
            now = time.time()
            rate = clips / max(now - t_last, 1e-6)
            progress.update(step, rate, loss=loss.item())
            if step % cfg.log_every == 0 or last:
                metrics.log(step=step, lr=lr, loss=loss.item(), task=variant, clips_per_s=rate, time=now)
                t_last, clips = now, 0
            if d.main and (step % cfg.eval_every == 0 or last):
                metrics.log(step=step, **masked_accuracy(ema.model(model), cache, held, tcfg, d.device))
            if step % cfg.ckpt_every == 0:
                checkpoint(step)
    if not d.main:
        return out / "export"
    return save_model(ema.model(model), out / "export",
                      metadata={"steps": step, "preset": cfg.preset, "cache_clips": len(cache), "tokenizer": where,
                                "encoder": encoder})
