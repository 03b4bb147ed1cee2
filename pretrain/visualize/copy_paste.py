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
- Thin white gaps (``gap`` pixels) separate cells under a row of column titles (the grid of
  ``grid.py``). Figure size: height ``HEADER + rows * (cell_h + gap)``, width
  ``cols * cell_w + (cols - 1) * gap``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pretrain.augment.backgrounds import Backgrounds, DonorBackgrounds
from pretrain.augment.copy_paste import BACKGROUNDS, CopyPaste
from pretrain.data.masks import load_mask
from pretrain.utils.image_io import list_images, load_rgb, mask_paths
from pretrain.utils.seed import derive_seed

from .grid import GAP, fit_image, grid, letterbox

CELL = (160, 240)  # (height, width) of every cell


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


def load_samples(image_root: str, mask_root: str, relpaths: Sequence[str]) -> list[Sample]:
    """Images ``relpaths`` and their masks; a missing or mis-sized mask is an error naming its path.

    Masks are named by :func:`mask_paths` over every image of ``image_root`` (listed once), as
    ``tools/saliency.py`` names them."""
    listing = sorted(set(list_images(image_root)).union(relpaths))
    masks = dict(zip(listing, mask_paths(mask_root, listing), strict=True))
    samples = []
    for relpath in relpaths:
        path = masks[relpath]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no mask {path!r} for image {relpath!r} (compute masks with tools/saliency.py)")
        image = load_rgb(os.path.join(image_root, relpath))
        samples.append(Sample(np.asarray(image), np.asarray(load_mask(path, image.size))))
    return samples


def composite_columns(texture: bool, gaussian: bool) -> list[Column]:
    """The composite columns, in the order of ``BACKGROUNDS`` (texture only when there are textures)."""
    columns = [Column(kind, kind) for kind in BACKGROUNDS if texture or kind != "texture"]
    if gaussian:
        columns.append(Column("image, gaussian", "image", "gaussian"))
    return columns


def fit(sample: Sample, cell: tuple[int, int]) -> Sample:
    """The sample scaled to fit inside ``cell`` keeping its aspect; image and mask stay the same size."""
    return Sample(fit_image(sample.image, cell), fit_image(sample.mask, cell))


def image_source(donor: Sample) -> Backgrounds:
    """Backgrounds cropped from ``donor``'s least salient windows, as training's "image" background."""
    return DonorBackgrounds(donor.image, donor.mask)


def composite(
    sample: Sample,
    column: Column,
    rng: np.random.Generator,
    texture: Backgrounds | None,
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
    texture: Backgrounds | None,
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


def copy_paste_figure(
    samples: Sequence[Sample],
    texture: Backgrounds | None = None,
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
