"""The instance dataset: an ImageNet-layout folder whose every image is its own class.

Instance discrimination needs each sample's *index* (its row in the memory bank); the class
folder's label is kept only for monitors (kNN, linear probe). Augmentations are seeded by
(seed, epoch, index), so a sample gets the same random crop whichever worker loads it: runs
are reproducible across ``num_workers`` settings and a resumed run replays the exact epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from pretrain.utils.image_io import IMAGE_EXTENSIONS, BadImageError, list_images, load_rgb
from pretrain.utils.seed import derive_seed


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
    """``root/<class>/<image>`` -> ``{"image", "index", "label", "num_bad"}``.

    With ``skip_bad`` an unreadable file is replaced by the next readable one (its own index is
    returned, so the bank stays consistent) and ``num_bad`` counts the files skipped; without
    it, a :class:`BadImageError` naming the file stops the run.
    """

    def __init__(
        self,
        root: str,
        transform: Callable[[Image.Image], Any] | None = None,
        skip_bad: bool = False,
        seed: int = 0,
    ) -> None:
        self.root = os.path.expanduser(root)
        self.paths, labels, self.classes = find_images(self.root)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.transform = transform
        self.skip_bad = skip_bad
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations of epoch ``epoch`` (call before creating the DataLoader iterator)."""
        self.epoch = epoch

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.paths[index])

    def _load(self, index: int) -> tuple[Image.Image, int, int]:
        for num_bad in range(len(self)):
            i = (index + num_bad) % len(self)
            try:
                return load_rgb(self.path(i)), i, num_bad
            except BadImageError:
                if not self.skip_bad:
                    raise
        raise BadImageError(f"no readable image in {self.root!r}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        img, index, num_bad = self._load(index)
        if self.transform is not None:
            # torchvision draws from the CPU default generator: seed it for this sample, then
            # put the caller's stream back (cheaper than torch.manual_seed + fork_rng).
            gen = torch.default_generator
            state = gen.get_state()
            gen.manual_seed(derive_seed(self.seed, self.epoch, index))
            try:
                img = self.transform(img)
            finally:
                gen.set_state(state)
        return {"image": img, "index": index, "label": int(self.labels[index]), "num_bad": num_bad}
