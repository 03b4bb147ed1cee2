"""Shared fixtures: the real data folder, a tiny embedded set and a tiny config."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
import torch
from fvcore.common.config import CfgNode
from threadpoolctl import threadpool_limits

from pretrain.config import get_cfg, load_config
from pretrain.engine import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("DILO_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))
TOOLS = os.path.join(REPO, "tools")
# The modules that hold the suite's longest items (the demo's end-to-end run; the probes' pretrained backbone,
# made by whichever of the two probe modules comes first), started first so that the test processes end together.
LONGEST_FIRST = (
    "tests/tools/test_pretrain_tool.py",
    "tests/tools/test_gpu_report.py",
    "tests/tools/test_linear_probe.py",
    "tests/tools/test_knn_eval.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """In each of pytest-xdist's processes (one per core), BLAS runs on one thread: a pool of one thread per core
    in every process would oversubscribe the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        threadpool_limits(1, user_api="blas")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules of ``LONGEST_FIRST`` first, in that order; pytest-xdist hands modules out in this order."""
    rank = {path: k for k, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest as collected


TINY = [
    "DATA.SOURCE", "embedded",
    "DATA.NUM_WORKERS", "0",
    "DATA.EMBEDDED.NUM_CLASSES", "4",
    "DATA.EMBEDDED.TRAIN_PER_CLASS", "16",
    "DATA.EMBEDDED.VAL_PER_CLASS", "4",
    "DATA.EMBEDDED.IMAGE_SIZE", "32",
    "DATA.EMBEDDED.NUM_BACKGROUNDS", "5",
    "INPUT.SIZE", "32",
    "INPUT.TEST_RESIZE", "32",
    "MODEL.BACKBONE.NAME", "resnet18",
    "MODEL.BACKBONE.WIDTH", "0.125",
    "MODEL.EMBED_DIM", "16",
    "INSTDISC.NUM_NEGATIVES", "32",
    "SOLVER.IMS_PER_BATCH", "16",
    "SOLVER.EPOCHS", "2",
    "SOLVER.STEPS", "(1,)",
    "TEST.KNN_PERIOD", "1",
    "TEST.KNN_K", "10",
    "LOG.PERIOD", "1",
    "CHECKPOINT.KEEP_PERIOD", "0",
]  # fmt: skip


@contextmanager
def session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A folder of this test session, shared by its processes (pytest-xdist runs one per core), held under a lock
    while the block runs: what one process makes there (an expensive fixture's files), the others reuse."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield str(folder)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_data(*parts: str) -> str:
    """A path under the real test data (DILO_SHARED_DATA), or skip the test if it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real test data {path!r} is absent (set DILO_SHARED_DATA to the shared data folder)")
    return path


def load_tool(name: str) -> ModuleType:
    """tools/<name>.py as a module, so that a test runs its ``main(parse_args(argv))`` in this process: a fresh
    interpreter per run costs more than most runs' work. Run as a script, a tool finds ``_import_path`` in its
    own folder, first on the path; here that folder is on the path while the tool is imported, and only then."""
    sys.path.insert(0, TOOLS)
    try:
        spec = importlib.util.spec_from_file_location(f"tool_{name}", os.path.join(TOOLS, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = [p for p in sys.path if p != TOOLS]
    return module


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("embedded"))


@pytest.fixture
def tiny_cfg(embedded_cache: str, tmp_path) -> CfgNode:
    """A config that trains a 1/8-width ResNet-18 on 64 images of 32 px in a second or two."""
    return tiny_config(embedded_cache, str(tmp_path / "out"))


def tiny_config(cache_dir: str, output_dir: str, *opts: str) -> CfgNode:
    return load_config("", [*TINY, "DATA.EMBEDDED.CACHE_DIR", cache_dir, "OUTPUT_DIR", output_dir, *opts])


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: tiny tensors gain nothing from threads, and on a busy 2-core machine
    their barriers cost seconds (inference measured 7x slower with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def backbone_config(name: str, **backbone: object) -> CfgNode:
    """The defaults with MODEL.BACKBONE.NAME ``name`` and other MODEL.BACKBONE keys set (e.g. WIDTH=0.5)."""
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = name
    for k, v in backbone.items():
        setattr(cfg.MODEL.BACKBONE, k, v)
    return cfg


def train(cfg: CfgNode, resume: bool = False, stop_at_step: int | None = None) -> tuple[Trainer, dict[str, Any]]:
    """Trains ``cfg`` on the CPU; with ``stop_at_step`` a SIGTERM arrives after that step, as from a
    scheduler preempting the job (the trainer saves and returns ``{"interrupted": True, ...}``)."""
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.resume_or_start(resume)
    if stop_at_step is not None:
        run_step = trainer.run_step

        def step_then_sigterm(batch: dict, step: int) -> torch.Tensor:
            loss = run_step(batch, step)
            if step == stop_at_step:
                os.kill(os.getpid(), signal.SIGTERM)
            return loss

        trainer.run_step = step_then_sigterm
    result = trainer.train()
    trainer.close()
    return trainer, result
