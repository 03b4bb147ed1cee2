"""Nearest neighbours by cosine similarity: what a representation counts as "the same" (the paper's Fig. 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pretrain.data import LabeledImages
from pretrain.engine.features import whole_image_features
from pretrain.models.frozen import FrozenModel


def nearest_neighbors(queries: torch.Tensor, gallery: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(similarities, gallery indices), both Q x k, best first, of each query's ``k`` most cosine-similar rows."""
    if not 1 <= k <= gallery.shape[0]:
        raise ValueError(f"k must be between 1 and the gallery size {gallery.shape[0]}, got {k}")
    sims = F.normalize(queries.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T
    return sims.topk(k, dim=1)


def model_neighbors(
    model: FrozenModel, queries: LabeledImages, gallery: LabeledImages, k: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_neighbors` of ``queries`` in ``gallery``, in ``model``'s embedding (or penultimate) space."""
    q = whole_image_features(model, queries, device, f"{model.name} queries")
    g = whole_image_features(model, gallery, device, f"{model.name} gallery")
    sims, idx = nearest_neighbors(q["embeddings"], g["embeddings"], k)
    return sims.cpu(), idx.cpu()
