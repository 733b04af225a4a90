import pytest
import torch

from conftest import tiny_tokenizer


@pytest.mark.parametrize("frames,latent", [(1, 1), (5, 2), (9, 3), (17, 5)])
def test_frame_counts(tokenizer, frames, latent):
    x = torch.rand(1, 3, frames, 16, 16) * 2 - 1
    idx = tokenizer.encode(x)
    assert idx.shape == (1, latent, 4, 4), f"{frames} frames gave latent {tuple(idx.shape)}, expected {latent} frames"
    y = tokenizer.decode(idx)
    assert y.shape == x.shape, f"decoded {tuple(y.shape)} from {frames} frames"


@pytest.mark.parametrize("frames", [2, 4, 16])
def test_bad_length_is_a_clear_error(tokenizer, frames):
    with pytest.raises(ValueError, match=r"1 \+ k\*4"):
        tokenizer.encode(torch.zeros(1, 3, frames, 16, 16))


def test_bad_size_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="multiples of 4"):
        tokenizer.encode(torch.zeros(1, 3, 1, 18, 16))


CAUSAL_VARIANTS = {
    "ours": {},
    "o2-magvit2 layout": dict(upsample_keeps_width=True, conv_in_bias=True),
    "keep first upsampled frame": dict(time_upsample_keep="first", upsample_keeps_width=True),
}


@pytest.mark.parametrize("variant", list(CAUSAL_VARIANTS))
def test_encoder_and_decoder_are_causal(variant):
    tok = tiny_tokenizer(seed=1, **CAUSAL_VARIANTS[variant])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 17, 16, 16, generator=g) * 2 - 1
    for t in (0, 4, 8, 12):  # last frame of latent frames 0..3
        y = x.clone()
        y[:, :, t + 1:] = torch.rand(y[:, :, t + 1:].shape, generator=g) * 2 - 1
        with torch.no_grad():
            za, zb = tok.encoder(x), tok.encoder(y)
        lt = (t + 3) // 4  # latent frame holding frame t
        assert torch.allclose(za[:, :, :lt + 1], zb[:, :, :lt + 1], atol=1e-6), \
            f"changing frames after {t} changed latent frames <= {lt}"
        assert not torch.allclose(za, zb), "changing the future should change later latents"
    # decoder: changing latent frames after k leaves decoded frames up to 4k unchanged
    idx = tok.encode(x)
    for k in range(4):
        j = idx.clone()
        j[:, k + 1:] = (j[:, k + 1:] + 5) % 64
        a, b = tok.decode(idx), tok.decode(j)
        last = 4 * k
        assert torch.allclose(a[:, :, :last + 1], b[:, :, :last + 1], atol=1e-6), \
            f"changing latent frames after {k} changed decoded frames <= {last}"
        assert not torch.allclose(a, b)


def test_clip_statistics_are_not_causal_and_bad_options_are_named():
    """Open-MAGVIT2's (T,H,W) GroupNorm and global adaptive norm, available for converted
    weights, let later frames change earlier latents: the documented price of exactness."""
    tok = tiny_tokenizer(seed=1, norm_over="clip", adanorm="global")
    x = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    y = x.clone()
    y[:, :, 5:] = -y[:, :, 5:]
    with torch.no_grad():
        assert not torch.allclose(tok.encoder(x)[:, :, 0], tok.encoder(y)[:, :, 0])
    for field, bad in (("norm_over", "time"), ("adanorm", "local"), ("time_upsample_keep", "middle")):
        with pytest.raises(ValueError, match=field):
            tiny_tokenizer(**{field: bad})


def test_image_is_a_one_frame_video(tokenizer):
    img = torch.rand(2, 3, 1, 16, 16) * 2 - 1
    out = tokenizer(img)
    assert out.reconstruction.shape == img.shape and out.indices.shape == (2, 1, 4, 4)
    # the first frame of a video is tokenized exactly like the image
    vid = torch.cat([img, torch.rand(2, 3, 4, 16, 16)], 2)
    assert torch.equal(tokenizer.encode(vid)[:, :1], tokenizer.encode(img))


