"""Copy-paste backgrounds: drawn as plain data (what to show), rendered at the crop's size (the pixels).

A background is drawn from the sample's copy-paste generator when the sample's plan is made
and rendered only where a composite is made, so every executor renders the same background.
Textures and image windows are drawn at the crop's size: they are resized to cover it (textures)
or resized from a window of another image (image), never zoomed or stretched with the crop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np


@dataclass(frozen=True)
class GrayLevel:
    """A uniform gray background (the paper's default)."""

    level: int


@dataclass(frozen=True)
class TextureWindow:
    """Texture file ``file`` resized to ``size`` (w, h) to cover the crop, then cut at (top, left)."""

    file: int
    size: tuple[int, int]
    top: int
    left: int


@dataclass(frozen=True)
class ImageWindow:
    """The window (top, left, height, width) of training image ``donor``, resized to the crop."""

    donor: int
    window: tuple[int, int, int, int]


Background = GrayLevel | TextureWindow | ImageWindow


class Backgrounds(Protocol):
    """A kind of background: ``draw`` consumes the sample's generator, ``render`` makes the pixels."""

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> Background: ...

    def render(self, background: Background, shape: tuple[int, int]) -> np.ndarray: ...


class GrayBackgrounds:
    """One gray level in 0..255."""

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> GrayLevel:
        return GrayLevel(int(rng.integers(0, 256)))

    def render(self, background: Background, shape: tuple[int, int]) -> np.ndarray:
        assert isinstance(background, GrayLevel)
        return np.full((*shape, 3), background.level, dtype=np.uint8)


GRAY_TILES = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(256, 1, 1, 3).copy()  # a pixel per gray level
GRAY_TILES.flags.writeable = False


def background_tile(source: Backgrounds, background: Background, shape: tuple[int, int]) -> np.ndarray:
    """A background as the batched executor takes it: a gray level as one (1, 1, 3) pixel (read-only) that it
    broadcasts over the crop (no frame to fill and ship), any other background rendered at (h, w) ``shape``."""
    if isinstance(background, GrayLevel):
        return GRAY_TILES[background.level]
    return source.render(background, shape)


def gray_level(tile: np.ndarray) -> int | None:
    """The gray level a :func:`background_tile` stands for, or None where it is a rendered background."""
    return int(tile[0, 0, 0]) if tile.base is GRAY_TILES else None


def cover_window(image_shape: tuple[int, ...], shape: tuple[int, int], rng: np.random.Generator) -> tuple:
    """((w, h) that covers (h, w) ``shape`` keeping the image's aspect, top, left of a random window)."""
    h, w = shape
    scale = max(h / image_shape[0], w / image_shape[1])
    size = (max(w, round(image_shape[1] * scale)), max(h, round(image_shape[0] * scale)))
    top = int(rng.integers(0, size[1] - h + 1))
    left = int(rng.integers(0, size[0] - w + 1))
    return size, top, left


def cut_cover(image: np.ndarray, size: tuple[int, int], top: int, left: int, shape: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (w, h), then its (h, w) ``shape`` window at (top, left)."""
    shrinks = max(shape[0] / image.shape[0], shape[1] / image.shape[1]) < 1
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)
    return resized[top : top + shape[0], left : left + shape[1]]


def cover_crop(image: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Resize ``image`` to cover (h, w) keeping its aspect, then take a random (h, w) crop."""
    return cut_cover(image, *cover_window(image.shape, shape, rng), shape)


class TextureBackgrounds:
    """Random texture files, each resized to cover the crop and randomly cut."""

    def __init__(self, paths: Sequence[str], load: Callable[[str], np.ndarray]):
        if not paths:
            raise ValueError("COPY_PASTE.BACKGROUND texture needs images in COPY_PASTE.TEXTURE_ROOT")
        self.paths, self.load = list(paths), load

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> TextureWindow:
        file = int(rng.integers(len(self.paths)))
        return TextureWindow(file, *cover_window(self.load(self.paths[file]).shape, shape, rng))

    def render(self, background: Background, shape: tuple[int, int]) -> np.ndarray:
        assert isinstance(background, TextureWindow)
        image = self.load(self.paths[background.file])
        return cut_cover(image, background.size, background.top, background.left, shape)


def texture_source(paths: Sequence[str], load: Callable[[str], np.ndarray]) -> TextureBackgrounds:
    """Backgrounds from random texture files (``load`` decodes one; cache it, textures are reused)."""
    return TextureBackgrounds(paths, load)


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


def crop_window(image: np.ndarray, rows: slice, cols: slice, shape: tuple[int, int]) -> np.ndarray:
    """``image[rows, cols]`` resized to (h, w): a background of the composite's size."""
    return cv2.resize(image[rows, cols], (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def background_crop(
    image: np.ndarray, saliency: np.ndarray, shape: tuple[int, int], rng: np.random.Generator, tries: int = 8
) -> np.ndarray:
    """The least salient window of ``image`` (see :func:`least_salient_window`), resized to (h, w)."""
    rows, cols, _ = least_salient_window(saliency, rng, tries)
    return crop_window(image, rows, cols, shape)


def _window(rows: slice, cols: slice) -> tuple[int, int, int, int]:
    return rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start


class ImageBackgrounds:
    """Windows of other training images where their saliency is near zero (the "image" background).

    An image whose object fills it has no such window: up to three donors are passed over (only
    their masks are read) for one with mean saliency <= 0.1; a fourth is taken as it is.
    """

    def __init__(
        self, count: int, load_image: Callable[[int], np.ndarray], load_mask: Callable[[int], np.ndarray | None]
    ):
        self.count, self.load_image, self.load_mask = count, load_image, load_mask

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> ImageWindow:
        for _ in range(3):
            donor = int(rng.integers(self.count))
            mask = self.load_mask(donor)
            if mask is not None:
                rows, cols, mean = least_salient_window(mask, rng)
                if mean <= 0.1:
                    return ImageWindow(donor, _window(rows, cols))
        donor = int(rng.integers(self.count))
        mask = self.load_mask(donor)
        saliency = np.zeros(self.load_image(donor).shape[:2], np.uint8) if mask is None else mask
        rows, cols, _ = least_salient_window(saliency, rng)
        return ImageWindow(donor, _window(rows, cols))

    def render(self, background: Background, shape: tuple[int, int]) -> np.ndarray:
        assert isinstance(background, ImageWindow)
        top, left, h, w = background.window
        return crop_window(self.load_image(background.donor), slice(top, top + h), slice(left, left + w), shape)


class DonorBackgrounds(ImageBackgrounds):
    """The "image" background from one given donor (figures): its least salient window, as it is."""

    def __init__(self, image: np.ndarray, saliency: np.ndarray):
        super().__init__(1, lambda _: image, lambda _: saliency)

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> ImageWindow:
        rows, cols, _ = least_salient_window(self.load_mask(0), rng)
        return ImageWindow(0, _window(rows, cols))
