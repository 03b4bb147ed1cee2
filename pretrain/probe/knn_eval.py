"""Weighted kNN evaluation of a frozen network: val images vote with their nearest training images.

InstDisc's kNN compares images where instance discrimination does: the L2-normalized
embedding (the pretraining head's output). Files without that head (converted or torchvision
weights) are compared by their L2-normalized pooled penultimate features. TEST.KNN_FEATURES picks.
"""

from __future__ import annotations

import time

import torch
from fvcore.common.config import CfgNode

from pretrain.instdisc import knn_accuracy
from pretrain.models.frozen import FrozenModel

from .cache import features
from .datasets import build_probe_datasets
from .launch import probe_model, probe_record, write_results
from .transforms import probe_test_transform

RESULTS = "knn.json"


@torch.no_grad()
def project(net: FrozenModel, feats: torch.Tensor, device: torch.device, chunk: int = 65536) -> torch.Tensor:
    """Cached center-crop features (N, 1, C) -> L2-normalized float32 rows in ``net``'s space, on ``device``.

    Rows move over ``chunk`` at a time, so the device holds the result and one chunk, never a second copy.
    """
    out = torch.empty(0)
    for start in range(0, feats.shape[0], chunk):
        x = feats[start : start + chunk, 0].to(device).float()
        rows = net.embed(x)
        if start == 0:
            out = torch.empty(feats.shape[0], rows.shape[1], device=device)
        out[start : start + rows.shape[0]] = rows
    return out


def run_knn(cfg: CfgNode, device: torch.device) -> dict:
    """kNN top-1/top-5 of DATA.VAL_ROOT against DATA.TRAIN_ROOT (center crops); writes OUTPUT_DIR/knn.json."""
    start = time.perf_counter()
    net = probe_model(cfg, device, cfg.TEST.KNN_FEATURES)
    transform = probe_test_transform(cfg)
    train_set, val_set = build_probe_datasets(cfg, transform, transform)
    train = features(net, train_set, cfg, device, desc="train features")
    val = features(net, val_set, cfg, device, desc="val features")
    acc = knn_accuracy(
        project(net, val["features"], device),
        val["labels"].to(device),
        project(net, train["features"], device),
        train["labels"].to(device),
        cfg.TEST.KNN_K,
        cfg.TEST.KNN_TEMPERATURE,
    )
    result = {**acc, "features": net.space, "k": cfg.TEST.KNN_K, "temperature": cfg.TEST.KNN_TEMPERATURE}
    sizes, record = (len(train_set), len(val_set)), probe_record("kNN evaluation", cfg, net, train_set, val_set)
    return write_results(cfg, RESULTS, result, len(train_set.classes), sizes, start, record)
