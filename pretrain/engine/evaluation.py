"""The kNN monitor and the end-of-run summary (kNN and fast linear probe on held-out images)."""

from __future__ import annotations

import torch
from fvcore.common.config import CfgNode

from pretrain.data import LabeledImages, eval_loader
from pretrain.instdisc import knn_accuracy
from pretrain.models import EmbeddingModel

from .features import extract_features
from .linear import fit_linear_probe, probe_accuracy


def _features(cfg: CfgNode, model: EmbeddingModel, dataset: LabeledImages, device: torch.device, desc: str) -> dict:
    loader = eval_loader(dataset, cfg.TEST.IMS_PER_BATCH, cfg.DATA.NUM_WORKERS)
    return extract_features(model, loader, len(dataset), device, desc)


def knn_monitor(
    cfg: CfgNode,
    model: EmbeddingModel,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    val_set: LabeledImages,
    device: torch.device,
) -> dict[str, float]:
    """Weighted kNN of val embeddings against the memory bank (k, T from TEST.KNN_*)."""
    val = _features(cfg, model, val_set, device, "kNN monitor")
    acc = knn_accuracy(
        val["embeddings"], val["labels"], bank, bank_labels.to(device), cfg.TEST.KNN_K, cfg.TEST.KNN_TEMPERATURE
    )
    return {f"knn_{k}": v for k, v in acc.items()}


def linear_probe_eval(
    cfg: CfgNode, model: EmbeddingModel, train_set: LabeledImages, val_set: LabeledImages, device: torch.device
) -> dict[str, float]:
    """Fast linear probe: fit on center-crop penultimate features of train, test on val."""
    train = _features(cfg, model, train_set, device, "probe train features")
    val = _features(cfg, model, val_set, device, "probe val features")
    num_classes = len(train_set.classes)
    probe = fit_linear_probe(train["features"].to(device), train["labels"].to(device), num_classes)
    acc = probe_accuracy(probe, val["features"].to(device), val["labels"].to(device))
    return {f"linear_{k}": v for k, v in acc.items()}
