"""The class-gradient figure (Figs. 7-13): grid size, the heat where the model looks, masks and mask-out."""

import cv2
import numpy as np
import pytest
import torch

from pretrain.data.labeled import LabeledImages
from pretrain.visualize.gradients import Explained, gradients_figure, masked, normalized_map, overlay
from pretrain.visualize.grid import HEADER
from tests.diagnosis.test_class_gradient import corner_model

CELL, GAP = (32, 32), 2


def labeled(root, n: int = 2) -> tuple[LabeledImages, str]:
    """images/<class>/<i>.png (class c0 and c1) with masks/<class>/<i>.png covering the top-left quadrant."""
    rng = np.random.default_rng(0)
    for c in ("c0", "c1"):
        for i in range(n):
            for sub, image in (("images", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)),
                               ("masks", np.pad(np.full((16, 16), 255, np.uint8), ((0, 16), (0, 16))))):  # fmt: skip
                (root / sub / c).mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / sub / c / f"{i}.png"), image)
    return LabeledImages.from_folder(str(root / "images")), str(root / "masks")


def explained(name: str = "corner") -> Explained:
    model, classifier = corner_model()
    model.name = name
    return Explained(model, classifier, ["c0", "c1"])


def cell(figure: np.ndarray, row: int, col: int) -> np.ndarray:
    y, x = HEADER + GAP + row * (CELL[0] + GAP), col * (CELL[1] + GAP)
    return figure[y : y + CELL[0], x : x + CELL[1]]


@pytest.mark.parametrize("with_masks", [True, False])
def test_grid_size(tmp_path, with_masks):
    images, masks = labeled(tmp_path)
    figure = gradients_figure(images, [explained("a"), explained("b")], "true", masks if with_masks else None,
                              cell=CELL, gap=GAP)  # fmt: skip
    cols = 2 + with_masks
    assert figure.shape == (HEADER + 4 * (CELL[0] + GAP), (1 + cols) * (CELL[1] + GAP) - GAP, 3)


def test_heat_sits_where_the_model_looks(tmp_path):
    images, masks = labeled(tmp_path)
    figure = gradients_figure(images, [explained()], "predicted", masks, smooth=0, cell=CELL, gap=GAP)
    # The corner model reads the top-left 4 x 4 of its 8 px input only: the map is 1 there, 0 elsewhere.
    looked_at = np.zeros((8, 8), np.float32)
    looked_at[:4, :4] = 1
    expected = overlay(images.image(0), looked_at)
    np.testing.assert_array_equal(cell(figure, 0, 2)[:16], expected[:16])  # above the cell's label
    assert (cell(figure, 0, 1)[4, 4] == 255).all()  # the true-mask column


def test_mask_out_keeps_only_the_looked_at_pixels(tmp_path):
    images, _ = labeled(tmp_path)
    figure = gradients_figure(images, [explained()], "true", smooth=0, mask_out=0.5, cell=CELL, gap=GAP)
    original, shown = images.image(0).astype(int), cell(figure, 0, 1).astype(int)
    np.testing.assert_array_equal(shown[2:12, 2:12], original[2:12, 2:12])
    np.testing.assert_allclose(shown[20:28, 20:28], (original[20:28, 20:28] * 0.2).astype(int), atol=1)


def test_map_helpers():
    m = normalized_map(torch.arange(100.0).view(10, 10), smooth=0)
    assert m.max() == 1.0 and m.min() == 0.0
    assert normalized_map(torch.zeros(4, 4), smooth=1).max() == 0.0
    image = np.full((6, 9, 3), 100, np.uint8)
    assert overlay(image, np.ones((3, 3), np.float32)).shape == (6, 9, 3)
    assert (masked(image, np.zeros((3, 3), np.float32), 0.5) == 20).all()


def test_true_target_needs_class_folders(tmp_path):
    (tmp_path / "flat").mkdir()
    assert cv2.imwrite(str(tmp_path / "flat" / "x.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="flat: use 'predicted'"):
        gradients_figure(LabeledImages.from_folder(str(tmp_path / "flat")), [explained()], "true")
