"""Data: labeled image folders, their instances and masks, the embedded set, samplers, the fast and resident paths."""

from .build import (
    augmentation_spec,
    build_eval_dataset,
    build_train_batches,
    build_train_dataset,
    dataset_roots,
    eval_loader,
    train_loader,
)
from .embedded import EmbeddedSpec, ensure_embedded
from .image_folder import BadImageError, InstanceFolder, load_rgb
from .labeled import LabeledImages, find_images
from .sampler import EpochSampler

__all__ = [
    "BadImageError",
    "EmbeddedSpec",
    "EpochSampler",
    "InstanceFolder",
    "LabeledImages",
    "augmentation_spec",
    "build_eval_dataset",
    "build_train_batches",
    "build_train_dataset",
    "dataset_roots",
    "ensure_embedded",
    "eval_loader",
    "find_images",
    "load_rgb",
    "train_loader",
]
