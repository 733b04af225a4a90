"""Motion-compensated padding (magvit_cli/motion.py). Interpolation: moving content lands where
it is at the in-between time, a still scene comes back untouched, large frames take the
downscaled-flow path, and `magvit interpolate` uses it (the linear blend with --no-motion).
Prediction: steady motion is carried on, unsteady motion held still, and `magvit predict`
uses it (the held frame with --no-motion)."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import panning, texture

from magvit_cli import motion
from magvit_cli.cli import app
from magvit_cli.evaluate import psnr
from magvit_cli.motion import Continuation, PairMotion
from magvit_cli.pipeline import to_frame, to_tensor
from magvit_cli.tasks import window_left_edges
from magvit_cli.video import VideoWriter, read_frames


def test_moving_content_lands_at_the_in_between_time():
    clip = panning(3, 64, 96, 6)  # frames 0 and 2 known, frame 1 the truth half-way
    pm = PairMotion(to_tensor(clip[0]), to_tensor(clip[2]))
    inner = np.zeros(clip.shape[1:3], bool)
    inner[8:-8, 16:-16] = True  # away from the edges, where content enters and leaves
    ours = psnr(to_frame(pm.frame(0.5)), clip[1], inner[..., None])
    blend = psnr(((clip[0].astype(np.float64) + clip[2]) / 2).round().astype(np.uint8), clip[1], inner[..., None])
    assert ours > blend + 8, f"motion-compensated frame {ours:.2f} dB vs linear blend {blend:.2f} dB at t=0.5"
    assert torch.equal(pm.frame(0.5), pm.frame(0.5)), "the same pair and time must give the same frame"


def test_still_scene_comes_back_unchanged():
    a = to_tensor(texture(32, 48, seed=3))
    pm = PairMotion(a, a.clone())
    for t in (0.25, 0.5, 0.75):
        err = float((pm.frame(t) - a).abs().max())
        assert err < 1e-5, f"a still pair at t={t}: max change {err} (expected none)"
    with pytest.raises(ValueError, match="strictly between"):
        pm.frame(1.0)


@pytest.mark.parametrize("size", [(1, 1), (4, 6), (8, 40)])
def test_tiny_frames_work(size):
    """Frames smaller than the flow needs (DIS refuses them) are padded for the flow: any size works."""
    a, b = torch.rand(3, *size) * 2 - 1, torch.rand(3, *size) * 2 - 1
    f = PairMotion(a, b).frame(0.5)
    assert f.shape == a.shape and bool(f.abs().le(1 + 1e-5).all()), f"{size}: got {tuple(f.shape)}"


def test_large_frames_take_the_downscaled_flow(monkeypatch):
    """Above FLOW_MAX_SIDE the flow is computed small and scaled up (vectors scaled too)."""
    clip = panning(3, 64, 96, 6)
    full = to_frame(PairMotion(to_tensor(clip[0]), to_tensor(clip[2])).frame(0.5))
    monkeypatch.setattr(motion, "FLOW_MAX_SIDE", 48)
    pm = PairMotion(to_tensor(clip[0]), to_tensor(clip[2]))
    assert pm.scale == 0.5 and pm.ab.shape[:2] == (32, 48), f"flow at scale {pm.scale}, shape {pm.ab.shape}"
    half = to_frame(pm.frame(0.5))
    blend = ((clip[0].astype(np.float64) + clip[2]) / 2).round().astype(np.uint8)
    inner = np.zeros(clip.shape[1:3], bool)
    inner[8:-8, 16:-16] = True
    got, base, ref = (psnr(x, clip[1], inner[..., None]) for x in (half, blend, full))
    assert got > base + 5, f"half-size flow {got:.2f} dB vs blend {base:.2f} dB (full-size flow {ref:.2f} dB)"


def with_and_without_motion(tmp_path, frames: np.ndarray, args: list[str]) -> dict[str, np.ndarray]:
    """Write `frames` as a lossless clip, run `magvit ARGS... --motion` and `--no-motion` on it
    with the shipped weights, and return each run's output frames by flag."""
    src = tmp_path / "in.mp4"
    with VideoWriter(src, 12, frames.shape[2], frames.shape[1], lossless=True) as w:
        for f in frames:
            w.write(f)
    outs = {}
    for flag in ("--motion", "--no-motion"):
        out = tmp_path / f"{flag}.mp4"
        r = CliRunner().invoke(app, [args[0], str(src), *args[1:], "--lossless", "-o", str(out), "--device", "cpu", flag])
        assert r.exit_code == 0, r.output
        outs[flag] = read_frames(out)
    return outs


