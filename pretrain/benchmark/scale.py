"""Scale rehearsal: every stage whose cost grows with the data, run at ImageNet's sizes or at known
fractions of them, with peak memory and time measured and fitted linearly in N, then extrapolated.

Stages (each calls dilo's own code, not a model of it):

- ``listing``: :func:`find_images` over an ImageNet-shaped tree (1,000 class folders) of tiny files;
- ``mask_check``: :class:`MaskFolder` over the mirrored mask tree (what building the dataset checks);
- ``memory_bank``: a :class:`MemoryBank` of N rows and training steps of :class:`InstanceDiscrimination`
  (per-sample negatives, one GPU's batch of the default 256), N up to ImageNet's 1.28M;
- ``knn_monitor``: :func:`knn_predict` of queries against N bank rows (blocked similarity), N up to 1.28M;
  time is per query and extrapolates to ImageNet's 50,000 validation images;
- ``probe_gather``: :func:`gather_outputs` of synthetic 2048-d features (a ResNet-50's) stored as float16,
  then the all-gather path (:func:`gather_rows`) that ranks take;
- ``saliency_shards``: :func:`compute_masks` (RBD on 1 px images, so the bookkeeping dominates) for one
  shard of 8, then the resumed rerun that skips every mask on disk.

Peak memory is the process's resident-set high-water mark above the stage's start (Linux ``VmHWM``,
reset through ``/proc/self/clear_refs``, after freed heap memory is returned with ``malloc_trim``), so
it counts what the stage touches, in any allocator; on a GPU the device peak comes from
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import ctypes
import io
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image

from pretrain.data.labeled import find_images
from pretrain.data.masks import MaskFolder
from pretrain.engine.features import gather_outputs, gather_rows
from pretrain.instdisc import InstanceDiscrimination, MemoryBank, knn_predict
from pretrain.saliency.batch import compute_masks
from pretrain.utils.image_io import mask_paths

IMAGENET_TRAIN = 1_281_167
IMAGENET_VAL = 50_000
IMAGENET_CLASSES = 1000
EMBED_DIM = 128  # MODEL.EMBED_DIM
NEGATIVES = 4096  # INSTDISC.NUM_NEGATIVES
BATCH = 256  # SOLVER.IMS_PER_BATCH / TEST.IMS_PER_BATCH: the whole batch on one GPU, the worst case
FEATURE_DIM = 2048  # a ResNet-50's pooled features
KNN_QUERIES = 128  # queries timed per bank size; the time per query extrapolates to 50,000
SALIENCY_SHARDS = 8
WARMUP = 2000  # rows or files of each stage's unmeasured first run


@dataclass
class Measurement:
    stage: str
    n: int  # rows, files or queries the stage handled
    seconds: float
    host_peak_bytes: int  # resident high-water mark above the stage's start
    device_peak_bytes: int | None  # torch.cuda.max_memory_allocated, None on the CPU


@dataclass
class Extrapolation:
    stage: str
    unit: str  # what N counts
    target_n: int  # ImageNet's N for the stage
    seconds_per_n: float
    seconds: float
    bytes_per_n: float
    host_peak_bytes: float
    device_peak_bytes: float | None


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}: the rehearsal measures memory on Linux only")
    return int(match.group(1))


def _release_free_memory() -> None:
    """Hand freed heap memory back to the OS, so the next stage's peak is not hidden in reused pages."""
    with suppress(OSError, AttributeError):  # not glibc: peaks may then read low after a larger stage
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextmanager
def measured(stage: str, n: int, device: torch.device, out: list[Measurement]) -> Iterator[None]:
    """Time the block and take its peak memory (host and device) above its start; append to ``out``."""
    _release_free_memory()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    start_kb = _status_kb("VmRSS")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    yield
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    host = (_status_kb("VmHWM") - start_kb) * 1024
    dev = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    out.append(Measurement(stage, n, seconds, host, dev))


def _tiny(fmt: str, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (1, 1), 128).save(buf, fmt)
    return buf.getvalue()


