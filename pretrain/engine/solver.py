"""SGD with the paper's step schedule (or MoCo v2's cosine) and the linear learning-rate scaling rule."""

from __future__ import annotations

import math

import torch
from fvcore.common.config import CfgNode
from torch import nn


def base_lr(cfg: CfgNode) -> float:
    """BASE_LR x IMS_PER_BATCH / REFERENCE_BATCH (Goyal et al.'s linear scaling rule).

    REFERENCE_BATCH 0 takes BASE_LR as it is at any batch: the linear probes' protocol (lr 30) does.
    """
    s = cfg.SOLVER
    return s.BASE_LR * s.IMS_PER_BATCH / s.REFERENCE_BATCH if s.REFERENCE_BATCH else s.BASE_LR


def lr_at_epoch(cfg: CfgNode, epoch: int) -> float:
    """The scaled base lr times GAMMA for every milestone in SOLVER.STEPS already reached ("step"), or
    times (1 + cos(pi epoch / EPOCHS)) / 2 ("cosine", MoCo v2's, set once per epoch as MoCo does)."""
    if cfg.SOLVER.SCHEDULE == "cosine":
        return base_lr(cfg) * 0.5 * (1.0 + math.cos(math.pi * epoch / cfg.SOLVER.EPOCHS))
    return base_lr(cfg) * cfg.SOLVER.GAMMA ** sum(epoch >= s for s in cfg.SOLVER.STEPS)


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(), lr=base_lr(cfg), momentum=cfg.SOLVER.MOMENTUM, weight_decay=cfg.SOLVER.WEIGHT_DECAY
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
