import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from conftest import make_video, panning, tiny_tokenizer, tiny_transformer
from magvit_cli.cli import app
from magvit_cli.evaluate import _gauss, diffusion_fill, frechet_distance, psnr, ssim, ssim_map
from magvit_cli.models import save_model
from magvit_cli.video import VideoWriter


def test_psnr_known_values():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a + 10  # MSE 100
    assert abs(psnr(a, b) - 10 * math.log10(255 ** 2 / 100)) < 1e-9
    region = np.zeros((1, 4, 4, 1), bool)
    region[:, :2] = True  # rows 0-1
    c = b.copy()
    c[:, 2:] = 0  # errors only outside the region
    assert abs(psnr(a, c, region) - psnr(a, b)) < 1e-9


def test_ssim_known_values():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    assert abs(ssim(x, x) - 1) < 1e-12
    a, b = np.full((1, 16, 16, 3), 100, np.uint8), np.full((1, 16, 16, 3), 110, np.uint8)
    c1 = (0.01 * 255) ** 2  # flat images: SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    assert abs(ssim(a, b) - (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1)) < 1e-9
    assert ssim(x, 255 - x) < 0.2


def test_ssim_map_matches_the_2d_window_in_chunks():
    """The separable, chunked filter equals the 11x11 2-D Gaussian window with replicated borders."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, (5, 20, 23, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    g = _gauss()
    w = (g[:, None] * g[None, :]).view(1, 1, 11, 11)
    x = torch.from_numpy(a).double().permute(0, 3, 1, 2).reshape(-1, 1, 20, 23)
    y = torch.from_numpy(b).double().permute(0, 3, 1, 2).reshape(-1, 1, 20, 23)
    blur = lambda t: F.conv2d(F.pad(t, (5, 5, 5, 5), mode="replicate"), w)
    mx, my = blur(x), blur(y)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ref = ((2 * mx * my + c1) * (2 * (blur(x * y) - mx * my) + c2)) / (
        (mx ** 2 + my ** 2 + c1) * (blur(x * x) - mx ** 2 + blur(y * y) - my ** 2 + c2))
    ref = ref.view(5, 3, 20, 23).mean(1).numpy()
    got = ssim_map(a, b, chunk=2)  # chunks of 2, 2, 1 frames
    assert got.shape == (5, 20, 23), got.shape
    assert np.abs(got - ref).max() < 1e-10, np.abs(got - ref).max()


def test_frechet_distance_math():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((4000, 3))
    assert abs(frechet_distance(f, f)) < 1e-6
    shift = np.array([1.0, 2.0, 0.0])
    assert abs(frechet_distance(f, f + shift) - 5.0) < 1e-6
    g = rng.standard_normal((4000, 3)) * 2  # cov 4I vs I: trace(I + 4I - 2*2I) = 3
    assert abs(frechet_distance(f, g) - 3.0) < 0.3


def test_diffusion_fill_is_harmonic():
    frame = np.zeros((9, 9, 3), np.uint8)
    frame[:, :4] = 0
    frame[:, 5:] = 200
    known = np.ones((9, 9), bool)
    known[:, 4] = False
    assert abs(int(diffusion_fill(frame, known)[4, 4, 0]) - 100) <= 1


def _full_frame_fill(frame, known, iters):
    """The evaluation's fill written plainly: Jacobi sweeps over the whole frame with a 3x3 kernel."""
    x = torch.from_numpy(frame).double().permute(2, 0, 1)[None]
    k = torch.from_numpy(known)[None, None].expand_as(x)
    vals = x.clone()
    x = torch.where(k, x, vals[k].mean())
    kernel = torch.tensor([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], dtype=torch.float64).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    for _ in range(iters):
        x = torch.where(k, vals, F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3))
    return x[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


@pytest.mark.parametrize("box", [(10, 30, 12, 40), (0, 20, 0, 64), (35, 48, 50, 64)])  # inside, full-width, corner
def test_diffusion_fill_on_the_holes_box_equals_the_whole_frame(box):
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    known = np.ones((48, 64), bool)
    y0, y1, x0, x1 = box
    known[y0:y1, x0:x1] = False
    known[5, 5] = False  # a second, distant hole
    got, want = diffusion_fill(frame, known, iters=60), _full_frame_fill(frame, known, 60)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, f"box {box}: max {diff.max()}, {(diff > 0).sum()} pixels differ"
    assert np.array_equal(got[known], frame[known]), "known pixels must be kept"


def test_eval_report_has_every_task_and_alternative(tmp_path):
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=16)
    r = CliRunner().invoke(app, ["eval", str(clip), "--window", "9", "--windows", "1", "--weights", str(w), "--device", "cpu",
                                 "--steps", "2", "--report", str(tmp_path / "r.json"), "--save-examples", str(tmp_path / "ex"), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    avg = rep["average"]
    expected = {"tokenizer": {"ours", "x264", "x265"}, "FI": {"ours", "frame repeat", "linear blend", "ffmpeg minterpolate"},
                "FP": {"ours", "repeat last frame"}, "OPC": {"ours", "edge replication"}, "OPV": {"ours", "edge replication"},
                "OPH": {"ours", "edge replication"}, "OPD": {"ours", "edge replication", "temporal + diffusion fill"},
                "IPC": {"ours", "temporal + diffusion fill"}, "IPD": {"ours", "temporal + diffusion fill"}}
    assert {t: set(m) for t, m in avg.items()} == expected
    for task, methods in avg.items():
        for method, v in methods.items():
            assert math.isfinite(v["psnr"]) and -1 <= v["ssim"] <= 1, (task, method, v)
    assert avg["FI"]["linear blend"]["psnr"] > avg["FI"]["frame repeat"]["psnr"] - 5
    assert avg["tokenizer"]["x264"]["bits_per_pixel"] > 0 and avg["tokenizer"]["x265"]["bits_per_pixel"] > 0
    assert len(list((tmp_path / "ex").glob("*.png"))) == 9


def test_codecs_hit_the_target_bits_per_pixel(tmp_path):
    from pathlib import Path
    from magvit_cli.evaluate import codec_at_bpp
    from magvit_cli.video import read_frames
    frames = read_frames(Path(__file__).resolve().parent.parent / "examples" / "carphone.mp4", 0, 17)
    for codec in ("libx264", "libx265"):
        dec, bpp = codec_at_bpp(frames, 30, 0.06, codec, tmp_path)
        assert 0.02 < bpp <= 0.06 and dec.shape == frames.shape, (codec, bpp)
        assert psnr(dec, frames) > 20


def test_bench_smoke(tmp_path):
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), w / "transformer")  # as shipped
    r = CliRunner().invoke(app, ["bench", "--smoke", "--vs-ffmpeg", "--weights", str(w), "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(res["tasks"]) == {"interpolate", "predict", "outpaint", "inpaint", "outpaint-dynamic", "inpaint-dynamic", "reconstruct"}
    for task in ("outpaint-dynamic", "inpaint-dynamic"):
        assert res["tasks"][task]["frames_out"] == 9 and res["tasks"][task]["windows"] >= 1, (task, res["tasks"][task])
    assert res["matmul_gflops"] > 0 and res["window_gflop"] > 0 and res["conv3d_gflops"] > 0, res
    # each subcommand's window counted with its own settings: outpainting's condition search
    # (forward and backward through the decoder) makes its window dearer than prediction's
    assert res["tasks"]["outpaint"]["window_gflop"] > 2 * res["tasks"]["predict"]["window_gflop"], res["tasks"]["outpaint"]
    rec = res["tasks"]["reconstruct"]  # the tokenizer alone, at the clip's full size
    assert rec["windows"] >= 1 and rec["window_gflop"] > 0 and rec["model_gflops"] > 0, rec
    it = res["tasks"]["interpolate"]
    assert it["frames_out"] == 18 and it["windows"] >= 1 and it["model_gflops"] > 0
    assert all(it["stages"][k] > 0 for k in ("decode video", "tokenize", "COMMIT steps", "detokenize", "composite", "encode video"))
    assert sum(it["stages"].values()) <= it["seconds"] * 1.05
    assert res["interpolate_vs_ffmpeg_time_ratio"] > 0


def test_bench_counts_a_short_clips_tokenizer_work_by_its_frames(tmp_path):
    """reconstruct's window is as long as the clip: a clip shorter than the window was counted as
    whole windows, and the smoke bench said 123% of the matmul peak. Its work goes with its frames
    (5 frames: 5/9 of 9 frames' work, each one window); a tokenizer alone is enough to bench it."""
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")  # no transformer
    work = {}
    for frames in (5, 9):
        r = CliRunner().invoke(app, ["bench", "--tasks", "reconstruct", "--size", "64x48", "--frames", str(frames), "--weights", str(w),
                                     "--device", "cpu", "--json"])
        assert r.exit_code == 0, r.output
        rec = json.loads(r.stdout.strip().splitlines()[-1])["tasks"]["reconstruct"]
        assert rec["frames_out"] == frames and rec["windows"] == 1, rec
        seconds = rec["stages"]["tokenize"] + rec["stages"]["detokenize"]
        assert rec["model_gflops"] * seconds == pytest.approx(rec["window_gflop"], rel=1e-6), rec
        work[frames] = rec["window_gflop"]
    assert work[5] / work[9] == pytest.approx(5 / 9, rel=1e-6), work


def test_bench_table_in_a_file_is_whole_and_counts_are_checked(tmp_path):
    """Off a terminal (`magvit bench > bench.txt`) the table is as wide as its contents: rich
    squeezed its 13 columns into 80 and cut every number to '0.…'. --frames 1 (which failed as 'has
    no video stream') and eval --windows 0 are option errors."""
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4), condition="padded"), w / "transformer")
    r = CliRunner().invoke(app, ["bench", "--smoke", "--tasks", "predict", "--weights", str(w), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    row = next(line for line in r.stdout.splitlines() if " predict " in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert len(cells) == 13 and all(re.fullmatch(r"\d+(\.\d+)?", c) for c in cells[1:]), row
    r = CliRunner().invoke(app, ["bench", "--frames", "1", "--weights", str(w), "--device", "cpu"])
    assert r.exit_code == 2 and "Invalid value for '--frames'" in r.output, r.output
    # --smoke set its size, frames and steps over those the call gave, without a word
    r = CliRunner().invoke(app, ["bench", "--smoke", "--size", "96x64", "--steps", "3", "--weights", str(w), "--device", "cpu"])
    assert r.exit_code == 2 and "give it or --size, --steps, not both" in r.output, r.output
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=32)
    r = CliRunner().invoke(app, ["eval", str(clip), "--windows", "0", "--weights", str(w), "--device", "cpu"])
    assert r.exit_code == 2 and "Invalid value for '--windows'" in r.output, r.output


def test_eval_fvd_with_a_user_i3d_file(tmp_path):
    import torch

    class TinyI3D(torch.nn.Module):  # stands in for the user's I3D file: (N,3,T,224,224) -> (N,6)
        def forward(self, x):
            return torch.cat([x.mean((2, 3, 4)), x.std((2, 3, 4))], 1)
    torch.jit.script(TinyI3D()).save(str(tmp_path / "i3d.pt"))
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    clip = make_video(tmp_path / "c.mp4", frames=18, width=32, height=32)
    r = CliRunner().invoke(app, ["eval", str(clip), "--window", "9", "--windows", "2", "--tasks", "FP,IPC", "--weights", str(w),
                                 "--device", "cpu", "--steps", "2", "--i3d", str(tmp_path / "i3d.pt"), "--json"])
    assert r.exit_code == 0, r.output
    fvd = json.loads(r.stdout.strip().splitlines()[-1])["fvd"]
    assert set(fvd) == {"FP", "IPC"} and all(math.isfinite(v) and v >= -1e-6 for v in fvd.values())


def test_eval_checks_the_i3d_file_before_scoring(tmp_path):
    """An --i3d file that does not load, fails on a clip or answers something other than (N, D)
    features is a one-line error before any window is scored (it failed after all of them, the
    report lost)."""
    import torch

    class Flat(torch.nn.Module):  # (N, D) expected; gives (N,)
        def forward(self, x):
            return x.mean((1, 2, 3, 4))

    class Images(torch.nn.Module):  # takes frames (N, 3, H, W), not clips
        def forward(self, x):
            return torch.nn.functional.avg_pool2d(x, 2).flatten(1)
    torch.jit.script(Flat()).save(str(tmp_path / "flat.pt"))
    torch.jit.script(Images()).save(str(tmp_path / "images.pt"))
    (tmp_path / "text.pt").write_text("not a network")
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=32)
    for name, says in (("none.pt", "no such file"), ("text.pt", "not a loadable TorchScript file"),
                       ("images.pt", "fails on a (1, 3, 9, 224, 224) clip"), ("flat.pt", "returns (1,) for one clip, expected (1, D)")):
        r = CliRunner().invoke(app, ["eval", str(clip), "--window", "9", "--windows", "1", "--tasks", "FP", "--weights", str(w),
                                     "--device", "cpu", "--steps", "2", "--i3d", str(tmp_path / name)])
        assert r.exit_code == 2 and f"--i3d {tmp_path / name}: {says}" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output, r.output


def test_eval_fi_every_k_knows_every_kth_frame(tmp_path):
    """--fi-every 2 scores interpolation x2 (the common use): every other frame known, so the
    alternatives have closer frames to work from than with the paper's first and last; a k that
    does not divide the window is refused."""
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    clip = tmp_path / "pan.mp4"
    with VideoWriter(clip, 25, 48, 32, lossless=True) as out:
        for f in panning(9, 32, 48, 2):
            out.write(f)
    blend = {}
    for every in ("2", "8"):
        rep_path = tmp_path / f"r{every}.json"
        r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "FI", "--window", "9", "--windows", "1", "--weights", str(w),
                                     "--device", "cpu", "--steps", "2", "--fi-every", every, "--report", str(rep_path), "--quiet"])
        assert r.exit_code == 0, r.output
        rep = json.loads(rep_path.read_text())
        assert rep["settings"]["fi_every"] == int(every) and rep["settings"]["motion"] is True
        blend[every] = rep["average"]["FI"]["linear blend"]["psnr"]
    assert blend["2"] > blend["8"] + 1, f"linear blend PSNR with every 2nd frame known {blend['2']:.2f}, every 8th {blend['8']:.2f}"
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "FI", "--window", "9", "--weights", str(w), "--device", "cpu",
                                 "--fi-every", "3"])
    assert r.exit_code == 2 and "--fi-every" in r.output, r.output
    # without FI among the tasks it was taken without a word
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "IPC", "--weights", str(w), "--device", "cpu", "--fi-every", "2"])
    assert r.exit_code == 2 and "--tasks IPC leaves FI out" in r.output, r.output


