"""benchmarks/gpu_session.sh, the one device call of a session lent a GPU, run here on the CPU
with budgets of 0 minutes (one training step each), so that a renamed option or a broken step
shows before a lease is spent on it."""
import os
import subprocess
from pathlib import Path

from conftest import metrics_rows

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_session_script_trains_and_leaves_what_the_device_returns(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "STEPS": "3 4", "TOK_MIN": "0", "TR_MIN": "0", "TOK_BATCH": "1", "TR_BATCH": "2",
           "WORKERS": "0", "CACHE_CLIPS": "8", "OUT": str(out), "RUNS": str(tmp_path / "runs")}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["log.txt", "tokenizer/config.json", "tokenizer/metrics.jsonl", "tokenizer/model.safetensors",
                     "transformer/config.json", "transformer/model.safetensors"], files
    assert all((out / f).stat().st_size <= 16 * 2 ** 20 for f in files), "the device returns files of at most 16 MiB"
    log = (out / "log.txt").read_text()
    assert "4. transformer on " + str(tmp_path / "runs/tok/export") in log, "the transformer trains on the new tokenizer's tokens"
    assert metrics_rows(tmp_path / "runs/tok/metrics.jsonl")[-1]["step"] == 1


def test_gpu_session_token_search_step(tmp_path):
    import json
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "STEPS": "5", "REFINE": "1", "REFINE_WINDOWS": "1", "OUT": str(out)}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rep = json.loads((out / "refine_gpu.json").read_text())
    assert rep["settings"]["refine"] == 1 and rep["settings"]["windows"] == 1
    assert rep["average"]["tokenizer"]["ours"]["psnr"] > 15, rep["average"]


def test_gpu_session_passes_tok_args_to_the_tokenizer_step(tmp_path):
    """TOK_ARGS reaches step 3: with --freeze-decoder --distill 1 the returned tokenizer keeps the
    shipped decoder exactly and its metrics log the distillation."""
    from safetensors.torch import load_file
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "STEPS": "3", "TOK_MIN": "0", "TOK_BATCH": "1", "WORKERS": "0", "OUT": str(out),
           "RUNS": str(tmp_path / "runs"), "TOK_ARGS": "--freeze-decoder --distill 1"}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    new, shipped = load_file(str(out / "tokenizer/model.safetensors")), load_file(str(ROOT / "weights/default/tokenizer/model.safetensors"))
    dec = [k for k in shipped if k.startswith("decoder.")]
    assert dec and all(new[k].equal(shipped[k]) for k in dec), "the decoder moved although frozen"
    assert any("bits_agree" in row for row in metrics_rows(out / "tokenizer/metrics.jsonl"))


def test_gpu_session_bench_step_measures_the_tokenizers_memory(tmp_path):
    """Step 2 leaves the bench and the tokenizer's peak memory against runners.window_bytes, the
    figures that recalibrate its constants for the device."""
    import json
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "STEPS": "2", "BENCH_TASKS": "predict", "MEM_SIZE": "128x128", "OUT": str(out)}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert set(json.loads((out / "bench_gpu.json").read_text())["tasks"]) == {"predict"}
    mem = json.loads((out / "tokenizer_memory_gpu.json").read_text())
    assert (mem["width"], mem["height"], mem["frames"], mem["device"]) == (128, 128, 17, "cpu"), mem
    assert mem["estimate_gb"] > 0 and len(mem["rows"]) == 6, mem


def test_gpu_session_runs_steps_in_the_order_given_and_stops_at_end_by(tmp_path):
    """STEPS is run in its order (training first by default, so the weights come back whatever runs
    long), and the tests and the bench are cut off at END_BY seconds (here 0: skipped, saying so)."""
    out = tmp_path / "out"
    env = {**os.environ, "DEV": "cpu", "STEPS": "2 1", "END_BY": "0", "OUT": str(out)}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert log.index("== ") < log.index("2. bench") < log.index("1. accelerator tests"), log
    assert log.count("skipped, END_BY (0 s) reached") == 3, log  # the bench, the memory probe, the tests
    env["STEPS"] = "6"
    r = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_session.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "no step 6" in r.stdout, r.stdout
