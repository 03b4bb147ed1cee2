"""Training-loader throughput: augmented images per second and per core of each INPUT.BACKEND, with and
without copy-paste, measured side by side, and where the time of the fast path's worker half goes.

- :func:`timed_epoch`: one epoch of a DataLoader, wall-clock images/s and the CPU seconds of the processes
  that loaded (the DataLoader's workers, or this thread with ``--workers 0``). ``images / CPU seconds``
  is the rate per loading core: on a shared machine it counts the cycles the loaders got, not the
  ones other jobs took, so it stays comparable where wall-clock rates do not.
- :func:`stage_breakdowns`: the gpu backend's worker half on one core, stage by stage (header and plan,
  JPEG decode, crop, the mask window of a sample to paste, collate), with dilo's own stage functions.
- :func:`instance_layout`: a flat folder of photos as an ImageNet-layout folder (one class of links).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader

from pretrain.augment.copy_paste import PasteOutcome
from pretrain.config import load_config
from pretrain.data import build_train_batches, build_train_dataset
from pretrain.data.fast_path import FastInstanceFolder, FastPathLoader, WorkerBatch
from pretrain.data.reduced_decode import decode_rgb, draft_scale, open_encoded, resize_box
from pretrain.data.resident import ResidentLoader
from pretrain.data.sampler import EpochSampler
from pretrain.utils.image_io import list_images
from pretrain.utils.stats import mean_interval

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OVERHEADS = {  # rate -> the overhead computed from it
    "images_per_s": "overhead_best",
    "median_images_per_s": "overhead_median",
    "per_core_images_per_s": "overhead_per_core",
    "median_per_core_images_per_s": "overhead_median_per_core",
}
STAGES = ("header+plan", "decode", "crop", "mask window", "item", "collate")


def parse_setting(text: str) -> dict[str, str]:
    """'0.5:image:gaussian' -> COPY_PASTE overrides (background gray and blend none by default)."""
    parts = text.split(":")
    prob, background, blend = parts + ["gray", "none"][len(parts) - 1 :]
    if not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f"setting {text!r}: the probability must be in [0, 1]")
    return {"PROB": str(float(prob)), "BACKGROUND": background, "BLEND": blend}


def setting_name(setting: dict[str, str]) -> str:
    return "p 0" if float(setting["PROB"]) == 0 else "p {PROB} {BACKGROUND} {BLEND}".format(**setting)


def instance_layout(photos: str, root: str) -> str:
    """``photos`` if it is an ImageNet-layout folder (root/<class>/<image>), else ``root``, whose one class
    folder ``photos`` links to the flat folder's images (made once)."""
    if any(e.is_dir() for e in os.scandir(photos)):
        return photos
    folder = os.path.join(root, "photos")
    os.makedirs(folder, exist_ok=True)
    for name in list_images(photos):
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(photos, name)), link)
    return root