def make_tree(root: str, n: int, classes: int = IMAGENET_CLASSES) -> tuple[str, str]:
    """``root/train/<class>/<image>.JPEG`` (n 1 px JPEGs over ``classes`` folders) and its mask tree."""
    images, masks = os.path.join(root, "train"), os.path.join(root, "masks", "train")
    jpeg, png = _tiny("JPEG", "RGB"), _tiny("PNG", "L")
    rels = []
    for c in range(classes):
        wnid = f"n{c:08d}"
        os.makedirs(os.path.join(images, wnid), exist_ok=True)
        os.makedirs(os.path.join(masks, wnid), exist_ok=True)
        rels += [os.path.join(wnid, f"{wnid}_{i}.JPEG") for i in range(c, n, classes)]
    for rel, mask in zip(rels, mask_paths(masks, rels), strict=True):
        with open(os.path.join(images, rel), "wb") as f:
            f.write(jpeg)
        with open(mask, "wb") as f:
            f.write(png)
    return images, masks


def tree_stages(
    root: str, sizes: Sequence[int], device: torch.device, classes: int = IMAGENET_CLASSES
) -> list[Measurement]:
    """listing, mask_check and saliency_shards on trees of ``sizes`` files under ``root`` (removed after)."""
    out: list[Measurement] = []
    for n in sizes:
        folder = os.path.join(root, f"tree_{n}")
        images, masks = make_tree(folder, n, classes)
        with measured("listing", n, device, out):
            paths, _, _ = find_images(images)
        with measured("mask_check", n, device, out):
            MaskFolder(masks, paths)
        written = os.path.join(folder, "masks_rbd")
        with measured("saliency_shards", n, device, out):
            compute_masks(images, written, "rbd", num_shards=SALIENCY_SHARDS, shard_id=3, progress=False)
        with measured("saliency_resume", n, device, out):
            summary = compute_masks(images, written, "rbd", num_shards=SALIENCY_SHARDS, shard_id=3, progress=False)
        if summary.written:
            raise RuntimeError(f"the resumed saliency pass wrote {summary.written} masks, expected none")
        shutil.rmtree(folder)
    return out


def bank_stage(sizes: Sequence[int], device: torch.device, steps: int = 3) -> list[Measurement]:
    """A bank of N rows and ``steps`` loss + update steps with per-sample negatives (one GPU's batch)."""
    out: list[Measurement] = []
    g = torch.Generator(device).manual_seed(0)
    for n in sizes:
        with measured("memory_bank", n, device, out):
            criterion = InstanceDiscrimination(MemoryBank(n, EMBED_DIM, device=device), NEGATIVES).to(device)
            for step in range(steps):
                feats = torch.nn.functional.normalize(torch.randn(BATCH, EMBED_DIM, device=device, generator=g), dim=1)
                criterion(feats, torch.randint(n, (BATCH,), device=device, generator=g), step)
        del criterion
    return out


def knn_stage(sizes: Sequence[int], device: torch.device, queries: int = KNN_QUERIES) -> list[Measurement]:
    """``queries`` val embeddings (on the CPU, as extracted) against N bank rows on ``device``."""
    out: list[Measurement] = []
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(queries, EMBED_DIM, generator=g), dim=1)
    for n in sizes:
        keys = torch.nn.functional.normalize(torch.randn(n, EMBED_DIM, generator=g), dim=1).to(device)
        labels = torch.randint(IMAGENET_CLASSES, (n,), generator=g).to(device)
        with measured("knn_monitor", n, device, out):
            knn_predict(q, keys, labels, IMAGENET_CLASSES, k=200)
        del keys, labels
    return out


def _synthetic_batches(n: int, batch: int) -> Iterator[dict[str, torch.Tensor]]:
    """What a loader yields, with a 1-value "image" per row: the forward below makes its features."""
    for start in range(0, n, batch):
        index = torch.arange(start, min(n, start + batch))
        yield {"image": index.float()[:, None], "index": index, "label": index % IMAGENET_CLASSES}


def _features(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"features": x.expand(-1, FEATURE_DIM) * 1e-3}


def probe_stage(sizes: Sequence[int], device: torch.device) -> list[Measurement]:
    """Extraction into float16 CPU rows, then the ranks' all-gather path, for N synthetic 2048-d rows."""
    out: list[Measurement] = []
    for n in sizes:
        with measured("probe_gather", n, device, out):
            rows = gather_outputs(_features, list(_synthetic_batches(n, BATCH)), n, device, "", torch.float16)
            gathered = gather_rows(rows, torch.arange(n), n, device)
        if not torch.equal(gathered["labels"], torch.arange(n) % IMAGENET_CLASSES):
            raise RuntimeError("the gathered probe rows are out of order")
        del rows, gathered
    return out


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


