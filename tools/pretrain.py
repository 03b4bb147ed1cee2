#!/usr/bin/env python
"""Pretrain by instance discrimination or MoCo v2 (MODEL.METHOD), with copy-paste where configured.

With no arguments: the embedded default on the CPU, a few minutes, ending with a summary.

    python tools/pretrain.py
    python tools/pretrain.py --config-file configs/pretrain/instdisc_R50.yaml DATA.TRAIN_ROOT /data/imagenet/train
    torchrun --nproc_per_node 8 tools/pretrain.py --config-file configs/pretrain/instdisc_R50.yaml
    python tools/pretrain.py --config-file ... --resume      # continue from OUTPUT_DIR/checkpoint_last.pth

Exit status: 0 when training finished; 75 (EX_TEMPFAIL, "try again") when SIGTERM stopped it
after saving checkpoint_last.pth, so a scheduler can requeue the job with --resume and
``pretrain && convert`` never converts an unfinished run; 1 on bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import _import_path  # noqa: F401

from pretrain.config import load_config
from pretrain.engine import Trainer, prepare_embedded
from pretrain.utils import comm
from pretrain.utils.atomic import remove_stale_temporaries
from pretrain.utils.cli import parse_with_overrides, run_tool
from pretrain.utils.logger import setup_logger

EXIT_INTERRUPTED = 75  # sysexits.h EX_TEMPFAIL: saved after SIGTERM, rerun with --resume
DEFAULT_CONFIG = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "pretrain", "demo.yaml")
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=DEFAULT_CONFIG, metavar="FILE", help="YAML config (default: the demo)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUTPUT_DIR")
    return parse_with_overrides(p, argv)


def copy_paste(cfg) -> str:
    cp = cfg.COPY_PASTE
    if cp.PROB == 0:
        return "off (the baseline)"
    masks = cp.MASK_ROOT or f"{cfg.DATA.EMBEDDED.MASKS} masks"
    return f"p {cp.PROB}, {cp.BACKGROUND} background, blending {cp.BLEND}, {masks}"


def evidence_command(config_file: str) -> str:
    """The command that trains this run's two arms (with and without copy-paste) on the same draws, paired."""
    config = "" if os.path.abspath(config_file) == DEFAULT_CONFIG else f" --config-file {os.path.relpath(config_file)}"
    return f"python tools/reproduce.py{config} --preset demo (5 seeds: --preset evidence)"


def summary(cfg, result: dict, seconds: float, config_file: str) -> str:
    """A few human lines: what was trained, for how long, and how good it is (measured by this run only)."""
    lines = [
        f"dilo pretraining: {cfg.MODEL.METHOD}, {cfg.MODEL.BACKBONE.NAME} (width {cfg.MODEL.BACKBONE.WIDTH}) "
        f"on {cfg.DATA.SOURCE} data, "
        f"{result.get('epochs', result.get('epoch'))} epochs, {seconds / 60:.1f} min",  # finished ones
        f"  copy-paste    {copy_paste(cfg)}",
        f"  checkpoints   {os.path.join(cfg.OUTPUT_DIR, 'checkpoint_last.pth')}",
    ]
    if result.get("interrupted"):
        where = f"epoch {result['epoch']} iteration {result['iter']} of {cfg.SOLVER.EPOCHS} epochs"
        unfinished = (
            f"  UNFINISHED    stopped by SIGTERM at {where}: continue with --resume (exit status {EXIT_INTERRUPTED})"
        )
        return "\n".join([*lines, unfinished])
    chance = 100 / result["num_classes"]
    for key, name in (("knn_top1", f"kNN top-1 (k={cfg.TEST.KNN_K})"), ("linear_top1", "linear probe top-1")):
        if key in result:
            lines.append(f"  {name:<22}{result[key]:5.1f} %  (held-out images; chance {chance:.1f} %)")
    if cfg.DATA.SOURCE == "embedded":  # one run says nothing about copy-paste: where the paired evidence is
        lines.append(f"  copy-paste against its baseline, paired over seeds: {evidence_command(config_file)}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> dict:
    cfg = load_config(args.config_file, args.opts)
    device = comm.init_distributed()
    logger = setup_logger(cfg.OUTPUT_DIR, comm.get_rank())
    logger.info("config %s on %s x %d", args.config_file, device, comm.get_world_size())
    if comm.is_main_process():
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        remove_stale_temporaries(cfg.OUTPUT_DIR)
    start = time.perf_counter()
    prepare_embedded(cfg)  # the embedded set and its saliency masks, on first use
    trainer = Trainer(cfg, device)
    trainer.resume_or_start(args.resume)
    result = trainer.train()
    trainer.close()
    if comm.is_main_process():
        print(summary(cfg, result, time.perf_counter() - start, args.config_file))
    comm.destroy_distributed()
    return result


if __name__ == "__main__":
    sys.exit(EXIT_INTERRUPTED if run_tool("pretrain", main, parse_args()).get("interrupted") else 0)
