"""tools/reproduce.py --jobs 2 stops with its process: Ctrl-C ends its runs and starts none of the pending ones (it
used to finish the current runs, then start and finish the rest). That its runs die with it on kill -9 is the pool's
own test (tests/utils/test_processes.py): reproduce's pool is pretrain.utils.processes.worker_pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO, TINY
from tests.reliability.test_kills import _alive, _children


def _start(tmp_path, embedded_cache) -> tuple[subprocess.Popen, list[str]]:
    """Four long runs (two settings, two seeds) two at a time; returns the tool and its first two runs' folders
    once both are training."""
    out = tmp_path / "rep"
    cmd = [sys.executable, os.path.join(REPO, "tools", "reproduce.py"), "--output", str(out), "--device", "cpu",
           "--settings", "baseline,true", "--seeds", "0,1", "--jobs", "2", *TINY, "SOLVER.EPOCHS", "500",
           "DATA.EMBEDDED.CACHE_DIR", embedded_cache]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = [str(out / setting / "seed0") for setting in ("baseline", "true")]
    deadline = time.time() + 180
    while not all(os.path.isfile(os.path.join(run, "metrics.jsonl")) for run in first):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError(f"the runs did not start (exit status {proc.poll()})")
        time.sleep(0.2)
    return proc, first


def _quiet(runs: list[str]) -> bool:
    """Whether nothing in the runs' folders changes for a second (nobody writes any more)."""

    def stamps() -> list[tuple[str, int]]:
        return sorted((e.path, e.stat().st_mtime_ns) for run in runs for e in os.scandir(run))

    before = stamps()
    time.sleep(1)
    return stamps() == before


def _ended(pids: list[int], seconds: float = 5) -> bool:
    """Whether every process of ``pids`` is gone within ``seconds`` (the kernel's kill is not instant)."""
    deadline = time.time() + seconds
    while any(map(_alive, pids)) and time.time() < deadline:
        time.sleep(0.05)
    return not any(map(_alive, pids))


def test_ctrl_c_ends_the_runs_and_starts_no_pending_one(tmp_path, embedded_cache):
    proc, runs = _start(tmp_path, embedded_cache)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) != 0
    assert _ended(workers) and _quiet(runs)
    assert not (tmp_path / "rep" / "baseline" / "seed1").exists() and not (tmp_path / "rep" / "true" / "seed1").exists()
