"""Datasets and loaders from a config: the training instances and the labeled evaluation sets."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader, Dataset, Subset

from pretrain.augment.backgrounds import texture_source
from pretrain.augment.batched import PhotometricAugmentation
from pretrain.augment.copy_paste import CopyPaste
from pretrain.augment.plan import AugmentationSpec
from pretrain.augment.reference import test_transform
from pretrain.utils import comm
from pretrain.utils.image_io import list_images, load_rgb

from .embedded import EmbeddedSpec, ensure_embedded
from .fast_path import FastInstanceFolder, FastPathLoader, WorkerBatch
from .image_folder import InstanceFolder
from .resident import ResidentLoader
from .sampler import EpochSampler


def embedded_spec(cfg: CfgNode) -> EmbeddedSpec:
    e = cfg.DATA.EMBEDDED
    return EmbeddedSpec(
        e.NUM_CLASSES,
        e.TRAIN_PER_CLASS,
        e.VAL_PER_CLASS,
        e.IMAGE_SIZE,
        e.NUM_BACKGROUNDS,
        tuple(e.OBJECT_SIZE),
        e.SEED,
        e.CLASS_BACKGROUNDS,
    )


def dataset_roots(cfg: CfgNode) -> tuple[str, str]:
    """(train root, val root); the embedded set is generated on first use (by rank 0)."""
    if cfg.DATA.SOURCE == "embedded":
        if comm.is_main_process():
            ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
        comm.barrier()
        root = ensure_embedded(embedded_spec(cfg), cfg.DATA.EMBEDDED.CACHE_DIR)
        return os.path.join(root, "train"), os.path.join(root, "val")
    if not cfg.DATA.TRAIN_ROOT:
        raise ValueError("DATA.TRAIN_ROOT is empty: set it to an image folder root/<class>/<image>")
    val_root = cfg.DATA.VAL_ROOT
    # The training folder's own error (build_train_dataset) comes first when both are missing.
    if (
        val_root
        and os.path.isdir(os.path.expanduser(cfg.DATA.TRAIN_ROOT))
        and not os.path.isdir(os.path.expanduser(val_root))
    ):
        raise FileNotFoundError(
            f"validation folder {val_root!r} does not exist (DATA.VAL_ROOT): fix the path, "
            "or set DATA.VAL_ROOT '' to train without the kNN monitor"
        )
    return cfg.DATA.TRAIN_ROOT, val_root


def train_sampler(size: int, ims_per_batch: int, seed: int) -> EpochSampler:
    """Each rank draws ``ims_per_batch`` (SOLVER.IMS_PER_BATCH, the total over ranks) / world_size of ``size``
    instances per step, in an order drawn from ``seed``."""
    world = comm.get_world_size()
    if ims_per_batch % world:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={ims_per_batch} is not divisible by {world} processes")
    return EpochSampler(size, ims_per_batch // world, comm.get_rank(), world, seed)


def train_loader(dataset: Dataset, ims_per_batch: int, num_workers: int, seed: int) -> tuple[DataLoader, EpochSampler]:
    """``num_workers`` DataLoader workers load each rank's share of ``ims_per_batch`` augmented images per step
    (pretraining's and the linear probe's); the sampler sets each epoch's order."""
    sampler = train_sampler(len(dataset), ims_per_batch, seed)
    loader = DataLoader(
        dataset,
        batch_size=sampler.batch,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        drop_last=True,
        persistent_workers=False,  # workers must see dataset.set_epoch() of each new epoch
        collate_fn=WorkerBatch.pack if isinstance(dataset, FastInstanceFolder) else None,
    )
    return loader, sampler


def build_train_batches(
    cfg: CfgNode, dataset: InstanceFolder, device: torch.device
) -> tuple[DataLoader | FastPathLoader | ResidentLoader, EpochSampler]:
    """The pretraining batches of INPUT.BACKEND.

    "cpu": DataLoader workers augment with PIL (the reference executor); "gpu": workers crop
    (:mod:`.fast_path`), ``device`` pastes and colors (the batched executor); "resident": the
    decoded set lives on ``device``, where the batched executor does everything (:mod:`.resident`).
    """
    batch, workers, seed = cfg.SOLVER.IMS_PER_BATCH, cfg.DATA.NUM_WORKERS, cfg.SEED
    photometric = PhotometricAugmentation(cfg.INPUT.MEAN, cfg.INPUT.STD, device)
    if cfg.INPUT.BACKEND == "gpu":
        loader, sampler = train_loader(dataset, batch, workers, seed)
        return FastPathLoader(loader, photometric, device), sampler
    if cfg.INPUT.BACKEND != "resident":
        return train_loader(dataset, batch, workers, seed)
    sampler = train_sampler(len(dataset), batch, seed)
    return ResidentLoader(dataset, sampler, photometric, device), sampler


def augmentation_spec(cfg: CfgNode) -> AugmentationSpec:
    """The training views' ranges and normalization (INPUT.*)."""
    i = cfg.INPUT
    return AugmentationSpec(
        size=i.SIZE,
        crop_scale=tuple(i.CROP_SCALE),
        grayscale_prob=i.GRAYSCALE_PROB,
        color_jitter=tuple(i.COLOR_JITTER),
        color_jitter_prob=i.COLOR_JITTER_PROB,
        blur_prob=i.BLUR_PROB,
        blur_sigma=tuple(i.BLUR_SIGMA),
        hflip_prob=i.HFLIP_PROB,
        mean=tuple(i.MEAN),
        std=tuple(i.STD),
    )


