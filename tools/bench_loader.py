#!/usr/bin/env python
"""Throughput of the training data path (augmented 224 px images per second out of a DataLoader
with --workers processes), without copy-paste and with it, on a real photo folder, for each
INPUT.BACKEND, per loading core as well as in all; optionally the gpu backend's worker half stage by
stage, and end-to-end pretraining images/s. The logic lives in :mod:`pretrain.benchmark.loader`.

    python tools/bench_loader.py --backends gpu                     # p 0 and p 0.5 (gray) on the VOC photos
    python tools/bench_loader.py --backends gpu --workers 0 --breakdown   # one core, and where its time goes
    python tools/bench_loader.py --data ../shared/data/caltech20/101_ObjectCategories --mask-size 0
    python tools/bench_loader.py --settings 0 0.5 0.5:image 0.5:texture:gaussian
    python tools/bench_loader.py --data DIR --masks MASKS           # existing masks, mirroring DIR
    python tools/bench_loader.py --backends gpu --workers 16 --batch 256 --train-iters 50 SOLVER.AMP.ENABLED True

--data is an ImageNet-layout folder (root/<class>/<image>) or a flat folder of photos (the default:
the 100 VOC photos of ../shared/data, about 500 x 375, ImageNet's size class), linked as one class
under output/bench_loader/<data>/images. A setting is PROB[:BACKGROUND[:BLEND]] (COPY_PASTE.PROB, .BACKGROUND,
.BLEND); p 0 is always run, as the baseline. Without --masks, RBD masks are computed once by the
saliency tool's function, their longer side bounded to --mask-size (0: the image's size), into
output/bench_loader/<data>/masks_rbd[_<size>], and read from a mask pack (COPY_PASTE.MASK_PACK) built once
beside them (--files: from their files). --batch defaults to 64, or less on a small set so that an epoch
times at least 8 batches (the 100 VOC photos: 10). Backend "cpu" times the whole augmentation in the
workers; "gpu" times the workers' half (uint8 crops and, for a sample to paste, its mask window) and,
separately, the device half, copy-paste and colours (``device_images_per_s``: the GPU if there is
one, else this process's CPU threads); "resident" (small sets) times whole batches augmented on that
device. Each (backend, setting) runs --repeats passes of whole epochs, as many as time at least
--images images, the settings' epochs in turn (a slow spell hits them alike); best and median pass
are reported. ``images/s`` is by the
clock, without each epoch's first --warmup batches (worker start-up); ``per core`` is every image of
the epochs per CPU second of the loading processes (the workers' whole lives, or this process's one
thread with --workers 0): on a shared machine it counts the cycles the loaders got. ``overhead`` is
the throughput lost relative to p 0 of the same backend. Prints one JSON object per row, then a table.
"""

from __future__ import annotations

import argparse
import json
import os

import _import_path  # noqa: F401
import cv2
import torch

