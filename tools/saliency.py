#!/usr/bin/env python
"""Estimate the foreground of every image in a folder: one 8-bit saliency PNG per image.

The mask tree mirrors the image tree (same relative path, .png, same size; with --mask-size N the
image's size scaled down so that the longer side is at most N: smaller files that the training
workers decode faster, read in training as the image's mask, scaled). Masks already written are skipped, so rerunning a
killed or interrupted (Ctrl-C) job resumes it; shards split the work between machines.

The mask folder records what made it (provenance.json: the method, its parameters, --mask-size); a rerun with another
--method, --small-images or --mask-size is refused, naming what differs, and so is a folder of masks without a record.
Memory and time per image do not grow with the photo: RBD and GS count their superpixels on the photo scaled down to
500 px (photos up to 500 px keep the authors' count) and take at most one per 40 px of their 240 px working copy.
An image over PIL's pixel limit (PIL.Image.MAX_IMAGE_PIXELS) is skipped and counted, like an unreadable one.

    python tools/saliency.py --input datasets/imagenet/train --output datasets/imagenet/masks_rbd/train --workers 16
    python tools/saliency.py --input IMAGES --output MASKS --method basnet --weights basnet.pth
    python tools/saliency.py ... --num-shards 8 --shard-id 3        # machine 3 of 8
    python tools/saliency.py --input IMAGES --output MASKS --small-images   # ~64 px images (the embedded set)
    python tools/saliency.py --input IMAGES --output MASKS --mask-size 256  # bounded masks, for INPUT.BACKEND gpu
"""

from __future__ import annotations

import argparse
import os
import sys

import _import_path  # noqa: F401

from pretrain.saliency import saliency_methods, small_image_options
from pretrain.saliency.batch import compute_masks
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="image folder (searched recursively)")
    p.add_argument("--output", required=True, help="mask folder (created; mirrors the input tree)")
    p.add_argument("--method", default="rbd", choices=saliency_methods(), help="saliency method (default: rbd)")
    p.add_argument("--weights", help="weights file, for learned methods (BASNet: the authors' basnet.pth)")
    p.add_argument("--small-images", action="store_true", help="RBD/GS settings for ~64 px images (the demo's)")
    p.add_argument("--mask-size", type=int, default=0, help="bound on a mask's longer side (default 0: the image's)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    p.add_argument("--num-shards", type=int, default=1, help="split the images into this many shards")
    p.add_argument("--shard-id", type=int, default=0, help="the shard this process computes")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> int:
    kwargs = small_image_options(args.method) if args.small_images else {}
    kwargs |= {"weights": args.weights} if args.weights else {}
    shards = {"num_shards": args.num_shards, "shard_id": args.shard_id, "max_size": args.mask_size}
    try:
        summary = compute_masks(args.input, args.output, args.method, kwargs, args.workers, **shards)
    except KeyboardInterrupt:
        print("saliency: interrupted; the masks written are whole: rerun the command to resume", file=sys.stderr)
        return 130
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(run_tool("saliency", main, parse_args()))