def test_eval_says_nothing_of_its_own_temporary_files(tmp_path):
    """The tasks' notes about their outputs name eval's temporary files, which the user never
    sees ('warning: /tmp/tmpa0k4dwka/fi.mp4: 479.52 fps, more than most players ... show'): eval
    keeps them to itself."""
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    clip = make_video(tmp_path / "c60.mp4", frames=9, width=32, height=16, fps=Fraction(60))  # FI x8: 480 fps
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "FI", "--window", "9", "--windows", "1", "--weights", str(w),
                                 "--device", "cpu", "--steps", "2"])
    assert r.exit_code == 0 and "warning" not in r.output, r.output


def test_eval_outputs_are_checked_before_the_model_loads(tmp_path):
    """--report naming a folder (it scored every window, then failed: IsADirectoryError) or one
    that is missing, and --save-examples under a file (its error named --out-dir) are one line
    naming the option, before the weights load (they point nowhere here)."""
    clip = make_video(tmp_path / "clip.mp4", frames=9, width=32, height=32)
    (tmp_path / "reports").mkdir()
    for args, said in ((["--report", str(tmp_path / "reports")], f"--report {tmp_path / 'reports'} is a folder: name the report's "
                        f"file, e.g. --report {tmp_path / 'reports' / 'report.json'}"),
                       (["--report", str(tmp_path / "nowhere" / "r.json")],
                        f"--report {tmp_path / 'nowhere' / 'r.json'}: folder {tmp_path / 'nowhere'} does not exist"),
                       (["--save-examples", str(clip / "sheets")], f"--save-examples {clip / 'sheets'}: {clip} is a file, not a folder")):
        r = CliRunner().invoke(app, ["eval", str(clip), "--weights", str(tmp_path / "no-weights"), "--device", "cpu", *args])
        assert (r.exit_code, r.output.strip()) == (2, f"error: {said}"), (args, r.output)


