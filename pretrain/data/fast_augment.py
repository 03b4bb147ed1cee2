"""The fast training data path (INPUT.BACKEND "gpu"): crop in the workers, color on the device.

The reference path (:class:`pretrain.data.transforms.TrainAugmentation`) decodes every JPEG at
full size and runs the photometric augmentations on PIL images in the DataLoader workers; at
16 workers that, not the GPU, bounds a ResNet-50's step. This path splits the same pipeline:

- workers (:class:`CropAugmentation`): draw the RandomResizedCrop box from the image's header,
  decode the JPEG at the largest DCT reduction (1/2, 1/4, 1/8) that still leaves the box at
  least the crop size in both dimensions, resize the box to the crop size, and hand the uint8
  crop (H, W, 3) over with the photometric parameters drawn for it; copy-paste composites on
  that crop exactly as in the reference path;
- the training device (:class:`PhotometricAugmentation`): grayscale, color jitter in each
  sample's own order, flip and normalization, batched over per-sample parameters.

Every parameter is drawn by the same torchvision calls, in the same order and from the same
per-sample generator state as the reference path, so a sample gets the *same* crop box, jitter
factors and order, grayscale and flip draws on either path; the pixels differ only where the
arithmetic does (PIL's uint8 steps versus float, reduced-size decoding).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from fvcore.common.config import CfgNode
from PIL import Image
from torchvision import transforms as T

from pretrain.utils.image_io import BadImageError

Box = tuple[int, int, int, int]  # RandomResizedCrop's (top, left, height, width) on the full-size image
DCT_SCALES = (8, 4, 2)  # the reductions libjpeg decodes directly
# PIL's convert("L") weights (ITU-R 601-2), which the reference path's grayscale and enhancers use.
LUMA = (0.299, 0.587, 0.114)
# torchvision's ColorJitter numbering of its four operations (the "order" parameter).
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)
IDENTITY = (1.0, 1.0, 1.0, 0.0)  # the factors that leave an image unchanged, in that numbering


def draft_scale(box: Box, size: tuple[int, int]) -> int:
    """The largest DCT reduction after which the crop box still has at least ``size`` (h, w) pixels."""
    _, _, h, w = box
    return next((s for s in DCT_SCALES if h >= s * size[0] and w >= s * size[1]), 1)


def resize_box(image: Image.Image, box: Box, scale: int, size: tuple[int, int]) -> np.ndarray:
    """``box`` of the full-size image, from ``image`` decoded at 1/``scale``, resized to ``size``: uint8 (h, w, 3).

    A box enlarged in both dimensions is interpolated by OpenCV's bilinear resize (the same
    interpolation as PIL's, 4x faster); a box that shrinks uses PIL's antialiased bilinear
    filter, as torchvision's resized_crop does on PIL images.
    """
    i, j, h, w = box
    if scale == 1 and h <= size[0] and w <= size[1]:
        crop = np.asarray(image)[i : i + h, j : j + w]
        return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    area = (j / scale, i / scale, (j + w) / scale, (i + h) / scale)
    return np.array(image.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=area))  # writable


class CropAugmentation:
    """Worker half of the fast path: RandomResizedCrop from a reduced-size decode, plus the drawn parameters.

    Draws from torch's default generator exactly as :class:`TrainAugmentation` does (crop first,
    then grayscale, jitter, flip), so the dataset's per-sample seeding carries over unchanged.
    """

    def __init__(self, cfg: CfgNode):
        crop = T.RandomResizedCrop(cfg.INPUT.SIZE, scale=tuple(cfg.INPUT.CROP_SCALE))  # the reference's ranges
        self.size, self.scale, self.ratio = tuple(crop.size), list(crop.scale), list(crop.ratio)
        self.grayscale_prob = cfg.INPUT.GRAYSCALE_PROB
        jitter = T.ColorJitter(*cfg.INPUT.COLOR_JITTER)  # its ranges, checked and centred as torchvision does
        self.jitter_ranges = (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue)
        self.hflip_prob = cfg.INPUT.HFLIP_PROB

    def crop(self, path: str) -> tuple[np.ndarray, Box, tuple[int, int]]:
        """(uint8 crop (h, w, 3), its box on the full-size image, the image's (w, h)); errors name the file."""
        try:
            with Image.open(path) as img:
                full_size = img.size
                box = T.RandomResizedCrop.get_params(img, self.scale, self.ratio)
                scale = draft_scale(box, self.size)
                # draft() returns None where it cannot reduce, else (mode, the full image's box at the new scale).
                drafted = img.draft("RGB", (full_size[0] // scale, full_size[1] // scale)) if scale > 1 else None
                scale = round(full_size[0] / drafted[1][2]) if drafted else 1
                return resize_box(img.convert("RGB"), box, scale, self.size), box, full_size
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise BadImageError(f"cannot read image {path!r}: {e}") from e

    def draw_photometric(self) -> dict[str, torch.Tensor]:
        """Grayscale, ColorJitter and flip parameters, drawn in the reference path's order."""
        gray = torch.rand(1) < self.grayscale_prob  # RandomGrayscale's draw
        order, *factors = T.ColorJitter.get_params(*self.jitter_ranges)
        flip = torch.rand(1) < self.hflip_prob  # RandomHorizontalFlip's draw
        return {
            "gray": gray[0],
            "order": order,
            "factors": torch.tensor([IDENTITY[k] if f is None else f for k, f in enumerate(factors)]),
            "flip": flip[0],
        }


def luma(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, 1, H, W) gray level."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``other + factor * (x - other)``, clipped: the form of PIL's ImageEnhance."""
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp_(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x).mean((2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, luma(x), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each image by its ``shift`` (in turns, [-0.5, 0.5])."""
    r, g, b = x.unbind(1)
    v = x.amax(1)
    delta = v - x.amin(1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(r == v, ((g - b) / safe) % 6, torch.where(g == v, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = (hue / 6 + shift.view(-1, 1, 1)) % 1.0
    sat = torch.where(v > 0, delta / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    # HSV -> RGB: channel n (R 5, G 3, B 1) is v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6 h) mod 6.
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = (n + 6 * hue.unsqueeze(1)) % 6
    return v.unsqueeze(1) * (1 - sat.unsqueeze(1) * torch.minimum(k, 4 - k).clamp(0.0, 1.0))


JITTER = {BRIGHTNESS: adjust_brightness, CONTRAST: adjust_contrast, SATURATION: adjust_saturation, HUE: adjust_hue}


class PhotometricAugmentation:
    """Device half of the fast path: uint8 crops (N, H, W, 3) + parameters -> normalized float (N, 3, H, W).

    Grayscale, ColorJitter (each sample's four operations in its own order), flip, then
    normalization, as in the reference path. Samples are grouped by (position, operation) on
    the CPU, so nothing waits for the device.
    """

    def __init__(self, cfg: CfgNode, device: torch.device):
        self.mean = torch.tensor(cfg.INPUT.MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.INPUT.STD, device=device).view(1, 3, 1, 1)
        self.device = device

    def __call__(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return self.apply(images.permute(0, 3, 1, 2).float().div_(255.0), params)  # channels-last strides

    def apply(self, x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Float images (N, 3, H, W) in [0, 1] on the device, modified in place -> normalized."""
        order = params["order"].cpu()  # (N, 4): which operation each sample applies at each position
        gray = params["gray"].to(self.device, non_blocking=True).view(-1, 1, 1, 1)
        flip = params["flip"].to(self.device, non_blocking=True).view(-1, 1, 1, 1)
        factors = params["factors"].to(self.device, non_blocking=True)
        # An operation whose range is zero (e.g. the demo's hue) has the identity factor: torchvision skips it.
        active = params["factors"].cpu() != torch.tensor(IDENTITY)
        x = torch.where(gray, luma(x).expand_as(x), x)
        for position in range(order.shape[1]):
            for op, fn in JITTER.items():
                rows = ((order[:, position] == op) & active[:, op]).nonzero().flatten()
                if len(rows):
                    rows = rows.to(self.device, non_blocking=True)
                    x[rows] = fn(x[rows], factors[rows, op])
        x = torch.where(flip, x.flip(3), x)
        return (x - self.mean) / self.std
