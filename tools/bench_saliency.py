#!/usr/bin/env python
"""Seconds per image per core of each saliency method, and what the working resolution costs
in accuracy, on a folder of images with ground-truth masks (default: the SOD pairs). The logic
lives in :mod:`pretrain.benchmark.saliency`.

    python tools/bench_saliency.py                                  # rbd, gs, mc at 240 px and full size
    python tools/bench_saliency.py --methods rbd --max-side 240 320 0 --images DIR --masks DIR
    python tools/bench_saliency.py --methods basnet --weights basnet.pth

One process, one thread: the number is the cost per core (a machine with C cores runs the mask
tool about C times faster). Prints one JSON object per setting, then a table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import json  # noqa: E402

import _import_path  # noqa: E402, F401
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pretrain.benchmark.saliency import format_table, measure  # noqa: E402
from pretrain.saliency.metrics import find_masks  # noqa: E402
from pretrain.utils.cli import run_tool  # noqa: E402
from pretrain.utils.image_io import list_images, load_rgb  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
SOD = os.path.join(os.environ.get("DILO_SHARED_DATA", SHARED), "sod-dev")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=os.path.join(SOD, "images"))
    p.add_argument("--masks", default=os.path.join(SOD, "masks"), help="ground truth ('' to time only)")
    p.add_argument("--methods", nargs="+", default=["rbd", "gs", "mc"])
    p.add_argument("--max-side", nargs="+", type=int, default=[240, 0], help="working resolutions; 0 = full size")
    p.add_argument("--weights", help="weights file for learned methods (BASNet)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> list[dict]:
    cv2.setNumThreads(1)
    names = list_images(args.images)[: args.limit or None]
    images = {name: np.asarray(load_rgb(os.path.join(args.images, name))) for name in names}
    gts = find_masks(args.masks) if args.masks else {}
    rows = []
    for row in measure(images, gts, args.methods, args.max_side, args.weights):
        rows.append(row)
        print(json.dumps(row), flush=True)
    h, w = images[names[0]].shape[:2]
    print(f"\n{len(images)} images of about {w}x{h}, one core\n" + format_table(rows))
    return rows


if __name__ == "__main__":
    run_tool("bench_saliency", main, parse_args())
