#!/usr/bin/env python
"""The backgrounds benchmark (ImageNet-9's protocol): how much a model's features rely on the background.

A linear classifier is fitted on each model's frozen features of the Original training images, then
scores the test images in every variant: Original, Only-FG, No-FG, Only-BG-B, Only-BG-T, Mixed-Same,
Mixed-Rand, Mixed-Next; BG-Gap = Mixed-Same - Mixed-Rand; the challenge accuracy is the share of
foregrounds classified right on every background of the test set (sampled with --challenge-backgrounds,
which the output says). Protocol and choices: pretrain/diagnosis/backgrounds.py.

    # the embedded set of a config (classifier on train; variants of val from its true masks)
    python tools/backgrounds.py --model demo=output/demo/model_final.pth
    python tools/backgrounds.py --config-file configs/pretrain/demo_class_backgrounds.yaml --model ...
    # any labeled test folder with foreground masks (saliency masks: the variants inherit their errors)
    python tools/backgrounds.py --model m=CKPT --train TRAIN --images TEST --masks TEST_MASKS --frame 224
    # the authors' released IN-9 test set (bg_challenge/), the classifier on the nine classes' training images
    python tools/backgrounds.py --model m=CKPT --train in9l/train --in9 bg_challenge --json in9.json

Models are NAME=PATH (or PATH) of a pretraining checkpoint, a MoCo, converted or torchvision .pth, or
NAME=random (MODEL.BACKBONE of the config, untrained, at its INPUT.SIZE). KEY VALUE overrides (and
--config-file) set the embedded set (DATA.EMBEDDED.*) and that backbone.
"""

from __future__ import annotations

import argparse
import os
import sys

import _import_path  # noqa: F401
import torch

from pretrain.config import load_config
from pretrain.data.build import embedded_spec
from pretrain.data.embedded import ensure_embedded
from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.background_benchmark import (
    built_benchmark,
    evaluate,
    format_table,
    in9_benchmark,
    masked_test_set,
)
from pretrain.diagnosis.backgrounds import VARIANTS
from pretrain.diagnosis.models import load_models, model_spec
from pretrain.models.weights import BackboneSpec
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import parse_with_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, action="append", metavar="[NAME=]PATH", help="repeat per model")
    p.add_argument("--train", help="labeled folder root/<class>/<image> of Original training images")
    p.add_argument("--images", help="labeled test folder to build the variants from (needs --masks)")
    p.add_argument("--masks", help="foreground masks mirroring --images")
    p.add_argument("--true-masks", action="store_true", help="--masks are true masks (else: saliency, a warning)")
    p.add_argument("--in9", metavar="ROOT", help="the authors' IN-9 test set (bg_challenge/), read as released")
    p.add_argument("--frame", type=int, default=0, help="bring test images to this square frame (0: as they are)")
    p.add_argument("--challenge-backgrounds", type=int, default=100, help="backgrounds per foreground (0: all)")
    p.add_argument("--seed", type=int, default=0, help="draws of the mixed backgrounds and the challenge sample")
    p.add_argument("--size", type=int, help="input side (default: the checkpoint's INPUT.SIZE, else 224)")
    p.add_argument("--json", metavar="FILE", help="write every number here")
    p.add_argument("--config-file", default="", metavar="FILE", help="config of the embedded set (default: defaults)")
    args = parse_with_overrides(p, argv, "DATA.EMBEDDED.CLASS_BACKGROUNDS 0.8")
    if bool(args.images) != bool(args.masks):
        p.error("--images needs --masks")
    if (args.images or args.in9) and not args.train:
        p.error("--images and --in9 need --train (the Original training images of the same classes)")
    if args.images and args.in9:
        p.error("one test set at a time: --images or --in9")
    return args


def run_models(args: argparse.Namespace, device: torch.device) -> list[dict]:
    cfg = load_config(args.config_file, args.opts)
    b = cfg.MODEL.BACKBONE  # what NAME=random builds
    random = BackboneSpec(b.NAME, width=b.WIDTH, cifar_stem=b.CIFAR_STEM), cfg.INPUT.SIZE
    models = load_models(args.model, args.size, random=random)
    limit = args.challenge_backgrounds or None
    if args.in9:
        train = LabeledImages.from_folder(args.train)
        return evaluate(models, train, in9_benchmark(args.in9), device, args.seed, limit)
    if args.images:
        train = LabeledImages.from_folder(args.train)
        test_images = LabeledImages.from_folder(args.images, classes=train.classes)
        mask_root, masks = args.masks, "true" if args.true_masks else args.masks
        if not args.true_masks:
            print(f"warning: the variants inherit the errors of the masks in {args.masks} (not --true-masks)")
    else:
        root = ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
        train = LabeledImages.from_folder(os.path.join(root, "train"))
        test_images = LabeledImages.from_folder(os.path.join(root, "val"), classes=train.classes)
        mask_root, masks = os.path.join(root, "masks", "val"), "true"
    test = masked_test_set(test_images, mask_root, masks, args.frame)
    return evaluate(models, train, built_benchmark(test, args.seed), device, args.seed, limit)


def main(args: argparse.Namespace) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = run_models(args, device)
    print(format_table(results))
    if args.json:
        write_json(args.json, {"models": dict(map(model_spec, args.model)), "variants": VARIANTS, "results": results})
    return results


if __name__ == "__main__":
    try:
        main(parse_args())
    except (OSError, ValueError, KeyError) as exc:  # missing files, bad weights, unknown config keys
        sys.exit(f"error: {exc}")
