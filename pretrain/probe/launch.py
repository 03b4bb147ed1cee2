"""What the probe tools share: arguments (--config-file or --dataset, KEY VALUE overrides) and setup."""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

import torch
from fvcore.common.config import CfgNode

from pretrain.config import config_fields
from pretrain.data import LabeledImages
from pretrain.models import BackboneSpec
from pretrain.models.frozen import FrozenModel
from pretrain.models.weights import load_frozen
from pretrain.utils import comm, provenance
from pretrain.utils.atomic import remove_stale_temporaries, write_json
from pretrain.utils.cli import parse_with_overrides
from pretrain.utils.logger import setup_logger

from .defaults import KNN_KEYS, UNRECORDED, load_probe_config

CONFIGS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "probe"))
DATASETS = ("imagenet", "places205", "places365", "folder")


def parse_probe_args(doc: str, argv: list[str] | None = None, resume: bool = False) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config-file", default="", metavar="FILE", help="YAML config (configs/probe/*.yaml)")
    src.add_argument("--dataset", choices=DATASETS, help="shorthand for --config-file configs/probe/<dataset>.yaml")
    if resume:
        p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/probe_last.pth")
    return parse_with_overrides(p, argv, "MODEL.WEIGHTS r50.pth")


def config_file(args: argparse.Namespace) -> str:
    return os.path.join(CONFIGS, f"{args.dataset}.yaml") if args.dataset else args.config_file


def setup_probe(args: argparse.Namespace, name: str) -> tuple[CfgNode, torch.device]:
    """Config, process group, logger and OUTPUT_DIR/config.yaml."""
    cfg = load_probe_config(config_file(args), args.opts)
    device = comm.init_distributed()
    logger: logging.Logger = setup_logger(cfg.OUTPUT_DIR, comm.get_rank())
    logger.info("%s: config %s on %s x %d", name, config_file(args) or "<defaults>", device, comm.get_world_size())
    if comm.is_main_process():
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        remove_stale_temporaries(cfg.OUTPUT_DIR)
        with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
            f.write(cfg.dump())
    return cfg, device


def probe_model(cfg: CfgNode, device: torch.device, space: str = "auto") -> FrozenModel:
    """MODEL.WEIGHTS (a file of any kind tools accept, or "random") at MODEL.ALEXNET_LAYER, on ``device``.

    "random" is MODEL.BACKBONE seeded with SEED; INPUT.MEAN / STD normalize for files without a config.
    """
    if not cfg.MODEL.WEIGHTS:
        raise ValueError(
            "MODEL.WEIGHTS is empty: give a pretraining checkpoint, a converted or torchvision .pth, or 'random'"
        )
    b = cfg.MODEL.BACKBONE
    return load_frozen(
        cfg.MODEL.WEIGHTS,
        random=BackboneSpec(b.NAME, width=b.WIDTH, cifar_stem=b.CIFAR_STEM),
        seed=cfg.SEED,
        mean=cfg.INPUT.MEAN,
        std=cfg.INPUT.STD,
        space=space,
        layer=cfg.MODEL.ALEXNET_LAYER,
    ).to(device)


def probe_record(
    kind: str, cfg: CfgNode, net: FrozenModel, train: LabeledImages, val: LabeledImages
) -> provenance.Record:
    """What a probe's numbers depend on (:mod:`pretrain.utils.provenance`): every key but ``UNRECORDED`` (and, for
    the linear probe, the kNN keys it does not read), the weights' fingerprint, and the listings with labels of
    both splits. A linear probe's checkpoint carries it, so ``--resume`` continues only the same probe."""
    leave_out = (*UNRECORDED, *KNN_KEYS) if kind == "linear probe" else UNRECORDED
    inputs = {
        "input.weights": net.fingerprint,
        "input.train_images": provenance.digest([*train.paths, *map(str, train.labels.tolist())]),
        "input.val_images": provenance.digest([*val.paths, *map(str, val.labels.tolist())]),
    }
    return provenance.Record.of(kind, {**config_fields(cfg, leave_out), **inputs})


def write_results(
    cfg: CfgNode,
    name: str,
    result: dict[str, Any],
    num_classes: int,
    sizes: tuple[int, int],
    start: float,
    record: provenance.Record,
) -> dict[str, Any]:
    """``result`` plus what every probe reports (weights, classes, image counts, seconds, the probe's ``record``),
    as OUTPUT_DIR/``name``."""
    summary = {
        **result,
        "weights": cfg.MODEL.WEIGHTS,
        "num_classes": num_classes,
        "train_images": sizes[0],
        "val_images": sizes[1],
        "seconds": round(time.perf_counter() - start, 1),
        "provenance": record.to_json(),
    }
    if comm.is_main_process():
        write_json(os.path.join(cfg.OUTPUT_DIR, name), summary)
    return summary
