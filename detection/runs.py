"""Several finetuning runs of one config -> mean and standard deviation, as in the paper's Table 5.

Detection AP on VOC moves by a few tenths between seeds, so the paper reports the mean of
three runs; the standard deviation says whether two representations differ by more than noise.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence

METRICS = ("AP50", "AP", "AP75")
TRAIN_NET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_net.py")

logger = logging.getLogger(__name__)


def aggregate(runs: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{run: {metric: value}}`` -> ``{metric: {mean, std, n}}``; std is the sample std (0 for one run)."""
    if not runs:
        raise ValueError("no finished runs to aggregate")
    out = {}
    for metric in METRICS:
        values = []
        for run, result in runs.items():
            if metric not in result:
                raise KeyError(f"run {run!r} has no {metric} (has {sorted(result)})")
            values.append(float(result[metric]))
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[metric] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
    return out


def format_table(runs: dict[str, dict[str, float]], summary: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per run, then ``mean ± std``."""
    head = "| run | " + " | ".join(METRICS) + " |"
    rows = [head, "|---" * (len(METRICS) + 1) + "|"]
    rows += [f"| {run} | " + " | ".join(f"{r[m]:.1f}" for m in METRICS) + " |" for run, r in runs.items()]
    n = summary[METRICS[0]]["n"]
    rows.append(
        f"| mean ± std ({n} runs) | " + " | ".join(f"{s['mean']:.1f} ± {s['std']:.1f}" for s in summary.values()) + " |"
    )
    return "\n".join(rows)


def read_run(path: str) -> dict[str, float]:
    """The final ``bbox`` metrics of one run from the ``results.json`` that ``train_net.py`` writes."""
    with open(path) as f:
        results = json.load(f)["results"]
    if "bbox" not in results:
        raise ValueError(f"{path!r} holds results for {sorted(results)}, expected one test set's 'bbox' metrics")
    return results["bbox"]


def run_seeds(
    seeds: Sequence[int], output_dir: str, run: Callable[[int, str], None] | None
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Finish each seed's run in ``output_dir/seed<s>`` (``run(seed, folder)`` unless it has a ``results.json``).

    A run that fails is named and skipped, so the others still run and the summary covers what
    finished. ``run`` None only collects. Returns (``{"seed s": metrics}``, ``{"seed s": why it failed}``).
    """
    runs, failed = {}, {}
    for seed in seeds:
        out = os.path.join(output_dir, f"seed{seed}")
        result = os.path.join(out, "results.json")
        if run is not None and not os.path.exists(result):
            try:
                run(seed, out)
            except subprocess.CalledProcessError as err:
                failed[f"seed {seed}"] = f"exit status {err.returncode} (log: {os.path.join(out, 'log.txt')})"
                logger.error("seed %d failed: %s; continuing with the other seeds", seed, failed[f"seed {seed}"])
                continue
        if os.path.exists(result):
            runs[f"seed {seed}"] = read_run(result)
    return runs, failed


def finetune(
    config_file: str, seed: int, output_dir: str, num_gpus: int = 1, datasets_root: str = "", opts: Sequence[str] = ()
) -> None:
    """One ``train_net.py --resume`` run of ``config_file`` with ``SEED seed OUTPUT_DIR output_dir`` in a child
    process (detectron2 launches its own workers); a failed run raises ``CalledProcessError``."""
    cmd = [sys.executable, TRAIN_NET, "--config-file", config_file, "--num-gpus", str(num_gpus), "--resume"]
    if datasets_root:
        cmd += ["--datasets-root", datasets_root]
    subprocess.run([*cmd, *opts, "SEED", str(seed), "OUTPUT_DIR", output_dir], check=True)
