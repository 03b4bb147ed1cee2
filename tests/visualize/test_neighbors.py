"""The nearest-neighbour figure (Figs. 2/5): grid size per model block, cells in order, class frames."""

import cv2
import numpy as np
import pytest
import torch

from pretrain.data.labeled import LabeledImages
from pretrain.visualize.grid import HEADER
from pretrain.visualize.neighbors import OTHER, SAME, neighbors_figure

CELL, GAP = (30, 30), 2
COLOURS = {"a": [(250, 0, 0), (200, 0, 0)], "b": [(0, 0, 250), (0, 0, 200)]}  # two images per class


def folder(root) -> LabeledImages:
    for name, colours in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i, c in enumerate(colours):
            assert cv2.imwrite(str(root / name / f"{i}.png"), np.full((30, 30, 3), c[::-1], np.uint8))
    return LabeledImages.from_folder(str(root))


def cell(figure: np.ndarray, row: int, col: int) -> np.ndarray:
    y, x = 2 * HEADER + GAP + row * (CELL[0] + GAP), col * (CELL[1] + GAP)
    return figure[y : y + CELL[0], x : x + CELL[1]]


@pytest.mark.parametrize(("models", "k"), [(1, 1), (2, 3)])
def test_grid_size(tmp_path, models, k):
    images = folder(tmp_path / "g")
    found = {f"m{i}": (torch.ones(4, k), torch.zeros(4, k, dtype=torch.long)) for i in range(models)}
    figure = neighbors_figure(images, images, found, cell=CELL, gap=GAP)
    assert figure.shape == (2 * HEADER + 4 * (CELL[0] + GAP), (1 + models * k) * (CELL[1] + GAP) - GAP, 3)
    assert (figure[:HEADER] < 128).any() and (figure[HEADER : 2 * HEADER] < 128).any()  # model names, ranks


def test_cells_show_query_then_neighbours_framed_by_class(tmp_path):
    images = folder(tmp_path / "g")  # a/0, a/1, b/0, b/1
    idx = torch.tensor([[1, 2], [0, 3], [3, 0], [2, 1]])
    figure = neighbors_figure(images, images, {"m": (torch.full((4, 2), 0.5), idx)}, cell=CELL, gap=GAP)
    for q in range(4):
        assert (cell(figure, q, 0) == images.image(q)[0, 0]).all()
        for j in range(2):
            c = cell(figure, q, 1 + j)
            assert (c[6, 15] == images.image(int(idx[q, j]))[0, 0]).all()  # the neighbour, in rank order
            same = images.labels[int(idx[q, j])] == images.labels[q]
            assert tuple(c[0, 15]) == (SAME if same else OTHER)


def test_unlabeled_gallery_draws_no_frames(tmp_path):
    queries = folder(tmp_path / "q")
    (tmp_path / "flat").mkdir()
    assert cv2.imwrite(str(tmp_path / "flat" / "x.png"), np.full((30, 30, 3), 77, np.uint8))
    gallery = LabeledImages.from_folder(str(tmp_path / "flat"))
    figure = neighbors_figure(queries, gallery, {"m": (torch.ones(4, 1), torch.zeros(4, 1, dtype=torch.long))},
                              cell=CELL, gap=GAP)  # fmt: skip
    assert (cell(figure, 0, 1)[0, 15] == 77).all()
