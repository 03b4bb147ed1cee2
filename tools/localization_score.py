#!/usr/bin/env python
"""Localization score of several models side by side: the share of class-score gradient energy on the object.

For every model and image set a linear classifier is fitted on the model's frozen penultimate
features of a labeled folder; each scored image's class logit is back-propagated to the pixels
and the score is the share of the squared gradient inside the true foreground mask (chance =
the mask's area share; lift = score / chance). With several models, each one's paired per-image
difference to the first model (mean and bootstrap 95% interval) follows the table. Definition
and rationale: pretrain/diagnosis/localization.py.

    # the embedded set (classifier on train, true classes and masks of val), from the config
    python tools/localization_score.py --model base=runs/demo_baseline/checkpoint_last.pth --model dilo=runs/demo/...
    # any images with true masks; classifier on a labeled folder; the predicted class is explained
    python tools/localization_score.py --model ... --no-embedded --images sod-dev/images --masks sod-dev/masks \\
        --train caltech20/101_ObjectCategories --json scores.json

Models are NAME=PATH (or PATH) of a pretraining checkpoint, a converted or a torchvision .pth.
KEY VALUE overrides (and --config-file) set the embedded set (DATA.EMBEDDED.*).
"""

from __future__ import annotations

import argparse
import os
import sys

import _import_path  # noqa: F401
import torch

from pretrain.config import load_config
from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.class_gradient import TARGETS
from pretrain.diagnosis.localization import (
    ScoreSet,
    embedded_score_set,
    format_differences,
    format_table,
    paired_differences,
    score_models,
)
from pretrain.diagnosis.models import add_model_arguments, load_models, model_spec
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import parse_with_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--no-embedded", action="store_true", help="do not score the embedded set")
    p.add_argument("--images", help="images with true masks to score (besides the embedded set)")
    p.add_argument("--masks", help="true masks mirroring --images (foreground >= 128)")
    p.add_argument("--train", help="labeled folder root/<class>/<image> for the classifier of --images")
    p.add_argument("--target", choices=TARGETS, help="class of --images to explain (default: true with class folders)")
    p.add_argument("--limit", type=int, default=0, help="score at most this many images per set (default: all)")
    p.add_argument("--json", metavar="FILE", help="write every number, per-image scores included, here")
    p.add_argument("--config-file", default="", metavar="FILE", help="config of the embedded set (default: defaults)")
    args = parse_with_overrides(p, argv, "DATA.EMBEDDED.CACHE_DIR /data")
    if bool(args.images) != bool(args.masks) or (args.images and not args.train):
        p.error("--images needs --masks and --train")
    if args.no_embedded and not args.images:
        p.error("nothing to score: give --images/--masks/--train or drop --no-embedded")
    return args


def score_sets(args: argparse.Namespace) -> list[ScoreSet]:
    sets = [] if args.no_embedded else [embedded_score_set(load_config(args.config_file, args.opts), args.limit)]
    if args.images:
        images = LabeledImages.from_folder(args.images, args.limit)
        target = args.target or ("true" if images.labeled else "predicted")
        name = os.path.join(*os.path.normpath(args.images).split(os.sep)[-2:])  # e.g. sod-dev/images
        sets.append(ScoreSet(name, LabeledImages.from_folder(args.train), images, args.masks, target))
    return sets


def main(args: argparse.Namespace) -> dict:
    models = load_models(args.model, args.size)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = score_models(models, score_sets(args), device)
    differences = {name: paired_differences(per_model) for name, per_model in results.items() if len(per_model) > 1}
    print(format_table(results))
    if differences:
        print(format_differences(differences))
    if args.json:
        out = {"models": dict(map(model_spec, args.model)), "sets": results, "paired_differences": differences}
        write_json(args.json, out, indent=1)
    return results


if __name__ == "__main__":
    try:
        main(parse_args())
    except (OSError, ValueError, KeyError) as exc:  # missing files, bad weights, unknown config keys
        sys.exit(f"error: {exc}")
