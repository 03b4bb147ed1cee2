"""The GPU report's parts: what each measures, as a generator of rows (plain dicts), given a :class:`Context`.

- ``environment``: GPU, memory, driver, torch, CUDA and cuDNN versions, CPU cores.
- ``train_step``: the plain step, InstDisc (each K, per-sample and shared negatives) and MoCo v2
  (:mod:`.train_step`), images/s and peak memory.
- ``data_path``: photos at ImageNet's size made here (the embedded set's renderer with sensor noise, so
  that a JPEG weighs what a photo does), their RBD masks in a mask pack; the gpu backend with a worker per
  core at p 0 and p 0.5: the loader's images/s, per core, the device half's images/s, and training
  images/s with the real step (:mod:`.loader`).
- ``ddp``: ``torchrun --nproc_per_node 1`` runs one step in a process group (NCCL on a GPU), and the
  same step runs alone; the bank and the model after it are compared (:mod:`.ddp_step`).
- ``scale``: the probe's feature extraction (the probe's forward and float16 storage) and, at
  ImageNet's 1.28M rows, the kNN monitor and memory-bank steps (:mod:`.scale`).
- ``reproduce``: a short run with RBD copy-paste on the embedded set on the device, and the same on the
  CPU at other seeds, at once: the device's kNN, linear and localization figures against the 95%
  prediction interval of the CPU seeds'.
"""

from __future__ import annotations

import concurrent.futures
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import torch

import pretrain
from pretrain.benchmark import ddp_step, scale
from pretrain.benchmark import loader as bench
from pretrain.benchmark.train_step import StepSetup, measure
from pretrain.data import reduced_decode
from pretrain.data.embedded import EmbeddedSpec, background_pool, render
from pretrain.engine import Trainer
from pretrain.engine.features import crop_features, gather_outputs
from pretrain.models.weights import BackboneSpec, load_frozen
from pretrain.probe.cache import FEATURE_DTYPE
from pretrain.reproduce.runner import Reproduction, plan_runs, prepare_data, train_run
from pretrain.reproduce.tables import METRICS
from pretrain.saliency.batch import compute_masks
from pretrain.utils.image_io import list_images, mask_paths
from pretrain.utils.processes import worker_pool
from pretrain.utils.stats import prediction_interval

PARTS = ("environment", "train_step", "data_path", "ddp", "scale", "reproduce")
PHOTO_NOISE = 16.0  # sensor noise (std, 8-bit levels): a 500 x 375 JPEG at quality 90 weighs about 85 KB


@dataclass(frozen=True)
class Sizes:
    """What every part runs (see the module docstring), and each part's budget in seconds."""

    name: str
    budgets: dict[str, int]
    step: StepSetup  # train_step; amp and channels_last are set on a GPU
    photos: int  # data_path: photos rendered, of photo_size (w, h), each listed `listings` times
    photo_size: tuple[int, int]
    listings: int
    mask_size: int
    loader_batch: int
    loader_repeats: int
    loader_images: int  # images timed per pass, at least
    train_opts: tuple[str, ...]  # the real step of data_path (over the loader's config)
    train_batch: int
    train_warmup: int
    train_iters: int
    bank_rows: int  # scale: kNN and bank rows
    knn_queries: int
    extract_backbone: str
    extract_batch: int
    extract_size: int
    extract_batches: int
    ddp_opts: tuple[str, ...]  # over the demo's config
    reproduce_opts: tuple[str, ...]  # over the demo's config
    cpu_seeds: tuple[int, ...]  # the CPU runs the device's run (seed 0) is held against
    workers: int = 0  # loader workers and mask processes; 0: one per core

    @property
    def total_budget(self) -> int:
        return sum(self.budgets.values())


@dataclass(frozen=True)
class Context:
    """Where a part runs: its sizes, the device ("cuda" or "cpu"), a scratch folder, the demo's config file."""

    sizes: Sizes
    device: str
    work_dir: str
    config_file: str
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def workers(self) -> int:
        return self.sizes.workers or self.cores


