"""SGD on a linear layer over frozen features: the paper's schedule, checkpointed every epoch.

The same loop trains on images (features computed on the fly by the frozen backbone: the full
protocol) and on cached features (the fast probe); only the per-epoch batch source differs.
Optimizer, step schedule and checkpoint layout are the pretraining engine's (``engine.solver``,
``engine.checkpoint``). Every random draw (data order, crops, cached view, the layer's init)
derives from (SEED, epoch, index), so a checkpoint needs no generator state and a resumed run
ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from fvcore.common.config import CfgNode
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from pretrain.engine.checkpoint import load_checkpoint
from pretrain.engine.solver import build_optimizer, lr_at_epoch, set_lr
from pretrain.utils import comm, provenance
from pretrain.utils.accuracy import topk_accuracy
from pretrain.utils.events import MetricsWriter
from pretrain.utils.torch_file import save_atomic

from .defaults import NORMS, RESUMABLE

PROBE_LAST = "probe_last.pth"
FORMAT = "dilo-linear-probe"

logger = logging.getLogger("pretrain")

Batches = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]  # epoch -> (features, labels) batches


class LinearClassifier(nn.Module):
    """[BatchNorm1d without affine] then one linear layer, initialized N(0, 0.01) with zero bias (MoCo's lincls)."""

    def __init__(self, dim: int, num_classes: int, norm: str = "none"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"MODEL.FEATURE_NORM must be one of {NORMS}, got {norm!r}")
        self.norm = nn.BatchNorm1d(dim, affine=False) if norm == "bn" else nn.Identity()
        self.fc = nn.Linear(dim, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x))


@torch.no_grad()
def evaluate(classifier: nn.Module, val: dict[str, torch.Tensor], device: torch.device, chunk: int = 4096) -> dict:
    """Top-1/top-5 (percent) of ``classifier`` on features (N, K, C): softmax probabilities averaged over K crops."""
    was_training = classifier.training
    classifier.eval()
    feats = val["features"]
    probs = []
    for part in feats.split(chunk):
        logits = classifier(part.to(device).float().flatten(0, 1))
        probs.append(logits.softmax(1).view(part.shape[0], part.shape[1], -1).mean(1))
    classifier.train(was_training)
    return topk_accuracy(torch.cat(probs), val["labels"].to(device))


def read_probe_checkpoint(path: str) -> dict[str, Any]:
    """A probe checkpoint, or an error naming ``path`` and what is wrong with it."""
    ckpt = load_checkpoint(path, "probe checkpoint")
    if ckpt.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a linear-probe checkpoint (tools/linear_probe.py writes {PROBE_LAST})")
    return ckpt


class ProbeTrainer:
    """Trains a :class:`LinearClassifier` with SOLVER.* and writes OUTPUT_DIR/probe_last.pth every epoch, with the
    probe's ``record`` (:func:`pretrain.probe.launch.probe_record`)."""

    def __init__(self, cfg: CfgNode, dim: int, num_classes: int, device: torch.device, record: provenance.Record):
        self.cfg, self.device, self.record = cfg, device, record
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.SEED)
            self.classifier = LinearClassifier(dim, num_classes, cfg.MODEL.FEATURE_NORM).to(device)
        self.ddp_model: nn.Module = self.classifier  # what a step runs: the classifier, DDP-wrapped across ranks
        if comm.is_distributed():  # FEATURE_NORM bn: statistics of the global batch (SyncBN needs GPUs)
            sync = device.type == "cuda"
            self.ddp_model = DistributedDataParallel(
                nn.SyncBatchNorm.convert_sync_batchnorm(self.classifier) if sync else self.classifier
            )
            self.classifier = self.ddp_model.module
        self.optimizer = build_optimizer(cfg, self.classifier)
        self.path = os.path.join(cfg.OUTPUT_DIR, PROBE_LAST)
        self.start_epoch = 0

    def resume(self) -> bool:
        """Continue from OUTPUT_DIR/probe_last.pth if there is one; refuse one whose record differs from this probe's
        outside ``RESUMABLE`` (another backbone, data, learning rate...), or that has none (an older dilo's)."""
        if not os.path.isfile(self.path):
            return False
        ckpt = read_probe_checkpoint(self.path)
        remedy = f"--resume may change only {', '.join(RESUMABLE)}: use another OUTPUT_DIR, or delete {self.path}"
        if "provenance" not in ckpt:
            raise provenance.ProvenanceError(f"{self.path} has no record of what made it (an older dilo's): {remedy}")
        recorded = provenance.Record.from_json(ckpt["provenance"], self.path)
        provenance.check(recorded, self.record, self.path, remedy, ignore=RESUMABLE)
        try:
            self.classifier.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"{self.path!r} does not fit this probe (features or classes differ): {e}") from e
        self.start_epoch = ckpt["epoch"]
        logger.info("resumed %s at epoch %d", self.path, self.start_epoch)
        return True

    def save(self, epoch: int) -> None:
        if comm.is_main_process():
            state = {
                "format": FORMAT,
                "model": self.classifier.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": epoch,
                "config": self.cfg.dump(),
                "provenance": self.record.to_json(),
            }
            save_atomic(state, self.path)

    def train(self, batches: Batches, iters_per_epoch: int, validate: Callable[[nn.Module], dict]) -> dict:
        """Epochs start_epoch..EPOCHS-1; validates every TEST.PERIOD epochs and at the end; returns the last result."""
        cfg = self.cfg
        metrics = MetricsWriter(cfg.OUTPUT_DIR, append=self.start_epoch > 0) if comm.is_main_process() else None
        result: dict = {}
        for epoch in range(self.start_epoch, cfg.SOLVER.EPOCHS):
            lr = lr_at_epoch(cfg, epoch)
            set_lr(self.optimizer, lr)
            self.ddp_model.train()
            bar = tqdm(batches(epoch), total=iters_per_epoch, desc=f"probe epoch {epoch}", leave=False,
                       disable=not comm.is_main_process())  # fmt: skip
            for it, (x, y) in enumerate(bar):
                loss = F.cross_entropy(self.ddp_model(x), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if it % cfg.LOG.PERIOD == 0:
                    value = loss.item()
                    if not math.isfinite(value):
                        raise FloatingPointError(
                            f"probe loss is {value} at epoch {epoch}: lower SOLVER.BASE_LR or set MODEL.FEATURE_NORM bn"
                        )
                    bar.set_postfix(loss=f"{value:.3f}")
                    if metrics:
                        metrics.write(epoch * iters_per_epoch + it, epoch=epoch, iter=it, loss=value, lr=lr)
            self.save(epoch + 1)
            last = epoch + 1 == cfg.SOLVER.EPOCHS
            if last or (cfg.TEST.PERIOD and (epoch + 1) % cfg.TEST.PERIOD == 0):
                result = validate(self.classifier)
                logger.info("probe epoch %d: val top-1 %.2f top-5 %.2f", epoch, result["top1"], result["top5"])
                if metrics:
                    metrics.write(
                        (epoch + 1) * iters_per_epoch, epoch=epoch, **{f"val_{k}": v for k, v in result.items()}
                    )
        if not result:  # resumed after the last epoch: nothing left to train
            result = validate(self.classifier)
        if metrics:
            metrics.close()
        return result
