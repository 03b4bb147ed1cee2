#!/usr/bin/env python
"""Convert a ResNet-50 to detectron2 (.pkl) and to a plain torchvision backbone (.pth).

The input is a dilo pretraining checkpoint (single-process or DDP), a converted backbone .pth
or torchvision's supervised ResNet-50 weights. Anything else is refused with the reason.

    python tools/convert.py output/dilo_R50/checkpoint_last.pth output/dilo_R50.pkl
    python tools/convert.py resnet50-0676ba61.pth output/supervised_R50.pkl     # torchvision's weights
    python detection/train_net.py --config-file configs/detection/voc07_R50_C4_9k.yaml MODEL.WEIGHTS output/dilo_R50.pkl
"""

from __future__ import annotations

import argparse
import os
import time

import _import_path  # noqa: F401

from detection.convert import convert, save_detectron2, save_torchvision
from pretrain.utils.cli import run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="pretraining checkpoint or ResNet-50 state dict (.pth)")
    p.add_argument("output", help="detectron2 weights to write (.pkl), for MODEL.WEIGHTS")
    p.add_argument(
        "--torchvision", metavar="PTH", help="torchvision backbone to write (default: OUTPUT with .torchvision.pth)"
    )
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> dict[str, str]:
    start = time.perf_counter()
    pth = args.torchvision or os.path.splitext(args.output)[0] + ".torchvision.pth"
    outputs = {"detectron2": args.output, "torchvision": pth}
    if os.path.abspath(args.input) in map(os.path.abspath, outputs.values()):
        raise SystemExit(f"refusing to overwrite the input {args.input!r}: choose another output path")
    if os.path.abspath(args.output) == os.path.abspath(pth):
        raise SystemExit(f"--torchvision {pth!r} is the detectron2 output too: give the two files different paths")
    try:
        conversion = convert(args.input)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"convert: {e}") from e
    save_detectron2(conversion, args.output)
    save_torchvision(conversion, pth)
    print(conversion.summary(outputs))
    print(f"  took {time.perf_counter() - start:.1f} s")
    return outputs


if __name__ == "__main__":
    run_tool("convert", main, parse_args())