def environment(ctx: Context) -> Iterator[dict]:
    row = {
        "device": ctx.device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "cpu_cores": ctx.cores,
        "cpu": _cpu_model(),
        "jpeg_decoder": "simplejpeg" if reduced_decode.simplejpeg else "PIL",
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        row |= {
            "gpu": props.name,
            "gpu_memory_gib": round(props.total_memory / 2**30, 1),
            "gpus": torch.cuda.device_count(),
        }
        row |= {"capability": f"{props.major}.{props.minor}", "driver": _driver()}
    yield row


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return platform.processor()


def _driver() -> str | None:
    try:
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        return subprocess.run(query, capture_output=True, text=True, timeout=20, check=True).stdout.split("\n")[0]
    except (OSError, subprocess.SubprocessError):
        return None


def train_step(ctx: Context) -> Iterator[dict]:
    device = torch.device(ctx.device)
    torch.backends.cudnn.benchmark = True
    on_gpu = device.type == "cuda"
    yield from measure(replace(ctx.sizes.step, amp=on_gpu, channels_last=on_gpu), device)


def data_path(ctx: Context) -> Iterator[dict]:
    s, device, work = ctx.sizes, torch.device(ctx.device), ctx.work_dir
    photos, masks = os.path.join(work, "photos"), os.path.join(work, "masks")
    tic = time.perf_counter()
    sizes = render_photos(photos, s.photos, s.photo_size, ctx.workers)
    yield {"stage": "photos", "count": s.photos, "seconds": time.perf_counter() - tic, "mean_kb": np.mean(sizes) / 1024}
    tic = time.perf_counter()
    made = compute_masks(photos, masks, "rbd", workers=ctx.workers, progress=False, max_size=s.mask_size)
    yield {"stage": f"RBD masks, {s.mask_size} px", "count": made.written, "seconds": time.perf_counter() - tic}
    data, listed_masks = list_again(photos, masks, os.path.join(work, "listed"), s.listings)

    settings = [bench.parse_setting("0"), bench.parse_setting("0.5")]
    opts = ["SOLVER.IMS_PER_BATCH", s.loader_batch, "DATA.NUM_WORKERS", ctx.workers, "COPY_PASTE.MASK_ROOT"]
    opts += [listed_masks, "COPY_PASTE.MASK_PACK", os.path.join(work, "mask_pack")]
    arms = bench.build_arms(data, settings, ["gpu"], device, opts)
    warmup = ctx.workers  # each worker's first batch: its start-up
    epochs = bench.epochs_per_pass(arms[0].timed[0], warmup, s.loader_images)
    bench.interleaved([a.timed for a in arms], [a.row for a in arms], s.loader_repeats, warmup, epochs)
    results = [a.row.summary() for a in arms]
    bench.add_overheads(results)
    for result, arm in zip(results, arms, strict=True):
        cfg = bench.train_config(arm.config, data, os.path.join(work, "train"))
        cfg.merge_from_list([*s.train_opts, "SOLVER.IMS_PER_BATCH", str(s.train_batch)])
        train = bench.train_rate(
            lambda cfg=cfg: Trainer(cfg, device), s.train_batch, s.train_iters, s.train_warmup, device
        )
        yield {
            "setting": result["setting"],
            "workers": ctx.workers,
            "loader_images_per_s": result["median_images_per_s"],
            "per_core_images_per_s": result["median_per_core_images_per_s"],
            "overhead_per_core": result["overhead_median_per_core"],
            "pasted": float(np.mean(result["pasted"])),
            "device_half_images_per_s": bench.device_rate(arm.batches, device),
            "train_images_per_s": train,
        }


def render_photos(folder: str, count: int, size: tuple[int, int], threads: int) -> list[int]:
    """``count`` JPEGs of (w, h) ``size`` in ``folder/photos`` (one class): the embedded set's objects and
    backgrounds drawn at that size, with :data:`PHOTO_NOISE`; returns their sizes in bytes. Threads, not
    processes: NumPy and OpenCV release the GIL for the work, and nothing is imported again."""
    os.makedirs(os.path.join(folder, "photos"), exist_ok=True)
    spec = EmbeddedSpec(image_size=max(size), num_backgrounds=4)
    backgrounds = background_pool(spec)
    paths = [os.path.join(folder, "photos", f"{i:05d}.jpg") for i in range(count)]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda i: _photo(paths[i], i, spec, size, backgrounds), range(count)))


