"""The numbers the README and the model card quote are the committed eval reports' numbers.

Both documents carry a table of the example clip (and the card one of the second held-out clip),
kept in step with `weights/eval_*.json` by hand; a re-measured release that updates one and not
the other fails here, naming the row.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("tokenizer", "FI", "FP", "OPC", "OPV", "OPH", "OPD", "IPC", "IPD")
# the cup table's "simple alternative" column names the method by its first word
SHORT = {"blend": "linear blend", "repeat": "repeat last frame", "edge": "edge replication",
         "fill": "temporal + diffusion fill", "minterpolate": "ffmpeg minterpolate", "x264": "x264"}


def report(name: str) -> dict:
    return json.loads((ROOT / "weights" / name).read_text())["average"]


def table_after(text: str, header: str) -> list[list[str]]:
    """The rows (cells, bold marks removed) of the first markdown table whose header row starts
    with `header`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
    assert start is not None, f"no table with header {header!r}"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().replace("**", "") for c in line.strip().strip("|").split("|")])
    return rows


def method_key(method: str, names) -> str | None:
    """A table's method cell -> the report's method name: 'ours' (plain or with a note in
    parentheses) and the alternatives by their report names; other variants (previous releases,
    other settings) have reports of their own and are not checked here."""
    if re.fullmatch(r"ours( \(default[^)]*\))?", method):
        return "ours"
    return method if method in names else None


def quoted(rows) -> list[tuple[str, str, float, float]]:
    """(task, method, PSNR, SSIM) of each checked row of a `| task | method | PSNR dB | SSIM |` table."""
    out, task = [], None
    for cells in rows:
        task = cells[0] or task
        out.append((task, cells[1], float(cells[2]), float(cells[3])))
    return out


@pytest.mark.parametrize("doc", ["README.md", "weights/README.md"])
def test_example_clip_tables_quote_the_report(doc):
    avg = report("eval_carphone.json")
    rows = quoted(table_after((ROOT / doc).read_text(), "| task | method | PSNR dB | SSIM |"))
    checked = 0
    for task, method, p, s in rows:
        key = method_key(method, avg.get(task, {}))
        if key is None:
            continue
        want = avg[task][key]
        assert (p, s) == (round(want["psnr"], 2), round(want["ssim"], 3)), (
            f"{doc}: {task} {method!r} quotes {p} dB / {s}, eval_carphone.json has "
            f"{want['psnr']:.2f} / {want['ssim']:.3f}")
        checked += 1
    # every task's own row and every alternative in the report is quoted
    expected = sum(len(v) for k, v in avg.items() if k in TASKS)
    assert checked == expected, f"{doc}: {checked} rows match the report's methods, the report has {expected}"


def test_second_clip_table_quotes_the_report():
    avg = report("eval_cup.json")
    rows = table_after((ROOT / "weights" / "README.md").read_text(), "| task | ours (default) |")
    assert [r[0] for r in rows] == list(TASKS), f"the cup table's tasks: {[r[0] for r in rows]}"

    def numbers(cell):  # "26.64 / 0.926 (residual)" -> (26.64, 0.926)
        m = re.search(r"(\d+\.\d+) / (\d\.\d+)", cell)
        assert m, f"no 'PSNR / SSIM' in {cell!r}"
        return float(m.group(1)), float(m.group(2))

    for task, ours, _other, _before, simple, strong, *_ in rows:
        cells = [("ours", ours)]
        for cell in (simple, strong):
            if cell:
                cells.append((SHORT[cell.split()[0]], cell))
        for method, cell in cells:
            want = avg[task][method]
            assert numbers(cell) == (round(want["psnr"], 2), round(want["ssim"], 3)), (
                f"cup table: {task} {method} quotes {cell!r}, eval_cup.json has "
                f"{want['psnr']:.2f} / {want['ssim']:.3f}")


def test_lower_bounds_are_the_floors_the_suite_ran_on():
    """pyproject.toml's lower bounds are the releases `.ci/floors` runs the suite on
    (`.ci/floors.txt`): a bound raised or lowered without the other, or a dependency added
    without a floor, fails here, naming it. (`av>=12` and `typer>=0.12` had been admitted while
    the code needed PyAV 18 and typer 0.29: every command failed on a machine that kept older ones.)"""
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [d for deps in project["optional-dependencies"].values() for d in deps]
    bounds = {}
    for spec in wanted:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,<[0-9.]+)?", spec)
        assert m, f"{spec!r}: each dependency takes a lower bound (>=), and an upper one only as ,<N"
        bounds[m[1].lower()] = m[2]
    floors = dict(line.split("==") for line in (ROOT / ".ci" / "floors.txt").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert bounds.pop("torch") == "2.4", "torch's floor is 2.4 (.ci/floors.txt says why)"
    for name, bound in bounds.items():
        floor = floors.get(name)
        assert floor is not None and (floor == bound or floor.startswith(bound + ".")), \
            f"{name}>={bound} in pyproject.toml, but .ci/floors.txt runs the suite on {floor}"
    assert set(floors) <= set(bounds), f"floors of no dependency: {set(floors) - set(bounds)}"
