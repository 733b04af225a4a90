"""Training: loss falls, resume is exact, 2-process DDP (gloo) equals one process on the
combined batch, and exported weights work in the CLI."""
import json
import os
import signal
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from typer.testing import CliRunner

from magvit_cli.cli import app
from magvit_cli.errors import UsageError
from magvit_cli.train.tokenizer import TokenizerTrainConfig, train_tokenizer
from magvit_cli.train.transformer import TransformerTrainConfig, train_transformer


def tok_cfg(out, **kw):
    base = dict(out=out, preset="tiny", steps=6, batch=2, frames=5, size=16, lr=3e-3, betas=(0.9, 0.99), warmup=1,
                workers=0, quiet=True, ckpt_every=3, log_every=1, eval_every=1000)
    return TokenizerTrainConfig(**{**base, **kw})


from conftest import make_video, metrics_rows as rows


def test_tokenizer_loss_falls(tmp_path):
    import random
    from magvit_cli.models import TokenizerConfig, VideoTokenizer
    from magvit_cli.train.data import ClipSource
    from magvit_cli.train.tokenizer import TOKENIZER_PRESETS
    src = ClipSource([], 5, 16)
    batch = torch.stack([src.sample(random.Random(10 ** 6 + i))[0] for i in range(8)])  # held-out clips

    def l1(state):
        m = VideoTokenizer(TokenizerConfig(**TOKENIZER_PRESETS["tiny"]))
        m.load_state_dict(state)
        with torch.no_grad():
            return float((m(batch).reconstruction - batch).abs().mean())

    train_tokenizer(tok_cfg(tmp_path / "0", steps=1, lr=0.0))
    before = l1(torch.load(tmp_path / "0/checkpoint.pt", weights_only=True)["model"])
    train_tokenizer(tok_cfg(tmp_path / "40", steps=80, lr=3e-3, entropy_weight=0.0, entropy_start=0.0))
    after = l1(torch.load(tmp_path / "40/checkpoint.pt", weights_only=True)["model"])
    assert after < 0.92 * before, f"held-out L1 {before:.4f} -> {after:.4f}"


def test_max_short_sets_the_scale_of_the_crops(tmp_path):
    """Videos are held at a short side of 2 x size by default (upscaled if smaller, as the releases
    trained); with max_short at most that, never upscaled, and the cache bound grows with it."""
    from conftest import make_video
    from magvit_cli.train.data import ClipSource
    make_video(tmp_path / "v.mp4", frames=5, width=48, height=32)
    held = lambda src: tuple(src._load(tmp_path / "v.mp4").shape[-2:])
    assert held(ClipSource([str(tmp_path)], 5, 8)) == (16, 24), "default: short side 2 x 8"
    assert held(ClipSource([str(tmp_path)], 5, 32)) == (64, 96), "default upscales to 2 x 32"
    assert held(ClipSource([str(tmp_path)], 5, 8, max_short=24)) == (24, 36)
    big = ClipSource([str(tmp_path)], 5, 8, max_short=400)
    assert held(big) == (32, 48), "max_short never upscales past the footage's own size"
    assert big.cache_bytes > ClipSource([str(tmp_path)], 5, 8).cache_bytes


def test_resume_is_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train_tokenizer(tok_cfg(a))
    train_tokenizer(tok_cfg(b, stop_after=3))  # an interrupted run
    assert torch.load(b / "checkpoint.pt", weights_only=True)["step"] == 3
    train_tokenizer(tok_cfg(b, resume=True))
    ca, cb = (torch.load(p / "checkpoint.pt", weights_only=True) for p in (a, b))
    assert ca["step"] == cb["step"] == 6
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), f"weights differ after resume at {k}"
    ea, eb = load_file(str(a / "export/model.safetensors")), load_file(str(b / "export/model.safetensors"))
    assert all(torch.equal(ea[k], eb[k]) for k in ea)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    train_tokenizer(tok_cfg(out, steps=1, batch=1, entropy_weight=0.0, entropy_start=0.0, device="cpu"))
    torch.distributed.destroy_process_group()


def test_two_process_ddp_equals_one_process_on_combined_batch(tmp_path):
    port = _free_port()
    mp.spawn(_ddp_worker, args=(2, port, tmp_path / "ddp"), nprocs=2, join=True)
    train_tokenizer(tok_cfg(tmp_path / "one", steps=1, batch=2, entropy_weight=0.0, entropy_start=0.0, device="cpu"))
    ddp = torch.load(tmp_path / "ddp/checkpoint.pt", weights_only=True)
    one = torch.load(tmp_path / "one/checkpoint.pt", weights_only=True)
    # gradients: Adam's first moment after one step is (1 - b1) * the averaged gradient
    for i, st in one["opt"]["state"].items():
        g1, g2 = st["exp_avg"], ddp["opt"]["state"][i]["exp_avg"]
        assert g1.abs().max() > 0
        assert torch.allclose(g1, g2, atol=1e-7, rtol=1e-4), f"param {i}: DDP-averaged gradient differs"
    # weights: one Adam step moves each weight by about lr = 3e-3; rounding differs far less
    for k in one["model"]:
        assert torch.allclose(ddp["model"][k], one["model"][k], atol=2e-4), f"{k}: DDP step differs from one process"


def test_transformer_trains_and_exports_work_in_cli(tmp_path, monkeypatch):
    tok = train_tokenizer(tok_cfg(tmp_path / "tok", steps=2))
    tr_out = tmp_path / "tr"
    monkeypatch.chdir(tmp_path)  # the tokenizer given by a relative path, as a shell user does
    train_transformer(TransformerTrainConfig(out=tr_out, tokenizer=str(tok.relative_to(tmp_path)), cache_clips=24, cache_variants=3, preset="tiny", frames=5,
                                             size=16, steps=30, batch=4, lr=3e-3, warmup=1, quiet=True, log_every=1,
                                             eval_every=15, ckpt_every=15))
    losses = [r["loss"] for r in rows(tr_out / "metrics.jsonl") if "loss" in r]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, f"transformer loss did not fall: {losses[:5]} -> {losses[-5:]}"
    accs = [r for r in rows(tr_out / "metrics.jsonl") if any(k.startswith("acc.") for k in r)]
    assert accs and "acc.FP" in accs[-1]
    cache = json.loads((tr_out / "cache/cache.json").read_text())
    assert cache["clips"] == 24 and "bounce" in cache["class_names"]
    shard = load_file(str(tr_out / "cache/shard_00000.safetensors"))
    has = {k[4:]: int(v.sum()) for k, v in shard.items() if k.startswith("has.")}
    assert len(has) == 10 and sum(has.values()) == 3 * 24, f"3 variants per batch of 8 clips: {has}"
    assert shard["z"].shape == (24, 2 * 4 * 4)
    recorded = json.loads((tr_out / "export/config.json").read_text())["metadata"]["tokenizer"]
    assert recorded == str(tok.resolve()), f"the export names its tokenizer as {recorded}, not by its absolute path"
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "tokenizer").symlink_to(tok)
    (weights / "transformer").symlink_to(tr_out / "export")
    from conftest import make_video
    clip = make_video(tmp_path / "in.mp4", frames=6, width=32, height=16)
    runner = CliRunner()
    r = runner.invoke(app, ["reconstruct", str(clip), "--weights", str(weights), "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["interpolate", str(clip), "--weights", str(weights), "--device", "cpu", "--json", "--steps", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 12


def test_gan_and_perceptual_losses_run(tmp_path):
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()))
    net.save(str(tmp_path / "feat.pt"))
    train_tokenizer(tok_cfg(tmp_path / "run", steps=3, disc_weight=0.1, disc_start=1, r1_every=2,
                            perceptual=str(tmp_path / "feat.pt")))
    logged = rows(tmp_path / "run/metrics.jsonl")
    assert all("perceptual" in r for r in logged if "rec" in r)
    assert "d" in logged[-1] and "g" in logged[-1] and "d" not in logged[0], "discriminator switches on at disc_start"
    ck = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert "disc" in ck and "lecam" in ck


