"""Averaging finetuning runs: the numbers of the paper's Table 5 layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from detection.runs import aggregate, format_table, read_run
from tests.conftest import REPO, load_tool

TOOL = load_tool("detection_runs")

RUNS = {
    "seed 1": {"AP50": 74.5, "AP": 46.5, "AP75": 50.1},
    "seed 2": {"AP50": 74.9, "AP": 46.9, "AP75": 50.9},
    "seed 3": {"AP50": 74.7, "AP": 46.7, "AP75": 50.5},
}


def test_mean_and_sample_std():
    summary = aggregate(RUNS)
    assert summary["AP50"]["mean"] == pytest.approx(74.7)
    assert summary["AP"]["std"] == pytest.approx(0.2)
    assert summary["AP75"]["std"] == pytest.approx(0.4)
    assert summary["AP50"]["n"] == 3
    assert aggregate({"seed 1": RUNS["seed 1"]})["AP"] == {"mean": 46.5, "std": 0.0, "n": 1}


def test_table_rows_and_mean_line():
    table = format_table(RUNS, aggregate(RUNS)).splitlines()
    assert table[0] == "| run | AP50 | AP | AP75 |"
    assert table[2] == "| seed 1 | 74.5 | 46.5 | 50.1 |"
    assert table[-1] == "| mean ± std (3 runs) | 74.7 ± 0.2 | 46.7 ± 0.2 | 50.5 ± 0.4 |"


def test_missing_runs_and_metrics_are_errors(tmp_path):
    with pytest.raises(ValueError, match="no finished runs"):
        aggregate({})
    with pytest.raises(KeyError, match="run 'seed 9' has no AP75"):
        aggregate({"seed 9": {"AP50": 1.0, "AP": 1.0}})
    (tmp_path / "results.json").write_text(json.dumps({"results": {"voc_2007_test": {}, "voc_2012_val": {}}}))
    with pytest.raises(ValueError, match="expected one test set's 'bbox' metrics"):
        read_run(str(tmp_path / "results.json"))
    (tmp_path / "results.json").write_text(json.dumps({"results": {"bbox": RUNS["seed 2"]}, "seed": 2}))
    assert read_run(str(tmp_path / "results.json")) == RUNS["seed 2"]


def test_tool_collects_finished_runs_into_a_table_and_json(tmp_path, capsys):
    for seed in (1, 2, 3):
        (tmp_path / f"seed{seed}").mkdir()
        payload = {"results": {"bbox": RUNS[f"seed {seed}"]}, "seed": seed}
        (tmp_path / f"seed{seed}" / "results.json").write_text(json.dumps(payload))
    args = ["--config-file", "voc07.yaml", "--output-dir", str(tmp_path), "--runs", "4", "--collect-only"]
    assert TOOL.main(TOOL.parse_args(args)) == 0
    stdout = capsys.readouterr().out
    assert "| mean ± std (3 runs) | 74.7 ± 0.2 | 46.7 ± 0.2 | 50.5 ± 0.4 |" in stdout  # seed 4 never ran
    assert "failed" not in stdout and not os.path.exists(tmp_path / "seed4")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["summary"]["AP50"]["mean"] == pytest.approx(74.7) and sorted(summary["runs"]) == sorted(RUNS)


def test_a_failed_seed_is_named_and_the_others_still_summarized(tmp_path, capsys):
    for seed in (1, 3):  # finished; seed 2's run cannot succeed (no such config file)
        (tmp_path / f"seed{seed}").mkdir()
        payload = {"results": {"bbox": RUNS[f"seed {seed}"]}, "seed": seed}
        (tmp_path / f"seed{seed}" / "results.json").write_text(json.dumps(payload))
    args = ["--config-file", str(tmp_path / "missing.yaml"), "--output-dir", str(tmp_path), "--runs", "3"]
    assert TOOL.main(TOOL.parse_args(args)) == 1  # the exit status
    stdout = capsys.readouterr().out
    assert "| mean ± std (2 runs) |" in stdout and "seed 2 failed: exit status" in stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(summary["runs"]) == ["seed 1", "seed 3"] and list(summary["failed"]) == ["seed 2"]
    assert summary["summary"]["AP50"]["n"] == 2


def test_import_detection_and_convert_need_no_working_detectron2(tmp_path):
    broken = tmp_path / "detectron2"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('a broken detectron2 install')\n")
    code = "import sys, detection, detection.convert; sys.exit('detectron2' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    help_ = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "convert.py"), "--help"], capture_output=True, text=True, env=env
    )
    assert help_.returncode == 0, help_.stderr[-3000:]
