"""The one labeled-image dataset of every evaluation: the kNN monitor's, the probes' and diagnosis's images.

A root, relative paths, integer labels and class names. Probes list it from a class folder, a
list file or Places365 (``pretrain.probe.datasets``); diagnosis from any folder, labeled by its
class sub-folders when every image has one (a flat folder such as SOD's ``images/`` is unlabeled).
Classes are the non-hidden sub-folders that hold an image; an evaluation set is labeled with its
training set's class list, so an extra, empty or hidden folder cannot shift its labels.
``pretrain.data.InstanceFolder``, the pretraining dataset and the kNN monitor's, is one too. Its
transform is seeded per (seed, epoch, index), as the pretraining dataset's is, so a probe's
augmentations do not depend on the number of loader workers and a resumed run replays its epochs
exactly. Masks mirror the image tree, as ``tools/saliency.py`` writes them.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pretrain.utils.image_io import IMAGE_EXTENSIONS, list_images, load_rgb, mask_paths
from pretrain.utils.seed import derive_seed

from .masks import load_mask

UNLABELED = -1
SHOWN = 5  # class names shown in a message

logger = logging.getLogger("pretrain")


def find_images(root: str, classes: list[str] | None = None) -> tuple[list[str], list[int], list[str]]:
    """Relative paths, labels and class names of ``root/<class>/<...>/<image>``, sorted.

    The classes are the sub-folders that hold an image (:func:`list_images`: hidden ones are not
    listed), sorted by name; an empty or image-less folder is no class (logged). With ``classes``
    (a training set's) labels are indices into it and it is the
    returned class list: a class of it that ``root`` lacks is fine, a folder of ``root`` that it
    lacks is a ValueError naming them (:func:`class_labels`). Images directly in ``root`` are not listed.
    """
    root = os.path.expanduser(root)
    paths = [p for p in list_images(root) if os.sep in p]
    if not paths:
        raise FileNotFoundError(
            f"image folder {root!r} has no class sub-folders holding images ({', '.join(IMAGE_EXTENSIONS)}): "
            "root/<class>/<image>"
        )
    folders = [p.split(os.sep, 1)[0] for p in paths]
    found = set(folders)
    left_out = sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name not in found)
    if left_out:
        logger.info(
            "image folder %s: %d sub-folders are hidden or hold no images, not classes: %s",
            root,
            len(left_out),
            left_out[:SHOWN],
        )
    labels, classes = class_labels(root, folders, classes)
    return paths, labels, classes


def class_labels(root: str, folders: list[str], classes: list[str] | None = None) -> tuple[list[int], list[str]]:
    """(label of each image, class list) for the images of class ``folders`` under ``root``: the folders sorted
    by name, or indices into ``classes`` (a training set's), where a folder that
    ``classes`` lacks is a ValueError naming it."""
    if classes is None:
        classes = sorted(set(folders))
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(folders) - index.keys())
    if unknown:
        raise ValueError(
            f"image folder {root!r} has classes that the {len(classes)} training classes lack: "
            f"{unknown[:SHOWN]}{f' and {len(unknown) - SHOWN} more' if len(unknown) > SHOWN else ''}"
        )
    return [index[f] for f in folders], list(classes)


class LabeledImages(Dataset):
    """``root/<path>`` with a label each -> ``{"image", "index", "label"}``; a bad file is an error naming it."""

    def __init__(
        self,
        root: str,
        paths: list[str],
        labels: list[int],
        classes: list[str],
        transform: Callable[[Image.Image], Any] | None = None,
        seed: int = 0,
    ) -> None:
        if len(paths) != len(labels) or not paths:
            raise ValueError(f"{root!r}: {len(paths)} paths and {len(labels)} labels (need as many, and some)")
        self.root, self.paths, self.classes = root, paths, classes
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.transform, self.seed, self.epoch = transform, seed, 0
        self._masks: dict[str, dict[str, str]] = {}  # mask root -> {image path: mask path}, see with_mask

    @classmethod
    def from_folder(cls, root: str, limit: int = 0, classes: list[str] | None = None) -> LabeledImages:
        """Every image below ``root`` (the first ``limit`` with ``limit`` > 0; hidden files and folders
        skipped), by class sub-folder if all have one, else unlabeled. Classes are the folders that hold an
        image, or ``classes`` (a training set's): see :func:`class_labels`."""
        paths = list_images(root)
        if not paths:
            raise FileNotFoundError(f"image folder {root!r} holds no images")
        paths = paths[:limit] if limit > 0 else paths
        if not all(os.sep in p for p in paths):
            return cls(root, paths, [UNLABELED] * len(paths), [])
        labels, names = class_labels(root, [p.split(os.sep, 1)[0] for p in paths], classes)
        return cls(root, paths, labels, names)

    def subset(self, indices: list[int]) -> LabeledImages:
        """The images ``indices``, in that order, with the same class list and transform."""
        labels = self.labels[indices].tolist()
        return type(self)(self.root, [self.paths[i] for i in indices], labels, self.classes, self.transform, self.seed)

    def with_transform(self, transform: Callable | None) -> LabeledImages:
        """The same images under another transform (this one keeps its own)."""
        other = copy.copy(self)
        other.transform = transform
        return other

    @property
    def labeled(self) -> bool:
        return bool(self.classes)

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` (before a DataLoader iterator is created)."""
        self.epoch = epoch

    def identity(self) -> str:
        """A digest of root, paths, each file's size and modification time, and labels.

        Which images, in which order, with which labels; a photo replaced under the same name changes
        its size or time, so features cached from the old one are not reused. One ``stat`` per file.
        """
        h = hashlib.sha1(os.path.abspath(self.root).encode())
        for path in self.paths:
            st = os.stat(os.path.join(self.root, path))
            h.update(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()

    def image(self, index: int) -> np.ndarray:
        return np.asarray(load_rgb(os.path.join(self.root, self.paths[index])))

    def with_mask(self, index: int, mask_root: str) -> tuple[np.ndarray, np.ndarray]:
        """Image ``index`` and its 8-bit mask from ``mask_root``; a missing or mis-sized mask is an error naming it.

        The mask's name is :func:`mask_paths`'s over every image of ``root`` (listed once per ``mask_root``),
        as ``tools/saliency.py`` names them, however few of them this set holds."""
        path = self._mask_files(mask_root)[self.paths[index]]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no mask {path!r} for image {self.paths[index]!r} under {mask_root!r}")
        image = load_rgb(os.path.join(self.root, self.paths[index]))
        return np.asarray(image), np.asarray(load_mask(path, image.size))

    def _mask_files(self, mask_root: str) -> dict[str, str]:
        """{image path: its mask's path under ``mask_root``} for every image of ``root`` and of this set."""
        if mask_root not in self._masks:
            listing = sorted(set(list_images(self.root)).union(self.paths))
            self._masks[mask_root] = dict(zip(listing, mask_paths(mask_root, listing), strict=True))
        return self._masks[mask_root]

    def __getitem__(self, index: int) -> dict[str, Any]:
        img: Any = load_rgb(os.path.join(self.root, self.paths[index]))
        if self.transform is not None:
            gen = torch.default_generator  # torchvision draws from it: seed per sample, then restore
            state = gen.get_state()
            gen.manual_seed(derive_seed(self.seed, self.epoch, index))
            try:
                img = self.transform(img)
            finally:
                gen.set_state(state)
        return {"image": img, "index": index, "label": int(self.labels[index])}
