"""`magvit weights convert`: the open MAGVIT-v2 video tokenizers (SPEC section 6) as this
project's tokenizer.

- `open-magvit2`: TencentARC's Open-MAGVIT2 (SEED-Voken) causal video tokenizer, a Lightning
  checkpoint (`encoder.down.{i}.block.{j}...`, 3D convs under `.conv_1`, EMA copies under
  `model_ema.<key without dots>`), or one of its image tokenizers (the same names in 2D):
  converted as a per-frame tokenizer, or with `inflate` by the 2D-to-3D inflation of SPEC
  section 4 (each 2D kernel in the last temporal slice, zeros before it; the temporal
  upsampler's kernel repeated for both output frames), with Open-MAGVIT2's temporal layout.
- `o2-magvit2`: cofe-ai's O2-MAGVIT2 (`encoder.res_blocks.res_block_{i}...`, big-endian bits in
  `quantize.mask`).

The architecture is read from the weights' shapes (no upstream config file is needed) and set
through TokenizerConfig's upstream fields, so the converted model computes what the upstream
code computes. Two layouts differ and are rewritten in the weights instead: the upstream
depth-to-space channel order (time, row, column, channel) becomes ours (channel, time, row,
column), and O2-MAGVIT2's big-endian latent channels are reversed so our little-endian indices
equal its indices. Every encoder/decoder key is used exactly once; keys of training-only parts
(discriminator, perceptual network, EMA bookkeeping) are listed as ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from .errors import MagvitError, UsageError
from .models import TokenizerConfig, VideoTokenizer, save_model
from .models.io import load_pickle_state

SOURCES = ("open-magvit2", "o2-magvit2")


@dataclass
class Report:
    source: str
    kind: str  # "video" | "image" | "image, inflated"
    used: int = 0  # upstream tensors consumed
    ema: bool = False
    ignored: dict[str, int] = field(default_factory=dict)  # ignored key prefix -> count


def read_state(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """A safetensors file, or (with allow_pickle) a pickled checkpoint read with
    torch.load(weights_only=True); a folder means the one weights file inside it."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".ckpt", ".pt", ".bin", ".pth"))
        if len(files) != 1:
            raise UsageError(f"{path}: expected one weights file inside, found {[p.name for p in files] or 'none'}")
        path = files[0]
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as e:
            raise MagvitError(f"{path} is not a readable safetensors file ({e})") from None
    return load_pickle_state(path, allow_pickle)


class Keys:
    """Upstream tensors by name; `take` hands each out once and remembers it. With `ema`
    (the EMA prefix of a Lightning LitEma, which stores each parameter under its name with the
    dots removed), take returns the EMA copy and consumes both."""

    def __init__(self, state: dict[str, torch.Tensor], prefix: str, ema: str | None = None):
        self.state, self.prefix, self.ema, self.used = state, prefix, ema, set()

    def has(self, key: str) -> bool:
        return self.prefix + key in self.state

    def _take(self, full: str) -> torch.Tensor:
        if full not in self.state:
            raise MagvitError(f"upstream key {full} is missing")
        if full in self.used:
            raise MagvitError(f"upstream key {full} would be used twice")
        self.used.add(full)
        return self.state[full].float()

    def take(self, key: str) -> torch.Tensor:
        t = self._take(self.prefix + key)
        return t if self.ema is None else self._take(self.ema + key.replace(".", ""))

    def numbered(self, stem: str) -> list[int]:
        """Sorted distinct integers i of keys `stem{i}.`."""
        rx = re.compile(re.escape(self.prefix + stem) + r"(\d+)\.")
        return sorted({int(m.group(1)) for k in self.state if (m := rx.match(k))})

    def children(self, stem: str) -> list[str]:
        """Distinct child names under `stem` (e.g. the blocks of an nn.Sequential), in key order."""
        out = []
        for k in self.state:
            if k.startswith(self.prefix + stem):
                name = k[len(self.prefix + stem):].split(".")[0]
                if name not in out:
                    out.append(name)
        return out


