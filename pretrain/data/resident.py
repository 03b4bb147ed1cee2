"""The resident data path (INPUT.BACKEND "resident"): a small training set decoded once, held on
the training device, and augmented there a whole batch at a time.

Small runs (the embedded set, the Table 2 reproduction, Caltech-20 at 64 px) train narrow
networks whose step costs about as much as augmenting its batch with PIL: DataLoader workers
would take the cores the step needs, and on a GPU they would not keep up with its steps. Here the
folder's plans of a batch (:mod:`pretrain.augment.plan`, the same plans as every other path) are
carried out by the batched executor (:mod:`pretrain.augment.batched`) on the resident uint8 images,
copy-paste masks riding along as a fourth channel; no worker processes. The whole set must fit the
device: 2,000 64-px images take 25 MB, Caltech-20 at 300 px ~250 MB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from pretrain.augment.backgrounds import background_tile
from pretrain.augment.batched import PhotometricAugmentation, crop_batch, paste_rows
from pretrain.augment.copy_paste import COUNTED, PasteOutcome, binarize
from pretrain.augment.plan import SamplePlan, photometric_batch
from pretrain.utils.image_io import BadImageError

from .image_folder import InstanceFolder
from .sampler import EpochSampler

logger = logging.getLogger("pretrain")


class ResidentLoader:
    """A drop-in for the training DataLoader: one augmented batch per sampler batch.

    Batches carry :class:`InstanceFolder`'s keys as tensors; ``image`` is already normalized,
    on the device. The folder supplies the files, labels, masks, copy-paste settings, epoch and
    seed; the sampler the order (so ``set_epoch(epoch, start_iter)`` resumes mid-epoch).
    """

    def __init__(
        self,
        folder: InstanceFolder,
        sampler: EpochSampler,
        photometric: PhotometricAugmentation,
        device: torch.device,
    ):
        self.dataset, self.sampler, self.device = folder, sampler, device  # DataLoader's attribute names
        self.batch_size = sampler.batch
        assert folder.planner is not None, "the resident path needs a training folder (with augmentation)"
        self.planner = folder.planner
        self.photometric = photometric
        self.copy_paste = folder.copy_paste
        self._load()

    def _load(self) -> None:
        """Decode every image (and mask) once; edge-padded to the largest size, (N, C, H, W) uint8.

        An unreadable file (with DATA.SKIP_BAD_IMAGES) goes to the folder's ``known_bad`` and keeps
        a 1x1 placeholder row that no batch reads: :meth:`batch` replaces it as the other paths do.
        """
        folder, n = self.dataset, len(self.dataset)
        images, masks = [], []
        for i in tqdm(range(n), desc="resident set", leave=False):
            try:
                img = folder.load(i)
            except BadImageError:
                if not folder.skip_bad:
                    raise
                folder.known_bad.add(i)
                img = None
            images.append(np.zeros((1, 1, 3), np.uint8) if img is None else np.asarray(img))
            if self.copy_paste is not None:
                assert folder.masks is not None
                mask = None if img is None else folder.masks.load(i, img.size)
                masks.append(None if mask is None else np.asarray(mask))
        self.sizes = torch.tensor([a.shape[:2] for a in images])  # (N, 2): each image's (h, w)
        self.full = tuple(self.sizes.amax(0).tolist())
        self.has_mask = torch.tensor([m is not None for m in masks], dtype=torch.bool)
        # Whether each mask has any foreground: a crop without foreground is an empty mask only if this is False.
        threshold = self.copy_paste.threshold if self.copy_paste else 1.0
        self.has_foreground = torch.tensor([m is not None and bool(binarize(m, threshold).any()) for m in masks])
        if self.copy_paste is not None:  # the mask rides along as a fourth channel (zeros where absent)
            blank = [np.zeros(a.shape[:2], np.uint8) for a in images]
            images = [np.dstack([a, b if m is None else m]) for a, m, b in zip(images, masks, blank, strict=True)]
        stack = np.stack([self._pad(a) for a in images])
        self.pixels = torch.from_numpy(stack).permute(0, 3, 1, 2).contiguous().to(self.device)
        mb = stack.nbytes / 2**20
        logger.info("resident set: %d images up to %dx%d px, %.0f MB on %s", n, *self.full[::-1], mb, self.device)

    def _pad(self, a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        return np.pad(a, ((0, self.full[0] - h), (0, self.full[1] - w), (0, 0)), mode="edge")

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.batch(order[start : start + self.batch_size])

    def batch(self, slots: torch.Tensor) -> dict[str, Any]:
        """The augmented samples of dataset indices ``slots`` for the folder's current epoch: ``image`` (view 0),
        ``image1``... (the folder's further views), as :class:`InstanceFolder` gives them."""
        folder = self.dataset
        resolved = folder.resolve(slots.tolist(), int)  # the decoded rows: only known bad ones are replaced
        index = torch.tensor([i for _, i, _ in resolved], dtype=torch.long)
        pixels = self.pixels[index.to(self.device)]
        views = [self.view(pixels, index, v) for v in range(folder.views)]
        return {
            "image": views[0][0],
            **{f"image{v}": image for v, (image, _) in enumerate(views) if v},
            "index": index,
            "label": folder.labels[index],
            "bad": [bad for _, _, bad in resolved],
            **{key: sum((status == counted).long() for _, status in views) for key, counted in COUNTED.items()},
        }

    def view(self, pixels: torch.Tensor, index: torch.Tensor, view: int) -> tuple[torch.Tensor, torch.Tensor]:
        """View ``view`` of the resident rows ``pixels`` of images ``index``: normalized images and each
        :class:`PasteOutcome`."""
        plans = self.plans(index, view)
        boxes = torch.tensor([p.box for p in plans], dtype=torch.float32)
        crops = crop_batch(pixels, boxes, self.planner.size)
        status = self._copy_paste(crops, index, plans)
        params = photometric_batch([p.photometric for p in plans])
        return self.photometric.apply(crops[:, :3].div_(255.0), params), status

    def plans(self, index: torch.Tensor, view: int = 0) -> list[SamplePlan]:
        """The plans of view ``view`` of images ``index`` in the folder's current epoch (those of every other
        path)."""
        sizes = [(w, h) for h, w in self.sizes[index].tolist()]
        return self.planner.plan_batch(self.dataset.seed, self.dataset.epoch, index.tolist(), sizes, view)

    def _copy_paste(self, crops: torch.Tensor, index: torch.Tensor, plans: list[SamplePlan]) -> torch.Tensor:
        """Composites the planned samples in place (image channels of ``crops``); returns each :class:`PasteOutcome`."""
        status = torch.tensor([p.coin for p in plans])
        cp, backgrounds = self.copy_paste, self.planner.backgrounds
        if cp is None:
            return status
        drawn = status == PasteOutcome.PASTED
        status[drawn & ~self.has_mask[index]] = PasteOutcome.MISSING
        rows = (drawn & self.has_mask[index]).nonzero().flatten()
        if not len(rows):
            return status
        assert backgrounds is not None
        pastes = [plans[r].paste for r in rows.tolist()]
        tiles = [background_tile(backgrounds, p.background, self.planner.size) for p in pastes]  # type: ignore[union-attr]
        status[rows] = paste_rows(
            crops[:, :3],
            rows,
            binarize(crops[rows.to(self.device), 3:], cp.threshold),
            self.has_foreground[index][rows],
            torch.from_numpy(np.stack(tiles)),
            torch.tensor([p.blur for p in pastes]),  # type: ignore[union-attr]
            cp.blur_sigma,
        )
        return status
