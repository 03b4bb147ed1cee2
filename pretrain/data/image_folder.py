"""The instance dataset: an ImageNet-layout folder whose every image is its own class.

Instance discrimination needs each sample's *index* (its row in the memory bank); the class
folder's label is kept only for monitors (kNN, linear probe). Augmentations are seeded by
(seed, epoch, index), so a sample gets the same random crop whichever worker loads it: runs
are reproducible across ``num_workers`` settings and a resumed run replays the exact epoch.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from fvcore.common.config import CfgNode
from PIL import Image
from torch.utils.data import Dataset

from pretrain.augment.backgrounds import Backgrounds, ImageBackgrounds
from pretrain.augment.copy_paste import COUNTED, Composite, CopyPaste
from pretrain.augment.plan import Planner, SamplePlan
from pretrain.augment.reference import ReferenceAugmentation
from pretrain.utils.image_io import IMAGE_EXTENSIONS, BadImageError, list_images, load_rgb

from .masks import MaskFolder
from .reduced_decode import read_crop


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
    """``root/<class>/<image>`` -> ``{"image", "index", "label", "num_bad", <copy-paste counts>}``.

    With ``skip_bad`` an unreadable file is replaced by the next readable one (its own index is
    returned, so the bank stays consistent) and ``num_bad`` counts the files skipped; without
    it, a :class:`BadImageError` naming the file stops the run. A ``transform`` is applied to the
    image as it is (evaluation). With ``augmentation`` (training: a config's INPUT.* ranges) each
    sample's plan is drawn and carried out by the reference executor, copy-paste reading each
    image's mask from ``mask_root``; the flags of :data:`COUNTED` say what copy-paste did.
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
        texture: Backgrounds | None = None,
        augmentation: CfgNode | None = None,
    ) -> None:
        self.root = os.path.expanduser(root)
        self.paths, labels, self.classes = find_images(self.root)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.transform = transform
        self.skip_bad = skip_bad
        self.seed = seed
        self.epoch = 0
        self.copy_paste = copy_paste if copy_paste is not None and copy_paste.prob > 0 else None
        self.masks = MaskFolder(mask_root, self.paths, allow_missing_masks) if self.copy_paste else None
        image = self.copy_paste is not None and self.copy_paste.background == "image"
        self.background = ImageBackgrounds(len(self), self._image, self._mask) if image else texture
        self.planner = Planner(augmentation, self.copy_paste, self.background) if augmentation else None
        if self.planner is not None:
            assert augmentation is not None
            self.background = self.planner.backgrounds
            self.augment = ReferenceAugmentation(augmentation, self.copy_paste, self.background)

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

    def _image(self, index: int) -> np.ndarray:
        return np.asarray(load_rgb(self.path(index)))

    def _mask(self, index: int, size: tuple[int, int] | None = None, stored: bool = False) -> np.ndarray | None:
        """Mask ``index`` as an array (None where it has none); with ``size``, checked against the image's (w, h)
        (and, with ``stored``, as stored: copy-paste crops a bounded mask directly)."""
        assert self.masks is not None
        mask = self.masks.load(index, size, stored)
        return None if mask is None else np.asarray(mask)

    def plan(self, index: int, size: tuple[int, int]) -> SamplePlan:
        """The augmentation plan of sample ``index`` (an image of (w, h) ``size``) in the current epoch."""
        assert self.planner is not None
        return self.planner.plan(self.seed, self.epoch, index, size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, index, num_bad = self.load(index)
        if self.planner is None:
            return self._record(img if self.transform is None else self.transform(img), index, num_bad, Composite.OFF)
        plan = self.plan(index, img.size)
        mask = self._mask(index, img.size, stored=True) if plan.paste is not None else None
        image, status = self.augment(img, plan, mask)
        return self._record(image, index, num_bad, status)

    def _record(self, img: Any, index: int, num_bad: int, status: Composite) -> dict[str, Any]:
        return {
            "image": img,
            "index": index,
            "label": int(self.labels[index]),
            "num_bad": num_bad,
            **{key: int(status == counted) for key, counted in COUNTED.items()},
        }


class FastInstanceFolder(InstanceFolder):
    """The instances of the fast path (INPUT.BACKEND "gpu"): the workers' half of the plan.

    Each sample is a uint8 crop ``image`` (h, w, 3) read by reduced-size decoding
    (:mod:`.reduced_decode`), copy-paste already composited by the reference's numpy composite,
    plus its ``photometric`` parameters for the batched executor on the device. The plan is drawn
    from the file's header, so loading, skipping of unreadable files and planning happen together.
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        assert self.planner is not None
        for num_bad in range(len(self)):
            i = (index + num_bad) % len(self)
            try:
                crop, plan, size = read_crop(self.path(i), functools.partial(self.plan, i), self.planner.size)
            except BadImageError:
                if not self.skip_bad:
                    raise
                continue
            status = plan.coin
            if plan.paste is not None:
                assert self.copy_paste is not None and self.background is not None
                mask = self._mask(i, size, stored=True)
                crop, status = self.copy_paste.paste_crop(crop, mask, plan.box, plan.paste, self.background, size)
            item = self._record(torch.from_numpy(crop), i, num_bad, status)
            item["photometric"] = plan.photometric.tensors()
            return item
        raise BadImageError(f"no readable image in {self.root!r}")
