"""`magvit train tokenizer`: the MAGVIT-v2 causal tokenizer with LFQ (SPEC section 4).

Loss: reconstruction (L1 or L2) + 0.25 commitment + entropy penalty (weight annealed from
`entropy_start` down to `entropy_weight` over `entropy_anneal` steps) + optionally a
non-saturating GAN term from the 3D discriminator, switched on at `disc_start` (with R1 and
LeCam). Adam betas (0, 0.99) as in the paper, EMA weights for the release.

Beyond the paper, `distill` (with the decoder frozen): each batch's tokens are first searched
through the decoder (`refine.refine_indices`, starting from the encoder's own latent) and the
encoder also learns those bits, a logistic loss on its latent's sign, so the encoder is taught
the tokens the search finds instead of only the straight-through gradient. A perceptual loss runs
only with a user-supplied feature network (`perceptual`, TorchScript): none ships, since the
usual one is a pretrained network that this project cannot download.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ..errors import UsageError, check_interrupt
from ..models import TokenizerConfig, VideoTokenizer, save_model
from ..models.discriminator import Discriminator, DiscriminatorConfig, LeCam, r1_penalty
from ..refine import refine_indices
from . import engine
from .data import ClipSource
from .eval import heldout_psnr, load_heldout

TOKENIZER_PRESETS = {
    "tiny": dict(channels=8, channel_mult=(1, 2, 2), num_res_blocks=1, temporal_down=(True, True), bits=6, norm_groups=4),
    "small": dict(channels=32, channel_mult=(1, 2, 2, 4), num_res_blocks=1, temporal_down=(False, True, True), bits=12, norm_groups=8),
    "base": dict(channels=128, channel_mult=(1, 2, 2, 4), num_res_blocks=2, temporal_down=(False, True, True), bits=18, norm_groups=32),
    "large": dict(channels=128, channel_mult=(1, 2, 2, 4), num_res_blocks=4, temporal_down=(False, True, True), bits=18, norm_groups=32),
}


@dataclass
class TokenizerTrainConfig:
    out: Path  # run folder: checkpoint.pt, metrics.jsonl, export/
    data: list[str] = field(default_factory=list)  # folders/files of videos and images
    preset: str = "small"
    model_overrides: dict = field(default_factory=dict)  # TokenizerConfig fields over the preset
    steps: int = 1000
    batch: int = 8  # per process
    accumulate: int = 1  # micro-batches per optimizer step
    frames: int = 9  # clip length, 1 + k * time_factor
    size: int = 64  # square crop size
    max_short: int | None = None  # crops from frames at a short side up to this (never upscaled); None: 2 x size
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.99)  # paper; short CPU runs converge faster with (0.9, 0.99)
    warmup: int = 100
    recon: str = "l1"  # l1 | l2
    commit_weight: float = 0.25
    entropy_weight: float = 0.1
    entropy_start: float = 0.5  # annealed down to entropy_weight
    entropy_anneal: int = 2000
    perceptual: str | None = None  # TorchScript feature network file (B,3,H,W)->features; none ships
    perceptual_weight: float = 0.1
    disc_weight: float = 0.0  # 0: no discriminator (e.g. short CPU runs)
    disc_start: int = 2000
    r1_weight: float = 10.0
    r1_every: int = 4
    lecam_weight: float = 0.001
    ema_decay: float = 0.999
    synthetic_weight: float = 0.5
    colour_turn: float = 0.0  # share of clips with hues turned and saturation raised (colour the real clips lack)
    heldout: str | None = None  # video for held-out PSNR
    eval_every: int = 500
    ckpt_every: int = 250
    log_every: int = 10  # metrics.jsonl row every N steps
    stop_after: int | None = None  # stop (checkpointed, resumable) after this many steps of this call
    max_minutes: float | None = None  # stop (checkpointed, resumable, exported) once this call has run this long
    init: str | None = None  # exported tokenizer to start from (fine-tuning); its config wins
    freeze_encoder: bool = False  # train the decoder only: the tokens stay the same, so a transformer trained on them stays valid
    distill: int = 0  # search steps per batch whose tokens the encoder learns (needs freeze_decoder); 0: off
    distill_weight: float = 1.0  # weight of the bit-wise logistic loss toward the searched tokens
    freeze_decoder: bool = False  # train the encoder only: the decoder (what turns tokens into pixels) stays the same, so tokens a transformer generates still decode as before
    seed: int = 0
    workers: int = 1
    device: str = "auto"
    compile: bool = False
    resume: bool = False
    quiet: bool = False


def model_config(cfg: TokenizerTrainConfig) -> TokenizerConfig:
    if cfg.preset not in TOKENIZER_PRESETS:
        raise UsageError(f"unknown preset {cfg.preset!r}; one of {', '.join(TOKENIZER_PRESETS)}")
    return engine.model_config(TokenizerConfig, TOKENIZER_PRESETS[cfg.preset], cfg.model_overrides, "tokenizer")


def check_freezing(cfg: TokenizerTrainConfig):
    """The flag combinations that would train nothing useful, refused before any set-up."""
    for flag, on in (("--freeze-encoder", cfg.freeze_encoder), ("--freeze-decoder", cfg.freeze_decoder)):
        if on and cfg.init is None:
            raise UsageError(f"{flag} needs --init: a fresh network frozen would never learn")
    if cfg.freeze_encoder and cfg.freeze_decoder:
        raise UsageError("--freeze-encoder and --freeze-decoder together would train nothing (not both); pick one")
    if cfg.distill and not cfg.freeze_decoder:
        raise UsageError("--distill needs --freeze-decoder: the search's judge, the decoder frozen, must stay the same")


def train_tokenizer(cfg: TokenizerTrainConfig, warn: Callable[[str], None] | None = None) -> Path:
    """Train (or resume) and export EMA weights to cfg.out/export. Returns the export folder."""
    check_freezing(cfg)
    d = engine.setup_distributed(cfg.device)
    deadline = engine.Deadline(cfg.max_minutes, d)  # counts the set-up (cache, data) too: the whole call fits
    init = engine.warm_start(cfg.init, "tokenizer", d.device)
    if init is not None and cfg.model_overrides:
        raise UsageError("--set cannot change the architecture of --init weights")
    mcfg = init.config if init is not None else model_config(cfg)
    engine.clip_grid(mcfg, cfg.frames, cfg.size)  # bad sizes: before the run folder
    held = load_heldout(cfg.heldout, cfg.size) if cfg.heldout and d.main else None  # (W, 3, 17, S, S): a bad one is said before --data's
    source = ClipSource(cfg.data, cfg.frames, cfg.size, cfg.synthetic_weight, max_short=cfg.max_short,
                        warn=warn if d.main else None, colour_turn=cfg.colour_turn, held_out=cfg.heldout)  # before the run folder: bad --data leaves none behind
    feat = load_perceptual(cfg.perceptual, d.device) if cfg.perceptual else None  # likewise
    out = engine.run_folder(cfg.out, cfg.resume, cfg.device, d, warn, cfg.quiet)
    torch.manual_seed(cfg.seed)
    model = init if init is not None else VideoTokenizer(mcfg).to(d.device)
    frozen = [*model.encoder.parameters(), *model.quantizer.parameters()] if cfg.freeze_encoder else []
    frozen += list(model.decoder.parameters()) if cfg.freeze_decoder else []
    for p in frozen:
        p.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    ema = engine.EMA(model, cfg.ema_decay)
    opt = torch.optim.Adam(trainable, lr=cfg.lr, betas=tuple(cfg.betas))
    disc = opt_d = lecam = None
    if cfg.disc_weight > 0:
        disc = Discriminator(DiscriminatorConfig()).to(d.device)
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.0, 0.99))
        lecam = LeCam().to(d.device)
    start = 0
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume:
        ck = engine.resume(ckpt_path, model, opt, ema, d.device)
        if disc is not None and "disc" in ck:
            disc.load_state_dict(ck["disc"]), opt_d.load_state_dict(ck["opt_d"]), lecam.load_state_dict(ck["lecam"])
        start = ck["step"]
    net = DDP(model) if d.world > 1 else model
    dnet = DDP(disc) if (disc is not None and d.world > 1) else disc
    if cfg.compile:
        net = torch.compile(net)
    metrics = engine.Metrics(out / "metrics.jsonl" if d.main else None)
    amp = dict(device_type=d.device.type, dtype=torch.bfloat16, enabled=d.device.type == "cuda")
    progress = engine.Progress(cfg.steps, start, d.main and not cfg.quiet, "tokenizer")

    def checkpoint(step):
        if d.main:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.state, "step": step,
                     "rng": engine.rng_state(), "config": dataclasses.asdict(mcfg)}
            if disc is not None:
                state.update(disc=disc.state_dict(), opt_d=opt_d.state_dict(), lecam=lecam.state_dict())
            engine.save_checkpoint(ckpt_path, state)
        return step

    step, t_last, clips = start, time.time(), 0
    with engine.batches(source, cfg.batch, start * cfg.accumulate, d, cfg.seed, cfg.workers) as batches, \
            engine.checkpointed(progress, lambda: checkpoint(step), ckpt_path):
        end = cfg.steps if cfg.stop_after is None else min(cfg.steps, start + cfg.stop_after)
        stop = False
        while step < end and not stop:
            check_interrupt()  # a Ctrl-C dropped in a finaliser still checkpoints and stops
            lr = engine.lr_at(step, cfg.lr, cfg.warmup, cfg.steps)
            for g in opt.param_groups:
                g["lr"] = lr
            ent_w = cfg.entropy_weight + (cfg.entropy_start - cfg.entropy_weight) * max(0.0, 1 - step / max(1, cfg.entropy_anneal))
            use_disc = disc is not None and step >= cfg.disc_start
            opt.zero_grad(set_to_none=True)
            logs = {}
            for _ in range(cfg.accumulate):
                x = next(batches)["video"].to(d.device, non_blocking=True)  # (B, 3, T, S, S)
                if cfg.distill:
                    with torch.autocast(**amp):
                        target = model.quantizer.codes(refine_indices(model, x, cfg.distill))  # (B, d, t, h, w) +-1
                with torch.autocast(**amp):
                    o = net(x)
                    rec = o.reconstruction.float()
                    rec_loss = (rec - x).abs().mean() if cfg.recon == "l1" else F.mse_loss(rec, x)
                    loss = rec_loss + cfg.commit_weight * o.lfq.commitment + ent_w * o.lfq.entropy
                    if cfg.distill:  # logistic loss on each bit's margin; z sits near +-1 (commitment)
                        dis_loss = F.softplus(-4.0 * target * o.lfq.latent).mean()
                        loss = loss + cfg.distill_weight * dis_loss
                        logs.update(distill=dis_loss.item(), bits_agree=(target * o.lfq.latent > 0).float().mean().item())
                    if feat is not None:
                        p_loss = perceptual_loss(feat, rec, x)
                        loss = loss + cfg.perceptual_weight * p_loss
                        logs["perceptual"] = p_loss.item()
                    if use_disc:
                        g_loss = F.softplus(-dnet(rec)).mean()
                        loss = loss + cfg.disc_weight * g_loss
                        logs["g"] = g_loss.item()
                (loss / cfg.accumulate).backward()
                clips += x.shape[0] * d.world
                logs.update(loss=loss.item(), rec=rec_loss.item(), ent=o.lfq.entropy.item(),
                            psnr=float(10 * torch.log10(4 / F.mse_loss(rec.detach().clamp(-1, 1), x))))
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            if use_disc:
                opt_d.zero_grad(set_to_none=True)
                with torch.autocast(**amp):
                    d_real, d_fake = dnet(x), dnet(rec.detach())
                    d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
                    d_loss = d_loss + cfg.lecam_weight * lecam(d_real.float(), d_fake.float())
                if step % cfg.r1_every == 0:
                    d_loss = d_loss + cfg.r1_weight * cfg.r1_every * r1_penalty(disc, x)
                d_loss.backward()
                opt_d.step()
                logs["d"] = d_loss.item()
            ema.update(model)
            step += 1
            stop = deadline.passed()  # out of time: log, evaluate and checkpoint this step as the last
            last = stop or step == cfg.steps
            now = time.time()
            rate = clips / max(now - t_last, 1e-6)
            progress.update(step, rate, **{k: logs[k] for k in ("rec", "ent", "psnr") if k in logs})
            if step % cfg.log_every == 0 or last:
                metrics.log(step=step, lr=lr, entropy_weight=ent_w, clips_per_s=rate, time=now, **logs)
                t_last, clips = now, 0
            if held is not None and (step % cfg.eval_every == 0 or last):
                metrics.log(step=step, **heldout_psnr(ema.model(model), held))
            if step % cfg.ckpt_every == 0:
                checkpoint(step)
    return export(model, ema, out, {"steps": step, "preset": cfg.preset, "frames": cfg.frames, "size": cfg.size,
                                    "data": [str(p) for p in cfg.data]}) if d.main else out / "export"


def load_perceptual(path: str, device) -> torch.nn.Module:
    """A user-supplied TorchScript network mapping frames (N, 3, H, W) in [-1, 1] to features; frozen.
    TorchScript is a restricted program format: it cannot run arbitrary Python on load, unlike pickle."""
    if not Path(path).is_file():  # as --i3d and --heldout say it
        raise UsageError(f"--perceptual {path}: no such file")
    try:
        net = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        raise UsageError(f"--perceptual {path}: not a loadable TorchScript file ({str(e).splitlines()[0]})") from None
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def perceptual_loss(net, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared feature distance over all frames. rec, x: (B, 3, T, H, W)."""
    flat = lambda v: v.transpose(1, 2).flatten(0, 1)
    return F.mse_loss(net(flat(rec)).float(), net(flat(x)).float())


def export(model, ema, out: Path, metadata: dict) -> Path:
    """The release: EMA weights as config.json + model.safetensors, no optimizer state."""
    return save_model(ema.model(model), Path(out) / "export", metadata=metadata)
