#!/usr/bin/env python
"""The backgrounds benchmark (ImageNet-9's protocol): how much a model's features rely on the background.

A linear classifier is fitted on each model's frozen features of the Original training images, then
scores the test images in every variant: Original, Only-FG, No-FG, Only-BG-B, Only-BG-T, Mixed-Same,
Mixed-Rand, Mixed-Next; BG-Gap = Mixed-Same - Mixed-Rand; the challenge accuracy is the share of
foregrounds classified right on every background of the test set (sampled with --challenge-backgrounds,
which the output says). Protocol and choices: pretrain/diagnosis/backgrounds.py. The classifier is the
fast probe (L-BFGS on whole-image features, seconds) or, with --probe protocol, the paper's linear probe
(SGD on RandomResizedCrop views, --probe-config's schedule: 100 epochs by default), kept in --probe-dir.

    # the embedded set of a config (classifier on train; variants of val from its true masks)
    python tools/backgrounds.py --model demo=output/demo/model_final.pth
    python tools/backgrounds.py --config-file configs/pretrain/demo_class_backgrounds.yaml --model ...
    python tools/backgrounds.py --model demo=output/demo/model_final.pth --probe protocol
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
from fvcore.common.config import CfgNode
from torch import nn

from pretrain.config import load_config
from pretrain.data.build import embedded_spec
from pretrain.data.embedded import ensure_embedded
from pretrain.data.labeled import LabeledImages
from pretrain.diagnosis.background_benchmark import (
    Benchmark,
    built_benchmark,
    embedded_benchmark,
    evaluate,
    format_table,
    in9_benchmark,
    masked_test_set,
)
from pretrain.diagnosis.backgrounds import VARIANTS, in9_root
from pretrain.diagnosis.models import add_model_arguments, load_models, model_spec
from pretrain.models.frozen import FrozenModel
from pretrain.models.weights import BackboneSpec
from pretrain.probe import load_probe_config
from pretrain.probe.protocol import protocol_classifier
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import parse_with_overrides


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--train", help="labeled folder root/<class>/<image> of Original training images")
    p.add_argument("--images", help="labeled test folder to build the variants from (needs --masks)")
    p.add_argument("--masks", help="foreground masks mirroring --images")
    p.add_argument("--true-masks", action="store_true", help="--masks are true masks (else: saliency, a warning)")
    p.add_argument("--in9", metavar="ROOT", help="the authors' IN-9 test set (bg_challenge/), read as released")
    p.add_argument("--frame", type=int, default=0, help="bring test images to this square frame (0: as they are)")
    p.add_argument("--challenge-backgrounds", type=int, default=100, help="backgrounds per foreground (0: all)")
    p.add_argument(
        "--probe",
        choices=("fast", "protocol"),
        default="fast",
        help="the classifier: fast (L-BFGS on whole-image features) or protocol (the paper's SGD linear probe)",
    )
    p.add_argument("--probe-config", default="", metavar="FILE", help="--probe protocol's config (default: paper's)")
    p.add_argument("--probe-dir", default=os.path.join("output", "backgrounds"), help="--probe protocol's probes")
    p.add_argument("--seed", type=int, default=0, help="draws of the mixed backgrounds and the challenge sample")
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


def benchmark_data(args: argparse.Namespace, cfg: CfgNode) -> tuple[LabeledImages, Benchmark, str]:
    """The Original training images, the benchmark, and the folder of its Original test images."""
    if args.in9:
        original = os.path.join(in9_root(args.in9), "original", "val")
        return LabeledImages.from_folder(args.train), in9_benchmark(args.in9), original
    if args.images:
        train = LabeledImages.from_folder(args.train)
        test_images = LabeledImages.from_folder(args.images, classes=train.classes)
        masks = "true" if args.true_masks else args.masks
        if not args.true_masks:
            print(f"warning: the variants inherit the errors of the masks in {args.masks} (not --true-masks)")
        test = masked_test_set(test_images, args.masks, masks, args.frame)
        return train, built_benchmark(test, args.seed), args.images
    root = ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
    return (*embedded_benchmark(root, args.seed), os.path.join(root, "val"))


class ProtocolProbe:
    """Fits a model's classifier by the paper's probe (``--probe-config``; default: the protocol's SGD, 100 epochs)
    on the Original training images, at the model's input size and statistics, in ``--probe-dir``/NAME (a finished
    probe there with the same record is reused); keeps each probe's own results in ``results``."""

    def __init__(self, args: argparse.Namespace, train_root: str, val_root: str, device: torch.device):
        self.args, self.train_root, self.val_root, self.device = args, train_root, val_root, device
        self.paths = dict(map(model_spec, args.model))
        self.results: dict[str, dict] = {}

    def __call__(self, model: FrozenModel) -> nn.Module:
        at = os.path.join(self.args.probe_dir, model.name)
        os.makedirs(at, exist_ok=True)
        mean, std = (tuple(t.flatten().tolist()) for t in (model.mean, model.std))
        opts = ["MODEL.WEIGHTS", self.paths[model.name], "DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", self.train_root,
                "DATA.VAL_ROOT", self.val_root, "INPUT.SIZE", model.size, "INPUT.TEST_RESIZE", model.size,
                "INPUT.MEAN", mean, "INPUT.STD", std, "OUTPUT_DIR", at]  # fmt: skip
        cfg = load_probe_config(self.args.probe_config, [str(o) for o in opts])
        classifier, self.results[model.name] = protocol_classifier(model, cfg, self.device)
        return classifier


def run_models(args: argparse.Namespace, device: torch.device) -> list[dict]:
    cfg = load_config(args.config_file, args.opts)
    b = cfg.MODEL.BACKBONE  # what NAME=random builds
    random = BackboneSpec(b.NAME, width=b.WIDTH, cifar_stem=b.CIFAR_STEM), cfg.INPUT.SIZE
    models = load_models(args.model, args.size, random=random)
    train, benchmark, original = benchmark_data(args, cfg)
    probe = ProtocolProbe(args, train.root, original, device) if args.probe == "protocol" else None
    results = evaluate(models, train, benchmark, device, args.seed, args.challenge_backgrounds or None, probe)
    for result in results:
        result["probe"] = args.probe
        if probe is not None:  # the probe's own test: Original, center crop
            result["probe_result"] = {k: probe.results[result["model"]][k] for k in ("top1", "mode", "epochs")}
    return results


def main(args: argparse.Namespace) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = run_models(args, device)
    print(format_table(results))
    for r in results:
        if "probe_result" in r:
            p = r["probe_result"]
            about = f"the paper's probe ({p['mode']}, {p['epochs']} epochs)"
            print(f"{r['model']}: {about}, Original top-1 {p['top1']:.1f} % on its own center crops")
    if args.json:
        write_json(args.json, {"models": dict(map(model_spec, args.model)), "variants": VARIANTS, "results": results})
    return results


if __name__ == "__main__":
    try:
        main(parse_args())
    except (OSError, ValueError, KeyError) as exc:  # missing files, bad weights, unknown config keys
        sys.exit(f"error: {exc}")
