"""Runs every (setting, seed) of a reproduction, skips finished ones, and collects the results.

A run is one ordinary pretraining (:class:`pretrain.engine.Trainer`) in
``<output>/<setting>/seed<seed>``; it is finished when ``result.json`` (its final kNN and
linear-probe metrics, written atomically last) exists there, so a killed reproduction continues
where it stopped (an interrupted run resumes from its last checkpoint). A run's folder records what
made it (:mod:`pretrain.engine.provenance`): a finished run is taken only if its record is the one
this reproduction would write (config file and overrides alike), and an unfinished one resumes only
under the same settings. Runs go one at a time in this process, or ``jobs`` at a time in spawned
processes (several small runs share one GPU) that stop with this one (:mod:`pretrain.utils.processes`).
A reproduction is described by a :class:`Reproduction`; :func:`reproduce` runs it and writes its report.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from fvcore.common.config import CfgNode
from tqdm import tqdm

from pretrain.config import load_config
from pretrain.data.build import dataset_roots, embedded_spec, mask_root
from pretrain.data.embedded import ensure_embedded
from pretrain.diagnosis.background_benchmark import embedded_benchmark, evaluate
from pretrain.diagnosis.class_gradient import fit_classifier
from pretrain.diagnosis.localization import embedded_score_set, score_images
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
from .tables import BACKGROUND_METRICS, METRICS, aggregate, background_metrics, format_backgrounds, format_tables

logger = logging.getLogger("pretrain.reproduce")

RESULT = "result.json"
REPORT = "reproduce.json"
CHALLENGE_BACKGROUNDS = 100  # backgrounds a run's challenge tries per foreground (tools/backgrounds.py's default)


@dataclass(frozen=True)
class Reproduction:
    """What a reproduction runs and reports: every setting x seed of one base config on one data set.

    Plain values, so that a test describes one without a command line; ``tools/reproduce.py`` builds it
    from its arguments and a preset. How it runs (device, runs at a time, train or only tabulate) is passed
    to :func:`reproduce` apart: it changes where and how fast, never which runs or what they hold.
    """

    config_file: str  # the base config ("": the defaults)
    output: str  # folder of the runs (<output>/<setting>/seed<seed>) and of reproduce.json
    settings: tuple[str, ...]  # names in SETTINGS
    seeds: tuple[int, ...]  # training SEEDs, each run by every setting
    opts: tuple[str, ...] = ()  # KEY VALUE overrides for every run, applied before each setting's own
    dataset: str = "embedded"  # the data set's name, for the report and its notes
    mask_roots: Mapping[str, str] | None = None  # mask kind -> folder of an image-folder set; None: embedded masks
    texture_root: str = ""  # the texture images of the "texture" setting
    reference: str = "baseline"  # the setting every other one is compared with, seed by seed
    panels: tuple[Panel, ...] = TABLE2  # the tables the report lays out
    notes: tuple[str, ...] = ()  # for the reader of the report: settings left out, and why


@dataclass(frozen=True)
class Run:
    """One pretraining run of a reproduction: a setting at a seed, with every override that makes it."""

    setting: str
    seed: int
    opts: tuple[str, ...]  # every override, OUTPUT_DIR included

    @property
    def output_dir(self) -> str:
        return self.opts[self.opts.index("OUTPUT_DIR") + 1]


def plan_runs(reproduction: Reproduction) -> list[Run]:
    """One run per (setting, seed), in ``<output>/<setting>/seed<seed>``; the shared ``opts`` come first.

    Seeds are the outer loop, so a reproduction stopped early still has every setting at the first seeds.
    ``mask_roots`` turns each setting's ``DATA.EMBEDDED.MASKS`` choice into ``COPY_PASTE.MASK_ROOT``.
    Raises ValueError for a setting not in :data:`SETTINGS`, or one whose mask kind has no folder.
    """
    unknown = [s for s in reproduction.settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    runs = []
    for seed in reproduction.seeds:
        for setting in reproduction.settings:
            texture = ("COPY_PASTE.TEXTURE_ROOT", reproduction.texture_root) if setting == "texture" else ()
            output_dir = os.path.join(reproduction.output, setting, f"seed{seed}")
            if reproduction.mask_roots is None:
                setting_opts = SETTINGS[setting]
            else:
                setting_opts = _with_mask_root(setting, reproduction.mask_roots)
            opts = (*reproduction.opts, *setting_opts, *texture, "SEED", str(seed), "OUTPUT_DIR", output_dir)
            runs.append(Run(setting, seed, opts))
    return runs


def _with_mask_root(setting: str, mask_roots: Mapping[str, str]) -> tuple[str, ...]:
    """The setting's overrides with its ``DATA.EMBEDDED.MASKS`` kind replaced by that kind's folder."""
    opts = SETTINGS[setting]
    kind = setting_masks(setting)
    if kind is None:
        return opts
    if kind not in mask_roots:
        raise ValueError(f"setting {setting!r} needs {kind} masks; this data set has {sorted(mask_roots)}")
    at = opts[::2].index("DATA.EMBEDDED.MASKS") * 2
    return (*opts[:at], "COPY_PASTE.MASK_ROOT", mask_roots[kind], *opts[at + 2 :])


def available_settings(
    settings: list[str], texture_root: str, mask_roots: Mapping[str, str] | None = None, dataset: str = "embedded"
) -> tuple[list[str], list[str]]:
    """The settings that can run here (in their order), and a note for each one left out.

    "texture" needs a folder at ``texture_root``; ``mask_roots`` (the mask kinds an image-folder data set
    has, as in :class:`Reproduction`) leaves out settings on other kinds, noted under ``dataset``'s name.
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


