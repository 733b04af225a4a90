"""Converters: upstream-named state dicts for small configurations of Open-MAGVIT2 (video and
image) and O2-MAGVIT2 are generated here, converted, loaded strictly, and checked against a
functional re-statement of each upstream forward pass (written from the upstream model code,
SPEC section 6): same latent signs, same token indices (bit order), same decoded video."""
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from typer.testing import CliRunner

from magvit_cli.cli import app
from magvit_cli.convert import convert, convert_state
from magvit_cli.errors import MagvitError
from magvit_cli.models import VideoTokenizer, load_model

G = 32  # both upstreams hard-code 32 GroupNorm groups


# ----------------------------------------------------------------- upstream-shaped state dicts
def _fill(shapes: dict, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in shapes.items():
        if "norm" in k and k.endswith("weight"):
            out[k] = 1 + 0.1 * torch.randn(s, generator=g)
        else:
            fan = max(1, int(torch.tensor(s[1:]).prod())) if len(s) > 1 else 1
            out[k] = torch.randn(s, generator=g) / fan ** 0.5
    return out


def open_shapes(ch, mult, nres, bits, video=True):
    """Key -> shape of Open-MAGVIT2's Encoder/Decoder (improved_video_model / improved_model)."""
    c = ".conv_1" if video else ""
    k3 = (3, 3, 3) if video else (3, 3)
    k1 = (1, 1, 1) if video else (1, 1)
    s = {f"encoder.conv_in{c}.weight": (ch, 3, *k3)}

    def res(p, cin, cout):
        s.update({f"{p}.norm1.weight": (cin,), f"{p}.norm1.bias": (cin,), f"{p}.norm2.weight": (cout,),
                  f"{p}.norm2.bias": (cout,), f"{p}.conv1{c}.weight": (cout, cin, *k3), f"{p}.conv2{c}.weight": (cout, cout, *k3)})
        if cin != cout:
            s[f"{p}.nin_shortcut{c}.weight"] = (cout, cin, *k1)
    cin = ch
    for i, m in enumerate(mult):
        for j in range(nres):
            res(f"encoder.down.{i}.block.{j}", cin, ch * m)
            cin = ch * m
        if i < len(mult) - 1:
            s[f"encoder.down.{i}.downsample{c}.weight"] = (cin, cin, *k3)
            s[f"encoder.down.{i}.downsample{c}.bias"] = (cin,)
    for j in range(nres):
        res(f"encoder.mid_block.{j}", cin, cin)
    s.update({"encoder.norm_out.weight": (cin,), "encoder.norm_out.bias": (cin,),
              f"encoder.conv_out{c}.weight": (bits, cin, *k1), f"encoder.conv_out{c}.bias": (bits,)})
    cin = ch * mult[-1]
    s.update({f"decoder.conv_in{c}.weight": (cin, bits, *k3), f"decoder.conv_in{c}.bias": (cin,)})
    for j in range(nres):
        res(f"decoder.mid_block.{j}", cin, cin)
    for i in reversed(range(len(mult))):
        s.update({f"decoder.adaptive.{i}.gamma.weight": (cin, bits), f"decoder.adaptive.{i}.gamma.bias": (cin,),
                  f"decoder.adaptive.{i}.beta.weight": (cin, bits), f"decoder.adaptive.{i}.beta.bias": (cin,)})
        for j in range(nres):
            res(f"decoder.up.{i}.block.{j}", cin, ch * mult[i])
            cin = ch * mult[i]
        if i > 0:
            st = 2 if (video and mult[i - 1] != 1) else 1
            s[f"decoder.up.{i}.upsample.conv1{c}.weight"] = (cin * 4 * st, cin, *k3)
            s[f"decoder.up.{i}.upsample.conv1{c}.bias"] = (cin * 4 * st,)
    s.update({"decoder.norm_out.weight": (cin,), "decoder.norm_out.bias": (cin,),
              f"decoder.conv_out{c}.weight": (3, cin, *k3), f"decoder.conv_out{c}.bias": (3,)})
    return s


def o2_shapes(ch, mult, nres, bits, temporal):
    """Key -> shape of O2-MAGVIT2's modeling/magvit2.py Encoder/Decoder, names as upstream
    builds them (including the encoder's `res_block_0_{j}` names for later blocks)."""
    s = {"encoder.conv_first.conv.weight": (ch, 3, 3, 3, 3), "encoder.conv_first.conv.bias": (ch,)}

    def res(p, cin, cout):
        s.update({f"{p}.norm_0.norm_fn.weight": (cin,), f"{p}.norm_0.norm_fn.bias": (cin,),
                  f"{p}.norm_1.norm_fn.weight": (cout,), f"{p}.norm_1.norm_fn.bias": (cout,),
                  f"{p}.conv_0.conv.weight": (cout, cin, 3, 3, 3), f"{p}.conv_1.conv.weight": (cout, cout, 3, 3, 3)})
        if cin != cout:
            s[f"{p}.conv_shortcut.conv.weight"] = (cout, cin, 1, 1, 1)
    cin = ch
    for i, m in enumerate(mult):
        res(f"encoder.res_blocks.res_block_{i}.res_block_{i}_0", cin, ch * m)
        for j in range(1, nres):
            res(f"encoder.res_blocks.res_block_{i}.res_block_0_{j}", ch * m, ch * m)
        cin = ch * m
        if i < len(mult) - 1:
            s[f"encoder.conv_downsample_blocks.conv_downsample_{i}.conv.weight"] = (cin, cin, 3, 3, 3)
            s[f"encoder.conv_downsample_blocks.conv_downsample_{i}.conv.bias"] = (cin,)
    for j in range(nres):
        res(f"encoder.res_blocks.res_block_final.res_block_final_{j}", cin, cin)
    s.update({"encoder.final_norm.norm_fn.weight": (cin,), "encoder.final_norm.norm_fn.bias": (cin,),
              "encoder.conv_last.conv.weight": (bits, cin, 1, 1, 1), "encoder.conv_last.conv.bias": (bits,)})
    cin = ch * mult[-1]
    s.update({"decoder.conv_first.conv.weight": (cin, bits, 3, 3, 3), "decoder.conv_first.conv.bias": (cin,)})
    for j in range(nres):
        res(f"decoder.res_blocks.res_block_pre.res_block_pre_{j}", cin, cin)
    n = len(mult)
    for i in reversed(range(n)):
        k = n - 1 - i
        for a in ("gamma", "beta"):
            s.update({f"decoder.cond_norm_layers.cond_norm_{k}.{a}.weight": (cin, bits),
                      f"decoder.cond_norm_layers.cond_norm_{k}.{a}.bias": (cin,)})
        res(f"decoder.res_blocks.res_block_{k}.res_block_{k}_0", cin, ch * mult[i])
        for j in range(1, nres):
            res(f"decoder.res_blocks.res_block_{k}.res_block_{k}_{j}", ch * mult[i], ch * mult[i])
        cin = ch * mult[i]
        if i > 0:
            st = 2 if temporal[i - 1] else 1
            s[f"decoder.conv_upsample_blocks.conv_upsample_{k}.conv1.conv.weight"] = (cin * 4 * st, cin, 3, 3, 3)
            s[f"decoder.conv_upsample_blocks.conv_upsample_{k}.conv1.conv.bias"] = (cin * 4 * st,)
    s.update({"decoder.final_norm.norm_fn.weight": (cin,), "decoder.final_norm.norm_fn.bias": (cin,),
              "decoder.conv_last.conv.weight": (3, cin, 3, 3, 3), "decoder.conv_last.conv.bias": (3,)})
    return s


# ------------------------------------------------- the upstream computations, restated here
def cconv(x, w, b=None, stride=(1, 1, 1)):
    """Causal conv: zeros for kt-1 past frames, 'same' space padding, then the (strided) conv."""
    kt, kh, kw = w.shape[2:]
    return F.conv3d(F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2, kt - 1, 0)), w, b, stride)


