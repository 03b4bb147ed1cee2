"""tools/pretrain.py as users run it: the demo, a preempted run, a broken config."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import REPO, TINY

TOOL = os.path.join(REPO, "tools", "pretrain.py")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, TOOL, *args]


def test_the_demo_learns_far_above_chance(embedded_cache, tmp_path):
    """The README's main command, unchanged but for where it writes."""
    out = subprocess.run(
        _cmd("DATA.EMBEDDED.CACHE_DIR", embedded_cache, "OUTPUT_DIR", str(tmp_path)),
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    knn = float(out.stdout.split("kNN top-1 (k=200)")[1].split("%")[0])
    linear = float(out.stdout.split("linear probe top-1")[1].split("%")[0])
    assert knn >= 30.0 and linear >= 30.0, out.stdout  # chance is 10 %


def test_the_moco_demo_config_runs(embedded_cache, tmp_path):
    """configs/pretrain/moco_v2_demo.yaml through the tool, on the tiny set for one epoch."""
    config = os.path.join(REPO, "configs", "pretrain", "moco_v2_demo.yaml")
    args = [*TINY, "DATA.EMBEDDED.CACHE_DIR", embedded_cache, "OUTPUT_DIR", str(tmp_path), "SOLVER.EPOCHS", "1"]
    args += ["DATA.EMBEDDED.MASKS", "true", "MOCO.QUEUE_SIZE", "32", "TEST.LINEAR_PROBE", "False"]
    cmd = _cmd("--config-file", config, *args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dilo pretraining: moco_v2, resnet18" in out.stdout and "kNN top-1 (k=10)" in out.stdout, out.stdout


def test_sigterm_saves_and_resume_finishes(embedded_cache, tmp_path):
    args = [*TINY, "DATA.EMBEDDED.CACHE_DIR", embedded_cache, "OUTPUT_DIR", str(tmp_path), "SOLVER.EPOCHS", "200"]
    proc = subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 75, stderr[-3000:]  # saved, unfinished: a scheduler requeues on it
    assert "UNFINISHED    stopped by SIGTERM at epoch" in stdout and "continue with --resume (exit status 75)" in stdout
    ckpt = torch.load(tmp_path / "checkpoint_last.pth", weights_only=True)
    assert 0 < ckpt["epoch"] * 4 + ckpt["iter"] < 800
    done = subprocess.run(
        _cmd("--resume", *args[:-2], "SOLVER.EPOCHS", str(ckpt["epoch"] + 1)), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.load(tmp_path / "model_final.pth", weights_only=True)["epoch"] == ckpt["epoch"] + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SOLVER.EPOCH", "3"], "unknown config key 'SOLVER.EPOCH'"),
        (["--config-file", "missing.yaml"], "missing.yaml"),
        (["DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", "/nonexistent/train"], "/nonexistent/train"),
    ],
)
def test_bad_input_is_named(args, message, tmp_path):
    out = subprocess.run(_cmd(*args, "OUTPUT_DIR", str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and message in out.stderr