def test_labels_from_subfolders_and_csv(tmp_path):
    from magvit_cli.train.data import ClipSource, list_media
    from magvit_cli.video import VideoWriter
    import numpy as np
    for name in ["walk/a.png", "run/b.png", "c.png"]:
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        with VideoWriter(tmp_path / "data" / name, 1, 16, 16) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
    items, classes = list_media([tmp_path / "data"])
    assert classes == ["run", "walk"] and sorted(c for _, c in items) == [-1, 0, 1]
    # hidden files and folders are no one's clips and no class: a Mac's AppleDouble twin, a thumbnail cache
    (tmp_path / "data" / "walk" / "._a.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "data" / ".thumbnails").mkdir()
    (tmp_path / "data" / ".thumbnails" / "b.png").hardlink_to(tmp_path / "data" / "run" / "b.png")
    # nor are a NAS's thumbnail folders (a Synology's '@eaDir/c.png/SYNOPHOTO_THUMB_M.png' made the class '@eaDir') and recycle bins
    for junk in ("@eaDir/c.png/SYNOPHOTO_THUMB_M.png", "walk/@eaDir/a.png/SYNOPHOTO_THUMB_S.png", "#recycle/old.png", "$RECYCLE.BIN/x.png"):
        (tmp_path / "data" / junk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / junk).hardlink_to(tmp_path / "data" / "c.png")
    assert list_media([tmp_path / "data"]) == (items, classes), list_media([tmp_path / "data"])
    # a camcorder's AVCHD clips (.MTS) and an old phone's (.3gp) are clips like any other
    for name in ("walk/00001.MTS", "run/clip.3gp"):
        (tmp_path / "data" / name).hardlink_to(tmp_path / "data" / "c.png")
    found = {p.name: c for p, c in list_media([tmp_path / "data"])[0]}
    assert found.get("00001.MTS") == 1 and found.get("clip.3gp") == 0, found
    for name in ("walk/00001.MTS", "run/clip.3gp"):
        (tmp_path / "data" / name).unlink()
    (tmp_path / "labels.csv").write_text("file,class\nc.png,jump\nwalk/a.png,stroll\n")
    src = ClipSource([tmp_path / "data"], 5, 16, labels=tmp_path / "labels.csv")
    assert src.class_names[-3:] == ["jump", "run", "stroll"] and src.class_names[0] == "bounce"


def test_export_from_checkpoint_matches_trainer_export(tmp_path):
    train_tokenizer(tok_cfg(tmp_path / "run", steps=3))
    a = load_file(str(tmp_path / "run/export/model.safetensors"))
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "run"), "--out", str(tmp_path / "again")])
    assert r.exit_code == 0, r.output
    b = load_file(str(tmp_path / "again/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "again")])
    assert r.exit_code != 0 and "no training checkpoint" in r.output and "--resume" not in r.output, r.output


def test_export_does_not_replace_another_folders_weights_unasked(tmp_path):
    """`train export RUN --out FOLDER` into a folder that holds weights (a release, the shipped
    ones) is refused in one line without --force: it replaced them without a word. The run's own
    RUN/export is rewritten as every training run's end rewrites it."""
    train_tokenizer(tok_cfg(tmp_path / "run", steps=2))
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "config.json").write_text("{}")
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "run"), "--out", str(tmp_path / "release")])
    assert r.exit_code == 2 and r.output.strip() == f"error: {tmp_path / 'release'} holds weights (config.json); pass --force to replace them", r.output
    assert (tmp_path / "release" / "config.json").read_text() == "{}" and not (tmp_path / "release" / "model.safetensors").exists()
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "run"), "--out", str(tmp_path / "release"), "--force"])
    assert r.exit_code == 0 and (tmp_path / "release" / "model.safetensors").exists(), r.output
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output


def test_nproc_launches_two_processes(tmp_path):
    """Two processes train one run; the call says so as one process would: one 'exported' line on
    stdout (each process printed it), progress on stderr (redirected, one line at the end) and no
    torchrun banner about OMP_NUM_THREADS (the launch shares the cores out itself)."""
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-m", "magvit_cli", "train", "tokenizer", "--nproc", "2", "--out", str(tmp_path / "run"),
                        "--preset", "tiny", "--steps", "2", "--batch", "1", "--frames", "5", "--size", "16", "--workers", "1",
                        "--device", "cpu"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]  # each process's data worker started (the source pickled to it)
    assert r.stdout.splitlines() == [f"exported {tmp_path / 'run' / 'export'}"], r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenizer 2/2 rec "), r.stderr
    ck = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert ck["step"] == 2 and (tmp_path / "run/export/model.safetensors").exists()
    rows_ = rows(tmp_path / "run/metrics.jsonl")
    assert [r["step"] for r in rows_ if "rec" in r] == [2], "only rank 0 writes the metrics"


def test_nproc_with_a_bad_input_ends_as_one_process_would(tmp_path):
    """A bad input under --nproc is one error line and exit status 2, as without it: each process
    said it, then torchrun logged the failure and printed its traceback, and the call ended with 1."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "magvit_cli", "train", "tokenizer", "--nproc", "2", "--out", str(tmp_path / "run"),
                        "--preset", "tiny", "--steps", "2", "--data", str(tmp_path / "nothing"), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stderr.splitlines()) == (2, [f"error: --data {tmp_path / 'nothing'}: no such file or folder"]), r.stderr
    assert not (tmp_path / "run").exists()


def test_nproc_says_each_processs_own_error_once():
    """What the launch adds after its processes failed: the other processes' errors that differ from
    the first's, once each and naming the process; the status is the first process's own, else the
    first to say one's; where none said anything, the failure torchrun did not cause is named."""
    from magvit_cli.train.launch import ending
    usage = (2, "--data x: no such file or folder")
    assert ending({0: 2, 1: 2}, {0: usage, 1: usage}, 2) == ([], 2), "the same error in each: said once, by the first"
    assert ending({0: -15, 1: 2}, {0: usage, 1: usage}, 2) == ([], 2), "the first stopped by torchrun as it ended: its own status"
    own = (1, "RuntimeError: CUDA error: invalid device ordinal")
    assert ending({0: -15, 1: 1, 2: 1}, {1: own, 2: own}, 3) == ([f"training process 2 of 3: {own[1]}"], 1)
    assert ending({0: 1, 1: 2}, {0: own, 1: usage}, 2) == ([f"training process 2 of 2: {usage[1]}"], 1)
    assert ending({0: -15, 1: -9}, {}, 2) == (["training process 2 of 2 ended with exit status 137"], 137), "killed (out of memory)"
    assert ending({0: -15, 1: -15}, {}, 2) == (["training process 1 of 2 ended with exit status 143"], 143)


def test_a_model_option_that_names_no_model_is_a_usage_error(tmp_path):
    """--tokenizer and --init naming nothing, a folder without a model or a model of the other kind
    are one line naming the option, exit status 2, before any run folder (it was 'no config.json
    in PATH' with status 1, as if the run had failed)."""
    from magvit_cli.models import save_model
    from conftest import tiny_tokenizer
    tok = tmp_path / "tok"
    save_model(tiny_tokenizer(), tok)
    (tmp_path / "empty").mkdir()
    common = ["--device", "cpu", "--steps", "1", "--quiet"]
    for args, said in [(["transformer", "--tokenizer", str(tmp_path / "nope")],
                        f"--tokenizer {tmp_path / 'nope'}: no such folder or file; {tmp_path}/ holds empty/, tok/"),
                       (["transformer", "--tokenizer", str(tmp_path / "empty")], f"--tokenizer: no config.json in {tmp_path / 'empty'}"),
                       (["tokenizer", "--init", str(tmp_path / "nope")], f"--init {tmp_path / 'nope'}: no such folder or file; {tmp_path}/ holds empty/, tok/"),
                       (["transformer", "--tokenizer", str(tok), "--init", str(tok)], f"--init: {tok} holds a tokenizer, expected a transformer")]:
        r = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "run"), *common])
        assert (r.exit_code, r.output.strip()) == (2, f"error: {said}"), (args, r.output)
        assert not (tmp_path / "run").exists(), args


