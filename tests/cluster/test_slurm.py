"""Jobs through submitit's local executor, as SLURM runs them: 2 tasks in one gloo process group, and a job
signalled as SLURM signals it before a time limit, requeued with --resume, ending equal to an uninterrupted one."""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch

from tests.conftest import TINY
from tests.reliability.test_kills import _children

submitit = pytest.importorskip("submitit", reason="submitit is not installed: pip install -e '.[cluster]'")

from pretrain.cluster import Resources  # noqa: E402
from pretrain.cluster.slurm import submit  # noqa: E402

EPOCHS = 6  # of 4 steps (2 tasks x 8 images): the signal comes after the third
TWO_TASKS = Resources(gpus_per_node=0, tasks_per_node=2, cpus_per_task=1, timeout_min=10)


def _options(cache: str) -> list[str]:
    return [*TINY, "DATA.EMBEDDED.CACHE_DIR", cache, "DATA.EMBEDDED.MASKS", "true", "SOLVER.EPOCHS", str(EPOCHS),
            "SOLVER.STEPS", "(4,)", "TEST.KNN_PERIOD", "0", "TEST.LINEAR_PROBE", "False"]  # fmt: skip


def _tensors(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a checkpoint, by its path of keys."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list | tuple) else ()
    return {k: v for key, value in items for k, v in _tensors(value, f"{prefix}/{key}").items()}


@pytest.fixture(scope="module")
def jobs(embedded_cache, tmp_path_factory):
    """Two local jobs of the same 2-task pretraining, side by side: one left alone, one signalled with USR2
    (SLURM's signal ahead of a time limit) once it has logged its first steps."""
    root = tmp_path_factory.mktemp("slurm")
    whole = submit("pretrain", _options(embedded_cache), str(root / "whole"), TWO_TASKS, cluster="local")
    split = submit("pretrain", _options(embedded_cache), str(root / "split"), TWO_TASKS, cluster="local")
    metrics, deadline = root / "split" / "metrics.jsonl", time.time() + 180
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
        assert not split.done() and time.time() < deadline, split.stdout()
        time.sleep(0.1)
    tasks = _children(int(split.job_id))  # the local job's controller starts its tasks
    assert len(tasks) == 2, tasks
    for pid in tasks:
        os.kill(pid, signal.SIGUSR2)
    return root, whole, split


def test_two_tasks_train_in_one_gloo_group(jobs):
    root, whole, _ = jobs
    assert whole.results() == [0, 0]
    log = (root / "whole" / "log.txt").read_text()
    assert "on cpu x 2" in log  # world size 2: both tasks joined
    assert torch.load(root / "whole" / "model_final.pth", weights_only=True)["epoch"] == EPOCHS


def test_a_signalled_job_is_requeued_with_resume_and_ends_equal_to_an_uninterrupted_one(jobs):
    root, whole, split = jobs
    assert split.results() == [0, 0] and whole.results() == [0, 0]
    out = split.stdout()
    assert "dilo: pretrain stopped by SIGUSR2: requeued" in out, out
    assert out.split("dilo: try 2 of pretrain:")[1].splitlines()[0].endswith(" --resume")
    assert "resumed from" in (root / "split" / "log.txt").read_text()
    a = _tensors(torch.load(root / "whole" / "checkpoint_last.pth", weights_only=True))
    b = _tensors(torch.load(root / "split" / "checkpoint_last.pth", weights_only=True))
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key
