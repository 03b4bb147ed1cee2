#!/usr/bin/env python
"""Figures of the pretraining pipeline and of where models look, one subcommand each.

    python tools/visualize.py copy-paste --images IMAGES --masks MASKS --textures TEXTURES --out copy_paste.png
    python tools/visualize.py neighbors --queries Q --gallery G --model base=A.pth --model dilo=B.pth --out nn.png
    python tools/visualize.py gradients --images IMAGES --masks MASKS --train LABELED --model base=A.pth --out grad.png
    python tools/visualize.py saliency --images IMAGES --masks MASKS --out saliency.png
    python tools/visualize.py backgrounds --images IMAGES --masks MASKS --out backgrounds.png

Every figure has one row per image: the first --num images of the sorted tree, or --num random
ones with --random, drawn with --seed. Models are NAME=PATH (or PATH) of a pretraining
checkpoint, a converted or a torchvision .pth; images are fed whole, resized to --size (default:
the checkpoint's INPUT.SIZE, else 224). Layouts are in pretrain/visualize/<figure>.py.

copy-paste: the paper's Fig. 4: original, mask and one composite per background kind.
neighbors: Figs. 2/5: each query's --k nearest gallery images, per model, by cosine similarity
  in the embedding space (--space penultimate for files without an embedding head).
gradients: Figs. 7-13: |d class score / d pixels| of a linear classifier on frozen features
  (fitted on --train, or loaded from --classifiers), over the image, per model.
saliency: Fig. 3: each saliency method's map of the same images.
backgrounds: the backgrounds benchmark's variants of each image (ImageNet-9's protocol; the mixed
  backgrounds are drawn, with --seed, from the other images of --images).
"""

from __future__ import annotations

import argparse
import os
import sys

import _import_path  # noqa: F401
import numpy as np
import torch

from pretrain.augment.backgrounds import texture_source
from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.background_benchmark import masked_test_set
from pretrain.diagnosis.class_gradient import TARGETS, classifier_for
from pretrain.diagnosis.models import add_model_arguments, load_models
from pretrain.diagnosis.neighbors import model_neighbors
from pretrain.models.frozen import SPACES
from pretrain.saliency import build_saliency, small_image_options
from pretrain.utils.image_io import list_images, load_rgb
from pretrain.visualize.backgrounds import backgrounds_figure
from pretrain.visualize.copy_paste import copy_paste_figure, load_samples
from pretrain.visualize.gradients import Explained, gradients_figure
from pretrain.visualize.grid import write_png
from pretrain.visualize.neighbors import neighbors_figure
from pretrain.visualize.saliency import saliency_figure


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

    nn = sub.add_parser("neighbors", help="each query's nearest gallery images, per model")
    nn.add_argument("--queries", required=True, help="query image folder (one row per image)")
    nn.add_argument("--gallery", required=True, help="gallery image folder (class sub-folders frame same-class hits)")
    nn.add_argument("--k", type=int, default=3, help="neighbours per query and model (default: 3)")
    nn.add_argument("--space", choices=SPACES, default="embedding", help="feature space (default: embedding)")
    nn.set_defaults(run=neighbors)

    gr = sub.add_parser("gradients", help="class-score gradients in pixel space over the images, per model")
    gr.add_argument("--images", required=True, help="image folder (class sub-folders give the true classes)")
    gr.add_argument("--masks", help="true masks mirroring --images: adds a mask column and per-image scores")
    gr.add_argument("--train", help="labeled folder root/<class>/<image> to fit each model's linear classifier on")
    gr.add_argument("--classifiers", help="folder of classifiers <model name>.pth: loaded, or fitted and saved")
    gr.add_argument("--target", choices=TARGETS, help="class to explain (default: true with class folders)")
    gr.add_argument("--smooth", type=float, default=1.0, help="Gaussian sigma, input pixels (default: 1, 0: none)")
    gr.add_argument("--mask-out", type=float, metavar="T", help="show the map thresholded at T of its 99th pct")
    gr.set_defaults(run=gradients)

    sa = sub.add_parser("saliency", help="each saliency method's map of the same images")
    sa.add_argument("--images", required=True, help="image folder")
    sa.add_argument("--masks", help="true masks mirroring --images: adds a mask column")
    sa.add_argument("--methods", default="rbd,gs,mc", help="comma-separated methods (default: rbd,gs,mc)")
    sa.add_argument("--basnet-weights", help="BASNet weights file: adds the basnet column")
    sa.add_argument("--small-images", action="store_true", help="RBD/GS settings for ~64 px images (the demo's)")
    sa.set_defaults(run=saliency)

    bg = sub.add_parser("backgrounds", help="the backgrounds benchmark's variants of a few images")
    bg.add_argument("--images", required=True, help="labeled image folder root/<class>/<image>")
    bg.add_argument("--masks", required=True, help="foreground masks mirroring --images")
    bg.add_argument("--frame", type=int, default=0, help="bring the images to this square frame (0: as they are)")
    bg.set_defaults(run=backgrounds)

    for sp, out in ((nn, "neighbors.png"), (gr, "gradients.png"), (sa, "saliency.png"), (bg, "backgrounds.png")):
        sp.add_argument("--num", type=int, default=6, help="images, one row each (default: 6)")
        sp.add_argument("--random", action="store_true", help="draw the images at random instead of the first ones")
        sp.add_argument("--seed", type=int, default=0, help="seed of the image draw (default: 0)")
        sp.add_argument("--out", default=out, help=f"PNG to write (default: {out})")
        sp.add_argument(
            "--cell", type=int, nargs=2, metavar=("H", "W"), help="cell size in pixels (default: the figure's)"
        )
    for sp in (nn, gr):
        add_model_arguments(sp)
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
    samples = load_samples(args.images, args.masks, relpaths)
    texture = None
    if args.textures:
        paths = [os.path.join(args.textures, p) for p in list_images(args.textures)]
        texture = texture_source(paths, lambda path: np.asarray(load_rgb(path)))
    figure = copy_paste_figure(samples, texture, args.threshold, args.seed, not args.no_gaussian)
    save(figure, args.out, f"{len(samples)} images")


