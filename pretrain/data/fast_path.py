"""The fast data path (INPUT.BACKEND "gpu"): workers read crops, the training device does the rest.

The plan (:mod:`pretrain.augment.plan`) is split where the pixels get large. A DataLoader worker
(:class:`FastInstanceFolder`) reads each file's header, draws the plan, decodes the JPEG at reduced
size and resizes the crop box to the crop (:mod:`.reduced_decode`); for a sample to paste it cuts
the window of the stored mask under the box (a bounded mask: at most a few kB) and ships it with
the background's tile (a gray level: one pixel). :class:`FastPathLoader` then carries out the rest
on the training device, a batch at a time, with the batched executor
(:mod:`pretrain.augment.batched`, the resident path's): each mask window resized to the crop and
thresholded, the composite, the photometric augmentations and the normalization.

So the worker never touches a crop-sized mask, background or composite: copy-paste costs it the
plan's draws and the mask window (about 0.03 ms of CPU a pasted sample between JPEG decodes, where
reading, resizing, thresholding and compositing on the crop took about 0.19 ms on a 2-core CPU;
docs/data_path.md). A batch leaves the worker as a few tensors (:func:`collate_fast`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader, default_collate

from pretrain.augment.backgrounds import background_tile, gray_level
from pretrain.augment.batched import PhotometricAugmentation, crop_batch, paste_rows
from pretrain.augment.copy_paste import COUNTED, PasteOutcome, binarize, mask_window
from pretrain.augment.plan import Photometric, SamplePlan, photometric_columns, photometric_params

from .image_folder import InstanceFolder
from .reduced_decode import read_crop
from .sampler import EpochSampler

# A sample's copy-paste for the device: (mask window, whether the whole mask has foreground, background tile,
# blending); the window is a view of the mask as read (of a mask pack's mapped pages), copied once, into its batch.
PasteJob = tuple[np.ndarray, bool, np.ndarray, bool]
# The integer columns of a workers' batch (``meta``), then the photometric ones (:func:`photometric_columns`).
# mask_height 0: nothing to paste; level -1: the background is the batch's ``tiles`` row, not a gray level.
META = ("index", "label", "status", "mask_height", "mask_width", "whole", "blur", "level")
INDEX, LABEL, STATUS, MASK_H, MASK_W, WHOLE, BLUR, LEVEL = range(len(META))


@dataclass(slots=True)
class FastSample:
    """One sample of the workers' half: plain values, turned into a few tensors per batch by :func:`collate_fast`
    (each tensor a worker sends costs about half a millisecond of its CPU here, whatever its size)."""

    image: np.ndarray  # the uint8 (h, w, 3) crop
    index: int
    label: int
    bad: str  # the unreadable file this sample stands in for, or ""
    status: PasteOutcome  # OFF, KEPT, MISSING, or PASTED: to paste (the device settles it)
    photometric: Photometric
    paste: PasteJob | None


class FastInstanceFolder(InstanceFolder):
    """The instances of the fast path: the workers' half of the plan.

    Each sample (:class:`FastSample`) is a uint8 crop read by reduced-size decoding, its photometric
    parameters, and, where the coin said paste and the image has a mask, the job of the device's
    composite (:data:`PasteJob`); such a sample counts as pasted until the device finds its crop without
    foreground. The plan is drawn from the file's header, so loading, skipping of unreadable files and
    planning happen together.
    """

    def __getitems__(self, indices: list[int]) -> list[FastSample]:
        return [self._fast_sample(*read, i, bad) for read, i, bad in self.resolve(indices, self._read_crop)]

    def _read_crop(self, index: int) -> tuple[np.ndarray, SamplePlan, tuple[int, int]]:
        assert self.planner is not None
        return read_crop(self.path(index), functools.partial(self.plan, index), self.planner.size)

    def _fast_sample(self, crop: np.ndarray, plan: SamplePlan, size: tuple[int, int], i: int, bad: str) -> FastSample:
        return self.sample(crop, plan, i, bad, self.paste_job(i, plan, size))

    def paste_job(self, index: int, plan: SamplePlan, size: tuple[int, int]) -> tuple[PasteOutcome, PasteJob | None]:
        """(status, job) of image ``index`` of (w, h) ``size``: (the coin, None) where it is not to be pasted,
        (MISSING, None) where it has no mask, else (PASTED, what the device needs to paste it)."""
        if plan.paste is None:
            return plan.coin, None
        assert self.copy_paste is not None and self.planner is not None and self.planner.backgrounds is not None
        mask = self._mask(index, size, stored=True)
        if mask is None:
            return PasteOutcome.MISSING, None
        top, left, h, w = mask_window(mask.shape, plan.box, size)
        whole = bool(binarize(self.masks.peak(index, mask), self.copy_paste.threshold))
        tile = background_tile(self.planner.backgrounds, plan.paste.background, self.planner.size)
        return PasteOutcome.PASTED, (mask[top : top + h, left : left + w], whole, tile, plan.paste.blur)

    def sample(
        self, crop: np.ndarray, plan: SamplePlan, index: int, bad: str, job: tuple[PasteOutcome, PasteJob | None]
    ) -> FastSample:
        """Sample ``index``: its crop, the plan's photometric draws and its :meth:`paste_job`."""
        return FastSample(crop, index, int(self.labels[index]), bad, job[0], plan.photometric, job[1])


