#!/usr/bin/env python
"""Submit a dilo tool to SLURM (through submitit): requeued with --resume after a preemption or a time limit.

Launcher flags first, then the tool and its own arguments, as you would pass them to tools/<tool>.py; the
tool's output folder is --output-dir (submitit's logs go to <output-dir>/submitit/<job id>).

    python tools/submit.py --nodes 2 --gpus-per-node 8 --partition learnfair --timeout 4320 \\
        --output-dir output/instdisc_R50 pretrain --config-file configs/pretrain/instdisc_R50.yaml \\
        DATA.TRAIN_ROOT /data/imagenet/train
    python tools/submit.py --gpus-per-node 8 --output-dir output/probe_in linear_probe --dataset imagenet \\
        MODEL.WEIGHTS output/instdisc_R50/model_final.pth

Needs submitit: pip install -e '.[cluster]'.
"""

from __future__ import annotations

import argparse
import sys

import _import_path  # noqa: F401

from pretrain.cluster import TOOLS, Resources


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output-dir", required=True, metavar="DIR", help="the tool's output folder, and the job's logs")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--tasks-per-node", type=int, help="default: one per GPU (one without GPUs)")
    p.add_argument("--cpus-per-task", type=int, default=10, help="for the DataLoader's workers")
    p.add_argument("--timeout", type=int, default=72 * 60, metavar="MINUTES", help="time limit of one try")
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--qos")
    p.add_argument("--max-requeues", type=int, default=3, help="tries that may end at the time limit")
    p.add_argument("--cluster", choices=["slurm", "local"], default="slurm", help="local: run here (for testing)")
    p.add_argument("tool", choices=sorted(TOOLS))
    p.add_argument("args", nargs=argparse.REMAINDER, help="the tool's own arguments")
    return p.parse_args(argv)


def main(args: argparse.Namespace) -> str:
    """Submits the job and returns its id."""
    try:
        from pretrain.cluster.slurm import submit
    except ImportError as e:
        sys.exit(f"submit: {e.name} is not installed: pip install -e '.[cluster]'")
    resources = Resources(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        tasks_per_node=args.tasks_per_node,
        cpus_per_task=args.cpus_per_task,
        timeout_min=args.timeout,
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        max_requeues=args.max_requeues,
    )
    try:
        job = submit(args.tool, args.args, args.output_dir, resources, args.cluster)
    except ValueError as e:
        sys.exit(f"submit: {e}")
    print(f"submitted {args.tool} as job {job.job_id}: log {job.paths.stdout}; output {args.output_dir}")
    return job.job_id


if __name__ == "__main__":
    main(parse_args())
