"""Data: labeled image folders, their instances and masks, the embedded set, samplers, the fast and resident paths."""

from .build import (
    build_eval_dataset,
    build_eval_loader,
    build_train_batches,
    build_train_dataset,
    build_train_loader,
    dataset_roots,
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
    "build_eval_dataset",
    "build_eval_loader",
    "build_train_batches",
    "build_train_dataset",
    "build_train_loader",
    "dataset_roots",
    "ensure_embedded",
    "find_images",
    "load_rgb",
]
