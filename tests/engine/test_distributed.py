"""DDP on the CPU: gloo, 2 processes, launched by torchrun as users launch it; the one-process reference in this one.

One torchrun trains every scenario of this module (``ddp_runs``): starting 2 processes costs more than a run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO
from tests.engine import ddp_worker

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is unavailable")


SHARED = ("INSTDISC.SHARED_NEGATIVES", "True")  # the same negatives on every rank and in one process
MOCO = ("MODEL.METHOD", "moco_v2", "MODEL.HEAD", "mlp", "MOCO.QUEUE_SIZE", "32", "MOCO.MOMENTUM", "0.9")
SCENARIOS = {
    "shared": SHARED,
    "per_sample": (),
    "moco": MOCO,
    "moco_bn": (*MOCO, "MODEL.BACKBONE.NAME", "resnet18", "MOCO.BN_GROUPS", "2"),
}


@pytest.fixture(scope="module")
def ddp_runs(embedded_cache, tmp_path_factory) -> Path:
    """Every scenario trained by ddp_worker.py in 2 processes; their states under ``<root>/<scenario>``."""
    root = tmp_path_factory.mktemp("ddp")
    cmd = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tests.engine.ddp_worker"]
    cmd = [sys.executable, *cmd, embedded_cache, str(root), json.dumps(SCENARIOS)]
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def _ranks(root: Path) -> tuple[dict, dict]:
    return tuple(torch.load(root / f"rank{r}_of2.pt") for r in (0, 1))


def test_two_processes_match_one_and_keep_banks_identical(ddp_runs, embedded_cache, tmp_path, one_thread):
    ddp_worker.main(embedded_cache, str(tmp_path / "single"), *SHARED)
    r0, r1 = _ranks(ddp_runs / "shared")
    single = torch.load(tmp_path / "single" / "rank0_of1.pt")
    assert torch.equal(r0["bank"], r1["bank"])
    assert r0["negatives"].dim() == 1 and torch.equal(r0["negatives"], r1["negatives"])  # one draw, every rank
    assert torch.equal(r0["negatives"], single["negatives"])
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), k
        assert torch.allclose(r0["model"][k], single["model"][k], atol=1e-5), k
    assert torch.allclose(r0["bank"], single["bank"], atol=1e-5)
    assert (ddp_runs / "shared" / "checkpoint_last.pth").exists()


def test_per_sample_negatives_keep_banks_identical(ddp_runs):
    r0, r1 = _ranks(ddp_runs / "per_sample")
    assert torch.equal(r0["bank"], r1["bank"])
    assert r0["negatives"].shape == (4, r0["negatives"].shape[1]) and not torch.equal(r0["negatives"], r1["negatives"])


def test_moco_two_processes_match_one_and_keep_queues_identical_after_every_step(ddp_runs, embedded_cache, tmp_path):
    ddp_worker.main(embedded_cache, str(tmp_path / "single"), *MOCO)
    r0, r1 = _ranks(ddp_runs / "moco")
    single = torch.load(tmp_path / "single" / "rank0_of1.pt")
    assert len(r0["queues"]) == 8  # 64 images / 16 = 4 steps x 2 epochs
    assert torch.equal(r0["queues"], r1["queues"])
    torch.testing.assert_close(r0["queues"], single["queues"], atol=1e-5, rtol=0)
    for k in r0["model"]:
        assert torch.equal(r0["model"][k], r1["model"][k]), k
        torch.testing.assert_close(r0["model"][k], single["model"][k], atol=1e-5, rtol=0)
    for k in r0["key_encoder"]:
        assert torch.equal(r0["key_encoder"][k], r1["key_encoder"][k]), k


def test_moco_shuffle_bn_across_ranks_keeps_queues_identical(ddp_runs):
    """A ResNet with batch norm, keys shuffled over 2 processes x 2 groups: the queue is the same on every rank
    after every step, though each rank's BN statistics are its own."""
    r0, r1 = _ranks(ddp_runs / "moco_bn")
    assert torch.equal(r0["queues"], r1["queues"])
    assert not torch.equal(r0["queues"][0], r0["queues"][1])  # the queue moves
    params = [k for k in r0["key_encoder"] if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    for k in params:
        assert torch.equal(r0["key_encoder"][k], r1["key_encoder"][k]), k