def test_eval_names_an_input_it_cannot_use(tmp_path):
    """eval of a path that does not exist or a folder with no media says which, in one line, in
    eval's own words (not training's --data)."""
    (tmp_path / "empty").mkdir()
    for path, says in ((tmp_path / "nowhere", "no such file or folder"), (tmp_path / "empty", "no videos or images in it")):
        r = CliRunner().invoke(app, ["eval", str(path), "--device", "cpu"])
        lines = r.output.strip().splitlines()
        assert r.exit_code == 2 and lines == [f"error: {path}: {lines[0].split(': ', 2)[2]}"] and says in lines[0], r.output
        assert "--data" not in r.output, r.output


def _eval_weights(tmp_path):
    w = tmp_path / "w"
    save_model(tiny_tokenizer(seed=1), w / "tokenizer")
    save_model(tiny_transformer(seed=2, latent_shape=(3, 4, 4)), w / "transformer")
    return w


def test_eval_keeps_an_existing_report_unless_force(tmp_path):
    """A report already there, or this run's contact sheets, are refused before the model loads
    (they were overwritten after the scoring, unasked, as no other output is); --force replaces
    them, the report whole."""
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=16)
    report = tmp_path / "r.json"
    report.write_text("last week's numbers")
    r = CliRunner().invoke(app, ["eval", str(clip), "--weights", str(tmp_path / "no-weights"), "--report", str(report)])
    assert (r.exit_code, r.output.strip()) == (2, f"error: {report} exists; pass --force to overwrite it"), r.output
    assert report.read_text() == "last week's numbers"
    sheets = tmp_path / "ex"
    sheets.mkdir()
    (sheets / "c.w0.FI.png").write_bytes(b"last week's sheet")
    (sheets / "other.w0.FI.png").write_bytes(b"another clip's")
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "FI,IPC", "--weights", str(tmp_path / "no-weights"), "--save-examples", str(sheets)])
    assert (r.exit_code, r.output.strip()) == (2, f"error: --save-examples {sheets} holds this run's sheets already (c.w0.FI.png); "
                                                  "pass --force to overwrite them"), r.output
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "IPC", "--weights", str(tmp_path / "no-weights"), "--save-examples", str(sheets)])
    assert "no-weights" in r.output, f"sheets of other tasks or clips do not stand in the way: {r.output}"
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "FI", "--window", "9", "--windows", "1", "--weights", str(_eval_weights(tmp_path)),
                                 "--device", "cpu", "--steps", "2", "--report", str(report), "--save-examples", str(sheets), "--force", "--quiet"])
    assert r.exit_code == 0, r.output
    assert set(json.loads(report.read_text())["average"]) == {"FI"}
    assert (sheets / "c.w0.FI.png").read_bytes()[:4] == b"\x89PNG" and (sheets / "other.w0.FI.png").read_bytes() == b"another clip's"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file is left beside the report"


