#!/usr/bin/env python
"""Weighted kNN evaluation (k 200, T 0.07 by default) of a frozen network on a train and a val set.

    python tools/knn_eval.py --dataset folder MODEL.WEIGHTS output/pretrain/checkpoint_last.pth \\
        DATA.TRAIN_ROOT /data/imagenet/train DATA.VAL_ROOT /data/imagenet/val TEST.KNN_K 200 TEST.KNN_TEMPERATURE 0.07
    torchrun --nproc_per_node 8 tools/knn_eval.py --dataset imagenet MODEL.WEIGHTS r50.pth TEST.KNN_FEATURES penultimate

Writes OUTPUT_DIR/knn.json (top-1, top-5). Features come from (and go to) the same cache as the
linear probe's (FEATURES.CACHE_DIR), so a kNN after a fast probe extracts nothing.
"""

from __future__ import annotations

import argparse
import os

import _import_path  # noqa: F401

from pretrain.probe import run_knn
from pretrain.probe.launch import parse_probe_args, setup_probe
from pretrain.utils import comm
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_probe_args(__doc__, argv)


def main(args: argparse.Namespace) -> dict:
    cfg, device = setup_probe(args, "kNN")
    result = run_knn(cfg, device)
    if comm.is_main_process():
        print(
            f"kNN (k {result['k']}, T {result['temperature']}, {result['features']} features) on "
            f"{result['val_images']} images, {result['num_classes']} classes: top-1 {result['top1']:.2f} %, "
            f"top-5 {result['top5']:.2f} % -> {os.path.join(cfg.OUTPUT_DIR, 'knn.json')}"
        )
    comm.destroy_distributed()
    return result


if __name__ == "__main__":
    run_tool("knn_eval", main, parse_args())
