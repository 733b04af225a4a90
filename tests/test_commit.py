
import pytest
import torch

from conftest import tiny_transformer
from magvit_cli import commit
from magvit_cli.models import MaskedTransformer, TransformerConfig


def test_cosine_remask_counts_match_spec():
    assert commit.remask_counts(1024, 12, "cosine") == [1015, 989, 946, 886, 812, 724, 623, 512, 391, 265, 133, 0]


@pytest.mark.parametrize("kind", ["uniform", "exp"])
def test_other_schedules_decrease_to_zero(kind):
    counts = commit.remask_counts(1024, 12, kind)
    assert counts[-1] == 0 and all(a > b for a, b in zip(counts, counts[1:])), counts


def _run(model, seed, steps=4, **kw):
    n = model.config.num_tokens
    g = torch.Generator().manual_seed(123)
    z_cond = torch.randint(0, 64, (2, n), generator=g)
    cond = torch.zeros(n, dtype=torch.bool)
    cond[: n // 2] = True
    gen = torch.Generator().manual_seed(seed)
    return commit.decode(model, z_cond, cond, torch.tensor([1, 1]), torch.tensor([0, 3]), steps=steps,
                         generator=gen, **kw)


def test_same_seed_same_tokens_different_seed_differs(transformer):
    a, b, c = _run(transformer, 0), _run(transformer, 0), _run(transformer, 1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (2, transformer.config.num_tokens) and a.max() < 64 and a.min() >= 0


def test_committed_tokens_never_change(transformer):
    seen = []
    _run(transformer, 0, steps=6, on_step=lambda t, tok, unk: seen.append((tok.clone(), unk.clone())))
    assert len(seen) == 6 and seen[-1][1].sum() == 0
    for (tok_a, unk_a), (tok_b, _) in zip(seen, seen[1:]):
        committed = ~unk_a
        assert committed.any()
        assert torch.equal(tok_a[committed], tok_b[committed]), "a committed token changed"


def test_return_probs_gives_each_token_its_commit_distribution(transformer):
    """The same tokens as without it; distributions sum to 1; greedy tokens are their argmax."""
    plain = _run(transformer, 0, temperature=0.0)
    tok, probs = _run(transformer, 0, temperature=0.0, return_probs=True)
    assert torch.equal(tok, plain)
    assert [p.shape for p in probs] == [(2, transformer.config.num_tokens, 2 ** b) for b in transformer.config.sub_bits]
    for p in probs:
        assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1])), "not distributions"
    argmax = transformer.join([p.argmax(-1) for p in probs])
    assert torch.equal(argmax, tok), f"{int((argmax != tok).sum())} greedy tokens are not their distribution's argmax"


class _Oracle(torch.nn.Module):
    """Predicts the token it is shown, or a fixed token for [MASK]: condition tokens win."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self._m = MaskedTransformer(cfg)

    def split(self, t):
        return self._m.split(t)

    def join(self, s):
        return self._m.join(s)

    def forward(self, tokens, task, cls, grid=None):
        ids = torch.where(tokens == self.config.mask_id, torch.full_like(tokens, 7), tokens)
        return [torch.nn.functional.one_hot(s, 2 ** b).float() * 50 for s, b in zip(self.split(ids), self.config.sub_bits)]


@pytest.mark.parametrize("bits", [6, 14])
def test_condition_region_returns_condition_tokens_when_forced(bits):
    cfg = TransformerConfig(bits=bits, latent_shape=(2, 3, 3), dim=16, layers=1, heads=2, dropout=0.0)
    oracle = _Oracle(cfg)
    n = cfg.num_tokens
    z_cond = torch.randint(0, 2 ** bits, (1, n))
    cond = torch.rand(n) < 0.5
    out = commit.decode(oracle, z_cond, cond, torch.tensor([0]), torch.tensor([0]), steps=5,
                        generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[0, cond], z_cond[0, cond])
    assert (out[0, ~cond] == 7).all()


def test_training_inputs_follow_commit_rules():
    n = 200
    z = torch.randint(0, 64, (3, n))
    zc = torch.randint(0, 64, (3, n))
    cond = torch.rand(n) < 0.4
    g = torch.Generator().manual_seed(0)
    inp, masked = commit.training_inputs(z, zc, cond, 64, generator=g)
    assert masked.sum(1).min() >= 1 and (masked.sum(1) == masked.sum(1)[0]).all()
    c = cond.expand(3, n)
    assert torch.equal(inp[~masked], z[~masked])
    assert torch.equal(inp[masked & c], zc[masked & c])
    assert (inp[masked & ~c] == 64).all()


def test_training_loss_falls_on_tiny_model():
    model = tiny_transformer(seed=0).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    n = model.config.num_tokens
    g = torch.Generator().manual_seed(0)
    z = torch.randint(0, 8, (4, n), generator=g)  # a tiny repeated pattern to learn
    losses = []
    for _ in range(30):
        inp, _ = commit.training_inputs(z, z, torch.zeros(n, dtype=torch.bool), model.config.mask_id, g)
        loss = commit.training_loss(model(inp, torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long)), z, model)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], f"loss {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_factorized_vocabulary_for_18_bits():
    cfg = TransformerConfig(bits=18, latent_shape=(1, 2, 2), dim=16, layers=1, heads=2, dropout=0.0)
    m = MaskedTransformer(cfg)
    assert cfg.sub_bits == (9, 9)
    assert all(e.num_embeddings == 2 ** 9 + 1 for e in m.tok_emb)
    ids = torch.tensor([[0, 2 ** 18 - 1, 12345, cfg.mask_id]])
    subs = m.split(ids)
    assert torch.equal(m.join(subs)[0, :3], ids[0, :3])
    assert subs[0][0, 3] == 2 ** 9 and subs[1][0, 3] == 2 ** 9, "[MASK] maps to each table's mask row"
    logits = m(ids, torch.tensor([0]), torch.tensor([0]))
    assert [tuple(lg.shape) for lg in logits] == [(1, 4, 512), (1, 4, 512)]
    out = commit.decode(m, ids.clamp_max(2 ** 18 - 1), torch.zeros(4, dtype=torch.bool), torch.tensor([0]),
                        torch.tensor([0]), steps=2, generator=torch.Generator().manual_seed(0))
    assert out.max() < 2 ** 18


def test_guidance_changes_output(transformer):
    a = _run(transformer, 0, guidance=0.0)
    b = _run(transformer, 0, guidance=3.0)
    assert not torch.equal(a, b)


def test_shorter_grid_uses_leading_positions(transformer):
    n = 3 * 4 * 4
    out = commit.decode(transformer, torch.zeros(1, n, dtype=torch.long), torch.zeros(n, dtype=torch.bool),
                        torch.tensor([0]), torch.tensor([0]), steps=2, grid=(3, 4, 4),
                        generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, n)
    with pytest.raises(ValueError, match="larger than the model"):
        transformer(torch.zeros(1, 6 * 16, dtype=torch.long), torch.tensor([0]), torch.tensor([0]), grid=(6, 4, 4))