def train_run(config_file: str, run: Run, device: str, threads: int = 0, backgrounds: bool = True) -> dict[str, Any]:
    """Trains one run to the end (resuming its last checkpoint if one is there), writes ``result.json`` and
    returns it: the run's final metrics, its scores on the embedded set (:func:`score_run`), and ``seconds``.

    A finished run is read (:func:`read_result`), not retrained, and returned with ``skipped`` True; a score it
    lacks (a run finished before that score existed) is computed from its final checkpoint and written into it.
    ``threads`` (0: leave torch's default) caps this process's intra-op threads, for runs sharing the CPU;
    ``backgrounds`` False leaves the backgrounds benchmark out of the scores.
    Raises :class:`~pretrain.utils.provenance.ProvenanceError` where the folder holds a run made otherwise,
    and RuntimeError where SIGTERM stopped the training (its checkpoint is kept: a rerun continues it).
    """
    if threads:
        torch.set_num_threads(threads)
    done = read_result(config_file, run)
    if done is not None:
        scored = score_run(load_config(config_file, list(run.opts)), done, device, backgrounds)
        if scored != done:  # finished before a score existed: scored now, once
            write_json(os.path.join(run.output_dir, RESULT), scored)
        return {**scored, "skipped": True}
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
    result = score_run(cfg, result, device, backgrounds)
    result["seconds"] = time.perf_counter() - start
    write_json(os.path.join(run.output_dir, RESULT), result)
    return result


