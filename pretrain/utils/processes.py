"""Worker processes that stop when their parent stops: kill -9, SIGTERM and Ctrl-C alike.

Left to themselves, spawned workers outlive their parent: killed with -9 (or SIGTERM, whose default
ends the parent at once) it leaves them training or writing, racing the rerun; on Ctrl-C,
``concurrent.futures`` and ``multiprocessing`` wait for the pending work, or start it. Here every
worker asks the kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``) and ignores
Ctrl-C, which the parent handles: when the block using :func:`worker_pool` ends by an exception,
Ctrl-C's KeyboardInterrupt included, pending work is cancelled and the workers are killed before the
exception goes on.

A worker is one core's worth of work: its BLAS and OpenMP pools are cut to one thread (those
already loaded by ``threadpoolctl``, those loaded later by their environment variables), since N
workers each spinning a pool of N threads on N cores run slower than one process alone.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # read by the pools as they load
T = TypeVar("T")
R = TypeVar("R")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux); exit now if it already has.

    On other systems the parent's normal end (or Ctrl-C, see :func:`worker_pool`) still stops it.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)


def start_worker(parent: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> None:
    """A pool worker's first call: die with ``parent``, leave Ctrl-C to it, the platform's default start method
    for the processes it starts (forked DataLoader workers on Linux, as in a run of its own), one thread per
    native pool (see the module docstring), then ``initializer(*initargs)``."""
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    multiprocessing.set_start_method(None, force=True)  # a spawned process would spawn its DataLoader workers too
    os.environ.update(dict.fromkeys(ONE_THREAD, "1"))
    threadpool_limits(1)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """``workers`` spawned processes (see the module docstring), each started by ``initializer(*initargs)``.

    The block's normal end waits for the work submitted; an exception from it (Ctrl-C, a failed task
    re-raised) cancels what has not started and kills the workers (SIGKILL: a task gets no chance to
    start another) before it propagates. The workers are the children this process started while the
    block ran, so the block starts no other processes.
    """
    before = {p.pid for p in multiprocessing.active_children()}
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, multiprocessing.get_context("spawn"), start_worker, (os.getpid(), initializer, initargs)
    )
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            if child.pid not in before:
                child.kill()
                child.join()
        raise
    pool.shutdown()


def map_unordered(
    pool: concurrent.futures.Executor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``fn(item)`` of every item, as results arrive, at most ``window`` tasks submitted at a time.

    Unlike ``Executor.map``, which submits every item at once (a million futures for ImageNet), the
    items are read as the window frees up.
    """
    pending: set[concurrent.futures.Future[R]] = set()
    for item in items:
        if len(pending) >= window:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            yield from (future.result() for future in done)
        pending.add(pool.submit(fn, item))
    yield from (future.result() for future in concurrent.futures.as_completed(pending))


def chunks(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in consecutive lists of ``size`` (the last one shorter)."""
    return (items[i : i + size] for i in range(0, len(items), size))


def call_each(fn: Callable[[T], Any], chunk: list[T]) -> list[Any]:
    """``[fn(item) for item in chunk]``: one task per chunk costs a worker one message instead of many."""
    return [fn(item) for item in chunk]
