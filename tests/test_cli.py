"""The magvit command line on small generated videos with tiny random weights."""
import json
import math
import os
import re
from pathlib import Path
from fractions import Fraction

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import make_video, tiny_tokenizer, tiny_transformer
from magvit_cli.cli import app
from magvit_cli.models import load_model, save_model
from magvit_cli.models.tokenizer import encoder_digest
from magvit_cli.video import VideoWriter, probe, read_frames

runner = CliRunner()


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    save_model(tiny_tokenizer(seed=1), root / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), root / "transformer")  # 9-frame window, 16x16
    return root


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clips") / "in.mp4", frames=6, width=48, height=32, audio=True)


def run(args, weights, expect=0):
    steps = [] if args[0] in ("reconstruct", "tokenize") else ["--steps", "2"]
    r = runner.invoke(app, [args[0], *steps, *args[1:], "--weights", str(weights), "--device", "cpu", "--json"])
    assert r.exit_code == expect, f"exit {r.exit_code} for {args}: {r.output}"
    return json.loads(r.stdout.strip().splitlines()[-1]) if expect == 0 else r


def test_version():
    from magvit_cli import __version__
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"magvit {__version__}", r.stdout


def test_help_lists_every_task():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ["interpolate", "predict", "outpaint", "inpaint", "generate", "reconstruct", "tokenize", "info", "classes", "train"]:
        assert cmd in r.output
    for code in ["FI", "FP", "CFP", "OPC", "OPV", "OPH", "OPD", "IPC", "IPD", "CG"]:
        assert code in r.output
    r = runner.invoke(app, ["outpaint", "--help"])
    assert "horizontal strip" in r.output and "vertical strip" in r.output
    from magvit_cli.bench import TASKS
    r = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "400"})
    missing = [t for t in TASKS if t not in r.output.replace(",", " ").replace(".", " ").split()]
    assert not missing, f"bench --help leaves out {missing}"


def test_help_reads_at_80_columns():
    """Plain help: each command's line in `magvit --help` whole (not cut with '...'), and an option's
    help starting by column 30 of 80 (the boxed table left it 29 columns, from column 50)."""
    from magvit_cli.cli import SHORT_HELP
    for group in ([], ["train"], ["weights"]):
        r = runner.invoke(app, [*group, "--help"], terminal_width=80)
        text = " ".join(r.output.split())
        commands = r.output.split("Commands:")[1].splitlines()
        assert r.exit_code == 0 and not any(line.rstrip().endswith("...") for line in commands), r.output
        mine = [line for name, line in SHORT_HELP.items() if name.rpartition(" ")[0] == " ".join(group)]
        assert mine and all(line in text for line in mine), r.output
    r = runner.invoke(app, ["outpaint", "--help"], terminal_width=80)
    line = next(line for line in r.output.splitlines() if "--mode" in line)
    assert line.index("central") <= 30 and max(map(len, r.output.splitlines())) <= 80, r.output


def test_interpolate_frames_rate_size_audio(weights, clip, tmp_path):
    out = tmp_path / "x2.mp4"
    res = run(["interpolate", str(clip), "--factor", "2", "-o", str(out)], weights)
    info = probe(out)
    assert res["frames"] == 12 and len(read_frames(out)) == 12, f"6 frames x 2 should give 12, got {res['frames']}"
    assert info.fps == Fraction(60000, 1001), f"fps {info.fps}"
    assert (info.width, info.height) == (48, 32) and info.has_audio
    run(["interpolate", str(clip), "--factor", "3", "--no-audio", "-o", str(out), "--force"], weights)
    info = probe(out)
    assert info.fps == Fraction(90000, 1001) and not info.has_audio and len(read_frames(out)) == 18


