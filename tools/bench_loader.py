#!/usr/bin/env python
"""Throughput of the training data path (augmented 224 px images per second out of a DataLoader
with --workers processes), without copy-paste and with it, on a real photo folder (ImageNet layout),
for each INPUT.BACKEND; optionally end-to-end pretraining images/s.

    python tools/bench_loader.py                                    # p 0 and p 0.5 (gray) on caltech20
    python tools/bench_loader.py --workers 2 --images 512
    python tools/bench_loader.py --settings 0 0.5 0.5:image 0.5:texture:gaussian
    python tools/bench_loader.py --data DIR --masks MASKS           # existing masks, mirroring DIR
    python tools/bench_loader.py --train-iters 20 MODEL.BACKBONE.NAME resnet50 SOLVER.AMP.ENABLED True

A setting is PROB[:BACKGROUND[:BLEND]] (COPY_PASTE.PROB, .BACKGROUND, .BLEND); p 0 is always run,
as the baseline. Without --masks, RBD masks are computed once into output/bench_loader/masks_rbd.
Backend "cpu" times the whole augmentation in the workers; "gpu" times the workers' half (uint8
crops, copy-paste included) and, separately, the batched photometric half on the training device
(``device_images_per_s``: the GPU if there is one, else this process's CPU threads); "resident"
(--backends resident, for small sets) times whole batches augmented on that device. The first
--warmup batches of each pass (worker start-up) are not timed; each (backend, setting) runs
--repeats passes, interleaved with the others, and the best pass counts. With --train-iters N,
each backend also runs N pretraining steps (forward, loss, bank, SGD) fed by its loader, with the
KEY VALUE overrides. Prints one JSON object per row, then a table; ``overhead`` is the throughput
lost relative to p 0 of the same backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# tools/pretrain.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from pretrain.augment.batched import PhotometricAugmentation  # noqa: E402
from pretrain.config import load_config  # noqa: E402
from pretrain.config.defaults import BACKENDS  # noqa: E402
from pretrain.data import EpochSampler, build_train_batches, build_train_dataset  # noqa: E402
from pretrain.engine import Trainer  # noqa: E402
from pretrain.saliency.batch import compute_masks  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("DILO_SHARED_DATA", os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
CALTECH = os.path.join(SHARED, "caltech20", "101_ObjectCategories")
TEXTURES = os.path.join(SHARED, "textures", "dtd")
MASK_CACHE = os.path.join(REPO, "output", "bench_loader", "masks_rbd")


def parse_setting(text: str) -> dict[str, str]:
    """'0.5:image:gaussian' -> COPY_PASTE overrides (background gray and blend none by default)."""
    parts = text.split(":")
    prob, background, blend = parts + ["gray", "none"][len(parts) - 1 :]
    if not 0.0 <= float(prob) <= 1.0:
        raise ValueError(f"setting {text!r}: the probability must be in [0, 1]")
    return {"PROB": str(float(prob)), "BACKGROUND": background, "BLEND": blend}


def name(setting: dict[str, str]) -> str:
    return "p 0" if float(setting["PROB"]) == 0 else "p {PROB} {BACKGROUND} {BLEND}".format(**setting)


def timed_pass(loader: DataLoader, sampler: EpochSampler, epoch: int, warmup: int, batches: int) -> tuple[float, int]:
    """(images/s over ``batches`` batches after ``warmup`` untimed ones, images pasted among them)."""
    sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)  # the same images and crops for every setting of a repeat
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    pasted, tic = 0, time.perf_counter()
    for _ in range(batches):
        pasted += int(next(it)["pasted"].sum())
    seconds = time.perf_counter() - tic
    del it  # stops the workers
    return batches * loader.batch_size / seconds, pasted


def device_rate(cfg, loader: DataLoader, device: torch.device, batches: int = 5) -> float:
    """Images/s of the fast path's photometric half on ``device``, on real crops of ``loader``."""
    augment = PhotometricAugmentation(cfg, device)
    batch = next(iter(loader))
    augment(batch["image"], batch["photometric"])  # warm-up (CUDA context, allocator)
    images = batch["image"].to(device)
    _sync(device)
    tic = time.perf_counter()
    for _ in range(batches):
        augment(images, batch["photometric"])
    _sync(device)
    return batches * len(images) / (time.perf_counter() - tic)