def test_interpolate_uses_motion_by_default(tmp_path):
    """End to end on the shipped weights: x2 on a panning clip (every other frame of it), scored
    on the generated frames against the frames left out; --no-motion gives the blend's padding."""
    truth = panning(9, 64, 96, 3)
    scores = {}
    for flag, got in with_and_without_motion(tmp_path, truth[::2], ["interpolate", "--factor", "2"]).items():
        assert len(got) == 10 and np.array_equal(got[::2], truth[::2]), "known frames must come back bit-exact"
        scores[flag] = psnr(got[1:8:2], truth[1:8:2])
    assert scores["--motion"] > scores["--no-motion"] + 3, f"generated frames: {scores}"


def test_continuation_carries_steady_motion_on():
    clip = panning(6, 64, 96, 3)  # frames 0-2 known; 3-5 the truth, content still sliding left
    c = Continuation([to_tensor(f) for f in clip[:3]])
    inner = np.zeros(clip.shape[1:3], bool)
    inner[8:-8, 8:-24] = True  # away from the edges, and from the right one, where new content enters
    for s in (1, 3):
        ours = psnr(to_frame(c.frame(s)), clip[2 + s], inner[..., None])
        held = psnr(clip[2], clip[2 + s], inner[..., None])
        assert ours > held + 8, f"{s} frame(s) on: continuation {ours:.2f} dB vs the held frame {held:.2f} dB"


def test_continuation_holds_still_where_motion_is_not_steady():
    """Back and forth (right, then left) is no velocity to carry on: the last frame is held."""
    clip = panning(3, 64, 96, 4)
    back_and_forth = [clip[0], clip[1], clip[0]]
    c = Continuation([to_tensor(f) for f in back_and_forth])
    assert float(np.abs(c.velocity).max()) < 0.5, f"velocity up to {np.abs(c.velocity).max():.2f} px per frame"
    err = np.abs(to_frame(c.frame(2)).astype(int) - clip[0]).max()
    assert err <= 1, f"the held frame should come back, max error {err}"
    still = to_tensor(texture(32, 48, seed=3))
    assert torch.equal(Continuation([still, still, still]).frame(4), Continuation([still] * 3).frame(4))
    assert float((Continuation([still] * 3).frame(4) - still).abs().max()) < 1e-5


def test_inverse_variance_weights():
    """Two estimates are mixed by their guessed errors: the surer one dominates, equal errors
    give half each, and the weight falls as the estimate's own error grows."""
    own = np.array([[0.0, 5.0, 20.0, 3.0, 1.0, 2.0, 4.0]], np.float32)  # (H, W) error maps, as the motion code has
    other = np.array([[20.0, 5.0, 0.0, 3.0, 3.0, 3.0, 3.0]], np.float32)
    w = motion._inverse_variance(own, other)
    assert w.shape == own.shape and w.dtype == np.float32, f"{w.shape} {w.dtype}, not {own.shape} float32"
    w = w[0]
    assert abs(w[1] - 0.5) < 1e-6 and abs(w[3] - 0.5) < 1e-6, f"equal errors must weigh 1/2 each, got {w[1]}, {w[3]}"
    assert w[0] > 0.99 and w[2] < 0.01, f"an exact estimate against a 20-level one: {w[0]:.3f}, the reverse {w[2]:.3f}"
    assert np.all(np.diff(w[4:]) < 0), f"the weight must fall as the own error grows (1, 2, 4 against 3): {w[4:]}"


