"""Runs every (setting, seed) of a reproduction, skips finished ones, and collects the results.

A run is one ordinary pretraining (:class:`pretrain.engine.Trainer`) in
``<output>/<setting>/seed<seed>``; it is finished when ``result.json`` (its final kNN and
linear-probe metrics, written atomically last) exists there, so a killed reproduction continues
where it stopped (an interrupted run resumes from its last checkpoint). A run's folder records what
made it (:mod:`pretrain.engine.provenance`): a finished run is taken only if its record is the one
this reproduction would write (config file and overrides alike), and an unfinished one resumes only
under the same settings. Runs go one at a time in this process, or ``jobs`` at a time in spawned
processes (several small runs share one GPU) that stop with this one (:mod:`pretrain.utils.processes`).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from fvcore.common.config import CfgNode
from tqdm import tqdm

from pretrain.config import load_config
from pretrain.data.build import dataset_roots, mask_root
from pretrain.diagnosis.localization import embedded_score_set, score_models
from pretrain.diagnosis.models import load_models
from pretrain.engine import Trainer, prepare_embedded
from pretrain.engine.checkpoint import FINAL
from pretrain.engine.provenance import run_record
from pretrain.utils import provenance
from pretrain.utils.atomic import read_json, write_json
from pretrain.utils.logger import setup_logger
from pretrain.utils.processes import worker_pool

from .pairing import compare, format_comparisons
from .settings import SETTINGS, TABLE2, Panel, setting_masks
from .tables import METRICS, aggregate, format_tables

logger = logging.getLogger("pretrain.reproduce")

RESULT = "result.json"
REPORT = "reproduce.json"


@dataclass(frozen=True)
class Run:
    setting: str
    seed: int
    opts: tuple[str, ...]  # every override, OUTPUT_DIR included

    @property
    def output_dir(self) -> str:
        return self.opts[self.opts.index("OUTPUT_DIR") + 1]


def plan_runs(
    output: str,
    settings: list[str],
    seeds: list[int],
    opts: list[str],
    texture_root: str = "",
    mask_roots: dict[str, str] | None = None,
) -> list[Run]:
    """One run per (setting, seed); ``opts`` apply to all, before each setting's own.

    Seeds are the outer loop, so a reproduction stopped early still has every setting at the first seeds.
    ``mask_roots`` (mask kind -> folder, for an image-folder data set) turns each setting's
    ``DATA.EMBEDDED.MASKS`` choice into ``COPY_PASTE.MASK_ROOT``.
    """
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    runs = []
    for seed in seeds:
        for setting in settings:
            extra = ("COPY_PASTE.TEXTURE_ROOT", texture_root) if setting == "texture" else ()
            out = os.path.join(output, setting, f"seed{seed}")
            own = SETTINGS[setting] if mask_roots is None else _with_mask_root(setting, mask_roots)
            runs.append(Run(setting, seed, (*opts, *own, *extra, "SEED", str(seed), "OUTPUT_DIR", out)))
    return runs


def _with_mask_root(setting: str, mask_roots: dict[str, str]) -> tuple[str, ...]:
    opts = SETTINGS[setting]
    method = setting_masks(setting)
    if method is None:
        return opts
    if method not in mask_roots:
        raise ValueError(f"setting {setting!r} needs {method} masks; this data set has {sorted(mask_roots)}")
    at = opts[::2].index("DATA.EMBEDDED.MASKS") * 2
    return (*opts[:at], "COPY_PASTE.MASK_ROOT", mask_roots[method], *opts[at + 2 :])


def available_settings(
    settings: list[str], texture_root: str, mask_roots: dict[str, str] | None = None, dataset: str = "embedded"
) -> tuple[list[str], list[str]]:
    """The settings that can run here, and a note for each one left out.

    ``mask_roots`` (the mask kinds an image-folder data set has) leaves out settings on other kinds.
    """
    kept, notes = list(settings), []
    if "texture" in kept and not (texture_root and os.path.isdir(texture_root)):
        notes.append(f"texture backgrounds skipped: no texture folder at --texture-root {texture_root!r}")
        kept.remove("texture")
    if mask_roots is not None:
        for setting in [s for s in kept if setting_masks(s) not in (None, *mask_roots)]:
            notes.append(f"{setting} skipped: {dataset} has no {setting_masks(setting)} masks")
            kept.remove(setting)
    return kept, notes


def read_result(config_file: str, run: Run) -> dict[str, Any] | None:
    """A finished run's result, or None; a run whose record differs from what ``config_file`` and the run's
    overrides make now (another config file, other overrides or data) is an error naming what differs."""
    path = os.path.join(run.output_dir, RESULT)
    if not os.path.exists(path):
        return None
    remedy = f"use another --output, or delete {run.output_dir} to train that run again"
    recorded = provenance.read(run.output_dir)
    if recorded is None:
        raise provenance.ProvenanceError(f"{run.output_dir} holds a result but no record of what made it: {remedy}")
    provenance.check(recorded, run_record(load_config(config_file, list(run.opts))), run.output_dir, remedy)
    return read_json(path, "run result")


def train_run(config_file: str, run: Run, device: str, threads: int = 0) -> dict[str, Any]:
    """Trains one run to the end (resuming a checkpoint if one is there) and writes its result."""
    done = read_result(config_file, run)
    if done is not None:
        return {**done, "skipped": True}
    if threads:
        torch.set_num_threads(threads)
    cfg = load_config(config_file, list(run.opts))
    setup_logger(cfg.OUTPUT_DIR)
    start = time.perf_counter()
    trainer = Trainer(cfg, torch.device(device))
    trainer.resume_or_start(True)
    metrics = trainer.train()
    trainer.close()
    if metrics.get("interrupted"):
        raise RuntimeError(f"run {run.output_dir} was interrupted by SIGTERM; rerun to continue it")
    result = {"setting": run.setting, "seed": run.seed, "opts": list(run.opts), **metrics}
    if cfg.DATA.SOURCE == "embedded":  # true masks to score against
        result["localization"] = localization(cfg, os.path.join(cfg.OUTPUT_DIR, FINAL), device)
    result["seconds"] = time.perf_counter() - start
    write_json(os.path.join(run.output_dir, RESULT), result)
    return result


def localization(cfg: CfgNode, checkpoint: str, device: str) -> float:
    """The run's localization score on the embedded set's held-out images, in % (``tools/localization_score.py``)."""
    (model,) = load_models([f"run={checkpoint}"])
    scores = score_models([model], [embedded_score_set(cfg)], torch.device(device))
    return 100 * next(iter(scores.values()))["run"]["score"]


def prepare_data(config_file: str, runs: list[Run]) -> None:
    """Generates the data set and every mask kind the runs need, once, before runs start in parallel."""
    seen = set()
    for run in runs:
        cfg = load_config(config_file, list(run.opts))
        masks = (cfg.COPY_PASTE.MASK_ROOT or cfg.DATA.EMBEDDED.MASKS) if cfg.COPY_PASTE.PROB > 0 else ""
        key = (cfg.DATA.SOURCE, masks)
        if key in seen:
            continue
        seen.add(key)
        prepare_embedded(cfg)
        train_root, _ = dataset_roots(cfg)
        if cfg.COPY_PASTE.PROB > 0:
            mask_root(cfg, train_root)  # every mask folder is named and present before runs start


def run_all(config_file: str, runs: list[Run], device: str, jobs: int = 1) -> list[dict[str, Any]]:
    """Every run's result, in the order of ``runs``; finished runs are read, not retrained."""
    prepare_data(config_file, runs)
    bar = tqdm(total=len(runs), desc="reproduce runs")
    results: list[dict[str, Any]] = []
    if jobs <= 1:
        for run in runs:
            bar.set_postfix(setting=run.setting, seed=run.seed)
            results.append(train_run(config_file, run, device))
            bar.update()
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with worker_pool(jobs) as pool:  # a failure, Ctrl-C or the end of this process stops every run
            futures = [pool.submit(train_run, config_file, run, device, threads) for run in runs]
            for future in concurrent.futures.as_completed(futures):
                future.result()  # raise the first failure at once
                bar.update()
        results = [f.result() for f in futures]
    bar.close()
    return results