def test_eval_tasks_in_any_case_and_unknown_ones_before_the_model(tmp_path):
    """`--tasks fi,ipc` is FI and IPC (lower case was 'unknown tasks fi'), each once; a name that
    is no task is refused before the weights load (here they point nowhere), naming it."""
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=16)
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "fi,Ipc", "--weights", str(tmp_path / "no-weights")])
    assert r.exit_code == 2 and "no-weights" in r.output, r.output  # the tasks passed; the weights are what failed
    for tasks, bad in (("fi,warp", "unknown warp"), (" , ", "no task named")):
        r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", tasks, "--weights", str(tmp_path / "no-weights")])
        assert r.exit_code == 2 and r.output.startswith(f"error: --tasks: {bad}; choose all or from tokenizer, FI,"), r.output
    r = CliRunner().invoke(app, ["eval", str(clip), "--tasks", "fi,FI,ipc", "--window", "9", "--windows", "1", "--weights", str(_eval_weights(tmp_path)),
                                 "--device", "cpu", "--steps", "2", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    assert list(json.loads(r.stdout)["average"]) == ["FI", "IPC"]


def test_eval_refuses_a_short_clip_before_scoring_any(tmp_path, monkeypatch):
    """A clip shorter than one window is named before any window is scored (it failed after every
    clip before it had been scored: minutes lost), with the others that are short."""
    from magvit_cli import evaluate
    scored = []
    monkeypatch.setattr(evaluate, "evaluate_window", lambda *a, **k: scored.append(a) or {})
    long = make_video(tmp_path / "long.mp4", frames=9, width=32, height=16)
    short = make_video(tmp_path / "short.mp4", frames=5, width=32, height=16)
    photo = tmp_path / "still.png"
    with VideoWriter(photo, 1, 32, 16) as w:
        w.write(np.zeros((16, 32, 3), np.uint8))
    r = CliRunner().invoke(app, ["eval", str(long), str(short), str(photo), "--window", "9", "--weights", str(_eval_weights(tmp_path)),
                                 "--device", "cpu"])
    assert (r.exit_code, r.output.strip()) == (2, f"error: fewer frames than one 9-frame window: {short} (5 frames), {photo} (1 frame); "
                                                  "give a smaller --window or leave them out"), r.output
    assert scored == [], f"{len(scored)} windows were scored before the short clip was refused"


def test_eval_stopped_says_which_sheets_it_kept(tmp_path, monkeypatch):
    """eval stopped part-way (Ctrl-C) said 'no partial output was left behind' while the contact
    sheets of the windows scored so far stayed in --save-examples: it says they are kept, and
    that no report was written; stopped before any sheet, it says what it said."""
    from magvit_cli import evaluate
    real, calls = evaluate.contact_sheet, []

    def sheet_then_stop(path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, *a, **k)
    monkeypatch.setattr(evaluate, "contact_sheet", sheet_then_stop)
    clip = make_video(tmp_path / "c.mp4", frames=9, width=32, height=16)
    args = ["eval", str(clip), "--tasks", "FI,IPC", "--window", "9", "--windows", "1", "--weights", str(_eval_weights(tmp_path)),
            "--device", "cpu", "--steps", "2", "--report", str(tmp_path / "r.json"), "--quiet"]
    r = CliRunner().invoke(app, [*args, "--save-examples", str(tmp_path / "ex")])
    assert (r.exit_code, r.output.strip()) == (130, f"interrupted: no report was written; the 1 contact sheet made so far is kept in "
                                                    f"{tmp_path / 'ex'}"), r.output
    assert [p.name for p in (tmp_path / "ex").iterdir()] == ["c.w0.FI.png"] and not (tmp_path / "r.json").exists()
    calls.clear()
    monkeypatch.setattr(evaluate, "evaluate_window", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    r = CliRunner().invoke(app, [*args, "--save-examples", str(tmp_path / "ex2")])
    assert (r.exit_code, r.output.strip()) == (130, "interrupted: no partial output was left behind"), r.output
