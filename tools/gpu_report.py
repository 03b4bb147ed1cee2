#!/usr/bin/env python
"""The GPU report: the training step, the data path, DDP over NCCL, the probe and kNN at ImageNet's
scale and a short reproduce run, measured on this machine's GPU in one command and written as one
report (OUTPUT/report.json and report.md). The logic lives in :mod:`pretrain.benchmark.gpu_report`.

    python tools/gpu_report.py                  # prints the plan (under 8 minutes on one H100), then runs it
    python tools/gpu_report.py --plan           # the plan only
    python tools/gpu_report.py --quick          # every part at a tiny size on the CPU: the suite's check
    python tools/gpu_report.py --parts train_step scale

Each part runs in its own process under its own budget; a part that fails or runs over is reported with
its error and the rows it measured, and the report goes on. Exit status 1 if any part did not finish.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import _import_path  # noqa: F401

# Parts run in spawned processes, which import this file again, and so do their worker pools: what this
# file imports at the top, each of them imports. torch and the library are imported in main().
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "configs", "pretrain", "demo.yaml")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every part at a tiny size, on the CPU")
    p.add_argument("--parts", nargs="+", help="a subset of the parts the plan lists (default: all), in this order")
    p.add_argument("--plan", action="store_true", help="print the plan and exit")
    p.add_argument("--output-dir", default=os.path.join(REPO, "output", "gpu_report"))
    p.add_argument(
        "--work-dir", help="scratch folder (photos, masks, runs), new or empty; default: a temporary one, removed"
    )
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> dict | None:
    import torch

    from pretrain.benchmark.gpu_report import FULL, PARTS, QUICK, Context, plan, run_report

    sizes = QUICK if args.quick else FULL
    parts = args.parts or list(PARTS)
    print(plan(sizes, parts), flush=True)
    if args.plan:
        return None
    device = "cuda" if torch.cuda.is_available() and not args.quick else "cpu"
    if device == "cpu" and not args.quick:
        print("no GPU here: the full sizes on the CPU take far longer than the plan; --quick is the CPU check")
    with tempfile.TemporaryDirectory(prefix="dilo-gpu-report-") as scratch:
        ctx = Context(sizes, device, args.work_dir or scratch, DEMO)
        report = run_report(ctx, args.output_dir, parts, echo=lambda line: print(line, flush=True))
    print(f"\nreport: {os.path.join(args.output_dir, 'report.md')} and report.json")
    return report


if __name__ == "__main__":
    try:
        result = main(parse_args())
    except ValueError as exc:  # an unknown part, a work folder in use
        sys.exit(f"error: {exc}")
    if result is not None and any(p["status"] != "ok" for p in result["parts"]):
        sys.exit(1)
