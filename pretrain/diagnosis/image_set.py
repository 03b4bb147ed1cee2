"""The images a diagnosis looks at: any folder, labeled by its class sub-folders when it has them.

A folder whose every image lies in a sub-folder (``root/<class>/...``, the ImageNet layout) is
labeled by the first path component; a flat folder (SOD's ``images/``) is unlabeled. Masks
mirror the image tree, as ``tools/saliency.py`` writes them and the embedded set stores them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pretrain.data.masks import load_mask
from pretrain.utils.image_io import list_images, load_rgb, mask_path

UNLABELED = -1


@dataclass(frozen=True)
class ImageSet:
    """Sorted relative image paths under ``root``, their class labels (``UNLABELED`` for a flat folder)."""

    root: str
    relpaths: list[str]
    labels: list[int]
    classes: list[str]

    @classmethod
    def from_folder(cls, root: str, limit: int = 0) -> ImageSet:
        """Every image below ``root`` (the first ``limit`` ones with ``limit`` > 0)."""
        relpaths = list_images(root)
        if not relpaths:
            raise FileNotFoundError(f"image folder {root!r} holds no images")
        relpaths = relpaths[:limit] if limit > 0 else relpaths
        if not all(os.sep in p for p in relpaths):
            return cls(root, relpaths, [UNLABELED] * len(relpaths), [])
        folders = [p.split(os.sep, 1)[0] for p in relpaths]
        classes = sorted(set(folders))
        return cls(root, relpaths, [classes.index(f) for f in folders], classes)

    def subset(self, indices: list[int]) -> ImageSet:
        """The images ``indices``, in that order, with the same class list."""
        return ImageSet(self.root, [self.relpaths[i] for i in indices], [self.labels[i] for i in indices], self.classes)

    @property
    def labeled(self) -> bool:
        return bool(self.classes)

    def __len__(self) -> int:
        return len(self.relpaths)

    def image(self, index: int) -> np.ndarray:
        return np.asarray(load_rgb(os.path.join(self.root, self.relpaths[index])))

    def with_mask(self, index: int, mask_root: str) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index`` and its 8-bit mask from ``mask_root``; a missing or mis-sized mask is an error naming it."""
        path = mask_path(mask_root, self.relpaths[index])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no mask {path!r} for image {self.relpaths[index]!r} under {mask_root!r}")
        image = load_rgb(os.path.join(self.root, self.relpaths[index]))
        return np.asarray(image), np.asarray(load_mask(path, image.size))

    def loader(
        self, pixels: Callable[[np.ndarray], torch.Tensor], batch_size: int = 64, workers: int = 0
    ) -> DataLoader:
        """Batches of {"image", "index", "label"} in order, each image turned into a tensor by ``pixels``."""
        return DataLoader(_Images(self, pixels), batch_size=batch_size, num_workers=workers)


class _Images(Dataset):
    def __init__(self, images: ImageSet, pixels: Callable[[np.ndarray], torch.Tensor]):
        self.images, self.pixels = images, pixels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.pixels(self.images.image(index)), "index": index, "label": self.images.labels[index]}
