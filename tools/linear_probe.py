#!/usr/bin/env python
"""Linear probe on a frozen backbone: the paper's protocol (SGD lr 30, 100 epochs) or the fast cached-feature probe.

    python tools/linear_probe.py --dataset imagenet MODEL.WEIGHTS output/pretrain/checkpoint_last.pth \\
        DATA.TRAIN_ROOT /data/imagenet/train DATA.VAL_ROOT /data/imagenet/val
    torchrun --nproc_per_node 8 tools/linear_probe.py --dataset places205 MODEL.WEIGHTS r50.pth DATA.ROOT ...
    python tools/linear_probe.py --dataset folder MODEL.WEIGHTS r50.pth DATA.TRAIN_ROOT A DATA.VAL_ROOT B \\
        FAST.ENABLED True
    python tools/linear_probe.py --dataset imagenet --resume MODEL.WEIGHTS ...  # from OUTPUT_DIR/probe_last.pth

Writes OUTPUT_DIR/linear_probe.json (top-1, top-5), metrics.jsonl, log.txt and config.yaml.
"""

from __future__ import annotations

import argparse
import os

import _import_path  # noqa: F401

from pretrain.probe import run_linear_probe
from pretrain.probe.launch import parse_probe_args, setup_probe
from pretrain.utils import comm
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_probe_args(__doc__, argv, resume=True)


def main(args: argparse.Namespace) -> dict:
    cfg, device = setup_probe(args, "linear probe")
    result = run_linear_probe(cfg, device, args.resume)
    if comm.is_main_process():
        crops = "ten crops" if result["ten_crop"] else "center crop"
        print(
            f"linear probe ({result['mode']}, {result['epochs']} epochs, {crops}) on {result['val_images']} images, "
            f"{result['num_classes']} classes: top-1 {result['top1']:.2f} %, top-5 {result['top5']:.2f} % "
            f"-> {os.path.join(cfg.OUTPUT_DIR, 'linear_probe.json')}"
        )
    comm.destroy_distributed()
    return result


if __name__ == "__main__":
    run_tool("linear_probe", main, parse_args())
