#!/usr/bin/env python
"""Seconds per image per core of each saliency method, and what the working resolution costs
in accuracy, on a folder of images with ground-truth masks (default: the SOD pairs).

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
import sys  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# tools/pretrain.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

from pretrain.saliency import build_saliency  # noqa: E402
from pretrain.saliency.metrics import SaliencyEvaluator, find_masks, read_mask  # noqa: E402
from pretrain.utils.image_io import list_images, load_rgb  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
SOD = os.path.join(os.environ.get("DILO_SHARED_DATA", SHARED), "sod-dev")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=os.path.join(SOD, "images"))
    p.add_argument("--masks", default=os.path.join(SOD, "masks"), help="ground truth ('' to time only)")
    p.add_argument("--methods", nargs="+", default=["rbd", "gs", "mc"])
    p.add_argument("--max-side", nargs="+", type=int, default=[240, 0], help="working resolutions; 0 = full size")
    p.add_argument("--weights", help="weights file for learned methods (BASNet)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images")
    args = p.parse_args()
    cv2.setNumThreads(1)

    names = list_images(args.images)[: args.limit or None]
    images = [np.asarray(load_rgb(os.path.join(args.images, n))) for n in names]
    gts = find_masks(args.masks) if args.masks else {}
    rows = []
    for method in args.methods:
        for side in [0] if args.weights else args.max_side:
            kwargs = {"weights": args.weights} if args.weights else {"max_side": side or 1_000_000}
            fn = build_saliency(method, **kwargs)
            ev, tic = SaliencyEvaluator(), time.perf_counter()
            maps = [fn(img) for img in images]
            seconds = (time.perf_counter() - tic) / len(images)
            for name, sal in zip(names, maps, strict=True):
                key = os.path.splitext(name)[0]
                if key in gts:
                    ev.update(sal, read_mask(gts[key]))
            row = {"method": method, "max_side": side or "full", "images": len(images), "s_per_image_core": seconds}
            if ev.num_images:
                r = ev.result()
                row.update({k: round(float(r[k]), 4) for k in ("max_fbeta", "mean_fbeta", "adaptive_fbeta", "mae")})
            rows.append(row)
            print(json.dumps(row), flush=True)
    h, w = images[0].shape[:2]
    print(f"\n{len(images)} images of about {w}x{h}, one core")
    print(f"{'method':<8}{'max side':>9}{'s/img/core':>12}{'maxF':>8}{'meanF':>8}{'adaptF':>8}{'MAE':>8}")
    for r in rows:
        scores = "".join(
            f"{r[k]:>8.3f}" if k in r else f"{'-':>8}" for k in ("max_fbeta", "mean_fbeta", "adaptive_fbeta", "mae")
        )
        print(f"{r['method']:<8}{r['max_side']!s:>9}{r['s_per_image_core']:>12.3f}{scores}")


if __name__ == "__main__":
    main()