def rows(folder: str, args: argparse.Namespace) -> LabeledImages:
    """The images of ``folder`` that the figure shows, one per row."""
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    images = LabeledImages.from_folder(folder)
    return images.subset(pick(list(range(len(images))), args.num, args.seed, args.random))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cell(args: argparse.Namespace) -> dict:
    """The figure functions' ``cell`` keyword, when --cell is given."""
    return {"cell": tuple(args.cell)} if args.cell else {}


def save(figure: np.ndarray, out: str, what: str) -> None:
    write_png(out, figure)
    print(f"wrote {out} ({figure.shape[1]}x{figure.shape[0]}, {what})")


def neighbors(args: argparse.Namespace) -> None:
    queries, gallery = rows(args.queries, args), LabeledImages.from_folder(args.gallery)
    found = {
        m.name: model_neighbors(m, queries, gallery, args.k, device())
        for m in load_models(args.model, args.size, args.space)
    }
    save(
        neighbors_figure(queries, gallery, found, **cell(args)),
        args.out,
        f"{len(queries)} queries, {len(found)} models",
    )


def gradients(args: argparse.Namespace) -> None:
    images = rows(args.images, args)
    target = args.target or ("true" if images.labeled else "predicted")
    train = LabeledImages.from_folder(args.train) if args.train else None
    explained = [
        Explained(m, *classifier_for(m, train, args.classifiers or "", device()))
        for m in load_models(args.model, args.size)
    ]
    figure = gradients_figure(images, explained, target, args.masks, args.smooth, args.mask_out, device(), **cell(args))
    save(figure, args.out, f"{len(images)} images, {len(explained)} models, {target} class")


def saliency(args: argparse.Namespace) -> None:
    images = rows(args.images, args)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    methods = {n: build_saliency(n, **(small_image_options(n) if args.small_images else {})) for n in names}
    if args.basnet_weights:
        methods["basnet"] = build_saliency("basnet", weights=args.basnet_weights)
    save(
        saliency_figure(images, methods, args.masks, **cell(args)),
        args.out,
        f"{len(images)} images, {len(methods)} methods",
    )


def backgrounds(args: argparse.Namespace) -> None:
    test = masked_test_set(LabeledImages.from_folder(args.images), args.masks, frame=args.frame)
    shown = pick(list(range(len(test.images))), args.num, args.seed, args.random)
    save(backgrounds_figure(test, shown, args.seed, **cell(args)), args.out, f"{len(shown)} images")


def main(args: argparse.Namespace) -> None:
    args.run(args)


if __name__ == "__main__":
    try:
        main(parse_args())
    except (OSError, ValueError, KeyError) as exc:  # missing folders, masks and methods, unreadable files
        sys.exit(f"error: {exc}")