TARGETS = {  # stage -> (what N counts, ImageNet's N)
    "listing": ("image files", IMAGENET_TRAIN),
    "mask_check": ("image files", IMAGENET_TRAIN),
    "saliency_shards": ("image files (one shard of 8 processed)", IMAGENET_TRAIN),
    "saliency_resume": ("image files (one shard of 8 checked)", IMAGENET_TRAIN),
    "memory_bank": ("bank rows", IMAGENET_TRAIN),
    "knn_monitor": ("bank rows", IMAGENET_TRAIN),
    "probe_gather": ("feature rows", IMAGENET_TRAIN),
}


def extrapolate(measurements: Sequence[Measurement], knn_queries: int = KNN_QUERIES) -> list[Extrapolation]:
    """Each stage's time and peaks fitted linearly in N and evaluated at ImageNet's N.

    The kNN monitor's time is also scaled from its ``knn_queries`` timed queries to 50,000 (time is
    linear in queries; memory is not: one block of queries at a time).
    """
    result = []
    for stage, (unit, target) in TARGETS.items():
        rows = [m for m in measurements if m.stage == stage]
        if len(rows) < 2:
            continue
        ns = [m.n for m in rows]
        t_slope, t_icpt = _fit(ns, [m.seconds for m in rows])
        if t_slope <= 0:  # timing noise swamped the growth (a shared machine): take the dearest row per N
            t_slope, t_icpt = max(m.seconds / m.n for m in rows), 0.0
        m_slope, m_icpt = _fit(ns, [m.host_peak_bytes for m in rows])
        seconds = t_slope * target + t_icpt
        if stage == "knn_monitor":
            seconds *= IMAGENET_VAL / knn_queries
        device = None
        if all(m.device_peak_bytes is not None for m in rows):
            d_slope, d_icpt = _fit(ns, [m.device_peak_bytes for m in rows])
            device = d_slope * target + d_icpt
        result.append(Extrapolation(stage, unit, target, t_slope, seconds, m_slope, m_slope * target + m_icpt, device))
    return result


def run_rehearsal(
    root: str, fraction_steps: Sequence[float], bank_steps: Sequence[float], device: torch.device
) -> tuple[list[Measurement], list[Extrapolation]]:
    """Every stage: file trees and probe rows at ``fraction_steps`` of ImageNet train, bank and kNN at
    ``bank_steps`` of it (1.0 is the full 1.28M rows)."""
    files = [round(f * IMAGENET_TRAIN) for f in fraction_steps]
    rows = [round(f * IMAGENET_TRAIN) for f in bank_steps]
    stages: list[tuple[Callable[[Sequence[int]], list[Measurement]], list[int]]] = [
        (lambda sizes: tree_stages(root, sizes, device), files),
        (lambda sizes: bank_stage(sizes, device), rows),
        (lambda sizes: knn_stage(sizes, device), rows),
        (lambda sizes: probe_stage(sizes, device), files),
    ]
    measurements = []
    for stage, sizes in stages:
        stage([WARMUP])  # first calls load libraries and grow pools: kept out of the fit
        measurements += stage(sizes)
    return measurements, extrapolate(measurements)


def _gb(value: float | None, scale: float = 1e9) -> str:
    return "-" if value is None else f"{value / scale:.2f}"


def format_tables(measurements: Sequence[Measurement], extrapolations: Sequence[Extrapolation]) -> str:
    """Markdown: the measurements, then the fit and the extrapolation to ImageNet."""
    lines = ["| stage | N | seconds | host peak MB | device peak MB |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {m.stage} | {m.n:,} | {m.seconds:.3f} | {_gb(m.host_peak_bytes, 1e6)} | {_gb(m.device_peak_bytes, 1e6)} |"
        for m in measurements
    ]
    lines += [
        "",
        "| stage | N counts | ImageNet N | s per 1k N | bytes per N | seconds at ImageNet | host peak GB | device GB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {e.stage} | {e.unit} | {e.target_n:,} | {e.seconds_per_n * 1e3:.4f} | {e.bytes_per_n:,.0f} "
        f"| {e.seconds:,.1f} | {_gb(e.host_peak_bytes)} | {_gb(e.device_peak_bytes)} |"
        for e in extrapolations
    ]
    return "\n".join(lines)


def as_json(measurements: Sequence[Measurement], extrapolations: Sequence[Extrapolation]) -> dict:
    return {"measurements": [asdict(m) for m in measurements], "extrapolations": [asdict(e) for e in extrapolations]}