def test_training_options_name_models_as_weights_does(tmp_path):
    """--tokenizer and --init take what --weights takes: `default` (the shipped ones; it was 'no
    such folder or file'), a weights folder (its tokenizer/), a packed file. The export records the
    tokenizer's own folder, so that the pack hint works (`default` was recorded as the word)."""
    from magvit_cli.models import load_model
    from magvit_cli.models.io import read_config
    from magvit_cli.weights import DEFAULT_WEIGHTS
    common = ["--device", "cpu", "--steps", "1", "--quiet", "--frames", "5", "--size", "16"]
    r = CliRunner().invoke(app, ["train", "tokenizer", "--init", "default", "--freeze-encoder", "--out", str(tmp_path / "tok"),
                                 "--workers", "0", *common])
    assert r.exit_code == 0, r.output
    shipped, tuned = load_model(DEFAULT_WEIGHTS / "tokenizer"), load_model(tmp_path / "tok/export")
    assert all(torch.equal(shipped.state_dict()[k], tuned.state_dict()[k]) for k in shipped.state_dict() if k.startswith("encoder.")), \
        "--init default --freeze-encoder keeps the shipped encoder"
    r = CliRunner().invoke(app, ["weights", "pack", "default", str(tmp_path / "both.safetensors")])
    assert r.exit_code == 0, r.output
    for given, recorded in (("default", DEFAULT_WEIGHTS / "tokenizer"), (str(tmp_path / "both.safetensors"), tmp_path / "both.safetensors")):
        out = tmp_path / f"tr-{Path(given).name}"
        r = CliRunner().invoke(app, ["train", "transformer", "--tokenizer", given, "--out", str(out), "--cache-clips", "2",
                                     "--preset", "tiny", *common])
        assert r.exit_code == 0, r.output
        told = read_config(out / "export")["metadata"]
        assert told["tokenizer"] == str(recorded.resolve()), told
    # a run's folder, not its export/, is named as what it is wherever weights are taken (it was 'no config.json in RUN')
    run_ = tmp_path / "tok"
    for args, said in ((["train", "transformer", "--tokenizer", str(run_), "--out", str(tmp_path / "x"), *common], f"--tokenizer {run_}"),
                       (["reconstruct", str(make_video(tmp_path / "in.mp4", frames=2, width=16, height=16)), "--weights", str(run_)],
                        f"--weights {run_}"),
                       (["weights", "info", str(run_)], str(run_)),
                       (["weights", "pack", str(run_), str(tmp_path / "tr-default/export"), str(tmp_path / "p.safetensors")], str(run_))):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and r.output.strip() == f"error: {said} is a training run: its weights are in {run_ / 'export'}", r.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "p.safetensors").exists()
    (run_ / "export/config.json").unlink()  # stopped before its export: `train export` makes one
    r = CliRunner().invoke(app, ["weights", "info", str(run_)])
    assert r.exit_code == 2 and r.output.strip() == (f"error: {run_} is a training run: its weights are in {run_ / 'export'} once "
                                                     f"exported (`magvit train export {run_}`)"), r.output


def test_init_and_freeze_encoder_keep_tokens(tmp_path):
    """--init starts from exported weights; --freeze-encoder changes only the decoder, so the
    token grid of any clip (what a transformer was trained on) stays bit-identical."""
    from magvit_cli.models import load_model
    base = train_tokenizer(tok_cfg(tmp_path / "base", steps=2))
    tuned = train_tokenizer(tok_cfg(tmp_path / "tuned", steps=4, init=str(base), freeze_encoder=True, preset="small"))
    a, b = load_model(base), load_model(tuned)
    assert a.config == b.config, "the architecture comes from --init, not --preset"
    sa, sb = a.state_dict(), b.state_dict()
    enc = [k for k in sa if not k.startswith("decoder.")]
    assert all(torch.equal(sa[k], sb[k]) for k in enc), "encoder weights moved although frozen"
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("decoder.")), "decoder did not train"
    clip = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(a.encode(clip), b.encode(clip))
    r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / "x"), "--freeze-encoder"])
    assert r.exit_code == 2 and "--init" in r.output
    r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / "y"), "--init", str(base), "--set", "bits=4"])
    assert r.exit_code != 0 and "--init" in r.output


def test_freeze_decoder_trains_the_encoder_only(tmp_path):
    """--freeze-decoder changes only the encoder: the same tokens decode to the same pixels (so a
    transformer's generated tokens draw as before) while the tokens of a clip may move."""
    from magvit_cli.models import load_model
    base = train_tokenizer(tok_cfg(tmp_path / "base", steps=2))
    tuned = train_tokenizer(tok_cfg(tmp_path / "tuned", steps=4, init=str(base), freeze_decoder=True, lr=1e-2))
    a, b = load_model(base), load_model(tuned)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa if k.startswith("decoder.")), "decoder weights moved although frozen"
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if k.startswith("encoder.")), "encoder did not train"
    ids = torch.randint(0, 2 ** a.config.bits, (1, 2, 4, 4))
    with torch.no_grad():
        assert torch.equal(a.decode(ids), b.decode(ids)), "the same tokens must decode the same"
    with pytest.raises(UsageError, match="not both"):
        train_tokenizer(tok_cfg(tmp_path / "both", steps=1, init=str(base), freeze_decoder=True, freeze_encoder=True))
    with pytest.raises(UsageError, match="decoder frozen"):
        train_tokenizer(tok_cfg(tmp_path / "nodec", steps=1, init=str(base), distill=1))
    r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / "z"), "--init", str(base), "--distill", "2"])
    assert r.exit_code == 2 and "--freeze-decoder" in r.output


def test_distill_teaches_the_encoder_the_searched_tokens(tmp_path, monkeypatch):
    """--distill N: each batch's tokens are searched through the frozen decoder (the search has
    its own tests) and the encoder learns them. With the search replaced by a fixed answer
    (every bit on), the encoder's bits on an unseen clip move to it; the decoder does not move."""
    import magvit_cli.train.tokenizer as tt
    from magvit_cli.models import load_model
    base = train_tokenizer(tok_cfg(tmp_path / "base", steps=2))
    calls = []

    def all_on(model, x, steps):
        calls.append(steps)
        t, h, w = model.config.latent_shape(*x.shape[2:])
        return torch.full((x.shape[0], t, h, w), 2 ** model.config.bits - 1, dtype=torch.long)

    monkeypatch.setattr(tt, "refine_indices", all_on)
    clip = torch.rand(2, 3, 5, 16, 16) * 2 - 1

    def on(model):
        with torch.no_grad():
            return (model.encoder(clip) > 0).float().mean().item()

    a = load_model(base)
    b = load_model(train_tokenizer(tok_cfg(tmp_path / "d", steps=10, init=str(base), freeze_decoder=True, distill=3, ema_decay=0.0,
                                           distill_weight=10.0, entropy_start=0.0, entropy_weight=0.0)))
    assert calls == [3] * 10, f"one search of 3 steps per batch, got {calls}"
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict() if k.startswith("decoder."))
    assert on(a) < 0.8 and on(b) > 0.95, f"share of bits on: {on(a):.3f} before, {on(b):.3f} after distilling"
    rows_ = [r for r in rows(tmp_path / "d/metrics.jsonl") if "bits_agree" in r]
    assert len(rows_) == 10 and rows_[-1]["bits_agree"] > rows_[0]["bits_agree"]


def test_transformer_init_must_match_cache(tmp_path):
    tok = train_tokenizer(tok_cfg(tmp_path / "tok", steps=1))
    kw = dict(tokenizer=str(tok), cache=str(tmp_path / "cache"), cache_clips=8, cache_variants=2, preset="tiny", frames=5,
              size=16, steps=2, batch=2, warmup=1, quiet=True, eval_every=1000)
    first = train_transformer(TransformerTrainConfig(out=tmp_path / "a", **kw))
    train_transformer(TransformerTrainConfig(out=tmp_path / "b", init=str(first), lr=0.0, **kw))
    sa, sb = load_file(str(first / "model.safetensors")), torch.load(tmp_path / "b/checkpoint.pt", weights_only=True)["model"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), "lr 0 from --init must keep the --init weights"
    import pytest
    from magvit_cli.errors import MagvitError
    tok6 = train_tokenizer(tok_cfg(tmp_path / "tok6", steps=1, model_overrides={"bits": 5}))
    with pytest.raises(MagvitError, match="do not match"):
        train_transformer(TransformerTrainConfig(out=tmp_path / "c", init=str(first), **{**kw, "tokenizer": str(tok6), "cache": str(tmp_path / "cache6")}))


