#!/usr/bin/env python
"""Finetune one config with several seeds, then print and save mean ± std of AP50 / AP / AP75 (Table 5).

Each run is ``detection/train_net.py`` with ``SEED s OUTPUT_DIR <output-dir>/seed<s>``, started
with ``--resume``: a rerun continues unfinished runs and skips finished ones (those with a
``results.json``). A seed whose run fails is named and skipped: the others still run, the
summary covers those that finished and lists the failures, and the tool then exits with status 1.
``--collect-only`` aggregates runs made elsewhere (e.g. in parallel jobs).

    python tools/detection_runs.py --runs 3 --num-gpus 8 --config-file configs/detection/voc07_R50_C4_9k.yaml \\
        --output-dir output/detection/voc07_dilo MODEL.WEIGHTS output/dilo_R50.pkl
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

# Keep this script's folder off the import path (see tools/pretrain.py).
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

from detection.runs import aggregate, format_table, run_seeds  # noqa: E402
from pretrain.utils.atomic import write_json  # noqa: E402
from pretrain.utils.cli import parse_with_overrides, run_tool  # noqa: E402

TRAIN_NET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "detection", "train_net.py")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="runs go to DIR/seed<s>, the summary to DIR")
    p.add_argument("--runs", type=int, default=3, help="number of seeds (1..N) when --seeds is not given")
    p.add_argument("--seeds", type=int, nargs="+", help="explicit seeds")
    p.add_argument("--num-gpus", type=int, default=1)
    p.add_argument("--datasets-root", metavar="DIR", help="passed to train_net.py")
    p.add_argument("--collect-only", action="store_true", help="only aggregate the finished runs")
    return parse_with_overrides(p, argv, "SOLVER.MAX_ITER 100 (for every run)")


def run_seed(args: argparse.Namespace, seed: int, out: str) -> None:
    cmd = [sys.executable, TRAIN_NET, "--config-file", args.config_file, "--num-gpus", str(args.num_gpus), "--resume"]
    if args.datasets_root:
        cmd += ["--datasets-root", args.datasets_root]
    subprocess.run([*cmd, *args.opts, "SEED", str(seed), "OUTPUT_DIR", out], check=True)


def main(args: argparse.Namespace) -> dict:
    seeds = args.seeds or list(range(1, args.runs + 1))
    runs, failed = run_seeds(seeds, args.output_dir, None if args.collect_only else lambda s, o: run_seed(args, s, o))
    summary = aggregate(runs) if runs else {}
    if runs:
        print(format_table(runs, summary))
    for run, why in failed.items():
        print(f"{run} failed: {why}")
    payload = {"config": args.config_file, "opts": args.opts, "runs": runs, "summary": summary, "failed": failed}
    write_json(os.path.join(args.output_dir, "summary.json"), payload)
    return payload


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(1 if run_tool("detection_runs", main, parse_args())["failed"] else 0)
