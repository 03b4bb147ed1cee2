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
plan's draws and the mask window (measured in docs/benchmarks.md). A batch leaves the worker as one
:class:`WorkerBatch`: a few tensors, packed and read in this module only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from pretrain.augment.backgrounds import background_tile, gray_level
from pretrain.augment.batched import PhotometricAugmentation, crop_batch, paste_rows
from pretrain.augment.copy_paste import COUNTED, PasteOutcome, binarize, mask_window
from pretrain.augment.plan import (
    PHOTOMETRIC_FLOAT_COLUMNS,
    PHOTOMETRIC_INT_COLUMNS,
    Photometric,
    SamplePlan,
    photometric_columns,
    photometric_params,
)

from .image_folder import InstanceFolder
from .reduced_decode import read_crop
from .sampler import EpochSampler


class PasteJob(NamedTuple):
    """What the device needs to paste one sample."""

    window: np.ndarray  # (h, w) uint8: the stored mask's window under the crop box (a view of the mask as read)
    whole: bool  # whether the whole mask has foreground (a crop without any is then CROP_WITHOUT_FOREGROUND)
    tile: np.ndarray  # its background, :func:`pretrain.augment.backgrounds.background_tile`
    blur: bool  # whether it blends (the Gaussian alpha)


@dataclass(slots=True)
class FastSample:
    """One sample of the workers' half, as plain values; a batch of them travels as one :class:`WorkerBatch`."""

    image: np.ndarray  # the uint8 (h, w, 3) crop
    index: int
    label: int
    bad: str  # the unreadable file this sample stands in for, or ""
    outcome: PasteOutcome  # OFF, KEPT, MISSING, or PASTED: to paste (the device settles it)
    photometric: Photometric
    paste: PasteJob | None


# The columns of a worker batch's two tables: each sample's own values, then its photometric draws, in the order
# of pretrain.augment.plan.photometric_columns. "to_paste" is 1 for a sample with a PasteJob; its mask window's
# size, "whole" and "blur" are the job's; "gray_level" is its background's level where the batch ships no tiles.
SAMPLE_COLUMNS = ("index", "label", "outcome", "to_paste", "mask_height", "mask_width", "whole", "blur", "gray_level")
INT_COLUMNS = (*SAMPLE_COLUMNS, *PHOTOMETRIC_INT_COLUMNS)
FLOAT_COLUMNS = PHOTOMETRIC_FLOAT_COLUMNS
_INT = {name: k for k, name in enumerate(INT_COLUMNS)}


class WorkerBatch(NamedTuple):
    """A batch as the fast path's DataLoader workers send it to the training process.

    Each tensor a worker sends costs it CPU whatever its size (a shared-memory handle to make, pickle and
    register), so a batch is five tensors: the crops, two tables of per-sample values (columns named by
    :data:`INT_COLUMNS` and :data:`FLOAT_COLUMNS`), and the mask windows and backgrounds of the samples to paste.
    :meth:`pack` writes it and its methods read it: no other module indexes its columns.
    """

    image: torch.Tensor  # (n, h, w, 3) uint8 crops
    ints: torch.Tensor  # (n, len(INT_COLUMNS)) int64
    floats: torch.Tensor  # (n, len(FLOAT_COLUMNS)) float32
    masks: torch.Tensor  # (p, H, W) uint8: the p samples to paste's mask windows, in row order, zero-padded
    tiles: torch.Tensor  # (p, th, tw, 3) uint8 backgrounds of those samples; (0, 1, 1, 3) when all are gray levels
    bad: list[str]  # per sample, the unreadable file it stands in for, or ""

    @classmethod
    def pack(cls, samples: Sequence[FastSample]) -> WorkerBatch:
        """The batch of ``samples`` (a DataLoader's ``collate_fn``)."""
        jobs = [s.paste for s in samples if s.paste is not None]
        levels = [gray_level(job.tile) for job in jobs]
        gray = None not in levels  # every background a gray level: no tiles to ship
        levels = iter(levels)
        own = np.zeros((len(samples), len(SAMPLE_COLUMNS)), np.int64)
        for row, s in zip(own, samples, strict=True):
            row[:4] = s.index, s.label, s.outcome, s.paste is not None
            if s.paste is not None:
                level = next(levels)
                row[4:] = *s.paste.window.shape, s.paste.whole, s.paste.blur, level if gray else 0
        ints, floats = photometric_columns([s.photometric for s in samples])
        height, width = own[:, _INT["mask_height"]].max(initial=1), own[:, _INT["mask_width"]].max(initial=1)
        masks = np.zeros((len(jobs), height, width), np.uint8)
        for mask, job in zip(masks, jobs, strict=True):
            mask[: job.window.shape[0], : job.window.shape[1]] = job.window
        tiles = np.zeros((0, 1, 1, 3), np.uint8) if gray else np.stack([job.tile for job in jobs])
        return cls(
            default_collate([s.image for s in samples]),  # in shared memory when made in a worker
            torch.from_numpy(np.concatenate([own, ints], 1)),
            torch.from_numpy(floats),
            torch.from_numpy(masks),
            torch.from_numpy(tiles),
            [s.bad for s in samples],
        )

    def column(self, name: str) -> torch.Tensor:
        """The integer column ``name`` of :data:`INT_COLUMNS`, one value per sample."""
        return self.ints[:, _INT[name]]

    def rows_to_paste(self) -> torch.Tensor:
        """The rows whose sample the device is to paste, in order (their windows are ``masks``, in that order)."""
        return self.column("to_paste").nonzero().flatten()

    def photometric(self) -> dict[str, torch.Tensor]:
        """The batched executor's photometric parameters (:func:`pretrain.augment.plan.photometric_params`)."""
        return photometric_params(self.ints[:, len(SAMPLE_COLUMNS) :], self.floats)


