"""MAGVIT-v2 causal 3D-CNN video tokenizer with LFQ (SPEC section 4).

Video convention (the one place it is defined): float tensors of shape (B, 3, T, H, W), RGB,
values in [-1, 1] (pixel / 127.5 - 1). T must be 1 + k * time_factor (1, 5, 9, 17 ... for two
temporal downsamplings); H and W multiples of space_factor. A single image is a 1-frame video.

Causality: every convolution pads time only on the past side (k_t - 1 zero frames), every
GroupNorm normalizes each frame on its own, the temporal upsampler makes two frames of each
latent frame and drops the first one, and the decoder's adaptive norm reads the latent through
the same causal time mapping. Latent frame 0 is frame 0 alone; latent frame k covers frames
(k-1)*f+1 .. k*f for time factor f. So a window can also run a few latent frames at a time, each
causal conv keeping the frames it needs from the chunk before (encode_chunked, decode_chunked:
full-resolution windows in a chunk's memory).

Choices where sources differ: per-frame GroupNorm and spatially varying adaptive GroupNorm
(O2-MAGVIT2's scheme, which stays causal) rather than Open-MAGVIT2's (T,H,W) statistics, which
leak the future; zero temporal padding (Open-MAGVIT2); little-endian bits (see lfq.py).
The config's "upstream" fields switch to the other choices so that converted Open-MAGVIT2 and
O2-MAGVIT2 tokenizers run exactly as they were trained (see convert.py); their defaults are
this project's own architecture.
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
    # -- upstream fields: the defaults are ours; converted checkpoints set what they were trained with
    norm_eps: float = 1e-5  # GroupNorm epsilon (Open-MAGVIT2: 1e-6)
    norm_over: str = "frame"  # "frame": statistics per frame (causal); "clip": over (T, H, W) as Open-MAGVIT2 (sees the future)
    adanorm: str = "spatial"  # decoder norm: "spatial" = 1^3 convs of the resized latent (ours, O2); "global" = Linear(std), Linear(mean) of the latent over (t, h, w) (Open-MAGVIT2)
    upsample_keeps_width: bool = False  # True: the upsampler keeps the width and the next ResBlock changes it (both upstreams)
    time_upsample_keep: str = "last"  # of the two frames made from latent frame 0 keep the "last" (ours, O2) or the "first" (Open-MAGVIT2)
    conv_in_bias: bool = False  # the encoder's first conv has a bias (O2-MAGVIT2)

    def __post_init__(self):
        self.channel_mult = tuple(self.channel_mult)
        self.temporal_down = tuple(bool(x) for x in self.temporal_down)
        for name, allowed in (("norm_over", ("frame", "clip")), ("adanorm", ("spatial", "global")),
                              ("time_upsample_keep", ("last", "first"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
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
        if _chunks is not None and self.time_pad:  # a chunk's frames after the ones kept from before
            buf, inside = _padded_buffer(x, self)
            inside.copy_(x)
            _chunks.keep(self, buf)
            return self.conv(buf)
        one = x.shape[2] == 1 and lean(x)  # see padded()
        return self.padded(F.pad(x, (pw, pw, ph, ph) + ((0, 0) if one else (self.time_pad, 0))))

    def padded(self, x):
        """The conv of x already padded. In place (`lean`), a single frame comes without its time
        padding: those frames are zeros, so only the kernel's last tap sees it (a photo or a
        one-frame window: a third of the memory and the work)."""
        if x.shape[2] == 1 and self.time_pad:
            c = self.conv
            return F.conv3d(x, c.weight[:, :, -1:], c.bias, c.stride)
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm over (C/groups, H, W) of each frame: no statistics cross time."""

    def forward(self, x):  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


def group_norm(cfg: TokenizerConfig, channels: int, affine: bool = True) -> nn.GroupNorm:
    """The config's GroupNorm: per frame (causal) or over the whole clip (Open-MAGVIT2)."""
    cls = FrameGroupNorm if cfg.norm_over == "frame" else nn.GroupNorm
    return cls(cfg.norm_groups, channels, eps=cfg.norm_eps, affine=affine)


# -- inference in place --------------------------------------------------------------------
# Without autograd, in fp32, the modules below take a second path with the same arithmetic and
# fewer full-size buffers: a norm, its swish and a conv's padding happen in one padded buffer
# (nn.GroupNorm's per-frame layout copies, the swish's output and F.pad's copy were each a
# tensor the size of the activation), and the decoder's adaptive norm scales in place by its
# latent's maps at the latent's size (nearest upsampling by a whole factor is a block repeat).
# At full resolution that is most of `reconstruct`'s memory and time (the kernel zeroes every
# fresh page of a large allocation). Training and code search (autograd) take the plain path.

