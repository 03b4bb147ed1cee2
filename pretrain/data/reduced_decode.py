"""Reduced-size decoding for the fast data path (INPUT.BACKEND "gpu"): the crop, straight from the file.

The workers of the "gpu" path decode each JPEG at the largest DCT reduction (1/2, 1/4, 1/8,
PIL's ``draft``) that still leaves the plan's crop box at least the crop size in both
dimensions, and resize the box to the crop size; the pixels differ from a full-size decode only
by the DCT's own downscaling. The box is drawn from the file's header (the plan needs the image
size), before the scan is decoded.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from pretrain.augment.copy_paste import Box
from pretrain.augment.plan import SamplePlan
from pretrain.utils.image_io import BadImageError

DCT_SCALES = (8, 4, 2)  # the reductions libjpeg decodes directly


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


def plan_draft(
    img: Image.Image, draw: Callable[[tuple[int, int]], SamplePlan], size: tuple[int, int]
) -> tuple[SamplePlan, tuple[int, int], int]:
    """(the plan ``draw`` made for the opened image's full (w, h), that (w, h), the DCT reduction the
    decoder is now set to): header only, nothing decoded yet."""
    full_size = img.size
    plan = draw(full_size)
    scale = draft_scale(plan.box, size)
    # draft() returns None where it cannot reduce, else (mode, the full image's box at the new scale).
    drafted = img.draft("RGB", (full_size[0] // scale, full_size[1] // scale)) if scale > 1 else None
    return plan, full_size, round(full_size[0] / drafted[1][2]) if drafted else 1


def decode_rgb(img: Image.Image) -> Image.Image:
    """The opened image decoded (at its draft size) as RGB; an RGB decode is used as it is, not copied."""
    img.load()
    return img if img.mode == "RGB" else img.convert("RGB")


def read_crop(
    path: str, draw: Callable[[tuple[int, int]], SamplePlan], size: tuple[int, int]
) -> tuple[np.ndarray, SamplePlan, tuple[int, int]]:
    """(uint8 (h, w, 3) crop, the plan ``draw`` made for the image's (w, h), that (w, h)); errors name the file."""
    try:
        with Image.open(path) as img:
            plan, full_size, scale = plan_draft(img, draw, size)
            return resize_box(decode_rgb(img), plan.box, scale, size), plan, full_size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image {path!r}: {e}") from e