def train_rate(cfg, data: str, device: torch.device, iters: int, warmup: int) -> float:
    """Pretraining images/s: ``iters`` steps (after ``warmup``) of the Trainer fed by its own loader."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATA.TRAIN_ROOT, cfg.DATA.VAL_ROOT, cfg.OUTPUT_DIR = data, "", os.path.join(REPO, "output", "bench_loader")
    trainer = Trainer(cfg, device)
    trainer.train_set.set_epoch(0)
    trainer.sampler.set_epoch(0)
    it = iter(trainer.loader)
    for step in range(warmup):
        trainer.run_step(next(it), step)
    _sync(device)
    tic = time.perf_counter()
    for step in range(warmup, warmup + iters):
        trainer.run_step(next(it), step)
    _sync(device)
    trainer.close()
    return iters * cfg.SOLVER.IMS_PER_BATCH / (time.perf_counter() - tic)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=CALTECH, help="training images, root/<class>/<image>")
    p.add_argument("--masks", help=f"masks mirroring --data (default: RBD, computed into {MASK_CACHE})")
    p.add_argument("--textures", default=TEXTURES, help="texture folder, for settings with the texture background")
    p.add_argument("--settings", nargs="+", default=["0", "0.5"], help="PROB[:BACKGROUND[:BLEND]] (see above)")
    p.add_argument(
        "--backends",
        nargs="+",
        default=["cpu", "gpu"],
        choices=BACKENDS,
        help="INPUT.BACKEND values (resident: small sets)",
    )
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="DataLoader worker processes")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--images", type=int, default=1024, help="images timed per pass (whole batches, one epoch at most)")
    p.add_argument("--warmup", type=int, help="untimed batches per pass (default: one per worker)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--train-iters", type=int, default=0, help="also time this many pretraining steps per row")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("opts", nargs="*", default=[], help="config KEY VALUE pairs, not right after --settings")
    args = p.parse_args()

    if args.workers == 0:
        torch.set_num_threads(1)  # loading in this process: one thread, as in a DataLoader worker
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    settings = [parse_setting("0")] + [s for s in map(parse_setting, args.settings) if float(s["PROB"]) > 0]
    masks = args.masks
    if masks is None and any(float(s["PROB"]) > 0 for s in settings):
        masks = MASK_CACHE
        print(f"RBD masks of {args.data} in {masks}: {compute_masks(args.data, masks, 'rbd', workers=args.workers)}")

    rows, loaders = [], []
    for backend in args.backends:
        for s in settings:
            opts = ["SOLVER.IMS_PER_BATCH", args.batch, "DATA.NUM_WORKERS", args.workers, "COPY_PASTE.TEXTURE_ROOT"]
            opts += [args.textures, "COPY_PASTE.MASK_ROOT", masks or "", "INPUT.BACKEND", backend, *args.opts]
            opts += [x for key, value in s.items() for x in (f"COPY_PASTE.{key}", value)]
            cfg = load_config("", [str(x) for x in opts])
            loaders.append((cfg, *build_train_batches(cfg, build_train_dataset(cfg, args.data), device)))
            rows.append({"backend": backend, "setting": name(s), "prob": float(s["PROB"])})
            rows[-1] |= {"background": s["BACKGROUND"], "blend": s["BLEND"]}
    warmup = max(1, args.workers) if args.warmup is None else args.warmup
    batches = min(args.images // args.batch, len(loaders[0][1]) - warmup)
    if batches < 1:
        raise SystemExit(
            f"no batch to time: --images {args.images}, {warmup} warm-up batches, {len(loaders[0][1])} per epoch"
        )

    runs: list[list[float]] = [[] for _ in rows]
    pasted = [0] * len(rows)
    for r in range(args.repeats):  # interleaved: a slow spell of a shared machine hits every row alike
        for i, (_, loader, sampler) in enumerate(loaders):
            rate, pasted[i] = timed_pass(loader, sampler, r, warmup, batches)
            runs[i].append(rate)
    for row, rates, n, (cfg, loader, _) in zip(rows, runs, pasted, loaders, strict=True):
        row |= {"workers": args.workers, "batch": args.batch, "images": batches * args.batch, "warmup": warmup}
        row |= {"images_per_s": max(rates), "median_images_per_s": statistics.median(rates), "runs": rates}
        row |= {"pasted_fraction": n / (batches * args.batch), "device": str(device)}
        if row["backend"] == "gpu":
            row["device_images_per_s"] = device_rate(cfg, loader, device)
        if args.train_iters:
            row["train_images_per_s"] = train_rate(cfg, args.data, device, args.train_iters, warmup)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print_table(rows, args, batches)


def print_table(rows: list[dict], args: argparse.Namespace, batches: int) -> None:
    print(f"\n{batches * args.batch} images x {args.repeats} passes, {args.workers} workers, batch {args.batch}")
    print(
        f"{'backend':<10}{'setting':<24}{'best/s':>10}{'median/s':>10}{'pasted':>8}{'overhead':>10}{'device/s':>10}",
        end="",
    )
    print(f"{'train/s':>10}")
    base = {r["backend"]: r["images_per_s"] for r in rows if r["prob"] == 0}
    for r in rows:
        overhead = 100.0 * (1.0 - r["images_per_s"] / base[r["backend"]])
        device, train = r.get("device_images_per_s"), r.get("train_images_per_s")
        print(
            f"{r['backend']:<10}{r['setting']:<24}{r['images_per_s']:>10.1f}{r['median_images_per_s']:>10.1f}"
            f"{r['pasted_fraction']:>8.2f}{overhead:>9.1f}%{'-' if device is None else f'{device:.0f}':>10}"
            f"{'-' if train is None else f'{train:.1f}':>10}"
        )


if __name__ == "__main__":
    main()
