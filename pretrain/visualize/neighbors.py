"""The paper's Figs. 2 and 5: each query's nearest neighbours, one block of columns per model.

Row r is query r: its image, then for every model the ``k`` most similar gallery images, best
first, each labeled with its cosine similarity. When query and gallery are both labeled by
class folders, a neighbour of the query's class is framed green, any other red: a model that
matches backgrounds shows red frames around images that share only the backdrop. A group
header above the column titles names each model's block. Figure size: height
``2 * HEADER + rows * (cell_h + gap)``, width ``(1 + models * k) * (cell_w + gap) - gap``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from pretrain.data.labeled import LabeledImages

from .grid import GAP, fit_image, frame, grid, label, letterbox

CELL = (112, 112)  # (height, width) of every cell
SAME, OTHER = (40, 200, 40), (220, 40, 40)  # frame colours: neighbour of the query's class or not


def neighbors_figure(
    queries: LabeledImages,
    gallery: LabeledImages,
    neighbors: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    cell: tuple[int, int] = CELL,
    gap: int = GAP,
) -> np.ndarray:
    """The figure (uint8 RGB) from ``{model name: (similarities, gallery indices)}``, each Q x k."""
    if not neighbors:
        raise ValueError("the neighbours figure needs at least one model")
    k = next(iter(neighbors.values()))[1].shape[1]
    classes = queries.labeled and gallery.labeled
    rows = []
    for q in range(len(queries)):
        cells = [letterbox(fit_image(queries.image(q), cell), cell)]
        query_class = queries.classes[queries.labels[q]] if classes else None
        for sims, idx in neighbors.values():
            for sim, g in zip(sims[q].tolist(), idx[q].tolist(), strict=True):
                c = label(letterbox(fit_image(gallery.image(g), cell), cell), f"{sim:.2f}")
                if classes:
                    c = frame(c, SAME if gallery.classes[gallery.labels[g]] == query_class else OTHER)
                cells.append(c)
        rows.append(cells)
    titles = ["query", *[f"#{i + 1}" for i in range(k)] * len(neighbors)]
    return grid(rows, titles, gap, groups=[("", 1), *((name, k) for name in neighbors)])
