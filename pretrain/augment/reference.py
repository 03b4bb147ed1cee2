"""The reference executor (INPUT.BACKEND cpu, the ground truth of the tests), and the evaluation transform.

It carries out a :class:`.plan.SamplePlan` with PIL and numpy, with the very torchvision
functions that InstDisc's transforms call: RandomResizedCrop's resize of the box, copy-paste on
the crop (:meth:`.CopyPaste.paste_crop`), then RandomGrayscale, ColorJitter (in the plan's
order), MoCo v2's Gaussian blur, RandomHorizontalFlip and normalization.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from .backgrounds import Backgrounds
from .batched import blur_kernel_size
from .copy_paste import CopyPaste, PasteOutcome
from .plan import BRIGHTNESS, CONTRAST, HUE, SATURATION, AugmentationSpec, Photometric, SamplePlan

JITTER = {
    BRIGHTNESS: TF.adjust_brightness,
    CONTRAST: TF.adjust_contrast,
    SATURATION: TF.adjust_saturation,
    HUE: TF.adjust_hue,
}


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list:
    return [T.ToTensor(), T.Normalize(mean, std)]


class ReferenceAugmentation:
    """PIL image + plan (+ its mask, full-size or stored smaller) -> normalized (3, h, w) tensor and the
    copy-paste outcome."""

    def __init__(
        self, spec: AugmentationSpec, copy_paste: CopyPaste | None = None, backgrounds: Backgrounds | None = None
    ):
        self.size = (spec.size, spec.size)
        self.copy_paste, self.backgrounds = copy_paste, backgrounds
        self.normalize = T.Compose(_normalize(spec.mean, spec.std))

    def __call__(
        self, image: Image.Image, plan: SamplePlan, mask: np.ndarray | None = None
    ) -> tuple[torch.Tensor, PasteOutcome]:
        crop = self.crop(image, plan)
        status = plan.coin
        if plan.paste is not None:
            assert self.copy_paste is not None and self.backgrounds is not None
            pasted, status = self.copy_paste.paste_crop(
                np.asarray(crop), mask, plan.box, plan.paste, self.backgrounds, image.size
            )
            crop = Image.fromarray(pasted)
        return self.normalize(photometric(crop, plan.photometric)), status

    def crop(self, image: Image.Image, plan: SamplePlan) -> Image.Image:
        """RandomResizedCrop's resize of the plan's box (bilinear, antialiased)."""
        return TF.resized_crop(image, *plan.box, list(self.size), T.InterpolationMode.BILINEAR, antialias=True)


def photometric(image: Image.Image, p: Photometric) -> Image.Image:
    """RandomGrayscale, ColorJitter, blur and RandomHorizontalFlip with drawn parameters, as their forward()
    applies them."""
    if p.gray:
        image = TF.rgb_to_grayscale(image, num_output_channels=3)
    for op in p.order:
        if p.factors[op] is not None:
            image = JITTER[op](image, p.factors[op])
    if p.blur:
        size = blur_kernel_size(p.blur)
        image = TF.gaussian_blur(image, [size, size], [p.blur, p.blur])
    return TF.hflip(image) if p.flip else image


def test_transform(resize: int, size: int, mean: Sequence[float], std: Sequence[float]) -> T.Compose:
    """The evaluation transform: the shorter side resized to ``resize``, one center crop of ``size``, normalized."""
    return T.Compose([T.Resize(resize), T.CenterCrop(size), *_normalize(mean, std)])
