"""The instance dataset: an ImageNet-layout folder whose every image is its own class.

Instance discrimination needs each sample's *index* (its row in the memory bank); the class
folder's label is kept only for monitors (kNN, linear probe). Augmentations are seeded by
(seed, epoch, index), so a sample gets the same random crop whichever worker loads it: runs
are reproducible across ``num_workers`` settings and a resumed run replays the exact epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pretrain.augment.copy_paste import (
    BackgroundSource,
    CopyPaste,
    background_crop,
    crop_window,
    least_salient_window,
)
from pretrain.utils.image_io import IMAGE_EXTENSIONS, BadImageError, list_images, load_rgb
from pretrain.utils.seed import derive_seed

from .fast_augment import CropAugmentation
from .masks import MaskFolder
from .transforms import Paste, TrainAugmentation, crop_mask


def find_images(root: str) -> tuple[list[str], list[int], list[str]]:
    """Relative paths, labels and class names of ``root/<class>/<...>/<image>``, sorted."""
    root = os.path.expanduser(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"image folder {root!r} has no class sub-folders (root/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = list_images(os.path.join(root, name))
        paths += [os.path.join(name, f) for f in found]
        labels += [label] * len(found)
    if not paths:
        raise FileNotFoundError(f"image folder {root!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return paths, labels, classes


class InstanceFolder(Dataset):
    """``root/<class>/<image>`` -> ``{"image", "index", "label", "num_bad", "pasted", "empty_mask", "missing_mask"}``.

    With ``skip_bad`` an unreadable file is replaced by the next readable one (its own index is
    returned, so the bank stays consistent) and ``num_bad`` counts the files skipped; without
    it, a :class:`BadImageError` naming the file stops the run. With ``copy_paste`` (training
    only: the transform must be a :class:`TrainAugmentation`) each image's mask is read from
    ``mask_root``; the flags say whether a sample was pasted, had an empty mask or had none.
    """

    def __init__(
        self,
        root: str,
        transform: Callable[[Image.Image], Any] | None = None,
        skip_bad: bool = False,
        seed: int = 0,
        copy_paste: CopyPaste | None = None,
        mask_root: str = "",
        allow_missing_masks: bool = False,
        texture: BackgroundSource | None = None,
    ) -> None:
        self.root = os.path.expanduser(root)
        self.paths, labels, self.classes = find_images(self.root)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.transform = transform
        self.skip_bad = skip_bad
        self.seed = seed
        self.epoch = 0
        self.copy_paste = copy_paste
        self.masks = MaskFolder(mask_root, self.paths, allow_missing_masks) if copy_paste else None
        self.background = self._image_background if copy_paste and copy_paste.background == "image" else texture

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations of epoch ``epoch`` (call before creating the DataLoader iterator)."""
        self.epoch = epoch

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.paths[index])

    def load(self, index: int) -> tuple[Image.Image, int, int]:
        """(image, its index, files skipped): image ``index`` or, with ``skip_bad``, the next readable one."""
        for num_bad in range(len(self)):
            i = (index + num_bad) % len(self)
            try:
                return load_rgb(self.path(i)), i, num_bad
            except BadImageError:
                if not self.skip_bad:
                    raise
        raise BadImageError(f"no readable image in {self.root!r}")

    def _image_background(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """A window of another training image where its saliency is near zero (the "image" background).

        An image whose object fills it has no such window: up to three donors are passed over
        (only their masks are read) for one with mean saliency <= 0.1; a fourth is taken as it is.
        """
        assert self.masks is not None
        for _ in range(3):
            j = int(rng.integers(len(self)))
            mask = self.masks.load(j)
            if mask is not None:
                rows, cols, mean = least_salient_window(np.asarray(mask), rng)
                if mean <= 0.1:
                    return crop_window(np.asarray(load_rgb(self.path(j))), rows, cols, shape)
        j = int(rng.integers(len(self)))
        image, mask = np.asarray(load_rgb(self.path(j))), self.masks.load(j)
        saliency = np.zeros(image.shape[:2], np.uint8) if mask is None else np.asarray(mask)
        return background_crop(image, saliency, shape, rng)

    def _copy_paste(self, index: int, size: tuple[int, int]) -> tuple[Image.Image | None, Paste | None, str]:
        """(mask, paste, "pasted") if sample ``index`` (of (w, h) ``size``) is pasted, else (None, None, why not)."""
        cp = self.copy_paste
        if cp is None or cp.prob == 0.0:
            return None, None, "off"
        rng = np.random.default_rng(derive_seed(self.seed, self.epoch, index, 1))
        if not cp.draw(rng):
            return None, None, "kept"
        assert self.masks is not None
        mask = self.masks.load(index, size)
        if mask is None:
            return None, None, "missing"
        return mask, lambda crop, m: cp.paste(crop, m, rng, self.background), "pasted"

    def _augment(self, img: Image.Image, index: int) -> tuple[Any, str]:
        mask, paste, status = self._copy_paste(index, img.size)
        if paste is None:
            return self.transform(img), status
        assert isinstance(self.transform, TrainAugmentation)
        return self.transform.with_mask(img, mask, paste)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, index, num_bad = self.load(index)
        status = "off"
        if self.transform is not None:
            with seeded_default_generator(derive_seed(self.seed, self.epoch, index)):
                img, status = self._augment(img, index)
        return self._record(img, index, num_bad, status)

    def _record(self, img: Any, index: int, num_bad: int, status: str) -> dict[str, Any]:
        return {
            "image": img,
            "index": index,
            "label": int(self.labels[index]),
            "num_bad": num_bad,
            "pasted": int(status == "pasted"),
            "empty_mask": int(status == "empty"),
            "missing_mask": int(status == "missing"),
        }


class FastInstanceFolder(InstanceFolder):
    """The instances of the fast path (INPUT.BACKEND "gpu", see :mod:`pretrain.data.fast_augment`).

    Each sample is a uint8 crop ``image`` (h, w, 3), copy-paste already composited, plus its
    ``photometric`` parameters for :class:`PhotometricAugmentation` on the device. The crop box
    is drawn before decoding (the decode's size depends on it), so loading, skipping of
    unreadable files and seeding happen together here; draws and seeds are the reference's.
    """

    transform: CropAugmentation

    def __getitem__(self, index: int) -> dict[str, Any]:
        for num_bad in range(len(self)):
            i = (index + num_bad) % len(self)
            with seeded_default_generator(derive_seed(self.seed, self.epoch, i)):
                try:
                    crop, box, size = self.transform.crop(self.path(i))
                except BadImageError:
                    if not self.skip_bad:
                        raise
                    continue
                mask, paste, status = self._copy_paste(i, size)
                if paste is not None:
                    crop, status = paste(crop, crop_mask(mask, box, self.transform.size))
                photometric = self.transform.draw_photometric()
            item = self._record(torch.from_numpy(crop), i, num_bad, status)
            item["photometric"] = photometric
            return item
        raise BadImageError(f"no readable image in {self.root!r}")


@contextmanager
def seeded_default_generator(seed: int) -> Iterator[None]:
    """torchvision draws from the CPU default generator: seed it for one sample, then put the
    caller's stream back (cheaper than torch.manual_seed + fork_rng)."""
    gen = torch.default_generator
    state = gen.get_state()
    gen.manual_seed(seed)
    try:
        yield
    finally:
        gen.set_state(state)
