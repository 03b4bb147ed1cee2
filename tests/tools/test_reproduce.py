"""tools/reproduce.py end to end on a tiny setting: tables, JSON, a rerun that trains nothing, caltech20."""

import json
import os
import subprocess
import sys

from pretrain.reproduce import PRESETS
from tests.conftest import REPO, TINY
from tests.reproduce.test_caltech20 import caltech_subset

TOOL = os.path.join(REPO, "tools", "reproduce.py")


def _reproduce(output, cache, *args):
    cmd = [sys.executable, TOOL, "--output", str(output), "--device", "cpu", *args]
    cmd += [*TINY, "SOLVER.EPOCHS", "1", "DATA.EMBEDDED.CACHE_DIR", cache]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=output.parent)


def test_two_settings_one_seed_then_a_rerun_skips_them(embedded_cache, tmp_path):
    out = tmp_path / "rep"
    first = _reproduce(out, embedded_cache, "--settings", "baseline,rbd", "--seeds", "7", "--jobs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    report = json.loads((out / "reproduce.json").read_text())
    assert report["trained"] == 2 and report["seeds"] == [7]
    runs = {r["setting"]: r for r in report["runs"]}
    assert set(runs) == {"baseline", "rbd"} and all(r["seed"] == 7 and r["epochs"] == 1 for r in runs.values())
    assert os.path.exists(out / "rbd" / "seed7" / "checkpoint_last.pth")
    base, rbd = runs["baseline"]["linear_top1"], runs["rbd"]["linear_top1"]
    row = f"| linear top-1 here | {base:.1f} | - | - | {rbd:.1f} | - |"
    assert row in first.stdout and row in report["tables"]
    assert "| paper (ImageNet linear) | 56.5 | 57.8 | 58.1 | 59.3 | 62.9 |" in first.stdout
    assert report["summary"]["rbd"]["linear_top1"]["mean"] == rbd

    again = _reproduce(out, embedded_cache, "--settings", "baseline,rbd", "--seeds", "7")
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads((out / "reproduce.json").read_text())
    assert rerun["trained"] == 0 and all(r["skipped"] for r in rerun["runs"])
    assert rerun["summary"] == report["summary"] and row in again.stdout


def test_report_only_tabulates_finished_runs_and_names_the_rest(embedded_cache, tmp_path):
    out = tmp_path / "rep"
    first = _reproduce(out, embedded_cache, "--settings", "baseline", "--seeds", "0")
    assert first.returncode == 0, first.stderr[-3000:]
    args = ("--report-only", "--settings", "baseline,texture", "--seeds", "0,1", "--texture-root", str(tmp_path / "no"))
    done = _reproduce(out, embedded_cache, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "reproduce.json").read_text())
    assert report["trained"] == 0 and [r["seed"] for r in report["runs"]] == [0]
    assert report["missing"] == [str(out / "baseline" / "seed1")]
    assert "note: texture backgrounds skipped" in done.stdout and "not finished (1 runs)" in done.stdout
    assert not (out / "baseline" / "seed1").exists()


def test_unknown_setting_is_named(tmp_path):
    done = subprocess.run([sys.executable, TOOL, "--settings", "rbd,basnet"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown settings ['basnet']" in done.stderr


def test_caltech20_is_prepared_once_and_trains_on_its_own_masks(tmp_path):
    data = caltech_subset(tmp_path / "data", ("car_side", "airplanes"), 10, 3)
    tiny = [v for k, v in zip(TINY[::2], TINY[1::2], strict=True) for v in (k, v) if not k.startswith("DATA.")]
    cmd = [sys.executable, TOOL, "--dataset", "caltech20", "--data-root", data, "--device", "cpu"]
    cmd += ["--settings", "baseline,true,rbd", "--seeds", "0", *tiny, "SOLVER.EPOCHS", "1", "DATA.NUM_WORKERS", "0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    out = tmp_path / "output" / "reproduce" / "caltech20-reduced"  # the defaults, under the working folder
    report = json.loads((out / "reproduce.json").read_text())
    assert report["dataset"] == "caltech20" and report["trained"] == 2
    assert [r["setting"] for r in report["runs"]] == ["baseline", "rbd"]
    assert "note: true skipped: caltech20 has no true masks" in done.stdout
    assert "Table 2 at small scale on caltech20 (reduced preset" in done.stdout
    (prepared,) = (tmp_path / "output" / "cache").iterdir()
    rbd = report["runs"][1]["opts"]
    assert rbd[rbd.index("DATA.TRAIN_ROOT") + 1] == str(prepared / "train")
    assert rbd[rbd.index("DATA.VAL_ROOT") + 1] == str(prepared / "val")
    assert rbd[rbd.index("COPY_PASTE.MASK_ROOT") + 1] == str(prepared / "masks_rbd" / "train")
    caltech_epochs = str(PRESETS["reduced"].epochs["caltech20"])
    assert rbd[rbd.index("SOLVER.EPOCHS") + 1] == caltech_epochs  # the preset's caltech20 schedule, then the test's 1
    assert all(r["epochs"] == 1 and 0 <= r["linear_top1"] <= 100 for r in report["runs"])
    assert "| paper (ImageNet linear) | 56.5 | 57.8 | 58.1 | 59.3 | 62.9 |" in done.stdout
