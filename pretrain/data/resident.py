"""The resident data path (INPUT.BACKEND "resident"): a small training set decoded once, held on
the training device, and augmented there a whole batch at a time.

Small runs (the embedded set, the Table 2 reproduction, Caltech-20 at 64 px) train narrow
networks whose step costs about as much as augmenting its batch with PIL: on a 2-core CPU the
DataLoader worker takes half the machine, and on a GPU no number of workers keeps up with a step
of a few milliseconds. Here a batch is cut from the resident uint8 images by one bilinear
``grid_sample`` (copy-paste masks ride along as a fourth channel), composited and color-augmented
(:class:`PhotometricAugmentation`) in a few batched operations; no worker processes.

Every parameter is drawn exactly as the reference path draws it (the same torchvision and NumPy
calls, in the same order, from the same per-sample seeds), so a sample gets the same crop box,
copy-paste coin, background, blending, grayscale, jitter and flip on every path; the pixels
differ only where float arithmetic differs from PIL's uint8 steps. Crops are sampled at pixel
centres and clamped to the box, as OpenCV and PIL resize a cropped region; a box larger than the
output is sampled k times denser and averaged (PIL antialiases with a triangle filter instead).
The whole set must fit the device: 2,000 64-px images take 25 MB, Caltech-20 at 300 px ~250 MB.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from fvcore.common.config import CfgNode
from torch.utils.data import default_collate
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF2
from tqdm import tqdm

from pretrain.augment.copy_paste import binarize
from pretrain.utils.seed import derive_seed

from .fast_augment import CropAugmentation, PhotometricAugmentation
from .image_folder import InstanceFolder, seeded_default_generator
from .sampler import EpochSampler

logger = logging.getLogger("pretrain")

# A sample's copy-paste outcome, as InstanceFolder's flags name it.
OFF, KEPT, PASTED, EMPTY, MISSING = range(5)


def gaussian_kernel_size(sigma: float) -> int:
    """The kernel OpenCV's GaussianBlur picks for float images and ksize (0, 0)."""
    return round(sigma * 8 + 1) | 1


def crop_grid(boxes: torch.Tensor, out: tuple[int, int], full: tuple[int, int], k: int = 1) -> torch.Tensor:
    """``grid_sample`` grid (N, k h, k w, 2) that resizes each (top, left, height, width) box to ``out``.

    Samples sit at the centres of the k-times finer output pixels, mapped into the box and clamped
    to its first and last pixel centre (OpenCV's and PIL's edge rule on a cropped region);
    ``full`` is the stored (H, W), for align_corners=True normalization.
    """
    top, left, h, w = boxes.unbind(1)

    def axis(start: torch.Tensor, length: torch.Tensor, n: int, size: int) -> torch.Tensor:
        steps = (torch.arange(n, device=boxes.device) + 0.5) / n
        pos = start[:, None] + steps * length[:, None] - 0.5
        pos = torch.minimum(torch.maximum(pos, start[:, None]), (start + length - 1)[:, None])
        return pos * (2.0 / max(size - 1, 1)) - 1.0

    ys = axis(top, h, k * out[0], full[0])
    xs = axis(left, w, k * out[1], full[1])
    return torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)