def test_continuation_trusts_the_motion_where_it_predicted_the_last_frame():
    """The carried-on frame is weighed against the held one by how well each would have
    predicted the last known frame: on a steady pan, the carried-on frame almost alone."""
    clip = panning(3, 64, 96, 3)
    c = Continuation([to_tensor(f) for f in clip])
    inner = c.weight[8:-8, 8:-24]
    assert c.weight.shape == clip.shape[1:3], f"weight {c.weight.shape} for frames {clip.shape[1:3]}"
    assert float(inner.mean()) > 0.9, f"steady pan: mean weight of the carried-on frame {inner.mean():.3f} (expected > 0.9)"


def test_predict_carries_motion_on_by_default(tmp_path):
    """End to end on the shipped weights: 5 frames of a panning clip in, 4 predicted, scored
    against the true continuation away from the edge where new content enters."""
    truth = panning(9, 64, 96, 2)
    inner = np.zeros(truth.shape[1:3], bool)
    inner[8:-8, 8:-24] = True
    scores = {}
    for flag, got in with_and_without_motion(tmp_path, truth[:5], ["predict", "--frames", "4"]).items():
        assert len(got) == 9 and np.array_equal(got[:5], truth[:5]), "the input comes back first, bit-exact"
        scores[flag] = psnr(got[5:], truth[5:], inner[..., None])
    assert scores["--motion"] > scores["--no-motion"] + 3, f"predicted frames: {scores}"


