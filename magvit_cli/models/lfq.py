"""Lookup-free quantization (LFQ), MAGVIT-v2 (SPEC section 4).

A latent vector z in R^d is quantized per channel to q_i = +1 if z_i > 0 else -1, so the
codebook is {-1, +1}^d with 2^d entries and no lookup table.

Bit order (the one convention of this project): **little-endian**, bit i weighs 2^i, so
index = sum_i 2^i [z_i > 0]. This is Open-MAGVIT2's order; lucidrains and O2-MAGVIT2 are
big-endian, and their converters flip the channel order.

Entropy penalty: ``mean_n H(p(c|z_n)) - H(mean_n p(c|z_n))`` with
``p(c|z) = softmax_c(2 <z, c> / tau)``. Because <z, c> = sum_i z_i c_i, the softmax factorizes
over bits: p(c|z) = prod_i sigmoid(4 z_i c_i / tau). The per-sample term is therefore exact in
O(N d). The codebook term H(mean_n p) does not factorize; it is estimated as the sum of the
entropies of the marginals over groups of bits (e.g. 2 groups of 9 for d = 18), which costs
O(N 2^g) per group and is an upper bound of the joint entropy. No N x 2^d tensor is ever built.

Quantization always runs in fp32, with autocast switched off (fp16 entropy gives NaN).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def bit_weights(bits: int, device=None) -> torch.Tensor:
    """(d,) int64 weights 2^i of each bit, little-endian."""
    return 2 ** torch.arange(bits, device=device, dtype=torch.long)


def codes_to_indices(codes: torch.Tensor) -> torch.Tensor:
    """(B, d, ...) signs (+-1 or any real: > 0 is bit 1) -> (B, ...) int64 indices."""
    d = codes.shape[1]
    on = (codes > 0).long()
    w = bit_weights(d, codes.device).view(1, d, *([1] * (codes.dim() - 2)))
    return (on * w).sum(1)


def indices_to_codes(indices: torch.Tensor, bits: int) -> torch.Tensor:
    """(B, ...) int64 indices -> (B, d, ...) float codes in {-1, +1}."""
    w = bit_weights(bits, indices.device).view(1, bits, *([1] * (indices.dim() - 1)))
    on = (indices.unsqueeze(1) & w) != 0
    return on.float() * 2.0 - 1.0


def expected_codes(probs: list[torch.Tensor]) -> torch.Tensor:
    """Distributions over sub-token ids, low bits first: list of (..., 2^b_g) -> (..., sum b_g)
    float codes, each the expected +-1 value of its bit, E[c_i] = P(bit i) - P(not bit i).
    One-hot distributions give the codes of those ids exactly (indices_to_codes)."""
    cols = []
    for p in probs:
        b = p.shape[-1].bit_length() - 1
        if p.shape[-1] != 2 ** b:
            raise ValueError(f"a sub-token distribution needs 2^b entries, got {p.shape[-1]}")
        table = ((torch.arange(2 ** b, device=p.device).unsqueeze(1) >> torch.arange(b, device=p.device)) & 1)
        cols.append(p.float() @ (table.float() * 2 - 1))  # (..., b)
    return torch.cat(cols, -1)


def swap_argmax(probs: list[torch.Tensor], ids: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per sub-token table, (..., 2^b) distributions and (...) ids -> the same distributions with
    the mass of each argmax and of the given id swapped: "the model's confidence, placed on `ids`".
    Where the argmax is the id nothing changes. Soft residual compositing decodes the expected
    codes of both and keeps their difference: zero where the model keeps the condition token,
    growing with its confidence in another one."""
    out = []
    for p, i in zip(probs, ids):
        i = i.unsqueeze(-1)
        top = p.argmax(-1, keepdim=True)
        q = p.scatter(-1, top, p.gather(-1, i))
        out.append(q.scatter(-1, i, p.gather(-1, top)))
    return out


def _binary_entropy_from_logits(logit: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of Bernoulli(sigmoid(logit)), stable for large |logit|."""
    p = torch.sigmoid(logit)
    return F.softplus(logit) - p * logit


def per_sample_entropy(z: torch.Tensor, tau: float) -> torch.Tensor:
    """Exact mean_n H(p(c|z_n)) for z of shape (N, d), O(N d)."""
    return _binary_entropy_from_logits(4.0 * z / tau).sum(1).mean()


def codebook_entropy(z: torch.Tensor, tau: float, group_bits: int) -> torch.Tensor:
    """Estimate H(mean_n p(c|z_n)) for z (N, d) as a sum over groups of bits of the entropy of
    that group's averaged marginal: O(N 2^group_bits) memory per group."""
    n, d = z.shape
    total = z.new_zeros(())
    for start in range(0, d, group_bits):
        g = min(group_bits, d - start)
        logit = 4.0 * z[:, start:start + g] / tau  # (N, g)
        log_on, log_off = F.logsigmoid(logit), F.logsigmoid(-logit)
        table = ((torch.arange(2 ** g, device=z.device).unsqueeze(1) >> torch.arange(g, device=z.device)) & 1).to(z.dtype)  # (2^g, g)
        log_p = log_on @ table.t() + log_off @ (1.0 - table).t()  # (N, 2^g)
        avg = log_p.exp().mean(0)  # (2^g,)
        total = total - (avg * torch.log(avg.clamp_min(1e-30))).sum()
    return total


@dataclass
class LFQOutput:
    quantized: torch.Tensor  # (B, d, ...) straight-through codes in {-1, +1}
    indices: torch.Tensor  # (B, ...) int64
    commitment: torch.Tensor  # scalar, ||z - sg(q)||^2 averaged (unweighted)
    entropy: torch.Tensor  # scalar, per-sample entropy - codebook entropy (unweighted)
    per_sample_entropy: torch.Tensor
    codebook_entropy: torch.Tensor
    latent: torch.Tensor | None = None  # (B, d, ...) fp32 z before the sign (a distillation target's logits)


class LFQ(nn.Module):
    """Lookup-free quantizer over channel dim 1 of a (B, d, ...) latent."""

    def __init__(self, bits: int, entropy_temperature: float = 0.01, group_bits: int = 9):
        super().__init__()
        if not 1 <= bits <= 30:
            raise ValueError(f"LFQ bits must be in 1..30, got {bits}")
        self.bits = bits
        self.tau = entropy_temperature
        self.group_bits = group_bits

    @property
    def codebook_size(self) -> int:
        return 2 ** self.bits

    def forward(self, z: torch.Tensor, with_losses: bool = True) -> LFQOutput:
        if z.shape[1] != self.bits:
            raise ValueError(f"LFQ expects {self.bits} channels, got {z.shape[1]} in shape {tuple(z.shape)}")
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float()
            q = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z))
            indices = codes_to_indices(z)
            q_st = z + (q - z).detach()
            if with_losses:
                commitment = F.mse_loss(z, q.detach())
                flat = z.movedim(1, -1).reshape(-1, self.bits)  # (N, d)
                ent_s = per_sample_entropy(flat, self.tau)
                ent_c = codebook_entropy(flat, self.tau, self.group_bits)
            else:
                commitment = ent_s = ent_c = z.new_zeros(())
        return LFQOutput(q_st, indices, commitment, ent_s - ent_c, ent_s, ent_c, z)

    def codes(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, ...) indices -> (B, d, ...) codes."""
        return indices_to_codes(indices, self.bits)
