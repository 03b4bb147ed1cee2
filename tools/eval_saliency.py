#!/usr/bin/env python
"""Evaluate salient-object maps against ground-truth masks: max / mean / adaptive F-beta and MAE.

Predictions are paired with masks by relative path without extension, so mirrored trees of PNG
maps and PNG/BMP/JPG masks match. Conventions are in pretrain/saliency/metrics.py.

    python tools/eval_saliency.py --gt data/ECSSD/masks --pred rbd=out/rbd --pred basnet=out/basnet
    python tools/eval_saliency.py --gt GT --pred mine=DIR --json out/eval.json --pr-curve out/pr.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tqdm import tqdm

# tools/pretrain.py is named like the package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

from pretrain.saliency.metrics import (  # noqa: E402
    BETA2,
    SaliencyEvaluator,
    draw_pr_curves,
    find_masks,
    format_table,
    read_mask,
    resize_to,
)
from pretrain.utils.cli import run_tool  # noqa: E402

SHOW_MISSING = 5


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


def evaluate_method(name: str, pred_dir: str, gts: dict[str, str], allow_missing: bool) -> dict:
    preds = find_masks(pred_dir)
    missing = [key for key in sorted(gts) if key not in preds]
    if missing and not allow_missing:
        raise ValueError(
            f"method {name!r}: {len(missing)} of {len(gts)} masks have no prediction under {pred_dir}, "
            f"e.g. {', '.join(missing[:SHOW_MISSING])} (relative paths without extension); "
            "pass --allow-missing to skip them"
        )
    evaluator, resized = SaliencyEvaluator(), 0
    for key in tqdm(sorted(set(gts) - set(missing)), desc=name, unit="img", disable=None):
        pred, gt = read_mask(preds[key], keep_depth=True), read_mask(gts[key])
        if pred.shape != gt.shape:
            pred, resized = resize_to(pred, gt.shape), resized + 1
        evaluator.update(pred, gt)
    if resized:
        print(f"warning: {name}: resized {resized} predictions to their mask's size (bilinear)", file=sys.stderr)
    if missing:
        print(f"warning: {name}: skipped {len(missing)} masks without a prediction", file=sys.stderr)
    return {"pred_dir": pred_dir, "missing": len(missing), "resized": resized, **evaluator.result()}


def main(args: argparse.Namespace) -> dict[str, dict]:
    gts = find_masks(args.gt)
    if not gts:
        raise ValueError(f"no masks found under {args.gt}")
    results = {name: evaluate_method(name, folder, gts, args.allow_missing) for name, folder in args.pred}
    print(format_table(results))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        methods = {
            name: {k: v.tolist() if hasattr(v, "tolist") else v for k, v in r.items()} for name, r in results.items()
        }
        with open(args.json, "w") as f:
            json.dump({"gt": args.gt, "beta2": BETA2, "methods": methods}, f, indent=1)
    if args.pr_curve:
        draw_pr_curves(results, args.pr_curve)
    return results


if __name__ == "__main__":
    try:
        run_tool("eval_saliency", main, parse_args())
    except ValueError as exc:
        sys.exit(f"error: {exc}")
