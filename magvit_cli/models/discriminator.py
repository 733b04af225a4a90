"""StyleGAN-style 3D discriminator for tokenizer training (MAGVIT-v2, SPEC section 4).

Residual blocks of 3^3 convs with leaky ReLU and blur-pool downsampling (a [1, 2, 1] binomial
filter before a stride-2 subsample, in space always and in time while T > 1), global average
pooling and a linear logit, so any clip size works. R1 and LeCam regularizers live here too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DiscriminatorConfig:
    channels: int = 32  # first width, doubled per block up to max_channels
    max_channels: int = 128  # cap on the width
    blocks: int = 3  # downsampling residual blocks


def blur_pool(x: torch.Tensor) -> torch.Tensor:
    """Binomial [1, 2, 1] blur then stride-2 subsample in H, W (and T when T > 1). (B, C, T, H, W)"""
    c = x.shape[1]
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype) / 4
    time = x.shape[2] > 1
    kt = k if time else torch.ones(1, device=x.device, dtype=x.dtype)
    kernel = (kt.view(-1, 1, 1) * k.view(1, -1, 1) * k.view(1, 1, -1)).expand(c, 1, -1, -1, -1)
    pad = (1, 1, 1, 1, 1, 1) if time else (1, 1, 1, 1, 0, 0)
    return F.conv3d(F.pad(x, pad, mode="replicate"), kernel, stride=(2 if time else 1, 2, 2), groups=c)


class DiscBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv3d(cout, cout, 3, padding=1)
        self.skip = nn.Conv3d(cin, cout, 1, bias=False)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = blur_pool(F.leaky_relu(self.conv2(h), 0.2))
        return (h + self.skip(blur_pool(x))) / 2 ** 0.5


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = cfg
        self.conv_in = nn.Conv3d(3, cfg.channels, 3, padding=1)
        blocks, c = [], cfg.channels
        for _ in range(cfg.blocks):
            blocks.append(DiscBlock(c, min(2 * c, cfg.max_channels)))
            c = min(2 * c, cfg.max_channels)
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(c, 1)

    def forward(self, x):  # (B, 3, T, H, W) -> (B,) logits
        h = self.blocks(F.leaky_relu(self.conv_in(x), 0.2))
        return self.out(h.mean((2, 3, 4))).squeeze(1)


def r1_penalty(disc: Discriminator, real: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||^2 on real clips."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


class LeCam(nn.Module):
    """LeCam regularizer: keeps D's outputs near EMAs of its outputs on the other kind of input."""

    def __init__(self, decay: float = 0.99):
        super().__init__()
        self.decay = decay
        self.register_buffer("ema_real", torch.zeros(()))
        self.register_buffer("ema_fake", torch.zeros(()))

    def forward(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.ema_real.mul_(self.decay).add_((1 - self.decay) * d_real.mean())
            self.ema_fake.mul_(self.decay).add_((1 - self.decay) * d_fake.mean())
        return F.relu(d_real - self.ema_fake).pow(2).mean() + F.relu(self.ema_real - d_fake).pow(2).mean()
