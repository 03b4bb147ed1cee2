"""The GPU report: what dilo does on one GPU, measured by one command and written as one report.

Each part of :mod:`.gpu_parts` runs in its own process under its own time budget. A part that fails, or
runs past its budget (its process group is killed), is reported with the rows it measured before and its
error, and the report goes on to the next part; the report is rewritten after every part.

:data:`FULL` is sized for one H100 and the plan's budgets sum to less than 8 minutes; :data:`QUICK`
runs every part at a tiny size on the CPU (the test suite's check of the whole command).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable, Sequence

import numpy as np
import torch

from pretrain.benchmark import scale
from pretrain.benchmark.gpu_parts import PART_FUNCTIONS, PARTS, Context, Sizes, about
from pretrain.benchmark.train_step import StepSetup
from pretrain.reproduce.settings import PRESETS, epoch_opts
from pretrain.utils.atomic import atomic_open, write_json
from pretrain.utils.processes import die_with

TINY_SET = (  # the embedded set and network of the quick mode's runs
    "DATA.EMBEDDED.NUM_CLASSES", "4", "DATA.EMBEDDED.TRAIN_PER_CLASS", "16", "DATA.EMBEDDED.VAL_PER_CLASS", "4",
    "DATA.EMBEDDED.IMAGE_SIZE", "32", "DATA.EMBEDDED.NUM_BACKGROUNDS", "5", "INPUT.SIZE", "32",
    "INPUT.TEST_RESIZE", "32", "MODEL.BACKBONE.WIDTH", "0.125", "MODEL.EMBED_DIM", "16",
    "INSTDISC.NUM_NEGATIVES", "32", "SOLVER.IMS_PER_BATCH", "16", "TEST.KNN_K", "10",
)  # fmt: skip


_FULL_PRESET = PRESETS["full"]
FULL = Sizes(
    name="full",
    # the first part imports torch and CUDA from a cold disk; ddp also makes the embedded set and its masks
    budgets={"environment": 30, "train_step": 60, "data_path": 120, "ddp": 60, "scale": 45, "reproduce": 150},
    step=StepSetup("resnet50", batch=256, size=224, iters=15, warmup=5),
    photos=2048,
    photo_size=(500, 375),
    listings=4,
    mask_size=128,
    loader_batch=64,
    loader_repeats=3,
    loader_images=2048,
    train_opts=("MODEL.BACKBONE.NAME", "resnet50", "SOLVER.AMP.ENABLED", "True", "MODEL.CHANNELS_LAST", "True"),
    train_batch=256,
    train_warmup=10,
    train_iters=20,
    bank_rows=scale.IMAGENET_TRAIN,
    knn_queries=scale.KNN_QUERIES,
    extract_backbone="resnet50",
    extract_batch=256,
    extract_size=224,
    extract_batches=8,
    ddp_opts=(),
    reproduce_opts=(*epoch_opts(8), *_FULL_PRESET.opts),
    cpu_seeds=(1, 2, 3, 4),
)
QUICK = Sizes(
    name="quick",
    budgets=dict.fromkeys(PARTS, 120),
    step=StepSetup("resnet18", batch=4, size=32, iters=1, warmup=0, bank_size=64, negatives=(16,)),
    photos=12,
    photo_size=(64, 48),
    listings=2,
    mask_size=32,
    loader_batch=4,
    loader_repeats=1,
    loader_images=4,
    train_opts=("MODEL.BACKBONE.NAME", "resnet18", "MODEL.BACKBONE.WIDTH", "0.125", "INPUT.SIZE", "32"),
    train_batch=4,
    train_warmup=1,
    train_iters=2,
    bank_rows=1000,
    knn_queries=8,
    extract_backbone="resnet18",
    extract_batch=4,
    extract_size=32,
    extract_batches=2,
    ddp_opts=(*TINY_SET, "TEST.KNN_PERIOD", "0"),
    reproduce_opts=(*TINY_SET, *epoch_opts(1), "TEST.KNN_PERIOD", "0"),
    cpu_seeds=(1, 2),
    workers=2,
)


def plan(sizes: Sizes, parts: Sequence[str] = PARTS) -> str:
    """The plan, printed before anything runs: each part's budget (the most it may take) and what it runs."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; the report's parts are {list(PARTS)}")
    lines = [f"GPU report ({sizes.name}): {len(parts)} parts, each stopped at its budget"]
    lines += [f"  {p:<12}{sizes.budgets[p]:>5} s  {about(sizes, p)}" for p in parts]
    total = sum(sizes.budgets[p] for p in parts)
    lines.append(f"  {'total':<12}{total:>5} s  ({total / 60:.1f} min at most)")
    return "\n".join(lines)


