#!/usr/bin/env python
"""Training throughput of ResNet-50 at 224 px on synthetic input: the plain network, the
instance-discrimination step (loss + bank) with K = 4096 / 65536, per-sample or shared negatives, and
a MoCo v2 step (key encoder and a queue of 65,536 keys), each with its peak device memory.
The logic lives in :mod:`pretrain.benchmark.train_step`.

    python tools/bench_pretrain.py                          # GPU if present: bf16 + channels_last
    python tools/bench_pretrain.py --batch 32 --iters 3     # a quick look on a CPU

Prints one JSON object per setting, then a table; ``relative`` is images/s over the plain step.
"""

from __future__ import annotations

import argparse
import json

import _import_path  # noqa: F401
import torch

from pretrain.benchmark.train_step import StepSetup, format_table, measure
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--bank-size", type=int, default=1_281_167, help="N (ImageNet-1k's training set)")
    p.add_argument("--no-amp", action="store_true", help="float32 even on a GPU")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    on_gpu = device.type == "cuda"
    setup = StepSetup(
        args.backbone,
        args.batch,
        args.size,
        args.iters,
        args.warmup,
        args.bank_size,
        on_gpu and not args.no_amp,
        on_gpu,
    )
    rows = []
    for row in measure(setup, device):
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n" + format_table(rows))
    return rows


if __name__ == "__main__":
    run_tool("bench_pretrain", main, parse_args())
