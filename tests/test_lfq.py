import itertools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from magvit_cli.models.lfq import (LFQ, codebook_entropy, codes_to_indices, expected_codes, indices_to_codes, per_sample_entropy,
                                  swap_argmax)


def test_index_bits_round_trip_little_endian():
    bits = 10
    idx = torch.randint(0, 2 ** bits, (3, 7))
    codes = indices_to_codes(idx, bits)
    assert codes.shape == (3, bits, 7)
    assert torch.equal(codes_to_indices(codes), idx)
    # bit i weighs 2^i: index 1 sets only channel 0, index 2^(d-1) only the last channel
    one = indices_to_codes(torch.tensor([1, 2 ** (bits - 1)]), bits)
    assert one[0, 0] == 1 and (one[0, 1:] == -1).all()
    assert one[1, -1] == 1 and (one[1, :-1] == -1).all()


def test_quantize_signs_and_straight_through():
    q = LFQ(4)
    z = torch.randn(2, 4, 3, 5, requires_grad=True)
    out = q(z)
    assert torch.equal(out.quantized.detach(), torch.where(z > 0, 1.0, -1.0))
    out.quantized.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z)), "straight-through gradient must be identity"


def _brute_force_entropies(z, tau):
    d = z.shape[1]
    codes = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)  # (2^d, d)
    p = torch.softmax(2 * z.double() @ codes.t() / tau, dim=1)  # (N, 2^d)
    per = -(p * torch.log(p.clamp_min(1e-300))).sum(1).mean()
    avg = p.mean(0)
    cb = -(avg * torch.log(avg.clamp_min(1e-300))).sum()
    return per, cb


@pytest.mark.parametrize("d", [1, 3, 6, 8])
def test_factorized_per_sample_entropy_is_exact(d):
    g = torch.Generator().manual_seed(d)
    z = torch.randn(64, d, generator=g, dtype=torch.float64) * 0.02
    per_bf, cb_bf = _brute_force_entropies(z, 0.01)
    per = per_sample_entropy(z, 0.01)
    assert abs(float(per) - float(per_bf)) < 1e-5, f"factorized {float(per)} vs brute force {float(per_bf)}"
    # with one group covering all bits the codebook term is exact too
    cb = codebook_entropy(z, 0.01, group_bits=d)
    assert abs(float(cb) - float(cb_bf)) < 1e-5, f"codebook {float(cb)} vs {float(cb_bf)}"
    # grouped estimate is a sum of marginal entropies: an upper bound of the joint one
    if d > 1:
        assert float(codebook_entropy(z, 0.01, group_bits=max(1, d // 2))) >= float(cb_bf) - 1e-6


class _LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_18_bits_never_builds_n_by_codebook_tensor():
    q = LFQ(18)
    z = torch.randn(2, 18, 5, 16, 16, requires_grad=True)  # 2 x 1280 tokens
    n = 2 * 5 * 16 * 16
    with _LargestTensor() as probe:
        out = q(z)
        (out.entropy + out.commitment).backward()
    assert out.indices.max() < 2 ** 18
    assert probe.largest < n * 2 ** 10, f"largest tensor {probe.largest} elements; N x 2^18 would be {n * 2 ** 18}"
    assert torch.isfinite(z.grad).all()


def test_quantizer_runs_fp32_under_autocast():
    q = LFQ(8)
    z = torch.randn(2, 8, 4, 4).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(z)
    assert out.quantized.dtype == torch.float32 and out.entropy.dtype == torch.float32


def test_expected_codes_of_sure_flat_and_mixed_distributions():
    """Sub-token tables low bits first: one-hot gives the codes of the joined id, uniform gives 0,
    and a 50/50 mix of two ids averages their codes bit by bit."""
    ids = torch.tensor([0, 5, 63, 42 + 64 * 17])  # 12-bit ids as two 6-bit sub-tokens
    lo, hi = ids & 63, ids >> 6
    sure = [torch.nn.functional.one_hot(lo, 64).float(), torch.nn.functional.one_hot(hi, 64).float()]
    want = indices_to_codes(ids.unsqueeze(0), 12)[0].T  # (4, 12)
    assert torch.equal(expected_codes(sure), want)
    assert torch.equal(expected_codes([torch.full((3, 8), 1 / 8)]), torch.zeros(3, 3))
    mix = torch.zeros(1, 8)
    mix[0, 1] = mix[0, 3] = 0.5  # bits 001 and 011: bit 0 sure on, bit 1 even, bit 2 sure off
    assert torch.allclose(expected_codes([mix]), torch.tensor([[1.0, 0.0, -1.0]]))
    with pytest.raises(ValueError, match="2\\^b"):
        expected_codes([torch.ones(2, 6) / 6])


def test_swap_argmax_moves_the_models_confidence_onto_the_given_ids():
    p = torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.4, 0.1]])
    (q,) = swap_argmax([p], [torch.tensor([1, 0])])
    assert torch.equal(q[0], p[0]), "the argmax is the id: unchanged"
    assert torch.allclose(q[1], torch.tensor([0.4, 0.25, 0.25, 0.1])), q[1]
    assert torch.allclose(q.sum(-1), torch.ones(2)), "still distributions"
    a, b = expected_codes([p]), expected_codes([q])
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])