def collate_fast(samples: Sequence[FastSample]) -> dict[str, Any]:
    """A workers' batch, in as few tensors as its contents allow: ``image`` (n, h, w, 3), ``meta`` (int64,
    :data:`META` and the photometric integers), ``factors`` (float32, the photometric floats), ``masks``
    (the mask windows to paste, in row order, zero-padded to the largest), ``tiles`` (rendered backgrounds,
    empty where every background is a gray level), and ``bad``."""
    jobs = [(r, s.paste) for r, s in enumerate(samples) if s.paste is not None]
    levels = [gray_level(job[2]) for _, job in jobs]
    gray = None not in levels  # every background a gray level: no tiles to ship
    paste = np.full((len(samples), 5), (0, 0, 0, 0, -1), np.int64)  # mask_height ... level
    for (r, (window, whole, _, blur)), level in zip(jobs, levels, strict=True):
        paste[r] = *window.shape, whole, blur, level if gray else -1
    own = [(s.index, s.label, s.status) for s in samples]
    ints, floats = photometric_columns([s.photometric for s in samples])
    masks = np.zeros((len(jobs), paste[:, 0].max(initial=1), paste[:, 1].max(initial=1)), np.uint8)
    for mask, (_, (window, *_)) in zip(masks, jobs, strict=True):
        mask[: window.shape[0], : window.shape[1]] = window
    tiles = np.stack([job[2] for _, job in jobs]) if not gray else np.zeros((0, 1, 1, 3), np.uint8)
    return {
        "image": default_collate([s.image for s in samples]),  # in shared memory when made in a worker
        "meta": torch.from_numpy(np.concatenate([np.array(own, np.int64).reshape(-1, 3), paste, ints], 1)),
        "factors": torch.from_numpy(floats),
        "masks": torch.from_numpy(masks),
        "tiles": torch.from_numpy(tiles),
        "bad": [s.bad for s in samples],
    }


def rows_to_paste(meta: torch.Tensor) -> torch.Tensor:
    """The rows of a workers' batch (its ``meta``) that the device is to paste."""
    return (meta[:, MASK_H] > 0).nonzero().flatten()


class FastPathLoader:
    """The training batches of the fast path: the workers' batches (``loader``), finished on ``device``.

    Iterating yields what every loader yields (``image``, normalized, on the device; ``index``, ``label``,
    ``bad`` and the copy-paste counts, settled by the composite): a drop-in for the DataLoader, as the
    resident loader is.
    """

    def __init__(self, cfg: CfgNode, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device
        self.dataset: FastInstanceFolder = loader.dataset  # DataLoader's attribute names
        self.sampler: EpochSampler = loader.sampler
        self.batch_size = loader.batch_size
        self.photometric = PhotometricAugmentation(cfg, device)
        assert self.dataset.planner is not None, "the fast path needs a training folder (with augmentation)"
        self.size = self.dataset.planner.size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.finish, self.loader)

    def finish(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The device's half of a workers' batch: copy-paste, then the photometric augmentations."""
        images = batch["image"].to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()  # channels-last
        meta = batch["meta"]
        status = meta[:, STATUS].clone()
        rows = rows_to_paste(meta)
        if len(rows):
            status[rows] = self.paste(images, rows, meta[rows], batch["masks"], batch["tiles"])
        params = photometric_params(meta[:, len(META) :], batch["factors"])
        return {
            "image": self.photometric.apply(images.div_(255.0), params),
            "index": meta[:, INDEX],
            "label": meta[:, LABEL],
            "bad": batch["bad"],
            **{key: (status == code).long() for key, code in COUNTED.items()},
        }

    def paste(
        self, images: torch.Tensor, rows: torch.Tensor, meta: torch.Tensor, masks: torch.Tensor, tiles: torch.Tensor
    ) -> torch.Tensor:
        """Copy-paste of ``rows`` of float (n, 3, h, w) ``images``, in place: each mask window (``masks``, sized by
        ``meta``'s rows) resized to the crop as the image's box was (bilinear, as the reference's mask) and
        thresholded, then composited on its gray level or rendered tile; each row's :class:`PasteOutcome`."""
        cp = self.dataset.copy_paste
        assert cp is not None
        sizes = meta[:, [MASK_H, MASK_W]]
        boxes = torch.cat([torch.zeros_like(sizes), sizes], 1).float()
        windows = masks.to(self.device, non_blocking=True)[:, None]
        foreground = binarize(crop_batch(windows, boxes, self.size), cp.threshold)
        if not len(tiles):  # gray levels: one pixel each, broadcast over the crop
            tiles = meta[:, LEVEL].to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 1, 3)
        whole, blur = meta[:, WHOLE].bool(), meta[:, BLUR].bool()
        return paste_rows(images, rows, foreground, whole, tiles, blur, cp.blur_sigma)
