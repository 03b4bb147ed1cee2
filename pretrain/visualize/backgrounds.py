"""The backgrounds benchmark's variants of a few test images, one row per image, one column per variant.

Row r is test image ``rows[r]``: Original, Only-FG, No-FG, Only-BG-B, Only-BG-T, Mixed-Same, Mixed-Rand,
Mixed-Next, as :func:`pretrain.diagnosis.background_benchmark.variant_images` builds them for the whole
test set (the mixed backgrounds come from other test images). Figure size: height
``HEADER + rows * (cell_h + gap)``, width ``8 * (cell_w + gap) - gap``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pretrain.diagnosis.background_benchmark import TestSet, variant_images
from pretrain.diagnosis.backgrounds import TITLES, VARIANTS

from .grid import GAP, fit_image, grid, letterbox

CELL = (96, 96)


def backgrounds_figure(
    test: TestSet, rows: Sequence[int], seed: int = 0, cell: tuple[int, int] = CELL, gap: int = GAP
) -> np.ndarray:
    """The figure (uint8 RGB) of test images ``rows``."""
    if not rows:
        raise ValueError("the backgrounds figure needs at least one image")
    variants = variant_images(test, seed)
    cells = [[letterbox(fit_image(variants[v][i], cell), cell) for v in VARIANTS] for i in rows]
    return grid(cells, [TITLES[v] for v in VARIANTS], gap)
