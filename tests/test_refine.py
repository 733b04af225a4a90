"""Analysis-by-synthesis encoding (magvit_cli/refine.py) on tiny seeded tokenizers."""
import pytest
import torch

from conftest import tiny_tokenizer
from magvit_cli import refine
from magvit_cli.models.lfq import indices_to_codes


def video(frames=9, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, frames, h // 4, w // 4, generator=g) * 2 - 1  # smooth enough to be decodable
    return torch.nn.functional.interpolate(x, size=(frames, h, w), mode="trilinear")


def sq_error(tok, idx, x) -> float:
    with torch.no_grad():
        return float((tok.decode(idx) - x).pow(2).sum())


@pytest.mark.parametrize("h,w,tile", [(4, 4, 48), (5, 7, 2), (9, 3, 4), (1, 1, 1)])
def test_tiles_cover_the_grid_once(h, w, tile):
    seen = torch.zeros(h, w, dtype=torch.int64)
    for y0, y1, x0, x1 in refine._tiles(h, w, tile):
        assert 0 < y1 - y0 <= tile and 0 < x1 - x0 <= tile, f"tile {(y0, y1, x0, x1)} exceeds {tile}"
        seen[y0:y1, x0:x1] += 1
    assert bool((seen == 1).all()), f"{h}x{w} grid in tiles of {tile}: counts {seen.tolist()}"


def test_zero_steps_are_the_encoders_tokens(tokenizer):
    x = video()
    assert torch.equal(refine.refine_indices(tokenizer, x, 0), tokenizer.encode(x))


def test_search_lowers_the_error_deterministically_and_leaves_the_model_alone(tokenizer):
    x = video()
    flags = [p.requires_grad for p in tokenizer.parameters()]
    before = sq_error(tokenizer, tokenizer.encode(x), x)
    a = refine.refine_indices(tokenizer, x, 8)
    after = sq_error(tokenizer, a, x)
    assert after < before, f"8 search steps: squared error {after:.2f}, the encoder's tokens {before:.2f}"
    assert torch.equal(a, refine.refine_indices(tokenizer, x, 8)), "same input, different tokens"
    assert a.shape == (1, 3, 4, 4) and a.max() < 2 ** tokenizer.config.bits
    assert [p.requires_grad for p in tokenizer.parameters()] == flags, "requires_grad flags not restored"
    assert all(p.grad is None for p in tokenizer.parameters()), "the search left gradients on the weights"


def test_tiled_search_covers_the_frame(tokenizer):
    x = video(h=24, w=40)  # 6 x 10 latent positions in tiles of at most 3 x 4
    before = sq_error(tokenizer, tokenizer.encode(x), x)
    idx = refine.refine_indices(tokenizer, x, 6, tile=4, halo=1)
    assert idx.shape == (1, 3, 6, 10), f"tiled search made a {tuple(idx.shape)} grid, want (1, 3, 6, 10)"
    assert sq_error(tokenizer, idx, x) < before


def test_the_closer_of_the_searched_and_the_encoders_tokens_is_kept(tokenizer, monkeypatch):
    """An "optimizer" that flips every code: whichever of the flipped and the encoder's tokens
    decodes closer comes back (both outcomes occur over these inputs)."""
    class Flip:
        def __init__(self, params, lr):
            self.u = params[0]

        def zero_grad(self, set_to_none=True):
            pass

        def step(self):
            with torch.no_grad():
                self.u.neg_()

    monkeypatch.setattr(refine.torch.optim, "Adam", Flip)
    kept = []
    for seed in range(6):
        x = video(seed=seed)
        start = tokenizer.encode(x)
        flipped = start ^ (2 ** tokenizer.config.bits - 1)
        want = start if sq_error(tokenizer, start, x) <= sq_error(tokenizer, flipped, x) else flipped
        assert torch.equal(refine.refine_indices(tokenizer, x, 1), want), f"seed {seed}: not the closer tokens"
        kept.append(want is start)
    assert any(kept) and not all(kept), f"encoder's tokens kept per seed: {kept}; the test needs both cases"


def test_checkpointed_decoder_gives_the_same_values_and_gradients():
    tok = tiny_tokenizer(seed=3)
    codes = indices_to_codes(torch.randint(0, 2 ** tok.config.bits, (1, 3, 4, 4)), tok.config.bits)
    grads = []
    for ckpt in (False, True):
        c = (codes * 0.7).requires_grad_(True)
        out = tok.decode_codes(c, checkpoint=ckpt)
        out.pow(2).sum().backward()
        grads.append((out.detach(), c.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5), "checkpointing changed the codes' gradient"


def test_bad_arguments_are_refused(tokenizer):
    for kw in ({"steps": -1}, {"steps": 1, "tile": 0}, {"steps": 1, "halo": -1}, {"steps": 1, "sharpness": (0.0, 10.0)}):
        with pytest.raises(ValueError):
            refine.refine_indices(tokenizer, video(), **kw)


def test_the_sharpness_schedule_is_used_and_tasks_keep_theirs(tokenizer, monkeypatch):
    """The relaxation's sharpness a runs from sharpness[0] at the first step to sharpness[1] at
    the last; whole-frame searches default to SHARPNESS, the tasks' condition search passes
    pipeline.TASK_SHARPNESS (measured separately, weights/README.md)."""
    from magvit_cli import pipeline
    real_tanh = torch.tanh
    u_scale = []
    monkeypatch.setattr(refine.torch, "tanh", lambda x: (u_scale.append(x), real_tanh(x))[1])
    v = video()
    refine.refine_indices(tokenizer, v, 3, sharpness=(2.0, 6.0))
    with torch.no_grad():
        z = tokenizer.encoder(v).float()
    u0 = z / z.abs().mean() * 0.5
    assert torch.allclose(u_scale[0], 2.0 * u0, atol=1e-5), "the first step's sharpness is sharpness[0]"
    assert len(u_scale) == 3
    calls = []
    monkeypatch.setattr(pipeline, "refine_indices", lambda *a, **k: calls.append(k["sharpness"]) or tokenizer.encode(a[1]))
    m = pipeline.Magvit.__new__(pipeline.Magvit)
    m.notes = []  # nothing to say before the work
    m.tokenizer = tokenizer
    m.autocast = lambda: torch.autocast("cpu", enabled=False)
    m.clock = lambda name: torch.autocast("cpu", enabled=False)
    m.encode(v, 1)
    assert calls == [refine.SHARPNESS]


def test_only_large_decodes_are_checkpointed_and_the_search_is_the_same(tokenizer, monkeypatch):
    """Decodes of more than CHECKPOINT_PIXELS a frame are checkpointed in the search's backward
    pass, smaller ones not; either way the search finds the same tokens."""
    x = video()
    pixels = x.shape[-2] * x.shape[-1]
    seen = []
    decode = tokenizer.decode_codes
    monkeypatch.setattr(tokenizer, "decode_codes", lambda c, checkpoint=False: seen.append(checkpoint) or decode(c, checkpoint=checkpoint))
    found = []
    for limit in (pixels, pixels - 1):  # this frame size: not checkpointed, then checkpointed
        monkeypatch.setattr(refine, "CHECKPOINT_PIXELS", limit)
        seen.clear()
        found.append(refine.refine_indices(tokenizer, x, 3))
        backward = seen[:3]  # the 3 search steps' decodes (the final comparison never checkpoints)
        assert backward == [limit < pixels] * 3, f"limit {limit} px, frame {pixels} px: checkpoint flags {seen}"
    assert torch.equal(found[0], found[1]), "checkpointing changed the searched tokens"
