"""The paper's Fig. 3: the same images under each saliency method, one column per method.

Row r is image r: the image, its true mask when masks are given, then each method's map
(H x W in [0, 1]) as gray levels, computed on the full image and then fitted to the cell like
the image. Figure size: height ``HEADER + rows * (cell_h + gap)``, width
``cols * (cell_w + gap) - gap``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from tqdm import tqdm

from pretrain.data.labeled import LabeledImages
from pretrain.saliency import SaliencyMethod

from .grid import GAP, fit_image, grid, letterbox

CELL = (120, 180)  # (height, width): the 3:2 of most photo sets


def saliency_figure(
    images: LabeledImages,
    methods: Mapping[str, SaliencyMethod],
    mask_root: str | None = None,
    cell: tuple[int, int] = CELL,
    gap: int = GAP,
) -> np.ndarray:
    """The figure (uint8 RGB) for ``{method name: method}``, in the mapping's order."""
    if not methods:
        raise ValueError("the saliency figure needs at least one method")
    rows = []
    for i in tqdm(range(len(images)), desc="saliency", leave=False):
        image, mask = images.with_mask(i, mask_root) if mask_root else (images.image(i), None)
        maps = [(np.clip(method(image), 0, 1) * 255 + 0.5).astype(np.uint8) for method in methods.values()]
        pictures = [image, *([mask] if mask is not None else []), *maps]
        rows.append([letterbox(fit_image(p, cell), cell) for p in pictures])
    titles = ["image", *(["true mask"] if mask_root else []), *methods]
    return grid(rows, titles, gap)