def children_cpu_seconds(skip: frozenset[int] = frozenset()) -> dict[int, float]:
    """User + system CPU seconds of each of this process's children, by pid, from /proc; ``skip`` names
    pids left out (children that were there before the loader's workers started)."""
    seconds, me = {}, os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) in skip:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == me:  # ppid; utime and stime are fields 14 and 15 of stat(5)
            seconds[int(pid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


@dataclass
class Pass:
    """One pass: wall-clock images/s after warm-up, images per CPU second of the loading processes, the
    fraction of images pasted."""

    images_per_s: float
    images_per_cpu_s: float
    pasted: float


@dataclass
class EpochTime:
    """One epoch of a loader: the images after its warm-up and their wall-clock seconds, all its images and
    the CPU seconds the loaders spent on them, and how many were pasted."""

    timed: int
    seconds: float
    images: int
    cpu_seconds: float
    pasted: int


def timed_epoch(loader: DataLoader, sampler: EpochSampler, epoch: int, warmup: int) -> EpochTime:
    """Epoch ``epoch`` of ``loader``, the same images and crops for every setting.

    Wall-clock: the batches after the first ``warmup`` (worker start-up). CPU: every batch against the CPU
    the loaders spent on it, read once the last batch is in: this thread's, or the workers' whole lives
    (timing only after warm-up would miss the batches the workers had prefetched and count images they
    made before, inflating the per-core rate).
    """
    if len(loader) <= warmup:
        raise ValueError(f"an epoch of {len(loader)} batches leaves none to time after {warmup} warm-up batches")
    in_process = loader.num_workers == 0
    sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
    cpu0 = time.thread_time() if in_process else 0.0  # forked workers start at 0
    others = frozenset(children_cpu_seconds())  # not the loader's: counting them would deflate the rate
    it, pasted = iter(loader), 0
    for k in range(len(loader)):
        if k == warmup:
            tic = time.perf_counter()
        pasted += _pasted(next(it))
    seconds = time.perf_counter() - tic
    cpu_seconds = time.thread_time() - cpu0 if in_process else sum(children_cpu_seconds(others).values())
    del it  # stops the workers
    return EpochTime(
        (len(loader) - warmup) * loader.batch_size, seconds, len(loader) * loader.batch_size, cpu_seconds, pasted
    )


def _pasted(batch: WorkerBatch | dict) -> int:
    """The samples a batch pasted (the fast path's workers: is to paste)."""
    return len(batch.rows_to_paste()) if isinstance(batch, WorkerBatch) else int(batch["pasted"].sum())


def pass_of(epochs: Sequence[EpochTime]) -> Pass:
    """A pass made of ``epochs``: their images over their seconds, wall-clock and CPU."""
    images = sum(e.images for e in epochs)
    return Pass(
        sum(e.timed for e in epochs) / sum(e.seconds for e in epochs),
        images / max(sum(e.cpu_seconds for e in epochs), 1e-9),
        sum(e.pasted for e in epochs) / images,
    )


def worker_half(loader: DataLoader | FastPathLoader | ResidentLoader) -> DataLoader | ResidentLoader:
    """What a pass times: the fast path's workers (its device half is :func:`device_rate`), any other loader whole."""
    return loader.loader if isinstance(loader, FastPathLoader) else loader


def epochs_per_pass(loader: DataLoader, warmup: int, images: int) -> int:
    """How many whole epochs a pass takes to time at least ``images`` images after each epoch's warm-up."""
    timed = (len(loader) - warmup) * loader.batch_size
    return max(1, -(-images // timed)) if timed > 0 else 1


@dataclass
class Row:
    """One (backend, setting): its passes, summarized best and median."""

    backend: str
    setting: dict[str, str]
    passes: list[Pass] = field(default_factory=list)

    def summary(self) -> dict:
        wall = [p.images_per_s for p in self.passes]
        core = [p.images_per_cpu_s for p in self.passes]
        return {
            "backend": self.backend,
            "setting": setting_name(self.setting),
            "prob": float(self.setting["PROB"]),
            "background": self.setting["BACKGROUND"],
            "blend": self.setting["BLEND"],
            "images_per_s": max(wall),
            "median_images_per_s": statistics.median(wall),
            "per_core_images_per_s": max(core),
            "median_per_core_images_per_s": statistics.median(core),
            "runs": wall,
            "per_core_runs": core,
            "pasted": [p.pasted for p in self.passes],
        }


@dataclass
class Arm:
    """One (backend, setting) of a benchmark: its config, the batches training would iterate, its row."""

    config: CfgNode
    batches: DataLoader | FastPathLoader | ResidentLoader
    row: Row

    @property
    def timed(self) -> tuple[DataLoader | ResidentLoader, EpochSampler]:
        """What a pass times (:func:`worker_half`) and the sampler that orders its epochs."""
        return worker_half(self.batches), self.batches.sampler


def build_arms(
    data: str,
    settings: Sequence[dict[str, str]],
    backends: Sequence[str],
    device: torch.device,
    opts: Sequence[object] = (),
) -> list[Arm]:
    """An :class:`Arm` per backend and setting (COPY_PASTE overrides, :func:`parse_setting`), backends outer,
    on the ImageNet-layout folder ``data``; ``opts`` are config overrides shared by all (batch, workers, masks)."""
    arms = []
    for backend in backends:
        for setting in settings:
            pasting = [x for key, value in setting.items() for x in (f"COPY_PASTE.{key}", value)]
            cfg = load_config("", [str(x) for x in ("INPUT.BACKEND", backend, *opts, *pasting)])
            batches = build_train_batches(cfg, build_train_dataset(cfg, data), device)[0]
            arms.append(Arm(cfg, batches, Row(backend, setting)))
    return arms


def train_config(cfg: CfgNode, data: str, output_dir: str) -> CfgNode:
    """``cfg`` training on ``data`` without a validation set, its run in ``output_dir`` (for :func:`train_rate`)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.TRAIN_ROOT, cfg.DATA.VAL_ROOT, cfg.OUTPUT_DIR = data, "", output_dir
    return cfg


def interleaved(
    loaders: Sequence[tuple[DataLoader, EpochSampler]], rows: Sequence[Row], repeats: int, warmup: int, epochs: int
) -> None:
    """``repeats`` passes of ``epochs`` epochs of every loader, their epochs in turn (epoch e of A, of B, of C,
    then epoch e + 1 of each): a slow spell of a shared machine, seconds long, hits every row's pass alike,
    and pass r of every row goes through the same epochs (images and crops)."""
    for r in range(repeats):
        parts: list[list[EpochTime]] = [[] for _ in rows]
        for epoch in range(r * epochs, (r + 1) * epochs):
            for (loader, sampler), part in zip(loaders, parts, strict=True):
                part.append(timed_epoch(loader, sampler, epoch, warmup))
        for row, part in zip(rows, parts, strict=True):
            row.passes.append(pass_of(part))


def add_overheads(rows: list[dict]) -> None:
    """Each row's throughput lost to copy-paste against p 0 of its backend: by best and by median pass,
    wall-clock and per core, and paired pass by pass (pass r of both rows went through the same epochs,
    one after the other): the mean of the per-pass losses per core with its 95% t interval, [mean, low, high]."""
    base = {r["backend"]: r for r in rows if r["prob"] == 0}
    for r in rows:
        ref = base[r["backend"]]
        for key, overhead in OVERHEADS.items():
            r[overhead] = 1.0 - r[key] / ref[key]
        losses = [1.0 - a / b for a, b in zip(r["per_core_runs"], ref["per_core_runs"], strict=True)]
        r["overhead_paired_per_core"] = list(mean_interval(losses))


def stage_breakdowns(datasets: Sequence[FastInstanceFolder], batch: int, epochs: int = 1) -> list[dict[str, float]]:
    """Milliseconds of this thread's CPU time per image in each stage of the gpu backend's worker half
    (:data:`STAGES`, with dilo's own stage functions, as :class:`FastInstanceFolder` chains them), over
    ``epochs`` epochs of each dataset (e.g. p 0 and p 0.5), their epochs in turn: a slow spell of a shared
    machine hits them alike, so their stages compare. ``pasted``: the fraction of images pasted."""
    spent = [dict.fromkeys(STAGES, 0.0) for _ in datasets]
    counts = [[0, 0] for _ in datasets]  # images, pasted
    for epoch in range(epochs):
        for dataset, time_spent, count in zip(datasets, spent, counts, strict=True):
            dataset.set_epoch(epoch)
            images, pasted = _breakdown_epoch(dataset, batch, time_spent)
            count[0], count[1] = count[0] + images, count[1] + pasted
    out = []
    for time_spent, (n, pasted) in zip(spent, counts, strict=True):
        ms = {stage: 1000.0 * t / n for stage, t in time_spent.items()}
        out.append({**ms, "total": sum(ms.values()), "pasted": pasted / n})
    return out


def _breakdown_epoch(dataset: FastInstanceFolder, batch: int, spent: dict[str, float]) -> tuple[int, int]:
    """One epoch of ``dataset`` stage by stage, its CPU seconds added to ``spent``; (images, to paste)."""
    clock = time.thread_time
    size = dataset.planner.size
    items, pasted = [], 0
    for i in range(len(dataset)):
        t0 = clock()
        encoded = open_encoded(dataset.path(i))
        full_size = encoded.size
        plan = dataset.plan(i, full_size)
        t1 = clock()
        rgb, scale = decode_rgb(encoded, draft_scale(plan.box, size))
        t2 = clock()
        crop = resize_box(rgb, plan.box, scale, size)
        t3 = t4 = clock()
        job = (plan.coin, None)
        if plan.paste is not None:  # (the call alone would count as copy-paste's time at p 0)
            job = dataset.paste_job(i, plan, full_size)
            t4 = clock()
        items.append(dataset.sample(crop, plan, i, "", job))
        t5 = clock()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, 0.0), strict=True):
            spent[stage] += seconds
        pasted += job[0] == PasteOutcome.PASTED
    t0 = clock()
    for k in range(0, len(items) - batch + 1, batch):
        WorkerBatch.pack(items[k : k + batch])
    spent["collate"] += (clock() - t0) * len(items) / max(1, len(items) // batch * batch)
    return len(items), pasted


def device_rate(loader: FastPathLoader, device: torch.device, batches: int = 5) -> float:
    """Images/s of the fast path's device half (copy-paste, photometric) on ``device``, on real batches of
    ``loader``'s workers."""
    batch = next(iter(loader.loader))
    loader.finish(batch)  # warm-up (CUDA context, allocator)
    batch = batch._replace(image=batch.image.to(device))
    synchronize(device)
    tic = time.perf_counter()
    for _ in range(batches):
        loader.finish(batch)
    synchronize(device)
    return batches * len(batch.image) / (time.perf_counter() - tic)


def train_rate(trainer_factory: Callable[[], object], batch: int, iters: int, warmup: int, device) -> float:
    """Pretraining images/s: ``iters`` steps (after ``warmup``) of a Trainer fed by its own loader."""
    trainer = trainer_factory()
    trainer.train_set.set_epoch(0)
    trainer.sampler.set_epoch(0)
    it = iter(trainer.loader)
    for step in range(warmup):
        trainer.run_step(next(it), step)
    synchronize(device)
    tic = time.perf_counter()
    for step in range(warmup, warmup + iters):
        trainer.run_step(next(it), step)
    synchronize(device)
    trainer.close()
    return iters * batch / (time.perf_counter() - tic)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
