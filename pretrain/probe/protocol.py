"""The linear-probe protocol end to end: frozen backbone, data, full or fast training, top-1/top-5.

Full (the paper's): every epoch reads the training images with RandomResizedCrop + flip and
computes features through the frozen backbone. Fast (FAST.ENABLED): features of the center
crop (plus FAST.VIEWS augmented views) are extracted once into the feature cache and the
linear layer is trained on them, by the same SGD schedule or by L-BFGS. Both test on the
center crop, or on ten crops with TEST.TEN_CROP.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

import torch
from fvcore.common.config import CfgNode

from pretrain.data import EpochSampler, LabeledImages, train_loader
from pretrain.engine.linear import fit_linear_probe
from pretrain.models.frozen import FrozenModel
from pretrain.utils import comm
from pretrain.utils.seed import derive_seed

from .cache import FEATURE_DTYPE, features
from .datasets import build_probe_datasets
from .launch import probe_model, probe_record, write_results
from .trainer import PROBE_LAST, Batches, LinearClassifier, ProbeTrainer, evaluate, read_probe_checkpoint
from .transforms import probe_test_transform, probe_train_transform

RESULTS = "linear_probe.json"

logger = logging.getLogger("pretrain")


def image_batches(
    net: FrozenModel, train_set: LabeledImages, cfg: CfgNode, device: torch.device
) -> tuple[Batches, int]:
    """The full protocol's batches: augmented images through the frozen backbone, rounded to FEATURE_DTYPE
    like the cached validation features the classifier is tested on."""
    loader, sampler = train_loader(train_set, cfg.SOLVER.IMS_PER_BATCH, cfg.DATA.NUM_WORKERS, cfg.SEED)

    def batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        for batch in loader:
            with torch.no_grad():
                x = net(batch["image"].to(device, non_blocking=True)).to(FEATURE_DTYPE).float()
            yield x, batch["label"].to(device)

    return batches, sampler.iters_per_epoch


def cached_batches(train: dict[str, torch.Tensor], cfg: CfgNode, device: torch.device) -> tuple[Batches, int]:
    """The fast probe's batches: the same sampler over cached rows, one of each image's K views per epoch."""
    feats, labels = train["features"], train["labels"]
    batch = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
    sampler = EpochSampler(len(labels), batch, comm.get_rank(), comm.get_world_size(), cfg.SEED)

    def batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler.set_epoch(epoch)
        g = torch.Generator().manual_seed(derive_seed(cfg.SEED, epoch, 1))
        views = torch.randint(feats.shape[1], (len(labels),), generator=g)
        for idx in torch.tensor(list(sampler), dtype=torch.long).split(batch):
            yield feats[idx, views[idx]].to(device).float(), labels[idx].to(device)

    return batches, sampler.iters_per_epoch


def train_views(net: FrozenModel, train_set: LabeledImages, cfg: CfgNode, device: torch.device) -> dict:
    """Cached training features (N, 1 + FAST.VIEWS, C): the center crop, then the augmented views.

    Each view is written into one preallocated tensor as it arrives, so the host holds the views once
    (ImageNet, ResNet-50: 5.2 GB per view per rank), not the views and their concatenation.
    """
    center_crops = train_set.with_transform(probe_test_transform(cfg))
    center = features(net, center_crops, cfg, device, desc="train features (center crop)")
    rows = torch.empty(len(train_set), 1 + cfg.FAST.VIEWS, *center["features"].shape[2:], dtype=FEATURE_DTYPE)
    rows[:, :1] = center["features"]
    labels = center["labels"]
    del center
    augmented = train_set.with_transform(probe_train_transform(cfg))
    for view in range(1, cfg.FAST.VIEWS + 1):
        augmented.set_epoch(view)  # view v: the draws of epoch v
        desc = f"train features (view {view})"
        rows[:, view : view + 1] = features(net, augmented, cfg, device, augmented=True, desc=desc)["features"]
    return {"features": rows, "labels": labels}


def run_linear_probe(cfg: CfgNode, device: torch.device, resume: bool = False, net: FrozenModel | None = None) -> dict:
    """Train and test the probe that ``cfg`` describes; writes OUTPUT_DIR/linear_probe.json and returns it.

    ``net`` is the frozen model to probe, already built (default: MODEL.WEIGHTS's, :func:`.launch.probe_model`).
    """
    start = time.perf_counter()
    net = net.to(device) if net is not None else probe_model(cfg, device)
    train_set, val_set = build_probe_datasets(
        cfg, probe_train_transform(cfg), probe_test_transform(cfg, cfg.TEST.TEN_CROP)
    )
    num_classes = len(train_set.classes)
    logger.info("probe: %d training and %d validation images, %d classes", len(train_set), len(val_set), num_classes)
    record = probe_record("linear probe", cfg, net, train_set, val_set)
    val = features(net, val_set, cfg, device, desc="val features")
    dim = val["features"].shape[-1]
    mode = "full"
    if cfg.FAST.ENABLED:
        mode = f"fast-{cfg.FAST.SOLVER}"
        train = train_views(net, train_set, cfg, device)
    if mode == "fast-lbfgs":
        rows = train["features"].flatten(0, 1).float().to(device)
        labels = train["labels"].repeat_interleave(train["features"].shape[1]).to(device)
        result = evaluate(fit_linear_probe(rows, labels, num_classes, cfg.FAST.LBFGS_WEIGHT_DECAY), val, device)
    else:
        trainer = ProbeTrainer(cfg, dim, num_classes, device, record)
        if resume:
            trainer.resume()
        batches, iters = (
            cached_batches(train, cfg, device) if cfg.FAST.ENABLED else image_batches(net, train_set, cfg, device)
        )
        result = trainer.train(batches, iters, lambda classifier: evaluate(classifier, val, device))
    epochs = 0 if mode == "fast-lbfgs" else cfg.SOLVER.EPOCHS
    result = {**result, "mode": mode, "ten_crop": cfg.TEST.TEN_CROP, "epochs": epochs}
    return write_results(cfg, RESULTS, result, num_classes, (len(train_set), len(val_set)), start, record)


def protocol_classifier(net: FrozenModel, cfg: CfgNode, device: torch.device) -> tuple[LinearClassifier, dict]:
    """``net``'s classifier trained by SGD as the probe ``cfg`` describes (the full protocol; or FAST with
    FAST.SOLVER sgd), in OUTPUT_DIR, resuming or reusing a probe there with the same record; with the probe's
    results (:func:`run_linear_probe`). Raises ValueError for the L-BFGS probe, which has no SGD classifier."""
    if cfg.FAST.ENABLED and cfg.FAST.SOLVER != "sgd":
        raise ValueError(f"the protocol's classifier is trained by SGD: FAST.SOLVER is {cfg.FAST.SOLVER!r}")
    result = run_linear_probe(cfg, device, resume=True, net=net)
    state = read_probe_checkpoint(os.path.join(cfg.OUTPUT_DIR, PROBE_LAST))["model"]
    num_classes, dim = state["fc.weight"].shape
    classifier = LinearClassifier(dim, num_classes, cfg.MODEL.FEATURE_NORM)
    classifier.load_state_dict(state)
    return classifier.eval(), result
