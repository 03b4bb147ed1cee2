#!/usr/bin/env python
"""Figures of the pretraining pipeline, one subcommand each.

    python tools/visualize.py copy-paste --images IMAGES --masks MASKS --textures TEXTURES --out copy_paste.png

copy-paste: the paper's Fig. 4. One row per image (the first --num images of the sorted tree,
or --num random ones with --random, drawn with --seed), columns original, mask and one
composite per background kind; see pretrain/visualize/copy_paste.py for the layout.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

# tools/pretrain.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

from pretrain.augment.copy_paste import texture_source  # noqa: E402
from pretrain.utils.image_io import list_images, load_rgb  # noqa: E402
from pretrain.visualize.copy_paste import copy_paste_figure, load_sample, write_png  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    cp = sub.add_parser("copy-paste", help="original, mask and copy-paste composites of a few images")
    cp.add_argument("--images", required=True, help="image folder (searched recursively)")
    cp.add_argument("--masks", required=True, help="mask folder mirroring --images (as tools/saliency.py writes)")
    cp.add_argument("--textures", help="texture image folder; adds the texture column")
    cp.add_argument("--num", type=int, default=6, help="images, one row each (default: 6)")
    cp.add_argument("--random", action="store_true", help="draw the images at random instead of the first ones")
    cp.add_argument("--seed", type=int, default=0, help="seed of the image draw and the composites (default: 0)")
    cp.add_argument("--threshold", type=float, default=0.5, help="mask binarization threshold (default: 0.5)")
    cp.add_argument("--no-gaussian", action="store_true", help="leave out the Gaussian-blended column")
    cp.add_argument("--out", default="copy_paste.png", help="PNG to write (default: copy_paste.png)")
    cp.set_defaults(run=copy_paste)
    return p.parse_args(argv)


def pick(relpaths: list[str], num: int, seed: int, random: bool) -> list[str]:
    """The first ``num`` paths, or ``num`` drawn with ``seed`` (kept in sorted order)."""
    if not random:
        return relpaths[:num]
    chosen = np.random.default_rng(seed).choice(len(relpaths), min(num, len(relpaths)), replace=False)
    return [relpaths[i] for i in sorted(chosen)]


def copy_paste(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    if not os.path.isdir(args.masks):
        raise FileNotFoundError(f"mask folder {args.masks!r} does not exist")
    relpaths = pick(list_images(args.images), args.num, args.seed, args.random)
    samples = [load_sample(args.images, args.masks, rel) for rel in relpaths]
    texture = None
    if args.textures:
        paths = [os.path.join(args.textures, p) for p in list_images(args.textures)]
        texture = texture_source(paths, lambda path: np.asarray(load_rgb(path)))
    figure = copy_paste_figure(samples, texture, args.threshold, args.seed, not args.no_gaussian)
    write_png(args.out, figure)
    print(f"wrote {args.out} ({figure.shape[1]}x{figure.shape[0]}, {len(samples)} images)")


def main(args: argparse.Namespace) -> None:
    args.run(args)


if __name__ == "__main__":
    try:
        main(parse_args())
    except (OSError, ValueError) as exc:  # missing folders and masks, unreadable files (BadImageError)
        sys.exit(f"error: {exc}")
