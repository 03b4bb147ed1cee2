"""tools/gpu_report.py --quick: every part of the GPU report at a tiny size on the CPU, run as users run it."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[str, dict, str]:
    out = tmp_path_factory.mktemp("gpu_report")
    cmd = [sys.executable, "tools/gpu_report.py", "--quick", "--output-dir", str(out), "--work-dir", str(out / "work")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "report.json") as f:
        return proc.stdout, json.load(f), (out / "report.md").read_text()


def _rows(report: dict, part: str) -> list[dict]:
    return next(p for p in report["parts"] if p["part"] == part)["rows"]


def test_the_plan_comes_first_and_every_part_finishes_in_its_budget(quick):
    stdout, report, markdown = quick
    assert stdout.splitlines()[0].startswith("GPU report (quick): 6 parts")
    assert [p["part"] for p in report["parts"]] == [
        "environment",
        "train_step",
        "data_path",
        "ddp",
        "scale",
        "reproduce",
    ]
    for part in report["parts"]:
        assert (part["status"], part["error"]) == ("ok", "") and part["seconds"] < part["budget_s"], part
        assert f"## {part['part']}" in markdown
    assert _rows(report, "environment")[0]["device"] == "cpu"


def test_train_steps_and_the_data_path_are_measured(quick):
    _, report, _ = quick
    steps = _rows(report, "train_step")
    assert [r["setting"] for r in steps] == ["plain", "K=16 per-sample", "K=16 shared", "MoCo v2 K=65536"]
    assert all(r["images_per_s"] > 0 for r in steps)
    photos, masks, p0, p05 = _rows(report, "data_path")
    assert (photos["stage"], photos["count"], masks["count"]) == ("photos", 12, 12)
    assert (p0["setting"], p0["pasted"]) == ("p 0", 0.0) and p05["setting"] == "p 0.5 gray none" and p05["pasted"] > 0
    for row in (p0, p05):
        rates = ("loader_images_per_s", "per_core_images_per_s", "device_half_images_per_s", "train_images_per_s")
        assert all(row[k] > 0 for k in rates), row


def test_one_step_in_a_process_group_leaves_the_bank_of_one_alone(quick):
    _, report, _ = quick
    (row,) = _rows(report, "ddp")
    assert row["backend"] == "gloo" and row["bank_identical"] and row["model_max_abs_diff"] == 0.0


def test_scale_and_the_short_reproduce_run_are_reported(quick):
    _, report, _ = quick
    assert [r["stage"] for r in _rows(report, "scale")] == ["probe_features", "knn_monitor", "memory_bank"]
    metrics = _rows(report, "reproduce")
    assert [r["metric"] for r in metrics] == ["linear top-1", "kNN top-1", "localization score", "run seconds"]
    for row in metrics[:3]:
        assert 0 <= row["device_seed_0"] <= 100 and row["cpu_seeds"].startswith("1: ") and "inside" in row