def finished_results(config_file: str, runs: list[Run]) -> list[dict[str, Any]]:
    """The results of the runs that have finished, trains nothing: tables of a reproduction under way."""
    results = (read_result(config_file, run) for run in runs)
    return [{**r, "skipped": True} for r in results if r is not None]


def reproduce(
    config_file: str,
    output: str,
    settings: list[str],
    seeds: list[int],
    opts: list[str],
    device: str,
    jobs: int = 1,
    texture_root: str = "",
    panels: tuple[Panel, ...] = TABLE2,
    notes: tuple[str, ...] = (),
    train: bool = True,
    mask_roots: dict[str, str] | None = None,
    dataset: str = "embedded",
    reference: str = "baseline",
) -> dict[str, Any]:
    """Trains (or reads) every run, aggregates over seeds and writes ``<output>/reproduce.json``.

    Every other setting is compared with ``reference`` seed by seed (:mod:`.pairing`).
    ``train`` False tabulates only the runs already finished and lists the others as missing;
    ``mask_roots`` and ``dataset`` as in :func:`plan_runs` and :func:`available_settings`.
    """
    start = time.perf_counter()
    runs = plan_runs(output, settings, seeds, opts, texture_root, mask_roots)
    results = run_all(config_file, runs, device, jobs) if train else finished_results(config_file, runs)
    done = {(r["setting"], r["seed"]) for r in results}
    grouped: dict[str, list[dict[str, Any]]] = {s: [] for s in settings}
    for result in results:
        grouped[result["setting"]].append(result)
    summary = aggregate(grouped)
    comparisons = compare(results, [s for s in settings if s != reference], reference, tuple(METRICS))
    report = {
        "config_file": config_file,
        "dataset": dataset,
        "opts": opts,
        "settings": settings,
        "seeds": seeds,
        "notes": list(notes),
        "runs": results,
        "summary": summary,
        "tables": format_tables(summary, panels),
        "reference": reference,
        "comparisons": comparisons,
        "comparison_table": format_comparisons(comparisons, reference, METRICS),
        "seconds": time.perf_counter() - start,
        "run_seconds": sum(r["seconds"] for r in results),
        "trained": sum(not r.get("skipped") for r in results),
        "missing": [r.output_dir for r in runs if (r.setting, r.seed) not in done],
    }
    write_json(os.path.join(output, REPORT), report)
    logger.info(json.dumps({"reproduce": output, "runs": len(results), "trained": report["trained"]}))
    return report
