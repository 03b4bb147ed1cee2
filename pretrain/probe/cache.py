"""Features extracted once and kept on disk, so a rerun (or the kNN after a probe) skips the backbone.

A cache entry is keyed by everything its numbers depend on: the backbone's fingerprint (the
weights file's digest), the images (each file's size and modification time) and labels in order,
every INPUT setting and the transform, and for augmented views the seed and the view number.
Entries are written atomically by rank 0 as FEATURE_DTYPE.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import torch
from fvcore.common.config import CfgNode

from pretrain.data import LabeledImages, eval_loader
from pretrain.engine.features import crop_features, gather_outputs
from pretrain.models.frozen import FrozenModel
from pretrain.utils import comm
from pretrain.utils.torch_file import load_torch_file, save_atomic

logger = logging.getLogger("pretrain")

# The precision of every probe feature: cached rows (fast protocol, validation) and the full protocol's
# training batches alike, so a classifier is trained and tested at one precision. float16 halves the
# host memory of ImageNet's 1.28M x 2048 rows (5.2 GB per view); its 11-bit mantissa is far below the
# differences a linear probe resolves.
FEATURE_DTYPE = torch.float16


def cache_key(net: FrozenModel, dataset: LabeledImages, cfg: CfgNode, augmented: bool) -> dict[str, str]:
    """What an entry's features depend on (a random transform also on its seed and epoch).

    ``cfg.INPUT`` goes in whole: a transform's repr need not show every setting it uses.
    """
    key = {
        "weights": net.fingerprint,
        "images": dataset.identity(),
        "input": json.dumps(cfg.INPUT, sort_keys=True),
        "transform": repr(dataset.transform),
        "dtype": str(FEATURE_DTYPE),
    }
    if augmented:
        key["draw"] = f"seed {dataset.seed} view {dataset.epoch}"
    return key


def cache_path(cache_dir: str, key: dict[str, str]) -> str:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return os.path.join(os.path.expanduser(cache_dir), f"{digest}.pt")


def _read(path: str, num_samples: int) -> dict[str, torch.Tensor]:
    try:
        entry = load_torch_file(path, "feature cache")
    except ValueError as e:
        raise ValueError(f"{e}; delete it to extract again") from e
    if entry["features"].shape[0] != num_samples:
        raise ValueError(f"feature cache {path!r} has {entry['features'].shape[0]} rows, expected {num_samples}")
    return entry


def features(
    net: FrozenModel,
    dataset: LabeledImages,
    cfg: CfgNode,
    device: torch.device,
    augmented: bool = False,
    desc: str = "features",
) -> dict[str, torch.Tensor]:
    """{"features": (N, K, C) FEATURE_DTYPE, "labels": (N,)} on the CPU; K is the number of crops per image.

    Read from FEATURES.CACHE_DIR when an entry exists, else extracted (sharded over ranks) and
    stored there (FEATURES.CACHE_DIR "" keeps them in memory only).
    """
    key = cache_key(net, dataset, cfg, augmented)
    path = cache_path(cfg.FEATURES.CACHE_DIR, key) if cfg.FEATURES.CACHE_DIR else ""
    if path and os.path.isfile(path):
        logger.info("%s: cached features %s", desc, path)
        return _read(path, len(dataset))
    loader = eval_loader(dataset, cfg.TEST.IMS_PER_BATCH, cfg.DATA.NUM_WORKERS)
    out = gather_outputs(crop_features(net), loader, len(dataset), device, desc, FEATURE_DTYPE)
    entry = {"features": out["features"], "labels": out["labels"], "key": key}
    if path and comm.is_main_process():
        save_atomic(entry, path)
        logger.info("%s: features of %d images cached in %s", desc, len(dataset), path)
    comm.barrier()
    return entry