def score_run(cfg: CfgNode, result: dict[str, Any], device: str, backgrounds: bool = True) -> dict[str, Any]:
    """``result`` with the scores a run on the embedded set (true masks to score against) gets from its final
    checkpoint and still lacks: ``localization`` (``tools/localization_score.py``: % of class-gradient energy on
    the object) and, with ``backgrounds``, the backgrounds benchmark as ``tools/backgrounds.py`` reports it by
    default (flat keys of :data:`.tables.BACKGROUND_METRICS`; the challenge on CHALLENGE_BACKGROUNDS). One frozen
    model and one classifier, fitted on the training images, serve both. Other data sets: as it is."""
    localization = "localization" not in result
    background = backgrounds and "bg_gap" not in result
    if cfg.DATA.SOURCE != "embedded" or not (localization or background):
        return result
    dev = torch.device(device)
    (model,) = load_models([f"run={os.path.join(cfg.OUTPUT_DIR, FINAL)}"])
    score_set = embedded_score_set(cfg)
    classifier = fit_classifier(model, score_set.train, dev)
    result = dict(result)
    if localization:
        s = score_set
        scores = score_images(model, classifier, s.train.classes, s.images, s.mask_root, s.target, dev)
        result["localization"] = 100 * scores["score"]
    if background:
        train, benchmark = embedded_benchmark(ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR))
        limit = CHALLENGE_BACKGROUNDS
        (scored,) = evaluate([model], train, benchmark, dev, challenge_limit=limit, fit=lambda _: classifier)
        result |= background_metrics(scored)
    return result


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
    """Every run's result (:func:`train_run`), in the order of ``runs``; finished runs are read, not retrained.

    ``jobs`` > 1 trains that many at a time in worker processes, each with an equal share of the CPU's
    threads; the first failure is raised at once and stops the others.
    """
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


def reproduce(reproduction: Reproduction, device: str, *, jobs: int = 1, train: bool = True) -> dict[str, Any]:
    """Trains (or reads) every run of ``reproduction``, aggregates over seeds and writes ``<output>/reproduce.json``.

    ``jobs`` runs train at a time on ``device`` (:func:`run_all`); ``train`` False trains nothing, it tabulates
    the runs already finished and lists the others as missing. Returns the report it wrote: the reproduction
    (``config_file``, ``dataset``, ``opts``, ``settings``, ``seeds``, ``notes``, ``reference``), every run's
    result (``runs``), the mean and 95% interval per setting (``summary``, :func:`.tables.aggregate`) laid out
    as markdown ``tables``, every other setting's gain over ``reference`` seed by seed (``comparisons``,
    :mod:`.pairing`) and its ``comparison_table``, the wall time (``seconds``) and the runs' summed
    ``run_seconds``, how many runs were ``trained`` here, and the folders of the runs still ``missing``.
    Raises as :func:`plan_runs` and :func:`train_run` do.
    """
    start = time.perf_counter()
    runs = plan_runs(reproduction)
    config_file, settings, reference = reproduction.config_file, list(reproduction.settings), reproduction.reference
    results = run_all(config_file, runs, device, jobs) if train else finished_results(config_file, runs)
    done = {(r["setting"], r["seed"]) for r in results}
    grouped: dict[str, list[dict[str, Any]]] = {s: [] for s in settings}
    for result in results:
        grouped[result["setting"]].append(result)
    summary = aggregate(grouped)
    metrics = {**METRICS, **BACKGROUND_METRICS}
    comparisons = compare(results, [s for s in settings if s != reference], reference, tuple(metrics))
    report = {
        "config_file": config_file,
        "dataset": reproduction.dataset,
        "opts": list(reproduction.opts),
        "settings": settings,
        "seeds": list(reproduction.seeds),
        "notes": list(reproduction.notes),
        "runs": results,
        "summary": summary,
        "tables": format_tables(summary, reproduction.panels),
        "backgrounds_table": format_backgrounds(summary, settings),
        "reference": reference,
        "comparisons": comparisons,
        "comparison_table": format_comparisons(comparisons, reference, metrics),
        "seconds": time.perf_counter() - start,
        "run_seconds": sum(r["seconds"] for r in results),
        "trained": sum(not r.get("skipped") for r in results),
        "missing": [r.output_dir for r in runs if (r.setting, r.seed) not in done],
    }
    write_json(os.path.join(reproduction.output, REPORT), report)
    logger.info(json.dumps({"reproduce": reproduction.output, "runs": len(results), "trained": report["trained"]}))
    return report