def _photo(path: str, i: int, spec: EmbeddedSpec, size: tuple[int, int], backgrounds: np.ndarray) -> int:
    (w, h), side = size, spec.image_size
    image, _ = render(spec, "train", i % spec.num_classes, i, backgrounds)
    noise = np.random.default_rng(i).normal(0.0, PHOTO_NOISE, (h, w, 3))
    photo = np.clip(image[(side - h) // 2 :, (side - w) // 2 :][:h, :w] + noise, 0, 255).astype(np.uint8)
    cv2.imwrite(path, photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return os.path.getsize(path)


def list_again(images: str, masks: str, root: str, times: int) -> tuple[str, str]:
    """An ImageNet-layout folder listing every image of ``images`` ``times`` times (links ``<stem>_<k>``), and
    its mask folder of links to ``masks``: an epoch of ``times`` x the images, each read from the page cache
    as a distinct file would be. Returns (image folder, mask folder) under ``root``."""
    rels = list_images(images)
    listed, listed_masks = os.path.join(root, "images"), os.path.join(root, "masks")
    for rel, mask in zip(rels, mask_paths(masks, rels), strict=True):
        stem, ext = os.path.splitext(rel)
        for k in range(times):
            for src, dst in (
                (os.path.join(images, rel), f"{listed}/{stem}_{k}{ext}"),
                (mask, f"{listed_masks}/{stem}_{k}.png"),
            ):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.symlink(os.path.abspath(src), dst)
    return listed, listed_masks


def ddp(ctx: Context) -> Iterator[dict]:
    s, out = ctx.sizes, os.path.join(ctx.work_dir, "ddp")
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
    cmd = [*launch, "-m", ddp_step.__name__, os.path.join(out, "torchrun"), ctx.config_file, *s.ddp_opts]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(pretrain.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(f"torchrun exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    grouped = torch.load(os.path.join(out, "torchrun", "rank0_of1.pt"))
    alone = torch.load(
        ddp_step.one_step(torch.device(ctx.device), os.path.join(out, "alone"), ctx.config_file, list(s.ddp_opts))
    )
    model_diff = max((grouped["model"][k].float() - v.float()).abs().max().item() for k, v in alone["model"].items())
    yield {
        "backend": grouped["backend"],
        "step_seconds": grouped["seconds"],
        "alone_step_seconds": alone["seconds"],
        "bank_identical": torch.equal(grouped["memory"], alone["memory"]),
        "bank_max_abs_diff": (grouped["memory"] - alone["memory"]).abs().max().item(),
        "model_max_abs_diff": model_diff,
    }


def scale_on_device(ctx: Context) -> Iterator[dict]:
    s, device = ctx.sizes, torch.device(ctx.device)
    torch.backends.cudnn.benchmark = True
    yield extraction_rate(s.extract_backbone, s.extract_batch, s.extract_size, s.extract_batches, device)
    for m in scale.knn_stage([s.bank_rows], device, s.knn_queries) + scale.bank_stage([s.bank_rows], device):
        row = {"stage": m.stage, "rows": m.n, "seconds": m.seconds, "host_peak_mb": m.host_peak_bytes / 2**20}
        row["device_peak_mb"] = None if m.device_peak_bytes is None else m.device_peak_bytes / 2**20
        if m.stage == "knn_monitor":
            row |= {
                "queries": s.knn_queries,
                "seconds_for_imagenet_val": m.seconds * scale.IMAGENET_VAL / s.knn_queries,
            }
        yield row


def extraction_rate(backbone: str, batch: int, size: int, batches: int, device: torch.device) -> dict:
    """Images/s of the probe's feature extraction (a frozen random ``backbone``, the probe's forward, rows
    stored as the probe stores them) on ``batches`` synthetic batches that start on the CPU, as a loader's do."""
    net = load_frozen("random", random=BackboneSpec(backbone), size=size).to(device)
    images = (
        torch.randn(batch, 3, size, size).pin_memory() if device.type == "cuda" else torch.randn(batch, 3, size, size)
    )
    loader = [
        {
            "image": images,
            "index": torch.arange(k * batch, (k + 1) * batch),
            "label": torch.zeros(batch, dtype=torch.long),
        }
        for k in range(batches)
    ]
    with torch.no_grad():
        gather_outputs(crop_features(net), loader[:1], batch, device, "warm-up", FEATURE_DTYPE)
        bench.synchronize(device)
        tic = time.perf_counter()
        gather_outputs(crop_features(net), loader, batch * batches, device, "features", FEATURE_DTYPE)
        bench.synchronize(device)
    return {
        "stage": "probe_features",
        "backbone": backbone,
        "batch": batch,
        "images_per_s": batch * batches / (time.perf_counter() - tic),
    }


def reproduce_check(ctx: Context) -> Iterator[dict]:
    s = ctx.sizes
    runs = plan_runs(
        Reproduction(
            ctx.config_file, os.path.join(ctx.work_dir, "reproduce"), ("rbd",), (0, *s.cpu_seeds), s.reproduce_opts
        )
    )
    prepare_data(ctx.config_file, runs)
    threads = max(1, (ctx.cores - 2) // len(s.cpu_seeds))  # two cores left to the device's run
    with worker_pool(len(s.cpu_seeds)) as pool:
        # kNN, linear and localization are what the check compares: the backgrounds benchmark is left out
        futures = [pool.submit(train_run, ctx.config_file, run, "cpu", threads, False) for run in runs[1:]]
        device_run = train_run(ctx.config_file, runs[0], ctx.device, threads if ctx.device == "cpu" else 0, False)
        cpu_runs = [f.result() for f in futures]
    for metric, label in METRICS.items():
        values = [r[metric] for r in cpu_runs]
        low, high = prediction_interval(values)
        yield {
            "metric": label,
            "device_seed_0": device_run[metric],
            "cpu_seeds": ", ".join(f"{r['seed']}: {r[metric]:.1f}" for r in cpu_runs),
            "cpu_95_prediction": f"{low:.1f} to {high:.1f}",
            "inside": low <= device_run[metric] <= high,
        }
    yield {
        "metric": "run seconds",
        "device_seed_0": device_run["seconds"],
        "cpu_seeds": ", ".join(f"{r['seed']}: {r['seconds']:.0f}" for r in cpu_runs),
    }


PART_FUNCTIONS: dict[str, Callable[[Context], Iterator[dict]]] = {
    "environment": environment,
    "train_step": train_step,
    "data_path": data_path,
    "ddp": ddp,
    "scale": scale_on_device,
    "reproduce": reproduce_check,
}


def about(sizes: Sizes, part: str) -> str:
    """What ``part`` runs at ``sizes``, in a line."""
    s, k = sizes, " / ".join(map(str, sizes.step.negatives))
    w, h = s.photo_size
    workers = f"{s.workers} workers" if s.workers else "a worker per core"
    seeds = ", ".join(map(str, s.cpu_seeds))
    return {
        "environment": "GPU, driver, torch, CUDA, cuDNN, CPU cores",
        "train_step": f"{s.step.backbone} {s.step.size} px steps: plain, InstDisc K {k} (per-sample, shared), MoCo v2",
        "data_path": f"{s.photos} photos {w}x{h}, RBD masks; gpu backend, {workers}, p 0 and 0.5; the real step",
        "ddp": "torchrun --nproc_per_node 1: one step in a process group against one alone",
        "scale": f"probe feature extraction; kNN monitor and bank steps at {s.bank_rows:,} rows",
        "reproduce": f"a short RBD run, embedded set: device seed 0 against CPU seeds {seeds}",
    }[part]