from pretrain.benchmark import loader as bench
from pretrain.config.defaults import BACKENDS
from pretrain.data import build_train_dataset, reduced_decode
from pretrain.engine import Trainer
from pretrain.saliency.batch import compute_masks
from pretrain.utils.image_io import list_images

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("DILO_SHARED_DATA", os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
VOC = os.path.join(SHARED, "voc-mini", "VOCdevkit", "VOC2012", "JPEGImages")
TEXTURES = os.path.join(SHARED, "textures", "dtd")
OUTPUT = os.path.join(REPO, "output", "bench_loader")
TIMED_BATCHES = 8  # the least a pass times with the default --batch


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=VOC, help="photos: root/<class>/<image>, or a flat folder (default: VOC's)")
    p.add_argument("--masks", help="masks mirroring the ImageNet-layout --data (default: RBD, computed once)")
    p.add_argument("--mask-size", type=int, default=128, help="computed masks' longer side at most (0: the image's)")
    p.add_argument("--files", action="store_true", help="read each mask from its file, not from a mask pack")
    p.add_argument("--textures", default=TEXTURES, help="texture folder, for settings with the texture background")
    p.add_argument("--settings", nargs="+", default=["0", "0.5"], help="PROB[:BACKGROUND[:BLEND]] (see above)")
    p.add_argument("--backends", nargs="+", default=["cpu", "gpu"], choices=BACKENDS, help="INPUT.BACKEND values")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="DataLoader worker processes")
    p.add_argument("--batch", type=int, help="images per batch (default: 64, or what leaves an epoch 8 timed)")
    p.add_argument("--images", type=int, default=1024, help="images timed per pass at least (whole epochs)")
    p.add_argument("--warmup", type=int, help="batches per epoch not timed by the clock (default: one per worker)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--breakdown", action="store_true", help="also time the gpu backend's worker stages on one core")
    p.add_argument("--breakdown-epochs", type=int, default=3, help="epochs of --data the breakdown goes through")
    p.add_argument("--train-iters", type=int, default=0, help="also time this many pretraining steps per row")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("opts", nargs="*", default=[], help="config KEY VALUE pairs, not right after --settings")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.workers == 0 or args.breakdown:
        torch.set_num_threads(1)  # loading in this process: one thread, as in a DataLoader worker
        cv2.setNumThreads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cache = os.path.join(OUTPUT, os.path.basename(os.path.normpath(args.data)))  # links and masks of --data
    data = bench.instance_layout(args.data, os.path.join(cache, "images"))
    settings = [bench.parse_setting("0")] + [s for s in map(bench.parse_setting, args.settings) if float(s["PROB"])]
    masks = args.masks
    if masks is None and len(settings) > 1:
        suffix = f"_{args.mask_size}" if args.mask_size else ""
        masks = os.path.join(cache, f"masks_rbd{suffix}")
        summary = compute_masks(data, masks, "rbd", workers=max(1, args.workers), max_size=args.mask_size)
        print(f"RBD masks of {data} in {masks}: {summary}")
    use_pack = masks is not None and not args.files  # the pack is written once, beside the computed masks
    pack = os.path.join(cache, os.path.basename(os.path.normpath(masks)) + "_pack") if use_pack else ""

    warmup = max(1, args.workers) if args.warmup is None else args.warmup
    if args.batch is None:
        args.batch = max(1, min(64, len(list_images(data)) // (warmup + TIMED_BATCHES)))
    opts = ["SOLVER.IMS_PER_BATCH", args.batch, "DATA.NUM_WORKERS", args.workers, "COPY_PASTE.TEXTURE_ROOT"]
    opts += [args.textures, "COPY_PASTE.MASK_ROOT", masks or "", "COPY_PASTE.MASK_PACK", pack, *args.opts]
    arms = bench.build_arms(data, settings, args.backends, device, opts)
    loaders, rows = [arm.timed for arm in arms], [arm.row for arm in arms]
    loader = loaders[0][0]
    if len(loader) <= warmup:
        raise SystemExit(
            f"no batch to time: {warmup} warm-up batches of {len(loader)} per epoch (--batch {args.batch})"
        )
    epochs = bench.epochs_per_pass(loader, warmup, args.images)
    bench.interleaved(loaders, rows, args.repeats, warmup, epochs)
    timed = epochs * (len(loader) - warmup) * args.batch  # images a pass times by the clock (all by the CPU)

    results = [r.summary() for r in rows]
    bench.add_overheads(results)
    if args.breakdown:  # the gpu rows' stages, their epochs in turn
        gpu = [(r, arm.config) for r, arm in zip(results, arms, strict=True) if r["backend"] == "gpu"]
        datasets = [build_train_dataset(cfg, data) for _, cfg in gpu]
        breakdowns = bench.stage_breakdowns(datasets, args.batch, args.breakdown_epochs)
        for (result, _), stages in zip(gpu, breakdowns, strict=True):
            result["breakdown_ms"] = stages
    for result, arm in zip(results, arms, strict=True):
        loader = arm.timed[0]
        result |= {"workers": args.workers, "batch": args.batch, "epochs": epochs, "timed_images": timed}
        result |= {"images": epochs * len(loader) * args.batch, "warmup": warmup}
        result |= {"data": data, "masks": masks, "mask_pack": pack, "device": str(device)}
        result["load_average"] = os.getloadavg()
        result["jpeg_decoder"] = "simplejpeg" if reduced_decode.simplejpeg else "PIL"
        if result["backend"] == "gpu":
            result["device_images_per_s"] = bench.device_rate(arm.batches, device)
        if args.train_iters:
            result["train_images_per_s"] = bench.train_rate(
                lambda cfg=arm.config: Trainer(bench.train_config(cfg, data, OUTPUT), device),
                args.batch,
                args.train_iters,
                warmup,
                device,
            )
        print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results, args, epochs, timed)


def _pair(best: float, median: float) -> str:
    return f"{100 * best:.1f}/{100 * median:.1f}%"


def _interval(mean_low_high: list[float]) -> str:
    mean, low, high = (100 * x for x in mean_low_high)
    return f"{mean:.1f} ({low:.1f} to {high:.1f})%"


def print_table(rows: list[dict], args: argparse.Namespace, epochs: int, timed: int) -> None:
    print(
        f"\n{args.repeats} passes of {epochs} epochs (the settings' epochs in turn), {timed} images timed after "
        f"warm-up, {args.workers} workers, "
        f"batch {args.batch}, gpu backend's JPEGs decoded by {rows[0]['jpeg_decoder']}, masks read from "
        f"{'a mask pack' if rows[0]['mask_pack'] else 'their files'}; per core: images per CPU "
        "second of the loaders; load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    head = ("backend", "setting", "best/s", "median/s", "core best", "core med", "pasted", "ovh core", "ovh wall")
    print(
        f"{head[0]:<9}{head[1]:<22}"
        + "".join(f"{h:>11}" for h in head[2:])
        + f"{'ovh paired (95% CI)':>22}{'device/s':>10}{'train/s':>10}"
    )
    for r in rows:
        device, train = r.get("device_images_per_s"), r.get("train_images_per_s")
        pasted = sum(r["pasted"]) / len(r["pasted"])
        print(
            f"{r['backend']:<9}{r['setting']:<22}{r['images_per_s']:>11.1f}{r['median_images_per_s']:>11.1f}"
            f"{r['per_core_images_per_s']:>11.1f}{r['median_per_core_images_per_s']:>11.1f}{pasted:>11.2f}"
            f"{_pair(r['overhead_per_core'], r['overhead_median_per_core']):>11}"
            f"{_pair(r['overhead_best'], r['overhead_median']):>11}"
            f"{_interval(r['overhead_paired_per_core']):>22}"
            f"{'-' if device is None else f'{device:.0f}':>10}{'-' if train is None else f'{train:.1f}':>10}"
        )
    print("(overheads: best / median pass; paired: mean of the per-pass losses per core, pass r against pass r)")
    broken = [r for r in rows if "breakdown_ms" in r]
    if broken:
        print(f"\ngpu worker half, one core, ms of CPU per image ({args.breakdown_epochs} epochs of --data, in turn)")
        print(f"{'setting':<22}" + "".join(f"{s:>11}" for s in (*bench.STAGES, "total", "images/s")))
        for r in broken:
            b = r["breakdown_ms"]
            cells = "".join(f"{b[s]:>11.3f}" for s in (*bench.STAGES, "total"))
            print(f"{r['setting']:<22}{cells}{1000.0 / b['total']:>11.1f}")


if __name__ == "__main__":
    main()
