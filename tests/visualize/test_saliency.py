"""The saliency comparison figure (Fig. 3): grid size, the maps as gray levels, real methods on real photos."""

import numpy as np
import pytest

from pretrain.data.labeled import LabeledImages
from pretrain.saliency import build_saliency
from pretrain.visualize.grid import HEADER, fit_image, letterbox
from pretrain.visualize.saliency import saliency_figure
from tests.conftest import shared_data

CELL, GAP = (40, 60), 2


def left_half(image: np.ndarray) -> np.ndarray:
    out = np.zeros(image.shape[:2], np.float32)
    out[:, : image.shape[1] // 2] = 1.0
    return out


def test_grid_size_and_maps_on_sod():
    images = LabeledImages.from_folder(shared_data("sod-dev", "images")).subset([0, 1])
    methods = {"half": left_half, "rbd": build_saliency("rbd")}
    figure = saliency_figure(images, methods, shared_data("sod-dev", "masks"), cell=CELL, gap=GAP)
    assert figure.shape == (HEADER + 2 * (CELL[0] + GAP), 4 * (CELL[1] + GAP) - GAP, 3)
    shown = figure[HEADER + GAP : HEADER + GAP + CELL[0], 2 * (CELL[1] + GAP) : 3 * (CELL[1] + GAP) - GAP]
    expected = (left_half(images.image(0)) * 255).astype(np.uint8)
    np.testing.assert_array_equal(shown, letterbox(fit_image(expected, CELL), CELL))  # the map, in gray levels


def test_without_masks_and_without_methods():
    images = LabeledImages.from_folder(shared_data("sod-dev", "images")).subset([0])
    figure = saliency_figure(images, {"half": left_half}, cell=CELL, gap=GAP)
    assert figure.shape == (HEADER + CELL[0] + GAP, 2 * (CELL[1] + GAP) - GAP, 3)
    with pytest.raises(ValueError, match="at least one method"):
        saliency_figure(images, {})
