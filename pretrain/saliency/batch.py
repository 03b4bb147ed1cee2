"""Image folder -> mask folder: one 8-bit PNG per image, same relative path and size (or, with
``max_size``, that size scaled down to a bound on the longer side: a smaller file that the
training workers decode faster; it stays the image's mask, scaled, see :mod:`pretrain.data.masks`).

Built for ImageNet-sized jobs: work is split over processes (``workers``) and machines
(``num_shards`` / ``shard_id``, every shard-th file); a mask already on disk is skipped, so
a killed job resumes where it stopped; masks are written atomically (a temporary file, then
a rename), so a mask on disk is always whole; an unreadable image, or one over PIL's pixel limit
(``PIL.Image.MAX_IMAGE_PIXELS``, read from the file's header before anything is decoded), is
reported, skipped and counted instead of stopping the job; worker processes die with the job
(:func:`pretrain.utils.processes.worker_pool`: kill -9, SIGTERM and Ctrl-C included, pending work
cancelled), so an immediate rerun never races with them. Networks with a ``predict_batch`` method
(BASNet) run batched in the main process, on the GPU when there is one.

A mask folder records what made it (``provenance.json``, :mod:`pretrain.utils.provenance`, kind
``"saliency masks"``): the method, every parameter of it (``parameters.*``, from its ``parameters()``;
``--small-images`` shows there) and ``max_size``. A job claims the folder before writing a mask: a
folder recorded with other settings, or holding masks without a record, is refused, so a rerun never
mixes two methods' masks. Shards writing one folder claim the same record.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import cv2
import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from pretrain.utils import provenance
from pretrain.utils.atomic import atomic_open, remove_stale_temporaries
from pretrain.utils.image_io import (
    BadImageError,
    bounded_size,
    list_images,
    load_rgb,
    mask_paths,
)
from pretrain.utils.processes import call_each, chunks, map_unordered, worker_pool

from .registry import SaliencyMethod, build_saliency

KIND = "saliency masks"
CHUNK = 8  # images per task sent to a worker
WINDOW = 4  # tasks in flight per worker
SHOWN = 20  # paths named per kind of problem


class OversizedImageError(BadImageError):
    """An image with more pixels than the job's limit (``PIL.Image.MAX_IMAGE_PIXELS``)."""


@dataclass
class MaskJobSummary:
    """What a run did: masks written, already present, images that could not be read, and images over the
    pixel limit (``pixel_limit``: ``PIL.Image.MAX_IMAGE_PIXELS`` when the job ran, None for no limit)."""

    written: int = 0
    skipped: int = 0
    bad: list[str] = field(default_factory=list)
    oversized: list[str] = field(default_factory=list)
    pixel_limit: int | None = None
    seconds: float = 0.0

    def count(self, outcome: str, path: str) -> None:
        """Count one image's ``outcome`` (what :func:`_one` returns): "written", "bad" or "oversized"."""
        if outcome == "written":
            self.written += 1
        else:
            {"bad": self.bad, "oversized": self.oversized}[outcome].append(path)

    def __str__(self) -> str:
        lines = [
            f"{self.written} masks written, {self.skipped} already present, {len(self.bad)} unreadable images, "
            f"{len(self.oversized)} images over the pixel limit"
        ]
        lines += _listed("unreadable", self.bad)
        if self.oversized:
            lines.append(f"  skipped: more than {self.pixel_limit} pixels (PIL.Image.MAX_IMAGE_PIXELS):")
            lines += _listed("over the limit", self.oversized)
        rate = self.written / self.seconds if self.seconds else 0.0
        lines.append(f"{self.seconds:.1f} s ({rate:.1f} masks/s)")
        return "\n".join(lines)


def _listed(what: str, paths: list[str]) -> list[str]:
    lines = [f"  {what}: {path}" for path in paths[:SHOWN]]
    return lines + ([f"  ... and {len(paths) - SHOWN} more"] if len(paths) > SHOWN else [])


# Bounded masks are read by every pasted sample that has no mask pack: stored uncompressed and unfiltered, a
# decoder only copies their rows (RBD's soft maps barely compress: 128 px, 12 KB, about half a compressed 500 px
# mask). Full-size masks are read once per pasted sample at most: compressed.
RAW_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
COMPRESSED_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 3]


def write_mask(saliency: np.ndarray, path: str, max_size: int = 0) -> None:
    """Save a [0, 1] map as an 8-bit PNG, atomically; with ``max_size``, its longer side at most that
    (area-averaged, :func:`bounded_size`), uncompressed and unfiltered."""
    mask = np.round(np.clip(saliency, 0, 1) * 255).astype(np.uint8)
    size = bounded_size((mask.shape[1], mask.shape[0]), max_size)
    if size != (mask.shape[1], mask.shape[0]):
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".png", mask, RAW_PNG if max_size else COMPRESSED_PNG)
    if not ok:
        raise OSError(f"could not encode a PNG for {path!r}")
    with atomic_open(path) as f:
        f.write(encoded.tobytes())


