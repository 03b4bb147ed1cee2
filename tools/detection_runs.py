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
import sys
from functools import partial

import _import_path  # noqa: F401

from detection.runs import aggregate, finetune, format_table, run_seeds
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import parse_with_overrides, run_tool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="runs go to DIR/seed<s>, the summary to DIR")
    p.add_argument("--runs", type=int, default=3, help="number of seeds (1..N) when --seeds is not given")
    p.add_argument("--seeds", type=int, nargs="+", help="explicit seeds")
    p.add_argument("--num-gpus", type=int, default=1)
    p.add_argument("--datasets-root", default="", metavar="DIR", help="passed to train_net.py")
    p.add_argument("--collect-only", action="store_true", help="only aggregate the finished runs")
    return parse_with_overrides(p, argv, "SOLVER.MAX_ITER 100 (for every run)")


def main(args: argparse.Namespace) -> int:
    """Runs (unless --collect-only), prints and saves the summary; the exit status: 1 if a seed failed."""
    seeds = args.seeds or list(range(1, args.runs + 1))
    launch = {"num_gpus": args.num_gpus, "datasets_root": args.datasets_root, "opts": args.opts}
    finetune_seed = None if args.collect_only else partial(finetune, args.config_file, **launch)
    runs, failed = run_seeds(seeds, args.output_dir, finetune_seed)
    summary = aggregate(runs) if runs else {}
    if runs:
        print(format_table(runs, summary))
    for run, why in failed.items():
        print(f"{run} failed: {why}")
    payload = {"config": args.config_file, "opts": args.opts, "runs": runs, "summary": summary, "failed": failed}
    write_json(os.path.join(args.output_dir, "summary.json"), payload)
    return 1 if failed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(run_tool("detection_runs", main, parse_args()))