def test_a_transformer_records_the_encoder_whose_tokens_it_models(tmp_path):
    """The token cache and the exports (the trainer's and `train export`'s) record the encoder's
    digest; a cache is refused to a tokenizer with another encoder (it trained on tokens that mean
    other pictures, said nowhere), and a transformer loaded beside another encoder is warned of."""
    from magvit_cli.models import load_model
    from magvit_cli.models.io import read_config
    from magvit_cli.models.tokenizer import encoder_digest
    from magvit_cli.pipeline import Magvit
    tok = train_tokenizer(tok_cfg(tmp_path / "tok", steps=1))
    other = train_tokenizer(tok_cfg(tmp_path / "other", steps=1, seed=5))
    made, theirs = (encoder_digest(load_model(t).state_dict()) for t in (tok, other))
    assert made != theirs, "two tokenizers trained from other seeds have other encoders"
    kw = dict(cache=str(tmp_path / "cache"), cache_clips=4, cache_variants=1, preset="tiny", frames=5, size=16, steps=2,
              batch=2, warmup=1, quiet=True, eval_every=1000)
    out = train_transformer(TransformerTrainConfig(out=tmp_path / "tr", tokenizer=str(tok), **kw))
    assert json.loads((tmp_path / "cache/cache.json").read_text())["encoder"] == made
    assert read_config(out)["metadata"]["encoder"] == made
    r = CliRunner().invoke(app, ["train", "export", str(tmp_path / "tr"), "--out", str(tmp_path / "again")])
    assert r.exit_code == 0 and read_config(tmp_path / "again")["metadata"]["encoder"] == made, r.output
    r = CliRunner().invoke(app, ["train", "transformer", "--out", str(tmp_path / "tr2"), "--tokenizer", str(other), "--cache",
                                 str(tmp_path / "cache"), "--preset", "tiny", "--frames", "5", "--size", "16", "--steps", "2", "-q"])
    assert r.exit_code == 2 and r.output.strip() == (f"error: token cache {tmp_path / 'cache'} was built by another tokenizer "
                                                     f"(encoder {made}, --tokenizer {other}'s is {theirs}): give the tokenizer "
                                                     "that built it, or another --cache"), r.output
    assert not (tmp_path / "tr2").exists()
    for tokenizer, said in ((tok, []), (other, [f"the transformer was trained on another tokenizer's tokens (encoder {made}, {tok}; "
                                                 f"this tokenizer's encoder is {theirs}): its output will not fit; --weights the pair "
                                                 "it was trained on (`magvit weights pack TOKENIZER TRANSFORMER FILE`)"])):
        pair = tmp_path / f"pair-{tokenizer.parent.name}.safetensors"
        r = CliRunner().invoke(app, ["weights", "pack", str(tokenizer), str(out), str(pair)])
        packed = [f"warning: {s.rsplit('; --weights', 1)[0]}; pack the tokenizer it was trained on, or train it on this one (--tokenizer)"
                  for s in said]
        assert r.exit_code == 0 and [line for line in r.output.splitlines() if "warning" in line] == packed, r.output
        info = json.loads(CliRunner().invoke(app, ["weights", "info", str(pair), "--json"]).stdout)["models"]
        assert (info["tokenizer"]["encoder"], info["transformer"]["metadata"]["encoder"]) == (encoder_digest(load_model(tokenizer).state_dict()), made)
        warned = []
        Magvit(pair, device="cpu", warn=warned.append)
        assert warned == said, warned
        shown = CliRunner().invoke(app, ["info", "--weights", str(pair), "--device", "cpu"]).output  # and `magvit info` says which
        assert (f", trained on another tokenizer's tokens (encoder {made})" if said else ", trained on this tokenizer's tokens") in shown, shown


def test_padded_condition_trains_on_the_padded_video(tmp_path):
    """--condition padded: every masked token shows the padded video's token (never [MASK]
    outside CG), the exported config says so, and a cache serves only the region it was built for."""
    import pytest
    from magvit_cli.errors import MagvitError
    from magvit_cli.models import load_model
    from magvit_cli.train.transformer import TokenCache, make_batch, masked_accuracy
    tok = train_tokenizer(tok_cfg(tmp_path / "tok", steps=1))
    out = train_transformer(TransformerTrainConfig(out=tmp_path / "tr", tokenizer=str(tok), cache_clips=8, preset="tiny",
                                                   frames=5, size=16, steps=2, batch=2, warmup=1, quiet=True,
                                                   eval_every=2, condition="padded"))
    model = load_model(out, expect="transformer")
    assert model.config.condition == "padded"
    tc = load_model(tok, expect="tokenizer").config
    factors = (tc.time_factor, tc.space_factor)
    cache = TokenCache(tmp_path / "tr/cache")
    idx = torch.arange(8)
    z, zc = cache.data["z"], cache.cond("FP", idx)
    assert not torch.equal(z, zc), "FP's padded condition tokens (repeat) must differ from the targets somewhere"
    assert torch.equal(cache.cond("CFP", idx), zc), "CFP shares FP's condition tokens"
    gen = torch.Generator().manual_seed(0)
    inputs, target, _, _ = make_batch(cache, idx, "FP", model.config, factors, gen, 0.0)
    assert not (inputs == model.config.mask_id).any(), "padded FP: no [MASK] in the inputs"
    shown = inputs != target
    assert shown.any() and torch.equal(inputs[shown], zc[shown]), "a masked token shows z~"
    inputs, _, _, _ = make_batch(cache, idx, "CG", model.config, factors, gen, 0.0)
    assert (inputs == model.config.mask_id).any(), "CG knows nothing: masked tokens show [MASK]"
    acc = masked_accuracy(model, cache, idx, factors, "cpu")
    assert "copy.FP" in acc and "copy.CG" not in acc and 0 <= acc["copy.FP"] <= 1, acc
    assert cache.region == "padded"
    with pytest.raises(MagvitError, match="condition region"):  # the paddings differ: one cache per region
        train_transformer(TransformerTrainConfig(out=tmp_path / "f", tokenizer=str(tok), cache=str(tmp_path / "tr/cache"),
                                                 preset="tiny", steps=1, batch=2, quiet=True, condition="footprint"))
    r = CliRunner().invoke(app, ["train", "transformer", "--out", str(tmp_path / "x"), "--tokenizer", str(tok),
                                 "--condition", "all"])
    assert r.exit_code == 2 and "footprint, padded" in r.output, r.output


def _signalled_run(tmp_path, how, nproc=1):
    """Start a training run with a DataLoader worker (in each of `nproc` processes), wait for logged
    steps, stop it `how`."""
    import signal
    import subprocess
    import sys
    import time
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "magvit_cli", "train", "tokenizer", "--out", str(run), "--preset", "tiny",
                          "--steps", "100000", "--batch", "1", "--frames", "5", "--size", "16", "--workers", "1",
                          "--ckpt-every", "100000", "--device", "cpu", "--quiet", "--nproc", str(nproc)],
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics, deadline = run / "metrics.jsonl", time.time() + 120
    while (not metrics.exists() or len(metrics.read_text().splitlines()) < 2) and time.time() < deadline:
        time.sleep(0.1)
    logged = max(r["step"] for r in rows(metrics))
    if how == "ctrl-c":  # a terminal's Ctrl-C: SIGINT to the whole process group, workers included
        os.killpg(p.pid, signal.SIGINT)
    elif how == "kill":  # `kill PID`, `timeout`: SIGTERM to the command's own process
        os.kill(p.pid, signal.SIGTERM)
    else:  # `pkill -f 'magvit train'`: SIGTERM to the main process and its worker alike
        kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        for pid in [p.pid, *map(int, kids)]:
            os.kill(pid, signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    return p.returncode, err, logged, run


@pytest.mark.parametrize("how", ["ctrl-c", "pkill"])
def test_signal_checkpoints_with_workers(tmp_path, how):
    """Stopping a run with DataLoader workers saves a resumable checkpoint at the step reached
    (a worker killed by the same signal used to abort the run before it saved)."""
    code, err, logged, run = _signalled_run(tmp_path, how)
    sig = signal.SIGINT if how == "ctrl-c" else signal.SIGTERM
    assert code == -sig, f"exit {code}, expected death by {sig.name} (once saved): {err[-1500:]}"
    assert "checkpoint" in err and "--resume" in err, f"the message should say how to go on: {err[-500:]}"
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["step"] >= logged, f"checkpoint at step {ck['step']}, but step {logged} was logged before the signal"


def test_a_data_worker_says_nothing_of_a_training_process_gone(capsys):
    """A data worker's server thread (multiprocessing.resource_sharer), handing a batch's tensors to
    a training process a signal stopped, hands EOFError or ConnectionResetError to sys.excepthook:
    that printed a traceback among a stopped --nproc run's last line (seen once in CI). The worker's
    hook lets those pass, and prints anything else as Python does."""
    import sys
    from magvit_cli.train import engine
    for error in (EOFError(), ConnectionResetError(104, "Connection reset by peer"), BrokenPipeError()):
        engine._quiet_lost_peer(type(error), error, None)
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a real fault")
    except ValueError:
        engine._quiet_lost_peer(*sys.exc_info())
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.strip().endswith("ValueError: a real fault"), err


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_signal_stops_every_process_of_nproc(tmp_path, how):
    """A stop signal to an --nproc run (Ctrl-C; `kill` or `timeout` on the command's own process)
    saves the checkpoint and ends every process, the call dying of the signal as one process does,
    with one line: a kill ended the launcher only, and the training processes trained on."""
    code, err, logged, run = _signalled_run(tmp_path, how, nproc=2)
    sig = signal.SIGINT if how == "ctrl-c" else signal.SIGTERM
    assert code == -sig, f"exit {code}, expected death by {sig.name}: {err[-1500:]}"
    assert err.strip().splitlines() == [f"interrupted: checkpoint of step {torch.load(run / 'checkpoint.pt', weights_only=True)['step']} "
                                        f"saved in {run}; the same command with --resume goes on"], err[-1500:]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] >= logged
    import subprocess
    import time
    deadline = time.time() + 30
    while (left := subprocess.run(["pgrep", "-f", str(run)], capture_output=True, text=True).stdout.split()) and time.time() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the run still going: {left}"