class FastInstanceFolder(InstanceFolder):
    """The instances of the fast path: the workers' half of the plan.

    Each sample (:class:`FastSample`) is a uint8 crop read by reduced-size decoding, its photometric
    parameters, and, where the coin said paste and the image has a mask, the job of the device's
    composite (:class:`PasteJob`); such a sample counts as pasted until the device finds its crop without
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
        """(outcome, job) of image ``index`` of (w, h) ``size``: (the coin, None) where it is not to be pasted,
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
        return PasteOutcome.PASTED, PasteJob(mask[top : top + h, left : left + w], whole, tile, plan.paste.blur)

    def sample(
        self, crop: np.ndarray, plan: SamplePlan, index: int, bad: str, job: tuple[PasteOutcome, PasteJob | None]
    ) -> FastSample:
        """Sample ``index``: its crop, the plan's photometric draws and its :meth:`paste_job`."""
        return FastSample(crop, index, int(self.labels[index]), bad, job[0], plan.photometric, job[1])


class FastPathLoader:
    """The training batches of the fast path: the workers' batches (``loader``), finished on ``device``.

    Iterating yields what every loader yields (``image``, normalized, on the device; ``index``, ``label``,
    ``bad`` and the copy-paste counts, settled by the composite): a drop-in for the DataLoader, as the
    resident loader is.
    """

    def __init__(self, loader: DataLoader, photometric: PhotometricAugmentation, device: torch.device):
        self.loader, self.photometric, self.device = loader, photometric, device
        self.dataset: FastInstanceFolder = loader.dataset  # DataLoader's attribute names
        self.sampler: EpochSampler = loader.sampler
        self.batch_size = loader.batch_size
        assert self.dataset.planner is not None, "the fast path needs a training folder (with augmentation)"
        self.size = self.dataset.planner.size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.finish, self.loader)

    def finish(self, batch: WorkerBatch) -> dict[str, Any]:
        """The device's half of a workers' batch: copy-paste, then the photometric augmentations."""
        images = batch.image.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()  # channels-last
        outcome = batch.column("outcome").clone()
        rows = batch.rows_to_paste()
        if len(rows):
            outcome[rows] = self.paste(images, batch, rows)
        return {
            "image": self.photometric.apply(images.div_(255.0), batch.photometric()),
            "index": batch.column("index"),
            "label": batch.column("label"),
            "bad": batch.bad,
            **{key: (outcome == code).long() for key, code in COUNTED.items()},
        }

    def paste(self, images: torch.Tensor, batch: WorkerBatch, rows: torch.Tensor) -> torch.Tensor:
        """Copy-paste of ``batch``'s ``rows`` (:meth:`WorkerBatch.rows_to_paste`) of float (n, 3, h, w) ``images``,
        in place: each mask window resized to the crop as the image's box was (bilinear, as the reference's mask)
        and thresholded, then composited on its gray level or rendered tile; each row's :class:`PasteOutcome`."""
        cp = self.dataset.copy_paste
        assert cp is not None
        sizes = torch.stack([batch.column("mask_height")[rows], batch.column("mask_width")[rows]], 1)
        boxes = torch.cat([torch.zeros_like(sizes), sizes], 1).float()
        windows = batch.masks.to(self.device, non_blocking=True)[:, None]
        foreground = binarize(crop_batch(windows, boxes, self.size), cp.threshold)
        tiles = batch.tiles
        if not len(tiles):  # gray levels: one pixel each, broadcast over the crop
            tiles = batch.column("gray_level")[rows].to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 1, 3)
        whole, blur = batch.column("whole")[rows].bool(), batch.column("blur")[rows].bool()
        return paste_rows(images, rows, foreground, whole, tiles, blur, cp.blur_sigma)
