#!/usr/bin/env python
"""The paper's Table 2 ablations at small scale: every setting x seed, tables beside the paper's.

Runs are ordinary pretraining runs of the embedded set or of caltech20 (prepared once: 64 px
image folders and GS/MC/RBD masks under --cache-dir); finished ones (with result.json) are
skipped, so rerunning a killed reproduction continues it. Tables print as markdown and go to
<output>/reproduce.json.

    python tools/reproduce.py                              # the reduced preset, for a CPU
    python tools/reproduce.py --preset full --device cuda  # the small-scale setting for one GPU machine
    python tools/reproduce.py --seeds 0,1,2 --epochs 40 --settings baseline,rbd,true
    python tools/reproduce.py --dataset caltech20          # ../shared/data/caltech20 (no true masks)
    python tools/reproduce.py --preset evidence            # baseline vs RBD (and true masks), 5 paired seeds, both sets

Every setting is compared with the baseline seed by seed: the mean paired gain, its 95% t
interval and the seeds that gained (kNN, linear probe and, on the embedded set, the
localization score and the backgrounds benchmark: each variant's top-1, BG-Gap, the challenge).
"""

from __future__ import annotations

import argparse
import os
import time

import _import_path  # noqa: F401
import torch

from pretrain.reproduce import (
    DATASETS,
    PRESETS,
    SETTINGS,
    TABLE2,
    Reproduction,
    available_settings,
    epoch_opts,
    prepare_caltech20,
    preset_opts,
    reproduce,
    select_panels,
    table_settings,
)
from pretrain.reproduce.runner import CHALLENGE_BACKGROUNDS, REPORT
from pretrain.utils.atomic import write_json
from pretrain.utils.cli import parse_with_overrides, run_tool
from pretrain.utils.logger import setup_logger

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
    p.add_argument(
        "--dataset", choices=DATASETS, help="the generated set or caltech20's photos (default: the preset's)"
    )
    p.add_argument(
        "--data-root",
        default=os.path.join(SHARED_DATA, "caltech20"),
        help="caltech20's folder (train.txt, test.txt, 101_ObjectCategories/) for --dataset caltech20",
    )
    p.add_argument("--cache-dir", default=os.path.join("output", "cache"), help="where caltech20 is prepared, once")
    p.add_argument(
        "--output",
        help="folder of runs and reproduce.json (default: output/reproduce/<config file's name>/<preset>, "
        "caltech20-<preset> for caltech20; a preset of several data sets puts each in its own subfolder)",
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--jobs", type=int, help="runs at a time (default: the preset's)")
    p.add_argument(
        "--texture-root",
        default=os.path.join(SHARED_DATA, "textures", "dtd"),
        help="texture images for Table 2 (c); its column is skipped when the folder is absent",
    )
    p.add_argument("--report-only", action="store_true", help="tabulate the finished runs; train nothing")
    return parse_with_overrides(p, argv, "SOLVER.EPOCHS 10 (for every run)")


def dataset_opts(args: argparse.Namespace, dataset: str) -> tuple[list[str], dict[str, str] | None]:
    """Overrides that point every run at the data set, and its mask folders (None: the embedded set's own)."""
    if dataset == "embedded":
        return [], None
    prepared = prepare_caltech20(args.data_root, args.cache_dir)
    return ["DATA.SOURCE", "folder", "DATA.TRAIN_ROOT", prepared.train, "DATA.VAL_ROOT", prepared.val], prepared.masks


def run_dataset(args: argparse.Namespace, dataset: str, output: str) -> dict:
    """Every run of the preset on one data set, into ``output``; prints its tables and paired comparisons and
    returns its report (:func:`pretrain.reproduce.reproduce`)."""
    preset = PRESETS[args.preset]
    data_opts, mask_roots = dataset_opts(args, dataset)
    requested = args.settings or list(preset.settings.get(dataset, ())) or table_settings(TABLE2)
    settings, notes = available_settings(requested, args.texture_root, mask_roots, dataset)
    schedule = preset_opts(preset, dataset)
    opts = [*schedule, *(epoch_opts(args.epochs) if args.epochs else []), *data_opts, *args.opts]
    reproduction = Reproduction(
        config_file=args.config_file,
        output=output,
        settings=tuple(settings),
        seeds=tuple(args.seeds or preset.seeds),
        opts=tuple(opts),
        dataset=dataset,
        mask_roots=mask_roots,
        texture_root=args.texture_root,
        panels=select_panels(settings) if preset.settings else TABLE2,
        notes=tuple(notes),
    )
    report = reproduce(reproduction, args.device, jobs=args.jobs or preset.jobs, train=not args.report_only)
    print(f"\nTable 2 at small scale on {dataset} ({args.preset} preset: {preset.about}; overrides {' '.join(opts)})")
    print(f"seeds {report['seeds']}, {report['trained']} runs trained, {report['seconds'] / 60:.1f} min\n")
    print(report["tables"])
    if report["backgrounds_table"]:
        print(f"\nThe backgrounds benchmark (ImageNet-9's protocol; top-1 %, BG-Gap in points; fast probe, challenge "
              f"on {CHALLENGE_BACKGROUNDS} backgrounds): python tools/backgrounds.py --model CKPT\n")  # fmt: skip
        print(report["backgrounds_table"])
    if report["comparisons"]:
        print(f"\nPaired gains over {report['reference']} (same seed, same draws but the composites):\n")
        print(report["comparison_table"])
    for note in notes:
        print(f"\nnote: {note}")
    if report["missing"]:
        print(f"\nnot finished ({len(report['missing'])} runs): {' '.join(report['missing'])}")
    print(f"\nJSON: {os.path.join(output, REPORT)}")
    return report


def main(args: argparse.Namespace) -> dict:
    """The preset on each of its data sets (or on --dataset): one data set's report, or several under "datasets"."""
    preset = PRESETS[args.preset]
    datasets = [args.dataset] if args.dataset else list(preset.datasets)
    folder = args.preset if datasets != ["caltech20"] else f"caltech20-{args.preset}"
    config_name = os.path.splitext(os.path.basename(args.config_file))[0]  # two configs' runs never share a folder
    output = args.output or os.path.join("output", "reproduce", config_name, folder)
    setup_logger(output)
    if len(datasets) == 1:
        return run_dataset(args, datasets[0], output)
    start = time.perf_counter()
    reports = {dataset: run_dataset(args, dataset, os.path.join(output, dataset)) for dataset in datasets}
    combined = {"preset": args.preset, "datasets": reports, "seconds": time.perf_counter() - start}
    write_json(os.path.join(output, REPORT), combined)
    print(
        f"\n{args.preset} preset: {len(datasets)} data sets in {combined['seconds'] / 60:.1f} min; JSON: "
        f"{os.path.join(output, REPORT)}"
    )
    return combined


if __name__ == "__main__":
    run_tool("reproduce", main, parse_args())
