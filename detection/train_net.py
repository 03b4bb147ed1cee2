#!/usr/bin/env python
"""Finetune Faster R-CNN R50-C4 on PASCAL VOC from converted weights, and report AP50 / AP / AP75.

detectron2's ``tools/train_net.py``, with the pieces of the self-supervised transfer protocol:
the ``Res5ROIHeadsExtraNorm`` head, VOC splits registered under any root, the VOC evaluator,
and synchronized BN that also runs in a single process.

    python detection/train_net.py --num-gpus 8 --config-file configs/detection/voc07_R50_C4_9k.yaml \\
        MODEL.WEIGHTS output/dilo_R50.pkl
    python detection/train_net.py --config-file ... --eval-only MODEL.WEIGHTS output/detection/voc07/model_final.pth
    python detection/train_net.py --datasets-root ../shared/data --config-file ... \\
        DATASETS.TRAIN '("voc_mini_train",)' DATASETS.TEST '("voc_mini_trainval",)' MODEL.DEVICE cpu   # smoke run

The final metrics are written to ``OUTPUT_DIR/results.json`` (``tools/detection_runs.py`` reads them).
"""

from __future__ import annotations

import logging
import os
import sys

# Keep this script's folder off the import path: its modules would shadow top-level packages.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

import detectron2.utils.comm as comm  # noqa: E402
from detectron2.checkpoint import DetectionCheckpointer  # noqa: E402
from detectron2.config import CfgNode, get_cfg  # noqa: E402
from detectron2.engine import DefaultTrainer, default_argument_parser, default_setup, launch  # noqa: E402
from detectron2.evaluation import PascalVOCDetectionEvaluator  # noqa: E402

from detection import roi_heads  # noqa: E402, F401  (registers Res5ROIHeadsExtraNorm)
from detection.datasets import datasets_root, register_voc  # noqa: E402
from pretrain.utils.atomic import write_json  # noqa: E402

logger = logging.getLogger("detectron2")


class Trainer(DefaultTrainer):
    """detectron2's trainer, evaluating with the VOC metric (11-point AP50 on VOC2007, as the devkit)."""

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        return PascalVOCDetectionEvaluator(dataset_name)

    def train(self) -> dict:
        """Train; returns the final evaluation (detectron2 returns it only when TEST.EXPECTED_RESULTS is set)."""
        super().train()
        return getattr(self, "_last_eval_results", {})


def single_process_norm(cfg: CfgNode, world_size: int) -> str | None:
    """Swap SyncBN for BN where it cannot sync; returns the note to log, or None.

    With one process SyncBN's statistics are those of that process's batch, i.e. plain BN (and
    ``nn.SyncBatchNorm`` raises on CPU tensors once a process group exists); the weights and
    buffers are the same, so checkpoints move freely between the two.
    """
    if world_size > 1 and cfg.MODEL.DEVICE != "cpu":
        return None
    swapped = []
    for name, node in (("MODEL.RESNETS.NORM", cfg.MODEL.RESNETS), ("MODEL.ROI_BOX_HEAD.NORM", cfg.MODEL.ROI_BOX_HEAD)):
        if node.NORM == "SyncBN":
            node.NORM = "BN"
            swapped.append(name)
    if not swapped:
        return None
    return (
        f"SyncBN -> BN in {', '.join(swapped)}: {world_size} process(es) on {cfg.MODEL.DEVICE}; "
        "BN statistics come from each process's own batch"
    )


def draw_seed(cfg: CfgNode) -> None:
    """Replace a negative SEED by a drawn one, the same in every process, before ``default_setup`` seeds.

    detectron2 would draw a seed per process and record none; with the drawn seed in the config,
    ``config.yaml`` and ``results.json`` name the seed that ran (process r seeds SEED + r, as in
    ``default_setup``), so any run can be repeated.
    """
    if cfg.SEED < 0:
        cfg.SEED = int(comm.shared_random_seed())


def setup(args) -> CfgNode:
    cfg = get_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    draw_seed(cfg)
    note = single_process_norm(cfg, args.num_gpus * args.num_machines)
    cfg.freeze()
    default_setup(cfg, args)
    if note:
        logger.info(note)
    return cfg


def write_results(cfg: CfgNode, results: dict) -> None:
    """``OUTPUT_DIR/results.json``: the final metrics with the seed (of process 0) and weights that produced them."""
    if not comm.is_main_process():
        return
    payload = {"results": results, "seed": cfg.SEED, "weights": cfg.MODEL.WEIGHTS, "datasets": list(cfg.DATASETS.TEST)}
    write_json(os.path.join(cfg.OUTPUT_DIR, "results.json"), payload)


def main(args) -> dict:
    register_voc(datasets_root(args.datasets_root))
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = Trainer.test(cfg, model)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
    write_results(cfg, results)
    return results


def parse_args(argv: list[str] | None = None):
    parser = default_argument_parser()
    parser.add_argument(
        "--datasets-root",
        metavar="DIR",
        help="folder holding VOC2007/, VOC2012/, voc-mini/ (default: $DETECTRON2_DATASETS)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