_SIGNATURES = {"open-magvit2": ("encoder.conv_in.conv_1.weight", "encoder.conv_in.weight"),
               "o2-magvit2": ("encoder.conv_first.conv.weight",)}


def _find_prefix(state: dict, probe: str) -> str:
    for k in state:
        if k.endswith(probe):
            return k[: -len(probe)]
    other = [name for name, keys in _SIGNATURES.items() if probe not in keys and any(k.endswith(keys) for k in state)]
    hint = f"; it looks like --from {other[0]}" if other else "; neither Open-MAGVIT2 nor O2-MAGVIT2 key names were found"
    raise MagvitError(f"not a checkpoint of this kind: no key ending in {probe}{hint}")


def _ours_from_d2s(t: torch.Tensor, channels: int, st: int) -> torch.Tensor:
    """Upsampler conv output channels: upstream order (dt, dy, dx, c) -> ours (c, dt, dy, dx)."""
    rest = t.shape[1:]
    return t.reshape(st, 2, 2, channels, *rest).movedim(3, 0).reshape(channels * st * 4, *rest)


def _fit(src: torch.Tensor, like: torch.Tensor, key: str) -> torch.Tensor:
    """A 2D kernel into our 3D one (last temporal slice, zeros before: causal inflation)."""
    if src.dim() == 4 and like.dim() == 5:
        out = torch.zeros_like(like)
        out[:, :, -1] = src
        src = out
    if src.shape != like.shape:
        raise MagvitError(f"upstream {key}: shape {tuple(src.shape)} does not fit {tuple(like.shape)}")
    return src


class Target:
    """Our state dict being filled from the upstream keys."""

    def __init__(self, cfg: TokenizerConfig, keys: Keys):
        self.ours, self.keys, self.out = VideoTokenizer(cfg).state_dict(), keys, {}

    def put(self, our_key: str, up_key: str, fn=None):
        t = self.keys.take(up_key)
        self.out[our_key] = _fit(fn(t) if fn else t, self.ours[our_key], up_key)

    def resblock(self, our: str, up: str, names: tuple, shortcut: str):
        """One ResBlock: `names` pairs our sub-keys with upstream ones; the 1^3 shortcut when ours has one."""
        for a, b in names:
            self.put(f"{our}.{a}", f"{up}.{b}")
        if f"{our}.shortcut.weight" in self.ours:
            self.put(f"{our}.shortcut.weight", f"{up}.{shortcut}")


