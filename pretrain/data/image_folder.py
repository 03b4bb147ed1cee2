"""The instance dataset: an ImageNet-layout folder whose every image is its own class.

Instance discrimination needs each sample's *index* (its row in the memory bank); the class
folder's label is kept only for monitors (kNN, linear probe). Augmentations are seeded by
(seed, epoch, index), so a sample gets the same random crop whichever worker loads it: runs
are reproducible across ``num_workers`` settings and a resumed run replays the exact epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from pretrain.augment.backgrounds import Backgrounds, ImageBackgrounds
from pretrain.augment.copy_paste import COUNTED, CopyPaste, PasteOutcome
from pretrain.augment.plan import AugmentationSpec, Planner, SamplePlan
from pretrain.augment.reference import ReferenceAugmentation
from pretrain.utils.image_io import BadImageError, load_rgb
from pretrain.utils.seed import derive_seed

from .labeled import LabeledImages, find_images
from .masks import MaskFolder

T = TypeVar("T")


def replacement_order(seed: int, epoch: int, index: int, size: int) -> Iterator[int]:
    """The candidates that may stand in for unreadable image ``index`` in ``epoch``, in the order tried.

    A permutation drawn from (seed, epoch, index): the replacement is a pure function of the
    batch, whichever worker loads it and whether the run was resumed.
    """
    return (int(i) for i in np.random.default_rng(derive_seed(seed, epoch, index, 2)).permutation(size))


def resolve_batch(
    indices: Sequence[int], seed: int, epoch: int, size: int, load: Callable[[int], T], known_bad: set[int]
) -> list[tuple[T, int, int | None]]:
    """(loaded value, index it is of, unreadable index it replaces or None) for each of a batch's ``indices``.

    An index whose ``load`` raises :class:`BadImageError` is replaced by the first candidate of
    :func:`replacement_order` that is neither in the batch nor standing in for another of its
    indices and that loads, so no batch holds an index twice (the memory bank gets one write per
    row and step). Indices in ``known_bad`` (updated here) are taken as unreadable without a ``load``.
    """
    taken = set(indices)

    def attempt(i: int) -> T | None:
        if i in known_bad:
            return None
        try:
            return load(i)
        except BadImageError:
            known_bad.add(i)
            return None

    out: list[tuple[T, int, int | None]] = []
    for index in indices:
        value = attempt(index)
        if value is not None:
            out.append((value, index, None))
            continue
        for i in replacement_order(seed, epoch, index, size):
            value = None if i in taken else attempt(i)
            if value is not None:
                taken.add(i)
                out.append((value, i, index))
                break
        else:
            raise BadImageError(
                f"no readable image outside a batch of {len(indices)} can replace unreadable image {index}: "
                "the folder holds too few readable images for SOLVER.IMS_PER_BATCH"
            )
    return out


class InstanceFolder(LabeledImages):
    """``root/<class>/<image>`` -> ``{"image", "index", "label", "bad", <copy-paste counts>}``.

    The labeled images of every evaluation (:class:`LabeledImages`), as instances for pretraining.

    With ``skip_bad`` an unreadable file is replaced by a readable one drawn by
    :func:`resolve_batch` (its own index is returned, so the bank stays consistent, and none that
    is already in the batch: DataLoader hands the whole batch to :meth:`__getitems__`), and
    ``bad`` names the unreadable file ("" for none); without it, a :class:`BadImageError` naming
    the file stops the run. A ``transform`` is applied to the
    image as it is (evaluation). With ``augmentation`` (training: a config's INPUT.* ranges) each
    sample's plan is drawn and carried out by the reference executor, copy-paste reading each
    image's mask from ``mask_root``; the flags of :data:`COUNTED` say what copy-paste did (summed
    over the views). With ``views`` > 1 (MoCo's query and key) each view has its own plan
    (:mod:`pretrain.augment.plan` says how they differ): ``image`` is view 0, ``image1`` view 1, ...
    With ``classes`` (an evaluation set: its training set's) labels are
    indices into them (:func:`find_images`: a class folder they lack is an error naming it).
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
        augmentation: AugmentationSpec | None = None,
        views: int = 1,
        *,
        classes: list[str] | None = None,
    ) -> None:
        root = os.path.expanduser(root)
        super().__init__(root, *find_images(root, classes), transform, seed)
        self.views = views
        self.skip_bad = skip_bad
        self.known_bad: set[int] = set()  # unreadable files met by this process
        self.copy_paste = copy_paste if copy_paste is not None and copy_paste.prob > 0 else None
        self.masks = MaskFolder(mask_root, self.paths, allow_missing_masks) if self.copy_paste else None
        self.planner: Planner | None = None
        if augmentation is not None:
            image = self.copy_paste is not None and self.copy_paste.background == "image"
            source = ImageBackgrounds(len(self), self._image, self._mask) if image else texture
            self.planner = Planner(augmentation, self.copy_paste, source)
            self.augment = ReferenceAugmentation(augmentation, self.copy_paste, self.planner.backgrounds)

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.paths[index])

    def resolve(self, indices: Sequence[int], load: Callable[[int], T]) -> list[tuple[T, int, str]]:
        """(loaded value, its index, the unreadable file it replaces or "") per index; see :func:`resolve_batch`."""
        if not self.skip_bad:
            return [(load(i), i, "") for i in indices]
        resolved = resolve_batch(indices, self.seed, self.epoch, len(self), load, self.known_bad)
        return [(value, i, "" if bad is None else self.path(bad)) for value, i, bad in resolved]

    def _image(self, index: int) -> np.ndarray:
        return np.asarray(load_rgb(self.path(index)))

    def _mask(self, index: int, size: tuple[int, int] | None = None, stored: bool = False) -> np.ndarray | None:
        """Mask ``index`` as an array (None where it has none); with ``size``, checked against the image's (w, h)
        (and, with ``stored``, as stored: copy-paste crops a bounded mask directly)."""
        assert self.masks is not None
        mask = self.masks.load(index, size, stored)
        return None if mask is None else np.asarray(mask)

    def plan(self, index: int, size: tuple[int, int], view: int = 0) -> SamplePlan:
        """The augmentation plan of view ``view`` of sample ``index`` (an image of (w, h) ``size``) in the
        current epoch."""
        assert self.planner is not None
        return self.planner.plan(self.seed, self.epoch, index, size, view)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        """The samples of one batch: unreadable files are replaced by images not in it."""
        return [self._sample(img, i, bad) for img, i, bad in self.resolve(indices, self.load)]

    def load(self, index: int) -> Image.Image:
        """Image ``index``; a :class:`BadImageError` naming the file if it is unreadable."""
        return load_rgb(self.path(index))

    def _sample(self, img: Image.Image, index: int, bad: str) -> dict[str, Any]:
        if self.planner is None:
            return self._record(
                [img if self.transform is None else self.transform(img)], index, bad, [PasteOutcome.OFF]
            )
        plans = [self.plan(index, img.size, view) for view in range(self.views)]
        pasted = any(plan.paste is not None for plan in plans)
        mask = self._mask(index, img.size, stored=True) if pasted else None
        images, statuses = zip(*(self.augment(img, plan, mask) for plan in plans), strict=True)
        return self._record(list(images), index, bad, list(statuses))

    def _record(self, views: list[Any], index: int, bad: str, statuses: list[PasteOutcome]) -> dict[str, Any]:
        """The sample's keys: ``image`` (view 0), ``image1``... (further views), and the copy-paste counts."""
        return {
            "image": views[0],
            **{f"image{v}": view for v, view in enumerate(views) if v},
            "index": index,
            "label": int(self.labels[index]),
            "bad": bad,
            **{key: sum(int(status == counted) for status in statuses) for key, counted in COUNTED.items()},
        }