def d2s(y, c, st):
    """Upstream depth-to-space: channels split as (dt, dy, dx, c), c fastest."""
    b, _, t, h, w = y.shape
    y = y.view(b, st, 2, 2, c, t, h, w).permute(0, 4, 5, 1, 6, 2, 7, 3)
    return y.reshape(b, c, t * st, h * 2, w * 2)


def open_adaptive_norm(sd, p, h, q):
    """GroupNorm (no affine), scale = Linear(std of the latent over all positions, unbiased),
    shift = Linear(mean); for images (4D) and videos (5D) alike."""
    flat = q.flatten(2)
    scale = F.linear((flat.var(-1) + 1e-6).sqrt(), sd[p + ".gamma.weight"], sd[p + ".gamma.bias"])
    shift = F.linear(flat.mean(-1), sd[p + ".beta.weight"], sd[p + ".beta.bias"])
    view = (*scale.shape, *[1] * (h.dim() - 2))
    return F.group_norm(h, G, eps=1e-6) * scale.view(view) + shift.view(view)


def open_forward(sd, mult, nres, x):
    """Open-MAGVIT2, video (5D x, improved_video_model) or image (4D x, improved_model).
    Video: causal convs under `.conv_1`, GroupNorm over (T,H,W) eps 1e-6, downsampling in time
    where mult != 1, the upsampler keeps frame 0 and drops frame 1; both: adaptive norm from
    the latent's std/mean. Returns latent, little-endian indices, decoded output."""
    video = x.dim() == 5
    c = ".conv_1" if video else ""
    silu = F.silu
    gn = lambda x, p: F.group_norm(x, G, sd[p + ".weight"], sd[p + ".bias"], 1e-6)

    def conv(x, p, stride=1, bias=True):
        w, b = sd[f"{p}{c}.weight"], sd.get(f"{p}{c}.bias") if bias else None
        if video:
            return cconv(x, w, b, stride if isinstance(stride, tuple) else (stride,) * 3)
        return F.conv2d(x, w, b, stride, w.shape[-1] // 2)

    def res(x, p):
        h = conv(silu(gn(x, p + ".norm1")), p + ".conv1")
        h = conv(silu(gn(h, p + ".norm2")), p + ".conv2")
        return h + (conv(x, p + ".nin_shortcut") if f"{p}.nin_shortcut{c}.weight" in sd else x)
    h = conv(x, "encoder.conv_in")
    n = len(mult)
    for i in range(n):
        for j in range(nres):
            h = res(h, f"encoder.down.{i}.block.{j}")
        if i < n - 1:
            h = conv(h, f"encoder.down.{i}.downsample", (1 if mult[i] == 1 else 2, 2, 2) if video else 2)
    for j in range(nres):
        h = res(h, f"encoder.mid_block.{j}")
    z = conv(silu(gn(h, "encoder.norm_out")), "encoder.conv_out")
    q = torch.where(z > 0, 1.0, -1.0)
    idx = ((z > 0).long() * (2 ** torch.arange(z.shape[1])).view(1, -1, *[1] * (z.dim() - 2))).sum(1)  # little-endian
    h = conv(q, "decoder.conv_in")
    for j in range(nres):
        h = res(h, f"decoder.mid_block.{j}")
    for i in reversed(range(n)):
        h = open_adaptive_norm(sd, f"decoder.adaptive.{i}", h, q)
        for j in range(nres):
            h = res(h, f"decoder.up.{i}.block.{j}")
        if i > 0:
            y = conv(h, f"decoder.up.{i}.upsample.conv1")
            if not video:  # 2D depth-to-space: channels (dy, dx, c)
                b, c4, hh, ww = y.shape
                h = y.view(b, 2, 2, c4 // 4, hh, ww).permute(0, 3, 4, 1, 5, 2).reshape(b, c4 // 4, hh * 2, ww * 2)
                continue
            st = 1 if mult[i - 1] == 1 else 2
            y = d2s(y, h.shape[1], st)
            if st == 2:
                y = torch.cat([y[:, :, :1], y[:, :, 2:]], 2) if y.shape[2] > 2 else y[:, :, :1]
            h = y
    return z, idx, conv(silu(gn(h, "decoder.norm_out")), "decoder.conv_out")


def o2_forward(sd, n, temporal, x):
    """O2-MAGVIT2: per-frame GroupNorm eps 1e-5; x * (gamma(z) + 1) + beta(z) per position with
    the latent resized (nearest) as the decoder grows; the upsampler drops the first frame;
    big-endian indices."""
    silu = F.silu

    def gn(x, p=None):
        b, c, t, h, w = x.shape
        y = x.transpose(1, 2).reshape(b * t, c, h, w)
        y = F.group_norm(y, G, sd[p + ".weight"] if p else None, sd[p + ".bias"] if p else None, 1e-5)
        return y.reshape(b, t, c, h, w).transpose(1, 2)

    def seq(x, stem):
        names = []
        for k in sd:
            if k.startswith(stem + "."):
                nm = k[len(stem) + 1:].split(".")[0]
                names += [nm] if nm not in names else []
        for nm in names:
            p = f"{stem}.{nm}"
            h = cconv(silu(gn(x, p + ".norm_0.norm_fn")), sd[p + ".conv_0.conv.weight"])
            h = cconv(silu(gn(h, p + ".norm_1.norm_fn")), sd[p + ".conv_1.conv.weight"])
            x = h + (cconv(x, sd[p + ".conv_shortcut.conv.weight"]) if p + ".conv_shortcut.conv.weight" in sd else x)
        return x
    h = cconv(x, sd["encoder.conv_first.conv.weight"], sd["encoder.conv_first.conv.bias"])
    for i in range(n):
        h = seq(h, f"encoder.res_blocks.res_block_{i}")
        if i < n - 1:
            p = f"encoder.conv_downsample_blocks.conv_downsample_{i}.conv"
            h = cconv(h, sd[p + ".weight"], sd[p + ".bias"], (2 if temporal[i] else 1, 2, 2))
    h = seq(h, "encoder.res_blocks.res_block_final")
    z = cconv(silu(gn(h, "encoder.final_norm.norm_fn")), sd["encoder.conv_last.conv.weight"], sd["encoder.conv_last.conv.bias"])
    q = torch.where(z > 0, 1.0, -1.0)
    d = z.shape[1]
    idx = ((z > 0).long() * (2 ** torch.arange(d - 1, -1, -1)).view(1, -1, 1, 1, 1)).sum(1)  # big-endian
    cond = q
    h = cconv(q, sd["decoder.conv_first.conv.weight"], sd["decoder.conv_first.conv.bias"])
    h = seq(h, "decoder.res_blocks.res_block_pre")
    for i in reversed(range(n)):
        k = n - 1 - i
        p = f"decoder.cond_norm_layers.cond_norm_{k}"
        e = cond.movedim(1, -1)
        gamma = F.linear(e, sd[p + ".gamma.weight"], sd[p + ".gamma.bias"]).movedim(-1, 1)
        beta = F.linear(e, sd[p + ".beta.weight"], sd[p + ".beta.bias"]).movedim(-1, 1)
        h = gn(h) * (gamma + 1.0) + beta
        h = seq(h, f"decoder.res_blocks.res_block_{k}")
        if i > 0:
            st = 2 if temporal[i - 1] else 1
            p = f"decoder.conv_upsample_blocks.conv_upsample_{k}.conv1.conv"
            h = d2s(cconv(h, sd[p + ".weight"], sd[p + ".bias"]), h.shape[1], st)
            cond = F.interpolate(cond, h.shape[2:], mode="nearest")
            h, cond = h[:, :, st - 1:], cond[:, :, st - 1:]
    out = cconv(silu(gn(h, "decoder.final_norm.norm_fn")), sd["decoder.conv_last.conv.weight"], sd["decoder.conv_last.conv.bias"])
    return z, idx, out


def _ours(cfg, state):
    m = VideoTokenizer(cfg)
    m.load_state_dict(state, strict=True)
    return m.eval()


def _close(a, b, what):
    err = (a - b).abs().max().item()
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), f"{what}: max abs difference {err:.2e}"


# ------------------------------------------------------------------------------------ tests
OPEN = dict(ch=32, mult=(1, 2, 2), nres=2, bits=6)


def test_open_magvit2_video_converts_exactly():
    torch.manual_seed(0)
    sd = _fill(open_shapes(**OPEN), seed=1)
    # a Lightning checkpoint also holds EMA copies (names without dots) and training-only parts
    ema = {"model_ema." + k.replace(".", ""): v + 0.01 * torch.randn_like(v) for k, v in sd.items()}
    junk = {"loss.discriminator.blocks.0.weight": torch.zeros(4), "model_ema.decay": torch.tensor(0.999),
            "model_ema.num_updates": torch.tensor(10), "model_ema.lossdiscriminatorblocks0weight": torch.zeros(4)}
    cfg, state, report = convert_state({**sd, **ema, **junk}, "open-magvit2")
    assert (cfg.channel_mult, cfg.temporal_down, cfg.num_res_blocks, cfg.bits) == ((1, 2, 2), (False, True), 2, 6)
    assert report.ema and report.used == 2 * len(sd), f"every key and its EMA copy once: {report.used} of {2 * len(sd)}"
    assert report.ignored == {"loss": 1, "model_ema": 3}, report.ignored
    model = _ours(cfg, state)
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    plain_ema = {k: ema["model_ema." + k.replace(".", "")] for k in sd}
    z, idx, out = open_forward(plain_ema, OPEN["mult"], OPEN["nres"], x)
    with torch.no_grad():
        q = model.quantize(x)
        rec = model.decode(q.indices)
    assert torch.equal(q.indices, idx), "token indices differ from Open-MAGVIT2's (little-endian bits)"
    assert rec.shape == out.shape == x.shape, f"5 frames in, {rec.shape[2]} out (upstream {out.shape[2]})"
    _close(rec, out, "decoded video vs Open-MAGVIT2")
    # --no-ema takes the raw weights instead
    cfg, state, report = convert_state({**sd, **ema, **junk}, "open-magvit2", ema=False)
    assert not report.ema and report.used == len(sd)
    with torch.no_grad():
        _close(_ours(cfg, state).decode(_ours(cfg, state).encode(x)), open_forward(sd, OPEN["mult"], OPEN["nres"], x)[2],
               "raw weights vs Open-MAGVIT2")


def test_open_magvit2_image_checkpoint_one_frame_and_inflated():
    sd = _fill(open_shapes(**OPEN, video=False), seed=2)
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    z, _, out = open_forward(sd, OPEN["mult"], OPEN["nres"], img)
    for inflate in (False, True):
        cfg, state, report = convert_state(sd, "open-magvit2", inflate=inflate)
        assert report.kind == ("image, inflated" if inflate else "image") and report.used == len(sd)
        assert cfg.temporal_down == ((False, True) if inflate else (False, False)), cfg.temporal_down
        model = _ours(cfg, state)
        with torch.no_grad():
            zq = model.encoder(img[:, :, None])
            rec = model.decode(model.encode(img[:, :, None]))
        _close(zq[:, :, 0], z, f"latent of an image (inflate={inflate})")
        _close(rec[:, :, 0], out, f"decoded image (inflate={inflate})")
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    still = img[:1, :, None].expand(1, 3, 5, 16, 16)  # a still scene: every frame the same image
    with torch.no_grad():
        assert model.decode(model.encode(video)).shape == video.shape, "the inflated tokenizer takes 1 + 2k frames"
        rec = model.decode(model.encode(still))
    # inflated kernels only see the current frame and both temporal-upsampler phases carry the
    # 2D kernel, so a still scene decodes to the same frame at every time
    _close(rec, rec[:, :, :1].expand_as(rec), "frames of a decoded still scene")


def test_o2_magvit2_converts_exactly_and_bits_are_reversed():
    temporal = (False, True)
    sd = _fill(o2_shapes(32, (1, 1, 2), 2, 5, temporal), seed=3)
    sd["quantize.mask"] = 2 ** torch.arange(4, -1, -1)
    cfg, state, report = convert_state({f"tokenizer.{k}": v for k, v in sd.items()}, "o2-magvit2")  # any prefix
    assert (cfg.channel_mult, cfg.temporal_down, cfg.num_res_blocks, cfg.bits) == ((1, 1, 2), temporal, 2, 5)
    assert report.used == len(sd) and not report.ignored
    model = _ours(cfg, state)
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    z, idx, out = o2_forward(sd, 3, temporal, x)
    with torch.no_grad():
        q = model.quantize(x)
        rec = model.decode(q.indices)
    assert torch.equal(q.indices, idx), "token indices differ from O2-MAGVIT2's big-endian ones"
    assert rec.shape == out.shape == x.shape
    _close(rec, out, "decoded video vs O2-MAGVIT2")
    bad = dict(sd, **{"quantize.mask": 2 ** torch.arange(5)})
    with pytest.raises(MagvitError, match="big-endian"):
        convert_state(bad, "o2-magvit2")


def test_converter_rejects_unknown_and_missing_keys():
    sd = _fill(open_shapes(**OPEN), seed=4)
    with pytest.raises(MagvitError, match="not converted"):
        convert_state({**sd, "encoder.extra.weight": torch.zeros(3)}, "open-magvit2")
    missing = dict(sd)
    del missing["decoder.adaptive.1.beta.bias"]
    with pytest.raises(MagvitError, match="decoder.adaptive.1.beta.bias"):
        convert_state(missing, "open-magvit2")
    wrong = dict(sd, **{"encoder.norm_out.weight": torch.ones(7)})
    with pytest.raises(MagvitError, match="encoder.norm_out.weight"):
        convert_state(wrong, "open-magvit2")
    with pytest.raises(MagvitError, match="conv_first.*looks like --from open-magvit2"):
        convert_state(sd, "o2-magvit2")
    with pytest.raises(MagvitError, match="neither"):
        convert_state({"foo.weight": torch.zeros(1)}, "open-magvit2")


def test_weights_convert_cli_and_the_result_works_in_reconstruct(tmp_path):
    from conftest import make_video
    sd = _fill(open_shapes(**OPEN), seed=5)
    save_file(sd, str(tmp_path / "up.safetensors"))
    torch.save({"state_dict": sd}, tmp_path / "up.ckpt")
    r = CliRunner().invoke(app, ["weights", "convert", "--from", "open-magvit2", str(tmp_path / "up.safetensors"),
                                 str(tmp_path / "conv"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["used"] == len(sd) and res["config"]["bits"] == 6
    tok = load_model(tmp_path / "conv", expect="tokenizer")
    assert tok.config.norm_over == "clip" and tok.config.adanorm == "global"
    clip = make_video(tmp_path / "in.mp4", frames=5, width=32, height=16)
    r = CliRunner().invoke(app, ["reconstruct", str(clip), "--weights", str(tmp_path / "conv"), "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 5
    r = CliRunner().invoke(app, ["tokenize", str(clip), "--weights", str(tmp_path / "conv"), "--device", "cpu", "--json",
                                 "-o", str(tmp_path / "t.safetensors")])
    assert r.exit_code == 0 and json.loads(r.stdout.strip().splitlines()[-1])["bits"] == 6, r.output
    # a Lightning pickle needs --allow-pickle, and then loads with weights_only
    r = CliRunner().invoke(app, ["weights", "convert", "--from", "open-magvit2", str(tmp_path / "up.ckpt"), str(tmp_path / "c2")])
    assert r.exit_code != 0 and "--allow-pickle" in r.output
    r = CliRunner().invoke(app, ["--allow-pickle", "weights", "convert", "--from", "open-magvit2", str(tmp_path / "up.ckpt"),
                                 str(tmp_path / "c2"), "--half"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["weights", "convert", "--from", "nope", str(tmp_path / "up.safetensors"), str(tmp_path / "c3")])
    assert r.exit_code == 2 and "--from" in r.output
    r = CliRunner().invoke(app, ["weights", "convert", "--from", "open-magvit2", str(tmp_path / "up.safetensors"), str(tmp_path / "conv")])
    assert r.exit_code == 2 and "exists" in r.output


def test_converted_tokenizer_trains_a_transformer(tmp_path):
    from magvit_cli.train.transformer import TransformerTrainConfig, train_transformer
    sd = _fill(o2_shapes(32, (1, 2), 1, 4, (True,)), seed=6)
    path, cfg, _ = convert(_save(sd, tmp_path / "o2.safetensors"), tmp_path / "tok", "o2-magvit2")
    out = train_transformer(TransformerTrainConfig(out=tmp_path / "tr", tokenizer=str(path), cache_clips=8, cache_variants=2,
                                                   preset="tiny", frames=5, size=16, steps=2, batch=2, warmup=1, quiet=True,
                                                   eval_every=1000))
    assert load_model(out, expect="transformer").config.bits == 4


def _save(sd, path):
    save_file(sd, str(path))
    return path
