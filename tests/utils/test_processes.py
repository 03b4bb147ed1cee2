"""Worker pools that stop with their parent: an exception (Ctrl-C) cancels pending work and ends the workers at
once, kill -9 of the parent ends them, and results come as they arrive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pretrain.utils.processes import call_each, chunks, map_unordered, worker_pool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # no tests.conftest: workers
# import this module, and conftest's torch would cost each of them seconds


def _start_then_sleep(marker: str) -> None:
    """Write ``marker`` (this worker's pid), then work for a long time."""
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)


def _square(x: int) -> int:
    return x * x


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(paths: list, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not all(os.path.exists(p) for p in paths):
        assert time.time() < deadline, f"waited {timeout} s for {paths}"
        time.sleep(0.05)


def test_an_exception_in_the_block_cancels_pending_work_and_kills_the_workers(tmp_path):
    """Ctrl-C in the parent: the two running tasks end at once, the four pending ones never start."""
    markers = [str(tmp_path / f"task{i}") for i in range(6)]
    start = time.time()
    with pytest.raises(KeyboardInterrupt), worker_pool(2) as pool:
        for marker in markers:
            pool.submit(_start_then_sleep, marker)
        _wait_for(markers[:2])
        raise KeyboardInterrupt
    assert time.time() - start < 30
    pids = [int(open(m).read()) for m in markers[:2] if os.path.exists(m)]  # noqa: SIM115
    assert len(pids) == 2 and not any(map(_alive, pids))
    time.sleep(0.5)
    assert sum(os.path.exists(m) for m in markers) == 2


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        from pretrain.utils.processes import worker_pool
        from tests.utils.test_processes import _start_then_sleep
        if __name__ == "__main__":
            with worker_pool(2) as pool:
                for i in range(2):
                    pool.submit(_start_then_sleep, {str(tmp_path)!r} + f"/task{{i}}")
                time.sleep(60)
    """)
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], cwd=REPO)
    try:
        _wait_for([tmp_path / "task0", tmp_path / "task1"])
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    pids = [int((tmp_path / f"task{i}").read_text()) for i in range(2)]
    deadline = time.time() + 5
    while any(map(_alive, pids)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, pids)), "workers outlived their killed parent"


def test_map_unordered_reads_items_as_the_window_frees_up():
    items = iter(range(40))
    with worker_pool(2) as pool:
        results = []
        for chunk in map_unordered(pool, _squares, chunks(list(items), 4), window=3):
            results += chunk
    assert sorted(results) == [i * i for i in range(40)]


def _squares(chunk: list[int]) -> list[int]:
    return call_each(_square, chunk)


def _native_threads(_: int) -> int:
    import numpy  # noqa: F401  (its BLAS pool is what a saliency worker would spin)
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info())


def test_a_worker_runs_its_native_pools_on_one_thread():
    """N workers on N cores: each BLAS or OpenMP pool in a worker has one thread, not one per core."""
    with worker_pool(2) as pool:
        assert list(pool.map(_native_threads, range(2))) == [1, 1]


def _start_method(_: int) -> str:
    import multiprocessing

    return multiprocessing.get_start_method()


def test_a_worker_starts_its_own_processes_as_the_platform_does():
    """A spawned worker's DataLoader workers start as in a run of its own (forked on Linux), not spawned: a
    spawned DataLoader worker imports torch again, seconds for every loader a run makes."""
    with worker_pool(1) as pool:
        assert pool.submit(_start_method, 0).result() == ("fork" if sys.platform == "linux" else "spawn")
