"""Copy-paste background augmentation (the paper's Sec. 5.2): settings, draws and the numpy composite.

With probability ``prob`` an image's salient foreground is kept where it is and everything
else is replaced by another background, so that instance discrimination can no longer tell
images apart by their backgrounds and must look at the object.

- Foreground: the saliency mask binarized at ``threshold`` (on [0, 1]; default 0.5). RBD's
  optimization pushes background towards 0 and objects towards 1, so its maps are close to
  bimodal and the midpoint separates the two modes; true 0/255 masks are unaffected by any
  threshold in (0, 1]. A mask with no foreground leaves the image unchanged ("empty").
- Backgrounds (:mod:`.backgrounds`): ``gray`` (one uniform gray level in 0..255, the paper's
  default), ``texture`` (a random texture image, resized to cover and randomly cropped),
  ``image`` (a window of another training image where that image's own saliency is near zero).
- Blending: ``none`` (direct copy), ``gaussian`` (the binary mask smoothed by a Gaussian of
  ``blur_sigma`` pixels as alpha), ``mix`` (each composite picks one of the two).

Semantics in training (see :mod:`.plan`): the composite is made on the training crop, after
RandomResizedCrop and before the photometric augmentations and the flip; image and mask are
cropped alike. The paper pastes first and crops afterwards. With the gray background and no
blending the two orders give the same picture, except that a crop that misses the object keeps
its own background (``CROP_WITHOUT_FOREGROUND``, counted apart from empty masks): paste-then-crop
would show only the gray level, a view that carries no instance information for the loss.
Textures and image windows are drawn at the crop's size (no zoom or aspect change with the
crop), and the Gaussian's sigma is in crop pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import cv2
import numpy as np

from pretrain.config.defaults import BACKGROUNDS, BLENDS

from .backgrounds import Background, Backgrounds, GrayBackgrounds

Box = tuple[int, int, int, int]  # RandomResizedCrop's (top, left, height, width) on the full-size image


class PasteOutcome(IntEnum):
    """What copy-paste did to one sample, on every data path."""

    OFF = 0  # copy-paste is off (COPY_PASTE.PROB 0)
    KEPT = 1  # the coin said no
    PASTED = 2
    EMPTY = 3  # the mask has no foreground at all
    MISSING = 4  # no mask (COPY_PASTE.MISSING_MASKS skip)
    CROP_WITHOUT_FOREGROUND = 5  # the mask has foreground, the crop misses it: the crop is left as it is


# The per-sample flags of a batch (summed per epoch into metrics.jsonl) and the outcome each counts.
COUNTED = {
    "pasted": PasteOutcome.PASTED,
    "empty_mask": PasteOutcome.EMPTY,
    "missing_mask": PasteOutcome.MISSING,
    "crop_without_foreground": PasteOutcome.CROP_WITHOUT_FOREGROUND,
}


@dataclass(frozen=True)
class PasteDraws:
    """The draws of a sample whose coin said paste: its background and whether it blends."""

    background: Background
    blur: bool


def binarize(mask: np.ndarray, threshold: float) -> np.ndarray:
    """Foreground of an 8-bit mask: value >= threshold x 255 (on uint8 arrays compared as the integer
    ceil(threshold x 255), the same foreground without a float conversion)."""
    if isinstance(mask, np.ndarray) and mask.dtype == np.uint8:
        return mask >= math.ceil(threshold * 255.0)
    return mask >= threshold * 255.0


def background_mask(mask: np.ndarray, threshold: float, in_place: bool = False) -> np.ndarray:
    """1 where ``mask`` is not foreground (:func:`binarize`), 0 where it is: uint8 (h, w), the copy mask of the
    composite. On uint8 masks one OpenCV threshold, value <= ceil(threshold x 255) - 1 (one pass instead of
    binarizing then negating), written over ``mask`` itself with ``in_place`` (a mask nobody else holds: no
    second array to fill)."""
    if isinstance(mask, np.ndarray) and mask.dtype == np.uint8:
        dst = mask if in_place and mask.flags.writeable else None
        return cv2.threshold(mask, math.ceil(threshold * 255.0) - 1, 1, cv2.THRESH_BINARY_INV, dst=dst)[1]
    return np.logical_not(binarize(mask, threshold)).view(np.uint8)


def mask_window(shape: tuple[int, ...], box: Box, image_size: tuple[int, int] | None = None) -> Box:
    """The (top, left, height, width) of a mask of (h, w) ``shape`` that the image's crop ``box`` covers.

    ``box`` is on the full-size image, of (w, h) ``image_size``; on a mask stored smaller than its image
    (a bounded mask, see :mod:`pretrain.data.masks`) it is scaled to the mask, its edges rounded to the
    mask's pixels (under half a stored pixel from the exact box).
    """
    i, j, h, w = box
    if image_size is None or (shape[1], shape[0]) == tuple(image_size):
        return box
    sy, sx = shape[0] / image_size[1], shape[1] / image_size[0]
    top, left = min(round(i * sy), shape[0] - 1), min(round(j * sx), shape[1] - 1)
    return top, left, max(1, round((i + h) * sy) - top), max(1, round((j + w) * sx) - left)


def crop_mask(
    mask: np.ndarray, box: Box, size: tuple[int, int], image_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The mask's window under the image's crop ``box`` (:func:`mask_window`) resized to (h, w), as the image
    crop was. The mask is only thresholded, so OpenCV's bilinear resize serves (PIL's antialiasing would cost more
    and change no foreground pixel that matters)."""
    mask = np.asarray(mask)
    i, j, h, w = mask_window(mask.shape, box, image_size)
    return cv2.resize(mask[i : i + h, j : j + w], (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


GRAY = GrayBackgrounds()


@dataclass
class CopyPaste:
    """Copy-paste settings, its draws (:meth:`draw`) and the numpy composite; see the module docstring."""

    prob: float = 0.5
    background: str = "gray"
    blend: str = "none"
    threshold: float = 0.5
    blur_sigma: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"COPY_PASTE.PROB must be in [0, 1], got {self.prob}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"COPY_PASTE.BACKGROUND must be one of {BACKGROUNDS}, got {self.background!r}")
        if self.blend not in BLENDS:
            raise ValueError(f"COPY_PASTE.BLEND must be one of {BLENDS}, got {self.blend!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"COPY_PASTE.MASK_THRESHOLD must be in (0, 1], got {self.threshold}")

    def backgrounds(self, source: Backgrounds | None) -> Backgrounds:
        """The background kind's source: gray needs none, textures and images their pixels."""
        if self.background == "gray":
            return GRAY
        if source is None:
            raise ValueError(f"COPY_PASTE.BACKGROUND {self.background!r} needs a background source")
        return source

    def toss_and_draw(self, rng: np.random.Generator, shape: tuple[int, int], source: Backgrounds) -> PasteDraws | None:
        """The coin, then :meth:`draw`: None when the sample is not pasted (one image, :meth:`__call__`; the
        data paths take the coin from the sample's plan, :mod:`pretrain.augment.plan`)."""
        return self.draw(rng, shape, source) if rng.random() < self.prob else None

    def draw(self, rng: np.random.Generator, shape: tuple[int, int], source: Backgrounds) -> PasteDraws:
        """A pasted sample's background, then its blending."""
        background = source.draw(rng, shape)
        return PasteDraws(background, self.blend == "gaussian" or (self.blend == "mix" and rng.random() < 0.5))

    def composite(
        self, image: np.ndarray, background_mask: np.ndarray, draws: PasteDraws, source: Backgrounds
    ) -> np.ndarray:
        """A copy of ``image`` (h, w, 3 uint8) showing the drawn background where ``background_mask`` (h, w, 0/1,
        :func:`background_mask`) is 1, and ``image`` where it is 0; alpha-blended where ``draws`` says so."""
        background = source.render(draws.background, background_mask.shape)
        if not draws.blur:
            return cv2.copyTo(background, background_mask, np.array(image, dtype=np.uint8, order="C"))
        foreground = (1 - background_mask).astype(np.float32)
        alpha = cv2.GaussianBlur(foreground, (0, 0), self.blur_sigma)[..., None]
        out = alpha * image.astype(np.float32) + (1.0 - alpha) * background.astype(np.float32)
        return np.round(out).astype(np.uint8)

    def paste_crop(
        self,
        crop: np.ndarray,
        mask: np.ndarray | None,
        box: Box,
        draws: PasteDraws,
        source: Backgrounds,
        image_size: tuple[int, int] | None = None,
    ) -> tuple[np.ndarray, PasteOutcome]:
        """Copy-paste on the crop ``box`` of an image of (w, h) ``image_size`` whose mask is ``mask`` (None: it
        has none), at the image's size or stored smaller (see :func:`crop_mask`): the crop, pasted or as it was,
        and what happened to it."""
        if mask is None:
            return crop, PasteOutcome.MISSING
        copy = background_mask(crop_mask(mask, box, crop.shape[:2], image_size), self.threshold, in_place=True)
        if cv2.countNonZero(copy) == copy.size:
            whole = binarize(np.max(mask), self.threshold)  # foreground somewhere: the largest value is
            return crop, PasteOutcome.CROP_WITHOUT_FOREGROUND if whole else PasteOutcome.EMPTY
        return self.composite(crop, copy, draws, source), PasteOutcome.PASTED

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, source: Backgrounds | None = None
    ) -> tuple[np.ndarray, PasteOutcome]:
        """Draw and composite on a whole image (figures): KEPT when the coin says no, EMPTY without foreground."""
        backgrounds = self.backgrounds(source)
        draws = self.toss_and_draw(rng, image.shape[:2], backgrounds)
        if draws is None:
            return image, PasteOutcome.KEPT
        copy = background_mask(mask, self.threshold)
        if cv2.countNonZero(copy) == copy.size:
            return image, PasteOutcome.EMPTY
        return self.composite(image, copy, draws, backgrounds), PasteOutcome.PASTED