def _sliding_hole(T: int, H: int, W: int) -> list[torch.Tensor]:
    """Known masks (H, W) of T frames with a box (the middle half of the rows, a sixth of the width)
    sliding left by an eighth of the width a frame, from the right: against panning()'s pan."""
    known = []
    for t in range(T):
        k = torch.ones(H, W, dtype=torch.bool)
        right = W * 23 // 24 - W // 8 * t
        k[H // 4:3 * H // 4, right - W // 6:right] = False
        known.append(k)
    return known


def test_moving_hole_is_filled_from_the_other_frames_along_the_motion():
    """A panning clip with a box sliding against the pan: the hole's content is seen by other
    frames, but elsewhere in them; warped along the motion it lands right, copied as it is (the
    plain fill) it does not. The hole's own pixels are never read."""
    from magvit_cli.motion import fill_holes
    from magvit_cli.tasks import fill_frame, nearest_first
    clip = panning(7, 48, 96, 3)
    frames = [to_tensor(f) for f in clip]
    known = _sliding_hole(7, 48, 96)
    poisoned = [torch.where(k, f, torch.ones_like(f)) for f, k in zip(frames, known)]  # hole pixels white
    ours = [to_frame(x) for x in fill_holes(lambda j: poisoned[j], known)]
    plain = [to_frame(fill_frame(poisoned[i][None], known[i],
                                 ((known[j], lambda j=j: poisoned[j][None]) for j in nearest_first(i, 7)))[0]) for i in range(7)]
    hole = ~torch.stack(known).numpy()[..., None]
    got, base = psnr(np.stack(ours), clip, hole), psnr(np.stack(plain), clip, hole)
    assert got > base + 6, f"hole filled along the motion {got:.2f} dB vs the plain fill {base:.2f} dB"
    assert all(np.array_equal(o[k.numpy()], c[k.numpy()]) for o, c, k in zip(ours, clip, known)), "known pixels changed"


def test_the_snap_decides_as_hypot_does():
    """The flow's snap to zero (motion._shorter) decides as np.hypot(x, y) < r, bit for bit, also
    for the vectors a rounding away from r, where x^2 + y^2 alone could decide otherwise."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * np.pi, 200_000)
    length = np.concatenate([rng.uniform(0, 1, 100_000), 0.5 + rng.integers(-40, 40, 100_000) * 2e-8])
    x, y = (length * np.cos(angle)).astype(np.float32), (length * np.sin(angle)).astype(np.float32)
    want = np.hypot(x, y) < motion.SNAP_PX
    assert 0 < want.sum() < want.size
    got = motion._shorter(x.reshape(400, 500), y.reshape(400, 500), motion.SNAP_PX).ravel()
    assert np.array_equal(got, want), f"{int((got != want).sum())} vectors decided otherwise"


def test_a_warp_of_a_box_is_that_box_of_the_whole_warp():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, (40, 60, 3)).astype(np.float32)
    flow = rng.normal(0, 6, (40, 60, 2)).astype(np.float32)
    box = (slice(7, 31), slice(12, 50))
    assert np.array_equal(motion._warp(img, flow[box], box), motion._warp(img, flow)[box])


def test_hole_fill_is_the_same_with_frames_kept_or_not(monkeypatch):
    """Dynamic inpainting keeps a window's frames while they fit in motion.CACHE_BYTES; with room
    for one only, each is laid out again when needed, and the padding is the same."""
    clip = panning(5, 32, 64, 3)
    frames = [to_tensor(f) for f in clip]
    known = _sliding_hole(5, 32, 64)
    calls = []

    def get(j):
        calls.append(j)
        return frames[j]
    kept = torch.stack(list(motion.fill_holes(get, known)))
    laid_out = len(calls)
    monkeypatch.setattr(motion, "CACHE_BYTES", 1)
    calls.clear()
    again = torch.stack(list(motion.fill_holes(get, known)))
    assert torch.equal(kept, again)
    assert len(calls) > laid_out, f"frames laid out {len(calls)} times with room for one, {laid_out} with room for all"


def test_inpaint_with_a_mask_video(tmp_path):
    """A --mask video (one mask per frame) is read in step with the input however often a window
    is laid out (it used to be read once per layout and ran out: 'StopIteration')."""
    clip = panning(9, 32, 48, 2)
    src, mask = tmp_path / "in.mp4", tmp_path / "mask.mp4"
    holes = np.zeros((9, 32, 48), bool)
    for t in range(9):
        holes[t, 8:24, 2 * t:2 * t + 16] = True
    with VideoWriter(src, 12, 48, 32, lossless=True) as w, VideoWriter(mask, 12, 48, 32, lossless=True) as wm:
        for f, h in zip(clip, holes):
            w.write(f)
            wm.write(np.repeat(h[..., None] * np.uint8(255), 3, 2))
    out = tmp_path / "out.mp4"
    r = CliRunner().invoke(app, ["inpaint", str(src), "--mask", str(mask), "--lossless", "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = read_frames(out)
    assert len(got) == 9 and np.array_equal(got[~holes], clip[~holes]), "every pixel outside the masks comes back bit-exact"


def test_inpaint_dynamic_fills_along_the_motion_by_default(tmp_path):
    """End to end on the shipped weights: the sliding box of `--mode dynamic` over a panning clip;
    the hole's content is seen by other frames, elsewhere in them."""
    clip = panning(9, 48, 96, 4)
    holes = np.zeros(clip.shape[:3], bool)
    for t, x in enumerate(window_left_edges(9, 96)):
        holes[t, 12:36, x:x + 48] = True
    scores = {}
    for flag, got in with_and_without_motion(tmp_path, clip, ["inpaint", "--mode", "dynamic"]).items():
        assert np.array_equal(got[~holes], clip[~holes]), "pixels outside the hole come back bit-exact"
        scores[flag] = psnr(got, clip, holes[..., None])
    # (DIS underestimates motion on frames this small, so the margin is smaller than on real clips)
    assert scores["--motion"] > scores["--no-motion"] + 1, f"the hole: {scores}"


def test_outpaint_dynamic_fills_the_canvas_from_what_other_frames_saw(tmp_path):
    """End to end on the shipped weights: a still scene seen through a strip that sweeps it (the
    paper's OPD geometry, here along a --track): every canvas pixel is seen by some frame, so the
    padding, given back by the model, is the scene itself (edge replication was the padding before)."""
    scene = texture(48, 96, seed=5)
    xs = window_left_edges(9, 96)
    strip = np.stack([scene[:, x:x + 48] for x in xs])
    track = tmp_path / "track.csv"
    track.write_text("".join(f"{t},{x},0\n" for t, x in enumerate(xs)))
    src, out = tmp_path / "strip.mp4", tmp_path / "out.mp4"
    with VideoWriter(src, 12, 48, 48, lossless=True) as w:
        for f in strip:
            w.write(f)
    r = CliRunner().invoke(app, ["outpaint", str(src), "--mode", "dynamic", "--size", "96x48", "--track", str(track),
                                 "--lossless", "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = read_frames(out)
    unknown = np.ones(got.shape[:3], bool)
    for t, x in enumerate(xs):
        unknown[t, :, x:x + 48] = False
    ours = psnr(got, np.broadcast_to(scene, got.shape), unknown[..., None])
    assert ours > 35, f"the canvas outside the strip: {ours:.2f} dB against the scene"


def test_outpaint_dynamic_remembers_what_earlier_windows_saw(tmp_path):
    """End to end on the shipped weights: a still scene swept once by a strip over 40 frames (three
    17-frame windows): what the later windows' frames never show was seen by earlier windows'
    frames, and comes from there (it was the harmonic fill's grey before)."""
    scene = texture(48, 192, seed=7)
    xs = [round(x) for x in np.linspace(0, 144, 40)]
    track = tmp_path / "track.csv"
    track.write_text("".join(f"{t},{x},0\n" for t, x in enumerate(xs)))
    src, out = tmp_path / "strip.mp4", tmp_path / "out.mp4"
    with VideoWriter(src, 12, 48, 48, lossless=True) as w:
        for x in xs:
            w.write(scene[:, x:x + 48])
    r = CliRunner().invoke(app, ["outpaint", str(src), "--mode", "dynamic", "--size", "192x48", "--track", str(track),
                                 "--lossless", "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = read_frames(out)[17:]
    past = np.zeros(got.shape[:3], bool)  # left of the strip: seen before this frame's window only
    for k, x in enumerate(xs[17:]):
        past[k, :, :max(0, x - 48)] = True
    ours = psnr(got, np.broadcast_to(scene, got.shape), past[..., None])
    assert ours > 30, f"the canvas that only earlier windows saw: {ours:.2f} dB against the scene"


def _sweep(clip: np.ndarray) -> dict:
    """PSNR of the unknown canvas when a 48-px strip sweeps `clip` (T, H, 96, 3) as in OPD, filled
    by motion.fill_holes with and without versus_plain, and by the plain fill."""
    from magvit_cli.motion import fill_holes
    from magvit_cli.tasks import fill_frame, nearest_first
    T, H, W = clip.shape[:3]
    known = []
    for x in window_left_edges(T, W):
        k = torch.zeros(H, W, dtype=torch.bool)
        k[:, x:x + 48] = True
        known.append(k)
    poisoned = [torch.where(k, to_tensor(f), torch.ones(3, H, W)) for f, k in zip(clip, known)]  # unknown pixels white
    unknown = ~torch.stack(known).numpy()[..., None]
    scores = {f"versus_plain={vp}": psnr(np.stack([to_frame(x) for x in fill_holes(lambda j: poisoned[j], known, versus_plain=vp)]),
                                         clip, unknown) for vp in (False, True)}
    plain = [fill_frame(poisoned[i][None], known[i], ((known[j], lambda j=j: poisoned[j][None]) for j in nearest_first(i, T)))[0]
             for i in range(T)]
    scores["plain"] = psnr(np.stack([to_frame(x) for x in plain]), clip, unknown)
    return scores


def test_dynamic_outpainting_checks_the_motion_against_the_plain_fill():
    """OPD's fill (versus_plain): a subject the strip follows over a still background spreads its
    motion across the canvas when the flow is extrapolated; the plain candidates there agree
    with each other and win. Under a camera pan the warped ones agree and win, as before."""
    bg, subject = texture(48, 96, seed=5), texture(20, 20, seed=9)
    follow = np.stack([bg] * 9)
    for t, x in enumerate(window_left_edges(9, 96)):
        follow[t, 14:34, x + 14:x + 34] = subject
    s = _sweep(follow)
    assert s["versus_plain=True"] > s["versus_plain=False"] + 3, f"a followed subject over a still scene: {s}"
    s = _sweep(panning(9, 48, 96, 3))
    assert s["versus_plain=True"] > s["plain"] + 5 and s["versus_plain=True"] > s["versus_plain=False"] - 0.5, f"a pan: {s}"


def test_a_still_background_with_noise_is_not_carried_along_a_subjects_motion():
    """A still, slightly noisy background (sensor noise, a hand-held camera) and a subject moving
    down inside the strip: the flow extrapolated across the canvas carries the subject's motion
    over the background, and both warped candidates carry it alike. The plain pair's disagreement
    (the noise) was scaled by how far the sources lie (up to 16 x in a 17-frame window) and lost to
    them (6.3 dB under the plain fill here); scaled at most FAR_CAP (3) times, 4.4 dB under
    (carphone's car interior behind the head, the example clip, is this case)."""
    rng = np.random.default_rng(0)
    bg, subject = texture(64, 96, seed=0).astype(np.float32), texture(24, 32, seed=9) // 2 + 100
    clip = np.stack([np.clip(bg + rng.normal(0, 2, bg.shape), 0, 255).astype(np.uint8) for _ in range(17)])
    for t, x in enumerate(window_left_edges(17, 96)):
        y = (2 + 4 * t) % 40
        clip[t, y:y + 24, x + 8:x + 40] = subject
    s = _sweep(clip)
    assert s["versus_plain=True"] > s["plain"] - 5, f"a subject moving over a still, noisy background: {s}"


def test_pad_clip_pads_a_window_as_the_runners_do():
    """motion.pad_clip (the training cache's padding): known pixels as they are; FI's frames in
    between land where the content moved (closer to the truth than the blend); FP5 carries the
    motion on; FP from one frame has no motion to read; other tasks are refused by name."""
    from magvit_cli.tasks import condition_video, get_task
    clip = torch.stack([to_tensor(f) for f in panning(9, 48, 48, 3)], 1)  # (3, T, H, W)
    for code, opts, plain in (("FI", {"every": 4}, "blend"), ("FP", {"known": 5}, "repeat")):
        known = get_task(code).known(9, 48, 48, **opts)
        padded = motion.pad_clip(clip, known, code)
        assert padded.shape == clip.shape, f"{code}: {tuple(padded.shape)} != {tuple(clip.shape)}"
        assert torch.equal(padded.permute(1, 2, 3, 0)[known], clip.permute(1, 2, 3, 0)[known]), f"{code}: known pixels changed"
        base = condition_video(clip[None], known, plain)[0]
        unknown = ~known[:, 0, 0]
        ours, theirs = (float(10 * torch.log10(4 / (x[:, unknown] - clip[:, unknown]).pow(2).mean())) for x in (padded, base))
        assert ours > theirs + 3, f"{code}: motion padding {ours:.2f} dB is not 3 dB over the {plain} {theirs:.2f} dB"
    assert motion.pad_clip(clip, get_task("FP").known(9, 48, 48, known=1), "FP") is None
    with pytest.raises(ValueError, match="'OPD'"):
        motion.pad_clip(clip, get_task("OPD").known(9, 48, 48), "OPD")


@pytest.mark.parametrize("short", [144, 360, 720, 1080])
def test_wide_smoothing_runs_shrunk_and_stays_a_gaussian(short):
    """The disagreements' Gaussian (2% of the short side) runs at a reduced size from 700 px: at
    720p and 1080p within 0.2% of the full blur's range of a field of steps and noise; below that
    it is the full blur, bit for bit."""
    import cv2
    rng = np.random.default_rng(0)
    size = (short, short * 16 // 9)
    x = np.zeros(size, np.float32)
    x[: short // 3, : size[1] // 2] = 40  # a block's edges: where a smoothing's tails differ most
    x += rng.random(size, dtype=np.float32) * 10
    exact = cv2.GaussianBlur(x, (0, 0), motion.BLUR_FRAC * short)
    got = motion._smooth(x, size)
    assert got.shape == x.shape and got.dtype == np.float32
    if short < 700:
        assert np.array_equal(got, exact), f"{short} px: the full blur expected"
    else:
        err = np.abs(got - exact).max() / (exact.max() - exact.min())
        assert err < 2e-3, f"{short} px: off the full blur by {err:.2%} of its range"
