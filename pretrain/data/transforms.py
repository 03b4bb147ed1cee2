"""The InstDisc augmentations (training) and the single center crop (evaluation).

Training crops the image first, then (with a mask) lets copy-paste composite on the crop, at
the network's input size, and applies the photometric augmentations and the flip to the
composite. The crop draws the same random numbers with or without a mask, so copy-paste at
p = 0 reproduces the plain pipeline exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
from fvcore.common.config import CfgNode
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

# (crop as an RGB array, its mask) -> (composite, what happened)
Paste = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, str]]


def _normalize(cfg: CfgNode) -> list:
    return [T.ToTensor(), T.Normalize(cfg.INPUT.MEAN, cfg.INPUT.STD)]


class TrainAugmentation:
    """RandomResizedCrop, [copy-paste], RandomGrayscale, ColorJitter, flip: InstDisc's order."""

    def __init__(self, cfg: CfgNode):
        self.crop = T.RandomResizedCrop(cfg.INPUT.SIZE, scale=tuple(cfg.INPUT.CROP_SCALE))
        self.rest = T.Compose(
            [
                T.RandomGrayscale(p=cfg.INPUT.GRAYSCALE_PROB),
                T.ColorJitter(*cfg.INPUT.COLOR_JITTER),
                T.RandomHorizontalFlip(p=cfg.INPUT.HFLIP_PROB),
                *_normalize(cfg),
            ]
        )

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.rest(self.crop(image))

    def with_mask(self, image: Image.Image, mask: Image.Image, paste: Paste) -> tuple[torch.Tensor, str]:
        """Crop image and mask alike, composite on the crop, then the rest of the pipeline."""
        i, j, h, w = self.crop.get_params(image, self.crop.scale, self.crop.ratio)
        size = self.crop.size
        crop = TF.resized_crop(image, i, j, h, w, size, self.crop.interpolation, antialias=self.crop.antialias)
        composite, status = paste(np.asarray(crop), crop_mask(mask, (i, j, h, w), size))
        return self.rest(Image.fromarray(composite)), status


def crop_mask(mask: Image.Image, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The mask's (top, left, height, width) box resized to (h, w), as the image crop was.

    The mask is only thresholded: OpenCV's bilinear resize, 5x faster than PIL's antialiased one.
    """
    i, j, h, w = box
    return cv2.resize(np.asarray(mask)[i : i + h, j : j + w], (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def build_train_transform(cfg: CfgNode) -> TrainAugmentation:
    return TrainAugmentation(cfg)


def build_test_transform(cfg: CfgNode) -> T.Compose:
    """Resize the shorter side to TEST_RESIZE, then one center crop of SIZE."""
    return T.Compose([T.Resize(cfg.INPUT.TEST_RESIZE), T.CenterCrop(cfg.INPUT.SIZE), *_normalize(cfg)])