# ------------------------------------------------------------------------------ Open-MAGVIT2
def _open_magvit2(state: dict, inflate: bool, ema: bool) -> tuple[TokenizerConfig, dict, Report]:
    video = any(k.endswith("encoder.conv_in.conv_1.weight") for k in state)
    prefix = _find_prefix(state, "encoder.conv_in.conv_1.weight" if video else "encoder.conv_in.weight")
    if video and inflate:
        raise UsageError("--inflate is for image checkpoints; this one is already a video tokenizer")
    conv = ".conv_1" if video else ""
    use_ema = ema and any(key.startswith(prefix + "model_ema.") for key in state)
    k = Keys(state, prefix, ema=prefix + "model_ema." if use_ema else None)
    levels, blocks = k.numbered("encoder.down."), k.numbered("encoder.down.0.block.")
    ch = k.state[prefix + f"encoder.conv_in{conv}.weight"].shape[0]
    mult = tuple(k.state[prefix + f"encoder.down.{i}.block.0.conv1{conv}.weight"].shape[0] // ch for i in levels)
    bits = k.state[prefix + f"encoder.conv_out{conv}.weight"].shape[0]
    if video:  # temporal upsampling shows in the upsampler's width: 8C for 2x2x2, 4C for 1x2x2
        temporal = tuple(k.state[prefix + f"decoder.up.{i}.upsample.conv1.conv_1.weight"].shape[0] == 8 * ch * mult[i]
                         for i in levels[1:])
    else:  # Open-MAGVIT2's video rule: a stage with multiplier 1 downsamples only in space
        temporal = tuple(inflate and m != 1 for m in mult[:-1])
    cfg = TokenizerConfig(channels=ch, channel_mult=mult, num_res_blocks=len(blocks), temporal_down=temporal, bits=bits,
                          norm_groups=32, norm_eps=1e-6, norm_over="clip" if (video or inflate) else "frame",
                          adanorm="global", upsample_keeps_width=True, time_upsample_keep="first", conv_in_bias=False)
    tgt = Target(cfg, k)
    put = tgt.put
    names = (("norm1.weight", "norm1.weight"), ("norm1.bias", "norm1.bias"), ("norm2.weight", "norm2.weight"),
             ("norm2.bias", "norm2.bias"), ("conv1.conv.weight", f"conv1{conv}.weight"), ("conv2.conv.weight", f"conv2{conv}.weight"))
    resblock = lambda our, up: tgt.resblock(our, up, names, f"nin_shortcut{conv}.weight")

    put("encoder.conv_in.conv.weight", f"encoder.conv_in{conv}.weight")
    for i in levels:
        for j in blocks:
            resblock(f"encoder.stages.{i}.blocks.{j}", f"encoder.down.{i}.block.{j}")
        if i < len(levels) - 1:
            for p in ("weight", "bias"):
                put(f"encoder.stages.{i}.down.conv.conv.{p}", f"encoder.down.{i}.downsample{conv}.{p}")
    for j in blocks:
        resblock(f"encoder.mid.{j}", f"encoder.mid_block.{j}")
        resblock(f"decoder.mid.{j}", f"decoder.mid_block.{j}")
    for p in ("weight", "bias"):
        put(f"encoder.norm_out.{p}", f"encoder.norm_out.{p}")
        put(f"encoder.conv_out.{p}", f"encoder.conv_out{conv}.{p}")
        put(f"decoder.conv_in.conv.{p}", f"decoder.conv_in{conv}.{p}")
        put(f"decoder.norm_out.{p}", f"decoder.norm_out.{p}")
        put(f"decoder.conv_out.conv.{p}", f"decoder.conv_out{conv}.{p}")
    n = len(levels)
    for i in levels:
        s = n - 1 - i  # our decoder stages run from the deepest level up
        for p in ("weight", "bias"):
            put(f"decoder.stages.{s}.adanorm.scale.{p}", f"decoder.adaptive.{i}.gamma.{p}")
            put(f"decoder.stages.{s}.adanorm.shift.{p}", f"decoder.adaptive.{i}.beta.{p}")
        for j in blocks:
            resblock(f"decoder.stages.{s}.blocks.{j}", f"decoder.up.{i}.block.{j}")
        if i > 0:
            width, st = ch * mult[i], 2 if temporal[i - 1] else 1
            for p in ("weight", "bias"):
                def up(t, width=width, st=st):
                    if not video and st == 2:  # inflation: both output frames get the 2D kernel
                        t = torch.cat([t, t], dim=0)
                    return _ours_from_d2s(t, width, st)
                put(f"decoder.stages.{s}.up.conv.conv.{p}", f"decoder.up.{i}.upsample.conv1{conv}.{p}", up)
    kind = "video" if video else ("image, inflated" if inflate else "image")
    report = Report("open-magvit2", kind, ema=use_ema)
    owned = ("encoder.", "decoder.") + (("model_ema.encoder", "model_ema.decoder") if use_ema else ())
    _check_all_used(state, prefix, k.used, report, owned, ignore=())
    return cfg, tgt.out, report


# ------------------------------------------------------------------------------- O2-MAGVIT2
_O2_RES = (("norm1.weight", "norm_0.norm_fn.weight"), ("norm1.bias", "norm_0.norm_fn.bias"),
           ("norm2.weight", "norm_1.norm_fn.weight"), ("norm2.bias", "norm_1.norm_fn.bias"), ("conv1.conv.weight", "conv_0.conv.weight"), ("conv2.conv.weight", "conv_1.conv.weight"))


def _o2_magvit2(state: dict, inflate: bool) -> tuple[TokenizerConfig, dict, Report]:
    if inflate:
        raise UsageError("--inflate applies to Open-MAGVIT2 image checkpoints; O2-MAGVIT2's video tokenizer needs none")
    prefix = _find_prefix(state, "encoder.conv_first.conv.weight")
    k = Keys(state, prefix)
    levels = [int(x.rsplit("_", 1)[1]) for x in k.children("encoder.res_blocks.") if re.fullmatch(r"res_block_\d+", x)]
    levels.sort()
    enc_blocks = [k.children(f"encoder.res_blocks.res_block_{i}.") for i in levels]  # upstream names, in order
    ch = k.state[prefix + "encoder.conv_first.conv.weight"].shape[0]
    mult = tuple(k.state[prefix + f"encoder.res_blocks.res_block_{i}.{enc_blocks[i][0]}.conv_0.conv.weight"].shape[0] // ch
                 for i in levels)
    n = len(levels)
    bits = k.state[prefix + "encoder.conv_last.conv.weight"].shape[0]
    temporal = tuple(k.state[prefix + f"decoder.conv_upsample_blocks.conv_upsample_{n - 1 - i}.conv1.conv.weight"].shape[0]
                     == 8 * ch * mult[i] for i in levels[1:])
    nblocks = len(enc_blocks[0])
    cfg = TokenizerConfig(channels=ch, channel_mult=mult, num_res_blocks=nblocks, temporal_down=temporal, bits=bits,
                          norm_groups=32, norm_eps=1e-5, norm_over="frame", adanorm="spatial",
                          upsample_keeps_width=True, time_upsample_keep="last", conv_in_bias=True)
    if k.has("quantize.mask"):  # big-endian: bit i weighs 2^(d-1-i); reversing the latent channels makes it ours
        mask = k.take("quantize.mask").long()
        if not torch.equal(mask, 2 ** torch.arange(bits - 1, -1, -1)):
            raise MagvitError(f"quantize.mask is not the big-endian bit order this converter expects: {mask.tolist()}")
    tgt = Target(cfg, k)
    put = tgt.put
    resblock = lambda our, up: tgt.resblock(our, up, _O2_RES, "conv_shortcut.conv.weight")

    flip_out = lambda t: t.flip(0)  # latent channel order: big-endian -> little-endian
    flip_in = lambda t: t.flip(1)
    for p in ("weight", "bias"):
        put(f"encoder.conv_in.conv.{p}", f"encoder.conv_first.conv.{p}")
        put(f"encoder.norm_out.{p}", f"encoder.final_norm.norm_fn.{p}")
        put(f"encoder.conv_out.{p}", f"encoder.conv_last.conv.{p}", flip_out)
        put(f"decoder.norm_out.{p}", f"decoder.final_norm.norm_fn.{p}")
        put(f"decoder.conv_out.conv.{p}", f"decoder.conv_last.conv.{p}")
    put("decoder.conv_in.conv.weight", "decoder.conv_first.conv.weight", flip_in)
    put("decoder.conv_in.conv.bias", "decoder.conv_first.conv.bias")
    for i in levels:
        for j, name in enumerate(enc_blocks[i]):
            resblock(f"encoder.stages.{i}.blocks.{j}", f"encoder.res_blocks.res_block_{i}.{name}")
        if i < n - 1:
            for p in ("weight", "bias"):
                put(f"encoder.stages.{i}.down.conv.conv.{p}", f"encoder.conv_downsample_blocks.conv_downsample_{i}.conv.{p}")
    for j, name in enumerate(k.children("encoder.res_blocks.res_block_final.")):
        resblock(f"encoder.mid.{j}", f"encoder.res_blocks.res_block_final.{name}")
    for j, name in enumerate(k.children("decoder.res_blocks.res_block_pre.")):
        resblock(f"decoder.mid.{j}", f"decoder.res_blocks.res_block_pre.{name}")
    for s in range(n):  # upstream numbers the decoder's levels from the deepest, as we do
        i = n - 1 - s
        norm = f"decoder.cond_norm_layers.cond_norm_{s}"
        # x * (gamma(z) + 1) + beta(z), per position: a Linear is our 1^3 conv, the +1 goes into the bias
        conv_w = lambda t: t.flip(1)[:, :, None, None, None]
        put(f"decoder.stages.{s}.adanorm.scale.weight", f"{norm}.gamma.weight", conv_w)
        put(f"decoder.stages.{s}.adanorm.scale.bias", f"{norm}.gamma.bias", lambda t: t + 1)
        put(f"decoder.stages.{s}.adanorm.shift.weight", f"{norm}.beta.weight", conv_w)
        put(f"decoder.stages.{s}.adanorm.shift.bias", f"{norm}.beta.bias")
        for j, name in enumerate(k.children(f"decoder.res_blocks.res_block_{s}.")):
            resblock(f"decoder.stages.{s}.blocks.{j}", f"decoder.res_blocks.res_block_{s}.{name}")
        if i > 0:
            width, st = ch * mult[i], 2 if temporal[i - 1] else 1
            for p in ("weight", "bias"):
                put(f"decoder.stages.{s}.up.conv.conv.{p}", f"decoder.conv_upsample_blocks.conv_upsample_{s}.conv1.conv.{p}",
                    lambda t, width=width, st=st: _ours_from_d2s(t, width, st))
    report = Report("o2-magvit2", "video")
    _check_all_used(state, prefix, k.used, report, ("encoder.", "decoder.", "quantize."), ignore=())
    return cfg, tgt.out, report


def _check_all_used(state, prefix, used, report: Report, owned: tuple, ignore: tuple):
    """Every key of the parts we convert must have been used; the rest is listed as ignored."""
    left = [k for k in state if k not in used]
    missed = [k for k in left if k[len(prefix):].startswith(owned) and not k[len(prefix):].startswith(ignore)]
    if missed:
        raise MagvitError(f"{len(missed)} upstream key(s) not converted, e.g. {missed[:3]}: an architecture this converter does not know")
    for key in left:
        rest = key[len(prefix):] if key.startswith(prefix) else key
        head = rest.split(".")[0] if not rest.startswith("model_ema.") else "model_ema"
        report.ignored[head] = report.ignored.get(head, 0) + 1
    report.used = len(used)


def convert_state(state: dict, source: str, inflate: bool = False, ema: bool = True):
    """(TokenizerConfig, our state dict, Report) for an upstream state dict."""
    if source == "open-magvit2":
        return _open_magvit2(state, inflate, ema)
    if source == "o2-magvit2":
        return _o2_magvit2(state, inflate)
    raise UsageError(f"--from must be one of {', '.join(SOURCES)}, got {source!r}")


def convert(src: str | Path, dst: str | Path, source: str, inflate: bool = False, ema: bool = True,
            allow_pickle: bool = False, half: bool = False) -> tuple[Path, TokenizerConfig, Report]:
    """Convert an upstream checkpoint into a tokenizer folder (config.json + model.safetensors)."""
    state = read_state(src, allow_pickle)
    cfg, ours, report = convert_state(state, source, inflate, ema)
    model = VideoTokenizer(cfg)
    model.load_state_dict(ours, strict=True)
    meta = {"converted_from": str(src), "source": source, "kind": report.kind, "ema": str(report.ema)}
    path = save_model(model, dst, metadata=meta, dtype=torch.float16 if half else torch.float32)
    return path, cfg, report
