#!/usr/bin/env python
"""The paper's Table 2 ablations at small scale: every setting x seed, tables beside the paper's.

Runs are ordinary pretraining runs of the embedded set; finished ones (with result.json) are
skipped, so rerunning a killed reproduction continues it. Tables print as markdown and go to
<output>/reproduce.json.

    python tools/reproduce.py                              # reduced preset on the CPU (about 1 hour on 2 quiet cores)
    python tools/reproduce.py --preset full --device cuda  # the small-scale setting for one GPU machine
    python tools/reproduce.py --seeds 0,1,2 --epochs 40 --settings baseline,rbd,true
"""

from __future__ import annotations

import argparse
import os
import sys

# This script is named like the package it drives: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402

from pretrain.reproduce import PRESETS, SETTINGS, TABLE2, available_settings, reproduce, table_settings  # noqa: E402
from pretrain.utils.logger import setup_logger  # noqa: E402

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_CONFIG = os.path.join(REPO, "configs", "pretrain", "demo.yaml")
SHARED_DATA = os.environ.get("DILO_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _settings(text: str) -> list[str]:
    names = text.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown settings {unknown}; known: {','.join(SETTINGS)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEFAULT_CONFIG, metavar="FILE", help="base config (default: the demo)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="reduced", help="schedule, seeds and parallel runs")
    p.add_argument("--seeds", type=_ints, help="training seeds, comma-separated: 0,1,2 (default: the preset's)")
    p.add_argument("--epochs", type=int, help="SOLVER.EPOCHS, lr steps at 75%% and 90%% (default: the preset's)")
    p.add_argument("--settings", type=_settings, help=f"a subset of Table 2's, comma-separated: {','.join(SETTINGS)}")
    p.add_argument("--output", help="folder of runs and reproduce.json (default: output/reproduce/<preset>)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--jobs", type=int, help="runs at a time (default: the preset's)")
    p.add_argument(
        "--texture-root",
        default=os.path.join(SHARED_DATA, "textures", "dtd"),
        help="texture images for Table 2 (c); its column is skipped when the folder is absent",
    )
    p.add_argument("--report-only", action="store_true", help="tabulate the finished runs; train nothing")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every run")
    return p.parse_args(argv)


def epoch_opts(epochs: int) -> list[str]:
    """The demo's schedule shape (lr x0.1 at 75% and 90% of training) for another length."""
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {epochs}")
    return ["SOLVER.EPOCHS", str(epochs), "SOLVER.STEPS", f"({round(0.75 * epochs)}, {round(0.9 * epochs)})"]


def main(args: argparse.Namespace) -> dict:
    preset = PRESETS[args.preset]
    output = args.output or os.path.join("output", "reproduce", args.preset)
    setup_logger(output)
    settings, notes = available_settings(args.settings or table_settings(TABLE2), args.texture_root)
    opts = [*preset.opts, *(epoch_opts(args.epochs) if args.epochs else []), *args.opts]
    report = reproduce(
        args.config_file,
        output,
        settings,
        args.seeds or list(preset.seeds),
        opts,
        args.device,
        args.jobs or preset.jobs,
        args.texture_root,
        notes=tuple(notes),
        train=not args.report_only,
    )
    print(f"\nTable 2 at small scale ({args.preset} preset: {preset.about}; overrides {' '.join(opts)})")
    print(f"seeds {report['seeds']}, {report['trained']} runs trained, {report['seconds'] / 60:.1f} min\n")
    print(report["tables"])
    for note in notes:
        print(f"\nnote: {note}")
    if report["missing"]:
        print(f"\nnot finished ({len(report['missing'])} runs): {' '.join(report['missing'])}")
    print(f"\nJSON: {os.path.join(output, 'reproduce.json')}")
    return report


if __name__ == "__main__":
    main(parse_args())