def test_interpolate_slow_motion(weights, clip, tmp_path):
    """--slow-motion: the same frames as x N, played at the input's rate, N x as long, the audio
    with them; not with --fps. Interpolation to more than 240 fps (60 fps x 8) says so in a warning
    line that points at --slow-motion."""
    fast = run(["interpolate", str(clip), "--factor", "3", "--lossless", "-o", str(tmp_path / "f.mp4")], weights)
    r = runner.invoke(app, ["interpolate", str(clip), "--factor", "3", "--slow-motion", "--lossless", "-o",
                            str(tmp_path / "s.mp4"), "--weights", str(weights), "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 0, r.output
    slow, fast_info = probe(tmp_path / "s.mp4"), probe(tmp_path / "f.mp4")
    assert slow.fps == probe(clip).fps and slow.has_audio and fast_info.has_audio, (slow, fast_info)
    assert np.array_equal(read_frames(tmp_path / "s.mp4"), read_frames(tmp_path / "f.mp4")), "the frames of x3"
    assert fast["frames"] == 18 and abs(18 / slow.fps - 3 * 18 / fast_info.fps) < 1e-9
    r = runner.invoke(app, ["interpolate", str(clip), "--factor", "3", "-o", str(tmp_path / "f3.mp4"), "--weights", str(weights),
                            "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 0 and "players" not in r.output, r.output
    fast_clip = make_video(tmp_path / "60.mp4", frames=4, fps=Fraction(60))
    r = runner.invoke(app, ["interpolate", str(fast_clip), "--factor", "8", "-o", str(tmp_path / "f8.mp4"), "--weights",
                            str(weights), "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 0 and "more than most players" in r.output and "--slow-motion" in r.output, r.output
    r = runner.invoke(app, ["interpolate", str(clip), "--fps", "60", "--slow-motion", "-o", str(tmp_path / "x.mp4"),
                            "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and "--slow-motion" in r.output and not (tmp_path / "x.mp4").exists(), r.output


def test_preset_sets_the_encoders_speed(weights, clip, tmp_path):
    """--preset reaches x264 (its settings, which it writes into the stream, say so: ultrafast turns
    CABAC off, medium keeps it); a wrong name, an encoder without presets and an image are refused
    before any work."""
    for preset, cabac in (("ultrafast", b"cabac=0"), (None, b"cabac=1")):
        out = tmp_path / f"{preset}.mp4"
        run(["inpaint", str(clip), "-o", str(out), *(["--preset", preset] if preset else [])], weights)
        assert cabac in out.read_bytes(), f"--preset {preset}: x264's settings lack {cabac}"
    for args, says in ((["--preset", "turbo"], "one of ultrafast"), (["--preset", "fast", "-o", str(tmp_path / "x.webm")], "libvpx-vp9"),
                       (["--preset", "fast", "-o", str(tmp_path / "x.png")], "is an image")):
        r = runner.invoke(app, ["inpaint", str(clip), *args, "--weights", str(weights), "--device", "cpu"])
        assert r.exit_code == 2 and says in r.output, r.output
    assert not list(tmp_path.glob("x.*"))


def test_crf_sets_a_photos_quality_and_is_refused_where_there_is_none(weights, tmp_path):
    """A .jpg or .webp photo took no quality from --crf (the same bytes at any --crf: JPEG at the
    encoder's default, WebP at libwebp's 75): now a quantiser crf / 6 and quality 100 - crf, as
    their video kin. An output with no quality to set (PNG, GIF, raw .y4m, ProRes) refuses a
    --crf, and a JPEG refuses --lossless (both were taken without a word), before any work."""
    photo = tmp_path / "p.png"
    rng = np.random.default_rng(0)
    with VideoWriter(photo, 1, 64, 48) as w:
        w.write((rng.integers(0, 255, (48, 64, 1)) * 0.1 + np.linspace(0, 200, 64)[None, :, None]).repeat(3, 2).astype(np.uint8))
    shown = read_frames(photo)[0].astype(float)
    for suffix in (".jpg", ".webp"):
        err = {}
        for crf in (2, 30):
            out = tmp_path / f"q{crf}{suffix}"
            run(["inpaint", str(photo), "--box", "0,0,8,8", "--crf", str(crf), "-o", str(out)], weights)
            err[crf] = np.abs(read_frames(out)[0].astype(float) - shown)[8:, 8:].mean()
        assert err[2] < 0.5 * err[30], f"{suffix}: --crf 2 errs {err[2]:.2f} levels, --crf 30 {err[30]:.2f}: no quality set"
    clip = make_video(tmp_path / "c.mp4", frames=3)
    for src, args, says in ((clip, ["--crf", "20", "-o", str(tmp_path / "x.gif")], "x.gif is written with gif, which has none"),
                            (clip, ["--crf", "20", "-o", str(tmp_path / "x.y4m")], "raw frames, which has none"),
                            (clip, ["--crf", "20", "--codec", "prores_ks", "-o", str(tmp_path / "x.mov")], "prores_ks, which has none"),
                            (photo, ["--crf", "20", "-o", str(tmp_path / "x.png")], "x.png is stored losslessly (PNG)"),
                            (photo, ["--lossless", "-o", str(tmp_path / "x.jpg")], "x.jpg is a JPEG, which loses detail")):
        r = runner.invoke(app, ["inpaint", str(src), *args, "--weights", str(weights), "--device", "cpu"])
        assert r.exit_code == 2 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not list(tmp_path.glob("x.*")), "written before the check"


def test_interpolate_lossless_keeps_input_frames_bit_exact(weights, clip, tmp_path):
    out = tmp_path / "ll.mp4"
    run(["interpolate", str(clip), "--factor", "2", "--lossless", "-o", str(out)], weights)
    src, got = read_frames(clip), read_frames(out)
    for i in range(len(src)):
        assert np.array_equal(got[2 * i], src[i]), f"input frame {i} changed at output frame {2 * i}"
    assert np.array_equal(got[-1], src[-1]), "the last frame is held"


def test_interpolate_to_a_target_rate(weights, clip, tmp_path):
    """--fps: 59.94 from 29.97 is x2 exactly (the same frames as --factor 2); 24 -> 60 is x5 keeping
    every 2nd frame, so input frames 0, 2, 4 land unchanged on output frames 0, 5, 10."""
    a = run(["interpolate", str(clip), "--factor", "2", "--lossless", "-o", str(tmp_path / "f2.mp4")], weights)
    b = run(["interpolate", str(clip), "--fps", "59.94", "--lossless", "-o", str(tmp_path / "r.mp4")], weights)
    assert (a["frames"], b["frames"]) == (12, 12) and probe(tmp_path / "r.mp4").fps == Fraction(60000, 1001)
    assert np.array_equal(read_frames(tmp_path / "f2.mp4"), read_frames(tmp_path / "r.mp4")), "--fps 59.94 differs from x2"
    src24 = make_video(tmp_path / "24.mp4", frames=6, fps=Fraction(24), audio=True)
    res = run(["interpolate", str(src24), "--fps", "60", "--lossless", "-o", str(tmp_path / "60.mp4")], weights)
    got, src = read_frames(tmp_path / "60.mp4"), read_frames(src24)
    info = probe(tmp_path / "60.mp4")
    assert res["frames"] == 15 and len(got) == 15, f"6 frames at 24 fps are 15 at 60, got {res['frames']}"
    assert info.fps == 60 and info.has_audio and (res["factor"], res["grid_step"], res["jitter_ms"]) == (5, "2", 0)
    for i in (0, 2, 4):
        assert np.array_equal(got[5 * i // 2], src[i]), f"input frame {i} changed at output frame {5 * i // 2}"


def test_interpolate_to_a_rate_off_the_window_grid(weights, clip, tmp_path):
    """29.97 -> 75 fps is x1001/400: past the tiny model's x8, so the nearest frames of the x8 grid,
    each within half a grid step (2.1 ms) of its time; the duration stays within a frame."""
    res = run(["interpolate", str(clip), "--fps", "75", "-o", str(tmp_path / "75.mp4")], weights)
    assert res["factor"] == 8 and 0 < res["jitter_ms"] <= 1000 / (2 * 8 * 29.97), res
    assert probe(tmp_path / "75.mp4").fps == 75 and len(read_frames(tmp_path / "75.mp4")) == res["frames"]
    assert abs(res["frames"] / 75 - 6 / Fraction(30000, 1001)) < Fraction(1, 75), f"{res['frames']} frames at 75 fps"


@pytest.mark.parametrize("args,message", [(["--fps", "20"], "not above the input"), (["--fps", "300"], "at most x8 with this model's 9-frame window; two runs reach it: --factor 2, then --fps 300 on its output"),
                                          (["--factor", "3", "--fps", "60"], "not both"), (["--fps", "fast"], "number or fraction"),
                                          (["--factor", "16"], "--factor 16: at most 8 with this model's 9-frame window; "
                                                               "x16 is two runs: --factor 4, then --factor 4 on its output\n"),
                                          (["--factor", "11"], "--factor 11: at most 8 with this model's 9-frame window\n")])  # a prime: no pair
def test_interpolate_rate_errors(weights, clip, tmp_path, args, message):
    r = run(["interpolate", str(clip), *args, "-o", str(tmp_path / "e.mp4")], weights, expect=2)
    assert message in r.output and "Traceback" not in r.output and not (tmp_path / "e.mp4").exists(), r.output


@pytest.mark.parametrize("fps_in,fps,factor", [(24, 60, 5), (Fraction(24000, 1001), Fraction(60000, 1001), 5), (25, 60, 8),
                                               (30, 60, 2), (25, Fraction(30000, 1001), 8), (25, 30, 4), (24, 30, 5)])
def test_rate_plan(fps_in, fps, factor):
    from magvit_cli.runners import plan_rate
    plan = plan_rate(Fraction(fps_in), Fraction(fps), 16)
    assert plan.factor == factor and plan.step >= 1, plan
    assert plan.jitter <= 0.1 / fps, f"{plan.jitter * 1000:.2f} ms jitter at {fps} fps"
    times = [plan.grid_index(i) / (plan.factor * Fraction(fps_in)) for i in range(200)]
    assert max(abs(t - Fraction(i) / Fraction(fps)) for i, t in enumerate(times)) <= plan.jitter + 1e-12

    def worst(f):  # the largest timing error of grid x f, found by trying the first 1000 output frames
        return max(abs(Fraction(round(i * f * Fraction(fps_in) / Fraction(fps)), f * Fraction(fps_in)) - Fraction(i) / Fraction(fps))
                   for i in range(1000))
    cheaper = [f for f in range(2, 17) if 16 // f > 16 // plan.factor and f * Fraction(fps_in) > fps and worst(f) <= Fraction(1, 10) / fps]
    assert not cheaper, f"x{cheaper[0]} fills more pairs a window within a tenth of a frame than the plan's x{plan.factor}"


def test_rate_text_means_ntsc_rates():
    from magvit_cli.video import parse_rate
    assert [parse_rate(t, "--fps") for t in ("59.94", "29.97", "23.976", "60", "12.5", "2997/100")] == [
        Fraction(60000, 1001), Fraction(30000, 1001), Fraction(24000, 1001), 60, Fraction(25, 2), Fraction(2997, 100)]


def test_same_seed_same_output_different_seed_differs(weights, clip, tmp_path):
    outs = []
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        out = tmp_path / f"{name}.mp4"
        run(["inpaint", str(clip), "--lossless", "--seed", str(seed), "-o", str(out)], weights)
        outs.append(read_frames(out))
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_predict_and_class_conditional(weights, clip, tmp_path):
    res = run(["predict", str(clip), "--frames", "5", "-o", str(tmp_path / "p.mp4")], weights)
    assert res["frames"] == 11 and len(read_frames(tmp_path / "p.mp4")) == 11
    assert probe(tmp_path / "p.mp4").fps == Fraction(30000, 1001)
    res = run(["predict", str(clip), "--frames", "12", "--class", "b", "--lossless", "-o", str(tmp_path / "c.mp4")], weights)
    got = read_frames(tmp_path / "c.mp4")
    assert len(got) == 18 and np.array_equal(got[:6], read_frames(clip)), "the input frames come first, unchanged"
    r = run(["predict", str(clip), "--class", "nope", "-o", str(tmp_path / "e.mp4")], weights, expect=2)
    assert "not in the model" in r.output and "Traceback" not in r.output


def test_class_names_match_loosely_where_that_picks_one(tmp_path):
    """--class takes a name as typed loosely (case, spaces, hyphens, underscores) where that picks
    one class; exact names win, ids may carry spaces, and an ambiguous or unknown name is refused."""
    from magvit_cli.errors import UsageError
    from magvit_cli.models import save_model
    from magvit_cli.pipeline import Magvit
    names = ("pan-left", "ApplyEyeMakeup", "apply_eye_makeup", "Apply Eye Makeup")
    save_model(tiny_tokenizer(seed=1), tmp_path / "tokenizer")
    save_model(tiny_transformer(seed=2, num_classes=4, class_names=names), tmp_path / "transformer")
    m = Magvit(tmp_path, "cpu")
    for typed, want in (("pan-left", 0), ("Pan Left", 0), ("PAN_LEFT", 0), (" pan-left ", 0), ("ApplyEyeMakeup", 1),
                        ("apply_eye_makeup", 2), (" 3 ", 3)):
        assert m.class_id(typed) == want, f"{typed!r} -> {m.class_id(typed)}, expected {want}"
    with pytest.raises(UsageError, match=r"^class 'applyeyemakeup' matches 3 classes loosely \(ApplyEyeMakeup, apply_eye_makeup, "
                                         r"Apply Eye Makeup\): type one exactly$"):
        m.class_id("applyeyemakeup")
    # a typo is pointed to the nearest names; the table is listed where it is short
    with pytest.raises(UsageError, match=r"^class 'pan-lef' is not in the model; did you mean pan-left\? \(one of: pan-left, "):
        m.class_id("pan-lef")
    with pytest.raises(UsageError, match=r"^class 'zoom' is not in the model; one of: pan-left, ApplyEyeMakeup"):
        m.class_id("zoom")
    with pytest.raises(UsageError, match=r"^class 'apply' is not in the model; did you mean ApplyEyeMakeup or apply_eye_makeup or "
                                         r"Apply Eye Makeup\? "):  # the start of a name points to each it starts
        m.class_id("apply")
    from magvit_cli import pipeline
    with pytest.raises(UsageError, match=r"^class 'zoom' is not in the model; `magvit classes` lists its 4$"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(pipeline, "SHOWN_CLASSES", 3)
            m.class_id("zoom")


@pytest.mark.parametrize("mode,size,place", [("central", (96, 64), (24, 16)), ("vertical", (96, 32), (24, 0)),
                                              ("horizontal", (48, 64), (0, 16))])
def test_outpaint_geometry_and_known_pixels(weights, clip, tmp_path, mode, size, place):
    out = tmp_path / f"{mode}.mp4"
    res = run(["outpaint", str(clip), "--mode", mode, "--lossless", "-o", str(out)], weights)
    assert (res["width"], res["height"]) == size and res["frames"] == 6 and res["audio"]
    got, src = read_frames(out), read_frames(clip)
    x, y = place
    assert np.array_equal(got[:, y:y + 32, x:x + 48], src), f"{mode}: known pixels changed"


def test_outpaint_dynamic_and_track(weights, clip, tmp_path):
    res = run(["outpaint", str(clip), "--mode", "dynamic", "--lossless", "-o", str(tmp_path / "d.mp4")], weights)
    got, src = read_frames(tmp_path / "d.mp4"), read_frames(clip)
    assert (res["width"], res["height"]) == (96, 32)
    assert np.array_equal(got[0, :, :48], src[0]) and np.array_equal(got[-1, :, 48:], src[-1]), "slides left to right"
    track = tmp_path / "t.csv"
    track.write_text("frame,x,y\n0,10,4\n3,20,0\n")
    res = run(["outpaint", str(clip), "--mode", "dynamic", "--size", "80x40", "--track", str(track), "--lossless",
               "-o", str(tmp_path / "t.mp4")], weights)
    got = read_frames(tmp_path / "t.mp4")
    assert got.shape[1:3] == (40, 80)
    assert np.array_equal(got[1, 4:36, 10:58], src[1]) and np.array_equal(got[4, 0:32, 20:68], src[4])
    r = run(["outpaint", str(clip), "--size", "40x20", "-o", str(tmp_path / "s.mp4")], weights, expect=2)
    assert "smaller than the input" in r.output
    # a track off the default 96x32 canvas names the --size that holds all of it, before any frame is made
    r = run(["outpaint", str(clip), "--mode", "dynamic", "--track", str(track), "-o", str(tmp_path / "u.mp4")], weights, expect=2)
    assert "--track frame 0: position 10,4 puts the 48x32 input outside the 96x32 canvas; --size 96x36 holds the whole track" \
        in r.output, r.output
    track.write_text("0,-3,0\n")
    r = run(["outpaint", str(clip), "--mode", "dynamic", "--track", str(track), "-o", str(tmp_path / "u.mp4")], weights, expect=2)
    assert "top-left corner on the canvas, 0 or more" in r.output and not (tmp_path / "u.mp4").exists(), r.output


@pytest.mark.parametrize("given,added", [("1s", 10), ("0.25s", 2), ("500ms", 5), ("3", 3)])
def test_predict_frames_in_seconds(weights, tmp_path, given, added):
    """-n 2s: seconds of new frames at the input's rate (here 10 fps), as a shell user thinks of
    a clip's length; a plain number stays a count of frames."""
    src = make_video(tmp_path / "in.mp4", frames=4, width=48, height=32, fps=10)
    res = run(["predict", str(src), "-n", given, "-o", str(tmp_path / "p.mp4")], weights)
    assert res["frames"] == 4 + added and res["new_frames"] == added, f"-n {given}: {res}"


def test_generate_frames_in_seconds(weights, tmp_path):
    res = run(["generate", "--class", "0", "-n", "0.5s", "--fps", "12", "-o", str(tmp_path / "g.mp4")], weights)
    assert res["frames"] == 6, f"0.5 s at 12 fps is 6 frames: {res}"
    r = run(["generate", "--class", "0", "-n", "0.01s", "-o", str(tmp_path / "h.mp4")], weights, expect=2)
    assert "--frames 0.01s is under one frame at 25 fps" in r.output, r.output


@pytest.mark.parametrize("given,text", [("0.01s", "--frames 0.01s is under one frame at 10 fps"), ("2x", "count of frames (16) or seconds (2s, 500ms)"),
                                        ("-1s", "seconds must be > 0"), ("0", "--frames must be >= 1")])
def test_predict_frames_errors(weights, tmp_path, given, text):
    src = make_video(tmp_path / "in.mp4", frames=4, width=48, height=32, fps=10)
    r = run(["predict", str(src), "-n", given, "-o", str(tmp_path / "p.mp4")], weights, expect=2)
    assert text in r.output and len(r.output.strip().splitlines()) == 1 and not (tmp_path / "p.mp4").exists(), r.output


@pytest.mark.parametrize("mode,aspect,size,place", [("central", "16:9", (56, 32), (4, 0)), ("central", "9:16", (48, 86), (0, 27)),
                                                     ("vertical", "21:9", (74, 32), (13, 0)), ("horizontal", "1:1", (48, 48), (0, 8))])
def test_outpaint_to_an_aspect_ratio(weights, tmp_path, mode, aspect, size, place):
    """--size W:H: a canvas of that aspect grown from the input (a phone's portrait video made 16:9):
    central grows the side it needs, vertical the width, horizontal the height; even sizes."""
    src = make_video(tmp_path / "in.mp4", frames=3, width=48, height=32)
    out = tmp_path / f"{mode}.mp4"
    res = run(["outpaint", str(src), "--mode", mode, "--size", aspect, "--lossless", "-o", str(out)], weights)
    assert (res["width"], res["height"]) == size, f"{mode} {aspect}: canvas {res['width']}x{res['height']}, expected {size}"
    x, y = place
    assert np.array_equal(read_frames(out)[:, y:y + 32, x:x + 48], read_frames(src)), f"{mode} {aspect}: known pixels changed"


def test_outpaint_aspect_ratio_is_as_shown():
    """A DVD's 720x480 of 32:27 pixels shows 16:9 already (its pixels, 3:2, do not): 21:9 as shown
    is 944 pixels wide, not 1120; 4:3 DVD pixels (8:9) show 16:9 at 960x480."""
    from magvit_cli.errors import UsageError
    from magvit_cli.runners import canvas_size
    assert canvas_size("central", 720, 480, Fraction(21, 9), Fraction(32, 27)) == (944, 480)
    assert canvas_size("vertical", 720, 480, Fraction(16, 9), Fraction(8, 9)) == (960, 480)
    with pytest.raises(UsageError, match="shown with pixel aspect 32/27"):
        canvas_size("central", 720, 480, Fraction(16, 9), Fraction(32, 27))


def test_outpaint_canvas_is_at_most_8k():
    """A canvas past 8K UHD (--size 8000x8000 took 7.7 GB and 85 s for 18 frames of a 176x144
    clip; twice the side would not fit this machine) is refused before any work, as an input past
    4K is; a 4K input's default central canvas (8K UHD) is not."""
    from magvit_cli.errors import UsageError
    from magvit_cli.runners import canvas_size
    assert canvas_size("central", 3840, 2160, None) == (7680, 4320)
    with pytest.raises(UsageError, match="--size: the 8000x8000 canvas exceeds the limit of 33177600 pixels"):
        canvas_size("central", 176, 144, (8000, 8000))
    with pytest.raises(UsageError, match="--size 1:10: the 3840x38400 canvas exceeds"):
        canvas_size("horizontal", 3840, 2160, Fraction(1, 10))


@pytest.mark.parametrize("args,text", [(["--mode", "horizontal", "--size", "16:9"], "the 48x32 input is already that tall or more "
                                        "(its horizontal mode grows the height; --mode vertical or central grows the other side)"),
                                       (["--size", "3:2"], "the 48x32 input has that shape already"), (["--size", "16:x"], "an aspect ratio W:H (16:9)")])
def test_outpaint_aspect_ratio_errors(weights, clip, tmp_path, args, text):
    r = run(["outpaint", str(clip), *args, "-o", str(tmp_path / "o.mp4")], weights, expect=2)
    assert text in r.output and not (tmp_path / "o.mp4").exists(), r.output


def test_inpaint_modes_keep_pixels_outside_the_hole(weights, clip, tmp_path):
    src = read_frames(clip)
    res = run(["inpaint", str(clip), "--lossless", "-o", str(tmp_path / "c.mp4")], weights)
    got = read_frames(tmp_path / "c.mp4")
    hole = np.zeros((32, 48), bool)
    hole[8:24, 12:36] = True
    assert res["frames"] == 6 and np.array_equal(got[:, ~hole], src[:, ~hole])
    run(["inpaint", str(clip), "--box", "4,4,10,8", "--lossless", "-o", str(tmp_path / "b.mp4")], weights)
    got = read_frames(tmp_path / "b.mp4")
    hole = np.zeros((32, 48), bool)
    hole[4:12, 4:14] = True
    assert np.array_equal(got[:, ~hole], src[:, ~hole])
    mask = np.zeros((32, 48, 3), np.uint8)
    mask[20:30, 30:46] = 255
    with VideoWriter(tmp_path / "mask.png", 1, 48, 32) as w:
        w.write(mask)
    run(["inpaint", str(clip), "--mask", str(tmp_path / "mask.png"), "--lossless", "-o", str(tmp_path / "m.mp4")], weights)
    got = read_frames(tmp_path / "m.mp4")
    keep = mask[:, :, 0] == 0
    assert np.array_equal(got[:, keep], src[:, keep])
    run(["inpaint", str(clip), "--mode", "dynamic", "-o", str(tmp_path / "d.mp4")], weights)
    r = run(["inpaint", str(clip), "--box", "40,4,20,8", "-o", str(tmp_path / "x.mp4")], weights, expect=2)
    assert "outside" in r.output


def test_dynamic_modes_move_the_bar_while_padding(clip, tmp_path):
    """The dynamic modes' motion padding is most of a window's time at HD (a minute a window at
    720p on 2 cores): the bar moved once a window. It moves per frame padded now, never back, and
    ends at the frame count."""
    from magvit_cli import runners
    from magvit_cli.pipeline import Magvit, Sampling
    save_model(tiny_tokenizer(seed=1), tmp_path / "w/tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), tmp_path / "w/transformer")
    m = Magvit(tmp_path / "w", device="cpu")
    calls = []
    runners.inpaint(m, clip, tmp_path / "bar.mp4", "dynamic", Sampling(steps=2), progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert len(calls) == 6 + 1, f"{len(calls)} updates for 6 frames in one window: {calls}"
    assert all(b > a for a, b in zip(done, done[1:])) and done[-1] == calls[-1][1] == 6, calls


def test_image_in_image_out(weights, tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "photo.png", 1, 48, 32) as w:
        w.write(img)
    res = run(["outpaint", str(tmp_path / "photo.png")], weights)
    assert res["output"].endswith("photo.outpaint.png") and (res["width"], res["height"]) == (96, 64)
    got = read_frames(res["output"])
    assert got.shape == (1, 64, 96, 3) and np.array_equal(got[0, 16:48, 24:72], img)
    res = run(["predict", str(tmp_path / "photo.png"), "--frames", "8"], weights)
    assert res["frames"] == 9 and res["output"].endswith(".mp4")


def test_a_photo_named_like_a_pattern_is_that_photo(weights, tmp_path):
    """A file called 'score 100%d.png' is read as that photo (not a sequence pattern matching no
    files), and its edit's derived name is not a pattern either (it wrote 'score 1001.outpaint.png')."""
    img = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "photo.png", 1, 48, 32) as w:
        w.write(img)
    photo = (tmp_path / "photo.png").rename(tmp_path / "score 100%d.png")
    r = runner.invoke(app, ["info", str(photo), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["frames"] == 1, r.output
    res = run(["outpaint", str(photo)], weights)
    assert res["output"] == str(tmp_path / "score 100.outpaint.png"), res["output"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["score 100%d.png", "score 100.outpaint.png"]
    assert np.array_equal(read_frames(res["output"])[0, 16:48, 24:72], img), "the photo's pixels are kept"


def test_generate_names_its_clip_by_class_and_seed(weights, tmp_path, monkeypatch):
    """generate wrote generated.mp4 whatever the class, so a loop over classes or seeds failed at
    its second clip ('generated.mp4 exists'): the default name is CLASS.generate.mp4, with
    .seedN before it for a seed other than 0, made safe for a file name."""
    monkeypatch.chdir(tmp_path)
    for args, name in ((["--class", "b"], "b.generate.mp4"), (["--class", "c"], "c.generate.mp4"),
                       (["--class", "b", "--seed", "3"], "b.seed3.generate.mp4")):
        r = run(["generate", *args, "--frames", "5"], weights)
        assert r["output"] == name and (tmp_path / name).is_file(), (args, r)
    from pathlib import Path
    from magvit_cli.cli import _generated_name
    assert _generated_name(" Pan Left ", 0) == Path("Pan-Left.generate.mp4")
    assert _generated_name("a/b: c", 7) == Path("a-b-c.seed7.generate.mp4"), "a class name's slash made a folder of the name"
    r = run(["generate", "--class", "b", "--frames", "5"], weights, expect=2)
    assert "b.generate.mp4 exists; pass --force" in r.output, r.output


def test_generate_classes_info(weights, tmp_path):
    res = run(["generate", "--class", "b", "--frames", "12", "-o", str(tmp_path / "g.mp4")], weights)
    assert res["frames"] == 12 and len(read_frames(tmp_path / "g.mp4")) == 12 and res["class"] == "b"
    from magvit_cli.pipeline import resize, to_frame, to_tensor
    run(["generate", "--class", "b", "--frames", "12", "--lossless", "-o", str(tmp_path / "g1.mp4")], weights)
    res = run(["generate", "--class", "b", "--frames", "12", "--size", "96x48", "--lossless", "-o", str(tmp_path / "g2.mp4")], weights)
    small, big = read_frames(tmp_path / "g1.mp4"), read_frames(tmp_path / "g2.mp4")
    assert (res["width"], res["height"]) == (96, 48) and big.shape == (12, 48, 96, 3), f"--size 96x48 gave {big.shape}"
    up = np.stack([to_frame(resize(to_tensor(f), (48, 96))) for f in small])
    err = np.abs(up.astype(int) - big).max()
    assert err <= 2, f"--size is not the working-size clip upscaled: {err} levels apart"
    r = runner.invoke(app, ["classes", "--weights", str(weights), "--json"])
    assert json.loads(r.stdout)["classes"] == ["a", "b", "c"]
    r = runner.invoke(app, ["info", "--weights", str(weights), "--device", "cpu", "--json", "--input-fps", "12"])
    got = json.loads(r.stdout)
    assert got["device"] == "cpu" and got["precision"] == "float32" and got["tokenizer"]["bits"] == 6
    assert "warning: --input-fps not used" in r.stderr, r.stderr  # no inputs to read at that rate: it was taken without a word


def test_info_shows_the_defaults_each_task_decodes_with(weights, tmp_path):
    """`magvit info` names the condition region and, per task, the settings used when no option
    is given, which differ between footprint and padded models (Sampling.resolve)."""
    from magvit_cli.tasks import TASKS
    padded = tmp_path / "padded"
    save_model(tiny_tokenizer(seed=1), padded / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), padded / "transformer")
    shown = {}
    for name, w in (("footprint", weights), ("padded", padded)):
        r = runner.invoke(app, ["info", "--weights", str(w), "--device", "cpu", "--json"])
        assert r.exit_code == 0, r.output
        shown[name] = json.loads(r.stdout)["task_defaults"]
        assert set(shown[name]) == set(TASKS), f"{name}: defaults for {sorted(shown[name])}"
        human = runner.invoke(app, ["info", "--weights", str(w), "--device", "cpu"]).stdout
        assert f"condition {name}" in human and "OPC" in human and "CFP" in human, human
    assert shown["padded"]["OPC"] == {"temperature": 0.0, "residual": False, "soft": True, "refine": 10}, shown["padded"]["OPC"]
    assert shown["footprint"]["OPC"] == {"temperature": 1.0, "residual": False, "soft": False, "refine": 0}, shown["footprint"]["OPC"]
    assert shown["padded"]["IPC"]["residual"] and not shown["footprint"]["IPC"]["residual"]


def test_reconstruct_and_tokens_round_trip(weights, clip, tmp_path):
    res = run(["reconstruct", str(clip), "-o", str(tmp_path / "r.mp4")], weights)
    # 6 frames -> one window padded to 9 frames: 3 x 8 x 12 tokens of 6 bits over 6 x 32 x 48 pixels
    assert abs(res["bits_per_pixel"] - 3 * 8 * 12 * 6 / (6 * 32 * 48)) < 1e-9
    assert 0 < res["psnr"] < 60 and res["frames"] == 6 and res["audio"]
    tok = tmp_path / "t.safetensors"
    res = run(["tokenize", str(clip), "-o", str(tok)], weights)
    assert res["windows"] == 1 and res["tokens"] == 3 * 8 * 12
    res = run(["reconstruct", str(tok), "-o", str(tmp_path / "rt.mp4"), "--lossless"], weights)
    run(["reconstruct", str(clip), "-o", str(tmp_path / "rl.mp4"), "--lossless"], weights)
    assert np.array_equal(read_frames(tmp_path / "rt.mp4"), read_frames(tmp_path / "rl.mp4"))


def test_tokens_of_another_tokenizer_are_refused_by_their_grid(weights, clip, tmp_path):
    """A token file decoded by a tokenizer with the same bits but another downsampling made
    frames of another size: 'error: ValueError: frame (...) does not match output ...' (exit 1).
    The grid is checked first, in a line that says what to do."""
    tok = tmp_path / "t.safetensors"
    run(["tokenize", str(clip), "-o", str(tok)], weights)
    other = tmp_path / "other"
    save_model(tiny_tokenizer(seed=1, channel_mult=(1, 2), temporal_down=(True,)), other / "tokenizer")  # 2x2x2, still 6 bits
    r = run(["reconstruct", str(tok), "-o", str(tmp_path / "x.mp4")], other, expect=2)
    assert r.output.strip() == (f"error: {tok}: made by another tokenizer: its window 0 is 3x8x12 tokens for 6 frames of 48x32, "
                                "where this one (2x2x2 downsampling) makes 4x16x24; decode it with the tokenizer that made it "
                                "(--weights)"), r.output
    assert not (tmp_path / "x.mp4").exists()
    # the same grid from a tokenizer of another architecture decodes into other pictures: a warning names what differs
    wider = tmp_path / "wider"
    save_model(tiny_tokenizer(seed=1, channels=12), wider / "tokenizer")
    r = runner.invoke(app, ["reconstruct", str(tok), "-o", str(tmp_path / "y.mp4"), "--weights", str(wider), "--device", "cpu"])
    warned = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert r.exit_code == 0 and warned == [f"warning: {tok} was made by another tokenizer (channels 8 (this one's 12)): "
                                           "this one decodes its tokens into other pictures; --weights the one that made it"], r.output
    r = runner.invoke(app, ["reconstruct", str(tok), "-o", str(tmp_path / "z.mp4"), "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    # the same architecture with another encoder's weights reads the tokens otherwise: named by the encoders' digests
    made = encoder_digest(load_model(weights / "tokenizer").state_dict())
    retrained = tiny_tokenizer(seed=7)
    save_model(retrained, tmp_path / "retrained" / "tokenizer")
    r = runner.invoke(app, ["reconstruct", str(tok), "-o", str(tmp_path / "w.mp4"), "--weights", str(tmp_path / "retrained"), "--device", "cpu"])
    warned = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert r.exit_code == 0 and warned == [f"warning: {tok} was made by another tokenizer (encoder {made} (this one's "
                                           f"{encoder_digest(retrained.state_dict())})): this one decodes its tokens into other "
                                           "pictures; --weights the one that made it"], r.output
    # a decoder fine-tuned on the same encoder (--freeze-encoder) reads them as they were meant, stored in fp16 or not
    tuned = load_model(weights / "tokenizer")
    with torch.no_grad():
        for p in tuned.decoder.parameters():
            p.add_(0.01)
    save_model(tuned, tmp_path / "tuned" / "tokenizer", dtype=torch.float16)
    r = runner.invoke(app, ["reconstruct", str(tok), "-o", str(tmp_path / "v.mp4"), "--weights", str(tmp_path / "tuned"), "--device", "cpu"])
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    # given to a command that takes video, a token file is named as what it is (it was FFmpeg's 'invalid data')
    r = run(["interpolate", str(tok), "-o", str(tmp_path / "i.mp4")], weights, expect=2)
    assert r.output.strip() == (f"error: {tok}: a .safetensors file, not a video: `magvit reconstruct` decodes a token file "
                                "(from `magvit tokenize`), and weights go to --weights"), r.output


def test_a_token_file_is_named_so_that_it_reads_back(weights, clip, tmp_path):
    """tokenize -o with another suffix is refused before any work (it wrote t.txt, which reconstruct
    then took for a video that did not open); the suffix in any case reads back."""
    r = runner.invoke(app, ["tokenize", str(clip), "-o", str(tmp_path / "t.txt"), "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and r.output.strip() == (f"error: -o {tmp_path / 't.txt'}: a token file is named .safetensors "
                                                     f"(reconstruct reads it back by that); -o {tmp_path / 't.safetensors'}"), r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing written"
    tok = tmp_path / "T.SafeTensors"
    run(["tokenize", str(clip), "-o", str(tok)], weights)
    assert run(["reconstruct", str(tok), "-o", str(tmp_path / "r.mp4")], weights)["frames"] == 6


def test_info_describes_a_token_file(weights, clip, tmp_path):
    """`magvit info t.safetensors` says what video the tokens hold and their grid (it was 'not a
    readable video'); weights given to it are named as such, in one line."""
    tok = tmp_path / "t.safetensors"
    run(["tokenize", str(clip), "-o", str(tok)], weights)
    r = runner.invoke(app, ["info", str(tok), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    fps = probe(clip).fps
    made = encoder_digest(load_model(weights / "tokenizer").state_dict())  # what the tokens mean (`weights info` shows it too)
    want = {"tokens_file": True, "width": 48, "height": 32, "fps": str(fps), "frames": 6, "seconds": round(6 / float(fps), 3),
            "windows": 1, "tokens": 3 * 8 * 12, "bits": 6, "encoder": made}
    assert {k: got[k] for k in want} == want, got
    r = runner.invoke(app, ["info", str(tok)])
    line = r.output.strip()
    assert r.exit_code == 0 and line.startswith(f"{tok}: tokens of 48x32, ") and \
        line.endswith(f" fps, 6 frames, {6 / float(fps):.3f} s; 1 window, 288 tokens of 6 bits, encoder {made}"), r.output
    r = runner.invoke(app, ["info", str(weights / "tokenizer" / "model.safetensors")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "magvit weights info" in r.output, r.output
    assert got["photo"] is None
    photo = tmp_path / "p.png"  # a photo's tokens say so (reconstruct writes them back as that type)
    with VideoWriter(photo, 1, 48, 32) as w:
        w.write(np.zeros((32, 48, 3), np.uint8))
    run(["tokenize", str(photo), "-o", str(tmp_path / "p.safetensors")], weights)
    r = runner.invoke(app, ["info", str(tmp_path / "p.safetensors")])
    assert r.output.strip() == f"{tmp_path / 'p.safetensors'}: tokens of a PNG photo, 48x32; 1 window, 96 tokens of 6 bits, encoder {made}", r.output


def test_refined_tokens_decode_closer_and_round_trip(weights, clip, tmp_path):
    plain = run(["reconstruct", str(clip), "-o", str(tmp_path / "p.mp4"), "--lossless"], weights)
    res = run(["reconstruct", str(clip), "-o", str(tmp_path / "r.mp4"), "--lossless", "--refine", "3"], weights)
    assert res["bits_per_pixel"] == plain["bits_per_pixel"], "refining must not change the token grid"
    assert res["psnr"] > plain["psnr"], f"--refine 3: {res['psnr']:.2f} dB, the encoder's tokens {plain['psnr']:.2f}"
    tok = tmp_path / "t.safetensors"
    run(["tokenize", str(clip), "-o", str(tok), "--refine", "3"], weights)
    run(["reconstruct", str(tok), "-o", str(tmp_path / "rt.mp4"), "--lossless"], weights)
    assert np.array_equal(read_frames(tmp_path / "rt.mp4"), read_frames(tmp_path / "r.mp4")), \
        "a refined token file must decode to what reconstruct --refine writes"
    r = run(["reconstruct", str(tok), "-o", str(tmp_path / "x.mp4"), "--refine", "2"], weights, expect=2)
    assert "token file" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "x.mp4").exists()


def test_task_refine_option(weights, clip, tmp_path, monkeypatch):
    from magvit_cli import pipeline
    schedules = []
    search = pipeline.refine_indices
    monkeypatch.setattr(pipeline, "refine_indices", lambda *a, **k: schedules.append(k["sharpness"]) or search(*a, **k))
    a = run(["outpaint", str(clip), "--refine", "0", "--lossless", "-o", str(tmp_path / "a.mp4")], weights)
    b = run(["outpaint", str(clip), "--refine", "4", "--lossless", "-o", str(tmp_path / "b.mp4")], weights)
    assert schedules and set(schedules) == {pipeline.TASK_SHARPNESS}, "the tasks' condition search keeps its own schedule"
    assert a["frames"] == b["frames"] == 6
    assert not np.array_equal(read_frames(tmp_path / "a.mp4"), read_frames(tmp_path / "b.mp4")), \
        "--refine 4 searched the condition's tokens and changed nothing"
    r = run(["outpaint", str(clip), "--refine", "-1", "-o", str(tmp_path / "c.mp4")], weights, expect=2)
    assert "--refine" in r.output and not (tmp_path / "c.mp4").exists()


def test_error_output_redirected_is_the_one_line(weights, clip):
    """Not on a terminal (a batch script's log), no progress bar: its transient display left a
    blank line before the error."""
    r = runner.invoke(app, ["interpolate", str(clip), "--factor", "1", "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and r.output.splitlines() == [r.output.strip()], repr(r.output)


def test_errors_are_one_line_with_exit_codes(weights, clip, tmp_path):
    r = run(["interpolate", str(tmp_path / "missing.mp4")], weights, expect=2)
    assert "no such file" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    r = run(["interpolate", str(bad)], weights, expect=2)
    # FFmpeg's reason in words, without '[Errno 1094995529]' and the path said again
    assert r.output.strip() == f"error: {bad}: not a readable video or image (invalid data found when processing input)", r.output
    r = run(["interpolate", str(clip), "--factor", "1"], weights, expect=2)
    assert "--factor" in r.output
    r = run(["interpolate", str(clip), "-o", str(clip)], weights, expect=2)
    assert "is the input" in r.output
    # another name of the input (a hard link here; CLIP.MP4 for clip.mp4 where names ignore case) is it too, --force or not
    os.link(clip, tmp_path / "same.mp4")
    r = run(["interpolate", str(clip), "-o", str(tmp_path / "same.mp4"), "--force"], weights, expect=2)
    assert "is the input" in r.output and (tmp_path / "same.mp4").samefile(clip), r.output
    (tmp_path / "same.mp4").unlink()
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    r = run(["interpolate", str(clip), "-o", str(existing)], weights, expect=2)
    assert "--force" in r.output and existing.read_bytes() == b"keep me"
    r = run(["interpolate", str(clip), "--steps", "0", "-o", str(tmp_path / "s.mp4")], weights, expect=2)
    assert "--steps" in r.output
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


@pytest.mark.parametrize("args,meant", [(["weights", "download", "org/name"], "`magvit weights pull`"),
                                        (["weights", "upload", "w"], "`magvit weights push`"),
                                        (["OPC", "a.mp4"], "`magvit outpaint --mode central`"),
                                        (["FI", "a.mp4"], "`magvit interpolate`"), (["frobnicate"], None)])
def test_an_unknown_command_names_the_one_meant(args, meant):
    """Another tool's word for a command (the hf CLI's `download`) or the paper's task name: the
    line names the command that does it; a word like none: no guess."""
    r = runner.invoke(app, args, prog_name="magvit")
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "No such command" in r.output, r.output
    assert (f"Did you mean {meant}?" in r.output) if meant else "Did you mean" not in r.output, r.output


def test_out_dir_with_several_inputs(weights, clip, tmp_path):
    """Each input's --json record names it (a skip's and an error's did, a written one's did not), so
    a script can match outputs to inputs."""
    other = make_video(tmp_path / "other.mp4", frames=5, width=32, height=16, seed=3)
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = runner.invoke(app, ["interpolate", str(clip), str(other), "--out-dir", str(outdir), "--weights", str(weights),
                            "--device", "cpu", "--json", "--steps", "2"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(d["input"], Path(d["output"]).name) for d in records] == [
        (str(clip), "in.interpolate.mp4"), (str(other), "other.interpolate.mp4")], records
    assert sorted(p.name for p in outdir.iterdir()) == ["in.interpolate.mp4", "other.interpolate.mp4"]
    assert len(read_frames(outdir / "other.interpolate.mp4")) == 10


def test_progress_in_a_log_is_a_plain_line_now_and_then(weights, clip, tmp_path, monkeypatch):
    """Off a terminal (a batch script's log, nohup) a long run says how far it is in plain lines on
    stderr (here every update: LOG_EVERY_S set to 0; a run under a minute writes none), with the
    frames done of the total; the bar drew nothing there. --json and --quiet keep them off."""
    from magvit_cli import progress
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    args = ["interpolate", str(clip), "--weights", str(weights), "--device", "cpu", "--steps", "2"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "a.mp4")])
    assert r.exit_code == 0, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("interpolate in.mp4 ")]
    assert lines and all(re.fullmatch(r"interpolate in\.mp4 \d+/12 frames(, \d+:\d\d:\d\d left)?", line) for line in lines), r.stderr
    assert lines[-1].startswith("interpolate in.mp4 12/12 frames"), lines
    for quiet in ("--json", "--quiet"):
        r = runner.invoke(app, [*args, quiet, "-o", str(tmp_path / f"b{quiet}.mp4")])
        assert r.exit_code == 0 and "frames, " not in r.stderr and "/12 frames" not in r.stderr, r.stderr


def test_progress_counts_the_inputs_of_a_batch(weights, clip, tmp_path, monkeypatch):
    """With several inputs each progress bar says which one of how many it is."""
    from magvit_cli.console import Progress
    labels = []
    real = Progress.__init__
    monkeypatch.setattr(Progress, "__init__", lambda self, label, *a: (labels.append(label), real(self, label, *a))[0])
    other = make_video(tmp_path / "other.mp4", frames=5, width=32, height=16, seed=3)
    r = runner.invoke(app, ["interpolate", str(clip), str(other), "--out-dir", str(tmp_path), "--weights", str(weights),
                            "--device", "cpu", "--steps", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    assert labels == ["interpolate in.mp4 (1/2)", "interpolate other.mp4 (2/2)"], labels
    r = runner.invoke(app, ["interpolate", str(other), "-o", str(tmp_path / "one.mp4"), "--weights", str(weights),
                            "--device", "cpu", "--steps", "2", "--quiet"])
    assert r.exit_code == 0 and labels[-1] == "interpolate other.mp4", labels


def test_batch_checks_every_input_before_any_work(weights, clip, tmp_path):
    """A missing or empty input anywhere in a batch fails before the first one is processed:
    one line, exit 2, nothing written for the good inputs."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    for bad, says in (("missing.mp4", "no such file"), ("empty.mp4", "file is empty")):
        r = runner.invoke(app, ["interpolate", str(clip), str(tmp_path / bad), "--out-dir", str(outdir),
                                "--weights", str(weights), "--device", "cpu", "--steps", "2"])
        assert r.exit_code == 2 and f"{bad}: {says}" in r.output, r.output
        assert list(outdir.iterdir()) == [], f"{bad}: the good input was processed before the bad one was noticed"


def test_batch_goes_on_past_an_input_that_fails(weights, clip, tmp_path):
    """Of several inputs, one that fails as it runs (a truncated download passes the checks before
    any work) is reported in a line naming it and the rest are written, as cp and gzip go on; the
    call ends with a line naming the failed input and its exit code. A failure no input escapes
    (the weights) ends the call at once, in one line."""
    folder, outdir = tmp_path / "in", tmp_path / "out"
    folder.mkdir(), outdir.mkdir()
    (folder / "a.mp4").write_bytes(clip.read_bytes())
    (folder / "b.mp4").write_bytes(clip.read_bytes()[:2000])
    (folder / "c.mp4").write_bytes(clip.read_bytes())
    srcs = [str(folder / n) for n in ("a.mp4", "b.mp4", "c.mp4")]
    r = runner.invoke(app, ["interpolate", *srcs, "--out-dir", str(outdir), "--weights", str(weights),
                            "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 2, r.output
    assert sorted(p.name for p in outdir.iterdir()) == ["a.interpolate.mp4", "c.interpolate.mp4"], r.output
    assert f"error: {folder / 'b.mp4'}: not a readable video" in r.output, r.output
    assert f"1 of 3 inputs failed ({folder / 'b.mp4'})" in r.output, r.output
    r = runner.invoke(app, ["interpolate", *srcs, "--out-dir", str(outdir), "--weights", str(weights), "--device", "cpu",
                            "--steps", "2", "--skip-existing", "--json"])
    records = {x["input"]: x for x in map(json.loads, r.stdout.splitlines())}  # one per input: skipped, failed
    assert r.exit_code == 2 and [records[s].get("skipped") or records[s].get("exit_code") for s in srcs] == ["exists", 2, "exists"], records
    assert "not a readable video" in records[srcs[1]]["error"], r.output  # the inputs counted as given, those left said
    assert r.stderr.strip().splitlines()[-1] == f"error: 1 of 3 inputs failed ({folder / 'b.mp4'}); 2 skipped", r.stderr
    r = runner.invoke(app, ["interpolate", srcs[0], srcs[2], "--out-dir", str(tmp_path), "--weights", str(tmp_path / "none"),
                            "--device", "cpu"])
    assert r.exit_code == 2 and r.output.count("error:") == 1 and "inputs failed" not in r.output, r.output


def test_example_batch_script(weights, clip, tmp_path):
    """examples/batch.sh: every video of a folder in one call; a broken one is named and the script
    fails, the others are written; run again, it leaves what is there and redoes nothing."""
    import os
    import subprocess
    import sys
    script = Path(__file__).parent.parent / "examples" / "batch.sh"
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.MP4").write_bytes(clip.read_bytes())
    (folder / "b.mov").write_bytes(clip.read_bytes()[:2000])
    (folder / "c.MTS").write_bytes(clip.read_bytes())  # a camcorder's name (the content is probed, not named)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = ["bash", str(script), str(folder), str(tmp_path / "out"), "--weights", str(weights), "--device", "cpu", "--steps", "2"]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "b.mov" in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.interpolate.mp4", "c.interpolate.mp4"]
    made = (tmp_path / "out" / "a.interpolate.mp4").stat().st_mtime_ns
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert "skipped" in done.stdout and (tmp_path / "out" / "a.interpolate.mp4").stat().st_mtime_ns == made, done.stdout


def test_skip_existing_resumes_a_batch(weights, clip, tmp_path):
    """--skip-existing leaves each input whose output exists (a line, or a JSON record, says so)
    and runs the rest; the existing file is not touched. Not with --force."""
    other = make_video(tmp_path / "other.mp4", frames=5, width=32, height=16, seed=3)
    outdir = tmp_path / "out"
    outdir.mkdir()
    done = outdir / "in.interpolate.mp4"
    done.write_bytes(b"keep me")
    args = ["interpolate", str(clip), str(other), "--out-dir", str(outdir), "--weights", str(weights), "--device", "cpu", "--steps", "2"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "--skip-existing" in r.output and not (outdir / "other.interpolate.mp4").exists(), r.output
    r = runner.invoke(app, [*args, "--skip-existing", "--json"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[0] == {"input": str(clip), "output": str(done), "skipped": "exists"}, lines
    assert lines[1]["output"] == str(outdir / "other.interpolate.mp4") and lines[1]["frames"] == 10, lines
    assert done.read_bytes() == b"keep me"
    r = runner.invoke(app, [*args, "--skip-existing", "--force"])
    assert r.exit_code == 2 and "not both" in r.output, r.output
    # outputs beside their inputs, the batch run again over the folder (*.mp4): the last run's
    # outputs are inputs now; each is left (it was refused: "an input of the same call")
    import shutil
    folder = tmp_path / "beside"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip, folder / name)
    (folder / "a.interpolate.mp4").write_bytes(b"made before the stop")
    again = sorted(folder.glob("*.mp4"))  # a.interpolate.mp4, a.mp4, b.mp4
    r = runner.invoke(app, ["interpolate", *map(str, again), "--skip-existing", "--json", "--weights", str(weights),
                            "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert lines[0] == {"input": str(folder / "a.interpolate.mp4"), "skipped": "output", "of": str(folder / "a.mp4")}, lines
    assert lines[1]["skipped"] == "exists" and lines[2]["output"] == str(folder / "b.interpolate.mp4"), lines
    assert sorted(p.name for p in folder.iterdir()) == ["a.interpolate.mp4", "a.mp4", "b.interpolate.mp4", "b.mp4"]


def test_help_and_version_do_not_import_torch():
    """The CLI module imports the library (torch, about 2 s) only when a command runs."""
    import subprocess
    import sys
    code = "import sys, magvit_cli.cli; print(sorted(m for m in ('torch', 'magvit_cli.runners', 'magvit_cli.pipeline') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"imported with the CLI: {out}"


def _cli_imports_torch(*args: str) -> tuple[int, str, bool]:
    """`magvit ARGS` in a fresh interpreter -> (exit code, its output, whether torch was imported)."""
    import subprocess
    import sys
    code = ("import sys; from magvit_cli.cli import app\nsys.argv = ['magvit', *sys.argv[1:]]\ncode = 0\n"
            "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    *out, last = r.stdout.strip().splitlines() or [f"no result: {r.stderr}"]
    exit_code, torch_imported = last.split()
    return int(exit_code), "\n".join(out) + r.stderr, torch_imported == "True"


def test_info_of_a_video_does_not_import_torch(clip):
    """`magvit info clip.mp4` (in a shell loop over a folder) reads the file and loads no model:
    it took 1.3 s, 1 s of it importing torch for a frame count; a token file's needs the library."""
    code, out, torch_imported = _cli_imports_torch("info", str(clip))
    assert code == 0 and "frames" in out and not torch_imported, f"torch imported to describe a video (exit {code}): {out}"


def test_classes_reads_the_config_without_torch(weights, tmp_path):
    """`magvit classes` read the list by loading both models (1.3 s, torch's import most of it): the
    transformer's config is read (0.3 s), a packed file's header too; weights without a transformer
    say so; tab completion of --class reads it the same way."""
    code, out, torch_imported = _cli_imports_torch("classes", "--weights", str(weights), "--json")
    assert code == 0 and json.loads(out)["classes"] == ["a", "b", "c"] and not torch_imported, (code, out, torch_imported)
    packed = tmp_path / "packed.safetensors"
    assert runner.invoke(app, ["weights", "pack", str(weights), str(packed)]).exit_code == 0
    code, out, torch_imported = _cli_imports_torch("classes", "--weights", str(packed), "--json")
    assert code == 0 and json.loads(out)["classes"] == ["a", "b", "c"] and not torch_imported, (code, out, torch_imported)
    save_model(tiny_tokenizer(), tmp_path / "tok")
    code, out, _ = _cli_imports_torch("classes", "--weights", str(tmp_path / "tok"))
    assert code == 1 and f"--weights {tmp_path / 'tok'}: no transformer, whose classes these would be" in out, out
    import subprocess
    import sys
    words = f"magvit generate --weights {weights} --class "
    probe = ("import os, sys; from magvit_cli.cli import app\n"
             "try:\n    app(prog_name='magvit')\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    env = {**os.environ, "_MAGVIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert r.stdout.split() == ["a", "b", "c", "False"], f"completion offered or imported: {r.stdout} {r.stderr}"


@pytest.mark.parametrize("args, said", [
    (["interpolate", "missing.mp4"], "missing.mp4: no such file"),
    (["interpolate", "{clip}", "--steps", "0"], "--steps must be 1 to"),
    (["interpolate", "{clip}", "--factor", "1"], "--factor must be an integer >= 2"),
    (["predict", "{clip}", "--frames", "0"], "--frames must be >= 1"),
    (["outpaint", "{clip}", "--mode", "diagonal"], "--mode must be one of"),
    (["inpaint", "{clip}", "--box", "1,2"], "--box must be x,y,w,h integers"),
    (["reconstruct", "{clip}", "-o", "{clip}"], "is the input file"),
    (["generate", "--class", "bounce", "--temperature", "-1"], "--temperature must be >= 0")])
def test_errors_before_any_work_do_not_import_torch(clip, args, said):
    """A shell loop's wrong option, missing file or taken name is answered in 0.25 s: the options'
    checks (options.py) import no torch; they went through runners and pipeline, 1.2 s each call.
    A box's format is checked there too (it was found once the model had loaded)."""
    code, out, torch_imported = _cli_imports_torch(*(a.format(clip=clip) for a in args))
    assert code != 0 and said in out and not torch_imported, f"exit {code}, torch imported: {torch_imported}: {out}"


def test_tokenize_claims_its_output_while_it_works(weights, clip, tmp_path, monkeypatch):
    """tokenize made its temporary file only at the end, so a second run over the folder with
    --skip-existing tokenized the same inputs again: it is made before the work, as a video's, and
    another process finds it (video.being_written); it is gone once the file is written."""
    from magvit_cli import runners, video
    dst = tmp_path / "t.safetensors"
    claims = []
    encode = runners._encode_window

    def watching(*args, **kwargs):
        with monkeypatch.context() as other:
            other.setattr(video.os, "getpid", lambda: 1)  # seen as another process of this machine sees it
            claims.append(video.being_written(dst))
        return encode(*args, **kwargs)

    monkeypatch.setattr(runners, "_encode_window", watching)
    run(["tokenize", str(clip), "-o", str(dst)], weights)
    assert claims and all(c is not None and c.suffix == ".safetensors" for c in claims), f"no claim while encoding: {claims}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.safetensors"], list(tmp_path.iterdir())


def test_skip_existing_leaves_an_output_another_live_run_is_writing(weights, clip, tmp_path):
    """One job per GPU over one folder (--skip-existing): an input whose output another live run is
    writing (its temporary file's name says which machine and process) is left to it, so the jobs
    split the work; a killed run's leftover, or another machine's file unwritten for a while,
    claims nothing."""
    import subprocess
    import time
    from magvit_cli import video
    out = tmp_path / "out"
    out.mkdir()
    srcs = [tmp_path / f"{n}.mp4" for n in "abcd"]
    for s in srcs:
        s.write_bytes(clip.read_bytes())
    here = video._writer_tag().split("~")[0]
    other = subprocess.Popen(["sleep", "60"])  # a live process of this machine
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        (out / f".a.interpolate.{here}~{other.pid}~x1.mp4").write_bytes(b"")  # being written here: a's left to it
        (out / f".b.interpolate.{here}~{dead.pid}~x2.mp4").write_bytes(b"")  # a killed run's: b is made
        (out / ".c.interpolate.elsewhere~7~x3.mp4").write_bytes(b"")  # another machine's, written just now: left
        stale = out / ".d.interpolate.elsewhere~7~x4.mp4"  # another machine's, untouched for an hour: d is made
        stale.write_bytes(b"")
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        r = runner.invoke(app, ["interpolate", *map(str, srcs), "--out-dir", str(out), "--weights", str(weights), "--device", "cpu",
                                "--steps", "2", "--skip-existing", "--json"])
    finally:
        other.kill()
    records = {Path(x["input"]).stem: x for x in map(json.loads, r.stdout.splitlines())}
    assert r.exit_code == 0 and {k: v.get("skipped") for k, v in records.items()} == \
        {"a": "being written", "b": None, "c": "being written", "d": None}, r.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["b.interpolate.mp4", "d.interpolate.mp4"]
    assert records["a"]["output"] == str(out / "a.interpolate.mp4"), records["a"]


def test_skip_existing_claims_each_output_before_its_work(weights, clip, tmp_path):
    """Two runs over one folder started together (one job per GPU) both did their first input: each
    claimed it only once its model had loaded and its writer opened. A claim is now made before the
    work (video.claim); of two made at the same moment the earlier stands and the later run leaves
    that input, and a run's claim is gone once its output is written."""
    import subprocess
    import time
    from magvit_cli import video
    out = tmp_path / "out"
    out.mkdir()
    here = video._writer_tag().split("~")[0]
    other = subprocess.Popen(["sleep", "60"])  # another live run of this machine
    try:
        theirs = out / f".a.interpolate.{here}~{other.pid}~x1{video.CLAIM_MARK}.mp4"
        theirs.write_bytes(b"")
        os.utime(theirs, ns=(time.time_ns() - 10 ** 9,) * 2)  # made before this run's (file times are coarse: a tie goes by name)
        assert video.claim(out / "a.interpolate.mp4") is None, "made after another's claim: this run leaves it"
        assert sorted(p.name for p in out.iterdir()) == [theirs.name], "the losing claim is removed"
        os.utime(theirs, ns=(time.time_ns() + 10 ** 9,) * 2)  # theirs made after this run's (as seen by the clock)
        mine = video.claim(out / "a.interpolate.mp4")
        assert mine is not None and mine.exists(), "another's claim made later does not count against this one"
        assert video.being_written(out / "a.interpolate.mp4") is not None, "other runs see a live claim"
        mine.unlink()
        srcs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
        for s in srcs:
            s.write_bytes(clip.read_bytes())
        os.utime(theirs, ns=(time.time_ns() - 10 ** 9,) * 2)  # theirs first again: a is left to them, b is made
        r = runner.invoke(app, ["interpolate", *map(str, srcs), "--out-dir", str(out), "--weights", str(weights),
                                "--device", "cpu", "--steps", "2", "--skip-existing", "--json"])
    finally:
        other.kill()
    records = {Path(x["input"]).stem: x.get("skipped") for x in map(json.loads, r.stdout.splitlines())}
    assert r.exit_code == 0 and records == {"a": "being written", "b": None}, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted([theirs.name, "b.interpolate.mp4"]), "this run's claims are gone"


def test_tab_completion_offers_the_weights_classes(weights, tmp_path):
    """--class completes to the class names of the weights the call names (--weights on the line,
    else $MAGVIT_WEIGHTS, else the shipped ones), read from their config; none for weights without
    a transformer."""
    def complete(words, **env):
        given = words.split(" ")
        r = runner.invoke(app, [], env={"_MAGVIT_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                        "COMP_CWORD": str(len(given) - 1), **env}, prog_name="magvit")
        assert r.exit_code == 0, r.output
        return r.output.split()
    assert complete(f"magvit generate --weights {weights} --class ") == ["a", "b", "c"]
    assert complete("magvit predict x.mp4 --class b", MAGVIT_WEIGHTS=str(weights)) == ["b"]
    save_model(tiny_tokenizer(), tmp_path / "tok")
    assert complete(f"magvit generate --weights {tmp_path / 'tok'} --class ") == []
    assert complete(f"magvit generate --weights {tmp_path / 'none'} --class ") == []


def test_skip_existing_leaves_an_output_another_run_made_meanwhile(weights, clip, tmp_path, monkeypatch):
    """Two batch runs over one folder (--skip-existing): an output another run wrote while this one
    worked on it is left as it is and said as a skip, and so is one it wrote before this run came
    to it; they were failures ('2 of 2 inputs failed', exit 1) after the work."""
    from magvit_cli import pipeline
    srcs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for s in srcs:
        s.write_bytes(clip.read_bytes())
    real = pipeline.Magvit.fill

    def fill(self, *a, **k):  # the other run finishes both while this one works on a.mp4
        for s in srcs:
            theirs = out / f"{s.stem}.interpolate.mp4"
            if not theirs.exists():
                theirs.write_bytes(b"theirs")
        return real(self, *a, **k)
    monkeypatch.setattr(pipeline.Magvit, "fill", fill)
    out = tmp_path / "out"
    args = ["interpolate", *map(str, srcs), "--out-dir", str(out), "--weights", str(weights), "--device", "cpu", "--steps", "2"]
    r = runner.invoke(app, [*args, "--skip-existing", "--json"])
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 0 and [x.get("skipped") for x in records] == ["appeared", "exists"], r.output
    assert all((out / f"{s.stem}.interpolate.mp4").read_bytes() == b"theirs" for s in srcs), "another run's outputs are kept"
    out = tmp_path / "out2"  # without --skip-existing it is a failure, as before: the run was asked to write it
    r = runner.invoke(app, [*args[:3], "--out-dir", str(out), *args[5:]])
    assert r.exit_code == 1 and "a file of that name appeared while this run worked" in r.output, r.output


@pytest.mark.parametrize("words, want", [
    ("magvit inter", ["interpolate"]),  # commands
    ("magvit interpolate --fa", ["--factor"]),  # options
    ("magvit outpaint x.mp4 --mode ", ["central", "vertical", "horizontal", "dynamic"]),  # values
    ("magvit inpaint x.mp4 -m d", ["dynamic"]),
    ("magvit predict x.mp4 --device c", ["cpu", "cuda"]),
    ("magvit interpolate x.mp4 --precision f", ["fp32", "fp16"]),
    ("magvit generate --preset very", ["veryfast", "veryslow"]),
    ("magvit reconstruct x.mp4 --codec libx26", ["libx264", "libx264rgb", "libx265"]),  # the encoders PyAV's FFmpeg has
    ("magvit train tokenizer --preset ", ["tiny", "small", "base", "large"]),
    ("magvit train transformer --condition ", ["footprint", "padded"]),
    ("magvit eval x.mp4 --tasks fi,ip", ["fi,ipc", "fi,ipd"]),  # a comma list: the tasks that can come next
    ("magvit bench --tasks outpaint,r", ["outpaint,reconstruct"]),
])
def test_tab_completion_offers_commands_options_and_values(words, want):
    """`magvit --install-completion` sets up the shell's tab completion (bash, zsh, fish): what the
    shell asks for through the environment, as each TAB asks it."""
    given = words.split(" ")
    env = {"_MAGVIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(given) - 1)}
    r = runner.invoke(app, [], env=env, prog_name="magvit")
    assert r.exit_code == 0 and r.output.split() == want, (words, r.output)


def test_scene_cut_is_held_not_morphed(weights, tmp_path):
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 60, (32, 48, 3), dtype=np.uint8), rng.integers(190, 255, (32, 48, 3), dtype=np.uint8)
    src = tmp_path / "cut.mp4"
    with VideoWriter(src, 25, 48, 32, lossless=True) as w:
        for f in [a, a, a, b, b]:
            w.write(f)
    res = run(["interpolate", str(src), "--factor", "2", "--lossless", "-o", str(tmp_path / "o.mp4")], weights)
    got = read_frames(tmp_path / "o.mp4")
    assert res["scene_cuts"] == 1 and len(got) == 10
    assert np.array_equal(got[5], got[4]), "the frame between the cut pair holds the frame before the cut"
    res = run(["interpolate", str(src), "--factor", "2", "--scene-threshold", "1.0", "-o", str(tmp_path / "n.mp4")], weights)
    assert res["scene_cuts"] == 0


@pytest.mark.parametrize("region", ["footprint", "padded"])
def test_pipeline_shows_the_model_its_condition_region(tmp_path, monkeypatch, region):
    """The transformer's condition region decides which tokens COMMIT starts from z~; a padded
    model that keeps every token gives back exactly the tokenizer's view of the padded video."""
    import torch

    from magvit_cli import commit
    from magvit_cli.pipeline import Magvit, Sampling
    from magvit_cli.tasks import get_task, latent_mask
    save_model(tiny_tokenizer(seed=1), tmp_path / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition=region), tmp_path / "transformer")
    seen = {}

    def keep_condition(model, z_cond, cond, *args, **kwargs):
        seen["cond"] = cond.clone()
        return z_cond

    monkeypatch.setattr(commit, "decode", keep_condition)
    m = Magvit(tmp_path, device="cpu")
    known = get_task("FI").known(9, 16, 16)
    low = torch.rand(3, 9, 16, 16) * 2 - 1
    w = m.fill(low, known, get_task("FI"), None, Sampling(soft=False), m.generator(0))
    want = latent_mask(known, m.tf, m.sf).flatten() if region == "footprint" else torch.ones(48, dtype=torch.bool)
    assert torch.equal(seen["cond"].cpu(), want), f"{region}: {int(seen['cond'].sum())} condition tokens, want {int(want.sum())}"
    assert torch.equal(w.generated, w.condition)


def test_soft_decoding_decodes_the_expected_code(tmp_path, monkeypatch):
    """Outpainting with a padded model decodes soft by default: a sure distribution gives back the
    chosen tokens' decoding (to float precision), a flat one the decoding of all-zero codes
    (the condition's tokens not searched, so that both sides start from the same ones)."""
    import torch
    import torch.nn.functional as F

    from magvit_cli import commit
    from magvit_cli.pipeline import Magvit, Sampling
    from magvit_cli.tasks import get_task
    save_model(tiny_tokenizer(seed=1), tmp_path / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), tmp_path / "transformer")
    m = Magvit(tmp_path, device="cpu")
    flat = {"on": False}

    def keep_condition(model, z_cond, cond, *args, return_probs=False, **kwargs):
        if not return_probs:
            return z_cond
        probs = [F.one_hot(sub, 2 ** b).float() for sub, b in zip(model.split(z_cond), model.config.sub_bits)]
        return z_cond, [torch.full_like(p, 1 / p.shape[-1]) if flat["on"] else p for p in probs]

    monkeypatch.setattr(commit, "decode", keep_condition)
    opc = get_task("OPC")
    known = opc.known(9, 16, 16)
    low = torch.rand(3, 9, 16, 16) * 2 - 1
    assert Sampling().resolve(opc, "padded").soft and not Sampling().resolve(get_task("IPC"), "padded").soft
    hard = m.fill(low, known, opc, None, Sampling(soft=False, residual=True, refine=0), m.generator(0)).condition  # decoded tokens
    w = m.fill(low, known, opc, None, Sampling(refine=0), m.generator(0))
    assert w.condition is None, "outpainting composites plainly: no decoder pass for the condition"
    assert (w.generated - hard).abs().max() < 1e-5, "a one-hot distribution decodes as its token"
    flat["on"] = True
    w = m.fill(low, known, opc, None, Sampling(refine=0), m.generator(0))
    zeros = m.tokenizer.decode_codes(torch.zeros(1, m.tokenizer.config.bits, 3, 4, 4)).clamp(-1, 1)[0]
    assert torch.allclose(w.generated, zeros, atol=1e-5), "a flat distribution decodes as zero codes"
    w = m.fill(low, known, opc, None, Sampling(soft=False, refine=0), m.generator(0))
    assert torch.equal(w.generated, hard), "--hard decodes the chosen tokens"


def test_plainly_composited_tasks_search_their_condition_tokens(tmp_path, monkeypatch):
    """Sampling.refine: by default a padded model's condition tokens are searched REFINE_STEPS
    steps where a task composites plainly (the decode is the output), not where residual
    compositing cancels the tokenizer's error, never for CG, and a footprint model's not at all
    (its grey padding's edges would be drawn into the kept tokens); the searched tokens decode
    closer to the condition."""
    import torch

    from magvit_cli import commit
    from magvit_cli.pipeline import REFINE_STEPS, Magvit, Sampling
    from magvit_cli.tasks import condition_video, get_task
    assert REFINE_STEPS["padded"] > 0 and REFINE_STEPS["footprint"] == 0, REFINE_STEPS
    steps = REFINE_STEPS["padded"]
    for code, region, want in [("OPC", "padded", steps), ("OPH", "padded", steps), ("OPV", "padded", 0),
                               ("FI", "padded", 0), ("IPC", "padded", 0), ("IPC", "footprint", 0), ("OPC", "footprint", 0),
                               ("CG", "padded", 0)]:
        got = Sampling().resolve(get_task(code), region).refine
        assert got == want, f"{code} ({region}): refine {got}, want {want}"
    assert Sampling(refine=3).resolve(get_task("FI"), "padded").refine == 3
    assert Sampling(refine=3).resolve(get_task("OPC"), "footprint").refine == 3, "--refine N still searches a footprint model"
    assert Sampling(refine=3).resolve(get_task("CG"), "padded").refine == 0
    save_model(tiny_tokenizer(seed=1), tmp_path / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), tmp_path / "transformer")
    m = Magvit(tmp_path, device="cpu")
    seen = []
    monkeypatch.setattr(commit, "decode", lambda model, z_cond, *a, **k: seen.append(z_cond.clone()) or z_cond)
    opc = get_task("OPC")
    known = opc.known(9, 16, 16)
    low = torch.nn.functional.interpolate(torch.rand(1, 3, 9, 4, 4) * 2 - 1, size=(9, 16, 16), mode="trilinear")[0]
    for refine in (0, 6):
        m.fill(low, known, opc, None, Sampling(soft=False, refine=refine), m.generator(0))
    cond = condition_video(low.unsqueeze(0), known, opc.padding_for("padded"))
    err = [float((m.tokenizer.decode(z.view(1, 3, 4, 4)) - cond).pow(2).mean()) for z in seen]
    assert err[1] < err[0], f"searched condition tokens decode at {err[1]:.4f}, the encoder's at {err[0]:.4f}"


def test_soft_residual_is_zero_where_the_model_keeps_the_condition(tmp_path, monkeypatch):
    """Soft decoding with residual compositing subtracts the condition decoded with the model's own
    confidence: an unsure distribution whose argmax is the condition token changes nothing (the
    output is the padding), one whose argmax is another token does."""
    import torch

    from magvit_cli import commit
    from magvit_cli.pipeline import Magvit, Sampling
    from magvit_cli.tasks import get_task
    save_model(tiny_tokenizer(seed=1), tmp_path / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), tmp_path / "transformer")
    m = Magvit(tmp_path, device="cpu")
    other = {"on": False}

    def unsure(model, z_cond, cond, *args, return_probs=False, **kwargs):
        probs = []
        for sub, b in zip(model.split(z_cond), model.config.sub_bits):
            p = torch.full((*sub.shape, 2 ** b), 0.3 / (2 ** b - 1))
            top = (sub + 1) % 2 ** b if other["on"] else sub
            probs.append(p.scatter(-1, top.unsqueeze(-1), 0.7))
        tokens = model.join([p.argmax(-1) for p in probs])
        return (tokens, probs) if return_probs else tokens

    monkeypatch.setattr(commit, "decode", unsure)
    fi = get_task("FI")
    known = fi.known(9, 16, 16)
    low = torch.rand(3, 9, 16, 16) * 2 - 1
    w = m.fill(low, known, fi, None, Sampling(soft=True), m.generator(0))
    assert torch.equal(w.generated, w.condition), "kept tokens, however unsure, must leave no residual"
    other["on"] = True
    w = m.fill(low, known, fi, None, Sampling(soft=True), m.generator(0))
    assert (w.generated - w.condition).abs().max() > 1e-3, "a changed token must show in the residual"


def test_padded_inpaint_fills_a_moving_hole_from_the_other_frames(tmp_path, monkeypatch):
    """A padded model that keeps every token gives back the full-resolution padding (residual
    compositing). On a still scene the dynamic hole is seen by some other frame at every pixel,
    so inpainting's padding, and with it the output, is the input itself."""
    from magvit_cli import commit
    save_model(tiny_tokenizer(seed=1), tmp_path / "w/tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), tmp_path / "w/transformer")
    monkeypatch.setattr(commit, "decode", lambda model, z_cond, *a, **k: z_cond)
    still = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    src = tmp_path / "still.mp4"
    with VideoWriter(src, 25, 48, 32, lossless=True) as w:
        for _ in range(9):
            w.write(still)
    out = tmp_path / "out.mp4"
    run(["inpaint", str(src), "--mode", "dynamic", "--residual", "--lossless", "-o", str(out)], tmp_path / "w")
    got = np.stack(list(read_frames(out)))
    assert got.shape == (9, 32, 48, 3), got.shape
    err = int(np.abs(got.astype(int) - still).max())
    assert err == 0, f"hole filled from other frames should be exact, max error {err}"


def test_sampling_defaults_follow_the_condition_region():
    from magvit_cli.pipeline import Sampling
    from magvit_cli.tasks import get_task
    fi, opc, ipd, cg = get_task("FI"), get_task("OPC"), get_task("IPD"), get_task("CG")

    def r(task, region, **kw):
        return Sampling(**kw).resolve(task, region)
    assert r(fi, "footprint").temperature == 1.0 and r(fi, "padded").temperature == 0.0
    assert r(cg, "padded").temperature == 1.0, "nothing to refine: sample"
    assert r(fi, "padded", temperature=0.7).temperature == 0.7, "an explicit setting wins"
    assert r(fi, "footprint").residual and r(fi, "padded").residual
    assert not r(opc, "footprint").residual and not r(opc, "padded").residual
    assert not r(ipd, "footprint").residual and r(ipd, "padded").residual
    assert r(get_task("OPV"), "padded").residual and not r(get_task("OPH"), "padded").residual
    assert r(get_task("OPD"), "padded").residual and not r(get_task("OPD"), "footprint").residual
    assert not r(fi, "padded", residual=False).residual and r(opc, "footprint", residual=True).residual
    assert r(opc, "padded").soft and r(get_task("OPD"), "padded").soft and not r(opc, "footprint").soft
    assert r(fi, "padded").soft and not r(fi, "footprint").soft, "interpolation over a padded model: soft"
    assert r(get_task("FP"), "padded").soft and not r(get_task("CFP"), "padded").soft
    assert not r(ipd, "padded").soft and not r(cg, "padded").soft
    assert r(fi, "footprint", soft=True).soft and not r(opc, "padded", soft=False).soft


def test_info_describes_inputs_without_a_model(clip, tmp_path):
    """`magvit info IN` says what magvit reads from a file; no weights are needed (these point nowhere)."""
    r = runner.invoke(app, ["info", str(clip), "--weights", str(tmp_path / "none"), "--json"])
    assert r.exit_code == 0, r.output
    assert "warning: --weights not used: with inputs `info` describes them and loads no model" in r.stderr, r.stderr  # taken without a word
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert (got["width"], got["height"], got["fps"], got["frames"], got["audio"]) == (48, 32, "30000/1001", 6, True), got
    assert abs(got["seconds"] - 6 * 1001 / 30000) < 1e-3 and got["chapters"] == [] and not got["image"]
    assert got["tracks"] == {"audio": 1} and got["variable_rate"] is False, got
    r = runner.invoke(app, ["info", str(clip)], env={"MAGVIT_WEIGHTS": str(tmp_path / "none")})
    assert r.exit_code == 0 and "48x32" in r.output and "6 frames" in r.output and "audio" in r.output, r.output
    assert "warning" not in r.stderr, r.stderr  # $MAGVIT_WEIGHTS is for every command: not said
    one = make_video(tmp_path / "one.mp4", frames=1, width=16, height=16)
    r = runner.invoke(app, ["info", str(one)])
    assert r.exit_code == 0 and ", 1 frame, " in r.output, r.output  # not '1 frames'
    r = runner.invoke(app, ["info", str(tmp_path / "missing.mp4")])
    assert r.exit_code == 2 and "no such file" in r.output and "Traceback" not in r.output, r.output


def test_info_goes_on_past_an_input_that_does_not_open(clip, tmp_path):
    """`magvit info a b c` describes every input it can, as ffprobe in a loop would: one that does
    not open is an error line (with --json its record) and the rest go on; the call ends with a
    line naming the failed ones and exit code 2. It stopped at the first bad one."""
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[:300])
    missing, other = tmp_path / "missing.mp4", make_video(tmp_path / "other.mp4", frames=3, width=16, height=16)
    r = runner.invoke(app, ["info", str(clip), str(cut), str(missing), str(other)])
    assert r.exit_code == 2, r.output
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == [str(clip), str(other)], r.stdout
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 3 and errors[0].startswith(f"error: {cut}: ") and errors[1] == f"error: {missing}: no such file", errors
    assert errors[2] == f"error: 2 of 4 inputs failed ({cut}, {missing}); the others were described", errors
    r = runner.invoke(app, ["info", str(clip), str(missing), "--json"])
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.exit_code == 2 and [rec["input"] for rec in records] == [str(clip), str(missing)], r.stdout
    assert records[1]["exit_code"] == 2 and "no such file" in records[1]["error"] and "output" not in records[1], records[1]


def _pipe(args, weights, data: bytes):
    steps = [] if args[0] in ("reconstruct", "tokenize", "info") else ["--steps", "2"]
    return runner.invoke(app, [args[0], *steps, *args[1:], "--weights", str(weights), "--device", "cpu"], input=data)


def test_errors_name_stdin_as_dash(weights, clip, tmp_path):
    """An input piped in that does not open is named `-` in the error line, the --json record and
    the batch's summary, as the user gave it: they named the temporary file it was read into
    ('/tmp/magvit-pipe.x1y2/stdin')."""
    r = _pipe(["interpolate", "-", "-o", str(tmp_path / "a.mp4")], weights, b"not a video")
    assert r.exit_code == 2 and r.output.startswith("error: -: not a readable video") and "magvit-pipe" not in r.output, r.output
    r = _pipe(["interpolate", "-", str(clip), "--out-dir", str(tmp_path / "out"), "--json"], weights, b"not a video")
    assert r.exit_code == 2 and "magvit-pipe" not in r.output, r.output
    record = json.loads(r.stdout.splitlines()[0])
    assert record["input"] == "-" and record["error"].startswith("-: not a readable video"), record
    assert r.stderr.strip().splitlines()[-1] == "error: 1 of 2 inputs failed (-); the others were written", r.stderr
    r = _pipe(["info", "-", str(clip)], weights, b"not a video")
    assert r.exit_code == 2 and "magvit-pipe" not in r.output and "error: 1 of 2 inputs failed (-)" in r.stderr, r.output


def test_pipes_stdin_to_stdout(weights, clip, tmp_path):
    """`- ` reads the input from stdin and `-o -` sends the output to stdout (Matroska), so magvit
    sits in a shell pipeline; the result line goes to stderr, naming `-`; stdin's audio comes along."""
    r = _pipe(["interpolate", "-", "-o", "-"], weights, clip.read_bytes())
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes[:4] == b"\x1a\x45\xdf\xa3", f"stdout is not Matroska: {r.stdout_bytes[:8]!r}"
    assert "wrote - (" in r.stderr, r.stderr
    got = tmp_path / "got.mkv"
    got.write_bytes(r.stdout_bytes)
    info = probe(got)
    assert (info.frames or len(read_frames(got)), info.width, info.fps, info.has_audio) == (12, 48, Fraction(60000, 1001), True), info
    r = _pipe(["info", "-", "--json"], weights, got.read_bytes())  # info reads stdin too
    assert r.exit_code == 0 and json.loads(r.stdout)["input"] == "-" and json.loads(r.stdout)["frames"] == 12, r.output
    r = _pipe(["generate", "--class", "b", "--frames", "5", "-o", "-"], weights, b"")  # and generate writes stdout
    assert r.exit_code == 0 and r.stdout_bytes[:4] == b"\x1a\x45\xdf\xa3" and "wrote - (5 frames" in r.stderr, r.output


def _fed_fifo(path: Path, data: bytes) -> Path:
    """A named pipe at `path` that a thread feeds `data` into once a reader opens it (a daemon: one
    an error left unread is gone with the process)."""
    import threading
    os.mkfifo(path)

    def feed():
        with open(path, "wb") as f:
            f.write(data)
    threading.Thread(target=feed, daemon=True).start()
    return path


def test_a_named_pipe_or_process_substitution_is_read_as_stdin_is(weights, clip, tmp_path):
    """`magvit interpolate <(ffmpeg ... -f matroska -)` reads /dev/fd/63, a pipe, as does a named
    pipe (mkfifo): it was "file is empty" (a pipe has no size). It is read whole first, as `-` is,
    named as given in messages, the output named after it with --out-dir; where there is no -o
    or --out-dir, where nothing comes through, and for a command that reads its input more than once
    (eval) it is a one-line error."""
    def fifo(name: str, data: bytes) -> Path:
        return _fed_fifo(tmp_path / name, data)

    base = ["--steps", "2", "--weights", str(weights), "--device", "cpu"]
    r = runner.invoke(app, ["interpolate", str(fifo("in.mp4", clip.read_bytes())), "-o", str(tmp_path / "o.mp4"), *base])
    assert r.exit_code == 0 and f"wrote {tmp_path / 'o.mp4'} (12 frames" in r.output, r.output
    r = runner.invoke(app, ["interpolate", str(fifo("in2", clip.read_bytes())), "--out-dir", str(tmp_path / "d"), *base])
    assert r.exit_code == 0 and (tmp_path / "d" / "in2.interpolate.mp4").exists(), r.output
    for args, said in ((["interpolate", str(fifo("a", b"x"))], f"error: {tmp_path / 'a'} (a pipe) has no name to derive"),
                       (["interpolate", str(fifo("b", b"")), "-o", str(tmp_path / "b.mp4")],
                        f"error: {tmp_path / 'b'}: nothing came through the pipe"),
                       (["interpolate", str(fifo("c", b"not a video")), "-o", str(tmp_path / "c.mp4")],
                        f"error: {tmp_path / 'c'}: not a readable video"),
                       (["eval", str(fifo("e", b"x")), "--tasks", "FI", "--windows", "1"],
                        f"error: {tmp_path / 'e'}: a pipe, which this command cannot read more than once")):
        r = runner.invoke(app, [*args, *base[2:]] if args[0] == "eval" else [*args, *base])
        assert r.exit_code == 2 and r.output.startswith(said) and "magvit-pipe" not in r.output, (args, r.output)
        # (a pipe the error left unread keeps its feeding thread waiting: a daemon, gone with the process)


def test_a_mask_given_as_a_pipe_or_stdin_is_read_once(weights, clip, tmp_path):
    """--mask <(...) (or a named pipe) and --mask - (stdin) give the same edit as the mask's file: the
    mask is checked before the model loads and read again by the run, and a pipe reads once, so it
    was refused ('a pipe, which this command cannot read more than once'). Where stdin is the input
    too, or nothing comes through, it is one line."""
    h, w = read_frames(clip)[0].shape[:2]
    mask = np.zeros((h, w, 3), np.uint8)
    mask[8:24, 12:36] = 255
    with VideoWriter(tmp_path / "m.png", 1, w, h) as wr:
        wr.write(mask)
    data = (tmp_path / "m.png").read_bytes()

    def fifo(name: str, content: bytes) -> Path:
        return _fed_fifo(tmp_path / name, content)

    base = ["--steps", "2", "--weights", str(weights), "--device", "cpu", "--lossless", "--quiet"]
    for name, given, stdin in (("file", tmp_path / "m.png", None), ("fifo", fifo("mpipe", data), None), ("stdin", "-", data)):
        r = runner.invoke(app, ["inpaint", str(clip), "--mask", str(given), "-o", str(tmp_path / f"{name}.mp4"), *base], input=stdin)
        assert r.exit_code == 0, (name, r.output)
    want = read_frames(tmp_path / "file.mp4")
    for name in ("fifo", "stdin"):
        assert np.array_equal(read_frames(tmp_path / f"{name}.mp4"), want), f"--mask as {name} edits otherwise than as a file"
    r = runner.invoke(app, ["inpaint", "-", "--mask", "-", "-o", str(tmp_path / "x.mp4"), *base], input=clip.read_bytes())
    assert r.exit_code == 2 and r.output.strip() == "error: --mask -: stdin is the input here, and it can be read once; give --mask a file", r.output
    r = runner.invoke(app, ["inpaint", str(clip), "--mask", str(fifo("empty", b"")), "-o", str(tmp_path / "y.mp4"), *base])
    assert r.exit_code == 2 and r.output.strip() == f"error: --mask {tmp_path / 'empty'}: nothing came through the pipe", r.output
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()


def test_pipes_carry_a_token_file(weights, clip, tmp_path):
    """tokenize -o - | reconstruct -: the token file goes through the pipe as it is and is known
    for one on the other side; the frames are those reconstructed from the file itself."""
    r = _pipe(["tokenize", str(clip), "-o", "-"], weights, b"")
    assert r.exit_code == 0, r.output
    tokens = tmp_path / "t.safetensors"
    tokens.write_bytes(r.stdout_bytes)
    from safetensors.torch import load, load_file
    own = tmp_path / "own.safetensors"
    assert _pipe(["tokenize", str(clip), "-o", str(own)], weights, b"").exit_code == 0
    got, want = load(r.stdout_bytes), load_file(str(own))
    assert got.keys() == want.keys() and all((got[k] == want[k]).all() for k in got), "the piped tokens differ"
    # lossless: H.264's lossy bitstream may differ from one in-process run to the next (one frame, seen here)
    piped, direct = tmp_path / "p.mkv", tmp_path / "d.mkv"
    assert _pipe(["reconstruct", "-", "--lossless", "-o", str(piped)], weights, r.stdout_bytes).exit_code == 0
    assert _pipe(["reconstruct", str(tokens), "--lossless", "-o", str(direct)], weights, b"").exit_code == 0
    assert np.array_equal(read_frames(piped), read_frames(direct)), "the piped token file decoded differently"
    # and out again down a pipe, read or named: a video's tokens as Matroska (they were probed as a video, and refused)
    for args, data in ((["reconstruct", "-", "-o", "-"], r.stdout_bytes), (["reconstruct", str(tokens), "-o", "-"], b"")):
        out = _pipe(args, weights, data)
        assert out.exit_code == 0 and out.stdout_bytes[:4] == b"\x1a\x45\xdf\xa3", (args, out.stdout_bytes[:8], out.stderr)


@pytest.mark.parametrize("args,data,text", [
    (["interpolate", "-", "-o", "x.mp4"], b"", "was empty"),
    (["interpolate", "-"], b"x", "give -o"),
    (["interpolate", "IN", "-o", "-", "--json"], b"", "--json prints on stdout"),
    (["interpolate", "-", "-", "--out-dir", "."], b"x", "read once"),
    (["interpolate", "-", "-o", "-"], b"not a video at all" * 100, "not a readable video"),
])
def test_pipe_errors_are_one_line_and_send_nothing(weights, clip, tmp_path, monkeypatch, args, data, text):
    """Misused pipes get one line and a non-zero exit; a failed run sends nothing down stdout and
    leaves no temporary folder behind."""
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    r = _pipe([a if a != "IN" else str(clip) for a in args], weights, data)
    assert r.exit_code != 0 and text in r.stderr and "Traceback" not in r.output, r.output
    assert r.stdout_bytes == b"", f"{len(r.stdout_bytes)} bytes sent on a failed run"
    assert not list(tmp_path.glob("magvit-pipe.*")), "the temporary folder was left behind"


def test_a_full_temporary_folder_is_named_with_the_way_on(weights, clip, tmp_path, monkeypatch):
    """`-` and `-o -` pass through the temporary folder: where it is full, the line names it and
    TMPDIR (stdin's said 'OSError: [Errno 28] No space left on device'; stdout's named only '-')."""
    import errno
    import shutil
    import tempfile
    from magvit_cli import pipes
    from magvit_cli.video import VideoWriter
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(pipes.shutil, "copyfileobj", full)
        r = _pipe(["interpolate", "-", "-o", str(tmp_path / "a.mp4")], weights, clip.read_bytes())
    assert r.exit_code == 1 and r.stderr.strip() == (
        f"error: - (stdin): cannot hold it in the temporary folder {tmp_path} (no space left on device); "
        "set TMPDIR to a folder with room, or give a file instead of -"), r.output
    monkeypatch.setattr(VideoWriter, "_finish", full)
    r = _pipe(["interpolate", str(clip), "-o", "-"], weights, b"")
    assert r.exit_code == 1 and r.stdout_bytes == b"" and r.stderr.strip() == (
        f"error: -: no space left on device; nothing was written (- is written in the temporary folder {tmp_path} "
        "first; set TMPDIR to a folder with room, or give a file instead of -)"), r.output
    assert shutil.copyfileobj is not full and not list(tmp_path.glob("magvit-pipe.*"))


def test_batch_outputs_never_overwrite_each_other_or_an_input(weights, clip, tmp_path):
    """Two inputs of one name from two folders into one --out-dir would both write the same file
    (the first run's output silently lost, even without --force); an input given twice, and an
    output that is another input of the call, are refused too: before any work, one line."""
    import shutil
    for folder in ("a", "b", "out"):
        (tmp_path / folder).mkdir()
    shutil.copy(clip, tmp_path / "a" / "c.mp4")
    shutil.copy(clip, tmp_path / "b" / "c.mp4")
    shutil.copy(clip, tmp_path / "x.mp4")
    shutil.copy(clip, tmp_path / "x.interpolate.mp4")
    cases = [([str(tmp_path / "a" / "c.mp4"), str(tmp_path / "b" / "c.mp4"), "--out-dir", str(tmp_path / "out")], "would both be written"),
             ([str(tmp_path / "a" / "c.mp4"), str(tmp_path / "a" / "c.mp4"), "--out-dir", str(tmp_path / "out")], "given twice"),
             ([str(tmp_path / "x.mp4"), str(tmp_path / "x.interpolate.mp4"), "--force"], "is an input of the same call")]
    for args, text in cases:
        r = run(["interpolate", *args], weights, expect=2)
        assert text in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not list((tmp_path / "out").iterdir()), "nothing may be written before the check"
    assert (tmp_path / "x.interpolate.mp4").read_bytes() == clip.read_bytes(), "an input was overwritten"


def test_summary_counts_the_frames_a_gif_keeps(weights, tmp_path):
    """A 30 fps clip interpolated x2 into a GIF: frames due under 2 cs after the last are left out
    (video.GIF_MIN_DELAY); the summary's `frames` and `fps` are what the file holds, not what was made."""
    src = make_video(tmp_path / "in.mp4", frames=6, fps=30)
    out = run(["interpolate", str(src), "-o", str(tmp_path / "o.gif")], weights)
    kept = len(read_frames(tmp_path / "o.gif"))
    assert kept < 12, f"{kept} frames kept of 12 at 60 fps: none left out, the test proves nothing"
    assert out["frames"] == kept, f"summary says {out['frames']} frames, the GIF holds {kept}"
    held = probe(tmp_path / "o.gif").fps
    assert Fraction(out["fps"]) == held, f"summary says {out['fps']} fps, the GIF holds {held} (60 made)"


def test_default_names_the_shipped_weights_over_the_environment(weights, tmp_path, monkeypatch):
    """`--weights default` (and `weights info/pack/push default`) is the shipped weights, where a
    shell's $MAGVIT_WEIGHTS names others; a folder called `default` where the command runs is that folder."""
    from magvit_cli.weights import DEFAULT_WEIGHTS
    r = runner.invoke(app, ["info", "--json", "--device", "cpu", "--weights", "default"], env={"MAGVIT_WEIGHTS": str(weights)})
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == str(DEFAULT_WEIGHTS), r.output
    r = runner.invoke(app, ["weights", "info", "default", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == str(DEFAULT_WEIGHTS), r.output
    r = runner.invoke(app, ["weights", "pack", "default", str(tmp_path / "one.safetensors"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["models"] == ["tokenizer", "transformer"], r.output
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").symlink_to(weights)
    r = runner.invoke(app, ["info", "--json", "--device", "cpu", "--weights", "default"])
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == "default", r.output


def test_weights_come_from_the_environment(weights, clip, tmp_path):
    """$MAGVIT_WEIGHTS stands for --weights (a batch script or shell sets its weights once): the
    tiny test weights' 9-frame window shows in `info`, where the shipped ones have 17; --weights on
    the command line wins; a load error says the weights came from the variable."""
    r = runner.invoke(app, ["info", "--json", "--device", "cpu"], env={"MAGVIT_WEIGHTS": str(weights)})
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == str(weights), r.output
    r = runner.invoke(app, ["interpolate", str(clip), "--steps", "2", "--device", "cpu", "--json", "-o", str(tmp_path / "x2.mp4")],
                      env={"MAGVIT_WEIGHTS": str(weights)})
    assert r.exit_code == 0 and json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 12, r.output
    r = runner.invoke(app, ["info", "--json", "--device", "cpu", "--weights", str(weights)], env={"MAGVIT_WEIGHTS": str(tmp_path)})
    assert r.exit_code == 0 and json.loads(r.stdout)["weights"] == str(weights), r.output
    for args in (["info"], ["classes"], ["interpolate", str(clip), "-o", str(tmp_path / "y.mp4")]):
        r = runner.invoke(app, [*args, "--device", "cpu"] if args != ["classes"] else args, env={"MAGVIT_WEIGHTS": str(tmp_path)})
        assert r.exit_code == 1, f"{args}: exit {r.exit_code}: {r.output}"
        assert r.output.strip().endswith("(--weights from $MAGVIT_WEIGHTS)"), f"{args}: {r.output}"
    r = runner.invoke(app, ["info", "--device", "cpu", "--weights", str(tmp_path)])
    assert r.exit_code == 1 and "MAGVIT_WEIGHTS" not in r.output, r.output
    # a device or precision error is not the weights': it does not name the variable
    for bad in (["--device", "tpu"], ["--device", "cpu", "--precision", "fp8"]):
        r = runner.invoke(app, ["interpolate", str(clip), *bad, "-o", str(tmp_path / "z.mp4")], env={"MAGVIT_WEIGHTS": str(weights)})
        assert r.exit_code == 2 and "MAGVIT_WEIGHTS" not in r.output, r.output


def test_names_with_brackets_print_as_they_are(weights, clip, tmp_path):
    """yt-dlp names its downloads 'Title [id].mp4': rich read [id] as markup and dropped it (and
    ':v:' became an emoji) in the summary, info, warning and error lines."""
    import shutil
    src = tmp_path / "Talk [dQw4w9WgXcQ] :v:.mp4"
    shutil.copy(clip, src)
    out = tmp_path / "Talk [dQw4w9WgXcQ] :v:.reconstruct.mp4"
    r = runner.invoke(app, ["reconstruct", str(src), "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 0 and f"wrote {out} (" in r.output, r.output
    r = runner.invoke(app, ["info", str(src)])
    assert r.exit_code == 0 and r.output.startswith(f"{src}: "), r.output
    r = runner.invoke(app, ["reconstruct", str(src), "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and f"error: {out} exists" in r.output, r.output


def test_a_second_video_track_is_named(weights, clip, tmp_path):
    """A file with two video tracks (two angles) is processed by its first; it was silent about the
    other, which the output leaves out: `info` and a warning say so. A cover picture is not one."""
    import subprocess
    import imageio_ffmpeg
    ff = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y"]
    with VideoWriter(tmp_path / "cover.jpg", 1, 48, 32) as w:
        w.write(np.zeros((32, 48, 3), np.uint8))
    two, covered = tmp_path / "two.mkv", tmp_path / "covered.mp4"
    subprocess.run([*ff, "-i", str(clip), "-i", str(clip), "-map", "0:v", "-map", "1:v", "-c", "copy", str(two)], check=True)
    subprocess.run([*ff, "-i", str(clip), "-i", str(tmp_path / "cover.jpg"), "-map", "0", "-map", "1", "-c", "copy",
                    "-disposition:v:1", "attached_pic", str(covered)], check=True)
    for path, others in ((two, 1), (covered, 0), (clip, 0)):
        r = runner.invoke(app, ["info", str(path), "--json"])
        assert r.exit_code == 0 and json.loads(r.stdout)["other_video_tracks"] == others, (path, r.output)
    r = runner.invoke(app, ["reconstruct", str(two), "--weights", str(weights), "--device", "cpu", "-o", str(tmp_path / "o.mp4")])
    assert r.exit_code == 0 and "has 2 video tracks: the first (48x32) is processed, the other left out" in r.output, r.output
    r = runner.invoke(app, ["reconstruct", str(covered), "--weights", str(weights), "--device", "cpu", "-o", str(tmp_path / "c.mp4")])
    assert r.exit_code == 0 and "video tracks" not in r.output, r.output


def test_short_memory_shortens_the_tokenizers_windows_or_says_why(weights, clip, tmp_path, monkeypatch):
    """reconstruct/tokenize at full resolution need memory in proportion to the window: where the
    free memory holds fewer frames they run in shorter windows (and say so); where it holds not one
    frame, or a token file's windows, a one-line error and no output (a 4K clip was killed by the
    kernel's OOM killer, without a word)."""
    from magvit_cli import runners
    from magvit_cli.pipeline import Magvit
    m = Magvit(weights, device="cpu")
    need = {T: runners.window_bytes(m, T, 32, 48) for T in (1, 5, 9)}
    assert need[1] < need[5] < need[9], need
    tok = tmp_path / "full.safetensors"
    run(["tokenize", str(clip), "-o", str(tok)], weights)  # one 9-frame window for 6 frames
    room = lambda n: math.ceil(n / runners.MEMORY_SHARE) + 1  # free memory that just holds n bytes
    monkeypatch.setattr(runners, "free_memory", lambda device: room(need[5]))
    r = runner.invoke(app, ["tokenize", str(clip), "-o", str(tmp_path / "t.safetensors"), "--weights", str(weights), "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    assert "windows of 5 frames" in r.stderr and "17-frame windows at 48x32 need about" in r.stderr, r.stderr
    got = load_file(str(tmp_path / "t.safetensors"))
    assert got["frames"].tolist() == [5, 1], f"windows of {got['frames'].tolist()} frames with room for 5"
    res = run(["reconstruct", str(clip), "-o", str(tmp_path / "r.mp4")], weights)
    assert res["frames"] == 6 and abs(res["bits_per_pixel"] - (2 + 1) * 8 * 12 * 6 / (6 * 32 * 48)) < 1e-9, res
    r = run(["reconstruct", str(tok), "-o", str(tmp_path / "rt.mp4")], weights, expect=1)
    assert "decoding its 9-frame windows at 48x32 needs about" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    monkeypatch.setattr(runners, "free_memory", lambda device: need[1])  # past the share, yet it fits: slowly
    res = run(["tokenize", str(clip), "-o", str(tmp_path / "t.safetensors"), "--force"], weights)
    assert res["windows"] == 6, f"{res['windows']} windows with room for one frame"
    monkeypatch.setattr(runners, "free_memory", lambda device: need[1] - 1)
    for cmd, out in (("reconstruct", "r1.mp4"), ("tokenize", "t1.safetensors")):
        r = run([cmd, str(clip), "-o", str(tmp_path / out)], weights, expect=1)
        assert "one 48x32 frame needs about" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "rt.mp4").exists() and not (tmp_path / "r1.mp4").exists() and not (tmp_path / "t1.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.safetensors", "r.mp4", "t.safetensors"], "temporary files left"


def test_short_memory_runs_the_whole_window_a_chunk_at_a_time(weights, clip, tmp_path, monkeypatch):
    """Where the whole window does not fit but a chunk of its latent frames does, reconstruct and
    tokenize keep the window (its bits per pixel) and run it a chunk at a time: the same tokens as
    with room to spare, no warning; a token file's windows are decoded the same way. (At full
    size a 1080p clip ran in 13-frame windows at 0.066 bits per pixel here; now in 17-frame
    windows at 0.055, in 13.5 GB instead of 15.6.)"""
    from magvit_cli import runners
    from magvit_cli.models.tokenizer import VideoTokenizer
    from magvit_cli.pipeline import Magvit
    full = tmp_path / "full.safetensors"
    run(["tokenize", str(clip), "-o", str(full)], weights)  # one 9-frame window for 6 frames
    whole = run(["reconstruct", str(clip), "-o", str(tmp_path / "whole.mp4")], weights)
    m = Magvit(weights, device="cpu")
    monkeypatch.setitem(runners.MEMORY_UNITS, "chunk", 1.0)  # at this tiny size a chunk costs more than the window
    monkeypatch.setitem(runners.MEMORY_UNITS, "chunk frame", 1.0)
    room = runners.chunk_bytes(m, 17, 1, 32, 48) / runners.MEMORY_SHARE + 1  # one latent frame at a time fits
    assert room * runners.MEMORY_SHARE < runners.window_bytes(m, 17, 32, 48), "the whole (17-frame) window must not fit"
    monkeypatch.setattr(runners, "free_memory", lambda device: room)
    chunks = []
    for name in ("encode_chunked", "decode_chunked"):
        real = getattr(VideoTokenizer, name)
        monkeypatch.setattr(VideoTokenizer, name, lambda self, x, c, real=real, name=name: chunks.append((name, c)) or real(self, x, c))
    r = runner.invoke(app, ["tokenize", str(clip), "-o", str(tmp_path / "t.safetensors"), "--weights", str(weights),
                            "--device", "cpu", "--json"])
    assert r.exit_code == 0 and "windows of" not in r.stderr and "warning" not in r.stderr, r.output
    got, want = load_file(str(tmp_path / "t.safetensors")), load_file(str(full))
    assert got["frames"].tolist() == [6] and torch.equal(got["window_00000"], want["window_00000"]), \
        f"windows of {got['frames'].tolist()} frames; the same tokens as with room to spare"
    assert chunks == [("encode_chunked", 1)], chunks
    res = run(["reconstruct", str(clip), "-o", str(tmp_path / "r.mp4")], weights)
    assert res["bits_per_pixel"] == whole["bits_per_pixel"] and abs(res["psnr"] - whole["psnr"]) < 1e-6, (res, whole)
    assert run(["reconstruct", str(full), "-o", str(tmp_path / "rt.mp4")], weights)["frames"] == 6
    assert chunks[1:3] == [("encode_chunked", 1), ("decode_chunked", 1)], chunks
    assert chunks[3:] == [("decode_chunked", 2)], f"the token file's 9-frame window (3 latent frames) in chunks of 2: {chunks}"


def test_free_memory_reads_the_kernel_and_a_cgroup_limit(monkeypatch):
    from magvit_cli import pipeline
    files = {"/proc/meminfo": "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n"}
    real = Path.read_text
    def fake(self, *a, **k):
        if str(self) in files:
            return files[str(self)]
        if str(self).startswith(("/proc", "/sys")):
            raise FileNotFoundError(self)
        return real(self, *a, **k)
    monkeypatch.setattr(Path, "read_text", fake)
    cpu = torch.device("cpu")
    assert pipeline.free_memory(cpu) == 20000000 * 1024
    files.update({"/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "100\n"})
    assert pipeline.free_memory(cpu) == 20000000 * 1024, "cgroup v2 without a limit"
    files["/sys/fs/cgroup/memory.max"] = str(8 << 30) + "\n"
    files["/sys/fs/cgroup/memory.current"] = str(3 << 30) + "\n"
    assert pipeline.free_memory(cpu) == 5 << 30, "a container's limit less what it uses"
    files.clear()
    assert pipeline.free_memory(cpu) is None, "nothing known: nothing checked"


def test_an_output_named_as_a_folder_is_refused_before_any_work(weights, clip, tmp_path):
    """-o DIR/ for a folder still to make said 'unknown output type (no suffix)' (Typer's Path drops
    the slash); `generate -o DIR --force` with DIR a folder ran the whole job, then failed to move
    its file into place. Each is a one-line usage error naming the folder, nothing written."""
    new = tmp_path / "new"
    for args in (["-o", f"{new}/"], [f"--output={new}/"], [f"-o{new}/"]):
        r = runner.invoke(app, ["predict", str(clip), *args, "--weights", str(weights), "--device", "cpu"])
        assert r.exit_code == 2 and f"-o {new}/ names a folder: use --out-dir {new}" in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and not new.exists(), r.output
    there = tmp_path / "there.mp4"
    there.mkdir()
    (there / "keep").write_text("x")
    r = runner.invoke(app, ["generate", "--class", "0", "-o", str(there), "--force", "--steps", "2",
                            "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and f"-o {there} is a folder: name the output file" in r.output, r.output
    r = runner.invoke(app, ["interpolate", str(clip), "-o", str(there), "--force", "--weights", str(weights), "--device", "cpu"])
    assert r.exit_code == 2 and f"-o {there} is a folder: use --out-dir {there}" in r.output, r.output
    packed = tmp_path / "w.safetensors"
    packed.mkdir()
    r = runner.invoke(app, ["weights", "pack", str(weights), str(packed), "--force"])
    assert r.exit_code == 2 and f"FILE {packed} is a folder" in r.output, r.output
    assert [p.name for p in there.iterdir()] == ["keep"] and not list(packed.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.mp4", "w.safetensors"], "temporary files left"
