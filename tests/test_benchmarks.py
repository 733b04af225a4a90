"""The benchmark scripts the model card quotes run and write what it reads (tiny weights here)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_tokenizer
from magvit_cli.models import save_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("w")
    save_model(tiny_tokenizer(seed=1), root / "tokenizer")
    return root


def test_colours_benchmark_writes_every_colour_and_both_clips(weights, tmp_path):
    report = tmp_path / "colours.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "colours.py"), "--weights", str(weights), "--refine", "1",
                        "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(report.read_text())
    assert set(got["colours"]) >= {"red", "green", "blue", "foliage", "skin"}, got["colours"].keys()
    for name, row in got["colours"].items():
        for key in ("plain", "refine"):
            out = row[key]["out"]
            assert len(out) == 3 and all(0 <= v <= 255 for v in out), (name, key, out)
            assert row[key]["mean_abs_error"] == round(sum(abs(o - i) for o, i in zip(out, row["in"])) / 3, 1), (name, row)
    for clip in ("colour bars (testsrc2)", "carphone.mp4"):
        assert 0 < got[clip]["plain"] < 60 and 0 < got[clip]["refine"] < 60, got[clip]
    assert "carphone.mp4: PSNR" in r.stdout, r.stdout


def test_tokenizer_memory_benchmark_measures_both_paths_and_the_estimate(weights, tmp_path):
    report = tmp_path / "memory.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tokenizer_memory.py"), "--weights", str(weights),
                        "--size", "256x256", "--frames", "5", "--report", str(report)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(report.read_text())
    assert set(got["rows"]) == {f"{s} {p}" for s in ("encode", "decode") for p in ("in place", "plain", "chunked")}, got["rows"]
    for name, row in got["rows"].items():
        assert 0 < row["seconds"] < 60 and row["peak_gb"] >= row["before_gb"] > 0, (name, row)
    assert got["estimate_gb"] > 0 and got["estimate_over_measured"] > 0, got
    assert got["chunk"] == 1 and got["chunk_estimate_gb"] > 0 and got["chunk_estimate_over_measured"] > 0, got
    assert "in place / plain" in r.stdout and "estimate / measured" in r.stdout, r.stdout


def test_report_compare_shows_each_tasks_change_and_refuses_unlike_reports(tmp_path):
    """`report.py compare OLD NEW` (the shipped weights' eval report against new ones', e.g. a GPU
    session's): per task ours before and after, the change and whether it now beats the best
    alternative; reports of other clips or settings are refused, not compared."""
    def report(ours: float, clip: str = "a.mp4", seed: int = 0) -> dict:
        avg = {"FI": {"ours": {"psnr": ours, "ssim": 0.8}, "linear blend": {"psnr": 25.0, "ssim": 0.8}},
               "OPC": {"ours": {"psnr": 11.0, "ssim": 0.4}, "edge replication": {"psnr": 10.5, "ssim": 0.4}}}
        return {"clips": {clip: avg}, "average": avg, "settings": {"window": 17, "windows": 3, "seed": seed, "weights": clip}}
    paths = {}
    for name, rep in (("old", report(24.5)), ("new", report(25.25)), ("cup", report(25.25, "cup.mp4")), ("seed1", report(25.25, seed=1))):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(rep))
    run = lambda *names: subprocess.run([sys.executable, str(ROOT / "benchmarks" / "report.py"), "compare", *map(str, names)],  # noqa: E731
                                        capture_output=True, text=True, timeout=60)
    r = run(paths["old"], paths["new"])
    assert r.returncode == 0, r.stderr
    rows = r.stdout.strip().splitlines()
    assert rows[2] == "| FI | 24.50 / 0.800 | 25.25 / 0.800 | +0.75 | 25.00 | yes |", rows
    assert rows[3] == "| OPC | 11.00 / 0.400 | 11.00 / 0.400 | +0.00 | 10.50 | yes |", rows
    for other, said in (("cup", "the reports scored other clips: a.mp4 and cup.mp4"), ("seed1", "other settings: seed 0 and 1")):
        r = run(paths["old"], paths[other])
        assert r.returncode != 0 and said in r.stderr, r.stderr
