import pytest
import torch

from magvit_cli.tasks import (TASKS, build_condition, condition_region, condition_video, get_task, harmonic_fill, latent_mask,
                              window_left_edges)

EXPECTED_MASKED = {"FP": 93.75, "FI": 87.5, "OPC": 75, "OPV": 50, "OPH": 50, "OPD": 50, "IPC": 25, "IPD": 25,
                   "CG": 100, "CFP": 93.75}


def test_ten_tasks_with_distinct_ids():
    assert list(TASKS) == ["FP", "FI", "OPC", "OPV", "OPH", "OPD", "IPC", "IPD", "CG", "CFP"]
    assert sorted(t.id for t in TASKS.values()) == list(range(10))


@pytest.mark.parametrize("code", list(EXPECTED_MASKED))
def test_pixel_masked_fractions_match_spec(code):
    known = get_task(code).known(16, 128, 128)
    masked = 100 * (1 - known.float().mean().item())
    assert abs(masked - EXPECTED_MASKED[code]) < 0.01, f"{code}: {masked:.2f}% masked, SPEC {EXPECTED_MASKED[code]}%"


def test_latent_condition_regions_causal_tokenizer():
    fp = latent_mask(get_task("FP").known(17, 64, 64), 4, 8)
    assert fp.shape == (5, 8, 8)
    assert fp[0].all() and not fp[1:].any(), "FP with 1 known frame marks latent frame 0 only"
    fi = latent_mask(get_task("FI").known(17, 64, 64), 4, 8)
    assert [bool(fi[t].all()) for t in range(5)] == [True, False, False, False, True]
    assert not fi[1:4].any()
    opc = latent_mask(get_task("OPC").known(17, 128, 128), 4, 8)
    rows = torch.nonzero(opc[0].any(1)).flatten().tolist()
    cols = torch.nonzero(opc[0].any(0)).flatten().tolist()
    assert rows == list(range(4, 12)) and cols == list(range(4, 12)), (rows, cols)
    # 5 known frames: frames 0..4 lie in latent frames 0 and 1
    fp5 = latent_mask(get_task("FP").known(17, 64, 64, known=5), 4, 8)
    assert [bool(fp5[t].any()) for t in range(5)] == [True, True, False, False, False]


def test_condition_region_footprint_or_padded():
    fi = get_task("FI").known(17, 64, 64)
    assert torch.equal(condition_region(fi, 4, 8, "footprint"), latent_mask(fi, 4, 8))
    padded = condition_region(fi, 4, 8, "padded")
    assert padded.shape == (5, 8, 8) and padded.all(), f"padded FI region: {int(padded.sum())} of 320 tokens"
    cg = condition_region(get_task("CG").known(17, 64, 64), 4, 8, "padded")
    assert not cg.any(), "nothing known (CG): no token shows a condition"
    with pytest.raises(ValueError, match="footprint, padded"):
        condition_region(fi, 4, 8, "everything")


def test_any_known_pixel_rule_partial_footprint():
    known = torch.zeros(5, 16, 16, dtype=torch.bool)
    known[3, 9, 2] = True  # one pixel in frame 3 -> latent frame 1, row 1, col 0
    lm = latent_mask(known, 4, 8)
    assert lm.sum() == 1 and lm[1, 1, 0]


def test_dynamic_window_slides_left_to_right():
    assert window_left_edges(16, 128)[0] == 0 and window_left_edges(16, 128)[-1] == 64
    opd = get_task("OPD").known(16, 128, 128)
    assert opd[0, :, :64].all() and not opd[0, :, 64:].any(), "first frame: left half known"
    assert opd[-1, :, 64:].all() and not opd[-1, :, :64].any(), "last frame: right half known"
    ipd = get_task("IPD").known(16, 128, 128)
    assert not ipd[0, 32:96, :64].any() and ipd[0, 32:96, 64:].all()
    assert not ipd[-1, 32:96, 64:].any() and ipd[-1, :32].all()


