"""COMMIT: conditional masked modeling by interior tokens (MAGVIT v1, SPEC section 2).

Training: `training_inputs` builds the corrupted sequence from targets z, condition tokens z~
and the latent mask c; `training_loss` is cross-entropy on all N tokens (label smoothing 1e-4).

Inference: `decode` is the iterative non-autoregressive loop. All randomness goes through an
explicit torch.Generator. Every token starts unknown (the model also predicts the condition
region); at each step the unknown ones are sampled, the least confident are re-masked, and a
re-masked token shows z~ inside the condition region and [MASK] outside, re-embedded every step.
A token once committed never changes. With return_probs, `decode` also gives the distribution
each token was committed under (temperature 1, guidance applied), for soft decoding
(`lfq.expected_codes`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

SCHEDULES = ("cosine", "uniform", "exp")


def mask_ratio(r: float | torch.Tensor, kind: str = "cosine", n: int = 1024):
    """Fraction of tokens still masked after progress r in [0, 1]."""
    if kind == "cosine":
        return math.cos(math.pi / 2 * r) if isinstance(r, float) else torch.cos(math.pi / 2 * r)
    if kind == "uniform":
        return 1 - r
    if kind == "exp":
        return 1 - n ** -(1 - r) if isinstance(r, float) else 1 - torch.pow(torch.tensor(float(n)), -(1 - r))
    raise ValueError(f"unknown schedule {kind!r}; one of {', '.join(SCHEDULES)}")


def remask_counts(n: int, steps: int, kind: str = "cosine") -> list[int]:
    """Tokens re-masked after each step when all n start unknown (0 after the last)."""
    counts, unknown = [], n
    for t in range(steps):
        unknown = remask_count(n, unknown, (t + 1) / steps, kind, last=t == steps - 1)
        counts.append(unknown)
    return counts


def _uniform(shape, generator, device):
    return torch.rand(shape, generator=generator, device=generator.device if generator is not None else device).to(device)


def gumbel(shape, generator, device):
    u = _uniform(shape, generator, device).clamp_(1e-20, 1.0)
    return -torch.log((-torch.log(u)).clamp_min(1e-20))


def training_inputs(z: torch.Tensor, z_cond: torch.Tensor, cond: torch.Tensor, mask_id: int,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """z, z_cond (B, N) ids, cond (N,) or (B, N) bool -> (inputs (B, N), masked (B, N) bool).

    One ratio r = cos(pi/2 u) per call (per step); per token score s ~ U(0,1); the
    max(1, floor(N r)) lowest scores are masked; masked tokens show z~ in the condition
    region and [MASK] outside; unmasked tokens show the target itself."""
    b, n = z.shape
    u = float(_uniform((), generator, z.device))
    k = max(1, math.floor(n * math.cos(math.pi / 2 * u)))
    score = _uniform((b, n), generator, z.device)
    masked = torch.zeros(b, n, dtype=torch.bool, device=z.device)
    masked.scatter_(1, score.topk(k, dim=1, largest=False).indices, True)
    cond = cond.to(z.device).expand(b, n)
    inputs = torch.where(masked, torch.where(cond, z_cond, torch.full_like(z, mask_id)), z)
    return inputs, masked


def training_loss(logits: list[torch.Tensor], z: torch.Tensor, model, label_smoothing: float = 1e-4) -> torch.Tensor:
    """Cross-entropy on all tokens, summed over sub-tokens. logits: list of (B, N, V_g)."""
    loss = 0.0
    for lg, tgt in zip(logits, model.split(z)):
        loss = loss + F.cross_entropy(lg.float().flatten(0, 1), tgt.flatten(), label_smoothing=label_smoothing)
    return loss


def _sample(logits: list[torch.Tensor], temperature: float, generator, model):
    """Sample each sub-token (Gumbel-max; argmax at temperature 0) and join them into ids."""
    subs = []
    for lg in logits:
        lg = lg.float()
        if temperature > 0:
            s = (lg / temperature + gumbel(lg.shape, generator, lg.device)).argmax(-1)
        else:
            s = lg.argmax(-1)
        subs.append(s)
    return model.join(subs)


def _token_prob(logits: list[torch.Tensor], tokens: torch.Tensor, model) -> torch.Tensor:
    p = torch.ones(tokens.shape, device=tokens.device)
    for lg, s in zip(logits, model.split(tokens)):
        p = p * lg.float().softmax(-1).gather(-1, s.clamp_max(lg.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    return p


@torch.no_grad()
def decode(model, z_cond: torch.Tensor, cond: torch.Tensor, task: torch.Tensor, cls: torch.Tensor,
           *, steps: int = 12, schedule: str = "cosine", choice_temperature: float = 4.5,
           temperature: float = 1.0, guidance: float = 0.0, null_class: int | None = None,
           generator: torch.Generator | None = None, grid: tuple[int, int, int] | None = None,
           on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
           return_probs: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """COMMIT decoding. z_cond (B, N) condition tokens, cond (N,) or (B, N) condition region,
    task/cls (B,) -> (B, N) generated token ids.

    Classifier-free guidance: with guidance g > 0 an unconditional pass (null class, all-[MASK]
    input) runs beside the conditional one and logits become l_u + g (l_c - l_u); g = 0 skips
    it. on_step(t, tokens, unknown) sees each step's tokens and the still-unknown mask.
    return_probs: also return, per sub-token table, (B, N, 2^b) softmax of the logits of the
    step at which each token was committed."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    b, n = z_cond.shape
    mask_id = model.config.mask_id
    cond = cond.to(z_cond.device).expand(b, n)
    masked_input = torch.where(cond, z_cond, torch.full_like(z_cond, mask_id))
    tok = masked_input.clone()
    unknown = torch.ones(b, n, dtype=torch.bool, device=z_cond.device)
    cur = tok
    null = torch.full_like(cls, model.config.num_classes if null_class is None else null_class)
    probs: list[torch.Tensor] = []
    for t in range(steps):
        logits = model(tok, task, cls, grid)
        if guidance > 0:
            lu = model(torch.full_like(tok, mask_id), task, null, grid)
            logits = [u + guidance * (c - u) for c, u in zip(logits, lu)]
        sample = _sample(logits, temperature, generator, model)
        cur = torch.where(unknown, sample, tok)
        p = torch.where(unknown, _token_prob(logits, cur, model), torch.full_like(cur, float("inf"), dtype=torch.float))
        r = (t + 1) / steps
        k = remask_count(n, int(unknown.sum(1).min()), r, schedule, last=t == steps - 1)
        conf = torch.log(p.clamp_min(1e-30)) + choice_temperature * (1 - r) * gumbel(p.shape, generator, p.device)
        conf = torch.where(unknown, conf, torch.full_like(conf, float("inf")))
        remask = torch.zeros_like(unknown)
        if k > 0:
            remask.scatter_(1, conf.topk(k, dim=1, largest=False).indices, True)
        tok = torch.where(remask, masked_input, cur)
        if return_probs:
            committed = (unknown & ~remask).unsqueeze(-1)  # (B, N, 1)
            step = [lg.float().softmax(-1) for lg in logits]
            probs = step if not probs else [torch.where(committed, s, p) for s, p in zip(step, probs)]
        unknown = remask
        if on_step is not None:
            on_step(t, cur, unknown)
    return (cur, probs) if return_probs else cur


def remask_count(n: int, unknown: int, r: float, schedule: str, last: bool) -> int:
    """How many of n tokens to re-mask after a step at progress r, `unknown` still open."""
    if last:
        return 0
    return max(1, min(unknown - 1, math.floor(n * mask_ratio(r, schedule, n))))
