"""Cosine nearest neighbours: order, similarities and the k range."""

import pytest
import torch

from pretrain.diagnosis.neighbors import nearest_neighbors


def test_cosine_top_k_best_first():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 5.0], [1.0, 1.0], [-1.0, 0.0]])
    queries = torch.tensor([[2.0, 0.1], [0.0, -1.0]])
    sims, idx = nearest_neighbors(queries, gallery, k=2)
    assert idx[0].tolist() == [0, 2]
    assert sims[0].tolist() == pytest.approx([2 / 4.01**0.5, 2.1 / (4.01**0.5 * 2**0.5)])  # angle, not length
    assert set(idx[1].tolist()) == {0, 3}  # orthogonal to both; 1 is opposite, 2 is at 135 degrees
    assert sims[1].tolist() == pytest.approx([0.0, 0.0])


def test_k_must_fit_the_gallery():
    with pytest.raises(ValueError, match="between 1 and the gallery size 2"):
        nearest_neighbors(torch.ones(1, 3), torch.ones(2, 3), k=3)