def test_padding_rules():
    v = torch.arange(5).float().view(1, 1, 5, 1, 1).expand(1, 3, 5, 4, 4).clone()
    fi = build_condition(v, "FI", 4, 4)
    assert torch.allclose(fi.video[0, 0, :, 0, 0], torch.tensor([0.0, 1, 2, 3, 4])), "linear blend between ends"
    fp = build_condition(v, "FP", 4, 4)
    assert torch.allclose(fp.video[0, 0, :, 0, 0], torch.zeros(5)), "repeat the last known frame"
    img = torch.arange(16).float().view(1, 1, 1, 4, 4).expand(1, 3, 1, 4, 4).clone()
    opv = condition_video(img, get_task("OPV").known(1, 4, 4), "edge")
    assert torch.equal(opv[0, 0, 0, :, 0], img[0, 0, 0, :, 1]) and torch.equal(opv[0, 0, 0, :, 3], img[0, 0, 0, :, 2])
    ipc = build_condition(img, "IPC", 1, 4)
    assert (ipc.video[0, :, 0, 1:3, 1:3] == 0).all() and ipc.video[0, 0, 0, 0, 0] == 0 and ipc.video[0, 0, 0, 3, 3] == 15


def test_generalized_interpolation_every_kth_frame():
    known = get_task("FI").known(17, 8, 8, every=2)
    assert known[::2].all() and not known[1::2].any()


def test_unknown_task_and_bad_mask_are_clear_errors():
    with pytest.raises(ValueError, match="unknown task"):
        get_task("XX")
    with pytest.raises(ValueError, match="does not match"):
        condition_video(torch.zeros(1, 3, 5, 8, 8), torch.ones(4, 8, 8, dtype=torch.bool), "zeros")


@pytest.mark.parametrize("size,sweep_side", [(64, None), (256, None), (256, 32)])
def test_harmonic_fill_solves_laplace_coarse_to_fine(size, sweep_side):
    """x^2 - y^2 is harmonic: a fill of a central hole from its border must give it back. Plain
    Jacobi sweeps from the mean (no coarse levels) are far off after as many sweeps. With
    sweep_side (the flow completion's shortcut) the levels above 32 px only upsample."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    x = (0.5 * (xx ** 2 - yy ** 2) + 0.3 * xx)[None, None].double()
    known = torch.ones(1, 1, size, size, dtype=torch.bool)
    known[..., size // 4:3 * size // 4, size // 4:3 * size // 4] = False
    out = harmonic_fill(torch.where(known, x, torch.zeros_like(x)), known, sweep_side=sweep_side)
    err = float((out - x).abs().max())
    assert err < 0.01, f"{size}px hole, sweeps up to {sweep_side} px: max error {err:.4f}"
    flat = torch.where(known, x, x[known].mean())
    assert float((flat - x).abs().max()) > 0.2
    assert torch.equal(out[known], x[known]), "known pixels are kept"


@pytest.mark.parametrize("decay,sweep_side", [(None, 32), (0.12, None)])
def test_harmonic_fill_with_one_mask_for_the_batch(decay, sweep_side):
    """A (1, 1, H, W) mask stands for every image of the batch (the flow completion's: its
    pooling done once): the same fill, bit for bit, as the mask repeated per image."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, 90, 160, generator=g)
    known = torch.rand(1, 1, 90, 160, generator=g) > 0.3
    known[..., 20:70, 40:120] = False
    shared = harmonic_fill(x, known, decay=decay, sweep_side=sweep_side)
    each = harmonic_fill(x, known.expand(4, 1, 90, 160), decay=decay, sweep_side=sweep_side)
    assert shared.shape == x.shape and torch.equal(shared, each)


def _whole_frame_fill(x, known, iters=40, fine_iters=10, decay=None, mean=None, sweep_side=None):
    """harmonic_fill as it was written first: every level swept over the whole image."""
    import torch.nn.functional as F
    from magvit_cli.tasks import neighbour_mean
    N, C, H, W = x.shape
    kf = known.to(x.dtype)
    if mean is None:
        mean = (x * kf).sum((2, 3), keepdim=True) / kf.sum((2, 3), keepdim=True).clamp_min(1)
    if min(H, W) > 8:
        w = F.avg_pool2d(kf, 2, ceil_mode=True)
        coarse = _whole_frame_fill(F.avg_pool2d(x * kf, 2, ceil_mode=True) / w.clamp_min(1e-6), w > 0, iters,
                                   fine_iters, decay, mean, sweep_side)
        start = F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)
    else:
        start = mean.expand_as(x)
    k = known.expand_as(x)
    out = torch.where(k, x, start)
    s2 = 0.0 if decay is None else (1.0 / (decay * min(H, W))) ** 2
    sweeps = iters if max(H, W) <= 64 else fine_iters if sweep_side is None or max(H, W) <= sweep_side else 0
    for _ in range(sweeps):
        out = torch.where(k, x, neighbour_mean(out) if s2 == 0 else (4 * neighbour_mean(out) + s2 * mean) / (4 + s2))
    return out


