"""Reduced-size decoding for the fast data path (INPUT.BACKEND "gpu"): the crop, straight from the file.

The workers of the "gpu" path decode each JPEG at the largest DCT reduction (1/2, 1/4, 1/8, PIL's
``draft``) that still leaves the plan's crop box at least the crop size in both dimensions, and
resize the box to the crop size; the pixels differ from a full-size decode only by the DCT's own
downscaling. The box is drawn from the file's header (the plan needs the image size), before the
scan is decoded.

With the optional ``simplejpeg`` package (``pip install dilo[turbo]``: libjpeg-turbo's own API)
JPEGs are decoded by it instead of PIL: the same pixels at every reduction (libjpeg-turbo's
IDCT and fancy upsampling, as in PIL; tested), the decode in about two thirds of PIL's time and
the header read in C instead of PIL's marker parsing in Python; the whole worker half gains about
4 % (measured), as PIL's antialiased resize needs the array converted back into a PIL image.
Files it does not take (other formats, CMYK and YCCK JPEGs, images over PIL's decompression-bomb
limit, or anything it reports as damaged) go through PIL as before, so what is unreadable, and
its error, stays PIL's.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pretrain.augment.copy_paste import Box
from pretrain.augment.plan import SamplePlan
from pretrain.utils.image_io import BadImageError, to_8bit

try:
    import simplejpeg
except ImportError:  # the optional extra "turbo": PIL decodes every file
    simplejpeg = None

DCT_SCALES = (8, 4, 2)  # the reductions libjpeg decodes directly
JPEG_START = b"\xff\xd8"
TURBO_COLORSPACES = ("YCbCr", "Gray")  # libjpeg-turbo converts these to RGB as PIL does; CMYK and YCCK go to PIL


@dataclass
class Encoded:
    """An image file's bytes and its full (w, h) from the header; ``pil`` is the file opened by PIL, None
    where libjpeg-turbo's bindings decode it."""

    data: bytes
    size: tuple[int, int]
    pil: Image.Image | None


def open_encoded(path: str) -> Encoded:
    """The file's header, through libjpeg-turbo where it takes the file, else through PIL."""
    with open(path, "rb") as f:
        data = f.read()
    if simplejpeg is not None and data[:2] == JPEG_START:
        try:
            h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:
            colorspace = None
        limit = Image.MAX_IMAGE_PIXELS
        if colorspace in TURBO_COLORSPACES and (limit is None or w * h <= limit):
            return Encoded(data, (w, h), None)
    return _pil_encoded(data)


def _pil_encoded(data: bytes) -> Encoded:
    img = Image.open(io.BytesIO(data))
    return Encoded(data, img.size, img)


def draft_scale(box: Box, size: tuple[int, int]) -> int:
    """The largest DCT reduction after which the crop box still has at least ``size`` (h, w) pixels."""
    _, _, h, w = box
    return next((s for s in DCT_SCALES if h >= s * size[0] and w >= s * size[1]), 1)


def decode_rgb(encoded: Encoded, scale: int) -> tuple[Image.Image | np.ndarray, int]:
    """(the image decoded at the DCT reduction 1/``scale`` or the nearest the decoder has, that reduction).

    libjpeg-turbo's decode is an RGB array (h, w, 3); PIL's an RGB image (an RGB decode used as it is,
    not copied). A JPEG that libjpeg-turbo reports as damaged is decoded by PIL, which may still
    read it (as it always has) or names the error.
    """
    if encoded.pil is None:
        w, h = encoded.size
        try:
            rgb = simplejpeg.decode_jpeg(
                encoded.data, "RGB", min_factor=scale, min_height=-(-h // scale), min_width=-(-w // scale)
            )
            return rgb, round(w / rgb.shape[1])
        except ValueError:
            encoded = _pil_encoded(encoded.data)
    img = encoded.pil
    full_w = img.size[0]
    # draft() returns None where it cannot reduce, else (mode, the full image's box at the new scale).
    drafted = img.draft("RGB", (full_w // scale, img.size[1] // scale)) if scale > 1 else None
    img.load()
    rgb = img if img.mode == "RGB" else to_8bit(img).convert("RGB")  # 16-bit and float scaled, as load_rgb does
    return rgb, round(full_w / drafted[1][2]) if drafted else 1


def resize_box(image: Image.Image | np.ndarray, box: Box, scale: int, size: tuple[int, int]) -> np.ndarray:
    """``box`` of the full-size image, from ``image`` (an RGB image or array) decoded at 1/``scale``, resized to
    ``size``: uint8 (h, w, 3).

    A box enlarged in both dimensions is interpolated by OpenCV's bilinear resize (the same
    interpolation as PIL's, for less); a box that shrinks uses PIL's antialiased bilinear
    filter, as torchvision's resized_crop does on PIL images.
    """
    i, j, h, w = box
    if scale == 1 and h <= size[0] and w <= size[1]:
        crop = np.asarray(image)[i : i + h, j : j + w]
        return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    area = (j / scale, i / scale, (j + w) / scale, (i + h) / scale)
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return np.array(image.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=area))  # writable


def read_crop(
    path: str, draw: Callable[[tuple[int, int]], SamplePlan], size: tuple[int, int]
) -> tuple[np.ndarray, SamplePlan, tuple[int, int]]:
    """(uint8 (h, w, 3) crop, the plan ``draw`` made for the image's (w, h), that (w, h)); errors name the file."""
    try:
        encoded = open_encoded(path)
        plan = draw(encoded.size)
        image, scale = decode_rgb(encoded, draft_scale(plan.box, size))
        return resize_box(image, plan.box, scale, size), plan, encoded.size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImageError(f"cannot read image {path!r}: {e}") from e
