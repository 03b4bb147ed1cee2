#!/usr/bin/env python
"""Scale rehearsal: every stage that grows with the data, at ImageNet's sizes or known fractions,
with peak memory and time per stage, fitted in N and extrapolated to ImageNet (docs/scale.md).

    python tools/scale_rehearsal.py                                  # a few minutes on a CPU
    python tools/scale_rehearsal.py --fractions 0.01 0.02 0.04 --device cuda --output output/scale

File trees (1,000 class folders of 1 px images and masks) are made under --tmp and removed;
probe rows and trees use --fractions of ImageNet train (1,281,167), the memory bank and the kNN
monitor --bank-fractions (1.0 is the full bank). Writes OUTPUT/scale.json and prints the tables.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import _import_path  # noqa: F401
import torch

from pretrain.benchmark.scale import as_json, format_tables, run_rehearsal
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.005, 0.01, 0.02], help="of ImageNet train")
    p.add_argument("--bank-fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="of ImageNet train")
    p.add_argument("--device", default="cpu", help="where the bank, kNN and feature batches live")
    p.add_argument("--tmp", default=tempfile.gettempdir(), help="folder for the file trees (removed after)")
    p.add_argument("--output", default="output/scale", metavar="DIR")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="dilo-scale-", dir=args.tmp) as root:
        measurements, extrapolations = run_rehearsal(
            root, args.fractions, args.bank_fractions, torch.device(args.device)
        )
    result = {"device": args.device, "torch_threads": torch.get_num_threads(), **as_json(measurements, extrapolations)}
    write_json(os.path.join(args.output, "scale.json"), result)
    print(format_tables(measurements, extrapolations))
    return result


if __name__ == "__main__":
    run_tool("scale_rehearsal", main, parse_args())
