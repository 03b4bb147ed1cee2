"""The paper's Fig. 4: what copy-paste does to a few images, one row per image.

Columns: the original, its mask, then one composite per background kind (``gray``, ``texture``
when a texture source is given, ``image``) and optionally the ``image`` composite again with
Gaussian blending. Layout choices, and why:

- Fixed cells, letterboxed. Every cell is ``cell`` = (height, width) pixels (default 160 x 240,
  the 3:2 of most photo sets, BSDS-based SOD included); an image is scaled to fit the cell and
  padded with black, so landscape and portrait images share one grid and nothing is cropped.
- Composites are made at cell resolution: training pastes on the network-sized crop, so the
  preview shows the same binarized mask edges and the same ``blur_sigma`` blur as training.
- Every cell is pasted (prob 1.0); a row whose mask has no foreground repeats the original.
- The ``image`` background is cropped from another row of the figure (chosen at random): the
  rows are images of the same folder, and the reader can see where each background came from.
  With a single row the image is its own source (its least salient window).
- The blended column reuses the ``image`` column's random draws, hence the same background:
  sharp and soft edges can be compared side by side.
- Deterministic: each cell's generator is seeded by (seed, row, background kind).
- Thin white gaps (``gap`` pixels) separate cells; a white header row of ``HEADER`` pixels
  holds the column titles. Figure size: height ``HEADER + rows * (cell_h + gap)``, width
  ``cols * cell_w + (cols - 1) * gap``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pretrain.augment.copy_paste import BACKGROUNDS, BackgroundSource, CopyPaste, background_crop
from pretrain.data.masks import load_mask
from pretrain.utils.image_io import load_rgb, mask_path
from pretrain.utils.seed import derive_seed

CELL = (160, 240)  # (height, width) of every cell
GAP = 4  # white pixels between cells
HEADER = 28  # height of the title row
WHITE = 255


@dataclass(frozen=True)
class Sample:
    """An RGB image (H x W x 3 uint8) and its 8-bit saliency mask (H x W uint8)."""

    image: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Column:
    """One composite column: its title, background kind and blending."""

    title: str
    background: str
    blend: str = "none"


def load_sample(image_root: str, mask_root: str, relpath: str) -> Sample:
    """Image ``relpath`` and its mask; a missing or mis-sized mask is an error naming its path."""
    path = mask_path(mask_root, relpath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no mask {path!r} for image {relpath!r} (compute masks with tools/saliency.py)")
    image = load_rgb(os.path.join(image_root, relpath))
    return Sample(np.asarray(image), np.asarray(load_mask(path, image.size)))


def composite_columns(texture: bool, gaussian: bool) -> list[Column]:
    """The composite columns, in the order of ``BACKGROUNDS`` (texture only when there are textures)."""
    columns = [Column(kind, kind) for kind in BACKGROUNDS if texture or kind != "texture"]
    if gaussian:
        columns.append(Column("image, gaussian", "image", "gaussian"))
    return columns


def fit(sample: Sample, cell: tuple[int, int]) -> Sample:
    """The sample scaled to fit inside ``cell`` keeping its aspect (area-averaged: mostly shrinking)."""
    h, w = sample.mask.shape
    scale = min(cell[0] / h, cell[1] / w)
    size = (max(1, min(cell[1], round(w * scale))), max(1, min(cell[0], round(h * scale))))
    if size == (w, h):
        return sample
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return Sample(
        cv2.resize(sample.image, size, interpolation=interp), cv2.resize(sample.mask, size, interpolation=interp)
    )


def letterbox(image: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """``image`` (already fitted) centered on a black ``cell``; a grayscale image is shown as RGB."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    out = np.zeros((*cell, 3), np.uint8)
    y, x = (cell[0] - image.shape[0]) // 2, (cell[1] - image.shape[1]) // 2
    out[y : y + image.shape[0], x : x + image.shape[1]] = image
    return out


def image_source(donor: Sample) -> BackgroundSource:
    """Backgrounds cropped from ``donor``'s least salient windows, as training's "image" background."""
    return lambda rng, shape: background_crop(donor.image, donor.mask, shape, rng)


def composite(
    sample: Sample,
    column: Column,
    rng: np.random.Generator,
    texture: BackgroundSource | None,
    donor: Sample,
    threshold: float,
) -> np.ndarray:
    """One always-pasted composite of ``sample`` (already fitted) for ``column``."""
    source = {"gray": None, "texture": texture, "image": image_source(donor)}[column.background]
    paste = CopyPaste(1.0, column.background, column.blend, threshold)
    return paste(sample.image, sample.mask, rng, source)[0]


def row_cells(
    samples: Sequence[Sample],
    row: int,
    columns: Sequence[Column],
    texture: BackgroundSource | None,
    threshold: float,
    seed: int,
    cell: tuple[int, int],
) -> list[np.ndarray]:
    """The letterboxed cells of one row: original, mask, then the composites."""
    sample = fit(samples[row], cell)
    others = [i for i in range(len(samples)) if i != row] or [row]
    donor_rng = np.random.default_rng(derive_seed(seed, row, len(BACKGROUNDS)))
    donor = samples[others[int(donor_rng.integers(len(others)))]]
    cells = [sample.image, sample.mask]
    for column in columns:
        rng = np.random.default_rng(derive_seed(seed, row, BACKGROUNDS.index(column.background)))
        cells.append(composite(sample, column, rng, texture, donor, threshold))
    return [letterbox(c, cell) for c in cells]


def header(titles: Sequence[str], cell_w: int, gap: int) -> np.ndarray:
    """A white strip with each title centered over its column, shrunk to fit the column if needed."""
    width = len(titles) * cell_w + (len(titles) - 1) * gap
    out = np.full((HEADER, width, 3), WHITE, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, title in enumerate(titles):
        scale = 0.55
        (tw, th), _ = cv2.getTextSize(title, font, scale, 1)
        if tw > cell_w - 4:
            scale *= (cell_w - 4) / tw
            (tw, th), _ = cv2.getTextSize(title, font, scale, 1)
        org = (i * (cell_w + gap) + (cell_w - tw) // 2, (HEADER + th) // 2)
        cv2.putText(out, title, org, font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def grid(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], gap: int) -> np.ndarray:
    """Equal-size cells joined by white gaps under a title header (sizes as in the module docstring)."""
    cell_h, cell_w = rows[0][0].shape[:2]
    vgap = np.full((cell_h, gap, 3), WHITE, np.uint8)
    strips = [header(titles, cell_w, gap)]
    for cells in rows:
        strip = np.concatenate([part for c in cells for part in (c, vgap)][:-1], axis=1)
        strips += [np.full((gap, strip.shape[1], 3), WHITE, np.uint8), strip]
    return np.concatenate(strips, axis=0)


def copy_paste_figure(
    samples: Sequence[Sample],
    texture: BackgroundSource | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    gaussian: bool = True,
    cell: tuple[int, int] = CELL,
    gap: int = GAP,
) -> np.ndarray:
    """The Fig. 4-style preview (uint8 RGB): one row per sample, columns as in the module docstring."""
    if not samples:
        raise ValueError("copy-paste figure needs at least one image")
    columns = composite_columns(texture is not None, gaussian)
    rows = [row_cells(samples, r, columns, texture, threshold, seed, cell) for r in range(len(samples))]
    return grid(rows, ["original", "mask", *(c.title for c in columns)], gap)


def write_png(path: str, figure: np.ndarray) -> None:
    """Save an RGB figure as PNG (OpenCV writes BGR); the folder is created, a failed write raises."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(figure, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path!r} (is the extension .png?)")
