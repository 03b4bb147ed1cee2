"""Image folder -> mask folder: one 8-bit PNG per image, same relative path and size (or, with
``max_size``, that size scaled down to a bound on the longer side: a smaller file that the
training workers decode faster; it stays the image's mask, scaled, see :mod:`pretrain.data.masks`).

Built for ImageNet-sized jobs: work is split over processes (``workers``) and machines
(``num_shards`` / ``shard_id``, every shard-th file); a mask already on disk is skipped, so
a killed job resumes where it stopped; masks are written atomically (a temporary file, then
a rename), so a mask on disk is always whole; an unreadable image is reported, skipped and
counted instead of stopping the job; worker processes die with the job (kill -9 included), so an
immediate rerun never races with them. Networks with a ``predict_batch`` method (BASNet) run
batched in the main process, on the GPU when there is one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from pretrain.utils.atomic import atomic_open, remove_stale_temporaries
from pretrain.utils.image_io import (
    BadImageError,
    bounded_size,
    encode_raw_gray_png,
    list_images,
    load_rgb,
    mask_path,
)

from .registry import SaliencyMethod, build_saliency


@dataclass
class MaskJobSummary:
    """What a run did: masks written, already present, and images that could not be read."""

    written: int = 0
    skipped: int = 0
    bad: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"{self.written} masks written, {self.skipped} already present, {len(self.bad)} unreadable images"]
        lines += [f"  unreadable: {path}" for path in self.bad[:20]]
        if len(self.bad) > 20:
            lines.append(f"  ... and {len(self.bad) - 20} more")
        rate = self.written / self.seconds if self.seconds else 0.0
        lines.append(f"{self.seconds:.1f} s ({rate:.1f} masks/s)")
        return "\n".join(lines)


def write_mask(saliency: np.ndarray, path: str, max_size: int = 0) -> None:
    """Save a [0, 1] map as an 8-bit PNG, atomically; with ``max_size``, its longer side at most that
    (area-averaged, :func:`bounded_size`), uncompressed and unfiltered (:func:`encode_raw_gray_png`)."""
    mask = np.round(np.clip(saliency, 0, 1) * 255).astype(np.uint8)
    size = bounded_size((mask.shape[1], mask.shape[0]), max_size)
    if size != (mask.shape[1], mask.shape[0]):
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    # Bounded masks are read by every pasted sample: stored uncompressed and unfiltered they are read without
    # a PNG decoder (128 px: 12 KB, about half a 500 x 375 mask compressed; RBD's soft maps barely compress).
    if max_size:
        data = encode_raw_gray_png(mask)
    else:
        ok, encoded = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise OSError(f"could not encode a PNG for {path!r}")
        data = encoded.tobytes()
    with atomic_open(path) as f:
        f.write(data)


_method: SaliencyMethod | None = None
_max_size = 0


def _init_worker(name: str, kwargs: dict[str, Any], max_size: int = 0, parent: int | None = None) -> None:
    global _method, _max_size
    if parent is not None:
        _die_with(parent)
    cv2.setNumThreads(1)  # one core per worker process
    _method, _max_size = build_saliency(name, **kwargs), max_size


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """Have the kernel kill this worker when ``parent`` dies (Linux); exit now if it already has.

    A pool's workers otherwise outlive a killed job and keep writing masks for seconds. On
    other systems the job's normal end (or Ctrl-C) still stops them.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the line above took effect
        os._exit(1)


def _one(task: tuple[str, str]) -> str | None:
    """Compute and write one mask; returns the image path if it could not be read."""
    src, dst = task
    try:
        image = np.asarray(load_rgb(src))
    except BadImageError:
        return src
    assert _method is not None
    write_mask(_method(image), dst, _max_size)
    return None


def _batches(tasks: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for i in range(0, len(tasks), size):
        yield tasks[i : i + size]


def compute_masks(
    input_dir: str,
    output_dir: str,
    method: str = "rbd",
    method_kwargs: dict[str, Any] | None = None,
    workers: int = 1,
    num_shards: int = 1,
    shard_id: int = 0,
    progress: bool = True,
    max_size: int = 0,
) -> MaskJobSummary:
    """Write the masks of this shard that are not on disk yet; see the module docstring."""
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id must be in [0, {num_shards}), got {shard_id}")
    if max_size < 0:
        raise ValueError(f"--mask-size must be 0 (the image's size) or a positive bound, got {max_size}")
    kwargs = method_kwargs or {}
    start = time.perf_counter()
    if os.path.isdir(output_dir):
        remove_stale_temporaries(output_dir)
    shard = list_images(input_dir)[shard_id::num_shards]
    tasks = [(os.path.join(input_dir, rel), mask_path(output_dir, rel)) for rel in shard]
    todo = [t for t in tasks if not os.path.exists(t[1])]
    summary = MaskJobSummary(skipped=len(tasks) - len(todo))
    bar = tqdm(total=len(todo), desc=f"{method} masks", disable=not progress, unit="img")
    probe = build_saliency(method, **kwargs)
    if hasattr(probe, "predict_batch"):  # a network: batched, in this process
        for batch in _batches(todo, getattr(probe, "batch_size", 8)):
            images, outputs = [], []
            for src, dst in batch:
                try:
                    images.append(np.asarray(load_rgb(src)))
                    outputs.append(dst)
                except BadImageError:
                    summary.bad.append(src)
            for saliency, dst in zip(probe.predict_batch(images), outputs, strict=True):
                write_mask(saliency, dst, max_size)
            summary.written += len(outputs)
            bar.update(len(batch))
    else:
        workers = min(workers, len(todo))
        init = (method, kwargs, max_size, os.getpid())
        pool = get_context("spawn").Pool(workers, _init_worker, init) if workers > 1 else None
        if pool is None:
            _init_worker(method, kwargs, max_size)
        try:
            for bad in pool.imap_unordered(_one, todo, chunksize=8) if pool else map(_one, todo):
                if bad is None:
                    summary.written += 1
                else:
                    summary.bad.append(bad)
                bar.update()
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    bar.close()
    summary.bad.sort()
    summary.seconds = time.perf_counter() - start
    return summary