def test_a_stopped_token_cache_build_keeps_none_of_it(tmp_path):
    """A transformer run stopped while it builds its token cache takes the shards it wrote away, with
    a line saying so (it left them, and said 'no partial output was left behind')."""
    import subprocess
    import sys
    import time
    from conftest import tiny_tokenizer
    from magvit_cli.models import save_model
    save_model(tiny_tokenizer(), tmp_path / "tok")
    cache = tmp_path / "run" / "cache"
    p = subprocess.Popen([sys.executable, "-m", "magvit_cli", "train", "transformer", "--out", str(tmp_path / "run"), "--tokenizer",
                          str(tmp_path / "tok"), "--preset", "tiny", "--steps", "2", "--cache-clips", "100000", "--frames", "5", "--size", "16",
                          "--device", "cpu", "--quiet"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(cache.glob("shard_*.safetensors")) and time.time() < deadline:
        time.sleep(0.1)
    assert list(cache.glob("shard_*.safetensors")), "no shard written in 120 s"
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == -signal.SIGTERM, (p.returncode, err[-1000:])
    assert err.strip() == (f"interrupted: the token cache was not finished, so none of it is kept ({cache}); "
                           "the same command builds it again"), err[-1000:]
    assert not cache.exists(), sorted(p.name for p in cache.iterdir())
    assert not (tmp_path / "run").exists(), "the run folder this call made is taken away with its cache (it was left empty)"


def test_tidy_run_takes_away_only_an_empty_folder_it_made(tmp_path):
    """A failed call's run folder goes if the call made it and wrote nothing in it; a folder that
    was there (empty or not), or one the call wrote in, stays; a call that succeeds keeps its."""
    from magvit_cli.train.engine import tidy_run
    def fails(out, write=False):
        with pytest.raises(KeyboardInterrupt), tidy_run(out):
            out.mkdir(exist_ok=True)
            if write:
                (out / "metrics.jsonl").write_text("{}\n")
            raise KeyboardInterrupt
    fails(tmp_path / "made")
    assert not (tmp_path / "made").exists(), "an empty folder the call made is left behind"
    (tmp_path / "there").mkdir()
    fails(tmp_path / "there")
    assert (tmp_path / "there").is_dir(), "a folder that was there before the call was taken away"
    fails(tmp_path / "written", write=True)
    assert (tmp_path / "written" / "metrics.jsonl").exists(), "a folder the call wrote in was taken away"
    with tidy_run(tmp_path / "done"):
        (tmp_path / "done").mkdir()
    assert (tmp_path / "done").is_dir(), "a call that succeeded lost its (empty) folder"


def test_fresh_run_never_writes_over_a_checkpoint(tmp_path):
    """A forgotten --resume must not restart a run over its checkpoint; --resume needs one."""
    run = tmp_path / "run"
    train_tokenizer(tok_cfg(run, steps=3))
    before = (run / "checkpoint.pt").read_bytes()
    args = ["train", "tokenizer", "--out", str(run), "--preset", "tiny", "--steps", "3", "--batch", "1",
            "--frames", "5", "--size", "16", "--workers", "0", "--device", "cpu", "--quiet"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "--resume" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert (run / "checkpoint.pt").read_bytes() == before, "the checkpoint was touched"
    r = CliRunner().invoke(app, [*args[:3], str(tmp_path / "new"), *args[4:], "--resume"])
    assert r.exit_code == 2 and "no checkpoint" in r.output, r.output


def test_init_keeps_the_entropy_weight_from_the_first_step(tmp_path):
    """A fresh run anneals the entropy penalty down from 5x; a warm start (--init) must not
    re-anneal, which would push a trained codebook around at 5x the weight."""
    base = train_tokenizer(tok_cfg(tmp_path / "base", steps=1))
    common = ["--preset", "tiny", "--steps", "2", "--batch", "1", "--frames", "5", "--size", "16", "--workers", "0",
              "--device", "cpu", "--quiet", "--entropy-weight", "0.1"]
    for name, extra, want in [("fresh", [], 0.5), ("warm", ["--init", str(base)], 0.1)]:
        r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / name), *common, *extra])
        assert r.exit_code == 0, r.output
        first = rows(tmp_path / name / "metrics.jsonl")[0]
        assert abs(first["entropy_weight"] - want) < 0.01, f"{name}: entropy weight {first['entropy_weight']} at step 1, want {want}"


def test_recon_l2_trains_on_the_squared_error(tmp_path):
    """--recon l2 puts the mean squared error (what PSNR measures) in the loss; l1 the mean
    absolute error. The logged `rec` is the loss term, `psnr` is 10 log10(4 / MSE) of the same
    (clamped) batch, so with l2 the two agree and with l1 they do not."""
    import math
    common = ["--preset", "tiny", "--steps", "1", "--batch", "1", "--frames", "5", "--size", "16", "--workers", "0",
              "--device", "cpu", "--quiet"]
    for recon in ("l1", "l2"):
        r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / recon), *common, "--recon", recon])
        assert r.exit_code == 0, r.output
        first = rows(tmp_path / recon / "metrics.jsonl")[0]
        gap = abs(10 * math.log10(4 / first["rec"]) - first["psnr"])
        assert (gap < 0.1) == (recon == "l2"), f"--recon {recon}: rec {first['rec']:.5f}, psnr {first['psnr']:.3f} (gap {gap:.3f} dB)"
    r = CliRunner().invoke(app, ["train", "tokenizer", "--out", str(tmp_path / "bad"), *common, "--recon", "l3"])
    assert r.exit_code == 2 and "--recon" in r.output, r.output


def test_motion_cache_pads_interpolation_along_the_motion(tmp_path):
    """--motion: the token cache's interpolation condition is the motion padding of a clip drawn
    at twice the size, resized (not the blend); the cache records it, a run without --motion
    refuses it, and --motion needs the padded region."""
    import random

    import pytest
    from magvit_cli.errors import MagvitError, UsageError
    from magvit_cli.models import load_model
    from magvit_cli.motion import pad_clip
    from magvit_cli.pipeline import resize
    from magvit_cli.train.data import ClipSource
    from magvit_cli.train.transformer import condition_clips, variant_condition
    from magvit_cli.tasks import condition_video
    tok = train_tokenizer(tok_cfg(tmp_path / "tok", steps=1))
    tokenizer = load_model(tok, expect="tokenizer")
    kw = dict(tokenizer=str(tok), cache_clips=4, cache_variants=13, preset="tiny", frames=9, size=16, steps=1, batch=2,
              warmup=1, quiet=True, eval_every=1000, condition="padded", synthetic_weight=1.0)
    out = train_transformer(TransformerTrainConfig(out=tmp_path / "m", motion=True, **kw))
    assert json.loads((tmp_path / "m/cache/cache.json").read_text())["motion"] is True
    # the padding it encoded: FI of a synthetic clip drawn at 32, padded there, resized to 16
    clip, _ = ClipSource([], 9, 32, 1.0).sample(random.Random(0))
    task, known, _, _ = variant_condition("FI4", 9, 32, tokenizer.config.time_factor, tokenizer.config.space_factor)
    got = condition_clips(clip[None], known, task, "padded", True, 16)
    want = resize(pad_clip(clip, known, "FI").transpose(0, 1), (16, 16)).transpose(0, 1)[None]
    blend = resize(condition_video(clip[None], known, "blend")[0].transpose(0, 1), (16, 16)).transpose(0, 1)[None]
    assert got.shape == (1, 3, 9, 16, 16), f"condition clip {tuple(got.shape)} is not (1, 3, 9, 16, 16)"
    assert torch.allclose(got, want) and not torch.allclose(got, blend, atol=1e-3), "FI was not padded along the motion"
    with pytest.raises(MagvitError, match="built with --motion, this run is without"):
        train_transformer(TransformerTrainConfig(out=tmp_path / "n", cache=str(tmp_path / "m/cache"), **kw))
    with pytest.raises(UsageError, match="padded"):
        train_transformer(TransformerTrainConfig(out=tmp_path / "f", motion=True, **{**kw, "condition": "footprint"}))
    assert (out / "model.safetensors").exists()