def test_training_forward_has_finite_losses_and_grads(tokenizer):
    tokenizer.train()
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    out = tokenizer(x)
    loss = (out.reconstruction - x).abs().mean() + out.lfq.commitment + 0.1 * out.lfq.entropy
    loss.backward()
    grads = [p.grad for p in tokenizer.encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("variant", [*CAUSAL_VARIANTS, "clip statistics"])
@pytest.mark.parametrize("frames", [1, 9])
def test_inference_in_place_matches_the_autograd_path(variant, frames, monkeypatch):
    """Without autograd the tokenizer normalizes, swishes and pads in place (less memory at full
    resolution); the arithmetic is the training path's, inputs are left as they were."""
    from magvit_cli.models import tokenizer as module
    kw = dict(norm_over="clip", adanorm="global") if variant == "clip statistics" else CAUSAL_VARIANTS[variant]
    tok = tiny_tokenizer(seed=2, **kw)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in tok.parameters():  # past the init (adaptive norms start as identity)
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    calls, real = [], module.center_
    monkeypatch.setattr(module, "center_", lambda *a: calls.append(a) or real(*a))
    x = torch.rand(1, 3, frames, 16, 24, generator=g) * 2 - 1
    codes = torch.randn(1, 6, 1 + (frames - 1) // 4, 4, 6, generator=g).sign()
    x0, codes0 = x.clone(), codes.clone()
    with torch.no_grad():
        z_lean, y_lean = tok.encoder(x), tok.decoder(codes)
    lean_calls = len(calls)
    z, y = tok.encoder(x).detach(), tok.decoder(codes).detach()
    assert len(calls) == lean_calls, "the autograd path took the in-place one"
    assert (lean_calls > 0) == (variant != "clip statistics"), f"in-place path taken {lean_calls} times for {variant}"
    assert torch.equal(x, x0) and torch.equal(codes, codes0), "the in-place path changed its input"
    for name, a, b in (("encoder", z_lean, z), ("decoder", y_lean, y)):
        err = (a - b).abs().max().item()
        assert err < 1e-5, f"{name}: in-place path differs from the autograd path by {err:.2e} ({variant}, {frames} frames)"


@pytest.mark.parametrize("variant", list(CAUSAL_VARIANTS))
@pytest.mark.parametrize("grad", [False, True], ids=["in place", "autograd path"])
def test_a_window_run_a_chunk_at_a_time_is_the_whole_window(variant, grad):
    """encode_chunked/decode_chunked run a window a few latent frames at a time (each causal conv
    keeping the frames its next output needs), in a chunk's memory: the same latents and frames as
    the whole window, for every chunk size, on both inference paths and every causal variant."""
    tok = tiny_tokenizer(seed=4, **CAUSAL_VARIANTS[variant])
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in tok.parameters():  # past the init (adaptive norms start as identity)
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    x = torch.rand(1, 3, 13, 16, 24, generator=g) * 2 - 1  # 4 latent frames
    codes = torch.randn(1, 6, 4, 4, 6, generator=g).sign()
    with torch.set_grad_enabled(grad):
        z, y = tok.encoder(x).detach(), tok.decoder(codes).detach()
        for chunk in (1, 2, 3, 4):
            zc = tok._chunked(x, 4, chunk, tok.encoder).detach()
            yc = tok._chunked(codes, 1, chunk, tok.decoder).detach()
            assert zc.shape == z.shape and yc.shape == y.shape, f"chunk {chunk}: {tuple(zc.shape)}, {tuple(yc.shape)}"
            for name, a, b in (("encoder", zc, z), ("decoder", yc, y)):
                err = (a - b).abs().max().item()
                assert err < 1e-5, f"{name}, {chunk} latent frames at a time: {err:.2e} off the whole window ({variant})"
    idx = tok.encode(x)
    assert torch.equal(tok.encode_chunked(x, 1), idx)
    assert (tok.decode_chunked(idx, 2) - tok.decode(idx)).abs().max() < 1e-5
    clip = tiny_tokenizer(seed=4, norm_over="clip", adanorm="global")
    assert not clip.chunkable
    with pytest.raises(ValueError, match="whole clip"):
        clip.encode_chunked(x, 1)
