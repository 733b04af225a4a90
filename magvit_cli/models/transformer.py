"""Bidirectional masked transformer of MAGVIT v1 (SPEC section 3).

Sequence: [task token, class token, N latent tokens in (t, h, w) row-major order]. Learned
absolute positions sized from the config's latent grid; a shorter grid (fewer latent frames)
uses the leading positions of each frame row. The MLM head is tied to the token embedding.

Token ids: 0 .. 2^bits - 1 are codebook entries, 2^bits is [MASK]. For vocabularies over
2^12 (`factorize_above`), each id is split into sub-tokens of at most half the bits
(low bits first, little-endian like LFQ): the embeddings of the sub-tokens are summed on the
way in, and one tied head per sub-token predicts it on the way out, so a 2^18 tokenizer needs
two 2^9 tables instead of one 2^18 table (SPEC section 3, MAGVIT-v2).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..tasks import CONDITION_REGIONS


@dataclass
class TransformerConfig:
    bits: int = 12  # codebook bits of the tokenizer it models
    latent_shape: tuple[int, int, int] = (5, 8, 8)  # (t, h, w) token grid it was trained on; sizes positions
    num_classes: int = 0  # class table size; id num_classes is the "unconditional" class
    num_tasks: int = 10  # task-token table size (the ten MAGVIT tasks)
    dim: int = 256  # width (paper B: 768)
    layers: int = 4  # blocks (paper B: 12)
    heads: int = 4  # attention heads (paper B: 12)
    mlp_ratio: int = 4  # MLP hidden = mlp_ratio * dim
    dropout: float = 0.1  # paper: 0.1
    prenorm: bool = False  # v1 is post-LN (False); pre-LN trains more steadily in short runs
    factorize_above: int = 12  # split tokens into sub-tokens when bits exceeds this
    class_names: tuple[str, ...] = ()  # names of the classes, in id order (may be empty)
    # which tokens show the condition video's token instead of [MASK] (tasks.condition_region):
    # "footprint" (SPEC) or "padded" (the whole padded video, which the model learns to refine)
    condition: str = "footprint"

    def __post_init__(self):
        self.latent_shape = tuple(self.latent_shape)
        self.class_names = tuple(self.class_names)
        if self.condition not in CONDITION_REGIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITION_REGIONS)}, got {self.condition!r}")

    @property
    def sub_bits(self) -> tuple[int, ...]:
        """Bits of each sub-token, low bits first."""
        if self.bits <= self.factorize_above:
            return (self.bits,)
        lo = self.bits // 2
        return (lo, self.bits - lo)

    @property
    def mask_id(self) -> int:
        return 2 ** self.bits

    @property
    def num_tokens(self) -> int:
        t, h, w = self.latent_shape
        return t * h * w


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.heads = cfg.heads
        self.prenorm = cfg.prenorm
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.mlp_ratio * cfg.dim), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.dim, cfg.dim))
        self.drop = nn.Dropout(cfg.dropout)
        self.p = cfg.dropout

    def attn(self, x):  # (B, L, D)
        b, l, d = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, l, d)))

    def forward(self, x):
        if self.prenorm:
            x = x + self.attn(self.ln1(x))
            return x + self.drop(self.mlp(self.ln2(x)))
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.drop(self.mlp(x)))


class MaskedTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.config = cfg
        # one table per sub-token, each with its own [MASK] row at the end
        self.tok_emb = nn.ModuleList([nn.Embedding(2 ** b + 1, cfg.dim) for b in cfg.sub_bits])
        self.task_emb = nn.Embedding(cfg.num_tasks, cfg.dim)
        self.class_emb = nn.Embedding(cfg.num_classes + 1, cfg.dim)
        t, h, w = cfg.latent_shape
        self.pos_emb = nn.Parameter(torch.zeros(t, h, w, cfg.dim))
        self.prefix_pos = nn.Parameter(torch.zeros(2, cfg.dim))
        self.ln_in = nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.ln_out = nn.LayerNorm(cfg.dim) if cfg.prenorm else nn.Identity()
        # BERT MLM head: dense, GELU, LN, then the tied embedding (+ bias) per sub-token
        self.head = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.LayerNorm(cfg.dim))
        self.head_bias = nn.ParameterList([nn.Parameter(torch.zeros(2 ** b)) for b in cfg.sub_bits])
        self.apply(self._init)
        nn.init.normal_(self.pos_emb, std=0.02)
        nn.init.normal_(self.prefix_pos, std=0.02)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def split(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Token ids (with [MASK] = 2^bits) -> one sub-token id tensor per table."""
        cfg = self.config
        is_mask = tokens == cfg.mask_id
        subs, shift = [], 0
        for b in cfg.sub_bits:
            sub = (tokens >> shift) & (2 ** b - 1)
            subs.append(torch.where(is_mask, torch.full_like(sub, 2 ** b), sub))
            shift += b
        return subs

    def positions(self, grid: tuple[int, int, int]) -> torch.Tensor:
        t, h, w = grid
        T, H, W = self.config.latent_shape
        if t > T or h > H or w > W:
            raise ValueError(f"token grid {grid} is larger than the model's {self.config.latent_shape}")
        return self.pos_emb[:t, :h, :w].reshape(t * h * w, -1)

    def forward(self, tokens: torch.Tensor, task: torch.Tensor, cls: torch.Tensor,
                grid: tuple[int, int, int] | None = None) -> list[torch.Tensor]:
        """tokens (B, N) ids, task (B,), cls (B,) -> list of logits (B, N, 2^sub_bits) per sub-token."""
        grid = grid or self.config.latent_shape
        x = sum(emb(s) for emb, s in zip(self.tok_emb, self.split(tokens)))  # (B, N, D)
        x = x + self.positions(grid).to(x.dtype)
        prefix = torch.stack([self.task_emb(task), self.class_emb(cls)], 1) + self.prefix_pos  # (B, 2, D)
        x = self.drop(self.ln_in(torch.cat([prefix, x], 1)))
        for blk in self.blocks:
            x = blk(x)
        h = self.head(self.ln_out(x[:, 2:]))  # (B, N, D)
        return [h @ emb.weight[:-1].t() + bias for emb, bias in zip(self.tok_emb, self.head_bias)]

    def join(self, subs: list[torch.Tensor]) -> torch.Tensor:
        """Sub-token ids -> token ids (inverse of split for non-mask tokens)."""
        out, shift = torch.zeros_like(subs[0]), 0
        for b, s in zip(self.config.sub_bits, subs):
            out = out | (s << shift)
            shift += b
        return out