@pytest.mark.parametrize("holes", [[(40, 60, 100, 130)], [(0, 12, 0, 20)], [(80, 90, 150, 160)],
                                   [(5, 9, 10, 14), (70, 88, 120, 157)], []])
@pytest.mark.parametrize("decay", [None, 0.12])
def test_harmonic_fill_sweeps_only_the_holes_box_with_the_same_result(holes, decay):
    """The sweeps work on the unknown pixels' bounding box grown by one (a logo's box at 720p, not
    the frame): bit for bit the fill that sweeps the whole image, holes inside, at the edges and
    corners, several, per image of a batch, none."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 90, 160, generator=g) * 2 - 1
    known = torch.ones(2, 1, 90, 160, dtype=torch.bool)
    for n, (r0, r1, c0, c1) in enumerate(holes):
        known[n % 2, :, r0:r1, c0:c1] = False
    got, want = harmonic_fill(x, known, decay=decay), _whole_frame_fill(x, known, decay=decay)
    assert torch.equal(got, want), f"max difference {float((got - want).abs().max()):.2e}"


def test_padded_region_pads_with_the_simple_alternative():
    """Padded-region paddings are what a user has without the model: IP and OPD fill (from other
    frames, then diffusion: OPD's known strip sweeps the canvas); the footprint region keeps
    SPEC's grey."""
    assert get_task("IPC").padding_for("padded") == "fill" and get_task("IPC").padding_for("footprint") == "zeros"
    assert get_task("OPD").padding_for("padded") == "fill" and get_task("FI").padding_for("padded") == "blend"
    v = torch.linspace(-1, 1, 16).view(1, 1, 1, 1, 16).expand(1, 3, 5, 16, 16).clone()  # horizontal ramp
    c = build_condition(v, "IPC", 4, 4, region="padded")
    hole = ~c.known
    filled, ramp = c.video[0, :, hole], v[0, :, hole]
    assert bool((filled.abs() <= ramp.abs() + 1e-6).all()) and float((filled - ramp).abs().max()) < 0.5, \
        "a ramp diffuses into the hole, pulled toward its mean (0)"
    assert float((build_condition(v, "IPC", 4, 4).video[0, :, hole]).abs().max()) == 0, "footprint: grey"


def test_inpaint_fill_takes_each_hole_pixel_from_the_nearest_frame_that_shows_it():
    v = torch.rand(1, 3, 1, 16, 16).expand(1, 3, 5, 16, 16).clone()  # a still scene
    c = build_condition(v, "IPD", 4, 4, region="padded")
    assert (~c.known).any() and torch.equal(c.video, v), "every pixel of the moving hole is seen by another frame"
    v[:, :, 2] += 0.5  # frame 2 now differs from frames 0 and 1
    c = build_condition(v, "IPD", 4, 4, region="padded")
    hole, k0, k2 = ~c.known[1], c.known[0], c.known[2]
    from0, from2 = hole & k0, hole & ~k0 & k2
    assert from0.any() and from2.any(), "the test needs hole pixels of frame 1 seen by frame 0, and some seen only by 2"
    assert torch.equal(c.video[:, :, 1][..., from0], v[:, :, 0][..., from0]), "nearest frame, earlier one on a tie"
    assert torch.equal(c.video[:, :, 1][..., from2], v[:, :, 2][..., from2])


def test_screened_fill_relaxes_to_the_mean_the_same_at_any_resolution():
    """A hole ringed by 1s in a field of 0s: the screened fill (decay 0.12) keeps the border
    colour next to the border and falls toward the known mean (about 0.09) inside, well below
    the plain fill, by the same amount at 64, 128 and 256 px."""
    centres = []
    for size in (64, 128, 256):
        x = torch.zeros(1, 1, size, size, dtype=torch.float64)
        q, r = size // 4, size // 32  # hole [q, 3q), ring r pixels wide
        x[..., q - r:3 * q + r, q - r:3 * q + r] = 1
        known = torch.ones_like(x, dtype=torch.bool)
        known[..., q:3 * q, q:3 * q] = False
        plain, screened = harmonic_fill(x, known), harmonic_fill(x, known, decay=0.12)
        c = size // 2
        assert float(screened[0, 0, c, c]) < float(plain[0, 0, c, c]) - 0.2, size
        assert float(screened[0, 0, c, q]) > 0.85, f"{size}px: next to the border the fill keeps the border colour"
        assert torch.equal(screened[known], x[known])
        centres.append(float(screened[0, 0, c, c]))
    assert max(centres) - min(centres) < 0.02, f"centre values {centres} depend on resolution"