def test_max_minutes_stops_checkpointed_and_exported_and_resume_goes_on(tmp_path):
    """--max-minutes: a run out of time stops after the step in progress, with a checkpoint, an
    export and a last metrics row of that step; --resume then goes on to --steps. Both trainers,
    through the CLI (a budget of 0 minutes runs out during the first step)."""
    runner = CliRunner()
    tok = tmp_path / "tok"
    common = ["--preset", "tiny", "--frames", "5", "--size", "16", "--batch", "2", "--warmup", "1", "--device", "cpu", "-q"]
    r = runner.invoke(app, ["train", "tokenizer", "--out", str(tok), "--steps", "50", "--workers", "0", "--max-minutes", "0", *common])
    assert r.exit_code == 0, r.output
    assert torch.load(tok / "checkpoint.pt", weights_only=True)["step"] == 1, "0 minutes: one step, then stop"
    assert json.loads((tok / "export/config.json").read_text())["metadata"]["steps"] == 1
    assert rows(tok / "metrics.jsonl")[-1]["step"] == 1
    r = runner.invoke(app, ["train", "tokenizer", "--out", str(tok), "--steps", "3", "--workers", "0", "--resume", *common])
    assert r.exit_code == 0, r.output
    assert torch.load(tok / "checkpoint.pt", weights_only=True)["step"] == 3
    tr = tmp_path / "tr"
    r = runner.invoke(app, ["train", "transformer", "--out", str(tr), "--tokenizer", str(tok / "export"), "--cache-clips", "8",
                            "--cache-variants", "2", "--steps", "50", "--eval-every", "1000", "--max-minutes", "0", *common])
    assert r.exit_code == 0, r.output
    assert torch.load(tr / "checkpoint.pt", weights_only=True)["step"] == 1
    last = rows(tr / "metrics.jsonl")[-1]
    assert any(k.startswith("acc.") for k in last) and last["step"] == 1, f"the last step is evaluated: {last}"
    assert (tr / "export/model.safetensors").exists()


@pytest.mark.parametrize("command", ["tokenizer", "transformer"])
def test_train_settings_out_of_range_are_one_line_before_any_run_folder(tmp_path, command):
    """--steps 0 exported an untrained model and --accumulate 0 trained nothing, without a word;
    --batch 0, --ckpt-every 0, a --frames/--size the tokenizer cannot take, and --set values of the
    wrong kind (channels=abc, layers=1.5) failed as Python errors (ValueError, TypeError,
    ZeroDivisionError), most after making the run folder. Each is one line, exit 2, no folder."""
    from conftest import tiny_tokenizer
    from magvit_cli.models import save_model
    save_model(tiny_tokenizer(seed=1), tmp_path / "tok")
    clip = make_video(tmp_path / "clip.mp4", frames=6, width=32, height=32)
    extra = ["--tokenizer", str(tmp_path / "tok"), "--cache-clips", "2"] if command == "transformer" else []
    field, kind = ("channels", "an integer") if command == "tokenizer" else ("layers", "an integer")
    cases = [(["--steps", "0"], "Invalid value for '--steps': Input should be greater than or equal to 1"),
             (["--accumulate", "0"], "Invalid value for '--accumulate'"), (["--batch", "0"], "Invalid value for '--batch'"),
             (["--ckpt-every", "0"], "Invalid value for '--ckpt-every'"), (["--eval-every", "0"], "Invalid value for '--eval-every'"),
             (["--lr", "-1"], "Invalid value for '--lr'"), (["--synthetic-weight", "1.5"], "Invalid value for '--synthetic-weight'"),
             (["--frames", "8"], "--frames 8 --size 16: clip of 8 frames: the tokenizer needs 1 + k*4 frames"),
             (["--size", "14"], "--frames 5 --size 14: frame size 14x14"),
             (["--set", f"{field}=abc"], f'--set {field}="abc": takes {kind}'), (["--set", f"{field}=1.5"], f"--set {field}=1.5: takes {kind}"),
             (["--set", "nope=1"], f"--set nope: not a {command} setting; one of")]
    if command == "tokenizer":
        cases += [(["--workers", "-1"], "Invalid value for '--workers'"), (["--colour-turn", "1.5"], "Invalid value for '--colour-turn'")]
    for args, says in cases:
        out = tmp_path / "run"
        r = CliRunner().invoke(app, ["train", command, "--out", str(out), *extra, "--data", str(clip), "--device", "cpu", "-q",
                                     "--preset", "tiny", "--steps", "1", "--batch", "1", "--frames", "5", "--size", "16", *args])
        assert r.exit_code == 2 and says in r.output and len(r.output.strip().splitlines()) == 1, (args, r.output)
        assert not out.exists(), f"{args} left {out}"


@pytest.mark.parametrize("command", ["tokenizer", "transformer"])
def test_train_refuses_a_device_it_cannot_train_on(tmp_path, command):
    """`--device mps` or a misspelt device trained on the CPU without a word (training speaks CPU
    and CUDA only); now a one-line error, exit 2, and no run folder left behind."""
    for device in ("mps", "gpu"):
        out = tmp_path / f"run_{device}"
        extra = ["--tokenizer", str(tmp_path)] if command == "transformer" else []
        r = CliRunner().invoke(app, ["train", command, "--out", str(out), *extra, "--device", device, "-q", "--preset", "tiny",
                                     "--steps", "1", "--batch", "1", "--frames", "5", "--size", "16"])
        assert r.exit_code == 2, f"--device {device}: exit {r.exit_code}: {r.output}"
        assert r.output.strip().splitlines() == [f"error: --device must be auto, cpu or cuda for training, not '{device}'"], r.output
        assert not out.exists(), f"--device {device} left {out}"


