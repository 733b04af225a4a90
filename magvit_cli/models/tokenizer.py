"""MAGVIT-v2 causal 3D-CNN video tokenizer with LFQ (SPEC section 4).

Video convention (the one place it is defined): float tensors of shape (B, 3, T, H, W), RGB,
values in [-1, 1] (pixel / 127.5 - 1). T must be 1 + k * time_factor (1, 5, 9, 17 ... for two
temporal downsamplings); H and W multiples of space_factor. A single image is a 1-frame video.

Causality: every convolution pads time only on the past side (k_t - 1 zero frames), every
GroupNorm normalizes each frame on its own, the temporal upsampler makes two frames of each
latent frame and drops the first one, and the decoder's adaptive norm reads the latent through
the same causal time mapping. Latent frame 0 is frame 0 alone; latent frame k covers frames
(k-1)*f+1 .. k*f for time factor f.

Choices where sources differ: per-frame GroupNorm and spatially varying adaptive GroupNorm
(O2-MAGVIT2's scheme, which stays causal) rather than Open-MAGVIT2's (T,H,W) statistics, which
leak the future; zero temporal padding (Open-MAGVIT2); little-endian bits (see lfq.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .lfq import LFQ, LFQOutput


@dataclass
class TokenizerConfig:
    channels: int = 32  # base width; the paper uses 128 (too slow to train on 2 CPU cores)
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)  # width per stage; one 2x spatial downsample between stages
    num_res_blocks: int = 1  # ResBlocks per stage (paper: 4)
    temporal_down: tuple[bool, ...] = (False, True, True)  # per stage transition: also halve time?
    bits: int = 12  # LFQ bits per token, codebook 2^bits (paper: 18)
    norm_groups: int = 8  # GroupNorm groups (must divide every width)
    entropy_temperature: float = 0.01  # tau of the LFQ entropy penalty (SPEC)
    lfq_group_bits: int = 9  # bit-group size of the codebook-entropy estimate

    def __post_init__(self):
        self.channel_mult = tuple(self.channel_mult)
        self.temporal_down = tuple(bool(x) for x in self.temporal_down)
        if len(self.temporal_down) != len(self.channel_mult) - 1:
            raise ValueError(
                f"temporal_down needs one flag per stage transition: {len(self.channel_mult) - 1}, "
                f"got {len(self.temporal_down)}")

    @property
    def time_factor(self) -> int:
        return 2 ** sum(self.temporal_down)

    @property
    def space_factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(t, h, w) of the token grid for a (frames, height, width) clip; raises on bad sizes."""
        f, s = self.time_factor, self.space_factor
        if frames < 1 or (frames - 1) % f:
            raise ValueError(f"clip of {frames} frames: the tokenizer needs 1 + k*{f} frames (1, {1 + f}, {1 + 2 * f}, ...)")
        if height % s or width % s:
            raise ValueError(f"frame size {width}x{height}: width and height must be multiples of {s}")
        return 1 + (frames - 1) // f, height // s, width // s


