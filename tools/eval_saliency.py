#!/usr/bin/env python
"""Evaluate salient-object maps against ground-truth masks: max / mean / adaptive F-beta and MAE.

Predictions are paired with masks by relative path without extension, so mirrored trees of PNG
maps and PNG/BMP/JPG masks match. Conventions are in pretrain/saliency/metrics.py.

    python tools/eval_saliency.py --gt data/ECSSD/masks --pred rbd=out/rbd --pred basnet=out/basnet
    python tools/eval_saliency.py --gt GT --pred mine=DIR --json out/eval.json --pr-curve out/pr.png
"""

from __future__ import annotations

import argparse
import sys

import _import_path  # noqa: F401

from pretrain.saliency.metrics import BETA2, draw_pr_curves, evaluate_folder, find_masks, format_table
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import run_tool


def method_arg(text: str) -> tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not (sep and name and folder):
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, got {text!r}")
    return name, folder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", required=True, metavar="GT_DIR", help="ground-truth masks (foreground > 128)")
    p.add_argument("--pred", required=True, action="append", type=method_arg, metavar="NAME=DIR",
                   help="a method's saliency maps; repeat for several methods")  # fmt: skip
    p.add_argument("--json", metavar="FILE", help="write all numbers, PR curves included, here")
    p.add_argument("--pr-curve", metavar="PNG", help="draw the methods' precision-recall curves here")
    p.add_argument("--allow-missing", action="store_true", help="skip masks without a prediction (and count them)")
    args = p.parse_args(argv)
    names = [name for name, _ in args.pred]
    if len(set(names)) != len(names):
        p.error(f"method names must be distinct, got {names}")
    return args


def main(args: argparse.Namespace) -> dict[str, dict]:
    try:
        gts = find_masks(args.gt)
        if not gts:
            raise ValueError(f"no masks found under {args.gt}")
        results = {name: evaluate(name, folder, gts, args.allow_missing) for name, folder in args.pred}
    except ValueError as e:
        raise SystemExit(f"eval_saliency: {e}") from e
    print(format_table(results))
    if args.json:
        methods = {
            name: {k: v.tolist() if hasattr(v, "tolist") else v for k, v in r.items()} for name, r in results.items()
        }
        write_json(args.json, {"gt": args.gt, "beta2": BETA2, "methods": methods}, indent=1)
    if args.pr_curve:
        draw_pr_curves(results, args.pr_curve)
    return results


def evaluate(name: str, folder: str, gts: dict[str, str], allow_missing: bool) -> dict:
    """One method's scores, with a warning for each thing done to its maps."""
    try:
        result = evaluate_folder(folder, gts, allow_missing, desc=name)
    except ValueError as e:
        raise ValueError(f"method {name!r}: {e}") from e
    if result["resized"]:
        print(
            f"warning: {name}: resized {result['resized']} predictions to their mask's size (bilinear)", file=sys.stderr
        )
    if result["missing"]:
        print(f"warning: {name}: skipped {result['missing']} masks without a prediction", file=sys.stderr)
    return result


if __name__ == "__main__":
    run_tool("eval_saliency", main, parse_args())