class ResidentLoader:
    """A drop-in for the training DataLoader: one augmented batch per sampler batch.

    Batches carry :class:`InstanceFolder`'s keys as tensors; ``image`` is already normalized,
    on the device. The folder supplies the files, labels, masks, copy-paste settings, epoch and
    seed; the sampler the order (so ``set_epoch(epoch, start_iter)`` resumes mid-epoch).
    """

    def __init__(self, cfg: CfgNode, folder: InstanceFolder, sampler: EpochSampler, device: torch.device):
        self.dataset, self.sampler, self.device = folder, sampler, device  # DataLoader's attribute names
        self.batch_size = sampler.batch
        self.params = CropAugmentation(cfg)
        self.photometric = PhotometricAugmentation(cfg, device)
        self.copy_paste = folder.copy_paste if folder.copy_paste and folder.copy_paste.prob > 0 else None
        self._load()

    def _load(self) -> None:
        """Decode every image (and mask) once; edge-padded to the largest size, (N, C, H, W) uint8."""
        folder, n = self.dataset, len(self.dataset)
        images, masks, sources, skipped = [], [], [], []
        for i in tqdm(range(n), desc="resident set", leave=False):
            img, source, num_bad = folder.load(i)
            images.append(np.asarray(img))
            sources.append(source)
            skipped.append(num_bad)
            if self.copy_paste is not None:
                assert folder.masks is not None
                mask = folder.masks.load(source, img.size)
                masks.append(None if mask is None else np.asarray(mask))
        self.sizes = torch.tensor([a.shape[:2] for a in images])  # (N, 2): each image's (h, w)
        self.full = tuple(self.sizes.amax(0).tolist())
        self.source = torch.tensor(sources)  # the readable image each index stands for
        self.num_bad = torch.tensor(skipped)
        self.has_mask = torch.tensor([m is not None for m in masks], dtype=torch.bool)
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
        """The augmented samples of dataset indices ``slots`` for the folder's current epoch."""
        index = self.source[slots]
        boxes, params = self._draw(index.tolist())
        crops = self._crop(slots, boxes)
        status = self._copy_paste(crops, slots, index)
        image = self.photometric.apply(crops[:, :3].div_(255.0), default_collate(params))
        return {
            "image": image,
            "index": index,
            "label": self.dataset.labels[index],
            "num_bad": self.num_bad[slots],
            "pasted": (status == PASTED).long(),
            "empty_mask": (status == EMPTY).long(),
            "missing_mask": (status == MISSING).long(),
        }

    def _draw(self, index: list[int]) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Each sample's crop box and photometric parameters, from its own seed, in the reference's order."""
        folder, aug = self.dataset, self.params
        boxes, params = [], []
        for i in index:
            stand_in = torch.empty((0, *self.sizes[i].tolist()), device="meta")  # get_params reads the size only
            with seeded_default_generator(derive_seed(folder.seed, folder.epoch, i)):
                boxes.append(T.RandomResizedCrop.get_params(stand_in, aug.scale, aug.ratio))
                params.append(aug.draw_photometric())
        return torch.tensor(boxes, dtype=torch.float32), params

    def _crop(self, slots: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) float crops in [0, 255], image channels rounded to levels as PIL's uint8 crops are."""
        out = self.params.size
        k = max(1, math.ceil(max((boxes[:, 2] / out[0]).max().item(), (boxes[:, 3] / out[1]).max().item())))
        pixels = self.pixels[slots.to(self.device)].float()
        grid = crop_grid(boxes.to(self.device), out, self.full, k)
        crops = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=True)
        if k > 1:
            crops = F.avg_pool2d(crops, k)
        return crops.round_()

    def _copy_paste(self, crops: torch.Tensor, slots: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Composites the drawn samples in place (image channels of ``crops``); returns each sample's status."""
        status = torch.full((len(slots),), OFF)
        cp = self.copy_paste
        if cp is None:
            return status
        folder = self.dataset
        rngs = [np.random.default_rng(derive_seed(folder.seed, folder.epoch, i, 1)) for i in index.tolist()]
        drawn = torch.tensor([cp.draw(rng) for rng in rngs], dtype=torch.bool)
        status[:] = KEPT
        status[drawn & ~self.has_mask[slots]] = MISSING
        foreground = binarize(crops[:, 3:], cp.threshold)
        present = foreground.flatten(1).any(1).cpu()
        candidates = drawn & self.has_mask[slots]
        status[candidates & ~present] = EMPTY
        pasted = (candidates & present).nonzero().flatten()
        status[pasted] = PASTED
        if len(pasted) == 0:
            return status
        shape = self.params.size
        backgrounds, blurred = [], []
        for p in pasted.tolist():  # the reference's draws after the coin: background, then blending
            backgrounds.append(cp.draw_background(rngs[p], shape, folder.background))
            blurred.append(cp.draw_blur(rngs[p]))
        rows = pasted.to(self.device)
        alpha = foreground[rows].float()
        blur = torch.tensor(blurred, device=self.device)
        if blur.any():
            size = gaussian_kernel_size(cp.blur_sigma)
            alpha[blur] = TF2.gaussian_blur(alpha[blur], [size, size], [cp.blur_sigma, cp.blur_sigma])
        bg = torch.from_numpy(np.stack(backgrounds)).to(self.device).permute(0, 3, 1, 2).float()
        crops[rows, :3] = (alpha * crops[rows, :3] + (1.0 - alpha) * bg).round_()
        return status
