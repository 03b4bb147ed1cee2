"""Nearest neighbours by cosine similarity: what a representation counts as "the same" (the paper's Fig. 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pretrain.probe import extract_features

from .frozen_model import FrozenModel
from .image_set import ImageSet


def nearest_neighbors(queries: torch.Tensor, gallery: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(similarities, gallery indices), both Q x k, best first, of each query's ``k`` most cosine-similar rows."""
    if not 1 <= k <= gallery.shape[0]:
        raise ValueError(f"k must be between 1 and the gallery size {gallery.shape[0]}, got {k}")
    sims = F.normalize(queries.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T
    return sims.topk(k, dim=1)


def model_neighbors(
    model: FrozenModel, queries: ImageSet, gallery: ImageSet, k: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`nearest_neighbors` of ``queries`` in ``gallery``, in ``model``'s embedding (or penultimate) space."""
    model = model.to(device)
    q = extract_features(model, queries.loader(model.pixels), len(queries), device, f"{model.name} queries")
    g = extract_features(model, gallery.loader(model.pixels), len(gallery), device, f"{model.name} gallery")
    sims, idx = nearest_neighbors(q["embeddings"], g["embeddings"], k)
    return sims.cpu(), idx.cpu()
