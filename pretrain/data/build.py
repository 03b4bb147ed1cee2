"""Datasets and loaders from a config: the training instances and the labeled evaluation sets."""

from __future__ import annotations

import os

import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader, Dataset, Subset

from pretrain.utils import comm

from .embedded import EmbeddedSpec, ensure_embedded
from .image_folder import InstanceFolder
from .sampler import EpochSampler
from .transforms import build_test_transform, build_train_transform

SOURCES = ("folder", "embedded")


def embedded_spec(cfg: CfgNode) -> EmbeddedSpec:
    e = cfg.DATA.EMBEDDED
    return EmbeddedSpec(
        e.NUM_CLASSES, e.TRAIN_PER_CLASS, e.VAL_PER_CLASS, e.IMAGE_SIZE, e.NUM_BACKGROUNDS, tuple(e.OBJECT_SIZE), e.SEED
    )


def dataset_roots(cfg: CfgNode) -> tuple[str, str]:
    """(train root, val root); the embedded set is generated on first use (by rank 0)."""
    if cfg.DATA.SOURCE not in SOURCES:
        raise ValueError(f"DATA.SOURCE must be one of {SOURCES}, got {cfg.DATA.SOURCE!r}")
    if cfg.DATA.SOURCE == "embedded":
        if comm.is_main_process():
            ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
        comm.barrier()
        root = ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
        return os.path.join(root, "train"), os.path.join(root, "val")
    if not cfg.DATA.TRAIN_ROOT:
        raise ValueError("DATA.TRAIN_ROOT is empty: set it to an image folder root/<class>/<image>")
    return cfg.DATA.TRAIN_ROOT, cfg.DATA.VAL_ROOT


def build_train_loader(cfg: CfgNode, dataset: InstanceFolder) -> tuple[DataLoader, EpochSampler]:
    """Each rank loads IMS_PER_BATCH / world_size augmented images per step."""
    world = comm.get_world_size()
    if cfg.SOLVER.IMS_PER_BATCH % world:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world} processes")
    batch = cfg.SOLVER.IMS_PER_BATCH // world
    sampler = EpochSampler(len(dataset), batch, comm.get_rank(), world, cfg.SEED)
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=cfg.DATA.NUM_WORKERS,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
        persistent_workers=False,  # workers must see dataset.set_epoch() of each new epoch
    )
    return loader, sampler


def build_train_dataset(cfg: CfgNode, root: str) -> InstanceFolder:
    return InstanceFolder(root, build_train_transform(cfg), cfg.DATA.SKIP_BAD_IMAGES, cfg.SEED)


def build_eval_dataset(cfg: CfgNode, root: str) -> InstanceFolder:
    """Labeled images under the evaluation transform (resize + one center crop)."""
    return InstanceFolder(root, build_test_transform(cfg), cfg.DATA.SKIP_BAD_IMAGES, cfg.SEED)


def build_eval_loader(cfg: CfgNode, dataset: Dataset) -> DataLoader:
    """This rank's shard (every world_size-th sample), in order, nothing dropped."""
    shard = Subset(dataset, range(comm.get_rank(), len(dataset), comm.get_world_size()))
    batch = max(1, cfg.TEST.IMS_PER_BATCH // comm.get_world_size())
    return DataLoader(shard, batch_size=batch, num_workers=cfg.DATA.NUM_WORKERS, pin_memory=torch.cuda.is_available())