def build_train_dataset(cfg: CfgNode, root: str, views: int = 1) -> InstanceFolder:
    """The training instances, planned and augmented, with copy-paste when COPY_PASTE.PROB > 0; uint8 crops
    and photometric parameters on the fast path. ``views`` > 1 (the cpu and resident backends): that many
    independently augmented views of each image."""
    if not os.path.isdir(os.path.expanduser(root)):  # before any mask work: the images come first
        raise FileNotFoundError(f"image folder {root!r} does not exist (DATA.TRAIN_ROOT)")
    folder = FastInstanceFolder if cfg.INPUT.BACKEND == "gpu" else InstanceFolder
    common = {"skip_bad": cfg.DATA.SKIP_BAD_IMAGES, "seed": cfg.SEED, "augmentation": augmentation_spec(cfg)}
    cp = cfg.COPY_PASTE
    if cp.PROB == 0:
        return folder(root, views=views, **common)
    texture = None
    if cp.BACKGROUND == "texture":
        if not cp.TEXTURE_ROOT:
            raise ValueError("COPY_PASTE.BACKGROUND texture needs COPY_PASTE.TEXTURE_ROOT (a folder of images)")
        textures = [os.path.join(cp.TEXTURE_ROOT, p) for p in list_images(cp.TEXTURE_ROOT)]
        texture = texture_source(textures, _load_texture)
    skip = cp.MISSING_MASKS == "skip"
    dataset = folder(
        root,
        copy_paste=CopyPaste(cp.PROB, cp.BACKGROUND, cp.BLEND, cp.MASK_THRESHOLD, cp.BLUR_SIGMA),
        mask_root=mask_root(cfg, root),
        allow_missing_masks=skip,
        texture=texture,
        views=views,
        **common,
    )
    dataset.masks.check(dataset.root, skip or cfg.DATA.SKIP_BAD_IMAGES)  # headers, before training starts
    if cp.MASK_PACK:  # rank 0 builds or refreshes the pack, the others then map it
        if comm.is_main_process():
            dataset.masks.use_pack(cp.MASK_PACK)
        comm.barrier()
        if not comm.is_main_process():
            dataset.masks.use_pack(cp.MASK_PACK, build=False)
    return dataset


@functools.lru_cache(maxsize=256)
def _load_texture(path: str) -> np.ndarray:
    """Texture sets are small: decode each file once per worker."""
    return np.asarray(load_rgb(path))


def embedded_mask_root(train_root: str, method: str) -> str:
    """Where the embedded set's masks of DATA.EMBEDDED.MASKS ``method`` live ("true": the rendered ones)."""
    return os.path.join(os.path.dirname(train_root), "masks" if method == "true" else f"masks_{method}", "train")


def mask_root(cfg: CfgNode, train_root: str) -> str:
    """COPY_PASTE.MASK_ROOT, or the embedded set's masks (computed by the run's setup, see
    :func:`pretrain.engine.prepare_embedded`: the data layer only reads masks)."""
    if cfg.COPY_PASTE.MASK_ROOT:
        return cfg.COPY_PASTE.MASK_ROOT
    if cfg.DATA.SOURCE != "embedded":
        raise ValueError("COPY_PASTE.PROB > 0 needs COPY_PASTE.MASK_ROOT: masks from tools/saliency.py")
    method = cfg.DATA.EMBEDDED.MASKS
    out = embedded_mask_root(train_root, method)
    if not os.path.isdir(out):
        raise FileNotFoundError(
            f"the embedded set's {method} masks {out!r} are not computed (DATA.EMBEDDED.MASKS): tools/pretrain.py "
            f"computes them on first run, or run tools/saliency.py --input {train_root} --output {out} "
            f"--method {method} --small-images"
        )
    return out


def build_eval_dataset(cfg: CfgNode, root: str, classes: list[str] | None = None) -> InstanceFolder:
    """Labeled images under the evaluation transform (resize + one center crop).

    ``classes``: the training set's class list, which labels a validation folder (the kNN monitor's): a
    training class the folder lacks is fine, a folder of a class training lacks is a ValueError naming it.
    """
    i = cfg.INPUT
    transform = test_transform(i.TEST_RESIZE, i.SIZE, i.MEAN, i.STD)
    return InstanceFolder(root, transform, cfg.DATA.SKIP_BAD_IMAGES, cfg.SEED, classes=classes)


def eval_loader(dataset: Dataset, ims_per_batch: int, num_workers: int) -> DataLoader:
    """This rank's shard of ``dataset`` (every world_size-th sample), in order, nothing dropped, in batches of
    ``ims_per_batch`` (TEST.IMS_PER_BATCH, the total over ranks) / world_size."""
    shard = Subset(dataset, range(comm.get_rank(), len(dataset), comm.get_world_size()))
    batch = max(1, ims_per_batch // comm.get_world_size())
    return DataLoader(shard, batch_size=batch, num_workers=num_workers, pin_memory=torch.cuda.is_available())