def test_train_on_auto_says_when_there_is_no_gpu(tmp_path, monkeypatch):
    """`--device auto` on a machine without a GPU trains on the CPU and says so in a warning line,
    as inference does (it said nothing: a user who meant the GPU learnt it from the speed)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["train", "tokenizer", "--preset", "tiny", "--steps", "1", "--batch", "1", "--frames", "5", "--size", "16",
            "--workers", "0", "--warmup", "1"]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "auto")])
    assert r.exit_code == 0, r.output
    assert "warning: no GPU found: training on the CPU" in r.output, r.output
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "cpu"), "--device", "cpu"])
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    # a bad call gets its error alone: the device is said once the settings have passed their checks
    for bad in (["--data", str(tmp_path / "nope")], ["--init", str(tmp_path / "nope")]):
        r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "bad"), *bad])
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and r.output.startswith("error:"), r.output


def test_every_option_says_what_it_does():
    """Each option and argument of every command has help text (`train tokenizer` and `train
    transformer`'s --steps, --lr, --seed, --compile and others had none)."""
    import typer.main

    def bare(cmd, path):
        if hasattr(cmd, "commands"):
            return [b for name, sub in cmd.commands.items() for b in bare(sub, [*path, name])]
        return [f"{' '.join(path)} {p.opts[0] if p.opts else p.name}" for p in cmd.params if not getattr(p, "help", None)]
    missing = bare(typer.main.get_command(app), [])
    assert not missing, f"no help: {missing}"


def _bad_files(folder):
    """A good mp4, a truncated copy (its index lost), an empty one and a text file named .mp4 in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    good = make_video(folder / "good.mp4", frames=8, width=32, height=32)
    (folder / "cut.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video")


def test_training_leaves_out_files_that_do_not_open(tmp_path):
    """A --data folder with a truncated, an empty and a mislabelled file trains on the rest, with
    one warning line naming how many were left out (a worker failed on the first bad file it drew
    and the run died with a traceback, then never exited); a folder where nothing opens, one with
    no media and a path that does not exist are one-line errors that leave no run folder behind."""
    _bad_files(tmp_path / "data")
    args = ["train", "tokenizer", "--preset", "tiny", "--steps", "2", "--batch", "2", "--frames", "5", "--size", "16",
            "--warmup", "1", "--device", "cpu", "--synthetic-weight", "0"]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    assert r.exit_code == 0, r.output
    warnings = [line for line in r.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "3 of 4 files do not open" in warnings[0], r.output
    for name in ("cut.mp4", "empty.mp4", "notes.mp4"):
        assert name in warnings[0], warnings[0]
    (tmp_path / "data" / "good.mp4").unlink()
    (tmp_path / "nothing").mkdir()
    for data, says in ((tmp_path / "data", "none of the 3 videos and images opens"), (tmp_path / "nothing", "no videos or images in it"),
                       (tmp_path / "nowhere", "no such file or folder")):
        out = tmp_path / f"run_{data.name}"
        r = CliRunner().invoke(app, [*args, "--out", str(out), "--data", str(data)])
        assert r.exit_code == 2 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert not out.exists(), f"{data.name}: {out} was left behind"


def test_heldout_and_perceptual_files_are_checked_before_training(tmp_path):
    """A --heldout video that does not open or is shorter than one 17-frame window, and a
    --perceptual file that does not load, are one-line errors before any step, leaving no run
    folder; --heldout failed at its first measurement, ending the run there without the
    checkpoint that measurement comes before. A good one is measured (its windows read once)."""
    clip = make_video(tmp_path / "clip.mp4", frames=8, width=32, height=32)
    long = make_video(tmp_path / "long.mp4", frames=17, width=32, height=32)
    args = ["train", "tokenizer", "--preset", "tiny", "--steps", "2", "--batch", "2", "--frames", "5", "--size", "16",
            "--warmup", "1", "--device", "cpu", "--data", str(clip)]
    for extra, says in ((["--heldout", str(tmp_path / "none.mp4")], f"--heldout {tmp_path / 'none.mp4'}: no such file"),
                        (["--heldout", str(clip)], f"--heldout {clip}: 8 frames, fewer than the 17 of one held-out window (give a video of 17 frames or more)"),
                        (["--perceptual", str(tmp_path / "none.pt")], f"--perceptual {tmp_path / 'none.pt'}: no such file"),
                        (["--perceptual", str(clip)], f"--perceptual {clip}: not a loadable TorchScript file")):
        out = tmp_path / "run"
        r = CliRunner().invoke(app, [*args, "--out", str(out), *extra])
        assert r.exit_code == 2 and says in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert not out.exists(), f"{extra}: {out} was left behind"
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "good"), "--heldout", str(long), "--eval-every", "1"])
    assert r.exit_code == 0, r.output
    measured = [row for row in rows(tmp_path / "good" / "metrics.jsonl") if "heldout_psnr" in row]
    assert [row["step"] for row in measured] == [1, 2] and all(row["heldout_psnr"] > 0 for row in measured), measured


def test_the_heldout_video_is_left_out_of_the_data(tmp_path):
    """--heldout measures on a video the model has not seen: a file under --data with its bytes
    (the held-out clip copied into the data folder) is left out, in a warning naming it; a --data
    of nothing else is an error. Training went on with it among the clips, without a word."""
    import shutil
    held = make_video(tmp_path / "held.mp4", frames=17, width=32, height=32)
    (tmp_path / "data").mkdir()
    make_video(tmp_path / "data" / "other.mp4", frames=9, width=32, height=32)
    shutil.copy(held, tmp_path / "data" / "copy.mp4")
    args = ["train", "tokenizer", "--preset", "tiny", "--steps", "1", "--batch", "2", "--frames", "5", "--size", "16",
            "--warmup", "1", "--device", "cpu", "--synthetic-weight", "0", "--heldout", str(held)]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--data", str(tmp_path / "data")])
    assert r.exit_code == 0, r.output
    warned = [line for line in r.output.splitlines() if "left out of training" in line]
    assert len(warned) == 1 and str(tmp_path / "data" / "copy.mp4") in warned[0] and "other.mp4" not in warned[0], r.output
    (tmp_path / "data" / "other.mp4").unlink()
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run2"), "--data", str(tmp_path / "data")])
    assert r.exit_code == 2 and "--data holds nothing but --heldout" in r.output, r.output
    assert not (tmp_path / "run2").exists()


def test_data_takes_quoted_patterns_and_says_how_when_the_shell_expanded_one(tmp_path):
    """--data 'clips/*.mp4' (quoted) trains on the videos and images it matches (** spans folders;
    other files are not matched); one that matches nothing is one line. Unquoted, the shell hands
    the files after the first over as stray arguments: the error says how to give them."""
    from magvit_cli.errors import UsageError
    from magvit_cli.train.data import list_media
    (tmp_path / "clips" / "sub").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "sub/c.mp4"):
        make_video(tmp_path / "clips" / name, frames=5, width=16, height=16)
    (tmp_path / "clips" / "sub" / "d.png").write_bytes(b"")  # listed by its name (opening it is checked later)
    (tmp_path / "clips" / "notes.txt").write_text("x")
    names = lambda pattern: [p.relative_to(tmp_path / "clips").as_posix() for p, _ in list_media([tmp_path / pattern])[0]]
    assert names("clips/*.mp4") == ["a.mp4", "b.mp4"]
    assert names("clips/**/*.mp4") == ["a.mp4", "b.mp4", "sub/c.mp4"]
    assert names("clips/*") == ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d.png"], "the folder is read; notes.txt is left out"
    with pytest.raises(UsageError, match=r"--data .*clips/\*.mkv: matches no videos, images or folders"):
        list_media([tmp_path / "clips/*.mkv"])
    args = ["train", "tokenizer", "--preset", "tiny", "--steps", "1", "--batch", "2", "--frames", "5", "--size", "16",
            "--warmup", "1", "--device", "cpu", "--synthetic-weight", "0"]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--data", str(tmp_path / "clips/*.mp4")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run2"), "--data", str(tmp_path / "clips/a.mp4"),
                                 str(tmp_path / "clips/b.mp4")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1, r.output
    assert "--data takes one path each time: repeat it" in r.output and "quoted pattern" in r.output, r.output


def test_a_file_that_fails_to_decode_later_is_left_out(tmp_path, monkeypatch):
    """A file that opened at the start but fails to decode when drawn (a damaged stretch) is left
    out with a warning line, and the clip comes from another file."""
    import random
    from magvit_cli.errors import MagvitError
    from magvit_cli.train import data
    make_video(tmp_path / "a.mp4", frames=8, width=32, height=32)
    make_video(tmp_path / "b.mp4", frames=8, width=32, height=32, seed=1)
    said = []
    src = data.ClipSource([tmp_path], 5, 16, synthetic_weight=0.0, warn=said.append)
    real = src._load

    def load(path):
        if path.name == "a.mp4":
            raise MagvitError(f"{path}: decoding failed after frame 3 (damaged)")
        return real(path)
    monkeypatch.setattr(src, "_load", load)
    clips = [src.sample(random.Random(i))[0] for i in range(6)]
    assert all(c.shape == (3, 5, 16, 16) for c in clips)
    assert [v.name for v, _ in src.videos] == ["b.mp4"], src.videos
    assert len(said) == 1 and "a.mp4: decoding failed after frame 3" in said[0] and "left out" in said[0], said


def test_data_workers_start_clean_after_the_trainer_has_decoded(tmp_path):
    """A data worker does not inherit the training process's decoding state: PyAV 19 keeps each
    thread's scaler, with its own threads, and a worker forked after the trainer had decoded a
    frame hung for ever freeing its copy (a fork keeps the state, not the threads)."""
    (tmp_path / "data").mkdir()
    make_video(tmp_path / "data" / "clip.mp4", frames=8, width=32, height=32)
    script = tmp_path / "train.py"
    script.write_text(
        "import sys\n"
        "from magvit_cli.video import iter_frames\n"
        "from magvit_cli.cli import app\n"
        f"sys.argv = ['magvit', 'train', 'tokenizer', '--out', {str(tmp_path / 'run')!r}, '--preset', 'tiny', '--steps', '2',\n"
        f"            '--frames', '5', '--size', '16', '--batch', '2', '--device', 'cpu', '-q', '--workers', '1',\n"
        f"            '--data', {str(tmp_path / 'data')!r}, '--synthetic-weight', '0']\n"
        "if __name__ == '__main__':\n"
        f"    assert len(list(iter_frames({str(tmp_path / 'data' / 'clip.mp4')!r}))) == 8  # decoded here first\n"
        "    app()\n")
    import subprocess
    import sys
    try:
        p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("training with a data worker did not end within 120 s after the trainer had decoded video")
    assert p.returncode == 0 and (tmp_path / "run" / "export" / "model.safetensors").is_file(), p.stderr


def test_a_failing_data_worker_ends_the_run(tmp_path):
    """An error inside a data-loading worker ends the run with one error line and exit status 1;
    it hung at exit (the interpreter waited for workers that ignore SIGTERM)."""
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys\n"
        "from magvit_cli.train import data\n"
        "def bad(self, rng):\n"
        "    raise RuntimeError('boom in a worker')\n"
        "data.ClipSource.sample = bad\n"
        "from magvit_cli.cli import app\n"
        f"sys.argv = ['magvit', 'train', 'tokenizer', '--out', {str(tmp_path / 'run')!r}, '--preset', 'tiny', '--steps', '2',\n"
        "            '--frames', '5', '--size', '16', '--batch', '2', '--device', 'cpu', '-q', '--workers', '1']\n"
        "if __name__ == '__main__':  # data workers import the main module (engine.worker_start)\n"
        "    app()\n")
    import subprocess
    import sys
    try:
        p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the run did not end within 120 s of its worker failing")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and lines == ["error: RuntimeError: boom in a worker (in another process; MAGVIT_DEBUG=1 shows the traceback)"], p.stderr


@pytest.mark.parametrize("command", ["tokenizer", "transformer"])
def test_resume_with_another_model_names_what_differs(tmp_path, command):
    """--resume with a --preset or --set that builds another model than the run's is one short
    error naming the settings that differ (it was every mis-shaped tensor, thousands of characters);
    with the run's own it goes on."""
    from conftest import tiny_tokenizer
    from magvit_cli.models import save_model
    save_model(tiny_tokenizer(seed=1), tmp_path / "tok")
    args = ["train", command, "--out", str(tmp_path / "run"), "--preset", "tiny", "--frames", "5", "--size", "16",
            "--batch", "2", "--device", "cpu", "-q", "--warmup", "1"]
    args += ["--tokenizer", str(tmp_path / "tok"), "--cache-clips", "4"] if command == "transformer" else ["--workers", "0"]
    r = CliRunner().invoke(app, [*args, "--steps", "2"])
    assert r.exit_code == 0, r.output
    other = "dim=48" if command == "transformer" else "channels=12"
    r = CliRunner().invoke(app, [*args, "--steps", "3", "--resume", "--set", other])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and len(lines[0]) < 400, r.output
    assert lines[0].startswith("error: --resume:") and other in lines[0], r.output
    r = CliRunner().invoke(app, [*args, "--steps", "3", "--resume"])
    assert r.exit_code == 0, r.output


def test_labels_that_name_no_file_are_said(tmp_path, monkeypatch):
    """--labels rows that name no file under --data (a typo, another folder) are counted in a
    warning line, since those files train unlabelled (it was silent); a --labels file that does
    not exist is a one-line error (it was a FileNotFoundError)."""
    from magvit_cli.train.data import ClipSource
    (tmp_path / "data").mkdir()
    make_video(tmp_path / "data" / "a.mp4", frames=8, width=32, height=32)
    make_video(tmp_path / "data" / "b.mp4", frames=8, width=32, height=32, seed=1)
    (tmp_path / "labels.csv").write_text("file,class\na.mp4,cat\nB.mp4,dog\nc.mp4,cow\n")
    said = []
    src = ClipSource([tmp_path / "data"], 5, 16, labels=tmp_path / "labels.csv", warn=said.append)
    assert src.folder_classes == ["cat"] and [c for _, c in src.items] == [0, -1], (src.folder_classes, src.items)
    assert len(said) == 1 and "2 of 3 rows name no file" in said[0] and "'B.mp4'" in said[0], said
    said.clear()
    (tmp_path / "labels.csv").write_text("file,class\na.mp4,cat\nb.mp4,dog\n")
    ClipSource([tmp_path / "data"], 5, 16, labels=tmp_path / "labels.csv", warn=said.append)
    assert said == [], said
    with pytest.raises(UsageError, match="^--labels .*nowhere.csv: no such file$"):
        ClipSource([tmp_path / "data"], 5, 16, labels=tmp_path / "nowhere.csv")
    # a row's file as a path from the working folder, as a shell user types it ('data/a.mp4' was
    # 'names no file under --data'), or absolute
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.csv").write_text(f"data/a.mp4,cat\n{tmp_path / 'data' / 'b.mp4'},dog\n")
    src = ClipSource(["data"], 5, 16, labels=tmp_path / "labels.csv", warn=said.append)
    assert said == [] and src.folder_classes == ["cat", "dog"] and [c for _, c in src.items] == [0, 1], (said, src.items)


def test_a_class_whose_files_do_not_open_is_not_trained(tmp_path):
    """A class (sub-folder) whose only file does not open is not in the class table (it was: a
    class with no clips, which `generate --class` would then offer)."""
    from magvit_cli.train.data import ClipSource
    for name in ("cat", "dog", "emu"):
        (tmp_path / name).mkdir()
    make_video(tmp_path / "cat" / "a.mp4", frames=8, width=32, height=32)
    (tmp_path / "dog" / "b.mp4").write_bytes(b"")
    make_video(tmp_path / "emu" / "c.mp4", frames=8, width=32, height=32, seed=1)
    src = ClipSource([tmp_path], 5, 16, warn=lambda msg: None)
    assert src.folder_classes == ["cat", "emu"], src.folder_classes
    assert [(p.name, c) for p, c in src.items] == [("a.mp4", 0), ("c.mp4", 1)], src.items


def test_progress_writes_plain_lines_to_a_log(monkeypatch, capsys):
    """Where stderr is not a terminal (a run in the background, `2> train.log`) progress is a plain
    line every LOG_EVERY_S seconds with the time left, and at the end; the rich line showed only
    once the run was over. A run stopped between lines writes its last step on closing."""
    from magvit_cli import progress
    from magvit_cli.train import engine
    now = [0.0]
    monkeypatch.setattr(progress.time, "time", lambda: now[0])
    p = engine.Progress(total=10, start=0, enabled=True, what="tokenizer")
    for step in range(1, 5):
        now[0] = 30.0 * step
        p.update(step, 2.0, rec=0.5)
    p.close()
    lines = capsys.readouterr().err.splitlines()
    # updates at 30, 60, 90, 120 s after the start: a line at 60 (step 2) and 120 (step 4), none on closing
    assert lines == ["tokenizer 2/10 rec 0.5000 | 2.00 clips/s, 0:04:00 left",
                     "tokenizer 4/10 rec 0.5000 | 2.00 clips/s, 0:03:00 left"], lines
    p = engine.Progress(total=10, start=5, enabled=True, what="token cache")
    now[0] += 10
    p.update(6)
    p.close()
    assert capsys.readouterr().err.splitlines() == ["token cache 6/10, 0:00:40 left"]
    p = engine.Progress(total=3, start=0, enabled=True, what="transformer")
    p.update(3, 1.5, loss=2.0)  # the last step: written at once, nothing left
    assert capsys.readouterr().err.splitlines() == ["transformer 3/3 loss 2.0000 | 1.50 clips/s"]
    engine.Progress(total=10, start=0, enabled=False, what="x").update(10, 1.0)
    assert capsys.readouterr().err == ""


def test_colour_turn_shows_every_hue_and_stronger_colour(tmp_path):
    """--colour-turn: clips whose hues are turned about the grey axis and saturation raised (the
    shipped tokenizer decodes pure green orange: real footage shows it too few strong colours).
    Grey stays grey, each pixel's grey level stays where nothing clips, a turn moves the hue, the
    colour never weakens, and the source turns the share of clips it is given."""
    import math
    import random
    from magvit_cli.train.data import ClipSource, turn_colours
    grey = torch.linspace(-0.8, 0.8, 32).view(1, 2, 4, 4).expand(3, -1, -1, -1)  # (3, T, H, W), R = G = B
    assert torch.allclose(turn_colours(grey.contiguous(), random.Random(0)), grey, atol=1e-6), "grey must stay grey"
    muted = torch.tensor([0.2, -0.1, -0.1]).view(3, 1, 1, 1).expand(3, 2, 4, 4).contiguous()  # a weak red
    hues = set()
    for seed in range(8):
        out = turn_colours(muted, random.Random(seed))
        assert torch.allclose(out.mean(0), muted.mean(0), atol=1e-6), f"seed {seed}: the grey level moved"
        chroma = (out - out.mean(0, keepdim=True))[:, 0, 0, 0]
        assert chroma.norm() >= (muted - muted.mean(0, keepdim=True))[:, 0, 0, 0].norm() - 1e-6, f"seed {seed}: colour weakened"
        hues.add(round(math.degrees(math.atan2(float(chroma[1] - chroma[2]) * math.sqrt(3), float(2 * chroma[0] - chroma[1] - chroma[2]))) / 60))
    assert len(hues) >= 3, f"8 turns gave the hues {sorted(hues)} (sixths of a circle): not turned"
    plain, turned = ClipSource([], 5, 16), ClipSource([], 5, 16, colour_turn=1.0)
    a, b = plain.sample(random.Random(3))[0], turned.sample(random.Random(3))[0]
    assert a.shape == b.shape == (3, 5, 16, 16) and not torch.allclose(a, b), "--colour-turn 1 left a clip as it was"
    assert torch.equal(ClipSource([], 5, 16, colour_turn=0.0).sample(random.Random(3))[0], a), "0 must turn none"
    r = CliRunner().invoke(app, ["train", "tokenizer", "--help"])
    assert "--colour-turn" in r.output