def read_image(path: str, pixel_limit: int | None) -> np.ndarray:
    """The RGB image at ``path``, unless its header gives it more than ``pixel_limit`` pixels
    (:class:`OversizedImageError`, before anything is decoded) or it cannot be read (:class:`BadImageError`)."""
    try:
        with warnings.catch_warnings():  # PIL warns above its limit; the check below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                w, h = img.size
    except Image.DecompressionBombError as e:  # PIL's own refusal, at twice its limit
        raise OversizedImageError(f"image {path!r} is too large: {e}") from e
    except (OSError, ValueError) as e:
        raise BadImageError(f"cannot read image {path!r}: {e}") from e
    if pixel_limit and w * h > pixel_limit:
        raise OversizedImageError(f"image {path!r} has {w} x {h} pixels, more than the limit of {pixel_limit}")
    return np.asarray(load_rgb(path))


_method: SaliencyMethod | None = None
_max_size = 0
_pixel_limit: int | None = None


def _init_worker(name: str, kwargs: dict[str, Any], max_size: int, pixel_limit: int | None) -> None:
    global _method, _max_size, _pixel_limit
    cv2.setNumThreads(1)  # one core per worker process
    _method, _max_size, _pixel_limit = build_saliency(name, **kwargs), max_size, pixel_limit


def _one(task: tuple[str, str]) -> tuple[str, str]:
    """Compute and write one mask; returns (outcome, image path), outcome "written", "bad" or "oversized"."""
    src, dst = task
    try:
        image = read_image(src, _pixel_limit)
    except OversizedImageError:
        return "oversized", src
    except BadImageError:
        return "bad", src
    assert _method is not None
    write_mask(_method(image), dst, _max_size)
    return "written", src


def mask_record(method: str, instance: SaliencyMethod, kwargs: dict[str, Any], max_size: int) -> provenance.Record:
    """The record of a mask folder (see the module docstring): the method's ``parameters()``, or for a method
    without them the options it was built with."""
    params = instance.parameters() if hasattr(instance, "parameters") else kwargs
    params = json.loads(json.dumps(params, sort_keys=True, default=repr))
    fields = {"method": method.lower(), "max_size": max_size, **{f"parameters.{k}": v for k, v in params.items()}}
    return provenance.Record.of(KIND, fields)


def claim_mask_folder(output_dir: str, record: provenance.Record) -> None:
    """Record ``record`` in ``output_dir``, or raise :class:`ProvenanceError` if its masks were made otherwise."""
    remedy = f"write them to another output folder (--output), or delete {output_dir} to recompute them"
    if provenance.read(output_dir) is None and _holds_masks(output_dir):
        raise provenance.ProvenanceError(
            f"{output_dir} holds masks but no record of what made them (an older dilo's, or another tool's), "
            f"so dilo cannot tell how they were made: {remedy}"
        )
    provenance.claim(output_dir, record, remedy)


def _holds_masks(folder: str) -> bool:
    """Whether any PNG lies below ``folder`` (the walk stops at the first)."""
    return any(name.lower().endswith(".png") for _, _, names in os.walk(folder) for name in names)


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
    """Write the masks of this shard that are not on disk yet; see the module docstring.

    Raises :class:`~pretrain.utils.provenance.ProvenanceError` (before writing anything) if ``output_dir``
    holds masks of another method, other parameters or another ``max_size``, or masks without a record.
    """
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id must be in [0, {num_shards}), got {shard_id}")
    if max_size < 0:
        raise ValueError(f"--mask-size must be 0 (the image's size) or a positive bound, got {max_size}")
    kwargs = method_kwargs or {}
    start = time.perf_counter()
    relpaths = list_images(input_dir)
    masks = mask_paths(output_dir, relpaths)  # the whole listing's rule, then this shard's part
    tasks = [(os.path.join(input_dir, rel), dst) for rel, dst in zip(relpaths, masks, strict=True)]
    tasks = tasks[shard_id::num_shards]
    probe = build_saliency(method, **kwargs)
    claim_mask_folder(output_dir, mask_record(method, probe, kwargs, max_size))
    remove_stale_temporaries(output_dir)
    todo = [t for t in tasks if not os.path.exists(t[1])]
    limit = Image.MAX_IMAGE_PIXELS
    summary = MaskJobSummary(skipped=len(tasks) - len(todo), pixel_limit=limit)
    with tqdm(total=len(todo), desc=f"{method} masks", disable=not progress, unit="img") as bar:
        if hasattr(probe, "predict_batch"):  # a network: batched, in this process
            for batch in chunks(todo, getattr(probe, "batch_size", 8)):
                images, outputs = [], []
                for src, dst in batch:
                    try:
                        images.append(read_image(src, limit))
                        outputs.append(dst)
                    except OversizedImageError:
                        summary.oversized.append(src)
                    except BadImageError:
                        summary.bad.append(src)
                for saliency, dst in zip(probe.predict_batch(images), outputs, strict=True):
                    write_mask(saliency, dst, max_size)
                summary.written += len(outputs)
                bar.update(len(batch))
        else:
            init = (method, kwargs, max_size, limit)
            workers = min(workers, len(todo))
            if workers > 1:
                with worker_pool(workers, _init_worker, init) as pool:
                    for results in map_unordered(pool, partial(call_each, _one), chunks(todo, CHUNK), WINDOW * workers):
                        for outcome, src in results:
                            summary.count(outcome, src)
                        bar.update(len(results))
            else:
                _init_worker(*init)
                with threadpool_limits(1):  # one core's work, as a pool worker's (pretrain.utils.processes)
                    for outcome, src in map(_one, todo):
                        summary.count(outcome, src)
                        bar.update()
    summary.bad.sort()
    summary.oversized.sort()
    summary.seconds = time.perf_counter() - start
    return summary
