"""Copy-paste background augmentation (the paper's Sec. 5.2).

With probability ``prob`` an image's salient foreground is kept where it is and everything
else is replaced by another background, so that instance discrimination can no longer tell
images apart by their backgrounds and must look at the object.

- Foreground: the saliency mask binarized at ``threshold`` (on [0, 1]; default 0.5). RBD's
  optimization pushes background towards 0 and objects towards 1, so its maps are close to
  bimodal and the midpoint separates the two modes; true 0/255 masks are unaffected by any
  threshold in (0, 1]. A mask with no foreground leaves the image unchanged ("empty").
- Backgrounds: ``gray`` (one uniform gray level in 0..255, the paper's default), ``texture``
  (a random texture image, resized to cover and randomly cropped), ``image`` (a crop of
  another training image where that image's own saliency is near zero).
- Blending: ``none`` (direct copy), ``gaussian`` (the binary mask smoothed by a Gaussian of
  ``blur_sigma`` pixels as alpha), ``mix`` (each composite picks one of the two).

Compositing happens on the training crop (see ``pretrain.data.transforms``), i.e. at the
network's input resolution after RandomResizedCrop: the same composite as pasting at full
resolution and cropping afterwards, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BACKGROUNDS = ("gray", "texture", "image")
BLENDS = ("none", "gaussian", "mix")

# Draws a background of a given (h, w) from another source: texture files, other images.
BackgroundSource = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def binarize(mask: np.ndarray, threshold: float) -> np.ndarray:
    """Foreground of an 8-bit mask: value >= threshold x 255."""
    return mask >= threshold * 255.0


def gray_background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return np.full((*shape, 3), rng.integers(0, 256), dtype=np.uint8)


def cover_crop(image: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Resize ``image`` to cover (h, w) keeping its aspect, then take a random (h, w) crop."""
    h, w = shape
    scale = max(h / image.shape[0], w / image.shape[1])
    size = (max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y = rng.integers(0, resized.shape[0] - h + 1)
    x = rng.integers(0, resized.shape[1] - w + 1)
    return resized[y : y + h, x : x + w]


def least_salient_window(saliency: np.ndarray, rng: np.random.Generator, tries: int = 8) -> tuple[slice, slice, float]:
    """The least salient of ``tries`` random windows of half the image's side: (rows, cols, mean in [0, 1]).

    Windows are scored with an integral image, so trying several is cheap.
    """
    H, W = saliency.shape
    wh, ww = max(1, H // 2), max(1, W // 2)
    integral = cv2.integral(saliency.astype(np.float32))
    ys = rng.integers(0, H - wh + 1, tries)
    xs = rng.integers(0, W - ww + 1, tries)
    sums = integral[ys + wh, xs + ww] - integral[ys, xs + ww] - integral[ys + wh, xs] + integral[ys, xs]
    best = int(np.argmin(sums))
    y, x = int(ys[best]), int(xs[best])
    return slice(y, y + wh), slice(x, x + ww), float(sums[best]) / (255.0 * wh * ww)


def background_crop(
    image: np.ndarray, saliency: np.ndarray, shape: tuple[int, int], rng: np.random.Generator, tries: int = 8
) -> np.ndarray:
    """The least salient window of ``image`` (see :func:`least_salient_window`), resized to (h, w)."""
    rows, cols, _ = least_salient_window(saliency, rng, tries)
    return crop_window(image, rows, cols, shape)


def crop_window(image: np.ndarray, rows: slice, cols: slice, shape: tuple[int, int]) -> np.ndarray:
    """``image[rows, cols]`` resized to (h, w): a background of the composite's size."""
    return cv2.resize(image[rows, cols], (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


@dataclass
class CopyPaste:
    """Composite a foreground onto a new background; see the module docstring."""

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

    def draw(self, rng: np.random.Generator) -> bool:
        """Whether this sample is pasted (drawn first, so unpasted samples never read a mask)."""
        return rng.random() < self.prob

    def draw_background(
        self, rng: np.random.Generator, shape: tuple[int, int], source: BackgroundSource | None = None
    ) -> np.ndarray:
        """A writable uint8 (h, w, 3) background of the configured kind."""
        if self.background == "gray":
            return gray_background(rng, shape)
        if source is None:
            raise ValueError(f"COPY_PASTE.BACKGROUND {self.background!r} needs a background source")
        return np.array(source(rng, shape), dtype=np.uint8, order="C")

    def draw_blur(self, rng: np.random.Generator) -> bool:
        """Whether this composite blends with a Gaussian-smoothed mask (always, never, or mix's coin)."""
        return self.blend == "gaussian" or (self.blend == "mix" and rng.random() < 0.5)

    def paste(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, source: BackgroundSource | None = None
    ) -> tuple[np.ndarray, str]:
        """(composite, "pasted"), or (image, "empty") when the mask has no foreground."""
        foreground = binarize(mask, self.threshold)
        if not foreground.any():
            return image, "empty"
        bg = self.draw_background(rng, image.shape[:2], source)
        if not self.draw_blur(rng):
            return cv2.copyTo(np.ascontiguousarray(image), foreground.view(np.uint8), bg), "pasted"
        alpha = cv2.GaussianBlur(foreground.astype(np.float32), (0, 0), self.blur_sigma)[..., None]
        out = alpha * image.astype(np.float32) + (1.0 - alpha) * bg.astype(np.float32)
        return np.round(out).astype(np.uint8), "pasted"

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, source: BackgroundSource | None = None
    ) -> tuple[np.ndarray, str]:
        """:meth:`draw`, then :meth:`paste`: (image, "kept") when not drawn."""
        return self.paste(image, mask, rng, source) if self.draw(rng) else (image, "kept")


def texture_source(paths: Sequence[str], load: Callable[[str], np.ndarray]) -> BackgroundSource:
    """Backgrounds from random texture files, each resized to cover and randomly cropped."""
    if not paths:
        raise ValueError("COPY_PASTE.BACKGROUND texture needs images in COPY_PASTE.TEXTURE_ROOT")

    def draw(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return cover_crop(load(paths[rng.integers(len(paths))]), shape, rng)

    return draw