class CausalConv3d(nn.Module):
    """3D conv padding time on the past side only; 'same' spatial padding; optional stride."""

    def __init__(self, cin, cout, kernel=3, stride=(1, 1, 1), bias=True):
        super().__init__()
        k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        self.time_pad = k[0] - 1
        self.space_pad = (k[1] // 2, k[2] // 2)
        self.conv = nn.Conv3d(cin, cout, k, stride=stride, bias=bias)

    def forward(self, x):  # (B, C, T, H, W)
        ph, pw = self.space_pad
        x = F.pad(x, (pw, pw, ph, ph, self.time_pad, 0))
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over (C/groups, H, W) of each frame: no statistics cross time."""

    def forward(self, x):  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class ResBlock(nn.Module):
    """GN, swish, conv, GN, swish, conv (+ 1^3 shortcut when widths differ); no conv bias."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1 = FrameGroupNorm(groups, cin)
        self.conv1 = CausalConv3d(cin, cout, 3, bias=False)
        self.norm2 = FrameGroupNorm(groups, cout)
        self.conv2 = CausalConv3d(cout, cout, 3, bias=False)
        self.shortcut = nn.Conv3d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


def causal_time_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Repeat each frame `factor` times and drop the first factor-1: T -> (T-1)*factor + 1.
    Output frame j comes from input frame ceil(j / factor), never a later one."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2)[:, :, factor - 1:]


class AdaptiveGroupNorm(nn.Module):
    """Per-frame GroupNorm whose scale and shift are 1^3 convs of the quantized latent, resized
    to this level (nearest in space, causal repeat in time)."""

    def __init__(self, channels, latent_channels, groups):
        super().__init__()
        self.norm = FrameGroupNorm(groups, channels, affine=False)
        self.scale = nn.Conv3d(latent_channels, channels, 1)
        self.shift = nn.Conv3d(latent_channels, channels, 1)
        nn.init.zeros_(self.scale.weight), nn.init.ones_(self.scale.bias)
        nn.init.zeros_(self.shift.weight), nn.init.zeros_(self.shift.bias)

    def forward(self, x, zq):  # x (B, C, T, H, W), zq (B, d, t, h, w)
        tf = (x.shape[2] - 1) // max(zq.shape[2] - 1, 1) if zq.shape[2] > 1 else 1
        z = causal_time_upsample(zq, tf) if zq.shape[2] != x.shape[2] else zq
        if z.shape[2] != x.shape[2]:  # 1-frame latent under a longer x cannot happen in the decoder
            raise ValueError(f"adaptive norm: latent frames {zq.shape[2]} do not map onto {x.shape[2]} frames")
        z = F.interpolate(z, size=x.shape[2:], mode="nearest")
        return self.norm(x) * self.scale(z) + self.shift(z)


class Downsample(nn.Module):
    """Strided causal conv: 2x in space, and 2x in time when `temporal` (T -> (T-1)//2 + 1)."""

    def __init__(self, channels, temporal):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, stride=(2 if temporal else 1, 2, 2))

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Causal conv to C*st*2*2 channels, depth-to-space, drop the first frame when st = 2."""

    def __init__(self, cin, cout, temporal):
        super().__init__()
        self.st = 2 if temporal else 1
        self.cout = cout
        self.conv = CausalConv3d(cin, cout * self.st * 4, 3)

    def forward(self, x):
        b, _, t, h, w = x.shape
        y = self.conv(x).reshape(b, self.cout, self.st, 2, 2, t, h, w)
        y = y.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, self.cout, t * self.st, h * 2, w * 2)
        return y[:, :, self.st - 1:]  # (B, cout, (T-1)*st + 1, 2H, 2W)


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        self.conv_in = CausalConv3d(3, widths[0], 3, bias=False)
        self.stages = nn.ModuleList()
        cin = widths[0]
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cin, w, cfg.norm_groups))
                cin = w
            down = Downsample(w, cfg.temporal_down[i]) if i < len(widths) - 1 else nn.Identity()
            self.stages.append(nn.ModuleDict({"blocks": blocks, "down": down}))
        self.mid = nn.ModuleList([ResBlock(cin, cin, cfg.norm_groups) for _ in range(cfg.num_res_blocks)])
        self.norm_out = FrameGroupNorm(cfg.norm_groups, cin)
        self.conv_out = nn.Conv3d(cin, cfg.bits, 1)

    def forward(self, x):  # (B, 3, T, H, W) -> (B, d, t, h, w)
        h = self.conv_in(x)
        for stage in self.stages:
            for blk in stage["blocks"]:
                h = blk(h)
            h = stage["down"](h)
        for blk in self.mid:
            h = blk(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        cin = widths[-1]
        self.conv_in = CausalConv3d(cfg.bits, cin, 3)
        self.mid = nn.ModuleList([ResBlock(cin, cin, cfg.norm_groups) for _ in range(cfg.num_res_blocks)])
        self.stages = nn.ModuleList()
        for i in reversed(range(len(widths))):
            w = widths[i]
            adanorm = AdaptiveGroupNorm(cin, cfg.bits, cfg.norm_groups)
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cin, w, cfg.norm_groups))
                cin = w
            up = nn.Identity()
            if i > 0:
                up = Upsample(w, widths[i - 1], cfg.temporal_down[i - 1])
                cin = widths[i - 1]
            self.stages.append(nn.ModuleDict({"adanorm": adanorm, "blocks": blocks, "up": up}))
        self.norm_out = FrameGroupNorm(cfg.norm_groups, cin)
        self.conv_out = CausalConv3d(cin, 3, 3)

    def forward(self, zq):  # (B, d, t, h, w) -> (B, 3, T, H, W)
        h = self.conv_in(zq)
        for blk in self.mid:
            h = blk(h)
        for stage in self.stages:
            h = stage["adanorm"](h, zq)
            for blk in stage["blocks"]:
                h = blk(h)
            h = stage["up"](h)
        return self.conv_out(F.silu(self.norm_out(h)))


@dataclass
class TokenizerOutput:
    reconstruction: torch.Tensor  # (B, 3, T, H, W)
    indices: torch.Tensor  # (B, t, h, w)
    lfq: LFQOutput


class VideoTokenizer(nn.Module):
    """encode(video) -> indices, decode(indices) -> video; forward for training."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = LFQ(cfg.bits, cfg.entropy_temperature, cfg.lfq_group_bits)
        self.decoder = Decoder(cfg)

    def _check(self, video):
        if video.dim() != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, T, H, W), got {tuple(video.shape)}")
        self.config.latent_shape(*video.shape[2:])

    def quantize(self, video, with_losses=False) -> LFQOutput:
        self._check(video)
        return self.quantizer(self.encoder(video), with_losses=with_losses)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, t, h, w) int64 token indices."""
        return self.quantize(video).indices

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(codes)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, t, h, w) token indices -> (B, 3, T, H, W), roughly in [-1, 1] (not clamped)."""
        codes = self.quantizer.codes(indices).to(next(self.parameters()).dtype)
        return self.decoder(codes)

    def forward(self, video: torch.Tensor) -> TokenizerOutput:
        q = self.quantize(video, with_losses=True)
        return TokenizerOutput(self.decoder(q.quantized), q.indices, q)