def run_part(name: str, ctx: Context) -> dict:
    """Part ``name`` in a process of its own, stopped (with its process group) at its budget."""
    rows_file = os.path.join(ctx.work_dir, f"{name}.jsonl")
    os.makedirs(ctx.work_dir, exist_ok=True)
    budget = ctx.sizes.budgets[name]
    proc = multiprocessing.get_context("spawn").Process(target=_part_process, args=(name, ctx, rows_file, os.getpid()))
    tic = time.perf_counter()
    proc.start()
    try:
        proc.join(budget)
        stopped = proc.is_alive()
    finally:
        if proc.is_alive():  # its group (its workers), and itself if it has not made the group yet
            _kill_group(proc.pid)
            proc.kill()
            proc.join()
    rows, errors = _read_rows(rows_file)
    if stopped:
        errors.append(f"stopped at its budget of {budget} s")
    elif proc.exitcode and not errors:
        errors.append(f"its process exited with {proc.exitcode}")
    status = "ok" if not errors else ("over budget" if stopped else "failed")
    return {
        "part": name,
        "status": status,
        "seconds": time.perf_counter() - tic,
        "budget_s": budget,
        "rows": rows,
        "error": "\n".join(errors),
    }


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone meanwhile
        os.killpg(pid, signal.SIGKILL)


def _part_process(name: str, ctx: Context, rows_file: str, parent: int) -> None:
    """A part's process: the leader of its own group (its workers die with it), each row written as measured.

    Started by spawn (a GPU-safe start), it puts back the platform's default start method, which a spawned
    process does not inherit: DataLoader workers then start as they do in training (forked on Linux)."""
    os.setpgid(0, 0)
    die_with(parent)
    multiprocessing.set_start_method(None, force=True)
    with open(rows_file, "w") as f:
        try:
            for row in PART_FUNCTIONS[name](ctx):
                f.write(json.dumps({"row": row}, default=_plain) + "\n")
                f.flush()
        except BaseException:
            f.write(json.dumps({"error": traceback.format_exc(limit=-8)}) + "\n")
            raise SystemExit(1) from None


def _plain(value: object) -> object:
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def _read_rows(path: str) -> tuple[list[dict], list[str]]:
    rows, errors = [], []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                (rows.append(entry["row"]) if "row" in entry else errors.append(entry["error"]))
    return rows, errors


def run_report(
    ctx: Context, output_dir: str, parts: Sequence[str] = PARTS, echo: Callable[[str], None] = print
) -> dict:
    """Every part of ``parts`` in turn; ``output_dir/report.json`` and ``report.md`` rewritten after each.

    ``ctx.work_dir`` must be empty or absent: a report measures, it reuses nothing (a finished reproduce run
    there would be read back as if measured now, and an earlier run folder is refused)."""
    if os.path.isdir(ctx.work_dir) and os.listdir(ctx.work_dir):
        raise ValueError(f"work folder {ctx.work_dir!r} is not empty: give a new or empty one")
    report = {
        "sizes": ctx.sizes.name,
        "device": ctx.device,
        "plan": {p: ctx.sizes.budgets[p] for p in parts},
        "parts": [],
    }
    for name in parts:
        result = run_part(name, ctx)
        report["parts"].append(result)
        echo(f"{name}: {result['status']} in {result['seconds']:.0f} s of {result['budget_s']} s")
        write_json(os.path.join(output_dir, "report.json"), report)
        with atomic_open(os.path.join(output_dir, "report.md")) as f:
            f.write(format_markdown(report).encode())
    return report


def format_markdown(report: dict) -> str:
    """The report as markdown: a line per part, then each part's rows as a table and its error."""
    spent = sum(p["seconds"] for p in report["parts"])
    lines = [f"# dilo GPU report ({report['sizes']}, {report['device']})", "", f"{spent:.0f} s in all.", ""]
    lines += ["| part | status | seconds | budget |", "|---|---|---:|---:|"]
    lines += [f"| {p['part']} | {p['status']} | {p['seconds']:.0f} | {p['budget_s']} |" for p in report["parts"]]
    for part in report["parts"]:
        lines += ["", f"## {part['part']}", ""]
        lines += table(part["rows"]) if part["rows"] else ["(no rows)"]
        if part["error"]:
            lines += ["", "```", part["error"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def table(rows: Sequence[dict]) -> list[str]:
    """Markdown rows: a column per key (in order of first appearance), floats to 4 significant digits."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k in keys) + " |" for r in rows]
    return lines


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