def lean(x: torch.Tensor) -> bool:
    """Whether the in-place path applies: no autograd, fp32, no autocast."""
    return not torch.is_grad_enabled() and x.dtype == torch.float32 and not torch.is_autocast_enabled(x.device.type)


def center_(x: torch.Tensor, norm: nn.GroupNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """In place: x (B, C, T, H, W), any strides, minus each channel's mean in each frame. Returns
    (offset, rstd), each (B, C, T, 1, 1), with norm(x) = (centred x + offset) * rstd for the
    per-frame GroupNorm without its affine. Two passes over centred values (torch.var_mean on
    these layouts is several times slower), groups combined exactly from their channels."""
    c, (h, w), g = x.shape[1], x.shape[3:], norm.num_groups
    mean = x.sum(dim=(3, 4), keepdim=True) / (h * w)  # (B, C, T, 1, 1)
    x.sub_(mean)
    var = torch.linalg.vector_norm(x, dim=(3, 4), keepdim=True).square_() / (h * w)
    by_group = lambda v: v.unflatten(1, (g, c // g))  # (B, G, C/G, T, 1, 1)
    group_mean = by_group(mean).mean(2, keepdim=True)
    group_var = (by_group(var) + (by_group(mean) - group_mean).square()).mean(2, keepdim=True)
    offset = (by_group(mean) - group_mean).flatten(1, 2)
    rstd = (group_var + norm.eps).rsqrt().expand(-1, -1, c // g, -1, -1, -1).flatten(1, 2)
    return offset, rstd


def norm_swish_(x: torch.Tensor, norm: nn.GroupNorm) -> None:
    """In place: per-frame GroupNorm (with the norm's affine), then swish."""
    offset, scale = center_(x, norm)
    if norm.affine:
        scale = scale * norm.weight.view(-1, 1, 1, 1)
    shift = offset * scale + (norm.bias.view(-1, 1, 1, 1) if norm.affine else 0)
    F.silu(x.mul_(scale).add_(shift), inplace=True)


def padded_norm_swish(x: torch.Tensor, norm: nn.GroupNorm, conv: "CausalConv3d") -> torch.Tensor:
    """swish(norm(x)) for `conv`, x (B, C, T, H, W): in a new buffer with the conv's padding
    (zeros) around it, x left as it is."""
    buf, inside = _padded_buffer(x, conv)
    norm_swish_(inside.copy_(x), norm)
    if _chunks is not None:
        _chunks.keep(conv, buf)
    return buf


def _padded_buffer(x: torch.Tensor, conv: "CausalConv3d") -> tuple[torch.Tensor, torch.Tensor]:
    """A buffer for `conv`'s padded input x (B, C, T, H, W), and the view inside it where x's
    frames go (left for the caller to fill): first its time padding (in a chunk the frames kept
    from the chunk before; else zeros, none for a single frame: CausalConv3d.padded), zero
    borders of the space padding around each frame."""
    (b, c, t, h, w), (ph, pw) = x.shape, conv.space_pad
    before = _chunks.before(conv, x) if _chunks is not None else None
    pt = before.shape[2] if before is not None else conv.time_pad if t > 1 else 0
    buf = x.new_empty(b, c, t + pt, h + 2 * ph, w + 2 * pw)
    if before is not None:
        buf[:, :, :pt].copy_(before)
    else:
        buf[:, :, :pt].zero_()
    frames = buf[:, :, pt:]
    frames[..., :ph, :].zero_(), frames[..., ph + h:, :].zero_()
    rows = frames[..., ph:ph + h, :]
    rows[..., :pw].zero_(), rows[..., pw + w:].zero_()
    return buf, rows[..., pw:pw + w]


# -- inference a chunk of frames at a time ---------------------------------------------------
# Every operation is per frame but the convolutions, and those are causal: they see k_t - 1
# frames back. So a window can run a few latent frames at a time, each causal conv keeping the
# input frames its next output starts at (zeros before the first chunk: its padding), the
# temporal upsampler dropping its first frame in the first chunk only, and the adaptive norm
# mapping a later chunk's latent frames onto its frames by repetition (each covers the next f).
# The same arithmetic as the whole window, in the memory of a chunk (reconstruct and tokenize at
# full resolution: VideoTokenizer.encode_chunked / decode_chunked).

class _Chunked:
    """A window running chunk by chunk: the frames each causal conv keeps for the next chunk."""

    def __init__(self):
        self.kept: dict[nn.Module, torch.Tensor] = {}
        self.first = True  # the window's first chunk is running

    def before(self, conv: "CausalConv3d", x: torch.Tensor) -> torch.Tensor:
        """The padded input frames `conv` kept from the chunks before; its zero padding at first."""
        if conv not in self.kept:
            (ph, pw), (b, c, _, h, w) = conv.space_pad, x.shape
            return x.new_zeros(b, c, conv.time_pad, h + 2 * ph, w + 2 * pw)
        return self.kept[conv]

    def keep(self, conv: "CausalConv3d", buf: torch.Tensor) -> None:
        """Of `conv`'s padded input `buf`, the frames from its next output's first on."""
        k, s, n = conv.time_pad + 1, conv.conv.stride[0], buf.shape[2]
        outputs = (n - k) // s + 1 if n >= k else 0
        self.kept[conv] = buf[:, :, outputs * s:].clone()


_chunks: _Chunked | None = None  # set while VideoTokenizer.encode_chunked / decode_chunked run


class ResBlock(nn.Module):
    """GN, swish, conv, GN, swish, conv (+ 1^3 shortcut when widths differ); no conv bias."""

    def __init__(self, cin, cout, cfg: TokenizerConfig):
        super().__init__()
        self.norm1 = group_norm(cfg, cin)
        self.conv1 = CausalConv3d(cin, cout, 3, bias=False)
        self.norm2 = group_norm(cfg, cout)
        self.conv2 = CausalConv3d(cout, cout, 3, bias=False)
        self.shortcut = nn.Conv3d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x):
        if lean(x) and isinstance(self.norm1, FrameGroupNorm):
            h = self.conv1.padded(padded_norm_swish(x, self.norm1, self.conv1))
            buf = padded_norm_swish(h, self.norm2, self.conv2)
            del h  # conv1's output, before conv2 makes its own
            h = self.conv2.padded(buf)
            del buf
            return h.add_(self.shortcut(x))
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

    def __init__(self, channels, latent_channels, cfg: TokenizerConfig):
        super().__init__()
        self.norm = group_norm(cfg, channels, affine=False)
        self.scale = nn.Conv3d(latent_channels, channels, 1)
        self.shift = nn.Conv3d(latent_channels, channels, 1)
        nn.init.zeros_(self.scale.weight), nn.init.ones_(self.scale.bias)
        nn.init.zeros_(self.shift.weight), nn.init.zeros_(self.shift.bias)

    def forward(self, x, zq):  # x (B, C, T, H, W), zq (B, d, t, h, w)
        if _chunks is not None and not _chunks.first:  # a later chunk: each latent frame covers the next T/t frames
            z = zq.repeat_interleave(x.shape[2] // zq.shape[2], dim=2)
        else:
            tf = (x.shape[2] - 1) // max(zq.shape[2] - 1, 1) if zq.shape[2] > 1 else 1
            z = causal_time_upsample(zq, tf) if zq.shape[2] != x.shape[2] else zq
        if z.shape[2] != x.shape[2]:  # 1-frame latent under a longer x cannot happen in the decoder
            raise ValueError(f"adaptive norm: latent frames {zq.shape[2]} do not map onto {x.shape[2]} frames")
        (H, W), (h, w) = x.shape[3:], z.shape[3:]
        if lean(x) and isinstance(self.norm, FrameGroupNorm) and not (H % h or W % w):
            # in place on x (the decoder's own activation): the 1^3 convs at the latent's size,
            # then each latent pixel's scale and shift over its block of H/h x W/w pixels
            offset, rstd = center_(x, self.norm)  # (B, C, T, 1, 1)
            scale = self.scale(z) * rstd  # (B, C, T, h, w)
            shift = self.shift(z) + offset * scale
            blocks = x.unflatten(4, (w, W // w)).unflatten(3, (h, H // h))  # (B, C, T, h, H/h, w, W/w)
            blocks.mul_(scale[:, :, :, :, None, :, None]).add_(shift[:, :, :, :, None, :, None])
            return x
        z = F.interpolate(z, size=x.shape[2:], mode="nearest")
        return self.norm(x) * self.scale(z) + self.shift(z)


class GlobalAdaptiveGroupNorm(nn.Module):
    """Open-MAGVIT2's adaptive norm: GroupNorm, then scale = Linear(std of the latent over
    (t, h, w)) and shift = Linear(mean), one value per channel for the whole clip."""

    def __init__(self, channels, latent_channels, cfg: TokenizerConfig):
        super().__init__()
        self.eps = cfg.norm_eps
        self.norm = group_norm(cfg, channels, affine=False)
        self.scale = nn.Linear(latent_channels, channels)
        self.shift = nn.Linear(latent_channels, channels)

    def forward(self, x, zq):  # x (B, C, T, H, W), zq (B, d, t, h, w)
        flat = zq.flatten(2)  # (B, d, t*h*w)
        std = (flat.var(dim=-1, correction=1) + self.eps).sqrt()  # upstream: unbiased variance
        scale = self.scale(std)[:, :, None, None, None]
        shift = self.shift(flat.mean(dim=-1))[:, :, None, None, None]
        return self.norm(x) * scale + shift


class Downsample(nn.Module):
    """Strided causal conv: 2x in space, and 2x in time when `temporal` (T -> (T-1)//2 + 1)."""

    def __init__(self, channels, temporal):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, stride=(2 if temporal else 1, 2, 2))

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    """Causal conv to C*st*2*2 channels, depth-to-space, drop the first frame when st = 2."""

    def __init__(self, cin, cout, temporal, keep: str = "last"):
        super().__init__()
        self.st = 2 if temporal else 1
        self.cout, self.keep = cout, keep
        self.conv = CausalConv3d(cin, cout * self.st * 4, 3)

    def forward(self, x):
        b, _, t, h, w = x.shape
        y = self.conv(x).reshape(b, self.cout, self.st, 2, 2, t, h, w)  # channel = ((c*st + dt)*2 + dy)*2 + dx
        y = y.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, self.cout, t * self.st, h * 2, w * 2)
        if self.st == 1 or _chunks is not None and not _chunks.first:  # a later chunk keeps every frame
            return y
        if self.keep == "first":  # Open-MAGVIT2: frame 0 stays, frame 1 goes
            return torch.cat([y[:, :, :1], y[:, :, 2:]], dim=2)
        return y[:, :, self.st - 1:]  # (B, cout, (T-1)*st + 1, 2H, 2W)


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        self.conv_in = CausalConv3d(3, widths[0], 3, bias=cfg.conv_in_bias)
        self.stages = nn.ModuleList()
        cin = widths[0]
        for i, w in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cin, w, cfg))
                cin = w
            down = Downsample(w, cfg.temporal_down[i]) if i < len(widths) - 1 else nn.Identity()
            self.stages.append(nn.ModuleDict({"blocks": blocks, "down": down}))
        self.mid = nn.ModuleList([ResBlock(cin, cin, cfg) for _ in range(cfg.num_res_blocks)])
        self.norm_out = group_norm(cfg, cin)
        self.conv_out = nn.Conv3d(cin, cfg.bits, 1)

    def forward(self, x):  # (B, 3, T, H, W) -> (B, d, t, h, w)
        h = self.conv_in(x)
        for stage in self.stages:
            for blk in stage["blocks"]:
                h = blk(h)
            h = stage["down"](h)
        for blk in self.mid:
            h = blk(h)
        if lean(h) and isinstance(self.norm_out, FrameGroupNorm):
            norm_swish_(h, self.norm_out)  # h is this method's own
            return self.conv_out(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        cin = widths[-1]
        self.conv_in = CausalConv3d(cfg.bits, cin, 3)
        self.mid = nn.ModuleList([ResBlock(cin, cin, cfg) for _ in range(cfg.num_res_blocks)])
        self.stages = nn.ModuleList()
        adaptive = AdaptiveGroupNorm if cfg.adanorm == "spatial" else GlobalAdaptiveGroupNorm
        for i in reversed(range(len(widths))):
            w = widths[i]
            adanorm = adaptive(cin, cfg.bits, cfg)
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(cin, w, cfg))
                cin = w
            up = nn.Identity()
            if i > 0:
                cout = w if cfg.upsample_keeps_width else widths[i - 1]
                up = Upsample(w, cout, cfg.temporal_down[i - 1], cfg.time_upsample_keep)
                cin = cout
            self.stages.append(nn.ModuleDict({"adanorm": adanorm, "blocks": blocks, "up": up}))
        self.norm_out = group_norm(cfg, cin)
        self.conv_out = CausalConv3d(cin, 3, 3)

    def forward(self, zq, checkpoint: bool = False):  # (B, d, t, h, w) -> (B, 3, T, H, W)
        # checkpoint: keep only each block's input for the backward pass and recompute the rest
        # (about a third more time, a fraction of the memory; refine.py searches codes with it)
        run = (lambda f, *a: torch.utils.checkpoint.checkpoint(f, *a, use_reentrant=False)) if checkpoint else \
            (lambda f, *a: f(*a))
        h = self.conv_in(zq)
        for blk in self.mid:
            h = run(blk, h)
        for stage in self.stages:
            h = run(stage["adanorm"], h, zq)
            for blk in stage["blocks"]:
                h = run(blk, h)
            h = run(stage["up"], h)
        if lean(h) and isinstance(self.norm_out, FrameGroupNorm):
            buf = padded_norm_swish(h, self.norm_out, self.conv_out)
            del h
            return self.conv_out.padded(buf)
        return run(lambda x: self.conv_out(F.silu(self.norm_out(x))), h)


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

    def decode_codes(self, codes: torch.Tensor, checkpoint: bool = False) -> torch.Tensor:
        """(B, bits, t, h, w) codes, +-1 or soft values between (lfq.expected_codes) -> video.
        checkpoint: recompute activations in the backward pass instead of keeping them."""
        return self.decoder(codes.to(next(self.parameters()).dtype), checkpoint=checkpoint)

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, t, h, w) token indices -> (B, 3, T, H, W), roughly in [-1, 1] (not clamped)."""
        return self.decode_codes(self.quantizer.codes(indices))

    @property
    def chunkable(self) -> bool:
        """Whether a window can run a chunk at a time (_Chunked): no statistics across frames."""
        return self.config.norm_over == "frame" and self.config.adanorm == "spatial"

    def _chunked(self, x: torch.Tensor, frames_of: int, chunk: int, run) -> torch.Tensor:
        """run(part) over x (B, C, T, ...) in time chunks of `chunk` latent frames (each `frames_of`
        frames of x after the first, which holds one: frame 0), concatenated along dim 2."""
        if not self.chunkable:
            raise ValueError("this tokenizer's norms see the whole clip: it cannot run a chunk at a time")
        global _chunks
        edges = [0, *range(1 + (chunk - 1) * frames_of, x.shape[2], chunk * frames_of), x.shape[2]]
        _chunks, parts = _Chunked(), []
        try:
            for a, b in zip(edges, edges[1:]):
                parts.append(run(x[:, :, a:b]))
                _chunks.first = False
        finally:
            _chunks = None
        return torch.cat(parts, dim=2)

    @torch.no_grad()
    def encode_chunked(self, video: torch.Tensor, chunk: int) -> torch.Tensor:
        """encode(), `chunk` latent frames at a time (the first chunk's frames 1 + (chunk - 1) *
        time_factor, the others' chunk * time_factor): the same tokens in a chunk's memory."""
        self._check(video)
        z = self._chunked(video, self.config.time_factor, chunk, self.encoder)  # (B, d, t, h, w)
        return self.quantizer(z).indices

    @torch.no_grad()
    def decode_chunked(self, indices: torch.Tensor, chunk: int) -> torch.Tensor:
        """decode(), `chunk` latent frames at a time."""
        codes = self.quantizer.codes(indices).to(next(self.parameters()).dtype)  # (B, d, t, h, w)
        return self._chunked(codes, 1, chunk, self.decoder)

    def forward(self, video: torch.Tensor) -> TokenizerOutput:
        q = self.quantize(video, with_losses=True)
        return TokenizerOutput(self.decoder(q.quantized), q.indices, q)


def encoder_digest(state: dict[str, torch.Tensor]) -> str:
    """What a tokenizer's tokens mean, as 16 hex digits: a SHA-256 of its encoder's and quantizer's
    tensors (names, shapes, values rounded to fp16, so an fp16 release and its fp32 original agree).
    A decoder fine-tuned with --freeze-encoder keeps it; token files and transformers record it, so
    tokens decoded, or modelled, by another tokenizer are named (runners, pipeline.Magvit)."""
    import hashlib
    h = hashlib.sha256()
    for k in sorted(k for k in state if k.startswith(("encoder.", "quantizer."))):
        v = state[k].detach().cpu().contiguous()
        v = v.to(torch.float16) if v.is_floating_point() else v
        h.update(f"{k}:{tuple(v.shape)}:{v.dtype};".encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()[:16]
